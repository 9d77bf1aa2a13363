//! Helpers shared by the journal's integration tests: records whose contents
//! depend only on their sequence, so any reader can check any record.
#![allow(dead_code)] // reason: each test binary uses its own subset

use std::path::Path;

use seqlane_journal::{Journal, JournalOptions, Reader};

pub const SMALL_SEGMENT: u64 = 4096;

/// A payload that depends only on its sequence, of varying length (0..300 bytes).
pub fn payload(sequence: u64) -> Vec<u8> {
    let len = (sequence * 7919 % 300) as usize;
    (0..len).map(|i| (sequence as usize + i) as u8).collect()
}

pub fn tag(sequence: u64) -> u32 {
    (sequence % 5) as u32
}

pub fn options() -> JournalOptions {
    JournalOptions::default().segment_size(SMALL_SEGMENT)
}

/// Appends sequences `from..to`, alternating single appends and batches.
pub fn append_range(journal: &mut Journal, from: u64, to: u64) {
    let mut sequence = from;
    while sequence < to {
        if sequence.is_multiple_of(3) {
            assert_eq!(
                journal.append(tag(sequence), &payload(sequence)).unwrap(),
                sequence
            );
            sequence += 1;
        } else {
            let end = (sequence + 7).min(to);
            let payloads: Vec<_> = (sequence..end).map(|s| (tag(s), payload(s))).collect();
            let range = journal
                .append_batch(payloads.iter().map(|(t, p)| (*t, &p[..])))
                .unwrap();
            assert_eq!(range, Some(sequence..=end - 1));
            sequence = end;
        }
    }
}

/// A journal directory holding records `0..records`, closed.
pub fn written(records: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    append_range(&mut journal, 0, records);
    dir
}

/// Reads every record from `from`, checks each against `payload`, and returns the
/// sequence after the last.
pub fn read_all(dir: &Path, from: u64) -> u64 {
    let mut reader = Reader::open(dir, from).unwrap();
    let mut expected = from;
    while let Some(record) = reader.next_record().unwrap() {
        assert_eq!(record.sequence, expected);
        assert_eq!(record.tag, tag(expected));
        assert_eq!(
            record.payload,
            &payload(expected)[..],
            "payload of {expected}"
        );
        expected += 1;
    }
    expected
}
