//! Snapshots are a cache of the journal: by default nothing is deleted; several
//! snapshots are kept; a damaged newest one falls back to the one before (or to a
//! full replay) with a warning; a projection added later is rebuilt from the
//! journal, or the error says exactly what is missing.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use std::path::{Path, PathBuf};

use common::{accepted, Bank, Ledger, Op};
use seqlane::{Engine, EngineBuilder, EngineError, ReadModel, Retention, Until};
use seqlane_journal::JournalOptions;

fn builder(dir: &Path) -> EngineBuilder<Bank> {
    EngineBuilder::new(dir, Bank::default())
        .topology(common::topology())
        .journal_options(JournalOptions::default().segment_size(16 * 1024))
        .input_capacity(64)
        .output_capacity(64)
}

fn with_ledger(builder: EngineBuilder<Bank>, name: &str) -> (Engine<Bank>, ReadModel<Ledger>) {
    let mut builder = builder;
    let ledger = builder.add_projection(name, Ledger::default());
    (builder.start().unwrap(), ledger)
}

/// Opens account 0 (once) and deposits 1 `count` times, then takes a snapshot.
fn deposits_then_snapshot(engine: &Engine<Bank>, count: usize) -> u64 {
    let gateway = engine.gateway();
    if engine.metrics().accepted == 0 {
        accepted(&gateway, Op::Open(0), Until::Processed);
    }
    for _ in 0..count {
        gateway.send(Op::Deposit(0, 1)).unwrap();
    }
    engine.snapshot().unwrap()
}

fn segments(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count()
}

fn snapshot_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bin"))
        .collect();
    files.sort();
    files
}

fn damage(file: &Path) {
    let mut bytes = std::fs::read(file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(file, bytes).unwrap();
}

#[test]
fn by_default_snapshots_delete_no_event_and_a_later_projection_is_rebuilt() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = with_ledger(builder(dir.path()), "ledger");
        let before = segments(dir.path());
        deposits_then_snapshot(&engine, 2_000);
        deposits_then_snapshot(&engine, 10);
        assert!(before < segments(dir.path()));
        let all = segments(dir.path());
        let view = ledger.get();
        engine.shutdown().unwrap();
        assert_eq!(segments(dir.path()), all, "no segment was retired");
        assert_eq!(snapshot_files(dir.path()).len(), 2, "two snapshots kept");

        // A projection added after the snapshots replays the whole journal.
        let mut builder = builder(dir.path());
        let ledger = builder.add_projection("ledger", Ledger::default());
        let audit = builder.add_projection("audit", Ledger::default());
        let engine = builder.start().unwrap();
        assert_eq!(*ledger.get(), *view);
        assert_eq!(audit.get().balances, view.balances);
        assert_eq!(audit.get().events, view.events);
        engine.shutdown().unwrap();
    });
}

#[test]
fn a_damaged_newest_snapshot_falls_back_to_the_one_before_then_to_a_full_replay() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let (engine, _) = with_ledger(builder(dir.path()), "ledger");
        let first = deposits_then_snapshot(&engine, 100);
        let second = deposits_then_snapshot(&engine, 100);
        assert!(first < second);
        let stopped = engine.shutdown().unwrap();
        let files = snapshot_files(dir.path());
        assert_eq!(files.len(), 2);

        damage(&files[1]);
        let (engine, ledger) = with_ledger(builder(dir.path()), "ledger");
        let recovery = engine.recovery().clone();
        assert_eq!(
            recovery.snapshot,
            Some(first),
            "fell back to the older snapshot"
        );
        assert_eq!(
            recovery.skipped_snapshots.len(),
            1,
            "{:?}",
            recovery.skipped_snapshots
        );
        assert!(
            recovery.skipped_snapshots[0].contains(&files[1].display().to_string()),
            "{:?}",
            recovery.skipped_snapshots
        );
        assert_eq!(ledger.get().balances[&0], 200);
        assert_eq!(engine.shutdown().unwrap().state, stopped.state);

        damage(&files[0]);
        let (engine, ledger) = with_ledger(builder(dir.path()), "ledger");
        let recovery = engine.recovery().clone();
        assert_eq!(recovery.snapshot, None, "a full replay");
        assert_eq!(recovery.skipped_snapshots.len(), 2);
        assert_eq!(ledger.get().balances[&0], 200);
        assert_eq!(engine.shutdown().unwrap().state, stopped.state);
    });
}

