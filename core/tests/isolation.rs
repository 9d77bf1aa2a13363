//! A projection that panics stops only itself: the journal, the business logic and
//! the other projections go on; its waits answer an error naming it; health shows
//! it; and each restart choice (retry, skip, rebuild) does what it says.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use std::path::Path;

use common::{accepted, Bank, Event, Ledger, Op};
use seqlane::{
    Engine, EngineBuilder, Projection, ProjectionRestart, ReadModel, StopCause, Until, WaitError,
};
use seqlane_journal::JournalOptions;

/// Counts deposits; panics on a deposit of `poison`. Its view says whether it was
/// restored from a snapshot.
#[derive(Clone, Debug)]
struct Fragile {
    poison: i64,
    deposits: u64,
    restored: bool,
}

impl Fragile {
    fn failing_on(poison: i64) -> Self {
        Fragile {
            poison,
            deposits: 0,
            restored: false,
        }
    }
}

impl Projection<Event> for Fragile {
    type View = (u64, bool);

    fn apply(&mut self, event: &Event, _: u64) {
        if let Event::Deposited(_, amount) = event {
            assert_ne!(*amount, self.poison, "cannot count a deposit of {amount}");
            self.deposits += 1;
        }
    }

    fn view(&self) -> (u64, bool) {
        (self.deposits, self.restored)
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(self.deposits.to_le_bytes().to_vec())
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.deposits = u64::from_le_bytes(bytes.try_into().map_err(|_| "8 bytes")?);
        self.restored = true;
        Ok(())
    }
}

struct Running {
    engine: Engine<Bank>,
    ledger: ReadModel<Ledger>,
    fragile: ReadModel<(u64, bool)>,
}

fn start(dir: &Path, shared: bool, poison: i64, restart: ProjectionRestart) -> Running {
    let mut builder = EngineBuilder::new(dir, Bank::default())
        .topology(common::topology())
        .journal_options(JournalOptions::default().segment_size(1 << 20))
        .input_capacity(64)
        .output_capacity(64)
        .share_projection_thread(shared)
        .projection_restart("fragile", restart);
    let ledger = builder.add_projection("ledger", Ledger::default());
    let fragile = builder.add_projection("fragile", Fragile::failing_on(poison));
    Running {
        engine: builder.start().unwrap(),
        ledger,
        fragile,
    }
}

#[test]
fn a_panicking_projection_stops_alone() {
    common::in_each_topology(|| {
        for shared in [true, false] {
            let dir = tempfile::tempdir().unwrap();
            let run = start(dir.path(), shared, 13, ProjectionRestart::Retry);
            let gateway = run.engine.gateway();
            accepted(&gateway, Op::Open(0), Until::Processed);
            accepted(
                &gateway,
                Op::Deposit(0, 1),
                Until::Visible(run.fragile.id()),
            );
            let poisoned = accepted(&gateway, Op::Deposit(0, 13), Until::Durable);
            let poisoned_at = *poisoned.records.unwrap().start();
            for _ in 0..100 {
                gateway.send(Op::Deposit(0, 2)).unwrap();
            }
            // The journal and the other projection go on.
            accepted(&gateway, Op::Deposit(0, 2), Until::Durable);
            accepted(&gateway, Op::Deposit(0, 2), Until::Visible(run.ledger.id()));
            assert_eq!(
                run.ledger.get().balances[&0],
                1 + 13 + 2 * 102,
                "shared {shared}"
            );
            // The failed one answers its waits with an error naming it.
            let wait = gateway
                .submit(Op::Deposit(0, 2))
                .unwrap()
                .wait(Until::Visible(run.fragile.id()));
            match wait {
                Err(WaitError::Stopped(StopCause::ProjectionFailed {
                    projection, record, ..
                })) => {
                    assert_eq!((projection.as_str(), record), ("fragile", poisoned_at));
                }
                other => panic!("shared {shared}: {other:?}"),
            }
            assert_eq!(run.fragile.get().0, 1, "its last view stays published");
            let health = run.engine.health();
            assert!(!health.is_healthy());
            assert!(health.projections[0].failed.is_none());
            let failure = health.projections[1]
                .failed
                .clone()
                .expect("fragile failed");
            assert_eq!(failure.sequence, poisoned_at);
            assert!(
                failure.message.contains("cannot count a deposit of 13"),
                "{failure:?}"
            );
            // A snapshot cannot include it: refused, not hung.
            assert!(run.engine.snapshot().is_err());
            let stopped = run
                .engine
                .shutdown()
                .expect("a failed projection is no engine failure");
            assert_eq!(stopped.state.balances[&0], 1 + 13 + 2 * 103);
        }
    });
}

