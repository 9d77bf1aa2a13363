//! The single-producer sequencer: one [`SingleProducer`](crate::SingleProducer)
//! handle owns the claim counter; this is what its stages read.

use std::sync::atomic::Ordering;

use crate::sequence::{Sequence, INITIAL};
use crate::sync::AtomicI64;

/// The publication state of a single-producer ring.
pub(crate) struct SingleCursor {
    /// Highest published sequence. Every slot up to it is fully written; the
    /// producer writes no slot at or below it until the gating stages release it.
    /// Read only off the hot path (counting unprocessed events).
    cursor: Sequence,
    /// Per slot, a publication mark: the producer publishes a run `first..=last`
    /// by storing `last` in the mark of `first`.
    ///
    /// Stages that run first poll these marks instead of the cursor. A mark is
    /// written once per run and read once per run, while a cursor is written at
    /// every publication and read at every poll: with a stage keeping up, each poll
    /// would take the cursor's cache line from the producer, and each publication
    /// take it back. (Measured: results/README.md, "Measurements behind the code".)
    marks: Box<[AtomicI64]>,
    mask: i64,
}

impl SingleCursor {
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self {
            cursor: Sequence::new(INITIAL),
            marks: (0..capacity).map(|_| AtomicI64::new(INITIAL)).collect(),
            mask: capacity as i64 - 1,
        }
    }

    #[inline]
    fn mark(&self, sequence: i64) -> &AtomicI64 {
        let index = (sequence & self.mask) as usize;
        debug_assert!(index < self.marks.len());
        // SAFETY: `mask` is `len - 1` for a power-of-two `len`, so `index < len`.
        unsafe { self.marks.get_unchecked(index) }
    }

    /// Publishes `first..=last`: one store in the mark of `first` (what stages
    /// poll), then the cursor. The run's slots must be fully written.
    #[inline]
    pub(crate) fn publish(&self, first: i64, last: i64) {
        // Release: pairs with the Acquire in `published_from`: a stage that reads
        // this mark sees the run's slots written.
        self.mark(first).store(last, Ordering::Release);
        // Release: pairs with the Acquire in `published`.
        self.cursor.set(last);
    }

    /// The highest `s >= next - 1` such that `next..=s` is published. `next` must
    /// start a run, as it does for a stage that consumes whole runs from the start.
    ///
    /// The producer publishes runs back to back, each marked at its first slot with
    /// its last sequence. A mark left from an earlier lap is below the sequence
    /// probed, so it reads as unpublished; and no run reaches a lap past a stage
    /// that has not released its slots, so the walk stays within one lap.
    #[inline]
    pub(crate) fn published_from(&self, next: i64) -> i64 {
        let lap = self.mask + 1;
        let mut head = next;
        while head - next < lap {
            // Acquire: pairs with the Release in `publish`.
            let last = self.mark(head).load(Ordering::Acquire);
            if last < head {
                break;
            }
            head = last + 1;
        }
        head - 1
    }

    #[inline]
    pub(crate) fn published(&self) -> i64 {
        // Acquire: pairs with the Release in `publish`.
        self.cursor.get()
    }
}
