//! Async receipts and submissions under tokio: tasks await their commands'
//! stages and room in the ring with no thread blocked, several stages on one
//! receipt, and futures dropped mid-wait leave nothing behind.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use common::{Bank, Event, Gate, Ledger, Op};
use seqlane::{Engine, EngineBuilder, ReadModel, Until, WaitError};
use seqlane_journal::{JournalOptions, SyncPolicy};

fn start(dir: &std::path::Path, input: usize) -> (Engine<Bank>, ReadModel<Ledger>) {
    let mut builder = EngineBuilder::new(dir, Bank::default())
        .topology(common::topology())
        .journal_options(
            JournalOptions::default()
                .segment_size(1 << 20)
                .sync(SyncPolicy::EveryBatch),
        )
        .input_capacity(input)
        .output_capacity(64);
    let ledger = builder.add_projection("ledger", Ledger::default());
    (builder.start().expect("engine starts"), ledger)
}

/// Opens its gate when dropped, so a failing test does not leave the business
/// logic waiting (and the engine's drop with it).
struct OpenOnDrop(Gate);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.open();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// A thousand tasks on two worker threads: each submits a deposit, awaits its
/// outcome once durable, then awaits its visibility on the same receipt and
/// reads its own write. No task blocks its worker (there are far more tasks
/// than workers, so a blocking wait would stall the rest).
#[test]
fn a_thousand_tasks_await_durable_then_visible_on_one_receipt() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = start(dir.path(), 64);
        let gateway = engine.gateway();
        runtime().block_on(async {
            let mut opened = gateway.submit_async(Op::Open(1)).await.unwrap();
            opened.reach_async(Until::Processed).await.unwrap();
            let tasks: Vec<_> = (0..1_000)
                .map(|task| {
                    let (gateway, ledger) = (gateway.clone(), ledger.clone());
                    tokio::spawn(async move {
                        let amount = task + 1;
                        let mut receipt = gateway.submit_async(Op::Deposit(1, amount)).await?;
                        let accepted = receipt.wait_async(Until::Durable).await?;
                        assert_eq!(accepted.events, [Event::Deposited(1, amount)]);
                        receipt.reach_async(Until::Visible(ledger.id())).await?;
                        let last = *accepted.records.unwrap().end();
                        let seen = ledger.get().last_sequence.unwrap();
                        assert!(seen >= last, "read your writes: {seen} < {last}");
                        // The outcome was taken; a later stage still answers.
                        assert_eq!(
                            receipt.wait_async(Until::Durable).await,
                            Err(WaitError::Spent)
                        );
                        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap().unwrap();
            }
        });
        assert_eq!(ledger.get().balances[&1], (1..=1_000).sum::<i64>());
        let metrics = engine.metrics();
        assert_eq!((metrics.waiting_tasks, metrics.held_outcomes), (0, 0));
        engine.shutdown().unwrap();
    });
}

/// Awaiting the receipt itself is waiting until processed.
#[test]
fn a_receipt_awaited_is_its_outcome_once_processed() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _ledger) = start(dir.path(), 64);
        let gateway = engine.gateway();
        let accepted = runtime().block_on(async { gateway.submit(Op::Open(7)).unwrap().await });
        assert_eq!(accepted.unwrap().events, [Event::Opened(7)]);
        engine.shutdown().unwrap();
    });
}

/// With the business logic held still, a ring's worth of commands fills the
/// input ring; the next submission's task waits for room and is woken when the
/// logic frees it.
#[test]
fn a_task_awaiting_room_in_a_full_ring_is_woken() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = start(dir.path(), 8);
        let gateway = engine.gateway();
        let rt = runtime();
        rt.block_on(async {
            // The gate's command comes first, so its batch holds the ring's slots
            // until the gate opens: the fill below is exact.
            let gate = OpenOnDrop(Gate::default());
            gateway.send(Op::Wait(gate.0.clone())).unwrap();
            gateway.send(Op::Open(1)).unwrap();
            let mut sent = 2;
            while gateway.try_submit(Op::Deposit(1, 1)).is_ok() {
                sent += 1;
            }
            assert_eq!(sent, 8, "the ring holds 8");
            let waiting = tokio::spawn({
                let gateway = gateway.clone();
                async move {
                    let mut receipt = gateway.submit_async(Op::Deposit(1, 100)).await.unwrap();
                    receipt
                        .wait_async(Until::Visible(ledger.id()))
                        .await
                        .unwrap()
                }
            });
            let deadline = Instant::now() + Duration::from_secs(30);
            while engine.metrics().waiting_tasks == 0 {
                assert!(Instant::now() < deadline, "the task parks for room");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            assert!(
                !waiting.is_finished(),
                "the ring is full until the gate opens"
            );
            assert_eq!(
                engine.metrics().waiting_tasks,
                1,
                "one task parked for room"
            );
            gate.0.open();
            let accepted = tokio::time::timeout(Duration::from_secs(30), waiting)
                .await
                .expect("woken once the logic frees room")
                .unwrap();
            assert_eq!(accepted.events, [Event::Deposited(1, 100)]);
        });
        assert_eq!(engine.metrics().waiting_tasks, 0);
        engine.shutdown().unwrap();
    });
}

