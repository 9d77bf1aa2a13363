//! Loom model: multi-producer claims and per-slot availability.
#![cfg(loom)]

use std::sync::{Arc, Mutex};

use seqlane::{Producer, RingBuilder, Stage, WaitStrategy};

/// Two producers, one stage, a ring of two slots wrapping at least once: no claim is
/// lost or handed out twice, the stage never reads an unpublished hole (a slot a
/// slower producer claimed but has not written), and each producer's events keep
/// their order.
#[test]
fn loom_two_producers_one_consumer_wrapping() {
    loom::model(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let mut builder =
            RingBuilder::new(2, || (u8::MAX, 0u8)).wait_strategy(WaitStrategy::Blocking);
        builder.add_stage(Stage::new(move |event: &(u8, u8), _: i64, _: bool| {
            assert_ne!(event.0, u8::MAX, "read a slot that was never written");
            sink.lock().unwrap().push(*event);
        }));
        let (mut producer, ring) = builder.build_multi_producer().unwrap();
        let mut other = producer.clone();
        let second = loom::thread::spawn(move || {
            other.publish(|slot| *slot = (1, 0)).unwrap();
        });
        producer.publish(|slot| *slot = (0, 0)).unwrap();
        producer.publish(|slot| *slot = (0, 1)).unwrap();
        drop(producer);
        second.join().unwrap();
        ring.join().unwrap();

        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3, "lost or duplicated an event: {seen:?}");
        let first_producer: Vec<_> = seen.iter().filter(|e| e.0 == 0).map(|e| e.1).collect();
        assert_eq!(
            first_producer,
            vec![0, 1],
            "a producer's events out of order"
        );
        assert_eq!(seen.iter().filter(|e| e.0 == 1).count(), 1);
    });
}

/// A batch claim from one producer racing a single claim from another: the batch's
/// slots become visible together or in order, never with a gap.
#[test]
fn loom_batch_and_single_claims_interleave_without_gaps() {
    loom::model(|| {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let mut builder = RingBuilder::new(4, || 0u8).wait_strategy(WaitStrategy::Blocking);
        builder.add_stage(Stage::new(move |event: &u8, _: i64, _: bool| {
            sink.lock().unwrap().push(*event);
        }));
        let (mut producer, ring) = builder.build_multi_producer().unwrap();
        let mut other = producer.clone();
        let single = loom::thread::spawn(move || {
            other.publish(|slot| *slot = 9).unwrap();
        });
        let mut batch = producer.claim_batch(2).unwrap();
        for (i, (_, slot)) in batch.iter_mut().enumerate() {
            *slot = i as u8 + 1;
        }
        batch.publish();
        drop(producer);
        single.join().unwrap();
        ring.join().unwrap();

        let seen = seen.lock().unwrap();
        let batch: Vec<_> = seen.iter().copied().filter(|&e| e != 9).collect();
        assert_eq!(batch, vec![1, 2]);
        assert_eq!(seen.len(), 3);
    });
}
