//! [`MultiProducer`]: cloneable producers of one ring, sharing one claim counter.

use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use super::sealed::Reserve;
use super::Producer;
use crate::claim::Claim;
use crate::error::{Halted, TryClaimError};
use crate::sequencer::multi::MultiCursor;
use crate::shared::Shared;
use crate::sync::Arc;
use crate::wait::queue::WakerSlot;

/// A producer of a ring built with
/// [`RingBuilder::build_multi_producer`](crate::RingBuilder::build_multi_producer).
///
/// Clone it for each thread that publishes: all handles share one claim counter, and
/// events from one handle reach the stages in the order that handle published them.
/// The stages drain and stop once every handle is dropped.
///
/// # Examples
///
/// ```
/// use seqlane::{Producer, RingBuilder, Stage};
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
///
/// let count = Arc::new(AtomicU64::new(0));
/// let seen = Arc::clone(&count);
/// let mut builder = RingBuilder::new(256, || 0u64);
/// builder.add_stage(Stage::new(move |_: &u64, _seq: i64, _end_of_batch: bool| {
///     seen.fetch_add(1, Ordering::Relaxed);
/// }));
/// let (producer, ring) = builder.build_multi_producer().unwrap();
///
/// let threads: Vec<_> = (0..4)
///     .map(|_| {
///         let mut producer = producer.clone();
///         std::thread::spawn(move || {
///             for i in 0..1000 {
///                 producer.publish(|slot| *slot = i).unwrap();
///             }
///         })
///     })
///     .collect();
/// drop(producer);
/// for thread in threads {
///     thread.join().unwrap();
/// }
/// ring.join().unwrap();
/// assert_eq!(count.load(Ordering::Relaxed), 4000);
/// ```
pub struct MultiProducer<T> {
    shared: Arc<Shared<T>>,
    /// Whether this handle's last claim came near the end of the room the
    /// producers know of: then its next claim waits for room before it claims
    /// (see `claim_up_to_with`).
    near_full: bool,
}

