//! Projections on other processes and machines, fed from an exported stream: the
//! stream read in order from the read model's own checkpoint, each message decoded
//! as the engine decodes its journal, whole commands applied in batches, and the
//! journal sequence applied so far published for read-your-writes waits.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures_util::{FutureExt, StreamExt};
use seqlane::{Committed, EventDecoder};
use seqlane_journal::{Codec, Postcard};
use tokio::sync::watch;

use crate::error::{ExportError, Result};
use crate::message::Exported;

/// Where a read model stands: the next journal record it applies and the stream
/// message that carries it. A read model stores it with what it applied, in the
/// same write, so that a crash leaves both at the same command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The identity of the journal the stream carries.
    pub identity: String,
    /// The journal sequence of the next record to apply: every command before it
    /// is applied.
    pub journal: u64,
    /// The stream sequence of the message carrying that record.
    pub stream: u64,
}

/// A read model fed from a stream: it applies whole commands in batches and keeps
/// its [`Checkpoint`] with them.
///
/// [`Snapshotted`](crate::Snapshotted) runs any [`seqlane::Projection`] this way;
/// [`PgReadModel`](crate::PgReadModel) keeps tables in PostgreSQL.
pub trait ReadModel<E>: Send {
    /// What readers see after each batch.
    type View: Send + Sync + 'static;

    /// The checkpoint stored with the model, `None` if it holds nothing yet (it is
    /// then fed from the stream's first message).
    fn load(&mut self) -> impl Future<Output = Result<Option<Checkpoint>>> + Send;

    /// Applies `batch`, the commands before `to.journal`, and stores `to` (at once
    /// or later, but always with the commands it follows).
    fn apply(
        &mut self,
        batch: &[Committed<E>],
        to: &Checkpoint,
    ) -> impl Future<Output = Result<()>> + Send;

    /// Stores everything applied so far and `at`, before a stop.
    fn settle(&mut self, at: &Checkpoint) -> impl Future<Output = Result<()>> + Send {
        let _ = at;
        async { Ok(()) }
    }

    /// The view to publish after a batch.
    fn view(&self) -> Self::View;
}

/// What a read model has applied, as published after each batch.
#[derive(Debug)]
pub struct Applied<V> {
    /// Every journal record before this sequence is applied.
    pub journal: u64,
    /// The view after them.
    pub view: Arc<V>,
}

impl<V> Clone for Applied<V> {
    fn clone(&self) -> Self {
        Applied {
            journal: self.journal,
            view: self.view.clone(),
        }
    }
}

/// The time [`ViewHandle::wait_for`] waited, in vain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "the read model had applied the journal up to {applied}, not {wanted}, when the wait ended"
)]
pub struct NotYet {
    /// The sequence waited for.
    pub wanted: u64,
    /// Every record before this one was applied.
    pub applied: u64,
}

/// A reader's handle on a remote projection: its view and position, and a wait
/// for a journal sequence (read-your-writes across machines).
#[derive(Clone, Debug)]
pub struct ViewHandle<V>(watch::Receiver<Applied<V>>);

impl<V> ViewHandle<V> {
    /// The view and position as last published.
    pub fn applied(&self) -> Applied<V> {
        self.0.borrow().clone()
    }

    /// The view as last published.
    pub fn view(&self) -> Arc<V> {
        self.0.borrow().view.clone()
    }

    /// Waits until the read model has applied journal record `sequence` (the last
    /// record of a command's [`Accepted::records`](seqlane::Accepted)), then
    /// returns the view that holds it.
    ///
    /// # Errors
    ///
    /// [`NotYet`] when `timeout` passes first, or the projection stopped.
    pub async fn wait_for(&self, sequence: u64, timeout: Duration) -> Result<Arc<V>, NotYet> {
        let mut receiver = self.0.clone();
        let reached = tokio::time::timeout(
            timeout,
            receiver.wait_for(|applied| applied.journal > sequence),
        )
        .await;
        match reached {
            Ok(Ok(applied)) => Ok(applied.view.clone()),
            _ => Err(NotYet {
                wanted: sequence,
                applied: self.0.borrow().journal,
            }),
        }
    }
}

