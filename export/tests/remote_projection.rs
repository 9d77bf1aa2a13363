//! A projection on another process fed from the exported stream of an engine's
//! journal: killed mid-stream again and again, its read model still equals the
//! ledger read from the journal; a client's own writes are visible after a wait.

mod common;

use std::path::Path;
use std::time::Duration;

use common::bank::{self, Bank, Ledger};
use common::{connect, nats_server, runtime, Rng, Server};
use seqlane::{EngineBuilder, EventDecoder, Until};
use seqlane_export::{
    ExportOptions, Exporter, ReadModel, RemoteProjection, Snapshotted, ViewHandle,
};

/// Set in a child process: `url stream checkpoint`.
const CHILD: &str = "SEQLANE_TEST_REMOTE_CHILD";

fn remote(
    client: async_nats::Client,
    checkpoint: &Path,
    every: Duration,
) -> RemoteProjection<bank::Event, Snapshotted<bank::Event, Ledger>> {
    let model = Snapshotted::new(Ledger::default(), checkpoint).every(every);
    RemoteProjection::new(client, "bank", model, EventDecoder::new()).batch(8)
}

/// The child's body: follows the stream until killed.
#[test]
fn remote_projection_child() {
    let Ok(args) = std::env::var(CHILD) else {
        return; // run by the parent below only
    };
    let args: Vec<&str> = args.split(' ').collect();
    let every = Duration::from_millis(args[2].parse().unwrap());
    runtime().block_on(async {
        let client = connect(&[args[0].to_owned()]).await;
        let mut remote = remote(client, Path::new(args[1]), every);
        remote.run(std::future::pending()).await.unwrap();
    });
}

/// Where the checkpoint in `path` stands (the next journal sequence), if it
/// exists.
fn saved_position(path: &Path) -> Option<u64> {
    let mut model = Snapshotted::<bank::Event, _>::new(Ledger::default(), path);
    runtime()
        .block_on(model.load())
        .unwrap()
        .map(|checkpoint| checkpoint.journal)
}

#[test]
fn killed_twenty_times_mid_stream_the_read_model_equals_the_journal() {
    let Some(binary) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&binary, &dir.path().join("nats"));
    let journal = dir.path().join("journal");
    let checkpoint = dir.path().join("ledger.checkpoint");
    let mut rng = Rng::from_time();
    let export = |next: u64| {
        runtime().block_on(async {
            let client = connect(&[server.url()]).await;
            let mut exporter = Exporter::new(&journal, client, ExportOptions::new("bank"))
                .await
                .unwrap();
            exporter.export_until(next).await.unwrap();
        })
    };
    let mut written = 0;
    let mut next = 0;
    let mut positions = Vec::new();
    // A kill lands mid-stream when the saved position is short of the stream's
    // end: the kills go on until 20 have.
    let mut mid_stream = 0;
    while mid_stream < 20 && positions.len() < 100 {
        // More commands for the stream each round, so each kill can land mid-way.
        next = bank::write_commands(&journal, written, 600);
        written += 600;
        export(next);
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["remote_projection_child", "--exact", "--nocapture"])
            .env(
                CHILD,
                format!(
                    "{} {} {}",
                    server.url(),
                    checkpoint.display(),
                    rng.below(30)
                ),
            )
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(30 + rng.below(300)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let position = saved_position(&checkpoint);
        mid_stream += u32::from(position.is_some_and(|at| at < next));
        positions.push(position);
    }
    eprintln!("positions after each kill: {positions:?}; journal ends at {next}");
    assert!(
        positions.windows(2).all(|pair| pair[0] <= pair[1]),
        "a checkpoint never goes back: {positions:?}"
    );
    assert!(mid_stream >= 20, "20 kills land mid-stream: {positions:?}");

    let oracle = bank::oracle(&journal);
    assert!(oracle.events > 10_000, "{} events", oracle.events);
    let view = runtime().block_on(async {
        let client = connect(&[server.url()]).await;
        let mut remote = remote(client, &checkpoint, Duration::from_secs(1));
        let views = remote.handle();
        let done = async {
            views
                .wait_for(next - 1, Duration::from_secs(120))
                .await
                .unwrap();
        };
        remote.run(done).await.unwrap();
        views.view()
    });
    assert_eq!(*view, oracle);
    assert_eq!(
        saved_position(&checkpoint),
        Some(next),
        "settled at the end"
    );
}

/// Follows `handle` until a command's last record is applied: the view then holds
/// the command.
async fn visible(views: &ViewHandle<Ledger>, last_record: u64) -> std::sync::Arc<Ledger> {
    views
        .wait_for(last_record, Duration::from_secs(30))
        .await
        .unwrap()
}

#[test]
fn a_writer_reads_its_own_writes_from_the_remote_read_model() {
    let Some(binary) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&binary, &dir.path().join("nats"));
    let journal = dir.path().join("journal");
    let engine = EngineBuilder::new(&journal, Bank::default())
        .start()
        .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = connect(&[server.url()]).await;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let mut exporter = Exporter::new(&journal, client.clone(), ExportOptions::new("bank"))
            .await
            .unwrap();
        let exporting = tokio::spawn(async move {
            exporter
                .run(async {
                    let _ = stop_rx.await;
                })
                .await
        });
        let mut remote = remote(client, &dir.path().join("ledger"), Duration::from_secs(1));
        let views = remote.handle();
        let projecting = tokio::spawn(async move { remote.run(std::future::pending()).await });

        let mut expected = Ledger::default();
        let mut accepted_commands = 0;
        for i in 0..300 {
            let mut receipt = engine.gateway().submit(bank::command(i)).unwrap();
            let Ok(accepted) = receipt.wait_async(Until::Durable).await else {
                continue; // refused: nothing to see
            };
            let records = accepted.records.clone().unwrap();
            for (event, sequence) in accepted.events.iter().zip(records.clone()) {
                seqlane::Projection::apply(&mut expected, event, sequence);
            }
            let view = visible(&views, *records.end()).await;
            assert_eq!(*view, expected, "command {i}, records {records:?}");
            accepted_commands += 1;
        }
        assert!(accepted_commands > 100, "{accepted_commands} accepted");

        let later = views.applied().journal + 1_000;
        let error = views
            .wait_for(later, Duration::from_millis(50))
            .await
            .unwrap_err();
        assert_eq!(error.wanted, later);

        stop_tx.send(()).unwrap();
        exporting.await.unwrap().unwrap();
        projecting.abort();
    });
    engine.shutdown().unwrap();
}
