//! The engine: commands in from any thread, one business-logic thread deciding and
//! applying them, every event journaled before projections see it, read models any
//! thread can query, and receipts that wait as long as the caller needs.
//!
//! ```text
//!  Gateway::submit ─► input ring ─► logic: decide, apply ─► output ring ─► journaler ─► projections
//!  (any thread)       (multi-producer)  (one thread, pinnable)      (append, sync)    (read models)
//!        Receipt::wait(Until::Processed | Durable | Visible(projection))
//! ```
//!
//! - [`Aggregate`] is the user's state with `decide` and `apply`; [`Projection`]s
//!   keep read models from the journaled events.
//! - [`EngineBuilder`] opens (and recovers) the journal, replays it through `apply`
//!   and every projection, then starts the threads and opens the [`Gateway`].
//! - [`Engine::shutdown`] (or dropping the engine) drains: every accepted command is
//!   processed, journaled and projected before the threads join.

mod domain;
mod health;
mod journaler;
mod logic;
mod metrics;
mod progress;
mod projection;
mod publish;
mod receipt;
mod record;
mod replay;
mod schema;
mod snapshot;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use seqlane_journal::{Codec, Journal, JournalError, JournalOptions, Postcard, TornTail};

pub use domain::{Aggregate, Command, CommandId, Projection};
pub use health::{Health, ProjectionFailure, ProjectionHealth, ProjectionRestart};
pub use metrics::{Metrics, ProjectionMetrics};
pub use projection::ReadModel;
pub use receipt::{Accepted, Outcome, Receipt, Rejection, Until, WaitError};
pub use schema::EventSchema;

use crate::error::{RingError, TryClaimError};
use crate::stage::{Pinning, Stage};
use crate::sync::{lock, Arc, AtomicBool, Mutex};
use crate::{MultiProducer, Ring, RingBuilder, WaitStrategy};
use logic::{Entry, Logic, Model, Submission};
use progress::{Progress, Tickets};
use projection::{ProjectionStage, Runner, Running};
use publish::Publication;

/// A projection with its read model, behind the face every projection stage runs.
type BoxedRunner<A> = Box<dyn Runner<<A as Aggregate>::Event>>;

/// The business logic's line: input sequences below it are processed.
pub(crate) const LOGIC: usize = 0;
/// The journal's line: records below it are durable.
pub(crate) const JOURNAL: usize = 1;
/// Projection `i`'s line is `PROJECTIONS + i`: records below it are applied.
pub(crate) const PROJECTIONS: usize = 2;

/// How often an idle journaler or projection looks for snapshot work (a snapshot
/// can be posted while they wait for events).
pub(crate) const SNAPSHOT_CHECK: Duration = Duration::from_millis(5);

/// Names a projection of one engine, for [`Until::Visible`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProjectionId(usize);

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
    pub(crate) tickets: Tickets<receipt::Decided<A>>,
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
    projections: Vec<StdArc<str>>,
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

    /// Why line `index` stopped short.
    /// Projection `line` stopped on `failure`: recorded for `Engine::health`, in
    /// the quarantine list, and answered to its waits. Nothing else stops.
    pub(crate) fn projection_failed(&self, line: usize, failure: health::ProjectionFailure) {
        let _ = health::record(&self.dir, self.projection_name(line), &failure);
        lock(&self.projection_failures)[line - PROJECTIONS] = Some(failure);
        self.progress.finish(line);
    }

    pub(crate) fn stop_reason(&self, index: usize) -> String {
        if let Some(Some(failure)) = index
            .checked_sub(PROJECTIONS)
            .and_then(|p| lock(&self.projection_failures).get(p).cloned())
        {
            return format!(
                "projection `{}` failed at journal record {}: {}",
                self.projection_name(index),
                failure.sequence,
                failure.message
            );
        }
        match &*lock(&self.failure) {
            Some(failure) => failure.to_string(),
            None if index == LOGIC => "the engine shut down".into(),
            None => "the engine stopped".into(),
        }
    }

    pub(crate) fn projection_count(&self) -> usize {
        self.projections.len()
    }

    pub(crate) fn projection_name(&self, line: usize) -> &str {
        &self.projections[line - PROJECTIONS]
    }

    pub(crate) fn projection_line(&self, id: ProjectionId) -> usize {
        assert!(
            id.0 < self.projections.len(),
            "{id:?} is not a projection of this engine"
        );
        PROJECTIONS + id.0
    }
}

/// What happens to the journal's events once snapshots cover them. Snapshots are
/// a cache of the journal: by default nothing is deleted, and a retirement never
/// reaches past the oldest snapshot kept ([`EngineBuilder::keep_snapshots`]), so
/// a damaged newest snapshot can fall back to the one before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retention {
    /// Keep every event: the whole history stays replayable (a projection added
    /// later is rebuilt from it).
    #[default]
    KeepAll,
    /// Move the segments that every kept snapshot covers into this directory
    /// (created if missing), out of the journal's reach.
    Archive(PathBuf),
    /// Delete the segments that every kept snapshot covers.
    DeleteBefore,
}

