//! Recovery, inspection and reading of arbitrary bytes: never a panic, never
//! undefined behaviour; whatever recovery accepts reads back consistently and takes
//! new appends.
//!
//! The first input byte picks the shape: raw bytes as a whole segment file (mostly
//! exercising header checks), or a valid header followed by the bytes (exercising
//! frame decoding, torn-tail detection and truncation).
//!
//! Run: `cargo +nightly fuzz run recover` in `journal/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use seqlane_journal::format::{
    SegmentHeader, DATA_START, FRAME_HEADER_LEN, SEGMENT_HEADER_LEN, VERSION,
};
use seqlane_journal::{inspect, Journal, JournalOptions, Reader, SyncPolicy};

fuzz_target!(|data: &[u8]| {
    let Some((&shape, body)) = data.split_first() else { return };
    let dir = tempfile::tempdir().unwrap();
    let file = if shape % 2 == 0 {
        body.to_vec()
    } else {
        // The body starts with the sync mark slots, then frames.
        let capacity = (SEGMENT_HEADER_LEN + body.len()).max(DATA_START + FRAME_HEADER_LEN);
        let header = SegmentHeader {
            version: VERSION,
            base_sequence: u64::from(shape >> 1),
            capacity: capacity as u64,
            created_unix_micros: 0,
            writer_pid: 0,
        };
        let mut file = header.encode().to_vec();
        file.extend_from_slice(body);
        file.resize(capacity, 0);
        file
    };
    let base = if shape % 2 == 0 { 0 } else { u64::from(shape >> 1) };
    std::fs::write(dir.path().join(format!("{base:020}.seg")), &file).unwrap();

    // Read-only views must not panic, whatever they conclude.
    let inspection = inspect(dir.path()).unwrap();
    let mut static_records = 0;
    if let Ok(mut reader) = Reader::open(dir.path(), base) {
        while let Ok(Some(_)) = reader.next_record() {
            static_records += 1;
        }
    }
    assert!(static_records <= inspection.records() || !inspection.is_valid());

    // Recovery: either an error, or a journal whose records read back in order and
    // which takes a new record after them.
    let options = JournalOptions::default().segment_size(1 << 16).sync(SyncPolicy::Never);
    let Ok(mut journal) = Journal::open(dir.path(), options) else { return };
    let next = journal.next_sequence();
    assert_eq!(journal.recovery_report().records, next - journal.first_sequence());
    let appended = journal.append(9, b"after recovery").unwrap();
    assert_eq!(appended, next);
    let mut reader = journal.reader_from(journal.first_sequence()).unwrap();
    let mut expected = journal.first_sequence();
    while let Some(record) = reader.next_record().unwrap() {
        assert_eq!(record.sequence, expected);
        expected += 1;
    }
    assert_eq!(expected, next + 1);
    assert!(inspect(dir.path()).unwrap().is_valid());
});
