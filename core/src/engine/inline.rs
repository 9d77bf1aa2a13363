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

use std::time::Instant;

use crate::engine::domain::Aggregate;
use crate::engine::journaler::Journaler;
use crate::engine::projection::ProjectionStage;
use crate::engine::slots::Entry;
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

    /// A deadline passed or work waits: as the threaded stages' `on_wake`.
    pub(crate) fn on_wake(&mut self) {
        if let Output::Inline(inline) = self {
            inline.journaler.on_wake();
            inline.settle();
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
                inline.journaler.on_shutdown();
                if let Some(projections) = &mut inline.projections {
                    projections.on_shutdown();
                }
            }
        }
    }
}

/// The journaler and the projections, run by the logic's thread on the records it
/// buffers here.
pub(crate) struct Inline<A: Aggregate> {
    journaler: Journaler<A>,
    /// `None` when the engine has no projections.
    projections: Option<ProjectionStage<A>>,
    /// Records waiting for the journal: the first `filled`; the rest are spare
    /// entries whose buffers are reused.
    entries: Vec<Entry<A::Event>>,
    filled: usize,
    /// The output sequence of `entries[0]` (as the output ring would number it).
    first: i64,
    /// At most this many records wait: a longer batch is journaled in parts.
    capacity: usize,
    /// Set while the journaler and projections run: still set after the
    /// journaler panicked (a failed journal).
    flushing: bool,
}

impl<A: Aggregate> Inline<A> {
    pub(crate) fn new(
        journaler: Journaler<A>,
        projections: Option<ProjectionStage<A>>,
        capacity: usize,
    ) -> Self {
        Self {
            journaler,
            projections,
            entries: Vec::new(),
            filled: 0,
            first: 0,
            capacity,
            flushing: false,
        }
    }

    /// Entries for the next `count` records (at most `capacity`), journaling and
    /// projecting what waits first if they would not fit.
    fn claim(&mut self, count: usize) -> &mut [Entry<A::Event>] {
        debug_assert!(count <= self.capacity);
        if self.filled + count > self.capacity {
            self.flush();
        }
        let end = self.filled + count;
        if self.entries.len() < end {
            self.entries.resize_with(end, Entry::empty);
        }
        let claimed = &mut self.entries[self.filled..end];
        self.filled = end;
        claimed
    }

    /// Journals the waiting records (appending and syncing as the policy says),
    /// then applies them to the projections, then does any snapshot work that
    /// became possible.
    fn flush(&mut self) {
        self.flushing = true;
        let records = &self.entries[..self.filled];
        let last = records.len().saturating_sub(1);
        for (i, entry) in records.iter().enumerate() {
            self.journaler
                .on_event(entry, self.first + i as i64, i == last);
        }
        if let Some(projections) = &mut self.projections {
            for (i, entry) in records.iter().enumerate() {
                projections.on_event(entry, self.first + i as i64, i == last);
            }
        }
        self.first += self.filled as i64;
        self.filled = 0;
        self.settle();
        self.flushing = false;
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
            self.journaler.on_wake();
        }
    }

    fn has_work(&self) -> bool {
        self.journaler.has_work() || self.projections.as_ref().is_some_and(|p| p.has_work())
    }
}
