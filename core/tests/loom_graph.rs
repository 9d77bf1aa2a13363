//! Loom model: a stage that runs after two others sees an event only after both.
#![cfg(loom)]

use loom::sync::atomic::AtomicI64;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use seqlane::{Producer, RingBuilder, Stage, WaitStrategy};

#[test]
fn loom_diamond_orders_the_joining_stage_after_both_branches() {
    loom::model(|| {
        let seen = Arc::new([AtomicI64::new(-1), AtomicI64::new(-1)]);
        let mut builder = RingBuilder::new(2, || 0u8).wait_strategy(WaitStrategy::Blocking);
        let branch = |i: usize| {
            let seen = Arc::clone(&seen);
            // Relaxed: the ring itself must order this store before the joining
            // stage's load (the stage sequences' Release/Acquire).
            Stage::new(move |_: &u8, sequence: i64, _: bool| {
                seen[i].store(sequence, Ordering::Relaxed)
            })
        };
        let a = builder.add_stage(branch(0));
        let b = builder.add_stage(branch(1));
        let check = Arc::clone(&seen);
        builder.add_stage(
            Stage::new(move |_: &u8, sequence: i64, _: bool| {
                assert!(
                    check[0].load(Ordering::Relaxed) >= sequence,
                    "ran before branch a"
                );
                assert!(
                    check[1].load(Ordering::Relaxed) >= sequence,
                    "ran before branch b"
                );
            })
            .after(&[a, b]),
        );
        let (mut producer, ring) = builder.build_single_producer().unwrap();
        producer.publish(|_| {}).unwrap();
        drop(producer);
        ring.join().unwrap();
    });
}
