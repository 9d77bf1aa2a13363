//! The engine end to end: receipts, idempotency, versions, failures, back-pressure,
//! shutdown, restarts, read models under concurrent queries.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use std::time::{Duration, Instant};

use common::{accepted, Bank, Event, EventCount, Gate, Ledger, Op, Refusal};
use seqlane::{
    Command, CommandId, Engine, EngineBuilder, EngineError, ReadModel, Rejection, StopCause,
    TrySubmitError, Until, WaitError,
};
use seqlane_journal::{Codec, JournalError, JournalOptions, Postcard, SyncPolicy};

fn builder(dir: &std::path::Path) -> EngineBuilder<Bank> {
    EngineBuilder::new(dir, Bank::default())
        .topology(common::topology())
        .journal_options(JournalOptions::default().segment_size(1 << 20))
        .input_capacity(64)
        .output_capacity(64)
}

fn start(dir: &std::path::Path) -> (Engine<Bank>, ReadModel<Ledger>) {
    let mut builder = builder(dir);
    let ledger = builder.add_projection("ledger", Ledger::default());
    (builder.start().expect("engine starts"), ledger)
}

#[test]
fn each_receipt_stage_answers_with_the_outcome() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = start(dir.path());
        assert_eq!(engine.topology(), common::topology());
        let gateway = engine.gateway();

        // Record 0 declares the event schema; commands' records follow it.
        let opened = accepted(&gateway, Op::Open(1), Until::Processed);
        assert_eq!(opened.events, [Event::Opened(1)]);
        assert_eq!(opened.version, 1);
        assert_eq!(opened.records, Some(1..=1));
        assert!(!opened.duplicate);

        let deposited = accepted(&gateway, Op::Deposit(1, 50), Until::Durable);
        assert_eq!(deposited.records, Some(2..=2));
        assert!(engine.metrics().durable_end >= 3);

        accepted(&gateway, Op::Open(2), Until::Processed);
        let moved = accepted(
            &gateway,
            Op::Transfer(1, 2, 20),
            Until::Visible(ledger.id()),
        );
        assert_eq!(
            moved.events,
            [Event::Withdrew(1, 20), Event::Deposited(2, 20)]
        );
        assert_eq!(moved.records, Some(4..=5));
        // Read-your-writes: the read model already shows the transfer.
        let view = ledger.get();
        assert_eq!(view.balances[&1], 30);
        assert_eq!(view.balances[&2], 20);
        assert_eq!(view.last_sequence, Some(5));

        // A rejection comes back at once, whatever the receipt waits for.
        let refused = gateway
            .submit(Op::Withdraw(2, 1000))
            .unwrap()
            .wait(Until::Visible(ledger.id()));
        assert_eq!(
            refused,
            Err(WaitError::Rejected(Rejection::Domain(
                Refusal::Insufficient {
                    account: 2,
                    balance: 20
                }
            )))
        );

        let metrics = engine.metrics();
        assert_eq!(metrics.accepted, 4);
        assert_eq!(metrics.rejected, 1);
        assert_eq!(metrics.events, 5);
        assert_eq!(metrics.projections[0].name, "ledger");
        assert_eq!(
            metrics.projections[0].position, 6,
            "past records 0 (schema) to 5"
        );
        assert_eq!(metrics.projections[0].lag, 0);
        let stopped = engine.shutdown().unwrap();
        assert_eq!(stopped.state.balances[&1], 30);
        assert_eq!(stopped.version, 5);
    });
}

#[test]
fn try_wait_answers_none_until_the_command_got_that_far() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = start(dir.path());
        let gateway = engine.gateway();
        accepted(&gateway, Op::Open(1), Until::Processed);
        let gate = Gate::default();
        let mut held = gateway.submit(Op::Wait(gate.clone())).unwrap();
        let mut deposit = gateway.submit(Op::Deposit(1, 5)).unwrap();
        assert!(held.try_wait(Until::Processed).is_none());
        assert!(deposit.try_wait(Until::Visible(ledger.id())).is_none());
        gate.open();
        let visible = loop {
            if let Some(answer) = deposit.try_wait(Until::Visible(ledger.id())) {
                break answer;
            }
            std::thread::yield_now();
        };
        assert_eq!(visible.unwrap().events, [Event::Deposited(1, 5)]);
        assert_eq!(ledger.get().balances[&1], 5, "read your writes");
        assert_eq!(
            deposit.try_wait(Until::Processed),
            Some(Err(WaitError::Spent))
        );
        // The earlier command is processed by now.
        assert!(held.try_wait(Until::Processed).unwrap().is_ok());
        engine.shutdown().unwrap();
    });
}

