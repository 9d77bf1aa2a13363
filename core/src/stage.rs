//! Stages: event handlers, each on its own thread, arranged in a dependency graph.

mod chase;
pub(crate) mod state;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;

use crate::barrier::Barrier;
use crate::sequence::INITIAL;
use crate::shared::Shared;
use crate::slots::Slots;
use crate::sync::Arc;
use chase::Chase;

pub(crate) use state::StageState;
pub use state::{Pinning, StageStatus};

/// Processes the events of a ring, one stage's worth.
///
/// Each stage runs its handler on its own thread and sees every published event, in
/// sequence order, after the stages it runs [`after`](Stage::after). Events arrive in
/// batches (everything available when the stage looked); `end_of_batch` marks the
/// last event of a batch, the place to flush buffered work.
///
/// Closures `FnMut(&T, i64, bool)` are handlers.
pub trait EventHandler<T>: Send + 'static {
    /// Handles the event published at `sequence`.
    fn on_event(&mut self, event: &T, sequence: i64, end_of_batch: bool);

    /// Called on the stage's thread before the first event.
    fn on_start(&mut self) {}

    /// Called on the stage's thread after the last event, when the ring drained or
    /// was halted (not after this handler panicked).
    fn on_shutdown(&mut self) {}

    /// When to call [`on_wake`](EventHandler::on_wake) if no event arrives first,
    /// for time-based work such as a group commit. Asked before each wait; `None`
    /// (the default) waits for events only.
    fn wake_at(&self) -> Option<std::time::Instant> {
        None
    }

    /// Called on the stage's thread when the time from
    /// [`wake_at`](EventHandler::wake_at) passed with no event to handle, or when
    /// [`has_work`](EventHandler::has_work) said so.
    fn on_wake(&mut self) {}

    /// Whether work that does not arrive as an event is waiting (the engine's
    /// stages use it for snapshots): checked while the stage waits for events,
    /// after them, and answered by a call to [`on_wake`](EventHandler::on_wake).
    /// Under [`WaitStrategy::Blocking`](crate::WaitStrategy::Blocking) a parked
    /// stage checks it only when woken (by a publication, a stage's progress, or
    /// its `wake_at`). The default: never.
    fn has_work(&self) -> bool {
        false
    }
}

impl<T, F> EventHandler<T> for F
where
    F: FnMut(&T, i64, bool) + Send + 'static,
{
    #[inline]
    fn on_event(&mut self, event: &T, sequence: i64, end_of_batch: bool) {
        self(event, sequence, end_of_batch)
    }
}

/// Names a stage added to a [`RingBuilder`](crate::RingBuilder), so later stages can
/// run [`after`](Stage::after) it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StageId(pub(crate) usize);

/// A stage to add to a ring: a handler and where it runs.
///
/// # Examples
///
/// A diamond: `a` and `b` see each event in parallel, `c` only after both.
///
/// ```
/// use seqlane::{Producer, RingBuilder, Stage};
///
/// let mut builder = RingBuilder::new(64, || 0u32);
/// let a = builder.add_stage(Stage::new(|_: &u32, _: i64, _: bool| {}).name("a"));
/// let b = builder.add_stage(Stage::new(|_: &u32, _: i64, _: bool| {}).name("b"));
/// builder.add_stage(Stage::new(|_: &u32, _: i64, _: bool| {}).name("c").after(&[a, b]));
/// let (producer, ring) = builder.build_single_producer()?;
/// drop(producer);
/// ring.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Stage<H> {
    pub(crate) handler: H,
    pub(crate) name: Option<String>,
    pub(crate) after: Vec<StageId>,
    pub(crate) core: Option<usize>,
}

impl<H> Stage<H> {
    /// A stage running `handler`, directly after the producers.
    pub fn new(handler: H) -> Self {
        Self {
            handler,
            name: None,
            after: Vec::new(),
            core: None,
        }
    }

