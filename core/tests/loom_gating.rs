//! Loom model: the producer never overwrites a slot that a gating stage has not
//! released.
#![cfg(loom)]

use std::sync::{Arc, Mutex};

use seqlane::{Producer, RingBuilder, Stage, WaitStrategy};

/// A ring of one slot and a two-stage pipeline: every event must pass both stages
/// before the producer may reuse the slot. Loom's cell tracking fails the model on
/// any write that overlaps a read; the assertions catch a stage seeing a later
/// event in an earlier sequence's slot.
#[test]
fn loom_producer_never_overwrites_an_unread_slot() {
    loom::model(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let mut builder = RingBuilder::new(1, || 0u64).wait_strategy(WaitStrategy::Blocking);
        let first = builder.add_stage(Stage::new(|event: &u64, sequence: i64, _: bool| {
            assert_eq!(
                *event, sequence as u64,
                "slot overwritten before the first stage read it"
            );
        }));
        builder.add_stage(
            Stage::new(move |event: &u64, sequence: i64, _: bool| {
                assert_eq!(
                    *event, sequence as u64,
                    "slot overwritten before the last stage read it"
                );
                sink.lock().unwrap().push(*event);
            })
            .after(&[first]),
        );
        let (mut producer, ring) = builder.build_single_producer().unwrap();
        for value in 0..2 {
            producer.publish(|slot| *slot = value).unwrap();
        }
        drop(producer);
        ring.join().unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![0, 1]);
    });
}

/// `try_claim` on a full one-slot ring fails without claiming, and never lets the
/// producer write the slot a stage is reading.
#[test]
fn loom_try_claim_respects_gating() {
    loom::model(|| {
        let mut builder = RingBuilder::new(1, || 0u64).wait_strategy(WaitStrategy::Blocking);
        builder.add_stage(Stage::new(|event: &u64, sequence: i64, _: bool| {
            assert_eq!(*event, sequence as u64);
        }));
        let (mut producer, ring) = builder.build_single_producer().unwrap();
        producer.publish(|slot| *slot = 0).unwrap();
        let mut next = 1;
        // The stage may or may not have released slot 0 yet; either outcome is
        // fine, as long as a success writes a free slot.
        if producer.try_publish(|slot| *slot = next).is_ok() {
            next += 1;
        }
        producer.publish(|slot| *slot = next).unwrap();
        drop(producer);
        ring.join().unwrap();
    });
}
