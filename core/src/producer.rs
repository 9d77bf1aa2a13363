//! Producers: the handles that claim slots, write them in place and publish them.
//!
//! Both kinds implement [`Producer`], so code that publishes is written once for
//! either:
//!
//! - [`SingleProducer`]: the one handle of a ring built with
//!   [`RingBuilder::build_single_producer`](crate::RingBuilder::build_single_producer);
//!   claiming is a plain add on a field it owns.
//! - [`MultiProducer`]: a cloneable handle of a ring built with
//!   [`RingBuilder::build_multi_producer`](crate::RingBuilder::build_multi_producer);
//!   claiming is one atomic add on a counter the handles share (near a full ring,
//!   a compare-exchange once there is room, so no handle waits holding a claim).
//!
//! # Examples
//!
//! ```
//! use seqlane::{Producer, RingBuilder, Stage};
//!
//! /// Publishes `count` values through any producer, in batches of `batch`.
//! fn fill(producer: &mut impl Producer<u64>, count: u64, batch: usize) {
//!     let mut next = 0;
//!     while next < count {
//!         let n = batch.min((count - next) as usize);
//!         let mut claim = producer.claim_batch(n).unwrap();
//!         for (_sequence, slot) in claim.iter_mut() {
//!             *slot = next;
//!             next += 1;
//!         }
//!     }
//! }
//!
//! let mut builder = RingBuilder::new(64, || 0u64);
//! builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| {}));
//! let (mut single, ring) = builder.build_single_producer()?;
//! fill(&mut single, 1_000, 10);
//! drop(single);
//! ring.join()?;
//!
//! let mut builder = RingBuilder::new(64, || 0u64);
//! builder.add_stage(Stage::new(|_: &u64, _: i64, _: bool| {}));
//! let (mut multi, ring) = builder.build_multi_producer()?;
//! fill(&mut multi, 1_000, 10);
//! drop(multi);
//! ring.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod multi;
mod single;

use std::time::Instant;

use crate::claim::{BatchClaim, Claim};
use crate::error::{Halted, TryClaimError};

pub use multi::MultiProducer;
pub use single::SingleProducer;

/// What each kind of producer provides for the methods of [`Producer`]: the ring,
/// and the reservation of sequences. Sealed: only this crate's producers implement
/// it, since a claim's safety rests on these reservations.
pub(crate) mod sealed {
    use std::time::Instant;

    use crate::error::{Halted, TryClaimError};
    use crate::shared::Shared;
    use crate::sync::MutPtr;

    pub trait Reserve<T> {
        /// Whether this is the single producer of its ring.
        const SINGLE: bool;

        /// The ring's shared state.
        fn shared(&self) -> &Shared<T>;

        /// Reserves the next `n` sequences for this handle alone, waiting for the
        /// gating stages to release the slots they reuse; returns the last one.
        fn reserve(&mut self, n: i64) -> Result<i64, Halted>;

        /// Reserves the next `n` sequences if there is room now, or by `deadline`.
        fn try_reserve(&mut self, n: i64, deadline: Option<Instant>) -> Result<i64, TryClaimError>;

        /// The slot of `sequence`, for writing.
        ///
        /// # Safety
        ///
        /// As [`Slots::write`](crate::slots::Slots::write): `sequence` reserved by
        /// this handle, its slot released by every gating stage.
        #[inline]
        unsafe fn slot(&self, sequence: i64) -> MutPtr<T> {
            // SAFETY: the caller's contract.
            unsafe { self.shared().slots.write(sequence) }
        }

        /// Whether the ring's threads may park, so a publication must wake them.
        #[inline]
        fn parks(&self) -> bool {
            self.shared().waiter.parks()
        }
    }
}

/// Claims slots of a ring, to write in place and publish: the methods
/// [`SingleProducer`] and [`MultiProducer`] share.
///
/// A claim borrows the producer mutably, so one handle has one claim open at a
/// time; the stages see a handle's events in the order it published them.
pub trait Producer<T>: sealed::Reserve<T> {
    /// Number of slots in the ring.
    fn capacity(&self) -> usize {
        self.shared().slots.capacity()
    }

