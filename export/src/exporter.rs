//! The exporter: a journal's durable tail published to a JetStream stream, each
//! record once, in order.
//!
//! Every publish names the record (`Nats-Msg-Id` = identity:sequence, so the
//! server's de-duplication makes a re-publish harmless) and states where the stream
//! must stand (`Nats-Expected-Last-Sequence`), so a publish that the server lost, or
//! one past it, is refused rather than stored out of order. Any refusal, timeout or
//! lost connection sends the exporter back to the stream: it reads the stream's
//! newest message, checks it is this journal's, and goes on from the record after
//! it. Position is never kept in a local file that could disagree with the stream.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use async_nats::jetstream::context::{GetStreamErrorKind, PublishAckFuture};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::{self, stream};
use bytes::Bytes;
use futures_util::FutureExt;

use crate::error::{ExportError, Result};
use crate::message::{message_id, Exported, TAG_HEADER};
use crate::status::{Shared, Status};
use crate::tail::DurableTail;

/// How often an idle exporter asks the stream whether it still holds what was
/// acknowledged (a server that lost acknowledged messages in a crash is noticed
/// here, and they are published again).
const VERIFY_EVERY: Duration = Duration::from_secs(1);

/// The first pause after a failed NATS call.
const FIRST_PAUSE: Duration = Duration::from_millis(20);

/// Where and how to export.
#[derive(Clone, Debug)]
pub struct ExportOptions {
    stream: String,
    subject: Option<String>,
    replicas: usize,
    window: usize,
    poll: Duration,
    duplicate_window: Duration,
    start: u64,
    max_pause: Duration,
}

impl ExportOptions {
    /// Export to the stream `stream`, created if missing with the defaults below.
    pub fn new(stream: impl Into<String>) -> Self {
        ExportOptions {
            stream: stream.into(),
            subject: None,
            replicas: 1,
            window: 1024,
            poll: Duration::from_millis(1),
            duplicate_window: Duration::from_secs(120),
            start: 0,
            max_pause: Duration::from_secs(2),
        }
    }

    /// The subject records are published on (default `seqlane.<stream>`).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Replicas of a stream the exporter creates (default 1; 3 on a cluster).
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas.max(1);
        self
    }

    /// Publishes sent before the oldest one's acknowledgement is awaited (default
    /// 1024).
    pub fn window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// How long a caught-up exporter waits before it looks at the journal again
    /// (default 1 ms).
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The de-duplication window of a stream the exporter creates (default 2 min).
    pub fn duplicate_window(mut self, window: Duration) -> Self {
        self.duplicate_window = window;
        self
    }

    /// The journal sequence an empty stream starts from (default 0).
    pub fn start(mut self, sequence: u64) -> Self {
        self.start = sequence;
        self
    }

    /// The longest pause between retries when the server is unavailable (default
    /// 2 s; pauses start at 20 ms and double).
    pub fn max_pause(mut self, pause: Duration) -> Self {
        self.max_pause = pause;
        self
    }

    fn subject_name(&self) -> String {
        self.subject
            .clone()
            .unwrap_or_else(|| format!("seqlane.{}", self.stream))
    }
}

/// A handle on an exporter's [`Status`], for another task or thread.
#[derive(Clone, Debug)]
pub struct StatusHandle(Shared);

impl StatusHandle {
    /// The status now.
    pub fn get(&self) -> Status {
        self.0.snapshot()
    }
}

/// Why the stream's position must be read again.
type Retry = String;

/// Publishes a journal's durable records to a JetStream stream.
///
/// # Examples
///
/// ```no_run
/// use seqlane_export::{ExportOptions, Exporter};
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("127.0.0.1:4222").await?;
/// let mut exporter = Exporter::new("data/journal", client, ExportOptions::new("orders")).await?;
/// // Runs until Ctrl-C, then waits for what is in flight.
/// exporter.run(async { tokio::signal::ctrl_c().await.ok(); }).await?;
/// println!("exported up to {}", exporter.status().get().exported);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Exporter {
    tail: DurableTail,
    js: jetstream::Context,
    options: ExportOptions,
    /// Cloned for each message without a copy.
    subject: async_nats::Subject,
    /// The stream's newest sequence, as far as this exporter knows.
    stream_last: u64,
    status: Shared,
}

