//! A read model on another process or machine, fed from the JetStream stream an
//! [`Exporter`](crate::Exporter) writes.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::consumer::pull::OrderedConfig;
use async_nats::jetstream::consumer::DeliverPolicy;
use futures_util::{FutureExt, StreamExt};
use seqlane::EventDecoder;
use seqlane_journal::{Codec, Postcard};

use crate::error::{ExportError, Result};
use crate::follow::{Follower, ReadModel, ViewHandle};
use crate::message::Exported;

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
    follower: Follower<E, M, C>,
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
        RemoteProjection {
            js: async_nats::jetstream::new(client),
            follower: Follower::new(stream.into(), model, decoder),
        }
    }

    /// Applies at most `commands` commands per batch (default 1024; a batch also
    /// ends whenever no further message is waiting).
    pub fn batch(mut self, commands: usize) -> Self {
        self.follower.batch_limit = commands.max(1);
        self
    }

    /// A handle on the published view and position.
    pub fn handle(&self) -> ViewHandle<M::View> {
        self.follower.handle()
    }

    /// The read model.
    pub fn model(&self) -> &M {
        self.follower.model()
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
        self.follower.start().await?;
        loop {
            let from = self.follower.at.stream;
            let subscribed = subscribe(&self.js, &self.follower.source, from, stop.as_mut());
            let Some(mut messages) = subscribed.await else {
                return self.follower.settle().await;
            };
            loop {
                let next = match messages.next().now_or_never() {
                    Some(next) => next,
                    None => {
                        self.follower.flush().await?;
                        tokio::select! {
                            () = stop.as_mut() => return self.follower.settle().await,
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
                        stream: self.follower.source.clone(),
                        identity: self.follower.at.identity.clone(),
                        found,
                    })?;
                let full = self.follower.take(
                    &record.identity,
                    record.sequence,
                    record.tag,
                    &message.payload,
                    stream_sequence,
                )?;
                if full {
                    self.follower.flush().await?;
                }
            }
            // Read on from the message after the last one taken; the decoder
            // keeps a command still pending.
            self.follower.flush().await?;
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }
}

/// An ordered consumer of the stream from `stream_sequence`, retried until the
/// stream can be read; `None` if `stop` completes first.
async fn subscribe(
    js: &async_nats::jetstream::Context,
    stream: &str,
    stream_sequence: u64,
    mut stop: std::pin::Pin<&mut impl Future<Output = ()>>,
) -> Option<async_nats::jetstream::consumer::pull::Ordered> {
    loop {
        let attempt = async {
            let stream = js.get_stream(stream).await.ok()?;
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