    /// Claims the next slot, waiting for room per the ring's wait strategy. Write
    /// the slot through the returned guard; it is published when the guard is
    /// dropped or [`Claim::publish`](crate::Claim::publish) is called.
    ///
    /// # Errors
    ///
    /// [`Halted`] when the ring was halted (a stage panicked or the owner called
    /// [`Ring::halt`](crate::Ring::halt)): nothing would process the event.
    #[inline]
    fn claim(&mut self) -> Result<Claim<'_, T>, Halted> {
        let sequence = self.reserve(1)?;
        // SAFETY: `reserve` reserved `sequence` for this handle alone, after
        // the gating stages released `sequence - capacity`.
        Ok(unsafe { claim_of(self, sequence) })
    }

    /// Claims the next slot if there is room now.
    ///
    /// # Errors
    ///
    /// [`TryClaimError::Full`] when the slowest stage is a whole ring behind,
    /// [`TryClaimError::Halted`] when the ring was halted.
    #[inline]
    fn try_claim(&mut self) -> Result<Claim<'_, T>, TryClaimError> {
        let sequence = self.try_reserve(1, None)?;
        // SAFETY: as in `claim`.
        Ok(unsafe { claim_of(self, sequence) })
    }

    /// Claims the next slot, waiting for room until `deadline`.
    ///
    /// # Errors
    ///
    /// [`TryClaimError::Full`] when the ring was still full at `deadline`,
    /// [`TryClaimError::Halted`] when the ring was halted.
    fn claim_before(&mut self, deadline: Instant) -> Result<Claim<'_, T>, TryClaimError> {
        let sequence = self.try_reserve(1, Some(deadline))?;
        // SAFETY: as in `claim`.
        Ok(unsafe { claim_of(self, sequence) })
    }

    /// Claims the next `n` slots at once, waiting for room. They are published
    /// together when the batch is dropped or
    /// [`published`](crate::BatchClaim::publish).
    ///
    /// # Errors
    ///
    /// [`Halted`] when the ring was halted.
    ///
    /// # Panics
    ///
    /// If `n` is zero or larger than the ring.
    #[inline]
    fn claim_batch(&mut self, n: usize) -> Result<BatchClaim<'_, T>, Halted> {
        let n = batch_len(n, self.capacity());
        let last = self.reserve(n)?;
        // SAFETY: as in `claim`, for every sequence of the batch.
        Ok(unsafe { BatchClaim::new(self.shared(), Self::SINGLE, last - n + 1, last) })
    }

    /// Claims the next `n` slots if there is room for all of them now.
    ///
    /// # Errors
    ///
    /// As [`try_claim`](Self::try_claim).
    ///
    /// # Panics
    ///
    /// If `n` is zero or larger than the ring.
    fn try_claim_batch(&mut self, n: usize) -> Result<BatchClaim<'_, T>, TryClaimError> {
        let n = batch_len(n, self.capacity());
        let last = self.try_reserve(n, None)?;
        // SAFETY: as in `claim`, for every sequence of the batch.
        Ok(unsafe { BatchClaim::new(self.shared(), Self::SINGLE, last - n + 1, last) })
    }

    /// Claims a slot, fills it with `write` and publishes it. Returns its
    /// sequence.
    ///
    /// # Errors
    ///
    /// [`Halted`] when the ring was halted; `write` is not called.
    #[inline]
    fn publish(&mut self, write: impl FnOnce(&mut T)) -> Result<i64, Halted> {
        let mut claim = self.claim()?;
        write(&mut claim);
        Ok(claim.sequence())
    }

    /// Like [`publish`](Self::publish), but fails instead of waiting for room.
    ///
    /// # Errors
    ///
    /// As [`try_claim`](Self::try_claim); `write` is not called.
    #[inline]
    fn try_publish(&mut self, write: impl FnOnce(&mut T)) -> Result<i64, TryClaimError> {
        let mut claim = self.try_claim()?;
        write(&mut claim);
        Ok(claim.sequence())
    }
}

impl<T, P: sealed::Reserve<T>> Producer<T> for P {}

/// The claim of `sequence` through `producer`, with the slot and the wake-up flag
/// as the handle finds them.
///
/// # Safety
///
/// `producer` reserved `sequence` for itself alone, after the gating stages
/// released `sequence - capacity`.
#[inline]
unsafe fn claim_of<T, P: sealed::Reserve<T> + ?Sized>(producer: &P, sequence: i64) -> Claim<'_, T> {
    // SAFETY: the caller's contract is `Reserve::slot`'s.
    let slot = unsafe { producer.slot(sequence) };
    Claim::with_slot(
        producer.shared(),
        P::SINGLE,
        sequence,
        slot,
        producer.parks(),
    )
}

/// `n` as a batch length, checked against the ring's `capacity`.
fn batch_len(n: usize, capacity: usize) -> i64 {
    assert!(
        n > 0 && n <= capacity,
        "a batch claims between 1 and {capacity} slots, not {n}"
    );
    n as i64
}
