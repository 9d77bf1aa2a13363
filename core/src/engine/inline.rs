//! The one-thread topology's output: the business logic journals and projects its
//! own events at the end of each input batch, in that order, instead of handing
//! them through the output ring to threads of their own.
//!
//! On a machine with fewer cores than the engine has threads, a hand-off to a
//! journaler or projection thread waits for that thread to be scheduled; here no
//! stage waits for another. The order per batch (decide and apply each command,
//! append and sync the batch, then apply it to the projections) keeps every
//! invariant of the threaded topology: nothing reaches a projection before the
//! journal holds it, and each line (processed, durable, visible) moves only once
//! what it promises is done.

use std::collections::VecDeque;
use std::time::Instant;

use crate::engine::domain::Aggregate;
use crate::engine::journaler::Journaler;
use crate::engine::projection::ProjectionStage;
use crate::engine::slots::Entry;
use crate::engine::syncer::Syncer;
use crate::error::Halted;
use crate::stage::EventHandler;
use crate::{Producer, SingleProducer};

/// Where the logic puts the records it makes: the output ring, read by the
/// journaler's and projections' threads, or its own [`Inline`] stages.
pub(crate) enum Output<A: Aggregate> {
    Ring(SingleProducer<Entry<A::Event>>),
    Inline(Box<Inline<A>>),
}

impl<A: Aggregate> Output<A> {
    /// The most records one command may leave.
    pub(crate) fn capacity(&self) -> usize {
        match self {
            Output::Ring(ring) => ring.capacity(),
            Output::Inline(inline) => inline.capacity,
        }
    }

    /// Hands on `count` records, each written into its entry by `fill`.
    ///
    /// # Errors
    ///
    /// The output ring was halted: its journaler stopped.
    pub(crate) fn publish(
        &mut self,
        count: usize,
        mut fill: impl FnMut(&mut Entry<A::Event>),
    ) -> Result<(), Halted> {
        match self {
            Output::Ring(ring) => {
                let mut claim = ring.claim_batch(count)?;
                claim.iter_mut().for_each(|(_, entry)| fill(entry));
            }
            Output::Inline(inline) => inline.claim(count).iter_mut().for_each(fill),
        }
        Ok(())
    }

    /// The end of an input batch: inline, its records are journaled and projected.
    pub(crate) fn end_batch(&mut self) {
        if let Output::Inline(inline) = self {
            inline.flush();
        }
    }

    /// Work that is not a record waits (a snapshot): the stages that do it look.
    pub(crate) fn wake(&mut self) {
        match self {
            Output::Ring(ring) => ring.wake_stages(),
            // The end of the batch settles it.
            Output::Inline(_) => {}
        }
    }

    /// The inline journaler's group-commit deadline.
    pub(crate) fn wake_at(&self) -> Option<Instant> {
        match self {
            Output::Ring(_) => None,
            Output::Inline(inline) => inline.journaler.wake_at(),
        }
    }

    /// Whether the inline stages have snapshot work waiting.
    pub(crate) fn has_work(&self) -> bool {
        match self {
            Output::Ring(_) => false,
            Output::Inline(inline) => inline.has_work(),
        }
    }

    /// A deadline passed or work waits (a sync ended, a snapshot): as the
    /// threaded stages' `on_wake`, then what a sync lets the projections see.
    pub(crate) fn on_wake(&mut self) {
        if let Output::Inline(inline) = self {
            inline.flushing = true;
            inline.journaler.on_wake();
            inline.project();
            inline.flushing = false;
        }
    }

    /// The logic is done. The ring's stages drain and stop once its producer is
    /// dropped; the inline ones journal and project what waits, then sync.
    /// After a panic of the inline journaler (`flushing` still set) nothing more is
    /// tried: the journal is failed.
    pub(crate) fn shut_down(self) {
        if let Output::Inline(mut inline) = self {
            if !inline.flushing {
                inline.flush();
                inline.flushing = true;
                inline.journaler.on_shutdown();
                inline.project();
                if let Some(projections) = &mut inline.projections {
                    projections.on_shutdown();
                }
            }
        }
    }
}

