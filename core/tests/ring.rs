#![cfg(not(loom))]
//! Behaviour of the ring through its public API: ordering, gating, dependency graphs,
//! back-pressure, shutdown and panics. No test here measures time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use seqlane::{
    EventHandler, Halted, Pinning, Polled, Producer, RingBuilder, Stage, StageStatus,
    TryClaimError, WaitStrategy,
};

/// Shrinks loops under Miri, which runs code thousands of times slower.
const fn scaled(n: u64) -> u64 {
    if cfg!(miri) {
        n / 1000 + 8
    } else {
        n
    }
}

const STRATEGIES: [WaitStrategy; 4] = [
    WaitStrategy::BusySpin,
    WaitStrategy::Yielding,
    WaitStrategy::BACKOFF,
    WaitStrategy::Blocking,
];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Event {
    producer: u64,
    value: u64,
}

#[test]
fn single_producer_delivers_every_event_in_order_with_each_strategy() {
    let n = scaled(20_000);
    for strategy in STRATEGIES {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let mut builder = RingBuilder::new(64, u64::default).wait_strategy(strategy);
        builder.add_stage(Stage::new(move |value: &u64, sequence: i64, _: bool| {
            assert_eq!(
                *value, sequence as u64,
                "slot holds another sequence's event"
            );
            sink.lock().unwrap().push(*value);
        }));
        let (mut producer, ring) = builder.build_single_producer().unwrap();
        for value in 0..n {
            producer.publish(|slot| *slot = value).unwrap();
        }
        drop(producer);
        ring.join().unwrap();
        assert_eq!(
            *seen.lock().unwrap(),
            (0..n).collect::<Vec<_>>(),
            "{strategy:?}"
        );
    }
}

/// Many producers, a ring of 8 and a consumer that keeps yielding: every event
/// arrives exactly once, and each producer's events in the order it published them.
#[test]
fn many_producers_small_ring_slow_consumer_lose_nothing() {
    const PRODUCERS: u64 = 4;
    let per_producer = scaled(5_000);
    for strategy in STRATEGIES {
        // Busy-spinning threads need a core each: with more of them than cores they
        // starve each other for whole time slices. The claim protocol does not
        // depend on the strategy, so fewer threads check the same code there.
        let (producers, per_producer) = match strategy {
            WaitStrategy::BusySpin => (2, per_producer / 10),
            _ => (PRODUCERS, per_producer),
        };
        let (events, received) = mpsc::channel();
        let mut builder = RingBuilder::new(8, Event::default).wait_strategy(strategy);
        builder.add_stage(Stage::new(move |event: &Event, _: i64, _: bool| {
            if event.value.is_multiple_of(64) {
                thread::yield_now(); // a slow consumer keeps the ring full
            }
            events.send(*event).unwrap();
        }));
        let (producer, ring) = builder.build_multi_producer().unwrap();
        let threads: Vec<_> = (0..producers)
            .map(|id| {
                let mut producer = producer.clone();
                thread::spawn(move || {
                    for value in 0..per_producer {
                        producer
                            .publish(|slot| {
                                *slot = Event {
                                    producer: id,
                                    value,
                                }
                            })
                            .unwrap();
                    }
                })
            })
            .collect();
        drop(producer);
        for thread in threads {
            thread.join().unwrap();
        }
        ring.join().unwrap();

        let mut next_expected: HashMap<u64, u64> = HashMap::new();
        let mut total = 0;
        for event in received.try_iter() {
            let expected = next_expected.entry(event.producer).or_default();
            assert_eq!(
                event.value, *expected,
                "producer {} out of order ({strategy:?})",
                event.producer
            );
            *expected += 1;
            total += 1;
        }
        assert_eq!(total, producers * per_producer, "{strategy:?}");
        assert!(next_expected.values().all(|&n| n == per_producer));
    }
}

