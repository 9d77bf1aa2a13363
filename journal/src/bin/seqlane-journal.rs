//! `seqlane-journal`: look inside a journal directory.
//!
//! - `inspect DIR`: segments, sequence ranges, sizes, the durable line, problems,
//!   and the records an engine's projections failed on (its quarantine list);
//! - `verify DIR`: checks every record; exit code 0 if all are valid (or only a
//!   live writer's work in flight is unfinished), 1 on damage, 3 on a torn tail
//!   that the next open (or `repair`) cuts;
//! - `dump DIR [--from SEQ] [--limit N] [--format hex|text]`: records as lines,
//!   from the first record held unless `--from` says otherwise;
//! - `repair DIR [--dry-run]`: cuts a torn tail exactly as opening the journal does.

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use seqlane_journal::{inspect, Health, Inspection, Journal, JournalOptions, Reader};

/// `verify`'s exit code for a torn tail: not damage, but not clean either.
const TORN_TAIL: u8 = 3;

#[derive(Parser)]
#[command(
    name = "seqlane-journal",
    version,
    about = "Inspect, verify and dump a seqlane journal"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the segments: sequence ranges, sizes, and any problem found.
    Inspect {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Check every record's checksum and sequence: exit 0 if clean, 1 on damage,
    /// 3 on a torn tail past the durable line (cut by the next open or `repair`).
    Verify {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Cut a torn tail past the durable line, as opening the journal would, and
    /// sync what is kept. Refuses damage below the line. Needs the writer's lock.
    Repair {
        /// The journal directory.
        dir: PathBuf,
        /// Say what would be cut, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Print records as lines: sequence, tag, length, payload.
    Dump {
        /// The journal directory.
        dir: PathBuf,
        /// First sequence to print (default: the first record held).
        #[arg(long)]
        from: Option<u64>,
        /// Print at most this many records.
        #[arg(long)]
        limit: Option<u64>,
        /// How to print payloads.
        #[arg(long, value_enum, default_value_t = PayloadFormat::Hex)]
        format: PayloadFormat,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum PayloadFormat {
    /// Hexadecimal bytes.
    Hex,
    /// UTF-8 text, with other bytes escaped.
    Text,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Inspect { dir } => inspect(&dir).map(|inspection| {
            print_inspection(&dir, &inspection);
            ExitCode::SUCCESS
        }),
        Command::Verify { dir } => inspect(&dir).map(|inspection| verify(&dir, &inspection)),
        Command::Repair { dir, dry_run } => repair(&dir, dry_run),
        Command::Dump {
            dir,
            from,
            limit,
            format,
        } => dump(&dir, from, limit, format),
    };
    outcome.unwrap_or_else(|error| {
        eprintln!("seqlane-journal: {error}");
        ExitCode::FAILURE
    })
}

fn print_inspection(dir: &std::path::Path, inspection: &Inspection) {
    println!(
        "journal {}: {} segments, {} records, durable line {}{}",
        dir.display(),
        inspection.segments.len(),
        inspection.records(),
        inspection.durable_line,
        if inspection.live {
            " (a writer has it open)"
        } else {
            ""
        }
    );
    println!(
        "{:<26} {:>12} {:>12} {:>10} {:>12} {:>12}",
        "segment", "first", "last", "records", "used", "capacity"
    );
    for segment in &inspection.segments {
        let name = segment
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let last = match segment.records {
            0 => "-".to_owned(),
            n => (segment.base_sequence + n - 1).to_string(),
        };
        println!(
            "{name:<26} {:>12} {last:>12} {:>10} {:>12} {:>12}",
            segment.base_sequence, segment.records, segment.used_bytes, segment.capacity
        );
        if let Some(problem) = &segment.problem {
            println!("  problem: {problem}");
        }
    }
    print_quarantine(dir);
}

/// An engine keeps, beside its journal, the list of records its projections
/// failed on (`quarantine`: projection, record, message, tab-separated).
fn print_quarantine(dir: &std::path::Path) {
    let Ok(list) = std::fs::read_to_string(dir.join("quarantine")) else {
        return;
    };
    println!("quarantined (a projection failed on them):");
    println!("{:<24} {:>12}  message", "projection", "record");
    for line in list.lines() {
        let mut fields = line.splitn(3, '\t');
        let (Some(projection), Some(record)) = (fields.next(), fields.next()) else {
            continue;
        };
        let message = fields.next().unwrap_or_default();
        println!("{projection:<24} {record:>12}  {message}");
    }
}

fn verify(dir: &std::path::Path, inspection: &Inspection) -> ExitCode {
    for segment in &inspection.segments {
        if let Some(problem) = &segment.problem {
            println!("{}: {problem}", segment.path.display());
        }
    }
    let summary = format!(
        "{} records in {} segments",
        inspection.records(),
        inspection.segments.len()
    );
    match inspection.health {
        Health::Clean => {
            println!("ok: {summary}, every checksum and sequence valid");
            ExitCode::SUCCESS
        }
        Health::TornTail if inspection.live => {
            println!(
                "ok: {summary} up to the durable line {}; a writer is appending past it",
                inspection.durable_line
            );
            ExitCode::SUCCESS
        }
        Health::TornTail => {
            println!(
                "torn tail: {summary} are valid; records past the durable line {} did not \
                 fully reach the disk and the next open cuts them (`seqlane-journal repair` \
                 does it now)",
                inspection.durable_line
            );
            ExitCode::from(TORN_TAIL)
        }
        Health::Damaged => {
            println!(
                "damaged: journal {} cannot be opened (valid records: {})",
                dir.display(),
                inspection.records()
            );
            ExitCode::FAILURE
        }
    }
}

fn repair(dir: &std::path::Path, dry_run: bool) -> seqlane_journal::Result<ExitCode> {
    let inspection = inspect(dir)?;
    if inspection.segments.is_empty() {
        println!("nothing to repair: {} holds no segment", dir.display());
        return Ok(ExitCode::SUCCESS);
    }
    match inspection.health {
        Health::Clean => {
            println!("nothing to repair: the journal is clean");
            return Ok(ExitCode::SUCCESS);
        }
        Health::Damaged => {
            verify(dir, &inspection);
            println!("not repaired: damage below the durable line is not a torn tail");
            return Ok(ExitCode::FAILURE);
        }
        Health::TornTail if dry_run => {
            verify(dir, &inspection);
            println!("dry run: nothing changed");
            return Ok(ExitCode::SUCCESS);
        }
        Health::TornTail => {}
    }
    let journal = Journal::open(dir, JournalOptions::default())?;
    let report = journal.recovery_report();
    match &report.truncated {
        Some(tail) => {
            println!(
                "cut a torn tail: {} bytes at offset {} of {} ({}); {} segments removed",
                tail.bytes,
                tail.offset,
                tail.path.display(),
                tail.reason,
                tail.removed_segments.len()
            );
        }
        None => println!("nothing cut"),
    }
    println!(
        "kept {} records, sequences {}..{}, synced",
        report.records, report.first_sequence, report.next_sequence
    );
    Ok(ExitCode::SUCCESS)
}

fn dump(
    dir: &std::path::Path,
    from: Option<u64>,
    limit: Option<u64>,
    format: PayloadFormat,
) -> seqlane_journal::Result<ExitCode> {
    let from = match from {
        Some(from) => from,
        None => inspect(dir)?.first_sequence().unwrap_or(0),
    };
    let mut reader = Reader::open(dir, from)?;
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut printed = 0;
    while limit.is_none_or(|limit| printed < limit) {
        let Some(record) = reader.next_record()? else {
            break;
        };
        let payload = match format {
            PayloadFormat::Hex => record
                .payload
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            PayloadFormat::Text => record.payload.escape_ascii().to_string(),
        };
        let written = writeln!(
            out,
            "{} {} {} {payload}",
            record.sequence,
            record.tag,
            record.payload.len()
        );
        if written.is_err() {
            break; // stdout closed (e.g. piped into head)
        }
        printed += 1;
    }
    let _ = out.flush();
    Ok(ExitCode::SUCCESS)
}