impl Exporter {
    /// An exporter of the journal in `dir`, positioned after the newest record the
    /// stream holds. Creates the stream if it is missing; waits (retrying) while the
    /// server is unavailable.
    ///
    /// # Errors
    ///
    /// [`ExportError::ForeignStream`], [`ExportError::JournalBehindStream`],
    /// [`ExportError::StreamConfig`]; journal errors (among them records the stream
    /// needs next that were retired from the journal).
    pub async fn new(
        dir: impl AsRef<Path>,
        client: async_nats::Client,
        options: ExportOptions,
    ) -> Result<Self> {
        let tail = DurableTail::open(dir, options.start)?;
        let mut exporter = Exporter {
            tail,
            js: jetstream::new(client),
            subject: options.subject_name().into(),
            options,
            stream_last: 0,
            status: Shared::default(),
        };
        let mut pause = FIRST_PAUSE;
        loop {
            match exporter.ensure_stream().await {
                Ok(answer) => break answer?,
                Err(reason) => exporter.pause(&mut pause, reason).await,
            }
        }
        exporter.resync().await?;
        Ok(exporter)
    }

    /// The journal's identity, which names its records in the stream.
    pub fn identity(&self) -> &str {
        self.tail.identity()
    }

    /// The subject records are published on.
    pub fn subject(&self) -> &str {
        self.subject.as_str()
    }

    /// A handle on the export's progress and lag.
    pub fn status(&self) -> StatusHandle {
        StatusHandle(self.status.clone())
    }

    /// Exports until `stop` completes, then waits for the publishes in flight.
    ///
    /// # Errors
    ///
    /// As [`Exporter::new`], found while exporting, and journal errors.
    pub async fn run(&mut self, stop: impl Future<Output = ()>) -> Result<()> {
        self.pump(None, stop).await
    }

    /// Exports until every record before `sequence` is in the stream.
    ///
    /// # Errors
    ///
    /// As [`Exporter::run`].
    pub async fn export_until(&mut self, sequence: u64) -> Result<()> {
        self.pump(Some(sequence), std::future::pending()).await
    }

    async fn pump(&mut self, until: Option<u64>, stop: impl Future<Output = ()>) -> Result<()> {
        let mut stop = std::pin::pin!(stop);
        let mut stopping = false;
        let mut in_flight: VecDeque<(u64, u64, PublishAckFuture)> = VecDeque::new();
        let mut exported = self.tail.next_sequence();
        let mut last_check = Instant::now();
        loop {
            if until.is_some_and(|until| exported >= until) && in_flight.is_empty() {
                return Ok(());
            }
            stopping = stopping || stop.as_mut().now_or_never().is_some();
            let mut failed: Option<Retry> = None;
            while !stopping && in_flight.len() < self.options.window {
                let expected = self.stream_last + in_flight.len() as u64;
                let Some(record) = self.tail.next_record()? else {
                    break;
                };
                let (sequence, tag) = (record.sequence, record.tag);
                let payload = Bytes::copy_from_slice(record.payload);
                let publish = PublishMessage::build()
                    .payload(payload)
                    .message_id(message_id(self.tail.identity(), sequence))
                    .expected_last_sequence(expected)
                    .header(TAG_HEADER, tag.to_string());
                match self.js.send_publish(self.subject.clone(), publish).await {
                    Ok(ack) => in_flight.push_back((sequence, expected + 1, ack)),
                    Err(error) => {
                        failed = Some(format!("publishing journal sequence {sequence}: {error}"));
                        break;
                    }
                }
            }
            self.status.line(self.tail.line());
            if failed.is_none() {
                if let Some((sequence, expected, ack)) = in_flight.pop_front() {
                    match ack.await {
                        Ok(ack) if ack.sequence == expected && !ack.duplicate => {
                            self.stream_last = expected;
                            exported = sequence + 1;
                            self.status.exported(exported);
                            continue;
                        }
                        Ok(ack) => {
                            failed = Some(format!(
                                "journal sequence {sequence} acknowledged at stream sequence {}{} where {expected} was expected",
                                ack.sequence,
                                if ack.duplicate { " as a duplicate" } else { "" },
                            ))
                        }
                        Err(error) => {
                            failed = Some(format!("publishing journal sequence {sequence}: {error}"))
                        }
                    }
                } else if stopping {
                    return Ok(());
                } else if last_check.elapsed() >= VERIFY_EVERY {
                    last_check = Instant::now();
                    failed = self.check().await.err();
                } else {
                    tokio::select! {
                        () = stop.as_mut() => stopping = true,
                        () = tokio::time::sleep(self.options.poll) => {}
                    }
                }
            }
            if let Some(reason) = failed {
                // The acknowledgements still in flight are abandoned: what the
                // stream holds is read back from the stream.
                in_flight.clear();
                self.status.retried(reason);
                self.resync().await?;
                exported = self.tail.next_sequence();
            }
        }
    }

    /// Whether the stream still ends where this exporter last stored a record.
    async fn check(&mut self) -> std::result::Result<(), Retry> {
        let stream = self.stream().await?;
        let last = stream.cached_info().state.last_sequence;
        if last == self.stream_last {
            Ok(())
        } else {
            Err(format!(
                "the stream's last sequence is {last}, where this exporter stored {}",
                self.stream_last
            ))
        }
    }