#[test]
fn multi_producer_batches_keep_their_order() {
    let batches = scaled(2_000);
    let (events, received) = mpsc::channel();
    let mut builder = RingBuilder::new(32, Event::default);
    builder.add_stage(Stage::new(move |event: &Event, _: i64, _: bool| {
        events.send(*event).unwrap();
    }));
    let (producer, ring) = builder.build_multi_producer().unwrap();
    let threads: Vec<_> = (0..2)
        .map(|id| {
            let mut producer = producer.clone();
            thread::spawn(move || {
                let mut value = 0;
                for round in 0..batches {
                    let size = (round % 7 + 1) as usize;
                    let mut batch = producer.claim_batch(size).unwrap();
                    assert_eq!(batch.len(), size);
                    for (_, slot) in batch.iter_mut() {
                        *slot = Event {
                            producer: id,
                            value,
                        };
                        value += 1;
                    }
                    batch.publish();
                }
                value
            })
        })
        .collect();
    drop(producer);
    let sent: Vec<u64> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    ring.join().unwrap();
    let mut next = [0u64; 2];
    for event in received.try_iter() {
        assert_eq!(event.value, next[event.producer as usize]);
        next[event.producer as usize] += 1;
    }
    assert_eq!(next.to_vec(), sent);
}

/// Records, per stage, the last sequence its handler saw.
fn recorder(seen: &Arc<AtomicI64>) -> impl FnMut(&u64, i64, bool) + Send + 'static {
    let seen = Arc::clone(seen);
    move |_: &u64, sequence: i64, _: bool| {
        assert_eq!(
            seen.load(Ordering::Relaxed),
            sequence - 1,
            "a stage skipped or repeated"
        );
        seen.store(sequence, Ordering::Release);
    }
}

/// `a` and `b` in parallel, then `c`: `c` never sees an event before both did.
#[test]
fn diamond_stage_runs_only_after_both_upstreams() {
    let n = scaled(50_000);
    let a_seen = Arc::new(AtomicI64::new(-1));
    let b_seen = Arc::new(AtomicI64::new(-1));
    let c_count = Arc::new(AtomicU64::new(0));
    let mut builder = RingBuilder::new(16, u64::default);
    let a = builder.add_stage(Stage::new(recorder(&a_seen)).name("a"));
    let b = builder.add_stage(Stage::new(recorder(&b_seen)).name("b"));
    let (a_check, b_check, count) = (
        Arc::clone(&a_seen),
        Arc::clone(&b_seen),
        Arc::clone(&c_count),
    );
    builder.add_stage(
        Stage::new(move |_: &u64, sequence: i64, _: bool| {
            assert!(
                a_check.load(Ordering::Acquire) >= sequence,
                "c ran before a"
            );
            assert!(
                b_check.load(Ordering::Acquire) >= sequence,
                "c ran before b"
            );
            count.fetch_add(1, Ordering::Relaxed);
        })
        .name("c")
        .after(&[a, b]),
    );
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    for value in 0..n {
        producer.publish(|slot| *slot = value).unwrap();
    }
    drop(producer);
    ring.join().unwrap();
    assert_eq!(c_count.load(Ordering::Relaxed), n);
    assert_eq!(a_seen.load(Ordering::Relaxed), n as i64 - 1);
    assert_eq!(b_seen.load(Ordering::Relaxed), n as i64 - 1);
}

/// A pipeline `a → b → c`, plus multicast: `d` beside it sees everything too.
#[test]
fn pipeline_stages_run_in_order_and_a_parallel_stage_sees_everything() {
    let n = scaled(30_000);
    let seen: Vec<_> = (0..4).map(|_| Arc::new(AtomicI64::new(-1))).collect();
    let mut builder = RingBuilder::new(32, u64::default).wait_strategy(WaitStrategy::Blocking);
    let a = builder.add_stage(Stage::new(recorder(&seen[0])));
    let after = |upstream: &Arc<AtomicI64>, me: &Arc<AtomicI64>| {
        let (upstream, mut record) = (Arc::clone(upstream), recorder(me));
        move |value: &u64, sequence: i64, end: bool| {
            assert!(
                upstream.load(Ordering::Acquire) >= sequence,
                "stage ran before its upstream"
            );
            record(value, sequence, end);
        }
    };
    let b = builder.add_stage(Stage::new(after(&seen[0], &seen[1])).after(&[a]));
    builder.add_stage(Stage::new(after(&seen[1], &seen[2])).after(&[b]));
    builder.add_stage(Stage::new(recorder(&seen[3])));
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    for value in 0..n {
        producer.publish(|slot| *slot = value).unwrap();
    }
    drop(producer);
    ring.join().unwrap();
    for stage in &seen {
        assert_eq!(stage.load(Ordering::Relaxed), n as i64 - 1);
    }
}