impl<T> MultiProducer<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>) -> Self {
        shared.add_producer();
        Self {
            shared,
            near_full: true,
        }
    }

    #[inline]
    fn cursor(&self) -> &MultiCursor {
        match self.shared.sequencer.multi_cursor() {
            Some(cursor) => cursor,
            None => {
                unreachable!("a MultiProducer is only built over a multi-producer sequencer")
            }
        }
    }

    /// The highest sequence claimed by any handle so far (-1 before the first).
    /// SeqCst: see `claim_up_to`.
    /// Wakes the ring's parked stages (so they look at their `has_work`), from
    /// any thread, for as long as the returned function lives.
    pub(crate) fn stage_waker(&self) -> std::sync::Arc<dyn Fn() + Send + Sync>
    where
        T: Send + 'static,
    {
        let waker = StageWaker(Arc::clone(&self.shared));
        std::sync::Arc::new(move || waker.notify())
    }

    pub(crate) fn last_claimed(&self) -> i64 {
        self.cursor().claimed.atomic().load(Ordering::SeqCst)
    }

    /// Claims the next slot through a shared handle (the engine's gateways share
    /// theirs); see [`Producer::claim`].
    #[inline]
    pub(crate) fn claim_shared(&self) -> Result<Claim<'_, T>, Halted> {
        let sequence = self.claim_up_to(1)?;
        // SAFETY: `claim_up_to` reserved `sequence` for this call alone, after the
        // gating stages released `sequence - capacity`.
        Ok(unsafe { Claim::new(&self.shared, false, sequence) })
    }

    /// Claims the next slot through a shared handle if there is room now, or by
    /// `deadline`; see [`Producer::try_claim`].
    pub(crate) fn try_claim_shared(
        &self,
        deadline: Option<Instant>,
    ) -> Result<Claim<'_, T>, TryClaimError> {
        let sequence = self.try_claim_up_to(1, deadline)?;
        // SAFETY: as in `claim_shared`.
        Ok(unsafe { Claim::new(&self.shared, false, sequence) })
    }

    /// Claims the next slot for an async task: `Pending` while the ring is full,
    /// with the task woken when a gating stage frees slots (or the ring halts).
    pub(crate) fn poll_claim_shared(
        &self,
        cx: &mut Context<'_>,
        slot: &mut WakerSlot,
    ) -> Poll<Result<Claim<'_, T>, Halted>> {
        self.shared.waiter.poll_until(
            || match self.try_claim_shared(None) {
                Ok(claim) => Some(Ok(claim)),
                Err(TryClaimError::Full) => None,
                Err(TryClaimError::Halted) => Some(Err(Halted)),
            },
            cx,
            slot,
        )
    }

    /// Takes back the waker a [`poll_claim_shared`](Self::poll_claim_shared) left.
    pub(crate) fn forget_waker(&self, slot: &mut WakerSlot) {
        self.shared.waiter.forget(slot);
    }

    /// Tasks waiting in [`poll_claim_shared`](Self::poll_claim_shared) to be woken.
    pub(crate) fn parked_tasks(&self) -> usize {
        self.shared.waiter.parked_tasks()
    }

    /// Reserves the next `n` sequences for a shared handle, which keeps no hint
    /// of its own: it always waits for room before it claims.
    #[inline]
    fn claim_up_to(&self, n: i64) -> Result<i64, Halted> {
        self.claim_up_to_with(n, true).map(|(last, _)| last)
    }

    /// Reserves the next `n` sequences: with one atomic add, then waiting for the
    /// gating stages to release the slots they reuse; or, if `room_first`, only
    /// once there is room for them, with a compare-exchange. Returns the last
    /// sequence and whether it came within an eighth of a ring of the room known
    /// (so the next claim should wait for room first).
    ///
    /// A handle that claims and then waits for room holds a sequence that every
    /// stage must wait for. If it loses its core while it waits (three producers
    /// on two cores, a full ring), the stages stop at that hole until it runs
    /// again, the other producers fill the ring behind it, and the run settles at
    /// the scheduler's pace (results/README.md, "The multi-producer claim at a
    /// full ring"). A compare-exchange after a look at the counter costs more
    /// than the add when producers contend, so a handle only claims that way
    /// while the ring is near full.
    #[inline]
    fn claim_up_to_with(&self, n: i64, room_first: bool) -> Result<(i64, bool), Halted> {
        if self.shared.is_halted() {
            return Err(Halted);
        }
        let cursor = self.cursor();
        let capacity = self.shared.capacity();
        let near_full = |wrap_point: i64, room: i64| wrap_point + (capacity >> 3).max(1) > room;
        if room_first {
            loop {
                let current = cursor.claimed.atomic().load(Ordering::Relaxed);
                let last = current + n;
                let wrap_point = last - capacity;
                // Acquire (in `get`): as below.
                let mut room = cursor.gating_cache.get();
                if wrap_point > room {
                    room = self.shared.wait_for_room_forever(wrap_point)?;
                    cursor.gating_cache.set(room);
                }
                // SeqCst on success: as the add below; the compare-exchange only
                // makes the reservation unique.
                if cursor
                    .claimed
                    .atomic()
                    .compare_exchange_weak(current, last, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
                {
                    return Ok((last, near_full(wrap_point, room)));
                }
            }
        }
        // SeqCst: the add only has to hand out each sequence once (the slot is
        // ordered after the stages' reads by the gating Acquire below), but the
        // engine's gateway pairs it with its load of `closed`, against the SeqCst
        // store of `closed` and load of `last_claimed` in `Engine::shutdown` (a
        // Dekker pair). On x86 it is the same `lock xadd` as Relaxed.
        let last = cursor.claimed.atomic().fetch_add(n, Ordering::SeqCst) + n;
        let wrap_point = last - capacity;
        // Acquire (in `get`): pairs with the Release in `set` below, which passes on
        // what the setter acquired from the gating stages.
        let mut room = cursor.gating_cache.get();
        if wrap_point > room {
            room = self.shared.wait_for_room_forever(wrap_point)?;
            cursor.gating_cache.set(room);
        }
        Ok((last, near_full(wrap_point, room)))
    }

    /// Reserves the next `n` sequences if there is room (now or by `deadline`).
    fn try_claim_up_to(&self, n: i64, deadline: Option<Instant>) -> Result<i64, TryClaimError> {
        let cursor = self.cursor();
        loop {
            if self.shared.is_halted() {
                return Err(TryClaimError::Halted);
            }
            let current = cursor.claimed.atomic().load(Ordering::Relaxed);
            let last = current + n;
            let wrap_point = last - self.shared.capacity();
            if wrap_point > cursor.gating_cache.get() {
                cursor
                    .gating_cache
                    .set(self.shared.room_by(wrap_point, deadline)?);
            }
            // SeqCst on success: as in `claim_up_to`; the compare-exchange only makes
            // the reservation unique.
            if cursor
                .claimed
                .atomic()
                .compare_exchange_weak(current, last, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(last);
            }
        }
    }
}

