//! The journal beyond one machine, against a real `nats-server -js` on loopback:
//! the exporter's rate beside async-nats publishing the same payloads to the same
//! server, interleaved; then the lag from a command's due time to its event being
//! visible in a projection fed from the stream, at a fixed offered rate.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_nats::jetstream::message::PublishMessage;
use bytes::Bytes;
use hdrhistogram::Histogram;
use seqlane::{Aggregate, EngineBuilder, EventDecoder, Projection};
use seqlane_export::{ExportOptions, Exporter, RemoteProjection, Snapshotted};
use seqlane_journal::{Journal, JournalOptions};

use super::{interleaved, latency_row, rate_name, Context, Measured, Subject};
use crate::pacing::{paced, Wait};
use crate::scenario::NoFigure;
use crate::suite::Plan;

/// Unacknowledged publishes in flight, for the exporter and the raw publisher.
const WINDOW: usize = 1024;
/// A journal identity's length, for the raw publisher's message ids.
const FAKE_IDENTITY: &str = "0123456789abcdef0123456789abcdef";
/// Bytes of each record's payload (an engine record of a small event).
const PAYLOAD: usize = 100;

/// The progress steps the export runs take.
pub fn export_steps(plan: &Plan) -> u64 {
    2 * (plan.repetitions as u64 + 1) + 1
}

/// The `nats-server` binary on the `PATH`.
fn nats_server() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("nats-server"))
        .find(|candidate| candidate.is_file())
}