#[test]
fn a_command_is_durable_while_the_business_logic_is_busy() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _ledger) = start(dir.path());
        let gateway = engine.gateway();
        // Nothing in flight: the next command's sync starts as it is journaled.
        accepted(&gateway, Op::Open(1), Until::Durable);
        let mut deposit = gateway.submit(Op::Deposit(1, 5)).unwrap();
        accepted(&gateway, Op::Nothing, Until::Processed);
        // The logic is held in `decide` of the next command: the sync of the
        // deposit, under way, makes it durable without the logic.
        let gate = Gate::default();
        gateway.send(Op::Wait(gate.clone())).unwrap();
        let durable = deposit.wait_timeout(Until::Durable, Duration::from_secs(30));
        gate.open();
        assert_eq!(durable.unwrap().events, [Event::Deposited(1, 5)]);
        engine.shutdown().unwrap();
    });
}

#[test]
fn a_receipt_can_time_out_and_wait_again() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = start(dir.path());
        let gateway = engine.gateway();
        let gate = Gate::default();
        let mut held = gateway.submit(Op::Wait(gate.clone())).unwrap();
        assert_eq!(
            held.wait_timeout(Until::Processed, Duration::from_millis(20)),
            Err(WaitError::TimedOut)
        );
        gate.open();
        let outcome = held
            .wait_timeout(Until::Durable, Duration::from_secs(30))
            .unwrap();
        assert!(outcome.events.is_empty());
        assert_eq!(
            held.wait_timeout(Until::Processed, Duration::from_secs(1)),
            Err(WaitError::Spent)
        );
        engine.shutdown().unwrap();
    });
}

#[test]
fn resubmitting_a_command_id_returns_the_first_outcome_across_restarts() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let id = CommandId(0xfeed);
        let first = {
            let (engine, _) = start(dir.path());
            let gateway = engine.gateway();
            accepted(&gateway, Op::Open(1), Until::Processed);
            let first = accepted(
                &gateway,
                Command::new(Op::Deposit(1, 10)).with_id(id),
                Until::Durable,
            );
            let again = accepted(
                &gateway,
                Command::new(Op::Deposit(1, 10)).with_id(id),
                Until::Processed,
            );
            assert!(again.duplicate);
            assert_eq!(
                (again.version, again.records.clone()),
                (first.version, first.records.clone())
            );
            // An id on a command with no events is remembered too.
            let nothing = CommandId(7);
            accepted(
                &gateway,
                Command::new(Op::Nothing).with_id(nothing),
                Until::Durable,
            );
            let stopped = engine.shutdown().unwrap();
            assert_eq!(stopped.state.balances[&1], 10);
            first
        };

        let (engine, _) = start(dir.path());
        assert_eq!(engine.recovery().commands, 3);
        let gateway = engine.gateway();
        let after_restart = accepted(
            &gateway,
            Command::new(Op::Deposit(1, 10)).with_id(id),
            Until::Durable,
        );
        assert!(after_restart.duplicate);
        assert_eq!(after_restart.records, first.records);
        assert_eq!(after_restart.version, first.version);
        let nothing = accepted(
            &gateway,
            Command::new(Op::Nothing).with_id(CommandId(7)),
            Until::Processed,
        );
        assert!(nothing.duplicate);
        assert_eq!(engine.metrics().duplicates, 2);
        let stopped = engine.shutdown().unwrap();
        assert_eq!(stopped.state.balances[&1], 10, "the deposit ran once");
    });
}

