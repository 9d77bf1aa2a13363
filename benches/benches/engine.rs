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
use seqlane::{Aggregate, Engine, EngineBuilder, Projection, ReadModel, Until};
use seqlane_journal::{Codec, JournalError, JournalOptions, SyncPolicy};

/// A running sum: the smallest useful domain.
struct Sum(u64);

impl Aggregate for Sum {
    type Command = u64;
    type Event = u64;
    type Rejection = ();

    fn decide(&self, add: &u64, events: &mut Vec<u64>) -> Result<(), ()> {
        events.push(*add);
        Ok(())
    }

    fn apply(&mut self, added: &u64) {
        self.0 += added;
    }
}

struct Count(u64);

impl Projection<u64> for Count {
    type View = u64;

    fn apply(&mut self, _: &u64, _: u64) {
        self.0 += 1;
    }

    fn view(&self) -> u64 {
        self.0
    }
}

/// Events as 8 little-endian bytes.
struct Le;

impl Codec<u64> for Le {
    fn encode(&self, value: &u64, out: &mut Vec<u8>) -> Result<(), JournalError> {
        out.extend_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<u64, JournalError> {
        let bytes: [u8; 8] = bytes
            .try_into()
            .map_err(|_| JournalError::Codec(format!("{} bytes, not 8", bytes.len())))?;
        Ok(u64::from_le_bytes(bytes))
    }
}

fn start(dir: &std::path::Path) -> (Engine<Sum>, ReadModel<u64>) {
    let mut builder = EngineBuilder::new(dir, Sum(0))
        .codec(Le)
        .journal_options(JournalOptions::default().sync(SyncPolicy::Never))
        .input_capacity(1 << 14)
        .output_capacity(1 << 14);
    let count = builder.add_projection("count", Count(0));
    (builder.start().expect("the engine starts"), count)
}

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