/// A `nats-server -js` on a loopback port with its store in a temporary
/// directory, killed when dropped.
struct Server {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(binary: &Path) -> Result<Server, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_err(|e| e.to_string())?
            .port();
        let child = Command::new(binary)
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting nats-server: {e}"))?;
        let server = Server {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("nats-server did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every export row.
pub fn run_export(context: &Context, measured: &mut Measured) -> Result<(), String> {
    let plan = context.plan;
    let lag_scenario = format!("export_lag_{}", rate_name(plan.export_rate));
    let rows = [
        (
            "export",
            "seqlane",
            "Exporter: journal's durable tail, Nats-Msg-Id, window 1024",
        ),
        (
            "export",
            "async_nats_raw",
            "async-nats publish from memory, window 1024",
        ),
        (
            "export",
            "async_nats_dedup",
            "the same with the exporter's headers: Nats-Msg-Id, expected last sequence, tag",
        ),
        (
            lag_scenario.as_str(),
            "seqlane",
            "engine → journal → exporter → JetStream → remote projection",
        ),
    ];
    let subject = |(scenario, peer, waiting): (&str, &'static str, &str)| Subject {
        scenario: scenario.to_owned(),
        peer,
        batch: 1,
        waiting: waiting.to_owned(),
        pinned: false,
    };
    let Some(binary) = nats_server() else {
        let reason = "nats-server not found on the PATH (apt-get install nats-server)";
        for row in rows {
            measured
                .rows
                .push(subject(row).cannot_run(reason.to_owned()));
        }
        context.progress.inc(export_steps(plan));
        return Ok(());
    };
    let server = Server::start(&binary)?;
    // One thread for the client's side: on 2 cores the server needs the other.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let client = runtime
        .block_on(async_nats::connect(&server.url))
        .map_err(|e| format!("connecting to nats-server: {e}"))?;

    let journal_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let payloads = write_journal(journal_dir.path(), plan.export_records)?;
    let mut streams = 0;
    let figures = interleaved(
        3,
        plan.repetitions,
        "export",
        context.progress,
        |index, _warm_up| {
            streams += 1;
            let stream = format!("bench{streams}");
            runtime.block_on(async {
                let elapsed = match index {
                    0 => export(journal_dir.path(), &client, &stream, plan.export_records).await?,
                    1 => publish_raw(&client, &stream, &payloads, false).await?,
                    _ => publish_raw(&client, &stream, &payloads, true).await?,
                };
                let js = async_nats::jetstream::new(client.clone());
                let _ = js.delete_stream(&stream).await;
                Ok(plan.export_records as f64 / elapsed.as_secs_f64())
            })
        },
        |index| rows[index].1,
    )?;
    for (row, figures) in rows.iter().zip(figures) {
        measured
            .rows
            .push(subject(*row).throughput(figures, plan.export_records));
    }

    context
        .progress
        .set_message(format!("{lag_scenario}: submit to visible remotely"));
    let result = runtime.block_on(lag(&client, plan.export_rate, plan.export_lag_commands));
    latency_row(
        measured,
        subject(rows[3]),
        || plan.export_rate as f64,
        result,
    )?;
    context.progress.inc(1);
    Ok(())
}

/// Writes `count` records of [`PAYLOAD`] bytes, synced in batches of 1,000;
/// returns the payloads for the raw publisher.
fn write_journal(dir: &Path, count: u64) -> Result<Vec<Bytes>, String> {
    let mut journal = Journal::open(dir, JournalOptions::default()).map_err(|e| e.to_string())?;
    let payloads: Vec<Bytes> = (0..count)
        .map(|i| {
            let mut payload = format!("record {i} ").into_bytes();
            payload.resize(PAYLOAD, b'.');
            Bytes::from(payload)
        })
        .collect();
    for batch in payloads.chunks(1000) {
        journal
            .append_batch(batch.iter().map(|payload| (1, &payload[..])))
            .map_err(|e| e.to_string())?;
    }
    Ok(payloads)
}

/// The time the exporter takes to put `count` records into a new stream.
async fn export(
    dir: &Path,
    client: &async_nats::Client,
    stream: &str,
    count: u64,
) -> Result<Duration, NoFigure> {
    let options = ExportOptions::new(stream).window(WINDOW);
    let mut exporter = Exporter::new(dir, client.clone(), options)
        .await
        .map_err(|e| e.to_string())?;
    let started = Instant::now();
    exporter
        .export_until(count)
        .await
        .map_err(|e| e.to_string())?;
    Ok(started.elapsed())
}

/// The time async-nats takes to publish `payloads` to a new stream of the same
/// settings, [`WINDOW`] acknowledgements in flight; with `headers`, each with the
/// headers the exporter sends (what the server's de-duplication and sequence
/// check cost, apart from the exporter's own work).
async fn publish_raw(
    client: &async_nats::Client,
    stream: &str,
    payloads: &[Bytes],
    headers: bool,
) -> Result<Duration, NoFigure> {
    let js = async_nats::jetstream::new(client.clone());
    let subject = format!("raw.{stream}");
    js.create_stream(async_nats::jetstream::stream::Config {
        name: stream.to_owned(),
        subjects: vec![subject.clone()],
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut in_flight = VecDeque::with_capacity(WINDOW);
    let subject = async_nats::Subject::from(subject);
    for (i, payload) in payloads.iter().enumerate() {
        if in_flight.len() == WINDOW {
            let ack: async_nats::jetstream::context::PublishAckFuture =
                in_flight.pop_front().expect("a full window");
            ack.await.map_err(|e| e.to_string())?;
        }
        let sent = if headers {
            let message = PublishMessage::build()
                .payload(payload.clone())
                .message_id(format!("{FAKE_IDENTITY}:{i}"))
                .expected_last_sequence(i as u64)
                .header("Seqlane-Tag", "1");
            js.send_publish(subject.clone(), message).await
        } else {
            js.publish(subject.clone(), payload.clone()).await
        };
        let ack = sent.map_err(|e| e.to_string())?;
        in_flight.push_back(ack);
    }
    for ack in in_flight {
        ack.await.map_err(|e| e.to_string())?;
    }
    Ok(started.elapsed())
}

/// Commands carry their due time (ns since the run's epoch) into their event.
struct Stamped;

impl Aggregate for Stamped {
    type Command = u64;
    type Event = u64;
    type Rejection = ();

    fn decide(&self, due: &u64, events: &mut Vec<u64>) -> Result<(), ()> {
        events.push(*due);
        Ok(())
    }

    fn apply(&mut self, _: &u64) {}
}

/// A remote projection that times each event from its due time to the view
/// that holds it being published.
struct LagProbe {
    epoch: Instant,
    unpublished: RefCell<Vec<u64>>,
    histogram: Arc<Mutex<Histogram<u64>>>,
    seen: Arc<AtomicU64>,
}

impl Projection<u64> for LagProbe {
    type View = ();

    fn apply(&mut self, due: &u64, _: u64) {
        self.unpublished.get_mut().push(*due);
    }

    fn view(&self) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let mut histogram = self.histogram.lock().expect("not poisoned");
        let mut unpublished = self.unpublished.borrow_mut();
        for due in unpublished.iter() {
            let _ = histogram.record(now.saturating_sub(*due));
        }
        self.seen
            .fetch_add(unpublished.len() as u64, Ordering::Release);
        unpublished.clear();
    }
}

/// The lag of `count` commands offered at `rate`: each sent at its due time to a
/// running engine, journaled, synced, exported and applied by a remote projection
/// in this process, timed from the due time to the publication of the view.
async fn lag(
    client: &async_nats::Client,
    rate: u64,
    count: u64,
) -> Result<Histogram<u64>, NoFigure> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let engine = EngineBuilder::new(dir.path(), Stamped)
        .start()
        .map_err(|e| e.to_string())?;
    let stream = "lag";
    let options = ExportOptions::new(stream).window(WINDOW);
    let mut exporter = Exporter::new(dir.path(), client.clone(), options)
        .await
        .map_err(|e| e.to_string())?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let until_stopped = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let exporting = tokio::spawn({
        let stopped = until_stopped(stopped.clone());
        async move { exporter.run(stopped).await }
    });
    let epoch = Instant::now();
    let histogram = Arc::new(Mutex::new(Histogram::new(3).map_err(|e| e.to_string())?));
    let seen = Arc::new(AtomicU64::new(0));
    let probe = LagProbe {
        epoch,
        unpublished: RefCell::new(Vec::new()),
        histogram: histogram.clone(),
        seen: seen.clone(),
    };
    // The probe has no snapshot: its checkpoint file is never written.
    let model = Snapshotted::new(probe, dir.path().join("probe.checkpoint"));
    let mut remote = RemoteProjection::new(client.clone(), stream, model, EventDecoder::new());
    let projecting = tokio::spawn({
        let stopped = until_stopped(stopped);
        async move { remote.run(stopped).await }
    });
    let gateway = engine.gateway();
    let sending = tokio::task::spawn_blocking(move || {
        let mut sent = Ok(());
        paced(epoch, rate, count, Wait::Sleep, |_, due| {
            if sent.is_ok() {
                sent = gateway.send(due).map_err(|e| e.to_string());
            }
        });
        sent
    });
    sending.await.map_err(|e| e.to_string())??;
    let deadline = Instant::now() + Duration::from_secs(60);
    while seen.load(Ordering::Acquire) < count {
        if Instant::now() > deadline {
            return Err(format!(
                "{} of {count} events reached the remote projection within a minute",
                seen.load(Ordering::Acquire)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = stop.send(true);
    exporting
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    projecting
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    engine.shutdown().map_err(|e| e.to_string())?;
    let histogram = histogram.lock().expect("not poisoned").clone();
    Ok(histogram)
}