/// Why an engine could not start, or stopped badly.
#[derive(Debug)]
#[non_exhaustive]
pub enum EngineError {
    /// Opening, recovering, appending to or syncing the journal failed (the error
    /// names the file and operation). After a failed append or sync the engine
    /// stopped; restart it to recover from what reached the disk.
    Journal(JournalError),
    /// A journaled record could not be replayed: it was not written by an engine,
    /// or its event was written by a schema (type name, version, fingerprint) that
    /// the running code does not read and no upcaster converts; the reason names
    /// both.
    Replay {
        /// The record's journal sequence.
        sequence: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The journal's first records were retired (by a [`Retention`] policy, or by
    /// hand), and something must replay records from before them: the state (no
    /// usable snapshot) or a projection the snapshot has no part for (added since):
    /// replaying what is left would rebuild a wrong state. Restore the archived
    /// segments, or start with the projection's part in a snapshot.
    Retired {
        /// The first record still held.
        first: u64,
        /// The first record that is needed.
        needed: u64,
        /// What needs it.
        by: String,
    },
    /// `apply` panicked (the state may be half-changed): the engine stopped without
    /// journaling that command's events or processing later commands.
    ApplyPanicked {
        /// The command's input sequence ([`Receipt::sequence`]).
        command: i64,
        /// The panic message.
        message: String,
        /// Commands submitted and not processed (the failing one included).
        unprocessed: u64,
    },
    /// A snapshot could not be taken, or a snapshot file could not be used.
    Snapshot {
        /// The file, when one was involved.
        path: Option<PathBuf>,
        /// What went wrong.
        reason: String,
    },
    /// An engine thread could not be started.
    Spawn(io::Error),
    /// An engine stage failed in a way not covered above.
    Ring(RingError),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Journal(error) => write!(f, "journal: {error}"),
            EngineError::Replay { sequence, reason } => {
                write!(f, "cannot replay journal record {sequence}: {reason}")
            }
            EngineError::Retired { first, needed, by } => write!(
                f,
                "{by} must replay from journal record {needed}, but the journal starts at \
                 record {first}: the records before it were retired"
            ),
            EngineError::ApplyPanicked {
                command,
                message,
                unprocessed,
            } => write!(
                f,
                "apply panicked on command {command}: {message}; the engine stopped with \
                 {unprocessed} submitted commands unprocessed (that one included)"
            ),
            EngineError::Snapshot {
                path: Some(path),
                reason,
            } => {
                write!(f, "snapshot {}: {reason}", path.display())
            }
            EngineError::Snapshot { path: None, reason } => write!(f, "snapshot: {reason}"),
            EngineError::Spawn(error) => write!(f, "cannot start an engine thread: {error}"),
            EngineError::Ring(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Journal(error) => Some(error),
            EngineError::Spawn(error) => Some(error),
            EngineError::Ring(error) => Some(error),
            _ => None,
        }
    }
}

impl From<JournalError> for EngineError {
    fn from(error: JournalError) -> Self {
        EngineError::Journal(error)
    }
}

/// What happened at start: the journal's recovery and the replay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Commands replayed (accepted commands found whole in the journal).
    pub commands: u64,
    /// Events replayed through `apply` and every projection.
    pub events: u64,
    /// Records of commands found incomplete (a crash cut their batch) and skipped.
    pub discarded_records: u64,
    /// The torn tail the journal cut off on open, if any.
    pub torn_tail: Option<TornTail>,
    /// The snapshot started from: every journal record below this was in it.
    pub snapshot: Option<u64>,
    /// Newer snapshot files that could not be used (damaged), each with the reason;
    /// an older one (or the whole journal) was used instead.
    pub skipped_snapshots: Vec<String>,
    /// From opening the journal to opening the gateway.
    pub duration: Duration,
}

/// What [`Engine::shutdown`] hands back.
#[derive(Debug)]
#[non_exhaustive]
pub struct Stopped<A> {
    /// The final state.
    pub state: A,
    /// The final version: events applied since the journal began.
    pub version: u64,
}

