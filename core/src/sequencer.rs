//! Sequencers: who may write which slot, and when a written slot becomes visible.
//!
//! A producer *claims* sequences, writes their slots in place, then *publishes* them.
//! Stages read a slot only after they observed its publication, and a producer may
//! claim sequence `s` only after every gating stage has released `s - capacity`.
//!
//! - [`single`]: one producer handle; claiming is a plain add on a field the handle
//!   owns, publishing one Release store of a mark at the run's first slot (what
//!   stages poll) and one of the cursor.
//! - [`multi`]: any number of handles; claiming is one atomic add on a shared counter,
//!   publishing marks each slot available, so stages never read a hole left by a
//!   slower producer.

pub(crate) mod multi;
pub(crate) mod single;

/// The publication protocol in use, as the stages and claims see it.
#[allow(clippy::large_enum_variant)] // reason: one per ring, inside its `Arc`; boxing the
                                     // multi-producer variant would add a pointer chase to every publish and poll.
pub(crate) enum Sequencer {
    Single(single::SingleCursor),
    Multi(multi::MultiCursor),
}

impl Sequencer {
    /// Makes the claimed sequences `first..=last` visible to the stages. Their slots
    /// must be fully written.
    #[inline]
    pub(crate) fn publish(&self, first: i64, last: i64) {
        match self {
            Sequencer::Single(cursor) => cursor.publish(first, last),
            Sequencer::Multi(cursor) => cursor.publish(first, last),
        }
    }

    /// For a stage that runs first and consumes whole published runs: the highest
    /// `s >= next - 1` such that every sequence in `next..=s` is published.
    #[inline]
    pub(crate) fn published_from(&self, next: i64) -> i64 {
        match self {
            Sequencer::Single(cursor) => cursor.published_from(next),
            Sequencer::Multi(cursor) => cursor.highest_published(next),
        }
    }

    /// The highest `s >= next - 1` such that every sequence in `next..=s` is
    /// published (so `next - 1` when `next` is not), for any `next`: off the hot
    /// path (counting unprocessed events).
    #[inline]
    pub(crate) fn highest_published(&self, next: i64) -> i64 {
        match self {
            Sequencer::Single(cursor) => cursor.published(),
            Sequencer::Multi(cursor) => cursor.highest_published(next),
        }
    }
}

/// The public claim and publish methods, shared by [`single::Producer`] (`&mut self`)
/// and [`multi::MultiProducer`] (`&self`). Each type provides `claim_up_to(n)`
/// (reserve `n` more sequences, waiting for room) and `try_claim_up_to(n, deadline)`
/// (reserve them if there is room now, or by `deadline`), returning the last
/// sequence reserved.
macro_rules! producer_methods {
    ($receiver:ty) => {
        /// Number of slots in the ring.
        pub fn capacity(&self) -> usize {
            self.shared.slots.capacity()
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
        pub fn claim(self: $receiver) -> Result<crate::Claim<'_, T>, Halted> {
            let sequence = self.claim_up_to(1)?;
            // SAFETY: `claim_up_to` reserved `sequence` for this handle alone, after
            // the gating stages released `sequence - capacity`.
            Ok(unsafe { crate::Claim::new(&self.shared, sequence) })
        }

        /// Claims the next slot if there is room now.
        ///
        /// # Errors
        ///
        /// [`TryClaimError::Full`] when the slowest stage is a whole ring behind,
        /// [`TryClaimError::Halted`] when the ring was halted.
        #[inline]
        pub fn try_claim(self: $receiver) -> Result<crate::Claim<'_, T>, TryClaimError> {
            let sequence = self.try_claim_up_to(1, None)?;
            // SAFETY: as in `claim`.
            Ok(unsafe { crate::Claim::new(&self.shared, sequence) })
        }

        /// Claims the next slot, waiting for room until `deadline`.
        ///
        /// # Errors
        ///
        /// [`TryClaimError::Full`] when the ring was still full at `deadline`,
        /// [`TryClaimError::Halted`] when the ring was halted.
        pub fn claim_before(
            self: $receiver,
            deadline: std::time::Instant,
        ) -> Result<crate::Claim<'_, T>, TryClaimError> {
            let sequence = self.try_claim_up_to(1, Some(deadline))?;
            // SAFETY: as in `claim`.
            Ok(unsafe { crate::Claim::new(&self.shared, sequence) })
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
        pub fn claim_batch(self: $receiver, n: usize) -> Result<crate::BatchClaim<'_, T>, Halted> {
            let n = self.batch_len(n);
            let last = self.claim_up_to(n)?;
            // SAFETY: as in `claim`, for every sequence of the batch.
            Ok(unsafe { crate::BatchClaim::new(&self.shared, last - n + 1, last) })
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
        pub fn try_claim_batch(
            self: $receiver,
            n: usize,
        ) -> Result<crate::BatchClaim<'_, T>, TryClaimError> {
            let n = self.batch_len(n);
            let last = self.try_claim_up_to(n, None)?;
            // SAFETY: as in `claim`, for every sequence of the batch.
            Ok(unsafe { crate::BatchClaim::new(&self.shared, last - n + 1, last) })
        }

        /// Claims a slot, fills it with `write` and publishes it. Returns its
        /// sequence.
        ///
        /// # Errors
        ///
        /// [`Halted`] when the ring was halted; `write` is not called.
        #[inline]
        pub fn publish(self: $receiver, write: impl FnOnce(&mut T)) -> Result<i64, Halted> {
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
        pub fn try_publish(
            self: $receiver,
            write: impl FnOnce(&mut T),
        ) -> Result<i64, TryClaimError> {
            let mut claim = self.try_claim()?;
            write(&mut claim);
            Ok(claim.sequence())
        }

        fn batch_len(&self, n: usize) -> i64 {
            assert!(
                n > 0 && n <= self.capacity(),
                "a batch claims between 1 and {} slots, not {n}",
                self.capacity()
            );
            n as i64
        }
    };
}
pub(crate) use producer_methods;
