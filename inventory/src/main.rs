//! `seqlane-inventory`: the inventory service over HTTP until Ctrl-C, then a
//! drained shutdown of its engine.

use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use seqlane_inventory::http::{router, Limits};
use seqlane_inventory::start;

/// The SimpleCQRS inventory over HTTP, on a seqlane engine.
#[derive(Parser)]
struct Args {
    /// The engine's directory (journal, snapshots); created if missing.
    #[arg(long)]
    dir: PathBuf,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// Commands a second at most (none if omitted).
    #[arg(long)]
    rate: Option<NonZeroU32>,
    /// How long a request waits at most, in milliseconds.
    #[arg(long, default_value_t = 10_000)]
    timeout_ms: u64,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (engine, views) = start(&args.dir)?;
    let limits = Limits {
        rate: args.rate,
        timeout: Duration::from_millis(args.timeout_ms),
    };
    let app = router(engine.gateway(), views, &limits);
    let listener = tokio::net::TcpListener::bind(&args.listen).await?;
    eprintln!("inventory on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let stopped = tokio::task::spawn_blocking(move || engine.shutdown()).await??;
    eprintln!("stopped at version {}", stopped.version);
    Ok(())
}
