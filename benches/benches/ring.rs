//! Hot paths of the ring: claim + publish (single and multi producer), batch
//! publish, consume and the barrier wait, with a baseline that measures the
//! benchmark's own loop.
//!
//! Each measurement publishes into a ring drained by one stage on another thread, so
//! it includes the cache-line traffic a real producer pays. Run with
//! `cargo bench -p seqlane-benches`.

use std::hint::black_box;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use seqlane::{Producer, RingBuilder, Stage};

const CAPACITY: usize = 64 * 1024;

/// A ring whose stage sums what it sees and records how far it got.
fn summing_ring() -> (RingBuilder<u64>, Arc<AtomicI64>) {
    let progress = Arc::new(AtomicI64::new(-1));
    let seen = Arc::clone(&progress);
    let mut sum = 0u64;
    let mut builder = RingBuilder::new(CAPACITY, u64::default);
    builder.add_stage(Stage::new(move |value: &u64, sequence: i64, end: bool| {
        sum = sum.wrapping_add(*value);
        if end {
            black_box(sum);
            seen.store(sequence, Ordering::Release);
        }
    }));
    (builder, progress)
}

fn baseline(c: &mut Criterion) {
    // The loop and the store the other benchmarks wrap around each publish.
    let mut slots = vec![0u64; CAPACITY];
    let mut i = 0usize;
    let mut group = c.benchmark_group("baseline");
    group.throughput(Throughput::Elements(1));
    group.bench_function("store_to_local_array", |b| {
        b.iter(|| {
            slots[i & (CAPACITY - 1)] = black_box(i as u64);
            i += 1;
        })
    });
    group.finish();
}

fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish");
    group.throughput(Throughput::Elements(1));

    let (builder, _) = summing_ring();
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    let mut value = 0u64;
    group.bench_function("single_claim_publish", |b| {
        b.iter(|| {
            value += 1;
            producer.publish(|slot| *slot = value).unwrap();
        })
    });
    drop(producer);
    ring.join().unwrap();

    let (builder, _) = summing_ring();
    let (mut producer, ring) = builder.build_multi_producer().unwrap();
    group.bench_function("multi_claim_publish", |b| {
        b.iter(|| {
            value += 1;
            producer.publish(|slot| *slot = value).unwrap();
        })
    });
    drop(producer);
    ring.join().unwrap();
    group.finish();

    let mut group = c.benchmark_group("publish_batch_100");
    group.throughput(Throughput::Elements(100));
    let (builder, _) = summing_ring();
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    group.bench_function("single", |b| {
        b.iter(|| {
            let mut batch = producer.claim_batch(100).unwrap();
            for (sequence, slot) in batch.iter_mut() {
                *slot = sequence as u64;
            }
        })
    });
    drop(producer);
    ring.join().unwrap();
    group.finish();
}

/// Time from publishing a burst until the stage has consumed it: the consumer's
/// per-event cost plus one hand-off.
fn consume(c: &mut Criterion) {
    const BURST: usize = 1024;
    let mut group = c.benchmark_group("consume");
    group.throughput(Throughput::Elements(BURST as u64));
    let (builder, progress) = summing_ring();
    let (mut producer, ring) = builder.build_single_producer().unwrap();
    let mut last = -1i64;
    group.bench_function("burst_1024", |b| {
        b.iter_custom(|iterations| {
            let mut total = Duration::ZERO;
            for _ in 0..iterations {
                let started = Instant::now();
                let batch = producer.claim_batch(BURST).unwrap();
                last = batch.last();
                drop(batch);
                while progress.load(Ordering::Acquire) < last {
                    std::hint::spin_loop();
                }
                total += started.elapsed();
            }
            total
        })
    });
    drop(producer);
    ring.join().unwrap();
    group.finish();
}

/// The barrier check a consumer makes before each batch, through a poller on the
/// benchmark's own thread (no other thread, so no cache-line traffic): finding
/// nothing, and finding the one event just published.
fn barrier_wait(c: &mut Criterion) {
    let mut builder = RingBuilder::new(1024, u64::default);
    let id = builder.add_poller("bench", &[]);
    let (mut producer, mut ring) = builder.build_single_producer().unwrap();
    let mut poller = ring.take_poller(id).unwrap();
    let mut group = c.benchmark_group("barrier_wait");
    group.throughput(Throughput::Elements(1));
    group.bench_function("poll_idle", |b| {
        b.iter(|| {
            black_box(
                poller
                    .poll(|value, _, _| {
                        black_box(value);
                    })
                    .unwrap(),
            )
        })
    });
    group.bench_function("publish_then_poll", |b| {
        b.iter(|| {
            producer.publish(|slot| *slot = 1).unwrap();
            black_box(
                poller
                    .poll(|value, _, _| {
                        black_box(value);
                    })
                    .unwrap(),
            )
        })
    });
    group.finish();
    drop((producer, poller));
    ring.join().unwrap();
}

/// Building and joining a ring: what starting a pipeline costs.
fn lifecycle(c: &mut Criterion) {
    c.bench_function("build_and_join_1024", |b| {
        b.iter_batched(
            || (),
            |()| {
                let mut builder = RingBuilder::new(1024, u64::default);
                builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| {}));
                let (producer, ring) = builder.build_single_producer().unwrap();
                drop(producer);
                ring.join().unwrap();
            },
            BatchSize::SmallInput,
        )
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = baseline, publish, consume, barrier_wait, lifecycle
}
criterion_main!(benches);