#[test]
fn batches_end_with_an_end_of_batch_flag() {
    let batches = scaled(1_000);
    let n = batches * 10;
    let (flags, received) = mpsc::channel();
    let mut builder = RingBuilder::new(64, u64::default);
    builder.add_stage(Stage::new(
        move |_: &u64, sequence: i64, end_of_batch: bool| {
            flags.send((sequence, end_of_batch)).unwrap();
        },
    ));
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    for _ in 0..batches {
        let batch = producer.claim_batch(10).unwrap();
        drop(batch);
    }
    drop(producer);
    ring.join().unwrap();
    let flags: Vec<_> = received.try_iter().collect();
    assert_eq!(flags.len() as u64, n);
    // Batches are whatever was available; published batches are never split at a
    // point the stage could not see, and the very last event ends a batch.
    assert_eq!(flags.last(), Some(&(n as i64 - 1, true)));
    for (i, (sequence, end)) in flags.iter().enumerate() {
        assert_eq!(*sequence, i as i64);
        if *end {
            assert_eq!(sequence % 10, 9, "a stage saw half of a published batch");
        }
    }
}

/// A handler that blocks until the test lets it go, holding the ring full.
fn gated_stage(
    gate: &Arc<(Mutex<bool>, std::sync::Condvar)>,
) -> impl FnMut(&u64, i64, bool) + Send {
    let gate = Arc::clone(gate);
    move |_: &u64, _: i64, _: bool| {
        let (open, opened) = &*gate;
        let mut open = open.lock().unwrap();
        while !*open {
            open = opened.wait(open).unwrap();
        }
    }
}

fn open_gate(gate: &Arc<(Mutex<bool>, std::sync::Condvar)>) {
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
}

#[test]
fn try_claim_reports_a_full_ring_then_succeeds_once_drained() {
    for multi in [false, true] {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let processed = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&processed);
        let mut wait = gated_stage(&gate);
        let mut builder = RingBuilder::new(4, u64::default);
        builder.add_stage(Stage::new(move |v: &u64, s: i64, e: bool| {
            wait(v, s, e);
            count.fetch_add(1, Ordering::Relaxed);
        }));
        // Both producer kinds, through one closure each for try and blocking claims.
        type TryPublish = Box<dyn FnMut(u64) -> Result<i64, TryClaimError>>;
        type Publish = Box<dyn FnMut(u64) -> Result<i64, Halted>>;
        let (mut try_publish, mut publish, ring): (TryPublish, Publish, _) = if multi {
            let (mut producer, ring) = builder.build_multi_producer().unwrap();
            let mut other = producer.clone();
            (
                Box::new(move |v| producer.try_publish(|s| *s = v)),
                Box::new(move |v| other.publish(|s| *s = v)),
                ring,
            )
        } else {
            let (producer, ring) = builder.build_single_producer().unwrap();
            let producer = Arc::new(Mutex::new(producer));
            let other = Arc::clone(&producer);
            (
                Box::new(move |v| producer.lock().unwrap().try_publish(|s| *s = v)),
                Box::new(move |v| other.lock().unwrap().publish(|s| *s = v)),
                ring,
            )
        };
        for value in 0..4 {
            try_publish(value).unwrap();
        }
        assert_eq!(try_publish(4), Err(TryClaimError::Full), "multi: {multi}");
        assert_eq!(
            try_publish(4),
            Err(TryClaimError::Full),
            "a failed try must not claim"
        );
        open_gate(&gate);
        // The blocking claim waits for room, then every event goes through.
        for value in 4..100 {
            publish(value).unwrap();
        }
        drop((try_publish, publish));
        ring.join().unwrap();
        assert_eq!(processed.load(Ordering::Relaxed), 100, "multi: {multi}");
    }
}

