//! The pre-allocated storage of the ring: a power-of-two array of slots, written in
//! place and never reallocated.

use crate::sync::{ConstPtr, MutPtr, UnsafeCell};

/// The slots of the ring. Which thread may touch which slot is decided entirely by the
/// sequencer and the stages' sequences: a slot is written only by the producer that
/// claimed its sequence, and read only by stages that observed its publication.
pub(crate) struct Slots<T> {
    slots: Box<[UnsafeCell<T>]>,
    mask: i64,
    /// Whether the CPU has `prefetchw` (CPUID 0x8000_0001, ECX bit 8), which
    /// [`prefetch_for_write`](Self::prefetch_for_write) uses.
    #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
    write_prefetch: bool,
}

/// Whether this x86-64 CPU has `prefetchw` (AMD since K6-2, Intel since
/// Broadwell; earlier Intel parts do not promise what the opcode does).
#[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
fn has_prefetchw() -> bool {
    use std::arch::x86_64::__cpuid;
    // The extended leaf is read only if the CPU reports it.
    __cpuid(0x8000_0000).eax >= 0x8000_0001 && __cpuid(0x8000_0001).ecx & (1 << 8) != 0
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
        Self {
            slots,
            mask: capacity as i64 - 1,
            #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
            write_prefetch: has_prefetchw(),
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.slots.len()
    }

    #[inline]
    fn cell(&self, sequence: i64) -> &UnsafeCell<T> {
        self.reader().cell(sequence)
    }

    /// The array's address and its mask, for the single producer to keep in its
    /// own fields ([`Writer`]).
    #[inline]
    pub(crate) fn writer(&self) -> Writer<T> {
        Writer {
            // From the whole array, so the pointer may reach every slot.
            first: std::ptr::NonNull::from(&*self.slots).cast(),
            mask: self.mask,
        }
    }

    /// The array and its mask, for a stage to hold in its own variables through
    /// a batch: read through `&Slots`, they would be loaded again after every
    /// call the handler makes out, since the ring's shared state has interior
    /// mutability and the compiler cannot tell the call did not change them.
    #[inline]
    pub(crate) fn reader(&self) -> Reader<'_, T> {
        Reader {
            cells: &self.slots,
            mask: self.mask,
        }
    }

    /// Asks for the line of `sequence`'s slot in the state a write needs
    /// (`prefetchw`), so the producer's stores do not each wait for the line to
    /// come back from the stage that read it a lap ago. Only for a slot the
    /// producer may write (one the gating stages released): taking the line
    /// of a slot a stage still reads would stall that stage. A no-op where the
    /// CPU lacks the instruction.
    #[inline]
    pub(crate) fn prefetch_for_write(&self, sequence: i64) {
        #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
        if self.write_prefetch {
            let address = std::ptr::from_ref(self.cell(sequence));
            // SAFETY: a prefetch reads and writes no memory in the program's sense
            // and cannot fault; `write_prefetch` says the CPU has the instruction.
            unsafe {
                std::arch::asm!(
                    "prefetchw [{0}]",
                    in(reg) address,
                    options(nostack, readonly, preserves_flags)
                );
            }
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
        let _ = sequence;
    }

    /// How many slots ahead of the one it handles a stage prefetches: about 1 KiB,
    /// far enough that the line arrives (from the producer's core) before the
    /// stage gets there, near enough to stay in its L1.
    pub(crate) const PREFETCH_AHEAD: i64 = Self::spanning(1024);

    /// Slots per 64-byte cache line (at least 1).
    pub(crate) const PER_LINE: i64 = Self::spanning(64);

    /// Whether `sequence` is the first of a group of [`PER_LINE`](Self::PER_LINE)
    /// slots. One prefetch per group reaches every line of a run of slots (their
    /// addresses are at most 64 bytes apart, whatever the array's alignment), where
    /// one per slot would ask for each line several times: instructions on the hot
    /// path for nothing (results/README.md, "The batch-1 claim's instructions").
    #[inline]
    pub(crate) const fn starts_group(sequence: i64) -> bool {
        (sequence as u64).is_multiple_of(Self::PER_LINE as u64)
    }

    /// Whether the `n` sequences up to `last` (`last - n` not negative) hold the
    /// first of a group of [`PER_LINE`](Self::PER_LINE) slots: one test for one
    /// sequence.
    #[inline]
    pub(crate) const fn crosses_group(last: i64, n: i64) -> bool {
        if n == 1 {
            Self::starts_group(last)
        } else {
            let per_line = Self::PER_LINE as u64;
            (last as u64) / per_line != (last - n) as u64 / per_line
        }
    }

    /// How many slots `bytes` hold (at least 1, and 1 for a zero-sized `T`).
    pub(crate) const fn spanning(bytes: usize) -> i64 {
        match bytes.checked_div(std::mem::size_of::<T>()) {
            Some(0) | None => 1,
            Some(slots) => slots as i64,
        }
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

/// The slots as the single producer writes them ([`Slots::writer`]): the
/// array's address and mask, kept in the producer's own fields. The producer's
/// fields stay in registers through a run of claims; read through the ring's
/// shared state, the address and mask would be loaded again after every
/// publication's Release store.
pub(crate) struct Writer<T> {
    first: std::ptr::NonNull<UnsafeCell<T>>,
    mask: i64,
}

// SAFETY: a writer is an address into the slots of a ring whose `Arc` its
// owner holds beside it: sending or sharing it is sending or sharing that `Arc`,
// which needs what `Slots` needs.
unsafe impl<T: Send + Sync> Send for Writer<T> {}
// SAFETY: as above.
unsafe impl<T: Send + Sync> Sync for Writer<T> {}

impl<T> Writer<T> {
    /// Exclusive access to the slot of `sequence`.
    ///
    /// # Safety
    ///
    /// As [`Slots::write`], and the slots this writer came from must still be
    /// alive.
    #[inline]
    pub(crate) unsafe fn write(&self, sequence: i64) -> MutPtr<T> {
        debug_assert!(sequence >= 0, "negative sequence {sequence}");
        let index = (sequence & self.mask) as usize;
        // SAFETY: `mask` is the array's length less one (a power of two), so the
        // slot is in the array, which is alive (the caller's contract).
        let cell = unsafe { &*self.first.as_ptr().add(index) };
        cell.get_mut()
    }
}

/// The slots as a stage reads them ([`Slots::reader`]).
pub(crate) struct Reader<'a, T> {
    cells: &'a [UnsafeCell<T>],
    mask: i64,
}

impl<T> Clone for Reader<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Reader<'_, T> {}

impl<'a, T> Reader<'a, T> {
    #[inline]
    fn cell(self, sequence: i64) -> &'a UnsafeCell<T> {
        debug_assert!(sequence >= 0, "negative sequence {sequence}");
        let index = (sequence & self.mask) as usize;
        debug_assert!(index < self.cells.len());
        // SAFETY: `mask` is `len - 1` for a power-of-two `len`, so `index < len`.
        unsafe { self.cells.get_unchecked(index) }
    }

    /// Shared access to the slot of `sequence`.
    ///
    /// # Safety
    ///
    /// `sequence` must be published, and the caller's stage must not have released
    /// it (its sequence is below `sequence`), so no producer can be writing the slot.
    #[inline]
    pub(crate) unsafe fn read(self, sequence: i64) -> ConstPtr<T> {
        self.cell(sequence).get()
    }

    /// Asks the CPU to start bringing the slot of `sequence` into this core's cache,
    /// for a stage that will read it soon. A hint only: nothing is read, so it is
    /// sound for any sequence, and a no-op where no prefetch instruction is used.
    #[inline]
    pub(crate) fn prefetch(self, sequence: i64) {
        #[cfg(all(target_arch = "x86_64", not(loom), not(miri)))]
        {
            let address = std::ptr::from_ref(self.cell(sequence)).cast::<i8>();
            // SAFETY: a prefetch touches no memory in the program's sense; any
            // address is allowed, and this one is a live slot besides.
            unsafe { std::arch::x86_64::_mm_prefetch(address, std::arch::x86_64::_MM_HINT_T0) }
        }
        #[cfg(not(all(target_arch = "x86_64", not(loom), not(miri))))]
        let _ = sequence;
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Slots;

    #[test]
    fn a_run_of_claims_crosses_each_line_group_once() {
        // 16-byte slots: four to a line.
        type Line = Slots<[u64; 2]>;
        assert_eq!(Line::PER_LINE, 4);
        for n in [1, 3, 4, 5, 100] {
            let mut crossings = 0;
            // From sequence 4: `last - n` is not negative.
            let mut last = 4 + n - 1;
            while last < 4_000 {
                if Line::crosses_group(last, n) {
                    crossings += 1;
                    // Exactly when a group's first slot is among the claimed.
                    assert!((last - n + 1..=last).any(Line::starts_group), "{n} {last}");
                } else {
                    assert!(!(last - n + 1..=last).any(Line::starts_group), "{n} {last}");
                }
                last += n;
            }
            assert!(crossings > 0);
        }
        // Slots wider than a line: every slot starts its own group.
        assert!(Slots::<[u8; 100]>::crosses_group(7, 1));
    }
}
