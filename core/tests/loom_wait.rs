//! Loom model: the parking wait strategies wake a parked stage and a parked producer.
#![cfg(loom)]

use seqlane::{Producer, RingBuilder, Stage, WaitStrategy};

/// A stage parks on an empty ring, the producer parks on a full one; each side's
/// progress must wake the other. A lost wake-up leaves a thread asleep forever and
/// loom reports the deadlock.
#[test]
fn loom_parked_stage_and_parked_producer_wake_each_other() {
    for strategy in [
        WaitStrategy::Blocking,
        // Spins once, then parks: the park comes after a failed poll, as it does
        // when the spins run out under load.
        WaitStrategy::SpinThenPark { spins: 1 },
        WaitStrategy::Backoff {
            spins: 0,
            yields: 1,
        },
    ] {
        loom::model(move || {
            let mut builder = RingBuilder::new(1, || 0u8).wait_strategy(strategy);
            builder.add_stage(Stage::new(|_: &u8, _: i64, _: bool| {}));
            let (mut producer, ring) = builder.build_single_producer().unwrap();
            // The second publish needs the stage to release the only slot.
            producer.publish(|slot| *slot = 1).unwrap();
            producer.publish(|slot| *slot = 2).unwrap();
            drop(producer);
            ring.join().unwrap();
        });
    }
}
