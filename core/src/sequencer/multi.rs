//! The multi-producer sequencer: any number of [`MultiProducer`] handles claim with
//! one atomic add and mark each slot available when they publish it.

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::error::{Halted, TryClaimError};
use crate::sequence::{Sequence, INITIAL};
use crate::shared::Shared;
use crate::sync::{Arc, AtomicI32};

/// Claim counter and per-slot availability of a multi-producer ring.
pub(crate) struct MultiCursor {
    /// Highest sequence claimed by any producer. Slots above the highest *published*
    /// sequence may still be being written: stages find the published ones through
    /// `available`, never through this counter alone.
    claimed: Sequence,
    /// A gating minimum seen earlier, shared by the producers so they rarely read
    /// every gating stage's sequence. It may lag behind (that only costs a re-read),
    /// never run ahead.
    gating_cache: Sequence,
    /// Per slot, the round (`sequence >> shift`) of the sequence last published in
    /// it. A slot holds sequence `s` published iff its entry equals `round(s)`;
    /// the entry of an unpublished `s` still names an earlier round, so a stage never
    /// mistakes an old value (or a hole) for `s`.
    available: Box<[AtomicI32]>,
    mask: i64,
    shift: u32,
}

impl MultiCursor {
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self {
            claimed: Sequence::new(INITIAL),
            gating_cache: Sequence::new(INITIAL),
            available: (0..capacity).map(|_| AtomicI32::new(-1)).collect(),
            mask: capacity as i64 - 1,
            shift: capacity.trailing_zeros(),
        }
    }

    #[inline]
    fn round(&self, sequence: i64) -> i32 {
        // Truncation is intended: rounds are compared for equality only, and two
        // rounds 2^32 apart never coexist in the ring.
        (sequence >> self.shift) as i32
    }

    #[inline]
    fn flag(&self, sequence: i64) -> &AtomicI32 {
        &self.available[(sequence & self.mask) as usize]
    }

    #[inline]
    pub(crate) fn publish(&self, first: i64, last: i64) {
        for sequence in first..=last {
            // Release: pairs with the Acquire in `highest_published`; the slot's
            // contents were written before.
            self.flag(sequence)
                .store(self.round(sequence), Ordering::Release);
        }
    }

    #[inline]
    pub(crate) fn highest_published(&self, next: i64) -> i64 {
        // Relaxed: the counter only bounds the scan; visibility of each slot comes
        // from its own availability flag.
        let claimed = self.claimed.atomic().load(Ordering::Relaxed);
        for sequence in next..=claimed {
            // Acquire: pairs with the Release in `publish`.
            if self.flag(sequence).load(Ordering::Acquire) != self.round(sequence) {
                return sequence - 1;
            }
        }
        claimed.max(next - 1)
    }
}

/// A producer of a ring built with
/// [`RingBuilder::build_multi_producer`](crate::RingBuilder::build_multi_producer).
///
/// Clone it for each thread that publishes: all handles share one claim counter, and
/// events from one handle reach the stages in the order that handle published them.
/// The stages drain and stop once every handle is dropped.
///
/// # Examples
///
/// ```
/// use seqlane::{RingBuilder, Stage};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let count = Arc::new(AtomicU64::new(0));
/// let seen = Arc::clone(&count);
/// let mut builder = RingBuilder::new(256, || 0u64);
/// builder.add_stage(Stage::new(move |_: &u64, _seq: i64, _end_of_batch: bool| {
///     seen.fetch_add(1, Ordering::Relaxed);
/// }));
/// let (producer, ring) = builder.build_multi_producer().unwrap();
///
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let producer = producer.clone();
///         std::thread::spawn(move || {
///             for i in 0..1000 {
///                 producer.publish(|slot| *slot = i).unwrap();
///             }
///         })
///     })
///     .collect();
/// drop(producer);
/// for thread in threads {
///     thread.join().unwrap();
/// }
/// ring.join().unwrap();
/// assert_eq!(count.load(Ordering::Relaxed), 4000);
/// ```
pub struct MultiProducer<T> {
    shared: Arc<Shared<T>>,
}

