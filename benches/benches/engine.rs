//! The engine's hot path end to end: commands through the gateway, the business
//! logic, the journal (`SyncPolicy::Never`) and one projection.
//!
//! - `engine/send_until_visible`: one producer sends a burst of commands (fire and
//!   forget) and waits until the last is visible in the read model: time per
//!   command when the pipeline is kept full.
//! - `engine/submit_wait_processed`: one command at a time, waiting for its
//!   `Processed` answer: the round trip through the input ring and the logic.
//!
//! Each sample gets a fresh engine and journal (started and stopped outside the
//! timed region). Run with `cargo bench -p seqlane-benches --bench engine`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use seqlane::Until;
use seqlane_benches::start;

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(1));
    group.bench_function("send_until_visible", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            let (engine, count) = start(dir.path());
            let gateway = engine.gateway();
            let started = Instant::now();
            for value in 1..iters {
                gateway.send(value).unwrap();
            }
            let last = gateway.submit(iters).unwrap();
            last.wait(Until::Visible(count.id())).unwrap();
            let elapsed = started.elapsed();
            assert_eq!(*count.get(), iters);
            drop(gateway);
            engine.shutdown().unwrap();
            elapsed
        });
    });
    group.bench_function("submit_wait_processed", |b| {
        b.iter_custom(|iters| {
            let dir = tempfile::tempdir().unwrap();
            let (engine, _) = start(dir.path());
            let gateway = engine.gateway();
            let mut elapsed = Duration::ZERO;
            for value in 0..iters {
                let started = Instant::now();
                let outcome = gateway.submit(value).unwrap().wait(Until::Processed);
                elapsed += started.elapsed();
                outcome.unwrap();
            }
            drop(gateway);
            engine.shutdown().unwrap();
            elapsed
        });
    });
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
