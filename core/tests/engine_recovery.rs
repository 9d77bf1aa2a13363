//! Recovery equals the state before a crash: a child process runs an engine over a
//! random command sequence and is SIGKILLed at a random point; the engine restarted
//! on its journal must hold exactly the state (and read model) of an oracle that
//! applied the same prefix of commands, and that prefix must include every command
//! the child saw reported durable.
#![cfg(not(any(loom, miri)))] // processes, threads and a memory-mapped journal

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use common::{Bank, Ledger, Op};
use proptest::prelude::*;
use seqlane::{Aggregate, Command, CommandId, EngineBuilder, Projection, Topology, Until};
use seqlane_journal::{JournalOptions, SyncPolicy};

const CHILD_DIR: &str = "SEQLANE_ENGINE_CRASH_DIR";
const CHILD_SEED: &str = "SEQLANE_ENGINE_CRASH_SEED";
const CHILD_LEN: &str = "SEQLANE_ENGINE_CRASH_LEN";
const CHILD_SNAPSHOTS: &str = "SEQLANE_ENGINE_CRASH_SNAPSHOT_EVERY";

/// A small xorshift generator, so parent and child derive the same commands from a
/// seed.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

fn commands(seed: u64, len: usize) -> Vec<Command<Op>> {
    let mut random = Random(seed | 1);
    (0..len)
        .map(|_| {
            let account = random.below(4) as u32;
            let other = random.below(4) as u32;
            let amount = 1 + random.below(60) as i64;
            let op = match random.below(10) {
                0 | 1 => Op::Open(account),
                2..=4 => Op::Deposit(account, amount),
                5 | 6 => Op::Withdraw(account, amount),
                _ => Op::Transfer(account, other, amount),
            };
            let mut command = Command::new(op);
            if random.below(4) == 0 {
                command = command.with_id(CommandId(u128::from(random.below(16))));
            }
            if random.below(8) == 0 {
                command = command.expect_version(random.below(6));
            }
            command
        })
        .collect()
}

fn options() -> JournalOptions {
    // Small segments: kills land during rolls too.
    JournalOptions::default()
        .segment_size(8 * 1024)
        .sync(SyncPolicy::EveryBatch)
}

fn engine_builder(dir: &Path) -> (EngineBuilder<Bank>, seqlane::ReadModel<Ledger>) {
    let mut builder = EngineBuilder::new(dir, Bank::default())
        .journal_options(options())
        .input_capacity(16)
        .output_capacity(16);
    let ledger = builder.add_projection("ledger", Ledger::default());
    (builder, ledger)
}

/// The child: submits every command, then reports each receipt's `Durable` answer
/// in order, then idles until killed. Does nothing when run as an ordinary test.
#[test]
fn crash_child_engine() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let seed: u64 = std::env::var(CHILD_SEED).unwrap().parse().unwrap();
    let len: usize = std::env::var(CHILD_LEN).unwrap().parse().unwrap();
    let (mut builder, _) = engine_builder(Path::new(&dir));
    // Half the kills land in each topology.
    builder = builder.topology(if seed.is_multiple_of(2) {
        Topology::OneThread
    } else {
        Topology::ThreadPerStage
    });
    if let Ok(every) = std::env::var(CHILD_SNAPSHOTS) {
        builder = builder.snapshot_every(every.parse().unwrap());
    }
    let engine = builder.start().expect("the child starts its engine");
    let gateway = engine.gateway();
    let (receipts, waiting) = std::sync::mpsc::channel();
    let reporter = std::thread::spawn(move || {
        for (index, receipt) in waiting.iter().enumerate() {
            let receipt: seqlane::Receipt<Bank> = receipt;
            let _outcome = receipt.wait(Until::Durable).expect("durable");
            println!("durable {index}");
        }
    });
    for command in commands(seed, len) {
        receipts
            .send(gateway.submit(command).expect("submitted"))
            .unwrap();
    }
    drop(receipts);
    reporter.join().unwrap();
    println!("done");
    std::thread::sleep(Duration::from_secs(600));
}

