//! The state that producers, stages and the ring's owner share.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{Halted, TryClaimError};
use crate::sequence::minimum;
use crate::sequencer::Sequencer;
use crate::slots::Slots;
use crate::stage::state::StageState;
use crate::sync::{Arc, AtomicBool, AtomicUsize};
use crate::wait::{Waiter, Wanted};

/// `pub` only because the sealed [`Reserve`](crate::producer::sealed::Reserve)
/// trait behind [`Producer`](crate::Producer) names it; its module is private, so
/// no one outside the crate can reach it.
pub struct Shared<T> {
    pub(crate) slots: Slots<T>,
    pub(crate) sequencer: Sequencer,
    pub(crate) waiter: Waiter,
    /// The terminal stages (those no other stage runs after). A producer may claim
    /// sequence `s` only once all of them have released `s - capacity`; every other
    /// stage is upstream of one of them, so is at least as far along.
    pub(crate) gating: Box<[Arc<StageState>]>,
    /// Set when a stage panicked or the owner halted the ring. Stages stop at their
    /// next wait, and claims fail with [`Halted`].
    pub(crate) halted: AtomicBool,
    /// Live producer handles.
    pub(crate) producers: AtomicUsize,
    /// Set (Release) after the last producer handle is dropped, and so after its last
    /// publication: a stage that reads it (Acquire) and then finds nothing more to
    /// process has drained the ring.
    pub(crate) producers_done: AtomicBool,
}

impl<T> Shared<T> {
    #[inline]
    pub(crate) fn capacity(&self) -> i64 {
        self.slots.capacity() as i64
    }

    /// The sequence every gating stage has processed.
    #[inline]
    pub(crate) fn gating_minimum(&self) -> i64 {
        minimum(self.gating.iter().map(|stage| &stage.sequence), i64::MAX)
    }

    #[inline]
    pub(crate) fn is_halted(&self) -> bool {
        // Relaxed: an advisory flag. The stages' wait handshake orders it where it
        // matters (the fences in `WaitQueue`).
        self.halted.load(Ordering::Relaxed)
    }

    /// Waits until every gating stage has released `wrap_point` (so the slot that a
    /// claim up to `wrap_point + capacity` reuses is free), or until `deadline`, and
    /// returns the gating minimum.
    #[cold]
    pub(crate) fn wait_for_room(
        &self,
        wrap_point: i64,
        deadline: Option<Instant>,
    ) -> Result<i64, TryClaimError> {
        let waited = self.waiter.wait_for(
            Wanted::Room,
            || {
                if self.is_halted() {
                    return Some(Err(TryClaimError::Halted));
                }
                let minimum = self.gating_minimum();
                (minimum >= wrap_point).then_some(Ok(minimum))
            },
            deadline,
        );
        waited.unwrap_or(Err(TryClaimError::Full))
    }

    /// For a non-waiting claim: the gating minimum if there is room for a claim up
    /// to `wrap_point + capacity` now (no `deadline`) or by `deadline`.
    pub(crate) fn room_by(
        &self,
        wrap_point: i64,
        deadline: Option<Instant>,
    ) -> Result<i64, TryClaimError> {
        match deadline {
            None => {
                let minimum = self.gating_minimum();
                if wrap_point > minimum {
                    Err(TryClaimError::Full)
                } else {
                    Ok(minimum)
                }
            }
            Some(deadline) => self.wait_for_room(wrap_point, Some(deadline)),
        }
    }

    /// [`wait_for_room`](Self::wait_for_room) without a deadline: it ends with room
    /// or with a halt, never with a full ring.
    #[inline]
    pub(crate) fn wait_for_room_forever(&self, wrap_point: i64) -> Result<i64, Halted> {
        self.wait_for_room(wrap_point, None).map_err(|_| Halted)
    }

    /// Stops every stage at its next wait and fails further claims.
    pub(crate) fn halt(&self) {
        self.halted.store(true, Ordering::Relaxed);
        // After the flag: a producer that reads the halted limit sees the flag.
        self.sequencer.single_cursor().halt();
        self.waiter.notify();
    }

    pub(crate) fn add_producer(&self) {
        self.producers.fetch_add(1, Ordering::Relaxed);
    }

    /// Called when a producer handle is dropped.
    pub(crate) fn remove_producer(&self) {
        // AcqRel: every handle's publications happen before the last decrement, so
        // the Release store below covers all of them.
        if self.producers.fetch_sub(1, Ordering::AcqRel) == 1 {
            // Release: pairs with the Acquire in `Barrier::upstream_done`.
            self.producers_done.store(true, Ordering::Release);
            self.waiter.notify();
        }
    }

    /// Published sequences that the slowest gating stage has not processed.
    pub(crate) fn unprocessed(&self) -> u64 {
        let processed = self.gating_minimum();
        let published = self.sequencer.highest_published(processed + 1);
        (published - processed).max(0) as u64
    }
}