/// The journaler and the projections, run by the logic's thread on the records it
/// buffers here (the syncs, if the policy makes any, run on a [`Syncer`] thread).
///
/// `entries` is a queue: `..projected` are done (spare buffers), `..journaled`
/// are appended to the journal, `..filled` wait for it.
pub(crate) struct Inline<A: Aggregate> {
    journaler: Journaler<A>,
    /// `None` when the engine has no projections.
    projections: Option<ProjectionStage<A>>,
    entries: Vec<Entry<A::Event>>,
    projected: usize,
    journaled: usize,
    filled: usize,
    /// Under a policy that gates projections on syncs: the end (an output
    /// sequence) of each journaled batch not yet projected. A batch is whole
    /// commands, and projections publish at the end of what they are given, so
    /// they are given whole batches only, even when a segment roll's sync made part
    /// of one durable.
    batches: VecDeque<i64>,
    /// The output sequence of `entries[0]` (as the output ring would number it).
    first: i64,
    /// At most this many records are held: more wait for the journal and the
    /// projections to take the ones held.
    capacity: usize,
    /// Set while the journaler and projections run: still set after the
    /// journaler panicked (a failed journal).
    flushing: bool,
}

impl<A: Aggregate> Inline<A> {
    pub(crate) fn new(
        mut journaler: Journaler<A>,
        projections: Option<ProjectionStage<A>>,
        capacity: usize,
        syncer: Syncer,
    ) -> Self {
        journaler.sync_on(syncer);
        Self {
            journaler,
            projections,
            entries: Vec::new(),
            projected: 0,
            journaled: 0,
            filled: 0,
            batches: VecDeque::new(),
            first: 0,
            capacity,
            flushing: false,
        }
    }

    /// Entries for the next `count` records (at most `capacity`), first making
    /// room: journaling what waits, and waiting for its sync if projections need
    /// it first.
    fn claim(&mut self, count: usize) -> &mut [Entry<A::Event>] {
        debug_assert!(count <= self.capacity);
        while self.filled - self.projected + count > self.capacity {
            if self.journaled < self.filled {
                self.flush();
            } else {
                self.flushing = true;
                self.journaler.drive_sync(true);
                self.project();
                self.flushing = false;
            }
        }
        if self.filled + count > self.capacity {
            // Move the held records to the front (buffers move, nothing is copied).
            self.entries.rotate_left(self.projected);
            self.first += self.projected as i64;
            self.journaled -= self.projected;
            self.filled -= self.projected;
            self.projected = 0;
        }
        let end = self.filled + count;
        if self.entries.len() < end {
            self.entries.resize_with(end, Entry::empty);
        }
        let claimed = &mut self.entries[self.filled..end];
        self.filled = end;
        claimed
    }

    /// Journals the waiting records (appending, and starting their sync as the
    /// policy says), then applies to the projections what they may see, then does
    /// any snapshot work that became possible.
    fn flush(&mut self) {
        self.flushing = true;
        let records = &self.entries[self.journaled..self.filled];
        if !records.is_empty() {
            let first = self.first + self.journaled as i64;
            self.journaler.append_entries(records, first);
        }
        if records.is_empty() {
            // No append to start or complete a sync at: look here.
            self.journaler.drive_sync(false);
        } else if self.journaler.gates_projections() {
            self.batches.push_back(self.first + self.filled as i64);
        }
        self.journaled = self.filled;
        self.project();
        self.flushing = false;
    }

    /// Applies to the projections the journaled records they may see (under
    /// `EveryBatch` only synced ones), then does any snapshot work that became
    /// possible.
    fn project(&mut self) {
        self.apply_visible();
        self.settle();
    }

    /// Applies to the projections the journaled records they may see.
    fn apply_visible(&mut self) {
        let end = if self.journaler.gates_projections() {
            let durable = self.journaler.durable_output();
            let mut end = self.projected;
            while let Some(batch_end) = self.batches.front().copied() {
                if batch_end > durable {
                    break;
                }
                self.batches.pop_front();
                end = (batch_end - self.first) as usize;
            }
            end
        } else {
            self.journaled
        };
        if end > self.projected {
            if let Some(projections) = &mut self.projections {
                let records = &self.entries[self.projected..end];
                let last = records.len() - 1;
                for (i, entry) in records.iter().enumerate() {
                    let sequence = self.first + (self.projected + i) as i64;
                    projections.on_event(entry, sequence, i == last);
                }
            }
            self.projected = end;
        }
        if self.projected == self.filled {
            self.first += self.filled as i64;
            (self.projected, self.journaled, self.filled) = (0, 0, 0);
        }
    }

    /// A pending snapshot's parts first (the projections'), then its writing (the
    /// journaler's): what the threaded stages do when woken.
    fn settle(&mut self) {
        if let Some(projections) = &mut self.projections {
            if projections.has_work() {
                projections.on_wake();
            }
        }
        if self.journaler.has_work() {
            // It may also complete a sync: what that made durable is applied too.
            self.journaler.on_wake();
            self.apply_visible();
        }
    }

    fn has_work(&self) -> bool {
        self.journaler.has_work() || self.projections.as_ref().is_some_and(|p| p.has_work())
    }
}