/// What a sequential engine would hold after each journaled command: the state and
/// the read model, starting with the empty ones.
fn oracle(commands: &[Command<Op>]) -> (Vec<(Bank, Ledger)>, Vec<usize>) {
    let mut bank = Bank::default();
    let mut ledger = Ledger::default();
    let mut ids = HashSet::new();
    let mut version = 0u64;
    // Record 0 declares the event schema.
    let mut record = 1u64;
    let mut after = vec![(bank.clone(), ledger.clone())];
    // For each command index, how many journaled commands it and those before make.
    let mut journaled_through = Vec::new();
    for command in commands {
        let duplicate = command.id().is_some_and(|id| ids.contains(&id));
        let conflict = command
            .expected_version()
            .is_some_and(|expected| expected != bank.version_of(command.body()).unwrap_or(version));
        if !duplicate && !conflict {
            let mut events = Vec::new();
            if bank.decide(command.body(), &mut events).is_ok() {
                for event in &events {
                    bank.apply(event);
                    ledger.apply(event, record);
                    record += 1;
                    version += 1;
                }
                if let Some(id) = command.id() {
                    ids.insert(id);
                    if events.is_empty() {
                        record += 1;
                    }
                }
                if !events.is_empty() || command.id().is_some() {
                    after.push((bank.clone(), ledger.clone()));
                }
            }
        }
        journaled_through.push(after.len() - 1);
    }
    (after, journaled_through)
}

/// Runs the child over `commands(seed, len)`, kills it after `reports` durable
/// reports (or at once), and checks the restarted engine against the oracle.
fn crash_and_recover(
    seed: u64,
    len: usize,
    reports: usize,
    snapshot_every: Option<u64>,
) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(std::env::current_exe().unwrap());
    if let Some(every) = snapshot_every {
        command.env(CHILD_SNAPSHOTS, every.to_string());
    }
    let mut child = command
        .args([
            "crash_child_engine",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir.path())
        .env(CHILD_SEED, seed.to_string())
        .env(CHILD_LEN, len.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut durable: Option<usize> = None;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while durable.map_or(0, |d| d + 1) < reports {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("durable ") => {
                durable = Some(line["durable ".len()..].parse().unwrap());
            }
            Some(Ok(line)) if line == "done" => break,
            Some(Ok(_)) => {}
            _ => break,
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let commands = commands(seed, len);
    let (after, journaled_through) = oracle(&commands);
    let (builder, ledger) = engine_builder(dir.path());
    let engine = builder
        .start()
        .expect("the engine restarts on the crashed journal");
    // Every journaled command has events, so the read model's event count says how
    // many commands the restarted engine holds (from a snapshot and the replay).
    let events = ledger.get().events;
    let Some(replayed) = after
        .iter()
        .position(|(_, expected)| expected.events == events)
    else {
        return Err(TestCaseError::fail(format!(
            "the read model holds {events} events: no prefix of the commands gives that"
        )));
    };
    if let Some(durable) = durable {
        prop_assert!(
            replayed >= journaled_through[durable],
            "command {durable} was reported durable, but only {replayed} commands were replayed"
        );
    }
    let (expected_bank, expected_ledger) = &after[replayed];
    prop_assert_eq!(&*ledger.get(), expected_ledger);
    let discarded = engine.recovery().discarded_records;
    let first_snapshot = engine.recovery().snapshot;
    eprintln!(
        "seed {seed}, {len} commands, snapshot every {snapshot_every:?} events, killed after \
         {durable:?} reported durable: holds {replayed} of {} journaled commands (snapshot \
         {first_snapshot:?}), {discarded} records discarded",
        after.len() - 1
    );

    // Go on after the crash: the next session's records follow any torn command,
    // and a second restart must skip it again.
    let gateway = engine.gateway();
    gateway
        .submit(Op::Open(100))
        .unwrap()
        .wait(Until::Durable)
        .unwrap();
    let stopped = engine.shutdown().unwrap();
    let mut expected = expected_bank.clone();
    expected.apply(&common::Event::Opened(100));
    prop_assert_eq!(&stopped.state, &expected);

    let (builder, _) = engine_builder(dir.path());
    let engine = builder.start().unwrap();
    prop_assert_eq!(engine.recovery().snapshot, first_snapshot);
    prop_assert_eq!(engine.recovery().discarded_records, discarded);
    let stopped = engine.shutdown().unwrap();
    prop_assert_eq!(stopped.state, expected);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn recovery_equals_the_durable_prefix_after_a_kill(
        seed in any::<u64>(),
        len in 1usize..400,
        kill_at in 0.0f64..1.0,
        snapshot_every in prop::option::of(5u64..60),
    ) {
        crash_and_recover(seed, len, (len as f64 * kill_at) as usize, snapshot_every)?;
    }
}
