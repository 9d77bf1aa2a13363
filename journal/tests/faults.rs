//! Fault injection at the journal's named fail points (`segment::<op>::error`):
//! a failed sync, a failed segment creation. Each test runs under a
//! `FailScenario`, which serialises the tests of this binary (fail points are
//! process-wide); no other tests share the binary.

mod common;

use std::path::Path;

use common::{append_range, options, payload, tag};
use seqlane_journal::{Journal, JournalError, Reader, SyncPolicy};

/// Reads the whole journal, checks records below `from_common` against
/// `common::payload`, and returns the number of records.
fn count_checking(dir: &Path, from_common: u64) -> u64 {
    let mut reader = Reader::open(dir, 0).unwrap();
    let mut count = 0;
    while let Some(record) = reader.next_record().unwrap() {
        assert_eq!(record.sequence, count);
        if count < from_common {
            assert_eq!(
                (record.tag, record.payload),
                (tag(count), &payload(count)[..])
            );
        }
        count += 1;
    }
    count
}

/// Makes `point` fail (`return`s an injected I/O error) until dropped.
struct Failing(&'static str);

impl Failing {
    fn new(point: &'static str) -> Self {
        fail::cfg(point, "return").unwrap();
        Failing(point)
    }
}

impl Drop for Failing {
    fn drop(&mut self) {
        fail::remove(self.0);
    }
}

/// A failed msync poisons the writer, and nothing it covered counts as durable:
/// not in this journal, not after a reopen until the reopen synced it itself.
#[test]
fn a_failed_msync_is_never_reported_durable_until_a_sync_succeeds() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    append_range(&mut journal, 0, 8);
    assert_eq!(journal.durable(), Some(7));
    {
        let _msync = Failing::new("segment::msync::error");
        let error = journal
            .append_batch([(1, &b"never synced"[..])])
            .unwrap_err();
        assert!(error.to_string().contains("segment::msync"), "{error}");
        assert_eq!(
            journal.durable(),
            Some(7),
            "the failed batch is not durable"
        );
        assert!(matches!(
            journal.append(1, b"after").unwrap_err(),
            JournalError::Poisoned(_)
        ));
        assert!(matches!(
            journal.sync().unwrap_err(),
            JournalError::Poisoned(_)
        ));
        drop(journal);

        // While syncs still fail, a writer cannot open: it would have to count
        // record 8 durable without having synced it.
        let error = Journal::open(dir.path(), options()).unwrap_err();
        assert!(error.to_string().contains("segment::msync"), "{error}");
    }
    // A writer that syncs nothing reports only what a completed sync covered.
    let never = Journal::open(dir.path(), options().sync(SyncPolicy::Never)).unwrap();
    assert_eq!(never.next_sequence(), 9, "record 8 is in the page cache");
    assert_eq!(never.synced(), Some(7), "but it was never synced");
    assert_eq!(never.recovery_report().durable_line, 8);
    assert_eq!(never.recovery_report().resynced, 0);
    drop(never);

    // A syncing writer writes record 8 back and syncs it before counting it.
    let journal = Journal::open(dir.path(), options()).unwrap();
    assert_eq!(journal.recovery_report().resynced, 1);
    assert_eq!(journal.durable(), Some(8));
    assert_eq!(journal.synced(), Some(8));
    drop(journal);
    assert_eq!(
        count_checking(dir.path(), 8),
        9,
        "records 0..8 as written, then 8"
    );
    scenario.teardown();
}

/// A sync that fails while rolling to a new segment: the records before the roll
/// stay, the journal is poisoned, a reopen recovers every record it kept.
#[test]
fn a_failed_sync_at_a_roll_keeps_every_record_before_it() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    append_range(&mut journal, 0, 5);
    let segments = journal.segments().len();
    {
        let _fsync = Failing::new("segment::fsync::error");
        let mut outcome = Ok(());
        let mut sequence = 5;
        while outcome.is_ok() && sequence < 500 {
            outcome = journal.append(0, &[7; 300]).map(|_| ());
            sequence += 1;
        }
        let error = outcome.expect_err("a roll needs an fsync");
        assert!(error.to_string().contains("segment::fsync"), "{error}");
        assert_eq!(journal.segments().len(), segments, "no segment was added");
    }
    let durable = journal.durable();
    drop(journal);
    let journal = Journal::open(dir.path(), options()).unwrap();
    assert!(journal.next_sequence() > durable.unwrap());
    assert!(
        journal.recovery_report().removed_leftovers.len() <= 1,
        "the half-made segment is removed"
    );
    drop(journal);
    scenario.teardown();
}

/// A failed rename or preallocation while creating a segment leaves no segment and
/// a usable journal (preallocation) or a poisoned-free error (rename); either way
/// a reopen holds every record appended before.
#[test]
fn failed_segment_creation_loses_nothing() {
    let scenario = fail::FailScenario::setup();
    for point in ["segment::fallocate::error", "segment::rename::error"] {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), options()).unwrap();
        append_range(&mut journal, 0, 5);
        let before = journal.next_sequence();
        let failed_at = {
            let _failing = Failing::new(point);
            let mut sequence = before;
            loop {
                match journal.append(0, &[3; 300]) {
                    Ok(_) => sequence += 1,
                    Err(error) => {
                        assert!(error.to_string().contains(point), "{point}: {error}");
                        break sequence;
                    }
                }
                assert!(sequence < 500, "{point}: no roll happened");
            }
        };
        assert_eq!(journal.next_sequence(), failed_at, "{point}");
        drop(journal);
        let journal = Journal::open(dir.path(), options()).unwrap();
        assert_eq!(journal.next_sequence(), failed_at, "{point}: reopened");
        drop(journal);
        assert_eq!(
            count_checking(dir.path(), 5),
            failed_at,
            "{point}: as written"
        );
    }
    scenario.teardown();
}