#[test]
fn an_expected_version_conflict_is_a_rejection() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = start(dir.path());
        let gateway = engine.gateway();
        accepted(&gateway, Op::Open(1), Until::Processed);
        // Account 1 has one event (opened): version 1.
        let ok = gateway
            .submit(Command::new(Op::Deposit(1, 5)).expect_version(1))
            .unwrap()
            .wait(Until::Processed);
        assert!(ok.is_ok());
        let stale = gateway
            .submit(Command::new(Op::Deposit(1, 5)).expect_version(1))
            .unwrap()
            .wait(Until::Processed);
        assert_eq!(
            stale,
            Err(WaitError::Rejected(Rejection::Conflict {
                expected: 1,
                actual: 2
            }))
        );
        // Without `version_of`, the engine's own version is the reference.
        let engine_wide = gateway
            .submit(Command::new(Op::Open(2)).expect_version(2))
            .unwrap()
            .wait(Until::Processed);
        assert!(engine_wide.is_ok());
        let stopped = engine.shutdown().unwrap();
        assert_eq!(stopped.state.balances[&1], 5);
    });
}

#[test]
fn a_panic_in_decide_rejects_that_command_and_the_engine_goes_on() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = start(dir.path());
        let gateway = engine.gateway();
        let outcome = gateway
            .submit(Op::PanicInDecide)
            .unwrap()
            .wait(Until::Processed);
        assert_eq!(
            outcome,
            Err(WaitError::Rejected(Rejection::Panicked(
                "decide refuses to decide".into()
            )))
        );
        let opened = gateway.submit(Op::Open(1)).unwrap().wait(Until::Durable);
        assert!(opened.is_ok());
        assert_eq!(engine.metrics().rejected, 1);
        engine.shutdown().unwrap();
    });
}

/// Postcard, except that a deposit of [`HUGE`] encodes to more than a 1 MiB
/// segment holds and one of [`UNENCODABLE`] has no encoding.
struct Picky;

const HUGE: i64 = 1 << 40;
const UNENCODABLE: i64 = 13;

impl Codec<Event> for Picky {
    fn encode(&self, event: &Event, out: &mut Vec<u8>) -> Result<(), JournalError> {
        match event {
            Event::Deposited(_, HUGE) => {
                out.resize(out.len() + (2 << 20), 7);
                Ok(())
            }
            Event::Deposited(_, UNENCODABLE) => {
                Err(JournalError::Codec("13 has no encoding".into()))
            }
            _ => Postcard.encode(event, out),
        }
    }

    fn decode(&self, bytes: &[u8]) -> Result<Event, JournalError> {
        Postcard.decode(bytes)
    }
}

#[test]
fn a_command_whose_events_cannot_be_journaled_is_rejected_and_the_engine_goes_on() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let start = || {
            let mut builder = builder(dir.path()).codec(Picky);
            let ledger = builder.add_projection("ledger", Ledger::default());
            (builder.start().unwrap(), ledger)
        };
        let (engine, ledger) = start();
        let gateway = engine.gateway();
        let wait = |op: Op, until: Until| gateway.submit(op).unwrap().wait(until);
        assert!(wait(Op::Open(1), Until::Durable).is_ok());
        for (amount, says) in [
            (HUGE, "takes 2097152 bytes; a journal record holds at most"),
            (UNENCODABLE, "13 has no encoding"),
        ] {
            match wait(Op::Deposit(1, amount), Until::Processed) {
                Err(WaitError::Rejected(Rejection::Unrecordable(reason))) => {
                    assert!(reason.contains(says), "{reason}");
                    assert!(reason.starts_with("record 1 of 1"), "{reason}");
                }
                other => panic!("deposit of {amount}: {other:?}"),
            }
        }
        assert!(wait(Op::Deposit(1, 5), Until::Visible(ledger.id())).is_ok());
        assert_eq!(
            ledger.get().balances[&1],
            5,
            "nothing of the rejected applied"
        );
        assert_eq!(engine.metrics().rejected, 2);
        drop(gateway);
        assert_eq!(engine.shutdown().unwrap().state.balances[&1], 5);
        let (engine, ledger) = start();
        assert_eq!(engine.recovery().commands, 2, "only the journaled commands");
        assert_eq!(ledger.get().balances[&1], 5);
        assert_eq!(engine.shutdown().unwrap().state.balances[&1], 5);
    });
}