/// Builds an [`Engine`]: the journal directory, the initial state, projections, and
/// the knobs (ring sizes, sync policy, waiting, pinning).
///
/// # Examples
///
/// A counter, a projection that keeps the last value seen, and each way to wait:
///
/// ```
/// use seqlane::{Aggregate, EngineBuilder, Projection, Until};
///
/// #[derive(Default)]
/// struct Counter(u64);
///
/// impl Aggregate for Counter {
///     type Command = u64; // add this much
///     type Event = u64; // this much was added
///     type Rejection = &'static str;
///
///     fn decide(&self, add: &u64, events: &mut Vec<u64>) -> Result<(), &'static str> {
///         if *add == 0 {
///             return Err("adding nothing");
///         }
///         events.push(*add);
///         Ok(())
///     }
///
///     fn apply(&mut self, added: &u64) {
///         self.0 += added;
///     }
/// }
///
/// #[derive(Default)]
/// struct Total(u64);
///
/// impl Projection<u64> for Total {
///     type View = u64;
///     fn apply(&mut self, added: &u64, _sequence: u64) {
///         self.0 += added;
///     }
///     fn view(&self) -> u64 {
///         self.0
///     }
/// }
///
/// # if cfg!(miri) { return Ok(()); } // Miri cannot map files
/// let dir = tempfile::tempdir()?;
/// let mut builder = EngineBuilder::new(dir.path(), Counter::default());
/// let total = builder.add_projection("total", Total::default());
/// let engine = builder.start()?;
/// let gateway = engine.gateway();
///
/// gateway.send(5)?; // fire and forget
/// let added = gateway.submit(2)?.wait(Until::Visible(total.id()))?;
/// assert_eq!(added.map(|accepted| accepted.events), Ok(vec![2]));
/// assert_eq!(*total.get(), 7); // read your writes
/// assert!(gateway.submit(0)?.wait(Until::Durable)?.is_err());
///
/// let stopped = engine.shutdown()?; // drains
/// assert_eq!(stopped.state.0, 7);
///
/// // A restart replays the journal.
/// let engine = EngineBuilder::new(dir.path(), Counter::default()).start()?;
/// assert_eq!(engine.recovery().events, 2);
/// assert_eq!(engine.shutdown()?.state.0, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// Defaults suit a 2-core laptop: [`WaitStrategy::BACKOFF`] (spins briefly, then
/// sleeps), [`SyncPolicy::EveryBatch`](seqlane_journal::SyncPolicy::EveryBatch),
/// the business logic pinned only on machines with at least 4 cores, projections
/// sharing one thread below 4 cores.
pub struct EngineBuilder<A: Aggregate, C = Postcard> {
    dir: PathBuf,
    state: A,
    codec: C,
    journal: JournalOptions,
    input_capacity: usize,
    output_capacity: usize,
    wait: WaitStrategy,
    logic_core: Option<usize>,
    share_projection_thread: bool,
    snapshot_every: Option<u64>,
    keep_snapshots: usize,
    retention: Retention,
    restarts: Vec<(String, health::ProjectionRestart)>,
    projections: Vec<(StdArc<str>, BoxedRunner<A>)>,
    /// The declared name and version of the event type.
    event_schema: (String, u32),
    upcasters: Vec<schema::Upcaster<A::Event>>,
}

impl<A: Aggregate> EngineBuilder<A, Postcard> {
    /// An engine journaling to `dir` (created if missing), whose state starts as
    /// `initial` before the journal is replayed onto it. Events are encoded with
    /// [`Postcard`] unless [`codec`](Self::codec) says otherwise.
    pub fn new(dir: impl AsRef<Path>, initial: A) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            dir: dir.as_ref().to_path_buf(),
            state: initial,
            codec: Postcard,
            journal: JournalOptions::default(),
            input_capacity: 1 << 14,
            output_capacity: 1 << 14,
            wait: WaitStrategy::default(),
            logic_core: (cores >= 4).then(|| cores - 1),
            share_projection_thread: cores < 4,
            snapshot_every: None,
            keep_snapshots: 2,
            retention: Retention::KeepAll,
            restarts: Vec::new(),
            projections: Vec::new(),
            event_schema: (schema::short_type_name::<A::Event>(), 1),
            upcasters: Vec::new(),
        }
    }
}

impl<A: Aggregate, C> EngineBuilder<A, C> {
    /// Encodes events with `codec` instead.
    ///
    /// The business-logic thread encodes a command's events after `decide` and
    /// before `apply`: a command whose events the codec refuses, or that encode to
    /// more than a journal record holds, is rejected with
    /// [`Rejection::Unrecordable`](crate::Rejection::Unrecordable) and changes
    /// nothing; the engine goes on.
    pub fn codec<D: Codec<A::Event>>(self, codec: D) -> EngineBuilder<A, D> {
        EngineBuilder {
            dir: self.dir,
            state: self.state,
            codec,
            journal: self.journal,
            input_capacity: self.input_capacity,
            output_capacity: self.output_capacity,
            wait: self.wait,
            logic_core: self.logic_core,
            share_projection_thread: self.share_projection_thread,
            snapshot_every: self.snapshot_every,
            keep_snapshots: self.keep_snapshots,
            retention: self.retention,
            restarts: self.restarts,
            projections: self.projections,
            event_schema: self.event_schema,
            upcasters: self.upcasters,
        }
    }

    /// Declares the name and version of the event type (default: the type's name
    /// without its path, version 1). Every journaled event carries them, with the
    /// codec's fingerprint of the type ([`Codec::fingerprint`]); replay reads an
    /// event only as the schema that wrote it, or through an upcaster
    /// ([`upcast`](Self::upcast)), and otherwise refuses to start with an
    /// [`EngineError::Replay`] naming the record, what wrote it and what is running. Give the type a new version whenever its encoding
    /// changes, and register the old definition as an upcaster.
    pub fn event_schema(mut self, name: &str, version: u32) -> Self {
        self.event_schema = (name.to_owned(), version);
        self
    }

