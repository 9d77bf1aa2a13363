//! The journaling stage: appends each batch of records from the output ring to the
//! journal, syncs per its policy, and moves the durable line. Projections run after
//! it on the same ring, so they never see an event the journal does not hold.

use std::time::Instant;

use seqlane_journal::{Journal, JournalError, SyncPolicy};

use crate::engine::domain::Aggregate;
use crate::engine::progress::Line;
use crate::engine::shared::{EngineShared, Failure};
use crate::engine::slots::Entry;
use crate::engine::snapshot::{self, Retention};
use crate::engine::syncer::Syncer;
use crate::stage::EventHandler;
use crate::sync::Arc;

/// Whether the time recorded is a sync's, and who counts the sync.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Counted {
    /// An append that synced nothing.
    NotASync,
    /// A sync, counted with its time.
    Now,
    /// A sync the sync thread ran and counted when it returned.
    Already,
}

pub(crate) struct Journaler<A: Aggregate> {
    journal: Journal,
    engine: Arc<EngineShared<A>>,
    /// The batch's payloads, back to back, and each record's tag and span.
    payloads: Vec<u8>,
    records: Vec<(u32, std::ops::Range<usize>)>,
    /// Under [`SyncPolicy::Interval`]: when appended records must be synced by, if
    /// some are not yet (the stage wakes then even with no new records).
    sync_due: Option<Instant>,
    /// Under the one-thread topology, with a sync policy: the thread that runs the
    /// syncs, and when the one in flight began.
    syncer: Option<(Syncer, Instant)>,
}

impl<A: Aggregate> Journaler<A> {
    pub(crate) fn new(journal: Journal, engine: Arc<EngineShared<A>>) -> Self {
        Self {
            journal,
            engine,
            payloads: Vec::new(),
            records: Vec::new(),
            sync_due: None,
            syncer: None,
        }
    }

    /// Syncs on `syncer`'s thread from now on, unless the policy never syncs.
    pub(crate) fn sync_on(&mut self, syncer: Syncer) {
        if self.journal.options().sync_policy() != SyncPolicy::Never {
            self.syncer = Some((syncer, Instant::now()));
        }
    }

    /// The sync thread, if syncs run on one.
    fn syncer(&self) -> Option<&Syncer> {
        self.syncer.as_ref().map(|(syncer, _)| syncer)
    }

    /// Whether records reach the projections only once synced: under
    /// [`SyncPolicy::EveryBatch`] a batch's records are synced before the threaded
    /// topology's projections see them, and `Visible` implies `Durable`.
    pub(crate) fn gates_projections(&self) -> bool {
        self.journal.options().sync_policy() == SyncPolicy::EveryBatch
    }

    /// The output sequence below which records are durable.
    pub(crate) fn durable_output(&self) -> i64 {
        (self.engine.progress.records(Line::Journal) - self.engine.record_base) as i64
    }

    /// Whether the sync thread finished a sync that is not completed yet.
    fn sync_done(&self) -> bool {
        self.syncer().is_some_and(Syncer::is_done)
    }

    /// Completes the sync in flight if it is done (or, with `wait`, once it is),
    /// then starts the next if records wait for one and the policy says it is time.
    pub(crate) fn drive_sync(&mut self, wait: bool) {
        let Some((syncer, started)) = &mut self.syncer else {
            return;
        };
        if let Some((job, outcome)) = syncer.take_done(wait) {
            let elapsed = started.elapsed().as_nanos() as u64;
            if let Err(error) = self.journal.complete_sync(job, outcome) {
                self.fail(error);
            }
            // The sync thread counted the sync (before it moved the durable line).
            self.record_time(elapsed, Counted::Already);
            self.publish_durable();
        }
        let due = match self.journal.options().sync_policy() {
            SyncPolicy::EveryBatch => true,
            SyncPolicy::Interval(_) => self.sync_due.is_some_and(|due| Instant::now() >= due),
            SyncPolicy::Never => false,
        };
        let Some((syncer, started)) = &mut self.syncer else {
            return;
        };
        if due && !syncer.in_flight() {
            match self.journal.begin_sync() {
                Ok(Some(job)) => {
                    *started = Instant::now();
                    syncer.start(job);
                }
                Ok(None) => {}
                Err(error) => self.fail(error),
            }
        }
    }