#[test]
fn a_panic_in_apply_stops_the_engine_without_journaling_its_events() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        {
            let (engine, ledger) = start(dir.path());
            let gateway = engine.gateway();
            let gate = Gate::default();
            let before = gateway.submit(Op::Open(1)).unwrap();
            gateway.send(Op::Wait(gate.clone())).unwrap();
            let poisoned = gateway.submit(Op::PoisonApply).unwrap();
            let after = gateway.submit(Op::Open(2)).unwrap();
            gate.open();
            assert!(before.wait(Until::Visible(ledger.id())).is_ok());
            match poisoned.wait(Until::Processed) {
                Err(WaitError::Stopped(StopCause::ApplyPanicked { command, message })) => {
                    assert_eq!(command, 2);
                    assert!(message.contains("poison"), "{message}")
                }
                other => panic!("expected a stopped engine, got {other:?}"),
            }
            assert!(matches!(
                after.wait(Until::Processed),
                Err(WaitError::Stopped(_))
            ));
            // The engine refuses new commands, and says why it stopped.
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                match gateway.try_submit(Op::Open(3)) {
                    Err(TrySubmitError::Closed(command)) => {
                        assert!(matches!(command.body(), Op::Open(3)));
                        break;
                    }
                    Ok(receipt) => drop(receipt),
                    Err(TrySubmitError::Full(_)) => {}
                }
                assert!(Instant::now() < deadline, "the gateway never closed");
                std::thread::yield_now();
            }
            match engine.shutdown() {
                Err(EngineError::ApplyPanicked {
                    message,
                    unprocessed,
                    ..
                }) => {
                    assert_eq!(message, "apply cannot apply poison");
                    assert!(unprocessed >= 2, "{unprocessed}");
                }
                other => panic!("expected ApplyPanicked, got {other:?}"),
            }
            assert_eq!(ledger.get().events, 1);
        }
        // Only the command before the poison was journaled: a restart replays it alone.
        let (engine, ledger) = start(dir.path());
        assert_eq!(engine.recovery().commands, 1);
        assert_eq!(ledger.get().events, 1);
        let stopped = engine.shutdown().unwrap();
        assert_eq!(stopped.state.balances.keys().collect::<Vec<_>>(), [&1]);
    });
}

#[test]
fn try_submit_on_a_full_ring_gives_the_command_back() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut builder = builder(dir.path()).input_capacity(4);
        builder.add_projection("count", EventCount::default());
        let engine = builder.start().unwrap();
        let gateway = engine.gateway();
        let gate = Gate::default();
        gateway.send(Op::Wait(gate.clone())).unwrap();
        // The logic holds slot 0 while it waits; fill the rest.
        let mut receipts = Vec::new();
        let full = loop {
            match gateway.try_submit(Op::Open(receipts.len() as u32)) {
                Ok(receipt) => receipts.push(receipt),
                Err(error) => break error,
            }
            assert!(receipts.len() <= 4, "a ring of 4 took more than 4 commands");
        };
        match full {
            TrySubmitError::Full(command) => {
                assert!(matches!(command.into_body(), Op::Open(n) if n as usize == receipts.len()))
            }
            TrySubmitError::Closed(_) => panic!("closed, not full"),
        }
        let deadline = Instant::now() + Duration::from_millis(20);
        assert!(matches!(
            gateway.submit_before(Op::Open(99), deadline),
            Err(TrySubmitError::Full(_))
        ));
        assert!(Instant::now() >= deadline);
        assert_eq!(engine.metrics().input_occupancy, 4);
        gate.open();
        for receipt in receipts {
            assert!(receipt.wait(Until::Durable).is_ok());
        }
        engine.shutdown().unwrap();
    });
}

