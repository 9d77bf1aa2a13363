//! Engine metrics: counters each written by one thread with plain stores (no lock,
//! no read-modify-write on the hot path), read by anyone as a [`Metrics`] snapshot.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::sync::AtomicU64;

/// A counter with one writer: `add` is a load and a store, not an atomic add.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Only the counter's owning thread may call this.
    #[inline]
    pub(crate) fn add(&self, n: u64) {
        // Relaxed: a statistic; readers need no ordering with anything else.
        self.0
            .store(self.0.load(Ordering::Relaxed) + n, Ordering::Relaxed);
    }

    /// Only the counter's owning thread may call this.
    #[inline]
    pub(crate) fn set(&self, n: u64) {
        // Relaxed: as in `add`.
        self.0.store(n, Ordering::Relaxed);
    }

    /// Only the counter's owning thread may call this.
    #[inline]
    pub(crate) fn raise_to(&self, n: u64) {
        if n > self.0.load(Ordering::Relaxed) {
            self.0.store(n, Ordering::Relaxed);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Written by the business-logic thread.
#[derive(Debug, Default)]
pub(crate) struct LogicCounters {
    pub(crate) accepted: Counter,
    pub(crate) rejected: Counter,
    pub(crate) duplicates: Counter,
    pub(crate) events: Counter,
    pub(crate) batches: Counter,
    pub(crate) commands: Counter,
    pub(crate) largest_batch: Counter,
}

impl LogicCounters {
    /// Counts one command: a resubmission, an acceptance with `events`, or a
    /// rejection.
    pub(crate) fn count(&self, accepted: bool, repeat: bool, events: usize) {
        match (repeat, accepted) {
            (true, _) => self.duplicates.add(1),
            (false, true) => {
                self.accepted.add(1);
                self.events.add(events as u64);
            }
            (false, false) => self.rejected.add(1),
        }
    }

    pub(crate) fn observe_batch(&self, commands: u64) {
        self.batches.add(1);
        self.commands.add(commands);
        self.largest_batch.raise_to(commands);
    }
}

/// Written by the journaler.
#[derive(Debug, Default)]
pub(crate) struct JournalCounters {
    pub(crate) batches: Counter,
    pub(crate) records: Counter,
    pub(crate) bytes: Counter,
    pub(crate) syncs: Counter,
    pub(crate) sync_nanos: Counter,
    pub(crate) last_sync_nanos: Counter,
    pub(crate) longest_sync_nanos: Counter,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) logic: CachePadded<LogicCounters>,
    pub(crate) journal: CachePadded<JournalCounters>,
}

/// A snapshot of an engine's counters, from [`Engine::metrics`](crate::Engine::metrics).
/// Each figure is read on its own (they are not one atomic snapshot); counts are
/// since the engine started, not including replay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Commands accepted (first time).
    pub accepted: u64,
    /// Commands rejected (by `decide`, a version conflict, a panic in `decide`).
    pub rejected: u64,
    /// Resubmissions of a remembered command id (accepted, or rejected with a
    /// journaled rejection), answered without running again.
    pub duplicates: u64,
    /// Events produced by accepted commands.
    pub events: u64,
    /// Commands submitted and not yet processed.
    pub input_occupancy: u64,
    /// Slots in the input ring.
    pub input_capacity: usize,
    /// Batches the business logic processed (commands arrive in batches: whatever
    /// was waiting when it looked).
    pub logic_batches: u64,
    /// Commands in those batches.
    pub logic_commands: u64,
    /// The largest batch.
    pub largest_logic_batch: u64,
    /// Journal appends (one per batch) and the records in them.
    pub journal_batches: u64,
    /// Records appended.
    pub journal_records: u64,
    /// Payload bytes appended (record headers not included).
    pub journal_bytes: u64,
    /// Syncs to disk and the time they took.
    pub journal_syncs: u64,
    /// Total time spent appending and syncing, per the sync policy.
    pub journal_sync_time: Duration,
    /// The last append-and-sync.
    pub last_journal_sync: Duration,
    /// The longest.
    pub longest_journal_sync: Duration,
    /// The journal sequence below which records are durable.
    pub durable_end: u64,
    /// Outcomes kept for receipts held longer than an input ring's worth of
    /// commands (each costs a map entry until its receipt is waited on or dropped).
    pub held_outcomes: usize,
    /// Async tasks waiting for the engine to wake them: awaiting a receipt, or
    /// room in the input ring. Each costs a waker until it is woken or its future
    /// is dropped.
    pub waiting_tasks: usize,
    /// Snapshots written since start.
    pub snapshots: u64,
    /// The journal position the last one covers (0 if none was written).
    pub last_snapshot: u64,
    /// Per projection, in the order they were added.
    pub projections: Vec<ProjectionMetrics>,
}

impl Metrics {
    /// Mean commands per business-logic batch.
    pub fn mean_logic_batch(&self) -> f64 {
        if self.logic_batches == 0 {
            0.0
        } else {
            self.logic_commands as f64 / self.logic_batches as f64
        }
    }
}

/// How far one projection has come.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProjectionMetrics {
    /// Its name.
    pub name: String,
    /// The journal sequence below which it has applied (and published) every event.
    pub position: u64,
    /// Records journaled that it has not applied yet.
    pub lag: u64,
}
