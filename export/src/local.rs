//! A read model beside the engine, fed from the journal's directory: the same
//! [`ReadModel`]s as remotely (a table in PostgreSQL, say), without a stream.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use seqlane::EventDecoder;
use seqlane_journal::{Codec, Postcard};

use crate::error::Result;
use crate::follow::{Follower, ReadModel, ViewHandle};
use crate::tail::DurableTail;

/// Feeds a [`ReadModel`] from the durable records of a journal on this machine
/// (one an engine writes, live), from the model's checkpoint on.
///
/// The engine's own projections see each event once it is journaled; this one
/// sees it once it is durable, on its own task, so a slow database never holds
/// the engine back, and its position lives with its data.
///
/// # Examples
///
/// ```no_run
/// use seqlane::EventDecoder;
/// use seqlane_export::{LocalProjection, Snapshotted};
/// # struct Total(u64);
/// # impl seqlane::Projection<u64> for Total {
/// #     type View = u64;
/// #     fn apply(&mut self, n: &u64, _: u64) { self.0 += n }
/// #     fn view(&self) -> u64 { self.0 }
/// # }
///
/// # async fn example() -> Result<(), Box<dyn std::error::Error>> {
/// let model = Snapshotted::new(Total(0), "total.checkpoint");
/// let mut local = LocalProjection::new("data/journal", model, EventDecoder::<u64>::new());
/// let views = local.handle();
/// tokio::spawn(async move { local.run(std::future::pending()).await });
/// views.wait_for(41, std::time::Duration::from_secs(1)).await?;
/// # Ok(())
/// # }
/// ```
pub struct LocalProjection<E, M: ReadModel<E>, C = Postcard> {
    dir: PathBuf,
    poll: Duration,
    follower: Follower<E, M, C>,
}

impl<E, M, C> LocalProjection<E, M, C>
where
    E: Send,
    M: ReadModel<E>,
    C: Codec<E> + Send,
{
    /// A projection of the journal in `dir` into `model`, decoding with `decoder`
    /// (configured as the engine).
    pub fn new(dir: impl AsRef<Path>, model: M, decoder: EventDecoder<E, C>) -> Self {
        let dir = dir.as_ref().to_owned();
        LocalProjection {
            follower: Follower::new(dir.display().to_string(), model, decoder),
            dir,
            poll: Duration::from_millis(1),
        }
    }

    /// Applies at most `commands` commands per batch (default 1024; a batch also
    /// ends whenever the durable records run out).
    pub fn batch(mut self, commands: usize) -> Self {
        self.follower.batch_limit = commands.max(1);
        self
    }

    /// How long to wait before looking again once the durable records run out
    /// (default 1 ms).
    pub fn poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
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

    /// Follows the journal until `stop` completes; then applies the whole
    /// commands read and settles the model.
    ///
    /// # Errors
    ///
    /// Journal errors (a retired start, a corrupt record); the model's errors;
    /// [`ExportError::ForeignStream`](crate::ExportError::ForeignStream) when the
    /// checkpoint is another journal's; [`ExportError::Decode`](crate::ExportError::Decode).
    pub async fn run(&mut self, stop: impl Future<Output = ()>) -> Result<()> {
        let mut stop = std::pin::pin!(stop);
        self.follower.start().await?;
        let mut tail = DurableTail::open(&self.dir, self.follower.at.journal)?;
        let identity = tail.identity().to_owned();
        loop {
            match tail.next_record()? {
                Some(record) => {
                    let full = self.follower.take(
                        &identity,
                        record.sequence,
                        record.tag,
                        record.payload,
                        0,
                    )?;
                    if full {
                        self.follower.flush().await?;
                    }
                }
                None => {
                    self.follower.flush().await?;
                    tokio::select! {
                        () = stop.as_mut() => return self.follower.settle().await,
                        () = tokio::time::sleep(self.poll) => {}
                    }
                }
            }
        }
    }
}
