//! Command metadata: journaled with the command, stamped with the time it was
//! decided, given to projections at run time and again on replay, shown by the
//! `seqlane` command-line tool.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use std::path::Path;
use std::time::SystemTime;

use common::{Bank, Event, Op};
use seqlane::{
    Command, CommandId, Engine, EngineBuilder, Metadata, Projection, ReadModel, Rejection, Until,
};

/// Every event with its sequence and its command's metadata.
#[derive(Clone, Default)]
struct Audit(Vec<(u64, Event, Option<Metadata>)>);

impl Projection<Event> for Audit {
    type View = Audit;

    fn apply(&mut self, _: &Event, _: u64) {
        unreachable!("the engine calls apply_with_metadata");
    }

    fn apply_with_metadata(&mut self, event: &Event, sequence: u64, metadata: Option<&Metadata>) {
        self.0.push((sequence, event.clone(), metadata.cloned()));
    }

    fn view(&self) -> Audit {
        self.clone()
    }
}

fn start(dir: &Path) -> (Engine<Bank>, ReadModel<Audit>) {
    let mut builder = EngineBuilder::new(dir, Bank::default()).topology(common::topology());
    let audit = builder.add_projection("audit", Audit::default());
    (builder.start().expect("engine starts"), audit)
}

fn by(actor: &str, correlation: u128) -> Metadata {
    Metadata::new()
        .actor(actor)
        .correlation(correlation)
        .causation(correlation - 1)
}

#[test]
fn metadata_reaches_projections_and_survives_replay() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let before = SystemTime::now();
        let (engine, audit) = start(dir.path());
        let gateway = engine.gateway();
        let commands = [
            Command::new(Op::Open(1)).with_metadata(by("alice", 10)),
            Command::new(Op::Open(2)),
            Command::new(Op::Transfer(1, 2, 0)).with_metadata(by("bob", 20)),
            Command::new(Op::Deposit(2, 5)).with_id(CommandId(7)),
        ];
        let mut last = None;
        for command in commands {
            last = Some(gateway.submit(command).unwrap());
        }
        let visible = Until::Visible(audit.id());
        last.unwrap().wait(visible).unwrap();
        let after = SystemTime::now();
        let seen = audit.get().0.clone();
        let metadata: Vec<_> = seen.iter().map(|(_, _, m)| m.clone()).collect();
        let actors: Vec<_> = metadata
            .iter()
            .map(|m| m.as_ref().and_then(|m| m.actor.clone()))
            .collect();
        // The transfer's two events both carry its metadata.
        let alice = Some("alice".to_string());
        let bob = Some("bob".to_string());
        assert_eq!(actors, [alice, None, bob.clone(), bob, None]);
        for metadata in metadata.iter().flatten() {
            let at = metadata.accepted_at.expect("the engine stamps the time");
            assert!(before <= at && at <= after, "{at:?} outside the run");
            assert_eq!(metadata.causation, metadata.correlation.map(|c| c - 1));
        }
        drop(gateway);
        engine.shutdown().unwrap();

        // A new engine on the same journal rebuilds the projection from it:
        // the same events with the same metadata, time included.
        let (engine, replayed) = start(dir.path());
        assert_eq!(replayed.get().0, seen);
        engine.shutdown().unwrap();
    });
}

#[test]
fn metadata_alone_is_recorded_and_too_much_is_a_rejection() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, audit) = start(dir.path());
    let gateway = engine.gateway();
    // No events, no id: the metadata alone leaves a marker in the journal.
    let noted = Command::new(Op::Nothing).with_metadata(by("carol", 3));
    let receipt = gateway.submit(noted).unwrap();
    let accepted = receipt.wait(Until::Durable).unwrap();
    assert_eq!(
        accepted.records,
        Some(1..=1),
        "after the schema declaration"
    );
    // Metadata a record cannot hold rejects the command alone.
    let huge = Metadata::new().actor("x".repeat(70_000));
    let refused = gateway.submit(Command::new(Op::Open(1)).with_metadata(huge));
    match refused.unwrap().wait(Until::Processed) {
        Err(seqlane::WaitError::Rejected(Rejection::Unrecordable(reason))) => {
            assert!(reason.contains("metadata"), "{reason}")
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let opened = gateway.submit(Op::Open(1)).unwrap();
    opened.wait(Until::Visible(audit.id())).unwrap();
    assert_eq!(audit.get().0.len(), 1, "only the later Open is projected");
    drop(gateway);
    engine.shutdown().unwrap();
    // The marker replays as a command without events.
    let (engine, audit) = start(dir.path());
    assert_eq!(audit.get().0.len(), 1);
    let stopped = engine.shutdown().unwrap();
    assert_eq!(stopped.state.balances.len(), 1);
}

#[test]
fn the_cli_shows_each_record_with_its_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let (engine, _) = start(dir.path());
    let gateway = engine.gateway();
    let command = Command::new(Op::Open(1))
        .with_id(CommandId(0xabc))
        .with_metadata(by("dave", 0x20));
    gateway
        .submit(command)
        .unwrap()
        .wait(Until::Durable)
        .unwrap();
    gateway
        .submit(Op::Open(2))
        .unwrap()
        .wait(Until::Durable)
        .unwrap();
    drop(gateway);
    engine.shutdown().unwrap();

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_seqlane"))
        .arg("records")
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    // A schema declaration, then the two commands' events.
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].contains(" schema "), "{stdout}");
    let first = lines[1];
    for part in [
        "event schema=",
        "id=0xabc",
        "correlation=0x20",
        "causation=0x1f",
        "actor=\"dave\"",
        " at=20",
        " whole",
    ] {
        assert!(first.contains(part), "{part} missing from {first}");
    }
    assert!(!lines[2].contains("actor"), "{}", lines[2]);
}
