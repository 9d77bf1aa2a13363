//! The single-producer sequencer: one [`Producer`] handle owns the claim counter.

use std::time::Instant;

use crate::error::{Halted, TryClaimError};
use crate::sequence::{Sequence, INITIAL};
use crate::shared::Shared;
use crate::sync::Arc;

/// The published cursor of a single-producer ring.
pub(crate) struct SingleCursor {
    /// Highest published sequence. Every slot up to it is fully written; the
    /// producer writes no slot at or below it until the gating stages release it.
    cursor: Sequence,
}

impl SingleCursor {
    pub(crate) fn new() -> Self {
        Self {
            cursor: Sequence::new(INITIAL),
        }
    }

    #[inline]
    pub(crate) fn publish(&self, last: i64) {
        // Release: pairs with the Acquire in `published`, so the slot writes before
        // it are visible to a stage that sees `last`.
        self.cursor.set(last);
    }

    #[inline]
    pub(crate) fn published(&self) -> i64 {
        // Acquire: pairs with the Release in `publish`.
        self.cursor.get()
    }
}

/// The one producer of a ring built with
/// [`RingBuilder::build_single_producer`](crate::RingBuilder::build_single_producer).
///
/// It is `Send` but not `Clone`: exactly one thread claims and publishes. Dropping it
/// tells the stages that nothing more will come, so they drain and stop, and
/// [`Ring::join`](crate::Ring::join) returns.
///
/// # Examples
///
/// ```
/// use seqlane::{RingBuilder, Stage};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let sum = Arc::new(AtomicU64::new(0));
/// let seen = Arc::clone(&sum);
/// let mut builder = RingBuilder::new(1024, || 0u64);
/// builder.add_stage(Stage::new(move |value: &u64, _seq: i64, _end_of_batch: bool| {
///     seen.fetch_add(*value, Ordering::Relaxed);
/// }));
/// let (mut producer, ring) = builder.build_single_producer().unwrap();
///
/// for i in 1..=100 {
///     producer.publish(|slot| *slot = i).unwrap();
/// }
/// // Or claim a batch and publish it with one store.
/// let mut batch = producer.claim_batch(10).unwrap();
/// for (_sequence, slot) in batch.iter_mut() {
///     *slot = 1;
/// }
/// batch.publish();
///
/// drop(producer);
/// ring.join().unwrap();
/// assert_eq!(sum.load(Ordering::Relaxed), 5050 + 10);
/// ```
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// The highest sequence claimed so far.
    claimed: i64,
    /// A gating minimum seen earlier: the gating stages have released at least this.
    cached_gating: i64,
}

impl<T> Producer<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        shared.add_producer();
        Self {
            shared,
            claimed: INITIAL,
            cached_gating: INITIAL,
        }
    }

    crate::sequencer::producer_methods!(&mut Self);

    /// Reserves the next `n` sequences, waiting for the gating stages.
    #[inline]
    fn claim_up_to(&mut self, n: i64) -> Result<i64, Halted> {
        let last = self.claimed + n;
        let wrap_point = last - self.shared.capacity();
        if wrap_point > self.cached_gating || self.shared.is_halted() {
            self.cached_gating = self.shared.wait_for_room_forever(wrap_point)?;
        }
        self.claimed = last;
        Ok(last)
    }

    fn try_claim_up_to(&mut self, n: i64, deadline: Option<Instant>) -> Result<i64, TryClaimError> {
        if self.shared.is_halted() {
            return Err(TryClaimError::Halted);
        }
        let last = self.claimed + n;
        let wrap_point = last - self.shared.capacity();
        if wrap_point > self.cached_gating {
            self.cached_gating = self.shared.room_by(wrap_point, deadline)?;
        }
        self.claimed = last;
        Ok(last)
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        self.shared.remove_producer();
    }
}

impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("capacity", &self.capacity())
            .field("claimed", &self.claimed)
            .finish_non_exhaustive()
    }
}
