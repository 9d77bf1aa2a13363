//! The journal's hot paths: appending (64-byte and 1 KiB payloads, one record at a
//! time and in batches of 1,000) under each sync policy, and the recovery scan.
//!
//! Throughput is in payload bytes, or in records for the batched sync policies.
//! Old segments are retired outside the timed region, so long runs do not fill the
//! disk. Journals live in the system temp directory (set `TMPDIR` to measure another
//! disk). Run with `cargo bench -p seqlane-benches --bench journal`.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use seqlane_journal::{Journal, JournalOptions, SyncPolicy};

const SEGMENT: u64 = 64 << 20;
const BATCH: usize = 1_000;

fn open(dir: &std::path::Path, sync: SyncPolicy) -> Journal {
    Journal::open(
        dir,
        JournalOptions::default().segment_size(SEGMENT).sync(sync),
    )
    .unwrap()
}

/// Keeps the journal to its two newest segments.
fn trim(journal: &mut Journal) {
    if journal.segments().len() > 2 {
        let keep = journal.segments()[journal.segments().len() - 2].0;
        journal.retire_before(keep, None).unwrap();
    }
}

fn append(c: &mut Criterion) {
    let mut group = c.benchmark_group("journal_append");
    for size in [64usize, 1024] {
        let payload = vec![0xa5u8; size];
        let records: Vec<(u32, &[u8])> = (0..BATCH).map(|_| (1, &payload[..])).collect();

        group.throughput(Throughput::Bytes(size as u64));
        let dir = tempfile::tempdir().unwrap();
        let mut journal = open(dir.path(), SyncPolicy::Never);
        group.bench_function(BenchmarkId::new("never_single", size), |b| {
            b.iter_custom(|iterations| {
                trim(&mut journal);
                let started = Instant::now();
                for _ in 0..iterations {
                    journal.append(1, &payload).unwrap();
                }
                started.elapsed()
            })
        });
        drop(journal);

        for (name, sync) in [
            ("never_batch", SyncPolicy::Never),
            (
                "interval_1ms_batch",
                SyncPolicy::Interval(Duration::from_millis(1)),
            ),
            ("every_batch", SyncPolicy::EveryBatch),
        ] {
            group.throughput(if sync == SyncPolicy::Never {
                Throughput::Bytes((size * BATCH) as u64)
            } else {
                Throughput::Elements(BATCH as u64)
            });
            let dir = tempfile::tempdir().unwrap();
            let mut journal = open(dir.path(), sync);
            group.bench_function(BenchmarkId::new(name, size), |b| {
                b.iter_custom(|iterations| {
                    let mut elapsed = Duration::ZERO;
                    for _ in 0..iterations {
                        let started = Instant::now();
                        journal.append_batch(records.iter().copied()).unwrap();
                        elapsed += started.elapsed();
                        trim(&mut journal);
                    }
                    elapsed
                })
            });
        }
    }
    group.finish();
}

/// Opening a journal of 256 MiB of 64-byte records: the recovery scan checks every
/// record's checksum.
fn recovery(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = open(dir.path(), SyncPolicy::Never);
    let payload = [0x5au8; 64];
    let records: Vec<(u32, &[u8])> = (0..BATCH).map(|_| (1, &payload[..])).collect();
    while journal.segments().len() <= 4 {
        journal.append_batch(records.iter().copied()).unwrap();
    }
    journal.sync().unwrap();
    drop(journal);
    // The bytes the scan reads: headers and records, not the zeroed tail.
    let bytes: u64 = seqlane_journal::inspect(dir.path())
        .unwrap()
        .segments
        .iter()
        .map(|s| s.used_bytes)
        .sum();

    let mut group = c.benchmark_group("journal_recovery");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.bench_function("open_256MiB_64B_records", |b| {
        b.iter(|| {
            let journal = open(dir.path(), SyncPolicy::Never);
            assert!(journal.recovery_report().records > 0);
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = append, recovery
}
criterion_main!(benches);
