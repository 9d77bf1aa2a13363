//! The exporter against a real `nats-server -js` on loopback: every durable record
//! in the stream exactly once, in order, through restarts, kills and a lost node,
//! while an engine writes the journal.

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use common::{assert_stream_is_journal, connect, nats_server, read_stream, runtime, Rng, Server};
use seqlane_export::{ExportError, ExportOptions, Exporter};
use seqlane_journal::{Journal, JournalOptions};

fn append(journal: &mut Journal, from: u64, count: u64) {
    for i in from..from + count {
        let payload = format!("record {i}").repeat(1 + (i % 5) as usize);
        journal.append((i % 7) as u32, payload.as_bytes()).unwrap();
    }
}

fn small_segments() -> JournalOptions {
    JournalOptions::default().segment_size(64 << 10)
}

#[test]
fn every_record_once_in_order_and_a_restart_resumes_from_the_stream() {
    let Some(binary) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&binary, &dir.path().join("nats"));
    let journal_dir = dir.path().join("journal");
    let mut journal = Journal::open(&journal_dir, small_segments()).unwrap();
    append(&mut journal, 0, 3000);
    runtime().block_on(async {
        let client = connect(&[server.url()]).await;
        let options = ExportOptions::new("orders").window(64);
        let mut exporter = Exporter::new(&journal_dir, client.clone(), options.clone())
            .await
            .unwrap();
        exporter.export_until(3000).await.unwrap();
        assert_eq!(exporter.status().get().exported, 3000);
        drop(exporter);

        append(&mut journal, 3000, 2000);
        let mut exporter = Exporter::new(&journal_dir, client.clone(), options)
            .await
            .unwrap();
        assert_eq!(
            exporter.status().get().exported,
            3000,
            "resumed from the stream"
        );
        exporter.export_until(5000).await.unwrap();
        let status = exporter.status().get();
        assert_eq!((status.exported, status.lag_records), (5000, 0));

        assert!(journal.segments().len() > 3, "the export followed rolls");
        assert_stream_is_journal(&read_stream(&client, "orders").await, &journal_dir, 0, 5000);
    });
}

#[test]
fn another_journal_is_refused_on_the_same_stream() {
    let Some(binary) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&binary, &dir.path().join("nats"));
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    append(&mut Journal::open(&one, small_segments()).unwrap(), 0, 10);
    append(&mut Journal::open(&two, small_segments()).unwrap(), 0, 10);
    runtime().block_on(async {
        let client = connect(&[server.url()]).await;
        let mut exporter = Exporter::new(&one, client.clone(), ExportOptions::new("s"))
            .await
            .unwrap();
        exporter.export_until(10).await.unwrap();
        let error = Exporter::new(&two, client, ExportOptions::new("s"))
            .await
            .unwrap_err();
        assert!(
            matches!(error, ExportError::ForeignStream { .. }),
            "{error}"
        );
    });
}

