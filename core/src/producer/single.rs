//! [`SingleProducer`]: the one producer of a ring; it owns the claim counter.

use std::mem::ManuallyDrop;
use std::time::Instant;

use super::sealed::Reserve;
use super::Producer;
use crate::error::{Halted, TryClaimError};
use crate::sequence::INITIAL;
use crate::sequencer::single::SingleCursor;
use crate::shared::Shared;
use crate::slots::{Slots, Writer};
use crate::sync::{Arc, MutPtr};

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
    /// Dropped by hand (`Drop`), from a copy of the pointer: dropping the field in
    /// place would hand the producer's own address to `Arc`'s out-of-line drop,
    /// and a producer whose address escapes has its fields stored and loaded
    /// again around every publication's Release store, where one that stays
    /// local keeps them in registers.
    shared: ManuallyDrop<Arc<Shared<T>>>,
    /// The highest sequence claimed so far. The cursor holds the same number once
    /// the claim is published, but the stages read the cursor's line: a producer
    /// that read it back at each claim would wait for the line to come back from
    /// a stage that just looked (results/README.md, "The batch-1 claim's
    /// instructions").
    claimed: i64,
    /// The ring's slots, and whether its strategy parks: copies that stay in
    /// registers with the producer through a run of claims.
    slots: Writer<T>,
    parks: bool,
}

impl<T> SingleProducer<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        shared.add_producer();
        Self {
            claimed: INITIAL,
            slots: shared.slots.writer(),
            parks: shared.waiter.parks(),
            shared: ManuallyDrop::new(shared),
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
    unsafe fn slot(&self, sequence: i64) -> MutPtr<T> {
        // SAFETY: the caller's contract is `Writer::write`'s, and the slots live
        // as long as `self.shared`.
        unsafe { self.slots.write(sequence) }
    }

    #[inline]
    fn parks(&self) -> bool {
        self.parks
    }

    #[inline]
    fn reserve(&mut self, n: i64) -> Result<i64, Halted> {
        let last = self.claimed + n;
        let mut limit = self.shared.sequencer.single_cursor().limit();
        if last > limit {
            limit = look_again(&self.shared, last, limit, |shared, wrap_point| {
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
        let mut limit = self.shared.sequencer.single_cursor().limit();
        if last > limit {
            limit = look_again(&self.shared, last, limit, |shared, wrap_point| {
                shared.room_by(wrap_point, deadline)
            })?;
        }
        prefetch_ahead(&self.shared, last, n, limit);
        self.claimed = last;
        Ok(last)
    }
}

/// After a claim of `n` slots up to `last`, if it brought a new line group
/// `PREFETCH_AHEAD` further on (one test): asks for the lines of as many slots,
/// ending that far on (64 lines at most, and as far as the `limit` read allows),
/// so the claims to come find them ready for writing. One slot per line group is
/// asked for, so a claim of one slot asks for one line, at one claim in
/// [`PER_LINE`](Slots::PER_LINE). A claim longer than `PREFETCH_AHEAD` also asks
/// for its own last lines, just before they are written, so that no line of a run
/// of such claims goes unasked.
#[inline]
fn prefetch_ahead<T>(shared: &Shared<T>, last: i64, n: i64, limit: i64) {
    if !Slots::<T>::crosses_group(last + Slots::<T>::PREFETCH_AHEAD, n) {
        return;
    }
    let per_line = Slots::<T>::PER_LINE;
    let end = (last + Slots::<T>::PREFETCH_AHEAD).min(limit);
    if n == 1 {
        // A constant where `publish` is inlined: one slot, the first of its group.
        if end == last + Slots::<T>::PREFETCH_AHEAD {
            shared.slots.prefetch_for_write(end);
        }
        return;
    }
    // Positive: `last >= n - 1` and `PREFETCH_AHEAD >= 1`.
    let from = (last + Slots::<T>::PREFETCH_AHEAD + 1 - n.min(64 * per_line)) as u64;
    let mut sequence = (from.div_ceil(per_line as u64) * per_line as u64) as i64;
    while sequence <= end {
        shared.slots.prefetch_for_write(sequence);
        sequence += per_line;
    }
}

/// The slow path of a claim up to `last` past the `limit` read: whether the ring
/// was halted, then the gating minimum `room` finds (waiting or not, as the claim
/// does), and the limit it gives, which it returns. A function of the shared state
/// alone, so that the producer's own fields stay in registers on the fast path.
#[cold]
fn look_again<T>(
    shared: &Shared<T>,
    last: i64,
    limit: i64,
    room: impl FnOnce(&Shared<T>, i64) -> Result<i64, TryClaimError>,
) -> Result<i64, TryClaimError> {
    if SingleCursor::is_halted(limit) || shared.is_halted() {
        return Err(TryClaimError::Halted);
    }
    let minimum = room(shared, last - shared.capacity())?;
    let advanced = minimum + shared.capacity();
    shared
        .sequencer
        .single_cursor()
        .advance_limit(limit, advanced)
        .map_err(|()| TryClaimError::Halted)?;
    Ok(advanced)
}

impl<T> Drop for SingleProducer<T> {
    fn drop(&mut self) {
        // SAFETY: `shared` is not used again: this is the producer's drop.
        let shared = unsafe { ManuallyDrop::take(&mut self.shared) };
        shared.remove_producer();
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