    /// Names the stage and its thread (default: `seqlane-stage-N`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Runs the stage after `stages`: it sees an event only once all of them have
    /// processed it.
    pub fn after(mut self, stages: &[StageId]) -> Self {
        self.after.extend_from_slice(stages);
        self
    }

    /// Pins the stage's thread to core `core` (an index as `core_affinity` counts
    /// them). If the machine has no such core or refuses, the stage runs unpinned and
    /// [`Ring::stages`](crate::Ring::stages) reports [`Pinning::Failed`].
    pub fn pin_to_core(mut self, core: usize) -> Self {
        self.core = Some(core);
        self
    }
}

/// The stage's thread: pin, process batches until drained or halted, then report.
/// A panic in the handler halts the ring so that no stage or producer waits forever
/// on this one, and comes back as `Err(message)`.
pub(crate) fn run<T, H: EventHandler<T>>(
    shared: Arc<Shared<T>>,
    state: Arc<StageState>,
    barrier: Barrier,
    mut handler: H,
) -> Result<(), String> {
    state.pin();
    // The event being handled, so that after a panic the stage can record the
    // events before it as processed and `RingError::unprocessed` is exact.
    let current = std::cell::Cell::new(INITIAL);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        handler.on_start();
        let mut next = state.sequence.get() + 1;
        let mut chase = Chase::default();
        loop {
            let deadline = handler.wake_at();
            // Looks that found nothing (the closure runs only after those).
            let empty_looks = std::cell::Cell::new(0);
            let Some(available) = barrier.wait_or(&shared, next, deadline, || {
                empty_looks.set(empty_looks.get() + 1);
                handler.has_work()
            }) else {
                handler.on_wake();
                // What it did may be what another stage waits for.
                shared.waiter.notify();
                continue;
            };
            let Ok(available) = available else { break };
            let available = chase.batch(&barrier, &shared, next, available, empty_looks.get());
            consume_batch(
                &shared,
                &state,
                next,
                available,
                |event, sequence, end_of_batch| {
                    current.set(sequence);
                    handler.on_event(event, sequence, end_of_batch);
                },
            );
            next = available + 1;
        }
        handler.on_shutdown();
    }));
    let result = outcome.map_err(|payload| panic_message(payload.as_ref()));
    if result.is_err() {
        shared.halt();
        // The handler finished every event before the one that panicked (or, if it
        // panicked in `on_start`, none of them).
        let finished = current.get() - 1;
        if finished > state.sequence.get() {
            state.sequence.set(finished);
        }
    }
    // Release: pairs with the Acquire in `Barrier::upstream_done`.
    state.done.store(true, Ordering::Release);
    shared.waiter.notify();
    result
}

/// Hands the events `next..=available` to `handle` in order (the last with the
/// end-of-batch flag), then releases them: the consumer's sequence moves to
/// `available` and waiting threads are told.
///
/// The caller's barrier must have seen `available` published (and processed by
/// every upstream stage), and `next - 1` must be the consumer's sequence.
#[inline]
pub(crate) fn consume_batch<T>(
    shared: &Shared<T>,
    state: &StageState,
    next: i64,
    available: i64,
    mut handle: impl FnMut(&T, i64, bool),
) {
    debug_assert_eq!(state.sequence.get(), next - 1);
    let slots = shared.slots.reader();
    for sequence in next..available + 1 {
        // The slots of a long batch come from the producer's core: ask for them
        // ahead rather than wait for each line in turn, once per line.
        let ahead = sequence + Slots::<T>::PREFETCH_AHEAD;
        if Slots::<T>::starts_group(ahead) && ahead <= available {
            slots.prefetch(ahead);
        }
        // SAFETY: the barrier saw `sequence` published and processed upstream, and
        // this consumer has not released it, so no producer writes the slot.
        let slot = unsafe { slots.read(sequence) };
        // SAFETY: as above.
        handle(unsafe { slot.deref() }, sequence, sequence == available);
    }
    // Release (in `set`): our reads of these slots happen before a producer or a
    // later stage acts on the new value.
    state.sequence.set(available);
    shared.waiter.notify();
}

pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}
