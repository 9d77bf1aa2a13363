//! Projection stages: consumers of the output ring, after the journaler, each
//! applying events to its projection and publishing the read model after every
//! batch. Several projections may share one stage (one thread) on a machine with
//! few cores.

use std::collections::HashSet;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc as StdArc;

use crate::engine::domain::{Aggregate, Projection};
use crate::engine::health::ProjectionFailure;
use crate::engine::metadata::Metadata;
use crate::engine::progress::{Line, ProjectionId};
use crate::engine::publish::Publication;
use crate::engine::shared::EngineShared;
use crate::engine::slots::Entry;
use crate::engine::snapshot::versioned;
use crate::stage::{panic_message, EventHandler};
use crate::sync::Arc;

/// A projection behind a uniform face, so one stage can run several.
pub(crate) trait Runner<E>: Send {
    fn apply(&mut self, event: &E, sequence: u64, metadata: Option<&Metadata>);
    /// Publishes the read model as it stands.
    fn publish(&mut self);
    /// The projection's id in its engine.
    fn id(&self) -> ProjectionId;
    /// Its state for a snapshot, if it can be saved.
    fn snapshot(&self) -> Option<Vec<u8>>;
    /// The version of that state's encoding (`Projection::SNAPSHOT_VERSION`).
    fn snapshot_version(&self) -> u32;
    /// Restores it from a snapshot taken at `position`; replay then starts there.
    fn restore(&mut self, bytes: &[u8], position: u64) -> Result<(), String>;
    /// Replay applies records from here on.
    fn start(&self) -> u64;
    /// Whether it skips the record at `sequence` (quarantined, restarted with
    /// `ProjectionRestart::Skip`).
    fn skips(&self, sequence: u64) -> bool;
    /// Records to skip.
    fn skip(&mut self, sequences: HashSet<u64>);
    /// Its failure, once it stopped.
    fn failure(&self) -> Option<&ProjectionFailure>;
    /// Stops it: it applies and publishes nothing more.
    fn fail(&mut self, failure: ProjectionFailure);
}

/// A projection with its read model, behind the face every projection stage runs.
pub(crate) type BoxedRunner<E> = Box<dyn Runner<E>>;

pub(crate) struct Running<P: Projection<E>, E> {
    projection: P,
    read_model: Arc<Publication<P::View>>,
    id: ProjectionId,
    start: u64,
    skipped: HashSet<u64>,
    failed: Option<ProjectionFailure>,
    _events: std::marker::PhantomData<fn(&E)>,
}

impl<P: Projection<E>, E> Running<P, E> {
    pub(crate) fn new(
        projection: P,
        read_model: Arc<Publication<P::View>>,
        id: ProjectionId,
    ) -> Self {
        Self {
            projection,
            read_model,
            id,
            start: 0,
            skipped: HashSet::new(),
            failed: None,
            _events: std::marker::PhantomData,
        }
    }
}

impl<P: Projection<E>, E: 'static> Runner<E> for Running<P, E> {
    fn apply(&mut self, event: &E, sequence: u64, metadata: Option<&Metadata>) {
        self.projection
            .apply_with_metadata(event, sequence, metadata);
    }

    fn publish(&mut self) {
        let view = StdArc::new(self.projection.view());
        // SAFETY: this runner is the read model's only publisher (the engine gives
        // each publication to one runner, which runs on one thread at a time).
        unsafe { self.read_model.publish(view) };
    }

    fn id(&self) -> ProjectionId {
        self.id
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        self.projection.snapshot()
    }

    fn snapshot_version(&self) -> u32 {
        P::SNAPSHOT_VERSION
    }

    fn restore(&mut self, bytes: &[u8], position: u64) -> Result<(), String> {
        self.projection.restore(bytes)?;
        self.start = position;
        Ok(())
    }

    fn start(&self) -> u64 {
        self.start
    }

    fn skips(&self, sequence: u64) -> bool {
        self.skipped.contains(&sequence)
    }

    fn skip(&mut self, sequences: HashSet<u64>) {
        self.skipped = sequences;
    }

    fn failure(&self) -> Option<&ProjectionFailure> {
        self.failed.as_ref()
    }

    fn fail(&mut self, failure: ProjectionFailure) {
        self.failed = Some(failure);
    }
}

/// The stage: its projections, and the engine whose lines it advances.
pub(crate) struct ProjectionStage<A: Aggregate> {
    runners: Vec<Box<dyn Runner<A::Event>>>,
    engine: Arc<EngineShared<A>>,
    /// Whether any of its projections failed: until one does, the per-event path
    /// asks none of them.
    any_failed: bool,
}