    /// Reads journaled events of an older schema: those written as `name` version
    /// `version` with the event type `Old` (its definition as it was then, kept in
    /// the code), encoded with [`Postcard`]; `convert` turns each into today's
    /// events (one, several for a split event, none for a dropped one). Works for a
    /// new version, a renamed type, or both.
    ///
    /// # Examples
    ///
    /// ```
    /// use seqlane::{Aggregate, EngineBuilder};
    ///
    /// mod v1 {
    ///     #[derive(Clone, serde::Serialize, serde::Deserialize)]
    ///     pub enum Event { Deposited(u64) }
    /// }
    /// #[derive(Clone, serde::Serialize, serde::Deserialize)]
    /// enum Event { Deposited { amount: u64, memo: String } }
    ///
    /// #[derive(Default)]
    /// struct Account(u64);
    /// impl Aggregate for Account {
    ///     type Command = u64;
    ///     type Event = Event;
    ///     type Rejection = ();
    ///     fn decide(&self, amount: &u64, events: &mut Vec<Event>) -> Result<(), ()> {
    ///         events.push(Event::Deposited { amount: *amount, memo: String::new() });
    ///         Ok(())
    ///     }
    ///     fn apply(&mut self, Event::Deposited { amount, .. }: &Event) {
    ///         self.0 += amount;
    ///     }
    /// }
    ///
    /// # if cfg!(miri) { return Ok(()); } // Miri cannot map files
    /// let dir = tempfile::tempdir()?;
    /// # {
    /// #     // What version 1 of the service wrote.
    /// #     #[derive(Default)]
    /// #     struct Old(u64);
    /// #     impl Aggregate for Old {
    /// #         type Command = u64;
    /// #         type Event = v1::Event;
    /// #         type Rejection = ();
    /// #         fn decide(&self, a: &u64, e: &mut Vec<v1::Event>) -> Result<(), ()> {
    /// #             e.push(v1::Event::Deposited(*a));
    /// #             Ok(())
    /// #         }
    /// #         fn apply(&mut self, v1::Event::Deposited(a): &v1::Event) { self.0 += a; }
    /// #     }
    /// #     let engine = EngineBuilder::new(dir.path(), Old::default()).start()?;
    /// #     engine.gateway().send(5)?;
    /// #     engine.shutdown()?;
    /// # }
    /// // The journal holds `v1::Event`s, declared as "Event" version 1.
    /// let engine = EngineBuilder::new(dir.path(), Account::default())
    ///     .event_schema("Event", 2)
    ///     .upcast("Event", 1, |old: v1::Event| match old {
    ///         v1::Event::Deposited(amount) => vec![Event::Deposited { amount, memo: "v1".into() }],
    ///     })
    ///     .start()?;
    /// assert_eq!(engine.shutdown()?.state.0, 5);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn upcast<Old>(
        mut self,
        name: &str,
        version: u32,
        convert: impl Fn(Old) -> Vec<A::Event> + Send + Sync + 'static,
    ) -> Self
    where
        Postcard: Codec<Old>,
    {
        self.upcasters
            .push(schema::Upcaster::typed(name, version, convert));
        self
    }

    /// Journal segment size and sync policy.
    pub fn journal_options(mut self, options: JournalOptions) -> Self {
        self.journal = options;
        self
    }

    /// Slots in the input ring (commands waiting for the business logic); a power of
    /// two. Default 16 Ki.
    pub fn input_capacity(mut self, slots: usize) -> Self {
        self.input_capacity = slots;
        self
    }

    /// Slots in the output ring (records waiting for the journal and projections); a
    /// power of two, and the most events one command may produce. Default 16 Ki.
    pub fn output_capacity(mut self, slots: usize) -> Self {
        self.output_capacity = slots;
        self
    }

    /// How the engine's threads (and submitters on a full ring) wait. The default,
    /// [`WaitStrategy::BACKOFF`], gives the most commands per second and keeps a
    /// loaded engine responsive on few cores, but an idle engine's three or more
    /// stage threads each wake a few thousand times a second to look (about 6% of a
    /// core per thread on a 2-core VM). A service that idles most of the time and
    /// wants its cores back can choose [`WaitStrategy::Blocking`]: no CPU when idle,
    /// a fence per publication, and a kernel wake-up for the first command after a
    /// pause (on the 2-core VM it halved the throughput of a saturated engine).
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.wait = wait;
        self
    }

    /// Pins the business-logic thread to `core`, or (`None`) leaves it unpinned. A
    /// core the machine refuses is reported by [`Engine::logic_pinning`], not an
    /// error.
    pub fn pin_logic_to_core(mut self, core: Option<usize>) -> Self {
        self.logic_core = core;
        self
    }

    /// Runs all projections on one thread (`true`) or each on its own.
    pub fn share_projection_thread(mut self, share: bool) -> Self {
        self.share_projection_thread = share;
        self
    }

    /// Takes a snapshot after every `events` events (besides those asked for with
    /// [`Engine::snapshot`]). The state and every projection must support snapshots
    /// ([`Aggregate::snapshot`], [`Projection::snapshot`]). Snapshots shorten a
    /// restart; they delete no event unless [`retention`](Self::retention) says so.
    pub fn snapshot_every(mut self, events: u64) -> Self {
        self.snapshot_every = Some(events.max(1));
        self
    }

    /// How many snapshots to keep, newest first (default 2, at least 1). A start
    /// that finds the newest one damaged falls back to the next, or to a full
    /// replay, and says so in [`Recovery::skipped_snapshots`].
    pub fn keep_snapshots(mut self, count: usize) -> Self {
        self.keep_snapshots = count.max(1);
        self
    }

    /// What this start does with projection `name` if it failed before (default
    /// [`ProjectionRestart::Retry`]): replay it again, skip the records its
    /// failures are quarantined at, or rebuild it from the journal's start.
    pub fn projection_restart(mut self, name: &str, restart: health::ProjectionRestart) -> Self {
        self.restarts.push((name.to_owned(), restart));
        self
    }

    /// What happens to journal segments that no kept snapshot needs (default
    /// [`Retention::KeepAll`]).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }

    /// Adds a projection named `name` (names must differ: snapshots find each
    /// projection's part by its name); returns the handle to its read model (also
    /// its id for [`Until::Visible`]).
    pub fn add_projection<P: Projection<A::Event>>(
        &mut self,
        name: &str,
        projection: P,
    ) -> ReadModel<P::View> {
        let id = ProjectionId(self.projections.len());
        let publication = Arc::new(Publication::new(projection.view()));
        let name: StdArc<str> = name.into();
        self.projections.push((
            StdArc::clone(&name),
            Box::new(Running::new(
                projection,
                Arc::clone(&publication),
                PROJECTIONS + id.0,
            )),
        ));
        ReadModel {
            publication,
            id,
            name,
        }
    }
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
        let started = Instant::now();
        let journal = Journal::open(&self.dir, self.journal)?;
        let torn_tail = journal.recovery_report().truncated.clone();
        let (names, mut runners): (Vec<_>, Vec<_>) = self.projections.into_iter().unzip();
        if self.snapshot_every.is_some() && self.state.snapshot().is_none() {
            return Err(EngineError::Snapshot {
                path: None,
                reason: "snapshot_every needs a state that supports snapshots \
                         (Aggregate::snapshot returned None)"
                    .into(),
            });
        }
        let restart = |name: &str| {
            self.restarts
                .iter()
                .rev()
                .find(|(n, _)| n == name)
                .map_or(health::ProjectionRestart::Retry, |(_, r)| *r)
        };
        let rebuilt: Vec<bool> = names
            .iter()
            .map(|name| restart(name) == health::ProjectionRestart::Rebuild)
            .collect();
        for (runner, name) in runners.iter_mut().zip(&names) {
            if restart(name) == health::ProjectionRestart::Skip {
                let skipped = health::quarantined(&self.dir, name).map_err(|error| {
                    EngineError::Snapshot {
                        path: Some(health::quarantine_path(&self.dir)),
                        reason: format!("cannot read the quarantine list: {error}"),
                    }
                })?;
                runner.skip(skipped);
            }
        }
        let (mut model, state_from, snapshot_from, skipped_snapshots) = load_snapshot(
            &self.dir,
            &journal,
            self.state,
            &mut runners,
            &names,
            &rebuilt,
        )?;
        let (name, version) = &self.event_schema;
        let mut schemas = schema::Schemas::new(
            schema::EventSchema::of(&self.codec, name, *version),
            self.upcasters,
        );
        let replayed = replay::replay(
            &journal,
            &self.codec,
            &mut schemas,
            &mut model,
            state_from,
            &mut runners,
            &names,
        )?;
        let mut journal = journal;
        if !schemas.running_declared() {
            // Declared once, before the first event of this schema.
            let (tag, payload) = record::declaration(&schemas.running);
            journal.append(tag, &payload)?;
        }
        let record_base = journal.next_sequence();
        let max_payload = journal.options().max_payload_len();
        let base = record_base as i64;
        let engine = Arc::new(EngineShared {
            progress: Progress::new(
                [0, base]
                    .into_iter()
                    .chain(std::iter::repeat_n(base, runners.len())),
            ),
            tickets: Tickets::new(self.input_capacity),
            metrics: Default::default(),
            closed: AtomicBool::new(false),
            failure: Mutex::new(None),
            projection_failures: Mutex::new(vec![None; runners.len()]),
            final_model: Mutex::new(None),
            record_base,
            projections: names.clone(),
            dir: self.dir.clone(),
            snapshots: snapshot::Coordinator::new(),
            snapshot_every: self.snapshot_every,
            keep_snapshots: self.keep_snapshots,
            retention: self.retention.clone(),
        });

        for runner in &runners {
            if let Some(failure) = runner.failure() {
                // Failed in replay: stopped from the start (already quarantined).
                lock(&engine.projection_failures)[runner.line() - PROJECTIONS] =
                    Some(failure.clone());
                engine.progress.finish(runner.line());
            }
        }
        let mut output =
            RingBuilder::new(self.output_capacity, Entry::empty).wait_strategy(self.wait);
        let journaler = output.add_stage(
            Stage::new(journaler::Journaler::new(journal, Arc::clone(&engine)))
                .name("seqlane-journal"),
        );
        let groups: Vec<Vec<_>> = if self.share_projection_thread {
            vec![runners]
        } else {
            runners.into_iter().map(|runner| vec![runner]).collect()
        };
        for group in groups.into_iter().filter(|group| !group.is_empty()) {
            let name = if group.len() == 1 {
                format!(
                    "seqlane-projection-{}",
                    names[group[0].line() - PROJECTIONS]
                )
            } else {
                "seqlane-projections".to_owned()
            };
            output.add_stage(
                Stage::new(ProjectionStage::new(group, Arc::clone(&engine)))
                    .name(name)
                    .after(&[journaler]),
            );
        }
        let (records, output) = output.build_single_producer().map_err(EngineError::Spawn)?;

        let logic = Logic::new(
            model,
            Arc::clone(&engine),
            records,
            logic::RecordFormat {
                codec: self.codec,
                schema_id: schemas.running_id,
                max_payload,
            },
            record_base,
            -1,
        );
        let mut stage = Stage::new(logic).name("seqlane-logic");
        if let Some(core) = self.logic_core {
            stage = stage.pin_to_core(core);
        }
        let mut input =
            RingBuilder::new(self.input_capacity, Submission::void).wait_strategy(self.wait);
        input.add_stage(stage);
        let (producer, input) = input.build_multi_producer().map_err(EngineError::Spawn)?;

        Ok(Engine {
            gateway: Gateway {
                producer,
                engine: Arc::clone(&engine),
            },
            engine,
            input: Some(input),
            output: Some(output),
            recovery: Recovery {
                commands: replayed.commands,
                events: replayed.events,
                discarded_records: replayed.discarded,
                torn_tail,
                snapshot: snapshot_from,
                skipped_snapshots,
                duration: started.elapsed(),
            },
        })
    }
}