#[test]
fn shutdown_drains_a_backlog_and_refuses_late_commands() {
    common::in_each_topology(|| {
        const COMMANDS: u32 = 5_000;
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = start(dir.path());
        let gateway = engine.gateway();
        let gate = Gate::default();
        gateway.send(Op::Open(0)).unwrap();
        gateway.send(Op::Wait(gate.clone())).unwrap();
        let producer = {
            let gateway = gateway.clone();
            std::thread::spawn(move || {
                let mut sent = 0;
                for _ in 0..COMMANDS {
                    match gateway.send(Op::Deposit(0, 1)) {
                        Ok(()) => sent += 1,
                        Err(_closed) => break,
                    }
                }
                sent
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        gate.open();
        let sent = producer.join().unwrap();
        let stopped = engine.shutdown().unwrap();
        assert_eq!(
            stopped.state.balances[&0], sent as i64,
            "every accepted command ran"
        );
        assert_eq!(ledger.get().balances[&0], sent as i64, "and was projected");
        assert!(matches!(
            gateway.submit(Op::Open(9)),
            Err(seqlane::SubmitError::Closed(_))
        ));

        let (engine, ledger) = start(dir.path());
        assert_eq!(engine.recovery().events, sent as u64 + 1, "and journaled");
        assert_eq!(ledger.get().balances[&0], sent as i64);
        drop(engine);
    });
}

#[test]
fn shutdown_with_gateways_blocked_on_a_full_ring_returns() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let engine = builder(dir.path()).input_capacity(2).start().unwrap();
        let gateway = engine.gateway();
        let gate = Gate::default();
        gateway.send(Op::Wait(gate.clone())).unwrap();
        let blocked: Vec<_> = (0..3)
            .map(|i| {
                let gateway = gateway.clone();
                std::thread::spawn(move || {
                    gateway
                        .submit(Op::Open(i))
                        .map(|r| r.wait(Until::Processed))
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(20));
        let opener = {
            let gate = gate.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                gate.open();
            })
        };
        let stopped = engine.shutdown().unwrap();
        opener.join().unwrap();
        let mut accepted = 0;
        for thread in blocked {
            match thread.join().unwrap() {
                Ok(outcome) => {
                    assert!(outcome.is_ok());
                    accepted += 1;
                }
                Err(seqlane::SubmitError::Closed(_)) => {}
            }
        }
        assert_eq!(stopped.state.balances.len(), accepted);
    });
}

#[test]
fn a_receipt_held_for_many_laps_still_gets_its_outcome() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = start(dir.path());
        let gateway = engine.gateway();
        let early = gateway.submit(Op::Open(1)).unwrap();
        let receipts: Vec<_> = (0..1_000)
            .map(|i| gateway.submit(Op::Open(1000 + i)).unwrap())
            .collect();
        for receipt in receipts.into_iter().rev() {
            assert!(receipt.wait(Until::Durable).is_ok());
        }
        assert_eq!(engine.metrics().held_outcomes, 1);
        let outcome = early.wait(Until::Durable).unwrap();
        assert_eq!(engine.metrics().held_outcomes, 0);
        assert_eq!(outcome.events, [Event::Opened(1)]);
        engine.shutdown().unwrap();
    });
}

#[test]
fn queries_racing_the_projection_see_whole_views_in_order() {
    common::in_each_topology(|| {
        const DEPOSITS: i64 = 20_000;
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = start(dir.path());
        let gateway = engine.gateway();
        accepted(&gateway, Op::Open(0), Until::Processed);
        accepted(&gateway, Op::Open(1), Until::Processed);
        accepted(&gateway, Op::Deposit(0, DEPOSITS), Until::Processed);
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let ledger = ledger.clone();
                std::thread::spawn(move || {
                    let mut last_events = 0;
                    let mut views = 0u64;
                    loop {
                        let view = ledger.get();
                        // Transfers move money between the two accounts: a torn view
                        // would show a total that is not the deposit.
                        let total: i64 = view.balances.values().sum();
                        assert_eq!(total, view.deposited - view.withdrawn);
                        if view.events >= 3 {
                            assert_eq!(total, DEPOSITS, "torn view {view:?}");
                        }
                        assert!(view.events >= last_events, "went back in time");
                        last_events = view.events;
                        views += 1;
                        if view.events == 3 + 2 * DEPOSITS as u64 {
                            return views;
                        }
                    }
                })
            })
            .collect();
        for _ in 0..DEPOSITS {
            gateway.send(Op::Transfer(0, 1, 1)).unwrap();
        }
        for reader in readers {
            assert!(reader.join().unwrap() > 0);
        }
        let stopped = engine.shutdown().unwrap();
        assert_eq!(stopped.state.balances[&1], DEPOSITS);
    });
}

