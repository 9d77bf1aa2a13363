//! [`EngineBuilder`]: what an engine is made of (the journal's directory, the
//! initial state, the projections, the codec and event schema) and its knobs.

use std::fmt;
use std::path::Path;
use std::sync::Arc as StdArc;

use seqlane_journal::{Codec, JournalOptions, Postcard};

use crate::engine::config::EngineConfig;
use crate::engine::domain::{Aggregate, Projection};
use crate::engine::progress::ProjectionId;
use crate::engine::projection::{ReadModel, Running};
use crate::engine::publish::Publication;
use crate::engine::snapshot::Retention;
use crate::engine::{health, schema, Topology};
use crate::sync::Arc;
use crate::WaitStrategy;

/// Builds an [`Engine`](crate::Engine): the journal directory, the initial state, projections, and
/// the knobs (ring sizes, sync policy, waiting, pinning).
///
/// # Examples
///
/// A counter, a projection that keeps the last value seen, and each way to wait:
///
/// ```
/// use seqlane::{Aggregate, EngineBuilder, Projection, Rejection, Until, WaitError};
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
/// assert_eq!(added.events, [2]);
/// assert_eq!(*total.get(), 7); // read your writes
/// let refused = gateway.submit(0)?.wait(Until::Durable);
/// assert_eq!(refused, Err(WaitError::Rejected(Rejection::Domain("adding nothing"))));
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
/// Defaults suit a 2-core laptop as well as a large machine:
/// [`Topology::Auto`] (all stages on one thread where the cores are few),
/// [`WaitStrategy::SPIN_THEN_PARK`] (spins about 25 µs, then parks: an idle engine
/// costs nothing), [`SyncPolicy::EveryBatch`](seqlane_journal::SyncPolicy::EveryBatch),
/// the business logic pinned only on machines with at least 4 cores, projections
/// sharing one thread below 4 cores.
pub struct EngineBuilder<A: Aggregate, C = Postcard> {
    pub(crate) config: EngineConfig<A>,
    pub(crate) codec: C,
}