#[test]
fn claim_before_gives_up_at_the_deadline_on_a_full_ring() {
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let mut builder = RingBuilder::new(2, u64::default).wait_strategy(WaitStrategy::Blocking);
    builder.add_stage(Stage::new(gated_stage(&gate)));
    let (mut producer, ring) = builder.build_multi_producer().unwrap();
    producer.publish(|_| {}).unwrap();
    producer.publish(|_| {}).unwrap();
    let deadline = Instant::now() + Duration::from_millis(20);
    let outcome = producer
        .claim_before(deadline)
        .map(|claim| claim.sequence());
    assert_eq!(outcome, Err(TryClaimError::Full));
    assert!(Instant::now() >= deadline);
    open_gate(&gate);
    let sequence = producer
        .claim_before(Instant::now() + Duration::from_secs(60))
        .unwrap()
        .sequence();
    assert_eq!(sequence, 2);
    drop(producer);
    ring.join().unwrap();
}

/// Dropping the producer with a backlog in the ring: `join` processes all of it.
#[test]
fn join_drains_events_still_in_flight() {
    for strategy in STRATEGIES {
        // Three busy-spinning threads on a small machine starve each other (see
        // `many_producers_small_ring_slow_consumer_lose_nothing`).
        let n = scaled(if strategy == WaitStrategy::BusySpin {
            1_000
        } else {
            10_000
        });
        let processed = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&processed);
        let mut builder = RingBuilder::new(1024, u64::default).wait_strategy(strategy);
        let first = builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| thread::yield_now()));
        builder.add_stage(
            Stage::new(move |_: &u64, _: i64, _: bool| {
                count.fetch_add(1, Ordering::Relaxed);
            })
            .after(&[first]),
        );
        let (mut producer, ring) = builder.build_single_producer().unwrap();
        let mut batch = producer.claim_batch(1024).unwrap();
        for (sequence, slot) in batch.iter_mut() {
            *slot = sequence as u64;
        }
        drop(batch);
        for value in 0..n {
            producer.publish(|slot| *slot = value).unwrap();
        }
        drop(producer); // events are still in flight here
        ring.join().unwrap();
        assert_eq!(processed.load(Ordering::Relaxed), n + 1024, "{strategy:?}");
    }
}

struct Lifecycle {
    started: Arc<AtomicBool>,
    stopped: Arc<AtomicBool>,
    panic_at: Option<i64>,
}

impl EventHandler<u64> for Lifecycle {
    fn on_start(&mut self) {
        self.started.store(true, Ordering::SeqCst);
    }

    fn on_event(&mut self, _: &u64, sequence: i64, _: bool) {
        if Some(sequence) == self.panic_at {
            panic!("bad event at {sequence}");
        }
    }

    fn on_shutdown(&mut self) {
        self.stopped.store(true, Ordering::SeqCst);
    }
}