    /// Appends the batch gathered by `on_event` (syncing per the policy) and
    /// moves the durable line.
    fn flush(&mut self) -> Result<(), JournalError> {
        let payloads = std::mem::take(&mut self.payloads);
        let records = std::mem::take(&mut self.records);
        let appended = self.append(
            records
                .iter()
                .map(|(tag, span)| (*tag, &payloads[span.clone()])),
        );
        (self.payloads, self.records) = (payloads, records);
        self.payloads.clear();
        self.records.clear();
        appended
    }

    /// Appends `entries`, whose first is output sequence `first`, as one batch:
    /// what the one-thread topology calls with the records it holds, with no
    /// copy into this stage's buffers (`on_event` gathers them otherwise).
    pub(crate) fn append_entries(&mut self, entries: &[Entry<A::Event>], first: i64) {
        debug_assert_eq!(
            self.journal.next_sequence(),
            self.engine.record_base + first as u64,
            "output slot and journal sequence out of step"
        );
        debug_assert!(self.records.is_empty());
        let records = entries
            .iter()
            .map(|entry| (entry.tag, entry.payload.as_slice()));
        if let Err(error) = self.append(records) {
            self.fail(error);
        }
    }

    /// Appends `records` as one batch (syncing per the policy), counts them, and
    /// moves the durable line.
    fn append<'a>(
        &mut self,
        records: impl ExactSizeIterator<Item = (u32, &'a [u8])>,
    ) -> Result<(), JournalError> {
        let started = Instant::now();
        let synced_before = self.journal.synced();
        let count = records.len() as u64;
        let mut bytes = 0;
        let records = records.inspect(|(_, payload)| bytes += payload.len() as u64);
        if self.syncer.is_some() {
            self.journal.append_batch_unsynced(records)?;
        } else {
            self.journal.append_batch(records)?;
        }
        let elapsed = started.elapsed().as_nanos() as u64;
        let counters = &self.engine.metrics.journal;
        counters.batches.add(1);
        counters.records.add(count);
        counters.bytes.add(bytes);
        // Under `Interval` an append syncs only when the interval has passed.
        let synced = if self.journal.synced() != synced_before {
            Counted::Now
        } else {
            Counted::NotASync
        };
        self.record_time(elapsed, synced);
        self.publish_durable();
        self.drive_sync(false);
        self.write_snapshot();
        Ok(())
    }

    /// Syncs everything appended outside an append (group-commit timer, before a
    /// snapshot, at shutdown), counts and times it like the syncs of appends, and
    /// moves the durable line.
    fn sync(&mut self) {
        let started = Instant::now();
        if let Err(error) = self.journal.sync() {
            self.fail(error);
        }
        self.record_time(started.elapsed().as_nanos() as u64, Counted::Now);
        self.publish_durable();
    }

    /// Adds `elapsed` ns of appending and syncing to the metrics, and one sync if
    /// one happened (counted here unless the sync thread counted it).
    fn record_time(&self, elapsed: u64, synced: Counted) {
        let counters = &self.engine.metrics.journal;
        if synced == Counted::Now {
            counters.syncs.add(1);
        }
        #[cfg(feature = "metrics")]
        if synced != Counted::NotASync {
            crate::engine::telemetry::record_sync(std::time::Duration::from_nanos(elapsed));
        }
        counters.sync_nanos.add(elapsed);
        counters.last_sync_nanos.set(elapsed);
        counters.longest_sync_nanos.raise_to(elapsed);
    }

    fn publish_durable(&mut self) {
        let durable = self.journal.durable().map_or(0, |last| last + 1);
        if durable > self.engine.progress.records(Line::Journal) {
            self.engine.progress.raise_durable(durable);
        }
        self.sync_due = match self.journal.options().sync_policy() {
            SyncPolicy::Interval(interval) if durable < self.journal.next_sequence() => {
                Some(self.sync_due.unwrap_or_else(|| Instant::now() + interval))
            }
            _ => None,
        };
    }

