//! What every thread of one engine shares: the progress lines receipts wait on,
//! the outcome tickets, the counters, the snapshot coordinator, and the first
//! failure. The engine's parts import it from here, never from the engine's root.

use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc as StdArc;
use std::time::Duration;

use seqlane_journal::JournalError;

use crate::engine::domain::Aggregate;
use crate::engine::error::StopCause;
use crate::engine::health::{Health, ProjectionHealth};
use crate::engine::metrics::{Metrics, ProjectionMetrics};
use crate::engine::model::Model;
use crate::engine::outcome::Decided;
use crate::engine::progress::{Line, Progress, ProjectionId, Tickets};
use crate::engine::snapshot::Retention;
use crate::engine::{health, metrics, snapshot};
use crate::sync::{lock, AtomicBool, Mutex};

/// Why the engine stopped early, as recorded by the thread that found out.
#[derive(Debug)]
pub(crate) enum Failure {
    ApplyPanicked { command: i64, message: String },
    Journal(JournalError),
    JournalStopped(String),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::ApplyPanicked { command, message } => write!(
                f,
                "apply panicked on command {command} ({message}); the engine stopped"
            ),
            Failure::Journal(error) => write!(f, "the journal failed: {error}"),
            Failure::JournalStopped(reason) => write!(f, "the journaler stopped: {reason}"),
        }
    }
}

/// What every thread of one engine shares.
pub(crate) struct EngineShared<A: Aggregate> {
    pub(crate) progress: Progress,
    pub(crate) tickets: Tickets<Decided<A>>,
    pub(crate) metrics: metrics::Counters,
    /// Set by shutdown: gateways refuse new commands.
    pub(crate) closed: AtomicBool,
    /// The first failure, if any.
    pub(crate) failure: Mutex<Option<Failure>>,
    /// Per projection, its failure once it stopped.
    pub(crate) projection_failures: Mutex<Vec<Option<health::ProjectionFailure>>>,
    /// The logic hands the state back here when its thread ends.
    pub(crate) final_model: Mutex<Option<Model<A>>>,
    /// The journal sequence of output slot 0.
    pub(crate) record_base: u64,
    pub(crate) projections: Vec<StdArc<str>>,
    /// The journal's directory (snapshots live in it).
    pub(crate) dir: PathBuf,
    pub(crate) snapshots: snapshot::Coordinator,
    /// Take a snapshot after this many events.
    pub(crate) snapshot_every: Option<u64>,
    /// Snapshots kept, newest first.
    pub(crate) keep_snapshots: usize,
    /// What happens to segments no kept snapshot needs.
    pub(crate) retention: Retention,
}

impl<A: Aggregate> EngineShared<A> {
    /// Records `failure` unless an earlier one was recorded.
    pub(crate) fn fail(&self, failure: Failure) {
        lock(&self.failure).get_or_insert(failure);
    }

    /// Projection `id` stopped on `failure`: recorded for `Engine::health`, in the
    /// quarantine list, and answered to its waits. Nothing else stops.
    pub(crate) fn projection_failed(&self, id: ProjectionId, failure: health::ProjectionFailure) {
        let _ = health::record(&self.dir, self.projection_name(id), &failure);
        lock(&self.projection_failures)[id.0] = Some(failure);
        self.progress.finish(Line::Projection(id));
    }

    /// Why `line` stopped short.
    pub(crate) fn stop_cause(&self, line: Line) -> StopCause {
        if let Line::Projection(id) = line {
            if let Some(failure) = lock(&self.projection_failures)[id.0].clone() {
                return StopCause::ProjectionFailed {
                    projection: self.projection_name(id).to_owned(),
                    record: failure.sequence,
                    message: failure.message,
                };
            }
        }
        match &*lock(&self.failure) {
            Some(Failure::ApplyPanicked { command, message }) => StopCause::ApplyPanicked {
                command: *command,
                message: message.clone(),
            },
            Some(Failure::Journal(error)) => StopCause::Journal(error.to_string()),
            Some(Failure::JournalStopped(reason)) => StopCause::Journal(reason.clone()),
            None => StopCause::ShutDown,
        }
    }

    pub(crate) fn projection_count(&self) -> usize {
        self.projections.len()
    }

    pub(crate) fn projection_name(&self, id: ProjectionId) -> &str {
        &self.projections[id.0]
    }

    /// Projection `id`'s line.
    ///
    /// # Panics
    ///
    /// If `id` is not a projection of this engine.
    pub(crate) fn projection_line(&self, id: ProjectionId) -> Line {
        assert!(
            id.0 < self.projections.len(),
            "{id:?} is not a projection of this engine"
        );
        Line::Projection(id)
    }

    /// What `Engine::health` answers.
    pub(crate) fn health(&self) -> Health {
        let failures = lock(&self.projection_failures);
        Health {
            projections: self
                .projections
                .iter()
                .zip(failures.iter())
                .map(|(name, failed)| ProjectionHealth {
                    name: name.to_string(),
                    failed: failed.clone(),
                })
                .collect(),
        }
    }

    /// What `Engine::metrics` answers, with the input ring's claims and capacity.
    pub(crate) fn metrics(&self, claimed: i64, input_capacity: usize) -> Metrics {
        let logic = &self.metrics.logic;
        let journal = &self.metrics.journal;
        let processed = self.progress.processed();
        let journaled = self.record_base + journal.records.get();
        Metrics {
            accepted: logic.accepted.get(),
            rejected: logic.rejected.get(),
            duplicates: logic.duplicates.get(),
            events: logic.events.get(),
            input_occupancy: (claimed - processed).max(0) as u64,
            input_capacity,
            logic_batches: logic.batches.get(),
            logic_commands: logic.commands.get(),
            largest_logic_batch: logic.largest_batch.get(),
            journal_batches: journal.batches.get(),
            journal_records: journal.records.get(),
            journal_bytes: journal.bytes.get(),
            journal_syncs: journal.syncs.get(),
            journal_sync_time: Duration::from_nanos(journal.sync_nanos.get()),
            last_journal_sync: Duration::from_nanos(journal.last_sync_nanos.get()),
            longest_journal_sync: Duration::from_nanos(journal.longest_sync_nanos.get()),
            durable_end: self.progress.records(Line::Journal),
            held_outcomes: self.tickets.spilled(),
            waiting_tasks: self.progress.parked_tasks(),
            snapshots: self.snapshots.written.load(Ordering::Relaxed),
            last_snapshot: self.snapshots.last_written.load(Ordering::Relaxed),
            projections: self
                .projections
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let position = self.progress.records(Line::Projection(ProjectionId(i)));
                    ProjectionMetrics {
                        name: name.to_string(),
                        position,
                        lag: journaled.saturating_sub(position),
                    }
                })
                .collect(),
        }
    }
}
