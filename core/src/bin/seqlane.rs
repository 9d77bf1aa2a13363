//! `seqlane`: reads an engine's journal as the engine laid it out.
//!
//! `seqlane records DIR` prints one line per record: its sequence, its kind, the
//! command's id and metadata (time accepted, correlation, causation, actor), and
//! the size of what the codec encoded. `seqlane-journal` (in the journal crate)
//! checks, inspects and repairs the journal's files, below the engine's layout.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use seqlane::{RecordKind, RecordView};
use seqlane_journal::{inspect, Reader};

#[derive(Parser)]
#[command(name = "seqlane", version, about = "Reads a seqlane engine's journal")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Prints the engine's records: kind, command id, metadata, body size.
    Records {
        /// The engine's directory (its journal).
        dir: PathBuf,
        /// The first sequence to print (default: the first held).
        #[arg(long)]
        from: Option<u64>,
        /// Print at most this many records.
        #[arg(long)]
        limit: Option<u64>,
    },
}

fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    let Command::Records { dir, from, limit } = command;
    match records(&dir, from, limit) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("seqlane: {error}");
            ExitCode::FAILURE
        }
    }
}

fn records(
    dir: &std::path::Path,
    from: Option<u64>,
    limit: Option<u64>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let from = match from {
        Some(from) => from,
        None => inspect(dir)?.first_sequence().unwrap_or(0),
    };
    let mut reader = Reader::open(dir, from)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut printed = 0;
    let mut foreign = 0;
    while limit.is_none_or(|limit| printed < limit) {
        let Some(record) = reader.next_record()? else {
            break;
        };
        let line = match RecordView::parse(record.tag, record.payload) {
            Ok(view) => describe(&view),
            Err(reason) => {
                foreign += 1;
                format!("not an engine record: {reason}")
            }
        };
        if writeln!(out, "{} {line}", record.sequence).is_err() {
            break; // stdout closed (e.g. piped into head)
        }
        printed += 1;
    }
    let _ = out.flush();
    Ok(if foreign == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("seqlane: {foreign} records are not the engine's");
        ExitCode::FAILURE
    })
}

/// One record's line (after its sequence): `kind key=value …`.
fn describe(view: &RecordView<'_>) -> String {
    let mut line = match view.kind {
        RecordKind::Event { schema } => format!("event schema={schema}"),
        RecordKind::Marker => "marker".to_string(),
        RecordKind::Rejection => "rejection".to_string(),
        RecordKind::Schema => "schema".to_string(),
        _ => "unknown".to_string(),
    };
    if let Some(id) = view.command {
        line += &format!(" id={:#x}", id.0);
    }
    if let Some(metadata) = &view.metadata {
        if let Some(time) = metadata.accepted_at {
            line += &format!(" at={}", humantime::format_rfc3339_nanos(time));
        }
        if let Some(id) = metadata.correlation {
            line += &format!(" correlation={id:#x}");
        }
        if let Some(id) = metadata.causation {
            line += &format!(" causation={id:#x}");
        }
        if let Some(actor) = &metadata.actor {
            line += &format!(" actor={actor:?}");
        }
    }
    if view.kind != RecordKind::Schema {
        match (view.first, view.last) {
            (true, true) => line += " whole",
            (true, false) => line += " first",
            (false, true) => line += " last",
            (false, false) => line += " middle",
        }
    }
    line + &format!(" body={}B", view.body.len())
}