/// A panicking handler halts the ring: producers get `Halted` instead of hanging,
/// the other stages stop cleanly, and `join` names the stage and its message.
#[test]
fn a_panicking_handler_halts_the_ring_and_is_reported() {
    for strategy in STRATEGIES {
        let flags: Vec<_> = (0..4).map(|_| Arc::new(AtomicBool::new(false))).collect();
        let mut builder = RingBuilder::new(8, u64::default).wait_strategy(strategy);
        let healthy = builder.add_stage(
            Stage::new(Lifecycle {
                started: flags[0].clone(),
                stopped: flags[1].clone(),
                panic_at: None,
            })
            .name("healthy"),
        );
        builder.add_stage(
            Stage::new(Lifecycle {
                started: flags[2].clone(),
                stopped: flags[3].clone(),
                panic_at: Some(5),
            })
            .name("faulty")
            .after(&[healthy]),
        );
        let (mut producer, ring) = builder.build_single_producer().unwrap();
        let mut published = 0u64;
        let refused = loop {
            match producer.publish(|slot| *slot = published) {
                Ok(_) => published += 1,
                Err(halted) => break halted,
            }
        };
        assert_eq!(refused, Halted);
        assert!(published >= 6, "the panic came at sequence 5");
        assert!(ring.is_halted());
        assert_eq!(
            producer.try_claim().map(|c| c.sequence()),
            Err(TryClaimError::Halted)
        );
        drop(producer);
        let error = ring.join().unwrap_err();
        assert_eq!(error.panics.len(), 1, "{strategy:?}");
        assert_eq!(error.panics[0].stage, "faulty");
        assert_eq!(error.panics[0].message, "bad event at 5");
        assert_eq!(
            error.unprocessed,
            published - 5,
            "the faulty stage processed 0..=4"
        );
        assert!(error
            .to_string()
            .contains("stage `faulty` panicked: bad event at 5"));
        assert!(flags[0].load(Ordering::SeqCst) && flags[1].load(Ordering::SeqCst));
        assert!(flags[2].load(Ordering::SeqCst));
        assert!(
            !flags[3].load(Ordering::SeqCst),
            "no on_shutdown after a panic"
        );
    }
}

/// `halt` returns while a producer still lives (where `join` would wait), reports
/// exactly the events the stage did not handle, and refuses later claims.
#[test]
fn halt_stops_without_the_producers_and_counts_the_backlog() {
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let handled = Arc::new(AtomicU64::new(0));
    let count = Arc::clone(&handled);
    let mut wait = gated_stage(&gate);
    let mut builder = RingBuilder::new(16, u64::default);
    builder.add_stage(Stage::new(move |v: &u64, s: i64, e: bool| {
        wait(v, s, e);
        count.fetch_add(1, Ordering::Relaxed);
    }));
    let (mut producer, ring) = builder.build_multi_producer().unwrap();
    for value in 0..10 {
        producer.publish(|slot| *slot = value).unwrap();
    }
    let halter = thread::spawn(move || ring.halt());
    // The stage is stuck in its first event until the gate opens; `halt` has to
    // wait for that event, not for the producer.
    thread::sleep(Duration::from_millis(10));
    open_gate(&gate);
    let unprocessed = halter.join().unwrap().unwrap();
    assert_eq!(unprocessed, 10 - handled.load(Ordering::Relaxed));
    assert_eq!(producer.publish(|_| {}), Err(Halted));
}

#[test]
fn dropping_a_ring_with_live_producers_halts_instead_of_hanging() {
    let mut builder = RingBuilder::new(4, u64::default);
    builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| {}));
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    producer.publish(|_| {}).unwrap();
    drop(ring);
    // Nothing consumes any more: claims fail once the ring is full, never hang.
    let refused = (0..10)
        .map(|_| producer.publish(|_| {}))
        .find(Result::is_err);
    assert_eq!(refused, Some(Err(Halted)));
}

#[test]
fn stages_run_on_named_threads_and_report_pinning() {
    let (names, received) = mpsc::channel();
    let mut builder = RingBuilder::new(4, u64::default);
    builder.add_stage(
        Stage::new(move |_: &u64, _: i64, _: bool| {
            names
                .send(thread::current().name().map(str::to_owned))
                .unwrap();
        })
        .name("journal")
        .pin_to_core(0),
    );
    builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| {}).pin_to_core(1 << 20));
    builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| {}));
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    producer.publish(|_| {}).unwrap();
    assert_eq!(received.recv().unwrap().as_deref(), Some("journal"));
    let statuses = loop {
        let statuses = ring.stages();
        if statuses.iter().all(|s| s.pinning != Pinning::Pending) {
            break statuses;
        }
        thread::yield_now();
    };
    let pinning: Vec<_> = statuses.iter().map(|s: &StageStatus| s.pinning).collect();
    // Core 0 exists on every machine, but Miri and some containers refuse affinity.
    assert!(matches!(
        pinning[0],
        Pinning::Pinned(0) | Pinning::Failed(0)
    ));
    assert_eq!(pinning[1], Pinning::Failed(1 << 20));
    assert_eq!(pinning[2], Pinning::NotRequested);
    assert_eq!(statuses[2].name, "seqlane-stage-2");
    drop(producer);
    ring.join().unwrap();
}