impl<T> Reserve<T> for MultiProducer<T> {
    const SINGLE: bool = false;

    #[inline]
    fn shared(&self) -> &Shared<T> {
        &self.shared
    }

    #[inline]
    fn reserve(&mut self, n: i64) -> Result<i64, Halted> {
        let (last, near_full) = self.claim_up_to_with(n, self.near_full)?;
        self.near_full = near_full;
        Ok(last)
    }

    fn try_reserve(&mut self, n: i64, deadline: Option<Instant>) -> Result<i64, TryClaimError> {
        self.try_claim_up_to(n, deadline)
    }
}

impl<T> Clone for MultiProducer<T> {
    fn clone(&self) -> Self {
        Self::new(Arc::clone(&self.shared))
    }
}

impl<T> Drop for MultiProducer<T> {
    fn drop(&mut self) {
        self.shared.remove_producer();
    }
}

impl<T> std::fmt::Debug for MultiProducer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MultiProducer")
            .field("capacity", &self.capacity())
            .finish_non_exhaustive()
    }
}

/// A ring's shared part, used only to reach its waiter.
struct StageWaker<T>(Arc<Shared<T>>);

impl<T> StageWaker<T> {
    fn notify(&self) {
        self.0.waiter.notify();
    }
}

// SAFETY: a `StageWaker` only ever touches the ring's waiter (atomics, a mutex and a
// condvar), never a slot, so sharing it shares no `T`; dropping the last `Arc` may
// drop the slots on another thread, which `T: Send` allows.
unsafe impl<T: Send> Sync for StageWaker<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for StageWaker<T> {}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::mpsc;
    use std::time::Duration;

    use crate::{Producer, RingBuilder, Stage};

    /// A handle that finds the ring full waits for room before it claims, so
    /// that the stages never wait for a sequence held by a handle that waits.
    #[test]
    fn a_handle_at_a_full_ring_claims_only_once_there_is_room() {
        let (open, gate) = mpsc::channel::<()>();
        let mut builder = RingBuilder::new(8, || 0u64);
        builder.add_stage(Stage::new(move |_: &u64, sequence: i64, _: bool| {
            if sequence == 0 {
                gate.recv().unwrap();
            }
        }));
        let (mut producer, ring) = builder.build_multi_producer().unwrap();
        let claimed = || producer.cursor().claimed.atomic().load(Ordering::SeqCst);
        let mut fresh = producer.clone();
        let mut filler = producer.clone();
        for value in 0..8 {
            filler.publish(|slot| *slot = value).unwrap();
        }
        std::thread::scope(|scope| {
            // A handle that never claimed, and one whose last claim filled the ring.
            scope.spawn(|| fresh.publish(|slot| *slot = 8).unwrap());
            scope.spawn(|| filler.publish(|slot| *slot = 9).unwrap());
            std::thread::sleep(Duration::from_millis(50));
            let waiting = claimed();
            open.send(()).unwrap();
            assert_eq!(waiting, 7, "a handle claimed before there was room");
        });
        assert_eq!(claimed(), 9);
        producer.publish(|slot| *slot = 10).unwrap();
        drop((producer, fresh, filler));
        ring.join().unwrap();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use crate::wait::queue::WakerSlot;
    use crate::{RingBuilder, Stage, WaitStrategy};

    /// The async claim: a task claiming on a full ring returns `Pending` and is
    /// woken by the stage's release of the slot, whichever side runs first. A
    /// lost wake-up leaves `block_on` parked, which loom reports as a deadlock.
    #[test]
    fn loom_a_task_waiting_for_room_is_woken_by_the_release() {
        loom::model(|| {
            let mut builder =
                RingBuilder::new(1, || 0u8).wait_strategy(WaitStrategy::SpinThenPark { spins: 1 });
            builder.add_stage(Stage::new(|_: &u8, _: i64, _: bool| {}));
            let (producer, ring) = builder.build_multi_producer().unwrap();
            for value in 1..=2 {
                let mut slot = WakerSlot::default();
                let mut claim = loom::future::block_on(std::future::poll_fn(|cx| {
                    producer.poll_claim_shared(cx, &mut slot)
                }))
                .unwrap();
                *claim = value;
                drop(claim);
                producer.forget_waker(&mut slot);
            }
            assert_eq!(producer.parked_tasks(), 0);
            drop(producer);
            ring.join().unwrap();
        });
    }
}