/// The model to replay onto: from the newest usable snapshot (restoring the
/// projections too), or `initial`. Returns it with the record its replay starts
/// from, the snapshot used, and the snapshots skipped.
#[allow(clippy::type_complexity)] // reason: a private helper's one-off tuple
fn load_snapshot<A: Aggregate>(
    dir: &Path,
    journal: &Journal,
    initial: A,
    runners: &mut [BoxedRunner<A>],
    names: &[StdArc<str>],
    rebuilt: &[bool],
) -> Result<(Model<A>, u64, Option<u64>, Vec<String>), EngineError> {
    let mut skipped = Vec::new();
    let files = snapshot::list(dir).map_err(|error| EngineError::Snapshot {
        path: Some(snapshot::directory(dir)),
        reason: error.to_string(),
    })?;
    for (_, path) in files {
        let saved = std::fs::read(&path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| snapshot::Saved::decode(&bytes));
        let saved = match saved {
            Ok(saved) => saved,
            Err(reason) => {
                skipped.push(format!("{}: {reason}", path.display()));
                continue;
            }
        };
        let unusable = |reason: String| EngineError::Snapshot {
            path: Some(path.clone()),
            reason,
        };
        if saved.records > journal.next_sequence() {
            return Err(unusable(format!(
                "it covers journal records up to {}, but the journal ends at {}",
                saved.records,
                journal.next_sequence()
            )));
        }
        let (state_version, state) = projection::unversioned(&saved.state).map_err(&unusable)?;
        if state_version != A::SNAPSHOT_VERSION {
            // A cache of another encoding: the journal rebuilds the state.
            skipped.push(format!(
                "{}: the state's snapshot is version {state_version}, this code reads \
                 version {} (Aggregate::SNAPSHOT_VERSION)",
                path.display(),
                A::SNAPSHOT_VERSION
            ));
            continue;
        }
        let state = A::restore(state).map_err(&unusable)?;
        // A projection added since the snapshot has no part: it replays from the
        // journal's start (if the journal still holds it, checked below).
        for ((runner, name), _) in runners
            .iter_mut()
            .zip(names)
            .zip(rebuilt)
            .filter(|(_, rebuilt)| !**rebuilt)
        {
            let part = saved
                .projections
                .iter()
                .find(|(saved_name, _, _)| **saved_name == **name);
            if let Some((_, position, part)) = part {
                let (version, bytes) = projection::unversioned(part).map_err(&unusable)?;
                if version != runner.snapshot_version() {
                    // Rebuilt from the journal instead.
                    skipped.push(format!(
                        "{}: projection `{name}`'s part is version {version}, this code \
                         reads version {} (Projection::SNAPSHOT_VERSION): rebuilt from the \
                         journal",
                        path.display(),
                        runner.snapshot_version()
                    ));
                    continue;
                }
                runner
                    .restore(bytes, *position)
                    .map_err(|reason| unusable(format!("projection `{name}`: {reason}")))?;
            }
        }
        let held = journal.first_sequence();
        if let Some((runner, name)) = runners
            .iter()
            .zip(names)
            .find(|(runner, _)| runner.start() < held)
        {
            return Err(EngineError::Retired {
                first: held,
                needed: runner.start(),
                by: format!(
                    "projection `{name}`, which has no part in the snapshot of record {} \
                     (added since?),",
                    saved.records
                ),
            });
        }
        if saved.records < held {
            return Err(EngineError::Retired {
                first: held,
                needed: saved.records,
                by: format!("the snapshot of record {}", saved.records),
            });
        }
        let model = Model {
            state,
            version: saved.version,
            ids: saved.ids.into_iter().collect(),
        };
        return Ok((model, saved.records, Some(saved.records), skipped));
    }
    if journal.first_sequence() > 0 && !skipped.is_empty() {
        return Err(EngineError::Snapshot {
            path: None,
            reason: format!(
                "no usable snapshot ({}), and the journal starts at record {}: \
                 the records before it were retired",
                skipped.join("; "),
                journal.first_sequence()
            ),
        });
    }
    if journal.first_sequence() > 0 {
        return Err(EngineError::Retired {
            first: journal.first_sequence(),
            needed: 0,
            by: "the state (there is no snapshot)".into(),
        });
    }
    let model = Model {
        state: initial,
        version: 0,
        ids: Default::default(),
    };
    Ok((model, 0, None, skipped))
}

