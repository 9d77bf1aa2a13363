//! The multi-producer sequencer: any number of
//! [`MultiProducer`](crate::MultiProducer) handles claim with one atomic add (a
//! compare-exchange once there is room, near a full ring) and
//! mark each slot available when they publish it.

use std::sync::atomic::Ordering;

use crate::sequence::{Sequence, INITIAL};
use crate::sync::AtomicI32;

/// Claim counter and per-slot availability of a multi-producer ring.
pub(crate) struct MultiCursor {
    /// Highest sequence claimed by any producer. Slots above the highest *published*
    /// sequence may still be being written: stages find the published ones through
    /// `available`, never through this counter alone.
    pub(crate) claimed: Sequence,
    /// A gating minimum seen earlier, shared by the producers so they rarely read
    /// every gating stage's sequence. It may lag behind (that only costs a re-read),
    /// never run ahead.
    pub(crate) gating_cache: Sequence,
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
            // Release: pairs with the Acquire in `published_from` and
            // `highest_published`; the slot's
            // contents were written before.
            self.flag(sequence)
                .store(self.round(sequence), Ordering::Release);
        }
    }

    /// For a stage that runs first, whose sequence is `next - 1`: the highest
    /// `s >= next - 1` such that `next..=s` is published. It reads the flags only,
    /// never the claim counter, whose line the producers pass among themselves at
    /// every claim: a stage reading it at every look would take it from them as
    /// often. No producer claims a lap past a stage that has not released its
    /// slots, so the scan ends within one lap.
    #[inline]
    pub(crate) fn published_from(&self, next: i64) -> i64 {
        let end = next + self.mask + 1;
        let mut sequence = next;
        // Acquire: pairs with the Release in `publish`.
        while sequence < end && self.flag(sequence).load(Ordering::Acquire) == self.round(sequence)
        {
            sequence += 1;
        }
        sequence - 1
    }

    /// As [`published_from`](Self::published_from), for any `next` (off the hot
    /// path: counting unprocessed events), bounded by the claim counter.
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
    fn a_first_stage_reads_the_flags_alone_and_stops_within_a_lap() {
        let cursor = MultiCursor::new(4);
        assert_eq!(cursor.published_from(0), -1);
        claim(&cursor, 4);
        cursor.publish(0, 1);
        cursor.publish(3, 3);
        assert_eq!(cursor.published_from(0), 1, "2 is a hole");
        cursor.publish(2, 2);
        assert_eq!(cursor.published_from(0), 3, "a whole lap, no further");
        assert_eq!(cursor.published_from(2), 3);
        assert_eq!(
            cursor.published_from(4),
            3,
            "4 reuses slot 0, still round 0"
        );
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