#[test]
fn ring_reports_capacity_strategy_and_progress() {
    let mut builder = RingBuilder::new(8, u64::default).wait_strategy(WaitStrategy::Yielding);
    builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| {}).name("only"));
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    assert_eq!((ring.capacity(), producer.capacity()), (8, 8));
    assert_eq!(ring.wait_strategy(), WaitStrategy::Yielding);
    for _ in 0..3 {
        producer.publish(|_| {}).unwrap();
    }
    while ring.stages()[0].processed < 2 {
        thread::yield_now();
    }
    assert!(!ring.stages()[0].finished);
    drop(producer);
    ring.join().unwrap();
}

#[test]
#[should_panic(expected = "power of two")]
fn capacity_must_be_a_power_of_two() {
    let _ = RingBuilder::new(12, u64::default);
}

#[test]
#[should_panic(expected = "between 1 and 4 slots")]
fn a_batch_larger_than_the_ring_is_refused() {
    let mut builder = RingBuilder::new(4, u64::default);
    builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| {}));
    let (mut producer, _ring) = builder.build_single_producer().unwrap();
    let _ = producer.claim_batch(5);
}

#[test]
#[should_panic(expected = "at least one stage")]
fn a_ring_needs_a_stage() {
    let _ = RingBuilder::new(4, u64::default).build_single_producer();
}

/// Producers and stages all blocked on each other across a start barrier: a smoke
/// test that the parking strategy wakes both sides.
#[test]
fn blocking_strategy_wakes_producers_and_consumers() {
    let n = scaled(20_000);
    let start = Arc::new(Barrier::new(3));
    let total = Arc::new(AtomicU64::new(0));
    let sum = Arc::clone(&total);
    let mut builder = RingBuilder::new(2, u64::default).wait_strategy(WaitStrategy::Blocking);
    builder.add_stage(Stage::new(move |value: &u64, _: i64, _: bool| {
        sum.fetch_add(*value, Ordering::Relaxed);
    }));
    let (producer, ring) = builder.build_multi_producer().unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (mut producer, start) = (producer.clone(), Arc::clone(&start));
            thread::spawn(move || {
                start.wait();
                for value in 1..=n {
                    producer.publish(|slot| *slot = value).unwrap();
                }
            })
        })
        .collect();
    drop(producer);
    start.wait();
    threads.into_iter().for_each(|t| t.join().unwrap());
    ring.join().unwrap();
    assert_eq!(total.load(Ordering::Relaxed), n * (n + 1));
}

#[test]
fn a_poller_handles_what_is_available_and_reports_idle_and_drained() {
    let mut builder = RingBuilder::new(8, u64::default);
    let id = builder.add_poller("poller", &[]);
    let (mut producer, mut ring) = builder.build_single_producer().unwrap();
    let mut poller = ring.take_poller(id).unwrap();
    assert!(ring.take_poller(id).is_none(), "taken once");
    assert_eq!(poller.poll(|_, _, _| unreachable!()), Ok(Polled::Idle));
    for value in 0..5 {
        producer.publish(|slot| *slot = value).unwrap();
    }
    let mut seen = Vec::new();
    assert_eq!(
        poller.poll(|v, s, end| seen.push((*v, s, end))),
        Ok(Polled::Events(5))
    );
    assert_eq!(
        seen,
        [
            (0, 0, false),
            (1, 1, false),
            (2, 2, false),
            (3, 3, false),
            (4, 4, true)
        ]
    );
    assert_eq!(poller.processed(), 4);
    // The poller gates the producer: a full ring until it polls again.
    for _ in 0..8 {
        producer.try_publish(|_| {}).unwrap();
    }
    assert_eq!(producer.try_publish(|_| {}), Err(TryClaimError::Full));
    assert_eq!(poller.poll(|_, _, _| {}), Ok(Polled::Events(8)));
    drop(producer);
    assert_eq!(poller.poll(|_, _, _| {}), Ok(Polled::Drained));
    drop(poller);
    ring.join().unwrap();
}