/// Writes 1, a snapshot, 13 (the poison), then 2s.
fn poisoned_journal(dir: &Path) -> u64 {
    let run = start(dir, true, 13, ProjectionRestart::Retry);
    let gateway = run.engine.gateway();
    accepted(&gateway, Op::Open(0), Until::Processed);
    accepted(
        &gateway,
        Op::Deposit(0, 1),
        Until::Visible(run.fragile.id()),
    );
    run.engine.snapshot().unwrap();
    let poisoned = accepted(&gateway, Op::Deposit(0, 13), Until::Durable);
    for _ in 0..10 {
        accepted(&gateway, Op::Deposit(0, 2), Until::Durable);
    }
    run.engine.shutdown().unwrap();
    *poisoned.records.unwrap().start()
}

#[test]
fn retry_replays_it_again_and_it_stops_again_alone() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let poisoned_at = poisoned_journal(dir.path());
        let run = start(dir.path(), true, 13, ProjectionRestart::Retry);
        let failure = run.engine.health().projections[1].failed.clone();
        assert_eq!(
            failure.map(|f| f.sequence),
            Some(poisoned_at),
            "it fails again, alone"
        );
        assert_eq!(run.ledger.get().balances[&0], 1 + 13 + 20);
        let gateway = run.engine.gateway();
        accepted(&gateway, Op::Deposit(0, 2), Until::Visible(run.ledger.id()));
        assert!(gateway
            .submit(Op::Deposit(0, 2))
            .unwrap()
            .wait(Until::Visible(run.fragile.id()))
            .is_err());
        run.engine.shutdown().unwrap();
        let quarantine = std::fs::read_to_string(dir.path().join("quarantine")).unwrap();
        assert_eq!(quarantine.lines().count(), 2, "{quarantine}");
        assert!(quarantine
            .lines()
            .all(|l| l.starts_with(&format!("fragile\t{poisoned_at}\t"))));

        // With the bug fixed, a retry goes on from where it is.
        let run = start(dir.path(), true, -1, ProjectionRestart::Retry);
        assert!(run.engine.health().is_healthy());
        assert_eq!(
            *run.fragile.get(),
            (1 + 1 + 10 + 2, true),
            "from its snapshot part"
        );
        run.engine.shutdown().unwrap();
    });
}

#[test]
fn skip_passes_over_the_quarantined_record_for_that_projection_only() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        poisoned_journal(dir.path());
        // The failure reaches the quarantine list as it happens; skip it.
        let run = start(dir.path(), true, 13, ProjectionRestart::Skip);
        assert!(
            run.engine.health().is_healthy(),
            "{:?}",
            run.engine.health()
        );
        assert_eq!(
            *run.fragile.get(),
            (1 + 10, true),
            "every deposit but the poisoned one"
        );
        assert_eq!(
            run.ledger.get().balances[&0],
            1 + 13 + 20,
            "the ledger has it"
        );
        let gateway = run.engine.gateway();
        accepted(
            &gateway,
            Op::Deposit(0, 2),
            Until::Visible(run.fragile.id()),
        );
        assert_eq!(run.fragile.get().0, 12);
        run.engine.shutdown().unwrap();
    });
}

#[test]
fn rebuild_replays_it_from_the_journals_start() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        poisoned_journal(dir.path());
        let run = start(dir.path(), true, -1, ProjectionRestart::Rebuild);
        assert!(run.engine.health().is_healthy());
        assert_eq!(
            *run.fragile.get(),
            (1 + 1 + 10, false),
            "not from its snapshot part"
        );
        run.engine.shutdown().unwrap();
    });
}

/// Restarted with `start` while it is failed, every `Visible` wait answers at once.
#[test]
fn a_projection_that_fails_in_replay_answers_its_waits_at_once() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        poisoned_journal(dir.path());
        let run: Running = start(dir.path(), false, 13, ProjectionRestart::Retry);
        let gateway = run.engine.gateway();
        let wait = gateway
            .submit(Op::Deposit(0, 5))
            .unwrap()
            .wait(Until::Visible(run.fragile.id()));
        assert!(
            matches!(
                wait,
                Err(WaitError::Stopped(StopCause::ProjectionFailed { ref projection, .. }))
                    if projection == "fragile"
            ),
            "{wait:?}"
        );
        run.engine.shutdown().unwrap();
    });
}
