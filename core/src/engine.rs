//! The engine: commands in from any thread, one business-logic thread deciding and
//! applying them, every event journaled before projections see it, read models any
//! thread can query, and receipts that wait as long as the caller needs.
//!
//! The flow, drawn: the crate's front page.
//!
//! - [`Aggregate`] is the user's state with `decide` and `apply`; [`Projection`]s
//!   keep read models from the journaled events.
//! - [`EngineBuilder`] opens (and recovers) the journal, replays it through `apply`
//!   and every projection, then starts the threads and opens the [`Gateway`].
//! - [`Engine::shutdown`] (or dropping the engine) drains: every accepted command is
//!   processed, journaled and projected before the threads join.

mod builder;
mod config;
mod decoder;
mod domain;
mod error;
mod gateway;
mod health;
mod inline;
mod journaler;
mod logic;
mod metadata;
mod metrics;
pub mod middleware;
mod model;
mod outcome;
mod progress;
mod projection;
mod publish;
mod receipt;
mod record;
mod replay;
mod schema;
mod shared;
mod slots;
pub(crate) mod snapshot;
mod start;
mod syncer;
#[cfg(feature = "metrics")]
mod telemetry;
pub mod testkit;
mod topology;

use std::fmt;
use std::sync::atomic::Ordering;

pub use builder::EngineBuilder;
pub use decoder::{Committed, EventDecoder};
pub use domain::{Aggregate, Command, CommandId, Projection};
pub use error::{EngineError, StopCause, SubmitError, TrySubmitError, WaitError};
pub use gateway::{Gateway, SubmitFuture};
pub use health::{Health, ProjectionFailure, ProjectionHealth, ProjectionRestart};
pub use metadata::Metadata;
pub use metrics::{Metrics, ProjectionMetrics};
pub use outcome::{Accepted, Outcome, Rejection};
pub use progress::ProjectionId;
pub use projection::ReadModel;
pub use receipt::{ReachFuture, Receipt, ReceiptFuture, Until, WaitFuture};
pub use record::{RecordKind, RecordView};
pub use schema::{EventSchema, ReplayCause};
pub use snapshot::Retention;
pub use start::Recovery;
pub use topology::Topology;

use seqlane_journal::Codec;

use crate::error::RingError;
use crate::stage::Pinning;
use crate::sync::{lock, Arc};
use crate::Ring;
use progress::Line;
use shared::{EngineShared, Failure};
use slots::{Entry, Submission};
use snapshot::Refused;

/// An engine's rings: input, and output under [`Topology::ThreadPerStage`].
type Rings<A> = (
    Ring<Submission<<A as Aggregate>::Command>>,
    Option<Ring<Entry<<A as Aggregate>::Event>>>,
);

/// What [`Engine::shutdown`] hands back.
#[derive(Debug)]
#[non_exhaustive]
pub struct Stopped<A> {
    /// The final state.
    pub state: A,
    /// The final version: events applied since the journal began.
    pub version: u64,
}

impl<A: Aggregate, C: Codec<A::Event> + Send + 'static> EngineBuilder<A, C> {
    /// Opens the journal (recovering it), replays it into the state and the
    /// projections, starts the threads and opens the gateway.
    ///
    /// # Errors
    ///
    /// [`EngineError::Journal`] when the journal cannot be opened (locked by another
    /// process, damaged in the middle, unreadable); [`EngineError::Replay`] when a
    /// record is not one of this engine's; [`EngineError::Retired`];
    /// [`EngineError::Spawn`].
    ///
    /// # Panics
    ///
    /// If a ring capacity is not a power of two.
    pub fn start(self) -> Result<Engine<A>, EngineError> {
        let started = start::start(self.config, self.codec)?;
        Ok(Engine {
            engine: started.engine,
            gateway: started.gateway,
            rings: Some((started.input, started.output)),
            topology: started.topology,
            recovery: started.recovery,
        })
    }
}

/// A running engine. Submit through its [`Gateway`]s; stop it with
/// [`shutdown`](Engine::shutdown), which drains (dropping it does the same, but can
/// only print a failure to stderr).
pub struct Engine<A: Aggregate> {
    engine: Arc<EngineShared<A>>,
    gateway: Gateway<A>,
    /// The input ring and, under [`Topology::ThreadPerStage`], the output ring;
    /// `None` once stopped.
    rings: Option<Rings<A>>,
    topology: Topology,
    recovery: Recovery,
}

impl<A: Aggregate> Engine<A> {
    /// A gateway to submit commands from any thread (clone it freely).
    pub fn gateway(&self) -> Gateway<A> {
        self.gateway.clone()
    }

    /// What the start recovered and replayed, and how long it took.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// Which projections are applying events and which stopped, on which record
    /// and why. A projection that panics stops alone: the journal, the business
    /// logic and the other projections go on, and its `Visible` waits answer
    /// [`WaitError::Stopped`] naming it. Its failures are also listed in
    /// `DIR/quarantine`; see [`ProjectionRestart`] for what a restart does.
    pub fn health(&self) -> Health {
        self.engine.health()
    }