/// Feeds a [`ReadModel`] from a JetStream stream written by an
/// [`Exporter`](crate::Exporter), from the model's checkpoint on.
///
/// Lost connections and server restarts are retried: the stream is read again from
/// the message after the last one applied. A message that is not a record of the
/// same journal, a gap in the journal's sequences, or an event the decoder cannot
/// read stops it with an error.
///
/// # Examples
///
/// ```no_run
/// use seqlane::EventDecoder;
/// use seqlane_export::{RemoteProjection, Snapshotted};
/// # struct Total(u64);
/// # impl seqlane::Projection<u64> for Total {
/// #     type View = u64;
/// #     fn apply(&mut self, n: &u64, _: u64) { self.0 += n }
/// #     fn view(&self) -> u64 { self.0 }
/// # }
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let client = async_nats::connect("127.0.0.1:4222").await?;
/// let model = Snapshotted::new(Total(0), "total.checkpoint");
/// let mut remote = RemoteProjection::new(client, "orders", model, EventDecoder::<u64>::new());
/// let views = remote.handle();
/// tokio::spawn(async move { remote.run(std::future::pending()).await });
/// let total = views.wait_for(41, std::time::Duration::from_secs(1)).await?;
/// println!("total after record 41: {total}");
/// # Ok(())
/// # }
/// ```
pub struct RemoteProjection<E, M: ReadModel<E>, C = Postcard> {
    js: async_nats::jetstream::Context,
    stream: String,
    model: M,
    decoder: EventDecoder<E, C>,
    batch: usize,
    published: watch::Sender<Applied<M::View>>,
    /// The position after the last batch applied: always between commands.
    applied: Checkpoint,
}

/// Waits between attempts to read a stream that is away.
const RETRY_PAUSE: Duration = Duration::from_millis(50);