impl<A: Aggregate> ProjectionStage<A> {
    pub(crate) fn new(
        runners: Vec<Box<dyn Runner<A::Event>>>,
        engine: Arc<EngineShared<A>>,
    ) -> Self {
        let any_failed = runners.iter().any(|runner| runner.failure().is_some());
        Self {
            runners,
            engine,
            any_failed,
        }
    }
}

impl<A: Aggregate> EventHandler<Entry<A::Event>> for ProjectionStage<A> {
    fn on_event(&mut self, entry: &Entry<A::Event>, sequence: i64, end_of_batch: bool) {
        let record = self.engine.record_base + sequence as u64;
        if let Some(event) = &entry.event {
            let metadata = entry.metadata.as_deref();
            for runner in &mut self.runners {
                if self.any_failed && runner.failure().is_some() {
                    continue;
                }
                let applied =
                    catch_unwind(AssertUnwindSafe(|| runner.apply(event, record, metadata)));
                if let Err(payload) = applied {
                    // Only this projection stops: the journal, the logic and the
                    // other projections go on.
                    let failure = ProjectionFailure {
                        sequence: record,
                        message: panic_message(payload.as_ref()),
                    };
                    self.engine.projection_failed(runner.id(), failure.clone());
                    runner.fail(failure);
                    self.any_failed = true;
                }
            }
        }
        if end_of_batch {
            for runner in &mut self.runners {
                if self.any_failed && runner.failure().is_some() {
                    continue;
                }
                runner.publish();
                // The read model is published before the line moves, so a receipt
                // waiting for `Visible` finds its events in it.
                self.engine
                    .progress
                    .advance_records(Line::Projection(runner.id()), record + 1);
            }
            self.contribute_to_snapshot();
        }
    }

    /// A pending snapshot owes a part that a projection here can give now (or can
    /// never give, having failed).
    fn has_work(&self) -> bool {
        self.runners
            .iter()
            .any(|runner| self.owes_part(runner.as_ref()).is_some())
    }

    fn on_wake(&mut self) {
        self.contribute_to_snapshot();
    }
}

impl<A: Aggregate> ProjectionStage<A> {
    /// Where `runner` stands if a pending snapshot owes its part now: its position,
    /// or `u64::MAX` for a failed projection, which can never give it.
    fn owes_part(&self, runner: &dyn Runner<A::Event>) -> Option<u64> {
        let id = runner.id();
        let position = match runner.failure() {
            Some(_) => u64::MAX,
            None => self.engine.progress.records(Line::Projection(id)),
        };
        self.engine
            .snapshots
            .owed_by(id, position)
            .then_some(position)
    }

    /// Adds each projection's part to a pending snapshot it has reached.
    fn contribute_to_snapshot(&mut self) {
        let snapshots = &self.engine.snapshots;
        for runner in &self.runners {
            let Some(position) = self.owes_part(runner.as_ref()) else {
                continue;
            };
            let id = runner.id();
            let name = self.engine.projection_name(id).to_string();
            if let Some(failure) = runner.failure() {
                // It will never reach the snapshot: give it up now.
                snapshots.abandon(format!(
                    "projection `{name}` failed at record {}: {}",
                    failure.sequence, failure.message
                ));
                continue;
            }
            match runner.snapshot() {
                Some(bytes) => snapshots.contribute(
                    id,
                    (name, position, versioned(runner.snapshot_version(), bytes)),
                ),
                None => snapshots.abandon(format!(
                    "projection `{name}` does not support snapshots (Projection::snapshot)"
                )),
            }
        }
    }
}

impl<A: Aggregate> Drop for ProjectionStage<A> {
    fn drop(&mut self) {
        for runner in &self.runners {
            self.engine.progress.finish(Line::Projection(runner.id()));
        }
    }
}

/// A projection's read model: query it from any thread, as often as you like.
/// [`get`](ReadModel::get) returns the view published after the projection's last
/// batch, whole (never half-updated), without blocking the projection. Cloning the
/// handle is cheap.
pub struct ReadModel<V> {
    pub(crate) publication: Arc<Publication<V>>,
    pub(crate) id: ProjectionId,
    pub(crate) name: StdArc<str>,
}

impl<V> ReadModel<V> {
    /// The current view.
    pub fn get(&self) -> StdArc<V> {
        self.publication.load()
    }

    /// The projection's id, for [`Until::Visible`](crate::Until::Visible).
    pub fn id(&self) -> ProjectionId {
        self.id
    }

    /// The projection's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl<V> Clone for ReadModel<V> {
    fn clone(&self) -> Self {
        Self {
            publication: Arc::clone(&self.publication),
            id: self.id,
            name: StdArc::clone(&self.name),
        }
    }
}

impl<V> fmt::Debug for ReadModel<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadModel")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish()
    }
}