#[test]
fn stages_after_a_poller_see_events_it_polled_and_drain_when_it_goes() {
    let n = scaled(10_000);
    let polled = Arc::new(AtomicI64::new(-1));
    let seen = Arc::clone(&polled);
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    let mut builder = RingBuilder::new(16, u64::default);
    let id = builder.add_poller("first", &[]);
    builder.add_stage(
        Stage::new(move |_: &u64, sequence: i64, _: bool| {
            assert!(
                seen.load(Ordering::Acquire) >= sequence,
                "ran before the poller"
            );
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .after(&[id]),
    );
    let (mut producer, mut ring) = builder.build_single_producer().unwrap();
    let mut poller = ring.take_poller(id).unwrap();
    let polling = thread::spawn(move || loop {
        let outcome = poller.poll(|_, sequence, _| polled.store(sequence, Ordering::Release));
        match outcome.unwrap() {
            Polled::Drained => break,
            Polled::Idle => thread::yield_now(),
            Polled::Events(_) => {}
        }
    });
    for value in 0..n {
        producer.publish(|slot| *slot = value).unwrap();
    }
    drop(producer);
    polling.join().unwrap(); // the poller is dropped: the stage after it drains
    ring.join().unwrap();
    assert_eq!(count.load(Ordering::Relaxed), n);
}

/// Two rings, two threads, each polling the other's replies: a round trip.
#[test]
fn pollers_carry_a_ping_pong_between_two_threads() {
    let rounds = scaled(2_000);
    let mut pings = RingBuilder::new(4, u64::default);
    let ping_id = pings.add_poller("ping", &[]);
    let (mut ping_producer, mut ping_ring) = pings.build_single_producer().unwrap();
    let mut pongs = RingBuilder::new(4, u64::default);
    let pong_id = pongs.add_poller("pong", &[]);
    let (mut pong_producer, mut pong_ring) = pongs.build_single_producer().unwrap();
    let mut ping_poller = ping_ring.take_poller(ping_id).unwrap();
    let mut pong_poller = pong_ring.take_poller(pong_id).unwrap();
    let echo = thread::spawn(move || loop {
        let mut replies = Vec::new();
        match ping_poller
            .poll(|value, _, _| replies.push(*value))
            .unwrap()
        {
            Polled::Drained => break,
            Polled::Idle => thread::yield_now(),
            Polled::Events(_) => {}
        }
        for value in replies {
            pong_producer.publish(|slot| *slot = value + 1).unwrap();
        }
    });
    for round in 0..rounds {
        ping_producer.publish(|slot| *slot = round * 10).unwrap();
        let mut reply = None;
        while reply.is_none() {
            if pong_poller
                .poll(|value, _, _| reply = Some(*value))
                .unwrap()
                == Polled::Idle
            {
                thread::yield_now();
            }
        }
        assert_eq!(reply, Some(round * 10 + 1));
    }
    drop(ping_producer);
    echo.join().unwrap();
    drop(pong_poller);
    ping_ring.join().unwrap();
    pong_ring.join().unwrap();
}

#[test]
fn an_untaken_poller_does_not_block_join() {
    let mut builder = RingBuilder::new(4, u64::default);
    let poller = builder.add_poller("never taken", &[]);
    let count = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&count);
    builder.add_stage(
        Stage::new(move |_: &u64, _: i64, _: bool| {
            counter.fetch_add(1, Ordering::Relaxed);
        })
        .after(&[poller]),
    );
    let (producer, ring) = builder.build_multi_producer().unwrap();
    drop(producer);
    ring.join().unwrap();
    assert_eq!(count.load(Ordering::Relaxed), 0);
}
