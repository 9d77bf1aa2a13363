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