#[test]
fn many_submitters_under_every_policy_lose_nothing() {
    common::in_each_topology(|| {
        for sync in [
            SyncPolicy::Never,
            SyncPolicy::EveryBatch,
            SyncPolicy::Interval(Duration::from_millis(1)),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let mut builder = builder(dir.path())
                .journal_options(JournalOptions::default().segment_size(1 << 20).sync(sync))
                .share_projection_thread(false);
            let ledger = builder.add_projection("ledger", Ledger::default());
            let count = builder.add_projection("count", EventCount::default());
            let engine = builder.start().unwrap();
            let gateway = engine.gateway();
            for account in 0..4 {
                accepted(&gateway, Op::Open(account), Until::Processed);
            }
            let submitters: Vec<_> = (0..4)
                .map(|account| {
                    let gateway = gateway.clone();
                    let count = count.id();
                    std::thread::spawn(move || {
                        for i in 0..2_000 {
                            let receipt = gateway.submit(Op::Deposit(account, 1)).unwrap();
                            if i % 500 == 0 {
                                receipt.wait(Until::Visible(count)).unwrap();
                            }
                        }
                    })
                })
                .collect();
            for submitter in submitters {
                submitter.join().unwrap();
            }
            let stopped = engine.shutdown().unwrap();
            for account in 0..4 {
                assert_eq!(stopped.state.balances[&account], 2_000, "{sync:?}");
                assert_eq!(ledger.get().balances[&account], 2_000, "{sync:?}");
            }
            assert_eq!(*count.get(), 4 + 8_000);
        }
    });
}

#[test]
fn a_group_commit_makes_an_idle_engine_durable_on_time() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let engine = builder(dir.path())
            .journal_options(
                JournalOptions::default()
                    .segment_size(1 << 20)
                    .sync(SyncPolicy::Interval(Duration::from_millis(5))),
            )
            .start()
            .unwrap();
        let gateway = engine.gateway();
        for account in 0..3 {
            let mut receipt = gateway.submit(Op::Open(account)).unwrap();
            // Nothing follows the command: only the group commit's timer can sync it.
            let outcome = receipt.wait_timeout(Until::Durable, Duration::from_secs(10));
            assert!(outcome.is_ok(), "account {account}");
        }
        assert!(engine.metrics().journal_syncs >= 3);
        engine.shutdown().unwrap();
    });
}

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".seg")
        })
        .count()
}

#[test]
fn a_snapshot_retires_the_journal_it_covers_and_a_restart_replays_only_the_rest() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let small = || {
            let mut builder = EngineBuilder::new(dir.path(), Bank::default())
                .topology(common::topology())
                .journal_options(JournalOptions::default().segment_size(16 * 1024))
                .retention(seqlane::Retention::DeleteBefore)
                .input_capacity(64)
                .output_capacity(64);
            let ledger = builder.add_projection("ledger", Ledger::default());
            (builder.start().unwrap(), ledger)
        };
        let (engine, ledger) = small();
        let gateway = engine.gateway();
        accepted(&gateway, Op::Open(0), Until::Processed);
        let id = CommandId(99);
        accepted(
            &gateway,
            Command::new(Op::Deposit(0, 5)).with_id(id),
            Until::Processed,
        );
        for _ in 0..3_000 {
            gateway.send(Op::Deposit(0, 1)).unwrap();
        }
        let before = segments(dir.path());
        assert!(before > 3, "{before} segments");
        let covered = engine.snapshot().unwrap();
        assert_eq!(
            covered, 3_003,
            "the snapshot comes after every command sent before it (and the schema record)"
        );
        let deadline = Instant::now() + Duration::from_secs(10);
        while segments(dir.path()) >= before {
            assert!(Instant::now() < deadline, "no segment was retired");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(engine.metrics().snapshots, 1);
        for _ in 0..10 {
            gateway.send(Op::Deposit(0, 1)).unwrap();
        }
        let stopped = engine.shutdown().unwrap();
        let view = ledger.get();

        let (engine, ledger) = small();
        let recovery = engine.recovery().clone();
        assert_eq!(recovery.snapshot, Some(3_003));
        assert_eq!(
            recovery.events, 10,
            "only the events after the snapshot are replayed"
        );
        assert_eq!(*ledger.get(), *view);
        let gateway = engine.gateway();
        let again = accepted(
            &gateway,
            Command::new(Op::Deposit(0, 5)).with_id(id),
            Until::Processed,
        );
        assert!(again.duplicate, "ids survive in the snapshot");
        let restarted = engine.shutdown().unwrap();
        assert_eq!(restarted.state, stopped.state);
        assert_eq!(restarted.version, stopped.version);
    });
}

