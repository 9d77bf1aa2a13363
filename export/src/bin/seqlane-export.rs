//! `seqlane-export`: a journal's durable tail to NATS JetStream.
//!
//! ```text
//! seqlane-export nats --journal data/journal --server nats://127.0.0.1:4222 --stream orders
//! ```
//!
//! Runs until interrupted (SIGINT or SIGTERM), then waits for the publishes in
//! flight; killed, it resumes from what the stream holds when started again.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use seqlane_export::{ExportOptions, Exporter, Status};

#[derive(Parser)]
#[command(
    name = "seqlane-export",
    version,
    about = "Export a seqlane journal beyond this machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Publish every durable record to a JetStream stream, exactly once, in order.
    Nats(NatsArgs),
}

#[derive(clap::Args)]
struct NatsArgs {
    /// The journal directory (written by a live engine or not).
    #[arg(long)]
    journal: PathBuf,
    /// NATS server URL(s), comma-separated.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    server: String,
    /// The stream (created if missing).
    #[arg(long)]
    stream: String,
    /// The subject records are published on [default: seqlane.<stream>].
    #[arg(long)]
    subject: Option<String>,
    /// Replicas of a stream this creates.
    #[arg(long, default_value_t = 1)]
    replicas: usize,
    /// Publishes in flight before the oldest acknowledgement is awaited.
    #[arg(long, default_value_t = 1024)]
    window: usize,
    /// The journal sequence an empty stream starts from.
    #[arg(long, default_value_t = 0)]
    start: u64,
    /// Stop once every record before this sequence is in the stream.
    #[arg(long)]
    until: Option<u64>,
    /// Seconds between progress lines on stderr (0: none).
    #[arg(long, default_value_t = 5.0)]
    report: f64,
}

fn main() -> ExitCode {
    let Command::Nats(args) = Cli::parse().command;
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("seqlane-export: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(nats(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("seqlane-export: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn nats(args: NatsArgs) -> Result<(), Box<dyn std::error::Error>> {
    let servers: Vec<async_nats::ServerAddr> = args
        .server
        .split(',')
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let client = async_nats::ConnectOptions::new()
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connect(servers)
        .await?;
    let mut options = ExportOptions::new(&args.stream)
        .replicas(args.replicas)
        .window(args.window)
        .start(args.start);
    if let Some(subject) = &args.subject {
        options = options.subject(subject);
    }
    let mut exporter = Exporter::new(&args.journal, client, options).await?;
    let status = exporter.status();
    eprintln!(
        "seqlane-export: journal {} ({}) to stream {} on {}, subject {}, from sequence {}",
        exporter.identity(),
        args.journal.display(),
        args.stream,
        args.server,
        exporter.subject(),
        status.get().exported,
    );
    if args.report > 0.0 {
        let status = status.clone();
        let every = Duration::from_secs_f64(args.report);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                eprintln!("seqlane-export: {}", line(&status.get()));
            }
        });
    }
    match args.until {
        Some(until) => exporter.export_until(until).await?,
        None => exporter.run(interrupted()).await?,
    }
    eprintln!("seqlane-export: stopped; {}", line(&status.get()));
    Ok(())
}

/// One progress line.
fn line(status: &Status) -> String {
    let mut line = format!(
        "exported below sequence {}, lag {} records / {:.1} ms, {} resyncs, {} retries",
        status.exported,
        status.lag_records,
        status.lag.as_secs_f64() * 1e3,
        status.resyncs,
        status.retries,
    );
    if let Some(error) = &status.last_error {
        line.push_str(&format!(" (last: {error})"));
    }
    line
}

/// Completes on SIGINT or SIGTERM.
async fn interrupted() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