    /// Whether a whole snapshot is ready and the journal holds every record it
    /// covers.
    fn snapshot_writable(&self) -> bool {
        self.engine
            .snapshots
            .ready_at()
            .is_some_and(|records| records <= self.journal.next_sequence())
    }

    /// Writes a snapshot whose parts are all in, once the journal holds (synced)
    /// every record it covers, then retires the segments it makes unnecessary.
    /// A failure is reported with the snapshot; the engine goes on.
    fn write_snapshot(&mut self) {
        let engine = Arc::clone(&self.engine);
        let snapshots = &engine.snapshots;
        if !snapshots.in_flight() {
            return;
        }
        if !self.snapshot_writable() {
            // None ready, or not all its records appended yet: the next batch
            // brings them.
            return;
        }
        let Some((saved, request)) = snapshots.take_ready() else {
            return;
        };
        if self.journal.synced().map_or(0, |last| last + 1) < saved.records {
            self.sync();
        }
        let error = match snapshot::write(&self.engine.dir, &saved, self.engine.keep_snapshots) {
            Ok(oldest_kept) => {
                let retired = match &self.engine.retention {
                    Retention::KeepAll => Ok(Vec::new()),
                    Retention::Archive(archive) => {
                        self.journal.retire_before(oldest_kept, Some(archive))
                    }
                    Retention::DeleteBefore => self.journal.retire_before(oldest_kept, None),
                };
                retired
                    .err()
                    .map(|error| format!("snapshot written, but retiring segments failed: {error}"))
            }
            Err(error) => Some(format!(
                "cannot write a snapshot in {}: {error}",
                self.engine.dir.display()
            )),
        };
        snapshots.end(request, error.map_or(Ok(saved.records), Err));
    }

    /// Records the failure and halts the output ring (the business logic then
    /// stops too: nothing more can be journaled).
    fn fail(&self, error: JournalError) -> ! {
        let message = error.to_string();
        self.engine.fail(Failure::Journal(error));
        panic!("journal failure: {message}");
    }
}

impl<A: Aggregate> EventHandler<Entry<A::Event>> for Journaler<A> {
    fn on_event(&mut self, entry: &Entry<A::Event>, sequence: i64, end_of_batch: bool) {
        debug_assert_eq!(
            self.journal.next_sequence() + self.records.len() as u64,
            self.engine.record_base + sequence as u64,
            "output slot and journal sequence out of step"
        );
        // Encoded (and checked to fit) by the logic.
        let start = self.payloads.len();
        self.payloads.extend_from_slice(&entry.payload);
        self.records.push((entry.tag, start..self.payloads.len()));
        if end_of_batch {
            if let Err(error) = self.flush() {
                self.fail(error);
            }
        }
    }

    /// The group commit's deadline, if records wait for a sync.
    fn wake_at(&self) -> Option<Instant> {
        self.sync_due
    }

    /// A whole snapshot waits to be written, and the journal holds every record it
    /// covers (otherwise the batch that brings them writes it).
    fn has_work(&self) -> bool {
        self.snapshot_writable() || self.sync_done()
    }

    /// The group commit's deadline passed with no new records: sync what is there.
    /// Or a snapshot is ready ([`has_work`](EventHandler::has_work)): write it.
    fn on_wake(&mut self) {
        if self.syncer.is_some() {
            self.drive_sync(false);
        } else if self.sync_due.is_some_and(|due| Instant::now() >= due) {
            self.sync();
        }
        self.write_snapshot();
    }

    fn on_shutdown(&mut self) {
        // The sync in flight first: the one below then covers the rest.
        if self.syncer().is_some_and(Syncer::in_flight) {
            self.drive_sync(true);
        }
        match self.journal.options().sync_policy() {
            SyncPolicy::Never => self.publish_durable(),
            _ => self.sync(),
        }
    }
}

impl<A: Aggregate> Drop for Journaler<A> {
    fn drop(&mut self) {
        // The sync thread first: a job in flight ends (and moves the durable line
        // if it succeeded) before the line is marked final.
        drop(self.syncer.take());
        self.engine.progress.finish(Line::Journal);
        self.engine.snapshots.wake();
    }
}