    /// Which threads run the stages: what the builder's
    /// [`topology`](EngineBuilder::topology) chose (never [`Topology::Auto`]).
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// Whether the business-logic thread got the core it asked for.
    pub fn logic_pinning(&self) -> Pinning {
        self.rings
            .as_ref()
            .and_then(|(input, _)| input.stages().first().map(|stage| stage.pinning))
            .unwrap_or(Pinning::NotRequested)
    }

    /// The engine's counters now.
    pub fn metrics(&self) -> Metrics {
        self.gateway.metrics()
    }

    /// Takes a snapshot now (after every command submitted before this call) and
    /// waits until it is written; the journal segments it covers are retired.
    /// Returns the journal position it covers (every record below it).
    ///
    /// # Errors
    ///
    /// [`EngineError::Snapshot`] when the state or a projection does not support
    /// snapshots or the file could not be written; the engine goes on either way.
    /// (A snapshot requested while an automatic one is under way is taken after
    /// it.)
    pub fn snapshot(&self) -> Result<u64, EngineError> {
        let failed = |reason: String| EngineError::Snapshot { path: None, reason };
        loop {
            let request = {
                let mut slot = self
                    .gateway
                    .producer
                    .claim_shared()
                    .map_err(|_| failed("the engine is stopped".into()))?;
                *slot = Submission {
                    snapshot: true,
                    ..Submission::void()
                };
                slot.sequence()
            };
            // The journaler writes the snapshot: either one stopping leaves it unanswered.
            let stopped = || {
                self.engine.progress.is_finished(Line::Logic)
                    || self.engine.progress.is_finished(Line::Journal)
            };
            match self.engine.snapshots.wait_answer(request, stopped) {
                Some(Ok(records)) => return Ok(records),
                Some(Err(Refused::Failed(reason))) => return Err(failed(reason)),
                // An automatic snapshot was under way: ask again once it has ended.
                Some(Err(Refused::Busy)) => self.engine.snapshots.wait_ended(stopped),
                None => return Err(failed("the engine stopped".into())),
            }
        }
    }

    /// Stops accepting commands, drains (every accepted command is processed,
    /// journaled and projected), joins the threads and returns the final state.
    ///
    /// Gateways still held elsewhere refuse further commands with
    /// [`SubmitError::Closed`].
    ///
    /// # Errors
    ///
    /// How the engine failed, if it did ([`EngineError::ApplyPanicked`],
    /// [`EngineError::Journal`]...). A failed projection is no failure of the
    /// engine: see [`Engine::health`].
    pub fn shutdown(mut self) -> Result<Stopped<A>, EngineError> {
        self.stop()?;
        let model = lock(&self.engine.final_model)
            .take()
            .expect("the logic hands its model back when its thread ends");
        Ok(Stopped {
            state: model.state,
            version: model.version,
        })
    }

    fn stop(&mut self) -> Result<(), EngineError> {
        let Some((input, output)) = self.rings.take() else {
            return Ok(());
        };
        // SeqCst: the Dekker pair with the gateway's claim and check of `closed`:
        // a submitter either sees `closed` or claimed at most `last`.
        self.engine.closed.store(true, Ordering::SeqCst);
        let last = self.gateway.producer.last_claimed();
        // Every command claimed by now gets published (or voided) and processed,
        // unless the logic stopped on a failure.
        let _ = self.engine.progress.wait_processed(last, None);
        let input = input.halt();
        let output = output.map_or(Ok(()), Ring::join);
        let failure = lock(&self.engine.failure).take();
        match failure {
            None => {
                input.map_err(EngineError::Ring)?;
                output.map_err(EngineError::Ring)?;
                Ok(())
            }
            Some(Failure::ApplyPanicked { command, message }) => Err(EngineError::ApplyPanicked {
                command,
                message,
                unprocessed: input.err().map_or(0, |error| error.unprocessed),
            }),
            Some(Failure::Journal(error)) => Err(EngineError::Journal(error)),
            Some(Failure::JournalStopped(reason)) => {
                Err(EngineError::Ring(output.err().unwrap_or(RingError {
                    panics: vec![crate::StagePanic {
                        stage: "seqlane-journal".into(),
                        message: reason,
                    }],
                    unprocessed: 0,
                })))
            }
        }
    }
}

impl<A: Aggregate> Drop for Engine<A> {
    fn drop(&mut self) {
        if let Err(error) = self.stop() {
            eprintln!("seqlane: the engine stopped with an error: {error}");
        }
    }
}

impl<A: Aggregate> fmt::Debug for Engine<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("recovery", &self.recovery)
            .field("metrics", &self.metrics())
            .finish()
    }
}
