//! What a reader in another process can know of a live journal: its identity, and
//! the durable line below which records are on disk.

use seqlane_journal::{durable_line, identity, Journal, JournalOptions, Reader, SyncPolicy};

fn options(sync: SyncPolicy) -> JournalOptions {
    JournalOptions::default().segment_size(4096).sync(sync)
}

#[test]
fn the_line_follows_completed_syncs_across_rolls() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(durable_line(dir.path()).unwrap(), 0, "no journal yet");
    let mut journal = Journal::open(dir.path(), options(SyncPolicy::EveryBatch)).unwrap();
    for i in 0..600u64 {
        journal.append(1, &i.to_le_bytes()).unwrap();
        assert_eq!(durable_line(dir.path()).unwrap(), i + 1);
    }
    assert!(journal.segments().len() > 3, "the test rolls segments");
}

#[test]
fn unsynced_records_stay_above_the_line_until_a_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options(SyncPolicy::Never)).unwrap();
    for i in 0..300u64 {
        journal.append(1, &i.to_le_bytes()).unwrap();
    }
    assert!(journal.segments().len() > 1, "the test rolls segments");
    assert_eq!(durable_line(dir.path()).unwrap(), 0);
    journal.sync().unwrap();
    assert_eq!(durable_line(dir.path()).unwrap(), 300);
    journal.append(1, b"later").unwrap();
    assert_eq!(durable_line(dir.path()).unwrap(), 300);
}

#[test]
fn a_reader_of_the_directory_follows_a_live_writer_to_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options(SyncPolicy::EveryBatch)).unwrap();
    let mut reader = Reader::open(dir.path(), 0).unwrap();
    let mut seen = 0u64;
    for round in 0..20u64 {
        for i in 0..10u64 {
            journal.append(1, &(round * 10 + i).to_le_bytes()).unwrap();
        }
        let line = durable_line(dir.path()).unwrap();
        while reader.next_sequence() < line {
            let record = reader.next_record().unwrap().expect("below the line");
            assert_eq!(record.payload, seen.to_le_bytes());
            seen += 1;
        }
    }
    assert_eq!(seen, 200);
}

#[test]
fn the_identity_survives_reopening_and_differs_between_journals() {
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let id = Journal::open(one.path(), options(SyncPolicy::EveryBatch))
        .unwrap()
        .identity()
        .to_owned();
    let reopened = Journal::open(one.path(), options(SyncPolicy::EveryBatch)).unwrap();
    assert_eq!(reopened.identity(), id);
    assert_eq!(identity(one.path()).unwrap(), id);
    let other = Journal::open(two.path(), options(SyncPolicy::EveryBatch)).unwrap();
    assert_ne!(other.identity(), id);
}