/// An engine deciding commands until stopped, a few thousand a second, on a
/// journal of small segments (so the export follows rolls); returns the journal's
/// next sequence once it stopped.
fn writer(dir: &Path, stop: Arc<AtomicBool>) -> JoinHandle<u64> {
    let dir = dir.to_owned();
    let engine = seqlane::EngineBuilder::new(&dir, common::bank::Bank::default())
        .journal_options(small_segments())
        .start()
        .unwrap();
    std::thread::spawn(move || {
        let mut i = 0;
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..20 {
                engine.gateway().send(common::bank::command(i)).unwrap();
                i += 1;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        engine.shutdown().unwrap();
        seqlane_journal::durable_line(&dir).unwrap()
    })
}

#[test]
fn fifty_kills_of_the_exporter_lose_and_duplicate_nothing() {
    let Some(binary) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&binary, &dir.path().join("nats"));
    let journal_dir = dir.path().join("journal");
    let stop = Arc::new(AtomicBool::new(false));
    let writing = writer(&journal_dir, stop.clone());
    let mut rng = Rng::from_time();
    for _ in 0..50 {
        let mut exporter = std::process::Command::new(env!("CARGO_BIN_EXE_seqlane-export"))
            .args(["nats", "--journal"])
            .arg(&journal_dir)
            .args([
                "--server",
                &server.url(),
                "--stream",
                "kills",
                "--report",
                "0",
            ])
            .args(["--window", &(1 + rng.below(256)).to_string()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(20 + rng.below(200)));
        exporter.kill().unwrap(); // SIGKILL
        exporter.wait().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let next = writing.join().unwrap();
    runtime().block_on(async {
        let client = connect(&[server.url()]).await;
        let mut exporter = Exporter::new(&journal_dir, client.clone(), ExportOptions::new("kills"))
            .await
            .unwrap();
        let resumed = exporter.status().get().exported;
        assert!(resumed > 0, "the killed exporters exported something");
        exporter.export_until(next).await.unwrap();
        assert_stream_is_journal(&read_stream(&client, "kills").await, &journal_dir, 0, next);
    });
}

/// Runs an exporter on another thread while `disturb` acts on the servers, with
/// the writer appending throughout; then has it finish and checks the stream.
fn export_through(
    servers: &mut [Server],
    replicas: usize,
    disturb: impl FnOnce(&mut [Server]),
) -> seqlane_export::Status {
    let dir = tempfile::tempdir().unwrap();
    let journal_dir = dir.path().join("journal");
    let stop = Arc::new(AtomicBool::new(false));
    let writing = writer(&journal_dir, stop.clone());
    let urls: Vec<String> = servers.iter().map(Server::url).collect();
    let exporter_urls = urls.clone();
    // The journal's next sequence once the writer stopped, then "done".
    let end = Arc::new(AtomicU64::new(u64::MAX));
    std::thread::scope(|scope| {
        let (seen_end, journal_dir) = (&*end, &journal_dir);
        let exporting = scope.spawn(move || {
            runtime().block_on(async {
                let client = connect(&exporter_urls).await;
                let options = ExportOptions::new("through")
                    .replicas(replicas)
                    .max_pause(Duration::from_millis(200));
                let mut exporter = Exporter::new(journal_dir, client.clone(), options)
                    .await
                    .unwrap();
                let stopped = async {
                    while seen_end.load(Ordering::Acquire) == u64::MAX {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                };
                exporter.run(stopped).await.unwrap();
                let next = seen_end.load(Ordering::Acquire);
                exporter.export_until(next).await.unwrap();
                assert_stream_is_journal(
                    &read_stream(&client, "through").await,
                    journal_dir,
                    0,
                    next,
                );
                exporter.status().get()
            })
        });
        common::wait_for_messages(&urls, "through");
        std::thread::sleep(Duration::from_millis(300));
        let disturbed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| disturb(servers)));
        std::thread::sleep(Duration::from_millis(500));
        stop.store(true, Ordering::Relaxed);
        let next = writing.join().unwrap();
        if let Err(panic) = disturbed {
            end.store(0, Ordering::Release); // lets the exporter stop
            std::panic::resume_unwind(panic);
        }
        end.store(next, Ordering::Release);
        let status = exporting.join().unwrap();
        eprintln!("exporter: {status:?}");
        status
    })
}

#[test]
fn a_killed_and_restarted_server_loses_and_duplicates_nothing() {
    let Some(binary) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut servers = vec![Server::start(&binary, &dir.path().join("nats"))];
    export_through(&mut servers, 1, |servers| {
        servers[0].kill();
        std::thread::sleep(Duration::from_millis(300));
        servers[0].restart();
    });
}

#[test]
fn a_three_node_cluster_loses_a_node_and_the_export_goes_on() {
    let Some(binary) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut servers = common::cluster(&binary, dir.path());
    export_through(&mut servers, 3, |servers| {
        // The node that leads the stream: its loss forces an election mid-export.
        let urls: Vec<String> = servers.iter().map(Server::url).collect();
        let leader = runtime().block_on(async {
            let js = async_nats::jetstream::new(connect(&urls).await);
            let info = js
                .get_stream("through")
                .await
                .unwrap()
                .cached_info()
                .clone();
            info.cluster
                .and_then(|cluster| cluster.leader)
                .expect("a leader")
        });
        eprintln!("killing the stream's leader, {leader}");
        let index: usize = leader.trim_start_matches("node").parse().unwrap();
        servers[index].kill();
    });
}

#[test]
fn a_server_that_lost_acknowledged_messages_gets_them_again() {
    let Some(binary) = nats_server() else { return };
    let dir = tempfile::tempdir().unwrap();
    let mut servers = vec![Server::start(&binary, &dir.path().join("nats"))];
    let store = dir.path().join("nats").join("store");
    let older = dir.path().join("older-store");
    let status = export_through(&mut servers, 1, |servers| {
        // The server's disk as a crash could leave it: everything acknowledged
        // since this copy is gone when it comes back.
        servers[0].kill();
        copy_dir(&store, &older);
        servers[0].restart();
        std::thread::sleep(Duration::from_millis(800));
        servers[0].kill();
        std::fs::remove_dir_all(&store).unwrap();
        std::fs::rename(&older, &store).unwrap();
        servers[0].restart();
    });
    assert!(
        status.resyncs > 1,
        "the exporter noticed the loss: {status:?}"
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
