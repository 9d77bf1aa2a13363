//! [`SingleProducer`]: the one producer of a ring; it owns the claim counter.

use std::time::Instant;

use super::sealed::Reserve;
use super::Producer;
use crate::error::{Halted, TryClaimError};
use crate::sequence::INITIAL;
use crate::shared::Shared;
use crate::sync::Arc;

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
/// use seqlane::{Producer, RingBuilder, Stage};
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
pub struct SingleProducer<T> {
    shared: Arc<Shared<T>>,
    /// The highest sequence claimed so far.
    claimed: i64,
    /// The highest sequence it may claim without looking at the gating stages: a
    /// lap past a gating minimum seen earlier (they have released at least that).
    limit: i64,
}

impl<T> SingleProducer<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        shared.add_producer();
        Self {
            limit: INITIAL + shared.capacity(),
            claimed: INITIAL,
            shared,
        }
    }

    /// Wakes the ring's stages that wait parked, to look again at work they are
    /// told of other than by events (see `EventHandler::has_work`).
    pub(crate) fn wake_stages(&self) {
        self.shared.waiter.notify();
    }
}

impl<T> Reserve<T> for SingleProducer<T> {
    const SINGLE: bool = true;

    #[inline]
    fn shared(&self) -> &Shared<T> {
        &self.shared
    }

    #[inline]
    fn reserve(&mut self, n: i64) -> Result<i64, Halted> {
        let last = self.claimed + n;
        if last > self.limit || self.shared.is_halted() {
            let wrap_point = last - self.shared.capacity();
            self.limit = self.shared.wait_for_room_forever(wrap_point)? + self.shared.capacity();
        }
        self.claimed = last;
        Ok(last)
    }

    fn try_reserve(&mut self, n: i64, deadline: Option<Instant>) -> Result<i64, TryClaimError> {
        if self.shared.is_halted() {
            return Err(TryClaimError::Halted);
        }
        let last = self.claimed + n;
        if last > self.limit {
            let wrap_point = last - self.shared.capacity();
            self.limit = self.shared.room_by(wrap_point, deadline)? + self.shared.capacity();
        }
        self.claimed = last;
        Ok(last)
    }
}

impl<T> Drop for SingleProducer<T> {
    fn drop(&mut self) {
        self.shared.remove_producer();
    }
}

impl<T> std::fmt::Debug for SingleProducer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SingleProducer")
            .field("capacity", &self.capacity())
            .field("claimed", &self.claimed)
            .finish_non_exhaustive()
    }
}