#[test]
fn retention_archives_or_deletes_only_what_every_kept_snapshot_covers() {
    common::in_each_topology(|| {
        for archive in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let archived = tempfile::tempdir().unwrap();
            let retention = if archive {
                Retention::Archive(archived.path().to_owned())
            } else {
                Retention::DeleteBefore
            };
            let (engine, _) =
                with_ledger(builder(dir.path()).retention(retention.clone()), "ledger");
            let first = deposits_then_snapshot(&engine, 2_000);
            deposits_then_snapshot(&engine, 2_000);
            let stopped = engine.shutdown().unwrap();
            let journal_start = dir.path().join(format!("{:020}.seg", 0));
            assert!(
                !journal_start.exists(),
                "{retention:?}: the first segment was retired"
            );
            let oldest_kept = first;
            let held = seqlane_journal::inspect(dir.path()).unwrap();
            let first_held = held.first_sequence().unwrap();
            assert!(
                first_held > 0 && first_held <= oldest_kept,
                "{retention:?}: the journal holds from {first_held}; the oldest snapshot kept needs {oldest_kept}"
            );
            if archive {
                assert!(segments(archived.path()) > 0, "moved into the archive");
            }
            // The older snapshot still has its journal: damage the newest one.
            let files = snapshot_files(dir.path());
            damage(files.last().unwrap());
            let (engine, ledger) =
                with_ledger(builder(dir.path()).retention(retention.clone()), "ledger");
            assert_eq!(engine.recovery().snapshot, Some(first), "{retention:?}");
            assert_eq!(ledger.get().balances[&0], 4_000, "{retention:?}");
            assert_eq!(
                engine.shutdown().unwrap().state,
                stopped.state,
                "{retention:?}"
            );

            // A projection added now would need the retired records: the error says so.
            let mut later = builder(dir.path());
            later.add_projection("ledger", Ledger::default());
            later.add_projection("audit", Ledger::default());
            match later.start() {
                Err(error @ EngineError::Retired { .. }) => {
                    let text = error.to_string();
                    assert!(text.contains("projection `audit`"), "{text}");
                    assert!(text.contains("must replay from journal record 0"), "{text}");
                }
                Err(other) => panic!("{retention:?}: {other}"),
                Ok(_) => panic!("{retention:?}: a projection started without its history"),
            }
        }
    });
}

/// `Bank` whose snapshots are declared version 2.
#[derive(Default)]
struct BankV2(Bank);

impl seqlane::Aggregate for BankV2 {
    type Command = Op;
    type Event = common::Event;
    type Rejection = common::Refusal;
    const SNAPSHOT_VERSION: u32 = 2;

    fn decide(&self, command: &Op, events: &mut Vec<common::Event>) -> Result<(), common::Refusal> {
        self.0.decide(command, events)
    }

    fn apply(&mut self, event: &common::Event) {
        self.0.apply(event);
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        self.0.snapshot()
    }

    fn restore(bytes: &[u8]) -> Result<Self, String> {
        Bank::restore(bytes).map(BankV2)
    }
}

/// `Ledger` whose snapshot parts are declared version 2, and that says whether it
/// was restored.
#[derive(Default)]
struct LedgerV2(Ledger, bool);

impl seqlane::Projection<common::Event> for LedgerV2 {
    type View = (Ledger, bool);
    const SNAPSHOT_VERSION: u32 = 2;

    fn apply(&mut self, event: &common::Event, sequence: u64) {
        self.0.apply(event, sequence);
    }

    fn view(&self) -> (Ledger, bool) {
        (self.0.clone(), self.1)
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        self.0.snapshot()
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.1 = true;
        self.0.restore(bytes)
    }
}

/// A snapshot of another encoding version is a cache miss, never a wrong state:
/// the state (or the projection) is rebuilt from the journal, and the start says so.
#[test]
fn a_snapshot_of_another_version_is_skipped_and_the_journal_rebuilds() {
    common::in_each_topology(|| {
        use seqlane::Aggregate;
        let dir = tempfile::tempdir().unwrap();
        let (engine, ledger) = with_ledger(builder(dir.path()), "ledger");
        deposits_then_snapshot(&engine, 300);
        let view = ledger.get();
        let stopped = engine.shutdown().unwrap();

        // The state's encoding changed: the snapshot is skipped, the journal replayed.
        let mut changed = EngineBuilder::new(dir.path(), BankV2::default())
            .topology(common::topology())
            .journal_options(JournalOptions::default().segment_size(16 * 1024));
        let ledger = changed.add_projection("ledger", Ledger::default());
        let engine = changed.start().unwrap();
        let recovery = engine.recovery().clone();
        assert_eq!(recovery.snapshot, None);
        assert!(
            recovery.skipped_snapshots[0]
                .contains("snapshot is version 1, this code reads version 2"),
            "{:?}",
            recovery.skipped_snapshots
        );
        assert_eq!(*ledger.get(), *view);
        assert_eq!(engine.shutdown().unwrap().state.0, stopped.state);
        assert_eq!(BankV2::SNAPSHOT_VERSION, 2);

        // A projection's encoding changed: the state comes from the snapshot, the
        // projection from the journal.
        let mut changed = builder(dir.path());
        let ledger = changed.add_projection("ledger", LedgerV2::default());
        let engine = changed.start().unwrap();
        let recovery = engine.recovery().clone();
        assert!(recovery.snapshot.is_some());
        assert!(
            recovery.skipped_snapshots[0].contains("projection `ledger`'s part is version 1"),
            "{:?}",
            recovery.skipped_snapshots
        );
        let (rebuilt, restored) = (*ledger.get()).clone();
        assert!(!restored, "rebuilt, not restored");
        assert_eq!(rebuilt, *view);
        engine.shutdown().unwrap();
    });
}