impl<A: Aggregate> EngineBuilder<A, Postcard> {
    /// An engine journaling to `dir` (created if missing), whose state starts as
    /// `initial` before the journal is replayed onto it. Events are encoded with
    /// [`Postcard`] unless [`codec`](Self::codec) says otherwise.
    pub fn new(dir: impl AsRef<Path>, initial: A) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Self {
            config: EngineConfig {
                dir: dir.as_ref().to_path_buf(),
                state: initial,
                journal: JournalOptions::default(),
                input_capacity: 1 << 14,
                output_capacity: 1 << 14,
                wait: WaitStrategy::SPIN_THEN_PARK,
                logic_core: (cores >= 4).then(|| cores - 1),
                share_projection_thread: cores < 4,
                topology: Topology::Auto,
                producers: 1,
                snapshot_every: None,
                keep_snapshots: 2,
                retention: Retention::KeepAll,
                restarts: Vec::new(),
                projections: Vec::new(),
                event_schema: (schema::short_type_name::<A::Event>(), 1),
                upcasters: Vec::new(),
            },
            codec: Postcard,
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
            config: self.config,
            codec,
        }
    }

    /// Declares the name and version of the event type (default: the type's name
    /// without its path, version 1). Every journaled event carries them, with the
    /// codec's fingerprint of the type ([`Codec::fingerprint`]); replay reads an
    /// event only as the schema that wrote it, or through an upcaster
    /// ([`upcast`](Self::upcast)), and otherwise refuses to start with an
    /// [`EngineError::Replay`](crate::EngineError::Replay) naming the record, what wrote it and what is running. Give the type a new version whenever its encoding
    /// changes, and register the old definition as an upcaster.
    pub fn event_schema(mut self, name: &str, version: u32) -> Self {
        self.config.event_schema = (name.to_owned(), version);
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
        self.config
            .upcasters
            .push(schema::Upcaster::typed(name, version, convert));
        self
    }

    /// Journal segment size and sync policy.
    pub fn journal_options(mut self, options: JournalOptions) -> Self {
        self.config.journal = options;
        self
    }

    /// Slots in the input ring (commands waiting for the business logic); a power of
    /// two. Default 16 Ki.
    pub fn input_capacity(mut self, slots: usize) -> Self {
        self.config.input_capacity = slots;
        self
    }

    /// Slots in the output ring (records waiting for the journal and projections); a
    /// power of two, and the most events one command may produce. Default 16 Ki.
    pub fn output_capacity(mut self, slots: usize) -> Self {
        self.config.output_capacity = slots;
        self
    }

    /// How the engine's threads (and submitters on a full ring) wait. The default,
    /// [`WaitStrategy::SPIN_THEN_PARK`], spins about 25 µs, then parks until the
    /// next command, so an idle engine costs nothing measurable, at a fence per
    /// publication and a kernel wake-up for a thread that parked. Under the
    /// one-thread topology it also gave the most commands per second on a 2-core
    /// Intel Xeon; with a thread per stage on 2 cores, [`WaitStrategy::BACKOFF`]
    /// (spin, then sleep in steps) gave about a third more, at some 18 % of a core
    /// idle (figures in results/README.md). [`WaitStrategy::Blocking`] parks at
    /// once.
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.config.wait = wait;
        self
    }

    /// Pins the business-logic thread to `core`, or (`None`) leaves it unpinned. A
    /// core the machine refuses is reported by [`Engine::logic_pinning`](crate::Engine::logic_pinning), not an
    /// error.
    pub fn pin_logic_to_core(mut self, core: Option<usize>) -> Self {
        self.config.logic_core = core;
        self
    }

    /// Runs all projections on one thread (`true`) or each on its own, under
    /// [`Topology::ThreadPerStage`].
    pub fn share_projection_thread(mut self, share: bool) -> Self {
        self.config.share_projection_thread = share;
        self
    }

    /// Which threads run the stages; [`Topology::Auto`] (the default) chooses from
    /// the core count at start, and [`Engine::topology`](crate::Engine::topology)
    /// says what it chose.
    pub fn topology(mut self, topology: Topology) -> Self {
        self.config.topology = topology;
        self
    }

    /// How many threads will submit commands at once (default 1): what
    /// [`Topology::Auto`] counts beside the engine's own threads. It limits
    /// nothing; any number of threads may submit.
    pub fn producer_threads(mut self, threads: usize) -> Self {
        self.config.producers = threads;
        self
    }

    /// Takes a snapshot after every `events` events (besides those asked for with
    /// [`Engine::snapshot`](crate::Engine::snapshot)). The state and every projection must support snapshots
    /// ([`Aggregate::snapshot`], [`Projection::snapshot`]). Snapshots shorten a
    /// restart; they delete no event unless [`retention`](Self::retention) says so.
    pub fn snapshot_every(mut self, events: u64) -> Self {
        self.config.snapshot_every = Some(events.max(1));
        self
    }

    /// How many snapshots to keep, newest first (default 2, at least 1). A start
    /// that finds the newest one damaged falls back to the next, or to a full
    /// replay, and says so in [`Recovery::skipped_snapshots`](crate::Recovery::skipped_snapshots).
    pub fn keep_snapshots(mut self, count: usize) -> Self {
        self.config.keep_snapshots = count.max(1);
        self
    }

    /// What this start does with projection `name` if it failed before (default
    /// [`ProjectionRestart::Retry`](crate::ProjectionRestart::Retry)): replay it again, skip the records its
    /// failures are quarantined at, or rebuild it from the journal's start.
    pub fn projection_restart(mut self, name: &str, restart: health::ProjectionRestart) -> Self {
        self.config.restarts.push((name.to_owned(), restart));
        self
    }

    /// What happens to journal segments that no kept snapshot needs (default
    /// [`Retention::KeepAll`]).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.config.retention = retention;
        self
    }

    /// Adds a projection named `name` (names must differ: snapshots find each
    /// projection's part by its name); returns the handle to its read model (also
    /// its id for [`Until::Visible`](crate::Until::Visible)).
    pub fn add_projection<P: Projection<A::Event>>(
        &mut self,
        name: &str,
        projection: P,
    ) -> ReadModel<P::View> {
        let id = ProjectionId(self.config.projections.len());
        let publication = Arc::new(Publication::new(projection.view()));
        let name: StdArc<str> = name.into();
        self.config.projections.push((
            StdArc::clone(&name),
            Box::new(Running::new(projection, Arc::clone(&publication), id)),
        ));
        ReadModel {
            publication,
            id,
            name,
        }
    }
}

impl<A: Aggregate, C> fmt::Debug for EngineBuilder<A, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBuilder")
            .field("dir", &self.config.dir)
            .field("journal", &self.config.journal)
            .field("input_capacity", &self.config.input_capacity)
            .field("output_capacity", &self.config.output_capacity)
            .field("wait", &self.config.wait)
            .field("logic_core", &self.config.logic_core)
            .field("topology", &self.config.topology)
            .field("projections", &self.config.projections.len())
            .finish()
    }
}