/// A sync run on another thread that fails poisons the writer when completed, and
/// moves no durable line.
#[test]
fn a_failed_sync_job_poisons_the_writer_and_makes_nothing_durable() {
    let _scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options().sync(SyncPolicy::Never)).unwrap();
    append_range(&mut journal, 0, 8);
    journal.sync().unwrap();
    append_range(&mut journal, 8, 12);
    let job = journal
        .begin_sync()
        .unwrap()
        .expect("records 8..12 are unsynced");
    let outcome = {
        let _msync = Failing::new("segment::msync::error");
        std::thread::scope(|scope| scope.spawn(|| job.run()).join().unwrap())
    };
    let error = journal.complete_sync(job, outcome).unwrap_err();
    assert!(error.to_string().contains("segment::msync"), "{error}");
    assert_eq!(journal.synced(), Some(7), "the failed job covered nothing");
    assert!(matches!(
        journal.begin_sync().unwrap_err(),
        JournalError::Poisoned(_)
    ));
    assert!(matches!(
        journal.append(1, b"after").unwrap_err(),
        JournalError::Poisoned(_)
    ));
}

/// A failed write of a batch poisons the writer and appends nothing of it: the
/// batch's sequences are not taken, a reopen finds the records before it, and a
/// writer that opens with writes working again appends from there.
#[test]
fn a_failed_write_appends_nothing_of_the_batch() {
    let scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    append_range(&mut journal, 0, 8);
    {
        let _write = Failing::new("segment::write::error");
        let error = journal
            .append_batch([(1, &b"never written"[..]), (1, &b"nor this"[..])])
            .unwrap_err();
        assert!(
            error.to_string().contains("segment::write_frames"),
            "{error}"
        );
        assert_eq!(journal.next_sequence(), 8, "the batch took no sequences");
        assert_eq!(journal.durable(), Some(7));
        assert!(matches!(
            journal.append(1, b"after").unwrap_err(),
            JournalError::Poisoned(_)
        ));
        // A reader of this journal sees the records before the batch only.
        let mut reader = journal.reader_from(0).unwrap();
        let mut read = 0;
        while reader.next_record().unwrap().is_some() {
            read += 1;
        }
        assert_eq!(read, 8);
    }
    drop(journal);
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    assert_eq!(journal.next_sequence(), 8);
    append_range(&mut journal, 8, 10);
    {
        // The batch's bytes reach the file, its first length (the second
        // write) does not: a torn tail the next open cuts.
        fail::cfg("segment::write::error", "1*off->return").unwrap();
        let error = journal
            .append_batch([(1, &b"body written"[..]), (1, &b"length not"[..])])
            .unwrap_err();
        fail::remove("segment::write::error");
        assert!(
            error.to_string().contains("segment::write_frames"),
            "{error}"
        );
        assert_eq!(journal.next_sequence(), 10);
    }
    drop(journal);
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    assert_eq!(journal.next_sequence(), 10);
    append_range(&mut journal, 10, 12);
    drop(journal);
    assert_eq!(count_checking(dir.path(), 12), 12);
    scenario.teardown();
}

fn segment_count(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension() == Some("seg".as_ref()))
        .count()
}

/// Under `SyncPolicy::Never` a roll leaves the closed segment unsynced; the next
/// sync writes it back with the active one before it calls anything synced, and a
/// failure writing it back poisons the writer with nothing more made durable.
#[test]
fn a_sync_under_never_writes_back_the_segments_rolls_left_unsynced() {
    let _scenario = fail::FailScenario::setup();
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options().sync(SyncPolicy::Never)).unwrap();
    let mut next = 0;
    while segment_count(dir.path()) < 3 {
        append_range(&mut journal, next, next + 1);
        next += 1;
    }
    let msyncs = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&msyncs);
    fail::cfg_callback("segment::msync::error", move || {
        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    })
    .unwrap();
    journal.sync().unwrap();
    fail::remove("segment::msync::error");
    assert_eq!(
        msyncs.load(std::sync::atomic::Ordering::Relaxed),
        3,
        "one per segment"
    );
    assert_eq!(journal.synced(), Some(next - 1));

    let synced = journal.synced();
    let segments = segment_count(dir.path());
    while segment_count(dir.path()) == segments {
        append_range(&mut journal, next, next + 1);
        next += 1;
    }
    {
        let _msync = Failing::new("segment::msync::error");
        let error = journal.sync().unwrap_err();
        assert!(error.to_string().contains("segment::msync"), "{error}");
    }
    assert_eq!(journal.synced(), synced, "the failed sync covered nothing");
    assert!(matches!(
        journal.append(1, b"after").unwrap_err(),
        JournalError::Poisoned(_)
    ));
    drop(journal);
    assert_eq!(count_checking(dir.path(), next), next);
}