impl<T> MultiProducer<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        shared.add_producer();
        Self { shared }
    }

    crate::sequencer::producer_methods!(&Self);

    #[inline]
    fn cursor(&self) -> &MultiCursor {
        match &self.shared.sequencer {
            crate::sequencer::Sequencer::Multi(cursor) => cursor,
            crate::sequencer::Sequencer::Single(_) => {
                unreachable!("a MultiProducer is only built over a multi-producer sequencer")
            }
        }
    }

    /// The highest sequence claimed by any handle so far (-1 before the first).
    /// SeqCst: see `claim_up_to`.
    pub(crate) fn last_claimed(&self) -> i64 {
        self.cursor().claimed.atomic().load(Ordering::SeqCst)
    }

    /// Reserves the next `n` sequences with one atomic add, then waits for the
    /// gating stages to release the slots they reuse.
    #[inline]
    fn claim_up_to(&self, n: i64) -> Result<i64, Halted> {
        if self.shared.is_halted() {
            return Err(Halted);
        }
        let cursor = self.cursor();
        // SeqCst: the add only has to hand out each sequence once (the slot is
        // ordered after the stages' reads by the gating Acquire below), but the
        // engine's gateway pairs it with its load of `closed`, against the SeqCst
        // store of `closed` and load of `last_claimed` in `Engine::shutdown` (a
        // Dekker pair). On x86 it is the same `lock xadd` as Relaxed.
        let last = cursor.claimed.atomic().fetch_add(n, Ordering::SeqCst) + n;
        let wrap_point = last - self.shared.capacity();
        // Acquire (in `get`): pairs with the Release in `set` below, which passes on
        // what the setter acquired from the gating stages.
        if wrap_point > cursor.gating_cache.get() {
            let minimum = self.shared.wait_for_room_forever(wrap_point)?;
            cursor.gating_cache.set(minimum);
        }
        Ok(last)
    }

    /// Reserves the next `n` sequences if there is room (now or by `deadline`).
    fn try_claim_up_to(&self, n: i64, deadline: Option<Instant>) -> Result<i64, TryClaimError> {
        let cursor = self.cursor();
        loop {
            if self.shared.is_halted() {
                return Err(TryClaimError::Halted);
            }
            let current = cursor.claimed.atomic().load(Ordering::Relaxed);
            let last = current + n;
            let wrap_point = last - self.shared.capacity();
            if wrap_point > cursor.gating_cache.get() {
                cursor
                    .gating_cache
                    .set(self.shared.room_by(wrap_point, deadline)?);
            }
            // SeqCst on success: as in `claim_up_to`; the compare-exchange only makes
            // the reservation unique.
            if cursor
                .claimed
                .atomic()
                .compare_exchange_weak(current, last, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(last);
            }
        }
    }
}

impl<T> Clone for MultiProducer<T> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.shared))
    }
}

impl<T> Drop for MultiProducer<T> {
    fn drop(&mut self) {
        self.shared.remove_producer();
    }
}

impl<T> std::fmt::Debug for MultiProducer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiProducer")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::MultiCursor;
    use std::sync::atomic::Ordering;

    fn claim(cursor: &MultiCursor, n: i64) -> i64 {
        cursor.claimed.atomic().fetch_add(n, Ordering::Relaxed) + n
    }

    #[test]
    fn stages_stop_at_the_first_hole() {
        let cursor = MultiCursor::new(4);
        assert_eq!(claim(&cursor, 3), 2);
        cursor.publish(1, 2); // sequence 0 is still being written
        assert_eq!(cursor.highest_published(0), -1);
        cursor.publish(0, 0);
        assert_eq!(cursor.highest_published(0), 2);
        assert_eq!(cursor.highest_published(2), 2);
        assert_eq!(cursor.highest_published(3), 2, "nothing claimed past 2");
    }

    #[test]
    fn an_earlier_round_in_a_slot_is_not_mistaken_for_the_current_one() {
        let cursor = MultiCursor::new(2);
        claim(&cursor, 2);
        cursor.publish(0, 1);
        assert_eq!(cursor.highest_published(0), 1);
        // Sequences 2 and 3 reuse slots 0 and 1, which still hold round 0.
        assert_eq!(claim(&cursor, 2), 3);
        assert_eq!(cursor.highest_published(2), 1);
        cursor.publish(3, 3);
        assert_eq!(cursor.highest_published(2), 1, "slot of 2 holds sequence 0");
        cursor.publish(2, 2);
        assert_eq!(cursor.highest_published(2), 3);
    }

    #[test]
    fn rounds_survive_many_wraps() {
        let cursor = MultiCursor::new(1);
        for sequence in 0..10_000 {
            claim(&cursor, 1);
            assert_eq!(cursor.highest_published(sequence), sequence - 1);
            cursor.publish(sequence, sequence);
            assert_eq!(cursor.highest_published(sequence), sequence);
        }
    }
}