#[test]
fn snapshots_every_n_events_and_refusals_say_why() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let mut every = builder(dir.path()).snapshot_every(100);
        let ledger = every.add_projection("ledger", Ledger::default());
        let engine = every.start().unwrap();
        let gateway = engine.gateway();
        accepted(&gateway, Op::Open(0), Until::Processed);
        for _ in 0..250 {
            gateway.send(Op::Deposit(0, 1)).unwrap();
        }
        accepted(&gateway, Op::Open(1), Until::Visible(ledger.id()));
        let deadline = Instant::now() + Duration::from_secs(10);
        while engine.metrics().snapshots < 1 {
            assert!(Instant::now() < deadline, "{:?}", engine.metrics());
            std::thread::sleep(Duration::from_millis(1));
        }
        // A requested snapshot answers for itself, whatever automatic ones do meanwhile
        // (how many of those ran depends on how fast each one is written).
        assert_eq!(
            engine.snapshot().unwrap(),
            253,
            "252 events after the schema record"
        );
        assert!(engine.metrics().snapshots >= 2);
        engine.shutdown().unwrap();

        // A projection without snapshot support: the snapshot is refused, the engine goes on.
        let dir = tempfile::tempdir().unwrap();
        let mut builder = builder(dir.path());
        builder.add_projection("count", EventCount::default());
        let engine = builder.start().unwrap();
        match engine.snapshot() {
            Err(EngineError::Snapshot { reason, .. }) => {
                assert!(reason.contains("`count`"), "{reason}")
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert!(engine
            .gateway()
            .submit(Op::Open(0))
            .unwrap()
            .wait(Until::Durable)
            .is_ok());
        engine.shutdown().unwrap();
    });
}

#[test]
fn a_damaged_snapshot_is_skipped_with_its_reason() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = start(dir.path());
        engine
            .gateway()
            .submit(Op::Open(0))
            .unwrap()
            .wait(Until::Processed)
            .unwrap();
        engine.snapshot().unwrap();
        engine.shutdown().unwrap();
        let file = std::fs::read_dir(dir.path().join("snapshots"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&file).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&file, bytes).unwrap();
        // Nothing was retired (one segment), so the whole journal replays instead.
        let (engine, _) = start(dir.path());
        assert_eq!(engine.recovery().snapshot, None);
        assert_eq!(engine.recovery().skipped_snapshots.len(), 1);
        assert!(engine.recovery().skipped_snapshots[0].contains("checksum"));
        assert_eq!(engine.shutdown().unwrap().state.balances.len(), 1);
    });
}

/// Mounts a tmpfs of `size` on a fresh directory, or says why it cannot (not root,
/// no `mount`) and returns `None`. Unmounted on drop.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output();
        match mounted {
            Ok(output) if output.status.success() => Some(Tmpfs(dir)),
            Ok(output) => {
                eprintln!(
                    "skipped: cannot mount a tmpfs here ({}); run as root to test a full disk",
                    String::from_utf8_lossy(&output.stderr).trim()
                );
                None
            }
            Err(error) => {
                eprintln!("skipped: no mount command ({error})");
                None
            }
        }
    }

    fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// A disk that fills up stops the engine with the journal's error (waiting