impl<A: Aggregate, C> fmt::Debug for EngineBuilder<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("dir", &self.dir)
            .field("journal", &self.journal)
            .field("input_capacity", &self.input_capacity)
            .field("output_capacity", &self.output_capacity)
            .field("wait", &self.wait)
            .field("logic_core", &self.logic_core)
            .field("projections", &self.projections.len())
            .finish()
    }
}

/// A running engine. Submit through its [`Gateway`]s; stop it with
/// [`shutdown`](Engine::shutdown), which drains (dropping it does the same, but can
/// only print a failure to stderr).
pub struct Engine<A: Aggregate> {
    engine: Arc<EngineShared<A>>,
    gateway: Gateway<A>,
    input: Option<Ring<Submission<A::Command>>>,
    output: Option<Ring<Entry<A::Event>>>,
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
        let failures = lock(&self.engine.projection_failures);
        Health {
            projections: self
                .engine
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

    /// Whether the business-logic thread got the core it asked for.
    pub fn logic_pinning(&self) -> Pinning {
        self.input
            .as_ref()
            .and_then(|ring| ring.stages().first().map(|stage| stage.pinning))
            .unwrap_or(Pinning::NotRequested)
    }

    /// The engine's counters now.
    pub fn metrics(&self) -> Metrics {
        let logic = &self.engine.metrics.logic;
        let journal = &self.engine.metrics.journal;
        let processed = self.engine.progress.line(LOGIC).end();
        let claimed = self.gateway.producer.last_claimed() + 1;
        let journaled = self.engine.record_base + journal.records.get();
        Metrics {
            accepted: logic.accepted.get(),
            rejected: logic.rejected.get(),
            duplicates: logic.duplicates.get(),
            events: logic.events.get(),
            input_occupancy: (claimed - processed).max(0) as u64,
            input_capacity: self.gateway.producer.capacity(),
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
            durable_end: self.engine.progress.line(JOURNAL).end() as u64,
            held_outcomes: self.engine.tickets.spilled(),
            snapshots: self.engine.snapshots.written.load(Ordering::Relaxed),
            last_snapshot: self.engine.snapshots.last_written.load(Ordering::Relaxed),
            projections: self
                .engine
                .projections
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let position = self.engine.progress.line(PROJECTIONS + i).end() as u64;
                    ProjectionMetrics {
                        name: name.to_string(),
                        position,
                        lag: journaled.saturating_sub(position),
                    }
                })
                .collect(),
        }
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
                    .claim()
                    .map_err(|_| failed("the engine is stopped".into()))?;
                *slot = Submission {
                    snapshot: true,
                    ..Submission::void()
                };
                slot.sequence()
            };
            let answer = loop {
                if let Some(answer) = self.engine.snapshots.take_answer(request) {
                    break answer;
                }
                if self.engine.progress.line(LOGIC).is_finished() {
                    return Err(failed("the engine stopped".into()));
                }
                std::thread::sleep(Duration::from_micros(200));
            };
            match answer {
                // An automatic snapshot was under way: ask again once it is done.
                Err(reason) if reason == snapshot::BUSY => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                answer => return answer.map_err(failed),
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
        let (Some(input), Some(output)) = (self.input.take(), self.output.take()) else {
            return Ok(());
        };
        // SeqCst: the Dekker pair with the gateway's claim and check of `closed`:
        // a submitter either sees `closed` or claimed at most `last`.
        self.engine.closed.store(true, Ordering::SeqCst);
        let last = self.gateway.producer.last_claimed();
        // Every command claimed by now gets published (or voided) and processed,
        // unless the logic stopped on a failure.
        let _ = self.engine.progress.wait_for(LOGIC, last + 1, None);
        let input = input.halt();
        let output = output.join();
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

/// Submits commands to an engine, from any thread. Clone it for each thread.
///
/// Three ways in, by how they treat a full input ring: [`submit`](Gateway::submit)
/// waits for room, [`submit_before`](Gateway::submit_before) waits until a deadline,
/// [`try_submit`](Gateway::try_submit) gives the command back at once. Each returns a
/// [`Receipt`] as soon as the command is in the ring. [`send`](Gateway::send) is
/// fire-and-forget: no receipt, and the engine keeps no outcome.
pub struct Gateway<A: Aggregate> {
    producer: MultiProducer<Submission<A::Command>>,
    engine: Arc<EngineShared<A>>,
}

impl<A: Aggregate> Clone for Gateway<A> {
    fn clone(&self) -> Self {
        Self {
            producer: self.producer.clone(),
            engine: Arc::clone(&self.engine),
        }
    }
}

impl<A: Aggregate> fmt::Debug for Gateway<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("closed", &self.engine.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// How long a submission may wait for room.
enum Room {
    Wait,
    Now,
    Before(Instant),
}

impl<A: Aggregate> Gateway<A> {
    /// Submits a command, waiting for room in the input ring; returns its receipt.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] (with the command) once the engine is shutting down
    /// or stopped on a failure.
    pub fn submit(
        &self,
        command: impl Into<Command<A::Command>>,
    ) -> Result<Receipt<A>, SubmitError<A::Command>> {
        match self.enqueue(command.into(), true, Room::Wait) {
            Ok(sequence) => Ok(Receipt::new(Arc::clone(&self.engine), sequence)),
            Err(TrySubmitError::Closed(command) | TrySubmitError::Full(command)) => {
                Err(SubmitError::Closed(command))
            }
        }
    }

    /// Submits a command without a receipt: the engine keeps no outcome for it.
    /// The cheapest way in.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    pub fn send(
        &self,
        command: impl Into<Command<A::Command>>,
    ) -> Result<(), SubmitError<A::Command>> {
        match self.enqueue(command.into(), false, Room::Wait) {
            Ok(_) => Ok(()),
            Err(TrySubmitError::Closed(command) | TrySubmitError::Full(command)) => {
                Err(SubmitError::Closed(command))
            }
        }
    }

    /// Submits a command if the input ring has room now.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] (with the command) when the ring is full: the
    /// business logic is a whole ring behind. [`TrySubmitError::Closed`] as in
    /// [`submit`](Self::submit).
    pub fn try_submit(
        &self,
        command: impl Into<Command<A::Command>>,
    ) -> Result<Receipt<A>, TrySubmitError<A::Command>> {
        let sequence = self.enqueue(command.into(), true, Room::Now)?;
        Ok(Receipt::new(Arc::clone(&self.engine), sequence))
    }

    /// Submits a command, waiting for room until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`try_submit`](Self::try_submit), `Full` meaning still full at `deadline`.
    pub fn submit_before(
        &self,
        command: impl Into<Command<A::Command>>,
        deadline: Instant,
    ) -> Result<Receipt<A>, TrySubmitError<A::Command>> {
        let sequence = self.enqueue(command.into(), true, Room::Before(deadline))?;
        Ok(Receipt::new(Arc::clone(&self.engine), sequence))
    }

    fn enqueue(
        &self,
        command: Command<A::Command>,
        receipt: bool,
        room: Room,
    ) -> Result<i64, TrySubmitError<A::Command>> {
        // Relaxed: a fast refusal only; the SeqCst check below decides.
        if self.engine.closed.load(Ordering::Relaxed) {
            return Err(TrySubmitError::Closed(command));
        }
        let claimed = match room {
            Room::Wait => self.producer.claim().map_err(|_| TryClaimError::Halted),
            Room::Now => self.producer.try_claim(),
            Room::Before(deadline) => self.producer.claim_before(deadline),
        };
        let mut slot = match claimed {
            Ok(slot) => slot,
            Err(TryClaimError::Full) => return Err(TrySubmitError::Full(command)),
            Err(TryClaimError::Halted) => return Err(TrySubmitError::Closed(command)),
        };
        // SeqCst: pairs with the store in `Engine::stop` (see there). If shutdown
        // may have stopped counting claims, leave the slot void.
        if self.engine.closed.load(Ordering::SeqCst) {
            *slot = Submission::void();
            return Err(TrySubmitError::Closed(command));
        }
        *slot = Submission {
            command: Some(command),
            receipt,
            snapshot: false,
        };
        Ok(slot.sequence())
    }
}

/// A command the engine refused to take: it is shutting down, or stopped on a
/// failure. Carries the command back.
pub enum SubmitError<C> {
    /// The engine is closed.
    Closed(Command<C>),
}

impl<C> SubmitError<C> {
    /// The command that was not submitted.
    pub fn into_command(self) -> Command<C> {
        match self {
            SubmitError::Closed(command) => command,
        }
    }
}

/// A command not taken by [`Gateway::try_submit`] or [`Gateway::submit_before`].
pub enum TrySubmitError<C> {
    /// The input ring is full: back off, shed load, or [`Gateway::submit`].
    Full(Command<C>),
    /// The engine is closed.
    Closed(Command<C>),
}

impl<C> TrySubmitError<C> {
    /// The command that was not submitted.
    pub fn into_command(self) -> Command<C> {
        match self {
            TrySubmitError::Full(command) | TrySubmitError::Closed(command) => command,
        }
    }
}

impl<C> fmt::Debug for SubmitError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<C> fmt::Display for SubmitError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the engine is closed (shutting down, or stopped on a failure)")
    }
}

impl<C> std::error::Error for SubmitError<C> {}

impl<C> fmt::Debug for TrySubmitError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => f.write_str("Full(..)"),
            TrySubmitError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<C> fmt::Display for TrySubmitError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => f.write_str("the engine's input ring is full"),
            TrySubmitError::Closed(_) => {
                f.write_str("the engine is closed (shutting down, or stopped on a failure)")
            }
        }
    }
}

impl<C> std::error::Error for TrySubmitError<C> {}