impl<E, M, C> RemoteProjection<E, M, C>
where
    E: Send,
    M: ReadModel<E>,
    C: Codec<E> + Send,
{
    /// A projection of `stream` into `model`, decoding with `decoder` (configured
    /// as the engine: event schema, upcasters, codec).
    pub fn new(
        client: async_nats::Client,
        stream: impl Into<String>,
        model: M,
        decoder: EventDecoder<E, C>,
    ) -> Self {
        let view = Arc::new(model.view());
        let (published, _) = watch::channel(Applied { journal: 0, view });
        RemoteProjection {
            js: async_nats::jetstream::new(client),
            stream: stream.into(),
            model,
            decoder,
            batch: 1024,
            published,
            applied: Checkpoint {
                identity: String::new(),
                journal: 0,
                stream: 1,
            },
        }
    }

    /// Applies at most `commands` commands per batch (default 1024; a batch also
    /// ends whenever no further message is waiting).
    pub fn batch(mut self, commands: usize) -> Self {
        self.batch = commands.max(1);
        self
    }

    /// A handle on the published view and position.
    pub fn handle(&self) -> ViewHandle<M::View> {
        ViewHandle(self.published.subscribe())
    }

    /// The read model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// Follows the stream until `stop` completes; then applies the whole commands
    /// read and settles the model.
    ///
    /// # Errors
    ///
    /// The model's errors; [`ExportError::ForeignStream`] for a message that is not
    /// a record of the journal the model follows; [`ExportError::StreamGap`];
    /// [`ExportError::Decode`].
    pub async fn run(&mut self, stop: impl Future<Output = ()>) -> Result<()> {
        let mut stop = std::pin::pin!(stop);
        let checkpoint = self.model.load().await?;
        let mut known = checkpoint.is_some();
        if let Some(checkpoint) = checkpoint {
            self.applied = checkpoint;
        }
        let mut at = self.applied.clone();
        self.publish(at.journal);
        let mut batch = Vec::new();
        loop {
            let Some(mut messages) = self.subscribe(at.stream, stop.as_mut()).await else {
                return self.settle(&mut batch, &at).await;
            };
            loop {
                let next = match messages.next().now_or_never() {
                    Some(next) => next,
                    None => {
                        self.flush(&mut batch, &at).await?;
                        tokio::select! {
                            () = stop.as_mut() => {
                                return self.settle(&mut batch, &at).await;
                            }
                            next = messages.next() => next,
                        }
                    }
                };
                let message = match next {
                    Some(Ok(message)) => message,
                    // The ordered consumer gave up (the server went away): read
                    // again after the last message taken.
                    Some(Err(_)) | None => break,
                };
                let Ok(info) = message.info() else { break };
                let stream_sequence = info.stream_sequence;
                let record = message
                    .headers
                    .as_ref()
                    .ok_or_else(|| "a message without headers".to_owned())
                    .and_then(Exported::from_headers)
                    .map_err(|found| ExportError::ForeignStream {
                        stream: self.stream.clone(),
                        identity: at.identity.clone(),
                        found,
                    })?;
                if !known {
                    (at.identity, at.journal, known) =
                        (record.identity.clone(), record.sequence, true);
                }
                if record.identity != at.identity {
                    return Err(ExportError::ForeignStream {
                        stream: self.stream.clone(),
                        identity: at.identity.clone(),
                        found: crate::message::message_id(&record.identity, record.sequence),
                    });
                }
                if record.sequence < at.journal {
                    continue; // applied before the stream was rolled back and refilled
                }
                if record.sequence > at.journal {
                    return Err(ExportError::StreamGap {
                        stream: self.stream.clone(),
                        expected: at.journal,
                        found: record.sequence,
                    });
                }
                let committed = self
                    .decoder
                    .push(record.sequence, record.tag, &message.payload)
                    .map_err(|cause| ExportError::Decode {
                        sequence: record.sequence,
                        cause,
                    })?;
                batch.extend(committed);
                (at.journal, at.stream) = (record.sequence + 1, stream_sequence + 1);
                if batch.len() >= self.batch {
                    self.flush(&mut batch, &at).await?;
                }
            }
            // Read on from the message after the last one taken; the decoder
            // keeps a command still pending.
            self.flush(&mut batch, &at).await?;
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Applies the batch if the decoder stands between commands, and publishes.
    async fn flush(&mut self, batch: &mut Vec<Committed<E>>, at: &Checkpoint) -> Result<()> {
        if !self.decoder.between_commands() {
            return Ok(());
        }
        if !batch.is_empty() {
            self.model.apply(batch, at).await?;
            batch.clear();
        }
        if self.applied.journal < at.journal || self.applied.identity != at.identity {
            self.applied = at.clone();
            self.publish(at.journal);
        }
        Ok(())
    }

    /// Applies what can be applied and settles the model at the last command
    /// boundary: a command read in part is read again after a restart.
    async fn settle(&mut self, batch: &mut Vec<Committed<E>>, at: &Checkpoint) -> Result<()> {
        self.flush(batch, at).await?;
        let applied = self.applied.clone();
        self.model.settle(&applied).await
    }

    fn publish(&self, journal: u64) {
        let view = Arc::new(self.model.view());
        self.published.send_replace(Applied { journal, view });
    }

    /// An ordered consumer of the stream from `stream_sequence`, retried until the
    /// stream can be read; `None` if `stop` completes first.
    async fn subscribe(
        &self,
        stream_sequence: u64,
        mut stop: std::pin::Pin<&mut impl Future<Output = ()>>,
    ) -> Option<async_nats::jetstream::consumer::pull::Ordered> {
        loop {
            let attempt = async {
                let stream = self.js.get_stream(&self.stream).await.ok()?;
                let config = OrderedConfig {
                    deliver_policy: DeliverPolicy::ByStartSequence {
                        start_sequence: stream_sequence,
                    },
                    ..OrderedConfig::default()
                };
                let consumer = stream.create_consumer(config).await.ok()?;
                consumer.messages().await.ok()
            };
            tokio::select! {
                () = stop.as_mut() => return None,
                found = attempt => if let Some(messages) = found {
                    return Some(messages);
                },
            }
            tokio::select! {
                () = stop.as_mut() => return None,
                () = tokio::time::sleep(RETRY_PAUSE) => {}
            }
        }
    }
}
