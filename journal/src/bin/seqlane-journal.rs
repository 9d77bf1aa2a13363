//! `seqlane-journal`: look inside a journal directory.
//!
//! - `inspect DIR`: segments, sequence ranges, sizes, problems;
//! - `verify DIR`: checks every record; exit code 0 if all are valid, 1 if not;
//! - `dump DIR [--from SEQ] [--limit N] [--format hex|text]`: records as lines.

#![forbid(unsafe_code)]

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use seqlane_journal::{inspect, Inspection, Reader};

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
    /// Check every record's checksum and sequence; exit 1 if any is invalid.
    Verify {
        /// The journal directory.
        dir: PathBuf,
    },
    /// Print records as lines: sequence, tag, length, payload.
    Dump {
        /// The journal directory.
        dir: PathBuf,
        /// First sequence to print.
        #[arg(long, default_value_t = 0)]
        from: u64,
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
        "journal {}: {} segments, {} records",
        dir.display(),
        inspection.segments.len(),
        inspection.records()
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
}

fn verify(dir: &std::path::Path, inspection: &Inspection) -> ExitCode {
    let problems: Vec<_> = inspection
        .segments
        .iter()
        .filter(|s| s.problem.is_some())
        .collect();
    if problems.is_empty() {
        println!(
            "ok: {} records in {} segments, every checksum and sequence valid",
            inspection.records(),
            inspection.segments.len()
        );
        return ExitCode::SUCCESS;
    }
    for segment in problems {
        println!(
            "{}: {}",
            segment.path.display(),
            segment.problem.as_deref().unwrap_or_default()
        );
    }
    println!(
        "invalid: journal {} has problems (valid records: {})",
        dir.display(),
        inspection.records()
    );
    ExitCode::FAILURE
}

fn dump(
    dir: &std::path::Path,
    from: u64,
    limit: Option<u64>,
    format: PayloadFormat,
) -> seqlane_journal::Result<ExitCode> {
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
