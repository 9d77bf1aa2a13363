//! The `seqlane-journal` CLI as a user runs it.

mod common;

use std::process::{Command, Output};

use common::{append_range, options, written};
use seqlane_journal::Journal;

fn cli(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_seqlane-journal"))
        .args(args)
        .output()
        .unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn inspect_verify_and_dump_a_healthy_journal() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    append_range(&mut journal, 0, 100);
    let segments = journal.segments().len();
    drop(journal);
    let path = dir.path().to_str().unwrap();

    let inspect = cli(&["inspect", path]);
    assert!(inspect.status.success());
    let text = stdout(&inspect);
    assert!(
        text.contains(&format!("{segments} segments, 100 records")),
        "{text}"
    );
    assert!(text.contains("00000000000000000000.seg"), "{text}");

    let verify = cli(&["verify", path]);
    assert_eq!(verify.status.code(), Some(0));
    assert!(
        stdout(&verify).starts_with("ok: 100 records"),
        "{}",
        stdout(&verify)
    );

    let dump = cli(&["dump", path, "--from", "3", "--limit", "2"]);
    assert!(dump.status.success());
    let lines: Vec<_> = stdout(&dump).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2);
    let expected = format!(
        "3 3 {} {}",
        common::payload(3).len(),
        common::payload(3)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    assert_eq!(lines[0], expected);
    assert!(lines[1].starts_with("4 4 "));
}

#[test]
fn dump_prints_text_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    journal.append(7, b"item created\n").unwrap();
    drop(journal);
    let dump = cli(&["dump", dir.path().to_str().unwrap(), "--format", "text"]);
    assert_eq!(stdout(&dump), "0 7 13 item created\\n\n");
}

#[test]
fn verify_fails_on_a_damaged_journal_and_says_where() {
    let dir = written(10);
    let segment = dir.path().join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&segment).unwrap();
    let first = seqlane_journal::format::DATA_START;
    bytes[first + 10] ^= 0xff; // the first record's sequence field
    std::fs::write(&segment, bytes).unwrap();

    let verify = cli(&["verify", dir.path().to_str().unwrap()]);
    assert_eq!(verify.status.code(), Some(1));
    let text = stdout(&verify);
    assert!(
        text.contains(&format!("damage at offset {first}")),
        "{text}"
    );
    assert!(text.contains("below the durable line (10)"), "{text}");

    let dump = cli(&["dump", dir.path().to_str().unwrap()]);
    assert_eq!(dump.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dump.stderr).contains(&format!("offset {first}")));
}

#[test]
fn a_missing_directory_is_a_clear_error() {
    let verify = cli(&["verify", "/nonexistent/seqlane-journal"]);
    assert_eq!(verify.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(stderr.contains("/nonexistent/seqlane-journal"), "{stderr}");
}

/// `verify` in another process, again and again, while this one appends: the
/// writer's work in flight is never reported as damage, nor as a torn tail.
#[test]
fn verify_racing_a_writer_never_reports_damage() {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    append_range(&mut journal, 0, 10);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut next = journal.next_sequence();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                append_range(&mut journal, next, next + 5);
                next += 5;
                if next.is_multiple_of(400) {
                    // Keep the journal small: retire all but the newest segments.
                    journal.retire_before(next - 100, None).unwrap();
                }
            }
            next
        })
    };
    let path = dir.path().to_str().unwrap();
    let runs = if cfg!(miri) { 10 } else { 1000 };
    for run in 0..runs {
        let verify = cli(&["verify", path]);
        assert_eq!(
            verify.status.code(),
            Some(0),
            "run {run}: {}",
            stdout(&verify)
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    let journal = Journal::open(dir.path(), options()).unwrap();
    assert_eq!(journal.next_sequence(), written);
}

#[test]
fn dump_starts_at_the_first_record_held_after_retirement() {
    let dir = written(100);
    let mut journal = Journal::open(dir.path(), options()).unwrap();
    journal.retire_before(60, None).unwrap();
    let first = journal.first_sequence();
    assert!(first > 0);
    drop(journal);
    let path = dir.path().to_str().unwrap();

    let dump = cli(&["dump", path]);
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    let text = stdout(&dump);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len() as u64, 100 - first);
    assert!(lines[0].starts_with(&format!("{first} ")), "{}", lines[0]);

    let dump = cli(&["dump", path, "--from", "0"]);
    assert_eq!(dump.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&dump.stderr);
    assert!(stderr.contains(&format!("holds {first}..100")), "{stderr}");
}

#[test]
fn repair_cuts_a_torn_tail_and_its_dry_run_changes_nothing() {
    let dir = written(20);
    // Records past the last sync, then a power cut that tore them.
    let mut journal = Journal::open(
        dir.path(),
        options().sync(seqlane_journal::SyncPolicy::Never),
    )
    .unwrap();
    append_range(&mut journal, 20, 25);
    let segment = journal.segments().last().unwrap().1.clone();
    drop(journal);
    let inspection = seqlane_journal::inspect(dir.path()).unwrap();
    let end = inspection.segments.last().unwrap().used_bytes as usize;
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[end - 30] ^= 0x55; // inside the last record
    std::fs::write(&segment, &bytes).unwrap();
    let path = dir.path().to_str().unwrap();

    let verify = cli(&["verify", path]);
    assert_eq!(verify.status.code(), Some(3), "{}", stdout(&verify));
    assert!(stdout(&verify).contains("torn tail"));

    let dry = cli(&["repair", path, "--dry-run"]);
    assert!(dry.status.success(), "{}", stdout(&dry));
    assert!(stdout(&dry).contains("dry run: nothing changed"));
    assert_eq!(
        std::fs::read(&segment).unwrap(),
        bytes,
        "a dry run changes nothing"
    );
    assert_eq!(cli(&["verify", path]).status.code(), Some(3));

    let repair = cli(&["repair", path]);
    assert!(repair.status.success(), "{}", stdout(&repair));
    assert!(
        stdout(&repair).contains("cut a torn tail"),
        "{}",
        stdout(&repair)
    );
    assert!(
        stdout(&repair).contains("kept 24 records"),
        "{}",
        stdout(&repair)
    );
    assert_eq!(cli(&["verify", path]).status.code(), Some(0));
    assert_eq!(common::read_all(dir.path(), 0), 24);

    // Damage below the durable line is not repaired.
    let first = dir.path().join("00000000000000000000.seg");
    let mut bytes = std::fs::read(&first).unwrap();
    bytes[seqlane_journal::format::DATA_START + 30] ^= 1;
    std::fs::write(&first, &bytes).unwrap();
    let repair = cli(&["repair", path]);
    assert_eq!(repair.status.code(), Some(1));
    assert!(
        stdout(&repair).contains("not repaired"),
        "{}",
        stdout(&repair)
    );
}

#[test]
fn inspect_shows_the_engines_quarantine_list() {
    let dir = written(3);
    std::fs::write(
        dir.path().join("quarantine"),
        "ledger\t2\tpanicked: cannot count a deposit of 13\n",
    )
    .unwrap();
    let inspect = cli(&["inspect", dir.path().to_str().unwrap()]);
    assert!(inspect.status.success());
    let text = stdout(&inspect);
    assert!(text.contains("quarantined"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("ledger") && l.contains(" 2  panicked: cannot count")),
        "{text}"
    );
}
