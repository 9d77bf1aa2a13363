//! Crash safety: a writer process with `EveryBatch` is SIGKILLed at random moments,
//! again and again; after each kill, every sequence it reported durable must be in
//! the journal, intact, and nothing invalid may be accepted.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{payload, read_all, tag};
use seqlane_journal::{Journal, JournalOptions, SyncPolicy};

/// Set in the child's environment to the journal directory.
const CHILD_DIR: &str = "SEQLANE_JOURNAL_CRASH_CHILD_DIR";
const ROUNDS: u32 = 30;

fn child_options() -> JournalOptions {
    // Small segments, so kills also land while a segment is being created.
    JournalOptions::default()
        .segment_size(16 * 1024)
        .sync(SyncPolicy::EveryBatch)
}

/// The writer: appends batches forever, printing the durable sequence after each.
/// Does nothing when run as an ordinary test.
#[test]
fn crash_child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let mut journal = Journal::open(&dir, child_options()).expect("the child opens the journal");
    let mut next = journal.next_sequence();
    loop {
        let size = 1 + next % 13;
        let records: Vec<_> = (next..next + size).map(|s| (tag(s), payload(s))).collect();
        journal
            .append_batch(records.iter().map(|(t, p)| (*t, &p[..])))
            .expect("append");
        next += size;
        println!("durable {}", journal.durable().expect("a batch was synced"));
    }
}

/// A small xorshift generator: the test needs varied kill times, not quality.
struct Random(u64);

impl Random {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % bound
    }
}

#[test]
fn sigkill_never_loses_a_record_reported_durable() {
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test seed {seed}");
    let mut random = Random(seed);
    let mut durable_so_far: Option<u64> = None;
    let mut rounds_with_progress = 0;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "crash_child_writer",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (durable_tx, durable_rx) = std::sync::mpsc::channel();
        let lines = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(sequence) = line.strip_prefix("durable ") {
                    let _ = durable_tx.send(sequence.parse::<u64>().unwrap());
                }
            }
        });
        // Odd rounds kill at any moment (opening and recovering included); even
        // rounds first wait for the child to make something durable, however long
        // a loaded machine makes that take, then kill it while it writes.
        let waits = round % 2 == 0;
        let mut reported = None;
        if waits {
            reported = durable_rx.recv_timeout(Duration::from_secs(30)).ok();
        }
        std::thread::sleep(Duration::from_millis(2 + random.below(40)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        lines.join().unwrap();
        reported = durable_rx.try_iter().last().or(reported);
        if waits && reported.is_some() {
            rounds_with_progress += 1;
        }
        durable_so_far = durable_so_far.max(reported);

        let journal = Journal::open(dir.path(), child_options())
            .unwrap_or_else(|e| panic!("round {round} (seed {seed}): recovery failed: {e}"));
        let next = journal.next_sequence();
        if let Some(durable) = durable_so_far {
            assert!(
                next > durable,
                "round {round} (seed {seed}): {durable} was durable, journal ends at {next}"
            );
        }
        drop(journal);
        // Every record recovered is exactly what was written: nothing invalid got in.
        assert_eq!(read_all(dir.path(), 0), next, "round {round} (seed {seed})");
    }
    assert_eq!(
        rounds_with_progress,
        ROUNDS.div_ceil(2),
        "a child that was waited for made nothing durable within 30 s"
    );
}