/// Futures dropped while their tasks wait (a timeout around them, or the task
/// aborted) take their wakers back, and receipts dropped unread keep no
/// outcome: the engine holds nothing for them afterwards.
#[test]
fn dropped_waits_and_receipts_leave_nothing_behind() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = start(dir.path(), 256);
        let gateway = engine.gateway();
        let submitted = std::sync::Arc::new(AtomicI64::new(0));
        runtime().block_on(async {
            gateway
                .submit_async(Op::Open(1))
                .await
                .unwrap()
                .await
                .unwrap();
            let gate = OpenOnDrop(Gate::default());
            gateway.send(Op::Wait(gate.0.clone())).unwrap();
            let tasks: Vec<_> = (0..100)
                .map(|_| {
                    let (gateway, ledger) = (gateway.clone(), ledger.id());
                    let submitted = std::sync::Arc::clone(&submitted);
                    tokio::spawn(async move {
                        let mut receipt = gateway.submit_async(Op::Deposit(1, 1)).await.unwrap();
                        submitted.fetch_add(1, Ordering::Relaxed);
                        receipt.wait_async(Until::Visible(ledger)).await
                    })
                })
                .collect();
            let mut timed_out = gateway.submit_async(Op::Deposit(1, 1)).await.unwrap();
            let wait = timed_out.reach_async(Until::Durable);
            assert!(tokio::time::timeout(Duration::from_millis(20), wait)
                .await
                .is_err());
            let deadline = Instant::now() + Duration::from_secs(30);
            while engine.metrics().waiting_tasks < 10 {
                assert!(Instant::now() < deadline, "tasks park on their receipts");
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            for task in &tasks {
                task.abort();
            }
            for task in tasks {
                assert!(task.await.unwrap_err().is_cancelled());
            }
            assert_eq!(
                engine.metrics().waiting_tasks,
                0,
                "aborted tasks keep no waker"
            );
            gate.0.open();
            // The receipt that timed out is still usable.
            timed_out.reach_async(Until::Durable).await.unwrap();
            drop(timed_out);
            let mut last = gateway.submit_async(Op::Deposit(1, 0)).await.unwrap();
            last.reach_async(Until::Visible(ledger.id())).await.unwrap();
        });
        let metrics = engine.metrics();
        assert_eq!((metrics.waiting_tasks, metrics.held_outcomes), (0, 0));
        let submitted = submitted.load(Ordering::Relaxed);
        assert_eq!(
            ledger.get().balances[&1],
            1 + submitted,
            "aborted waits, not commands"
        );
        engine.shutdown().unwrap();
    });
}

/// A task awaiting a receipt when the engine stops is woken with the reason.
#[test]
fn an_awaited_receipt_answers_stopped_when_the_engine_stops_short() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _ledger) = start(dir.path(), 64);
        let gateway = engine.gateway();
        let rt = runtime();
        let mut poisoned = gateway.submit(Op::PoisonApply).unwrap();
        let answer = rt.block_on(async {
            tokio::time::timeout(Duration::from_secs(30), poisoned.wait_async(Until::Durable))
                .await
                .expect("woken when the engine stops")
        });
        assert!(matches!(answer, Err(WaitError::Stopped(_))), "{answer:?}");
        let _ = engine.shutdown();
    });
}

/// One task in a closed loop, as a service handling one request at a time: it
/// submits, awaits visibility, and submits the next. Every await must be woken:
/// the journal's and the projection's lines share one queue, and a notify for
/// one must not use up the registration of a task waiting for the other. The
/// loop runs on its own thread and reports each round trip; a wait left asleep
/// shows as no report for many seconds (each round trip takes microseconds).
#[test]
fn a_closed_loop_of_awaits_is_never_left_asleep() {
    const COMMANDS: u64 = 30_000;
    common::in_each_topology(|| {
        let topology = common::topology();
        let (done, reports) = std::sync::mpsc::channel();
        let looping = std::thread::spawn(move || {
            let dir = tempfile::tempdir().unwrap();
            let mut builder = EngineBuilder::new(dir.path(), Bank::default())
                .topology(topology)
                .journal_options(JournalOptions::default().sync(SyncPolicy::Never))
                .input_capacity(1024)
                .output_capacity(1024);
            let ledger = builder.add_projection("ledger", Ledger::default());
            let engine = builder.start().expect("engine starts");
            let gateway = engine.gateway();
            let visible = Until::Visible(ledger.id());
            // No timer driver: nothing but the engine's wake-ups polls the task.
            let runtime = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            runtime.block_on(async {
                gateway.submit_async(Op::Open(1)).await.unwrap();
                for round in 0..COMMANDS {
                    let mut receipt = gateway.submit_async(Op::Deposit(1, 1)).await.unwrap();
                    receipt.wait_async(visible).await.unwrap();
                    done.send(round).unwrap();
                }
            });
            assert_eq!(ledger.get().balances[&1], COMMANDS as i64);
            drop(gateway);
            engine.shutdown().unwrap();
        });
        let mut last = None;
        loop {
            match reports.recv_timeout(Duration::from_secs(30)) {
                Ok(round) => last = Some(round),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("{topology:?}: an awaited receipt was left asleep after {last:?}")
                }
            }
        }
        looping.join().unwrap();
    });
}
