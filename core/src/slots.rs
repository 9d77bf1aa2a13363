//! The pre-allocated storage of the ring: a power-of-two array of slots, written in
//! place and never reallocated.

use std::sync::atomic::Ordering;

use crate::sequence::INITIAL;
use crate::sync::{AtomicI64, ConstPtr, MutPtr, UnsafeCell};

/// The slots of the ring. Which thread may touch which slot is decided entirely by the
/// sequencer and the stages' sequences: a slot is written only by the producer that
/// claimed its sequence, and read only by stages that observed its publication.
pub(crate) struct Slots<T> {
    slots: Box<[UnsafeCell<T>]>,
    /// Publication marks, written only on single-producer rings: the producer
    /// publishes a run `first..=last` by storing `last` in the mark of `first`.
    ///
    /// Stages that run first poll these marks instead of the producer's cursor. A
    /// mark is written once per run and read once per run, while a cursor is
    /// written at every publication and read at every poll: with a stage keeping
    /// up, each poll took the cursor's cache line from the producer, and each
    /// publication took it back. On the 2-core VM, batch-1 unicast went from
    /// 110-150 to 430-440 M events/s (and from ~20 to ~100 in the VM's slow mode),
    /// batch 100 stayed at ~2,000, ping-pong at 120-140 ns.
    marks: Box<[AtomicI64]>,
    mask: i64,
}

// SAFETY: slots hand out `&mut T` to one producer thread at a time and `&T` to stage
// threads only after publication (the sequencer's Release/Acquire pairs order the
// two), so sharing the storage needs `T: Send` (values move between threads through
// the slots) and `T: Sync` (several stages read one slot at once).
unsafe impl<T: Send + Sync> Sync for Slots<T> {}
// SAFETY: as above; the storage owns its values.
unsafe impl<T: Send> Send for Slots<T> {}

impl<T> Slots<T> {
    /// Allocates `capacity` slots, each filled by `factory`.
    ///
    /// # Panics
    ///
    /// If `capacity` is zero, not a power of two, or above 2^31.
    pub(crate) fn new(capacity: usize, mut factory: impl FnMut() -> T) -> Self {
        assert!(
            capacity.is_power_of_two() && capacity <= 1 << 31,
            "ring capacity must be a power of two between 1 and 2^31, got {capacity}"
        );
        let slots = (0..capacity).map(|_| UnsafeCell::new(factory())).collect();
        let marks = (0..capacity).map(|_| AtomicI64::new(INITIAL)).collect();
        Self {
            slots,
            marks,
            mask: capacity as i64 - 1,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn cell(&self, sequence: i64) -> &UnsafeCell<T> {
        debug_assert!(sequence >= 0, "negative sequence {sequence}");
        let index = (sequence & self.mask) as usize;
        debug_assert!(index < self.slots.len());
        // SAFETY: `mask` is `len - 1` for a power-of-two `len`, so `index < len`.
        unsafe { self.slots.get_unchecked(index) }
    }

    #[inline]
    fn mark(&self, sequence: i64) -> &AtomicI64 {
        let index = (sequence & self.mask) as usize;
        // SAFETY: as in `cell`; `marks` has as many entries as `slots`.
        unsafe { self.marks.get_unchecked(index) }
    }

    /// Publishes `first..=last` (single-producer rings): one store, in the mark of
    /// `first`, of where the run ends. The run's slots must be fully written.
    #[inline]
    pub(crate) fn mark_published(&self, first: i64, last: i64) {
        // Release: pairs with the Acquire in `published_from`: a stage that reads
        // this mark sees the run's slots written.
        self.mark(first).store(last, Ordering::Release);
    }

    /// The highest `s >= next - 1` such that `next..=s` is published, on a ring
    /// whose one producer publishes runs back to back, each marked at its first
    /// slot with its last sequence. `next` must start a run, as it does for a stage
    /// that consumes whole runs from the start.
    ///
    /// A mark left from an earlier lap is below the sequence probed, so it reads as
    /// unpublished; and no run reaches a lap past a stage that has not released its
    /// slots, so the walk stays within one lap.
    #[inline]
    pub(crate) fn published_from(&self, next: i64) -> i64 {
        let lap = self.mask + 1;
        let mut head = next;
        while head - next < lap {
            // Acquire: pairs with the Release in `mark_published`.
            let last = self.mark(head).load(Ordering::Acquire);
            if last < head {
                break;
            }
            head = last + 1;
        }
        head - 1
    }

    /// Shared access to the slot of `sequence`.
    ///
    /// # Safety
    ///
    /// `sequence` must be published, and the caller's stage must not have released
    /// it (its sequence is below `sequence`), so no producer can be writing the slot.
    #[inline]
    pub(crate) unsafe fn read(&self, sequence: i64) -> ConstPtr<T> {
        self.cell(sequence).get()
    }

    /// Exclusive access to the slot of `sequence`.
    ///
    /// # Safety
    ///
    /// The caller must hold the claim on `sequence` and not have published it, and
    /// every gating stage must have released `sequence - capacity`.
    #[inline]
    pub(crate) unsafe fn write(&self, sequence: i64) -> MutPtr<T> {
        self.cell(sequence).get_mut()
    }
}