    /// Reads the stream's position again (retrying while the server is away) and
    /// moves the journal tail to the record after the stream's newest.
    async fn resync(&mut self) -> Result<()> {
        self.status.resynced();
        let mut pause = FIRST_PAUSE;
        let (stream_last, next) = loop {
            match self.position().await {
                Ok(answer) => break answer?,
                Err(reason) => self.pause(&mut pause, reason).await,
            }
        };
        let line = self.tail.refresh()?;
        if next > line {
            return Err(ExportError::JournalBehindStream {
                stream: self.options.stream.clone(),
                sequence: next - 1,
                line,
            });
        }
        if self.tail.next_sequence() != next {
            self.tail.seek(next)?;
        }
        self.stream_last = stream_last;
        self.status.exported(next);
        Ok(())
    }

    /// The stream's newest sequence and the journal sequence after its newest
    /// record (the configured start for an empty stream).
    ///
    /// The two come from separate requests (the stream's state, then its newest
    /// message), so they are read again until the stream's last sequence is the
    /// same before and after the message: a killed exporter's publishes can
    /// still be landing meanwhile, and a last sequence older than the message
    /// let a resumed exporter's later publishes pass the expected-sequence check
    /// with a gap before them (the kills test caught one: the stream at 90,945
    /// by its state, its newest message journal record 90,971 at 90,972).
    async fn position(&mut self) -> std::result::Result<Result<(u64, u64)>, Retry> {
        let mut stream = self.stream().await?;
        loop {
            let state = &stream.cached_info().state;
            let last = state.last_sequence;
            let next = if state.messages == 0 {
                Ok(self.options.start)
            } else {
                self.newest_record(&stream).await?.map(|newest| newest + 1)
            };
            // The state read after the message is the next try's state before it.
            stream = self.stream().await?;
            if stream.cached_info().state.last_sequence == last {
                return Ok(next.map(|next| (last, next)));
            }
        }
    }

    /// The stream, with its state as of this request.
    async fn stream(&self) -> std::result::Result<jetstream::stream::Stream, Retry> {
        self.js
            .get_stream(&self.options.stream)
            .await
            .map_err(|e| e.to_string())
    }

    /// The journal sequence of the newest message on the export's subject (the
    /// stream's newest, unless a person deleted it).
    async fn newest_record(
        &self,
        stream: &jetstream::stream::Stream,
    ) -> std::result::Result<Result<u64>, Retry> {
        let message = stream
            .get_last_raw_message_by_subject(self.subject.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let found = match Exported::from_headers(&message.headers) {
            Ok(found) if found.identity == self.tail.identity() => return Ok(Ok(found.sequence)),
            Ok(found) => format!("{}:{}", found.identity, found.sequence),
            Err(found) => found,
        };
        Ok(Err(ExportError::ForeignStream {
            stream: self.options.stream.clone(),
            identity: self.tail.identity().to_owned(),
            found,
        }))
    }

    /// Creates the stream if it is missing; checks it takes the export's subject.
    async fn ensure_stream(&mut self) -> std::result::Result<Result<()>, Retry> {
        let name = &self.options.stream;
        let config_error = |reason: String| {
            Ok(Err(ExportError::StreamConfig {
                stream: name.clone(),
                reason,
            }))
        };
        match self.js.get_stream(name).await {
            Ok(stream) => {
                let config = &stream.cached_info().config;
                if !config.subjects.iter().any(|s| s == self.subject.as_str()) {
                    return config_error(format!(
                        "its subjects {:?} do not include {:?}",
                        config.subjects, self.subject
                    ));
                }
                if config.duplicate_window.is_zero() {
                    return config_error("its de-duplication window is zero".into());
                }
                Ok(Ok(()))
            }
            Err(error) if matches!(error.kind(), GetStreamErrorKind::JetStream(e) if e.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
            {
                let config = stream::Config {
                    name: name.clone(),
                    subjects: vec![self.subject.to_string()],
                    num_replicas: self.options.replicas,
                    duplicate_window: self.options.duplicate_window,
                    storage: stream::StorageType::File,
                    ..Default::default()
                };
                match self.js.create_stream(config).await {
                    Ok(_) => Ok(Ok(())),
                    Err(error) => Err(format!("creating stream {name}: {error}")),
                }
            }
            Err(error) => Err(format!("looking up stream {name}: {error}")),
        }
    }

    /// Counts a failed attempt in the status and pauses before the next one (20
    /// ms, doubling up to the configured maximum).
    async fn pause(&self, pause: &mut Duration, reason: Retry) {
        self.status.retried(reason);
        tokio::time::sleep(*pause).await;
        *pause = (*pause * 2).min(self.options.max_pause);
    }
}
