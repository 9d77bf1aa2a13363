//! Pollers: consumers without a thread of their own, driven by the caller.

use std::sync::atomic::Ordering;

use crate::barrier::{Barrier, Stop};
use crate::error::Halted;
use crate::shared::Shared;
use crate::stage::consume_batch;
use crate::stage::state::StageState;
use crate::sync::Arc;

/// What one [`Poller::poll`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Polled {
    /// Handled this many events (a whole available batch).
    Events(usize),
    /// Nothing to handle yet.
    Idle,
    /// Everything upstream is finished and every event has been handled: nothing
    /// more will come.
    Drained,
}

/// A consumer that runs on the caller's thread: each [`poll`](Poller::poll) handles
/// whatever is available and returns at once. Use it to consume a ring from a thread
/// you already run (an event loop, a ping-pong partner) instead of a stage thread.
///
/// A poller gates producers like any stage. Dropping it marks it finished, so stages
/// after it drain; dropping it while its thread panics halts the ring.
///
/// # Examples
///
/// ```
/// use seqlane::{Polled, Producer, RingBuilder};
///
/// let mut builder = RingBuilder::new(64, || 0u64);
/// let id = builder.add_poller("replies", &[]);
/// let (mut producer, mut ring) = builder.build_single_producer()?;
/// let mut poller = ring.take_poller(id).expect("a poller with that id");
///
/// producer.publish(|slot| *slot = 42)?;
/// let mut seen = Vec::new();
/// while seen.is_empty() {
///     poller.poll(|value, _sequence, _end_of_batch| seen.push(*value))?;
/// }
/// assert_eq!(seen, [42]);
/// drop(producer);
/// assert_eq!(poller.poll(|_, _, _| {})?, Polled::Drained);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Poller<T> {
    shared: Arc<Shared<T>>,
    state: Arc<StageState>,
    barrier: Barrier,
}

impl<T> Poller<T> {
    pub(crate) fn new(shared: Arc<Shared<T>>, state: Arc<StageState>, barrier: Barrier) -> Self {
        Self {
            shared,
            state,
            barrier,
        }
    }

    /// Hands every available event to `handler` (sequence order, with the
    /// end-of-batch flag on the last), then releases them to the producers.
    ///
    /// # Errors
    ///
    /// [`Halted`] when the ring was halted.
    #[inline]
    pub fn poll(&mut self, handler: impl FnMut(&T, i64, bool)) -> Result<Polled, Halted> {
        let next = self.state.sequence.get() + 1;
        match self.barrier.check(&self.shared, next) {
            None => Ok(Polled::Idle),
            Some(Err(Stop::Halted)) => Err(Halted),
            Some(Err(Stop::Drained)) => Ok(Polled::Drained),
            Some(Ok(available)) => {
                consume_batch(&self.shared, &self.state, next, available, handler);
                Ok(Polled::Events((available - next + 1) as usize))
            }
        }
    }

    /// The highest sequence this poller has handled (-1 before the first).
    pub fn processed(&self) -> i64 {
        self.state.sequence.get()
    }
}

impl<T> Drop for Poller<T> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared.halt();
        }
        // Release: pairs with the Acquire in `Barrier::upstream_done`.
        self.state.done.store(true, Ordering::Release);
        self.shared.waiter.notify();
    }
}

impl<T> std::fmt::Debug for Poller<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Poller")
            .field("name", &self.state.name)
            .field("processed", &self.processed())
            .finish()
    }
}