/// receipts and the gateway say so, shutdown returns it), and nothing reported
/// durable is lost: the journal, moved to a roomier disk, restarts with every
/// command acknowledged as durable.
#[test]
fn a_full_disk_stops_the_engine_and_keeps_every_durable_command() {
    common::in_each_topology(|| {
        let Some(disk) = Tmpfs::mount("256k") else {
            return;
        };
        let dir = disk.path().join("engine");
        let mut builder = EngineBuilder::new(&dir, Bank::default())
            .topology(common::topology())
            .journal_options(
                JournalOptions::default()
                    .segment_size(64 << 10)
                    .sync(SyncPolicy::EveryBatch),
            );
        let ledger = builder.add_projection("ledger", Ledger::default());
        let engine = builder.start().unwrap();
        let gateway = engine.gateway();
        accepted(&gateway, Op::Open(1), Until::Durable);
        let (mut submitted, mut durable) = (0, 0);
        let reason = loop {
            let receipt = match gateway.submit(Op::Deposit(1, 1)) {
                Ok(receipt) => receipt,
                Err(error) => panic!("the gateway closed before a receipt said why: {error:?}"),
            };
            submitted += 1;
            match receipt.wait(Until::Durable) {
                Ok(_) => durable += 1,
                Err(WaitError::Stopped(StopCause::Journal(reason))) => break reason,
                Err(other) => panic!("{other:?}"),
            }
            assert!(submitted < 100_000, "a 256 KiB disk never filled");
        };
        assert!(reason.contains("is the disk full?"), "{reason}");
        assert!(durable > 100, "{durable}");
        // Closed now, with the command given back.
        let deadline = Instant::now() + Duration::from_secs(10);
        while gateway.try_submit(Op::Deposit(1, 1)).is_ok() {
            assert!(Instant::now() < deadline, "the gateway never closed");
            std::thread::yield_now();
        }
        match engine.shutdown() {
            Err(EngineError::Journal(error)) => {
                assert!(error.to_string().contains("is the disk full?"), "{error}")
            }
            other => panic!("expected the journal's error, got {other:?}"),
        }
        // The projection never saw more than the journal holds.
        assert!(ledger.get().deposited <= submitted);

        let moved = tempfile::tempdir().unwrap();
        copy_dir(&dir, moved.path());
        let (engine, ledger) = start(moved.path());
        let balance = engine.shutdown().unwrap().state.balances[&1];
        assert!(
            (durable..=submitted).contains(&balance),
            "{durable} deposits were durable and {submitted} submitted, {balance} recovered"
        );
        assert_eq!(ledger.get().deposited, balance);
    });
}

#[test]
fn an_idle_engine_that_parks_still_takes_a_snapshot_at_once() {
    common::in_each_topology(|| {
        // Under Blocking the journaler and the projections park with no timer: only
        // the wake the logic gives when it posts the snapshot brings them to it.
        for projections in [0, 2] {
            let dir = tempfile::tempdir().unwrap();
            let mut builder = builder(dir.path()).wait_strategy(seqlane::WaitStrategy::Blocking);
            for index in 0..projections {
                builder.add_projection(&format!("ledger-{index}"), Ledger::default());
            }
            let engine = builder.start().unwrap();
            let gateway = engine.gateway();
            accepted(&gateway, Op::Open(1), Until::Durable);
            std::thread::sleep(Duration::from_millis(20)); // every stage parks
                                                           // On its own thread, so that a missed wake fails the test instead of
                                                           // hanging it.
            let engine = std::sync::Arc::new(engine);
            let (done, taken) = std::sync::mpsc::channel();
            let snapshotting = {
                let engine = std::sync::Arc::clone(&engine);
                std::thread::spawn(move || done.send(engine.snapshot()).unwrap())
            };
            let covered = taken
                .recv_timeout(Duration::from_secs(30))
                .expect("the snapshot is taken without waiting for another event");
            assert_eq!(covered.unwrap(), 2, "the declaration and the open");
            snapshotting.join().unwrap();
            let engine = std::sync::Arc::into_inner(engine).unwrap();
            engine.shutdown().unwrap();
        }
    });
}
