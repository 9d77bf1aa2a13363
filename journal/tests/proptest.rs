//! Property test: any sequence of appends, batches, reopens and reads agrees with a
//! plain vector of payloads.

use proptest::prelude::*;
use seqlane_journal::{Journal, JournalOptions, Reader, SyncPolicy};

#[derive(Clone, Debug)]
enum Op {
    Append(u32, Vec<u8>),
    Batch(Vec<(u32, Vec<u8>)>),
    Reopen,
    ReadFrom(usize),
    Tail(usize),
}

fn payload() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..600)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (any::<u32>(), payload()).prop_map(|(t, p)| Op::Append(t, p)),
        2 => prop::collection::vec((any::<u32>(), payload()), 0..12).prop_map(Op::Batch),
        1 => Just(Op::Reopen),
        1 => any::<usize>().prop_map(Op::ReadFrom),
        1 => any::<usize>().prop_map(Op::Tail),
    ]
}

fn options() -> JournalOptions {
    JournalOptions::default()
        .segment_size(4096)
        .sync(SyncPolicy::Never)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn journal_agrees_with_a_vector(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let mut journal = Journal::open(dir.path(), options()).unwrap();
        let mut model: Vec<(u32, Vec<u8>)> = Vec::new();
        for op in ops {
            match op {
                Op::Append(tag, bytes) => {
                    prop_assert_eq!(journal.append(tag, &bytes).unwrap(), model.len() as u64);
                    model.push((tag, bytes));
                }
                Op::Batch(records) => {
                    let range = journal.append_batch(records.iter().map(|(t, p)| (*t, &p[..]))).unwrap();
                    let expected = (!records.is_empty()).then(|| model.len() as u64..=(model.len() + records.len()) as u64 - 1);
                    prop_assert_eq!(range, expected);
                    model.extend(records);
                }
                Op::Reopen => {
                    drop(journal);
                    journal = Journal::open(dir.path(), options()).unwrap();
                    prop_assert_eq!(journal.recovery_report().truncated.clone(), None);
                    prop_assert_eq!(journal.next_sequence(), model.len() as u64);
                }
                Op::ReadFrom(from) | Op::Tail(from) => {
                    let from = if model.is_empty() { 0 } else { from % (model.len() + 1) };
                    let mut reader = if matches!(op, Op::Tail(_)) {
                        journal.reader_from(from as u64).unwrap()
                    } else {
                        Reader::open(dir.path(), from as u64).unwrap()
                    };
                    for (sequence, (tag, bytes)) in model.iter().enumerate().skip(from) {
                        let record = reader.next_record().unwrap().expect("a record the model holds");
                        prop_assert_eq!(record.sequence, sequence as u64);
                        prop_assert_eq!(record.tag, *tag);
                        prop_assert_eq!(record.payload, &bytes[..]);
                    }
                    prop_assert!(reader.next_record().unwrap().is_none());
                }
            }
        }
    }
}
