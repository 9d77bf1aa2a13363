//! Loom model: single-producer publish and consume across a wrap of the ring.
#![cfg(loom)]

use std::sync::{Arc, Mutex};

use seqlane::{Producer, RingBuilder, Stage, WaitStrategy};

/// Three events through a ring of two slots: the stage sees each exactly once, in
/// order, fully written (each slot holds its own sequence), whatever the
/// interleaving. Loom's cell tracking fails the model if the producer writes a slot
/// while the stage reads it.
#[test]
fn loom_single_producer_publish_consume_wraps() {
    for strategy in [
        WaitStrategy::Blocking,
        WaitStrategy::Backoff {
            spins: 1,
            yields: 1,
        },
    ] {
        loom::model(move || {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&seen);
            let mut builder = RingBuilder::new(2, || (0u64, 0u64)).wait_strategy(strategy);
            builder.add_stage(Stage::new(
                move |event: &(u64, u64), sequence: i64, _: bool| {
                    assert_eq!(event.0, sequence as u64, "torn or stale slot");
                    assert_eq!(event.1, event.0 * 10, "half-written slot");
                    sink.lock().unwrap().push(event.0);
                },
            ));
            let (mut producer, ring) = builder.build_single_producer().unwrap();
            for value in 0..3 {
                producer
                    .publish(|slot| {
                        slot.0 = value;
                        slot.1 = value * 10;
                    })
                    .unwrap();
            }
            drop(producer);
            ring.join().unwrap();
            assert_eq!(*seen.lock().unwrap(), vec![0, 1, 2]);
        });
    }
}
