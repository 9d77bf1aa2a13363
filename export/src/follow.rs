//! Read models fed from a journal's records, from their own checkpoint on: each
//! record decoded as the engine decodes its journal, whole commands applied in
//! batches, and the journal sequence applied so far published for read-your-writes
//! waits. The records come from an exported stream ([`RemoteProjection`]) or from
//! the journal's directory ([`LocalProjection`]).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use seqlane::{Committed, EventDecoder};
use seqlane_journal::Codec;
use tokio::sync::watch;

use crate::error::{ExportError, Result};
#[cfg(doc)]
use crate::{LocalProjection, RemoteProjection};

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

/// The part of a projection that does not depend on where the records come
/// from: the decoder, the batch, the model and what was published.
pub(crate) struct Follower<E, M: ReadModel<E>, C> {
    /// Names the source in errors: the stream, or the journal's directory.
    pub(crate) source: String,
    model: M,
    decoder: EventDecoder<E, C>,
    pub(crate) batch_limit: usize,
    batch: Vec<Committed<E>>,
    published: watch::Sender<Applied<M::View>>,
    /// The position after the last record taken; its identity is empty until a
    /// checkpoint or a first record names the journal.
    pub(crate) at: Checkpoint,
    /// The position after the last batch applied: always between commands.
    applied: Checkpoint,
}

impl<E, M, C> Follower<E, M, C>
where
    E: Send,
    M: ReadModel<E>,
    C: Codec<E> + Send,
{
    pub(crate) fn new(source: String, model: M, decoder: EventDecoder<E, C>) -> Self {
        let view = Arc::new(model.view());
        let (published, _) = watch::channel(Applied { journal: 0, view });
        let start = Checkpoint {
            identity: String::new(),
            journal: 0,
            stream: 1,
        };
        Follower {
            source,
            model,
            decoder,
            batch_limit: 1024,
            batch: Vec::new(),
            published,
            at: start.clone(),
            applied: start,
        }
    }

    pub(crate) fn handle(&self) -> ViewHandle<M::View> {
        ViewHandle(self.published.subscribe())
    }

    pub(crate) fn model(&self) -> &M {
        &self.model
    }

    /// Loads the model's checkpoint and publishes its view; forgets whatever a
    /// run that failed had read past it.
    pub(crate) async fn start(&mut self) -> Result<()> {
        self.decoder.reset();
        self.batch.clear();
        if let Some(checkpoint) = self.model.load().await? {
            self.applied = checkpoint;
        }
        self.at = self.applied.clone();
        self.publish();
        Ok(())
    }

    /// Takes one record of journal `identity`, carried at `stream` (the stream
    /// sequence, or 0 without a stream); says whether the batch is full (then
    /// [`flush`](Self::flush)).
    pub(crate) fn take(
        &mut self,
        identity: &str,
        sequence: u64,
        tag: u32,
        payload: &[u8],
        stream: u64,
    ) -> Result<bool> {
        if self.at.identity.is_empty() {
            (self.at.identity, self.at.journal) = (identity.to_owned(), sequence);
        }
        if identity != self.at.identity {
            return Err(ExportError::ForeignStream {
                stream: self.source.clone(),
                identity: self.at.identity.clone(),
                found: crate::message::message_id(identity, sequence),
            });
        }
        if sequence < self.at.journal {
            return Ok(false); // applied before the stream was rolled back and refilled
        }
        if sequence > self.at.journal {
            return Err(ExportError::StreamGap {
                stream: self.source.clone(),
                expected: self.at.journal,
                found: sequence,
            });
        }
        let committed = self
            .decoder
            .push(sequence, tag, payload)
            .map_err(|cause| ExportError::Decode { sequence, cause })?;
        self.batch.extend(committed);
        (self.at.journal, self.at.stream) = (sequence + 1, stream + 1);
        Ok(self.batch.len() >= self.batch_limit)
    }

    /// Applies the batch if the decoder stands between commands, and publishes.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        if !self.decoder.between_commands() {
            return Ok(());
        }
        if !self.batch.is_empty() {
            self.model.apply(&self.batch, &self.at).await?;
            self.batch.clear();
        }
        if self.applied != self.at {
            self.applied = self.at.clone();
            self.publish();
        }
        Ok(())
    }

    /// Applies what can be applied and settles the model at the last command
    /// boundary: a command read in part is read again after a restart.
    pub(crate) async fn settle(&mut self) -> Result<()> {
        self.flush().await?;
        let applied = self.applied.clone();
        self.model.settle(&applied).await
    }

    fn publish(&self) {
        let view = Arc::new(self.model.view());
        let journal = self.applied.journal;
        self.published.send_replace(Applied { journal, view });
    }
}
