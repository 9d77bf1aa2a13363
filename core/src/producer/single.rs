//! [`SingleProducer`]: the one producer of a ring; it owns the claim counter.

use std::time::Instant;

use super::sealed::Reserve;
use super::Producer;
use crate::error::{Halted, TryClaimError};
use crate::sequence::INITIAL;
use crate::shared::Shared;
use crate::slots::Slots;
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
}

impl<T> SingleProducer<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        shared.add_producer();
        Self {
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
        let limit = self.shared.sequencer.single_cursor().limit();
        if last > limit {
            look_again(&self.shared, last, limit, |shared, wrap_point| {
                shared.wait_for_room(wrap_point, None)
            })
            .map_err(|_| Halted)?;
        }
        prefetch_ahead(&self.shared, last, n, limit);
        self.claimed = last;
        Ok(last)
    }

    fn try_reserve(&mut self, n: i64, deadline: Option<Instant>) -> Result<i64, TryClaimError> {
        let last = self.claimed + n;
        let limit = self.shared.sequencer.single_cursor().limit();
        if last > limit {
            look_again(&self.shared, last, limit, |shared, wrap_point| {
                shared.room_by(wrap_point, deadline)
            })?;
        }
        prefetch_ahead(&self.shared, last, n, limit);
        self.claimed = last;
        Ok(last)
    }
}

/// After a claim of `n` slots up to `last`: asks for the lines of as many slots
/// `PREFETCH_AHEAD` further on (16 lines at most), as far as the `limit` read
/// allows, so the claims to come find them ready for writing.
#[inline]
fn prefetch_ahead<T>(shared: &Shared<T>, last: i64, n: i64, limit: i64) {
    let ahead = Slots::<T>::PREFETCH_AHEAD;
    let end = (last + ahead).min(limit);
    let mut sequence = last + ahead + 1 - n.min(16 * Slots::<T>::PER_LINE);
    while sequence <= end {
        shared.slots.prefetch_for_write(sequence);
        sequence += Slots::<T>::PER_LINE;
    }
}

/// The slow path of a claim up to `last` past the `limit` read: whether the ring
/// was halted, then the gating minimum `room` finds (waiting or not, as the claim
/// does), and the limit it gives. A function of the shared state alone, so that
/// the producer's own fields stay in registers on the fast path.
#[cold]
fn look_again<T>(
    shared: &Shared<T>,
    last: i64,
    limit: i64,
    room: impl FnOnce(&Shared<T>, i64) -> Result<i64, TryClaimError>,
) -> Result<(), TryClaimError> {
    if shared.is_halted() {
        return Err(TryClaimError::Halted);
    }
    let minimum = room(shared, last - shared.capacity())?;
    shared
        .sequencer
        .single_cursor()
        .advance_limit(limit, minimum + shared.capacity())
        .map_err(|()| TryClaimError::Halted)
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
