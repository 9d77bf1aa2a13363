//! Claim guards: write access to claimed slots, published when the guard goes.

use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ops::{Deref, DerefMut};

use crate::shared::Shared;
use crate::sync::MutPtr;

/// One claimed slot, written in place through `Deref`/`DerefMut`.
///
/// The slot still holds whatever an earlier event left there (or the factory's
/// value): overwrite every field the stages read. It is published when the guard is
/// dropped or [`publish`](Claim::publish)ed; if the producer's thread panics while
/// holding it, the slot is published as it stands, so the stages never wait on a
/// hole. Leaking the guard (`mem::forget`) leaves such a hole: the stages will stop
/// at it.
#[must_use = "a claim is published when dropped; write the slot first"]
pub struct Claim<'a, T> {
    shared: &'a Shared<T>,
    /// Whether the single producer made the claim (see `Sequencer::publish`).
    single: bool,
    sequence: i64,
    /// The slot's write access, ended in `drop` before the slot is published (it
    /// matters to loom, which tracks the access for as long as the guard lives).
    slot: ManuallyDrop<MutPtr<T>>,
    /// Whether the ring's threads may be parked, to be woken by the publication.
    parks: bool,
    /// Borrows the producer: a single producer has one claim at a time.
    _producer: PhantomData<&'a mut ()>,
}

impl<'a, T> Claim<'a, T> {
    /// # Safety
    ///
    /// The caller must have reserved `sequence` for itself alone, and every gating
    /// stage must have released `sequence - capacity`.
    #[inline]
    pub(crate) unsafe fn new(shared: &'a Shared<T>, single: bool, sequence: i64) -> Self {
        // SAFETY: the caller's contract is `Slots::write`'s.
        let slot = unsafe { shared.slots.write(sequence) };
        Self::with_slot(shared, single, sequence, slot, shared.waiter.parks())
    }

    /// As [`new`](Self::new), with the slot of `sequence` and whether the ring's
    /// strategy parks (so the publication must wake) found by the caller.
    #[inline]
    pub(crate) fn with_slot(
        shared: &'a Shared<T>,
        single: bool,
        sequence: i64,
        slot: MutPtr<T>,
        parks: bool,
    ) -> Self {
        Self {
            shared,
            single,
            sequence,
            parks,
            slot: ManuallyDrop::new(slot),
            _producer: PhantomData,
        }
    }

    /// The sequence of this slot.
    #[inline]
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// Publishes the slot now (the same as dropping the guard).
    #[inline]
    pub fn publish(self) {}
}

impl<T> Deref for Claim<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        // SAFETY: the claim is exclusive until published, which happens only when
        // `self` is dropped, after this borrow ends.
        unsafe { MutPtr::deref(&self.slot) }
    }
}

impl<T> DerefMut for Claim<'_, T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`.
        unsafe { MutPtr::deref(&self.slot) }
    }
}

impl<T> Drop for Claim<'_, T> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: `slot` is not used again; the write access must end before the
        // slot is published to the stages.
        unsafe { ManuallyDrop::drop(&mut self.slot) };
        self.shared
            .sequencer
            .publish(self.single, self.sequence, self.sequence);
        if self.parks {
            self.shared.waiter.wake_parked();
        }
    }
}

impl<T> std::fmt::Debug for Claim<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Claim")
            .field("sequence", &self.sequence)
            .finish_non_exhaustive()
    }
}

/// A run of claimed slots `first..=last`, published together when the guard is
/// dropped or [`publish`](BatchClaim::publish)ed (by one store on a single-producer
/// ring, whatever its length). The same caveats as [`Claim`] apply to every slot.
#[must_use = "a batch is published when dropped; write its slots first"]
pub struct BatchClaim<'a, T> {
    shared: &'a Shared<T>,
    /// Whether the single producer made the claim (see `Sequencer::publish`).
    single: bool,
    first: i64,
    last: i64,
    /// Loom tracks each slot's exclusive access for as long as the batch lives.
    #[cfg(loom)]
    slots: Vec<MutPtr<T>>,
    _producer: PhantomData<&'a mut ()>,
}

impl<'a, T> BatchClaim<'a, T> {
    /// # Safety
    ///
    /// As [`Claim::new`], for every sequence in `first..=last`.
    #[inline]
    pub(crate) unsafe fn new(shared: &'a Shared<T>, single: bool, first: i64, last: i64) -> Self {
        debug_assert!(first <= last && last - first < shared.capacity());
        Self {
            shared,
            single,
            first,
            last,
            // SAFETY: the caller's contract is `Slots::write`'s for each sequence.
            #[cfg(loom)]
            slots: (first..=last)
                .map(|s| unsafe { shared.slots.write(s) })
                .collect(),
            _producer: PhantomData,
        }
    }

    /// The first sequence of the batch.
    pub fn first(&self) -> i64 {
        self.first
    }

    /// The last sequence of the batch.
    pub fn last(&self) -> i64 {
        self.last
    }

    /// Number of slots in the batch.
    pub fn len(&self) -> usize {
        (self.last - self.first + 1) as usize
    }

    /// Always false: a batch holds at least one slot.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The slots with their sequences, in order, to write in place.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (i64, &mut T)> + '_ {
        #[cfg(not(loom))]
        {
            let shared = self.shared;
            (self.first..self.last + 1).map(move |sequence| {
                // SAFETY: the batch holds the claim on every sequence in it, and
                // each is yielded once, so the `&mut` borrows never overlap; they
                // end with `&mut self`, before the batch is published.
                (sequence, unsafe { shared.slots.write(sequence).into_mut() })
            })
        }
        #[cfg(loom)]
        {
            // SAFETY: as above; loom checks it through the guards.
            (self.first..).zip(self.slots.iter().map(|slot| unsafe { slot.deref() }))
        }
    }

    /// Publishes the batch now (the same as dropping the guard).
    pub fn publish(self) {}
}

impl<T> Drop for BatchClaim<'_, T> {
    #[inline]
    fn drop(&mut self) {
        #[cfg(loom)]
        self.slots.clear();
        self.shared
            .sequencer
            .publish(self.single, self.first, self.last);
        self.shared.waiter.notify();
    }
}

impl<T> std::fmt::Debug for BatchClaim<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchClaim")
            .field("first", &self.first)
            .field("last", &self.last)
            .finish_non_exhaustive()
    }
}
