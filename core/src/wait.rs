//! Wait strategies: how a consumer waits for events and how a producer waits for room.
//!
//! Every wait in the ring goes through [`Waiter::wait_until`] with a *poll* closure
//! that answers "ready yet?". The strategy only decides what to do between polls:
//! spin, yield, sleep, or park on a [`WaitQueue`](queue::WaitQueue). Whoever changes
//! what a poll reads (publishing, advancing a consumer, stopping) calls
//! [`Waiter::notify`] afterwards; only [`WaitStrategy::Blocking`] needs it, at the
//! cost of one fence unless a thread is actually parked.

pub(crate) mod queue;

use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::sync::{pause, spin_loop, thread};
use queue::{WaitQueue, WakerSlot};

/// How idle threads wait: consumers for new events, producers for free slots.
///
/// The default, [`WaitStrategy::Backoff`], spins briefly, then sleeps in growing
/// steps, so it reacts within nanoseconds under load and lets the threads
/// it waits for run when cores are scarce. That is what a machine with fewer cores
/// than busy threads needs: a spinning thread there steals the core of the very
/// thread it waits for. It needs no notification, so publishing under it costs
/// nothing extra. Idle, each waiting thread wakes about 4,000 times a second to look:
/// a few percent of a core per thread (results/README.md has the figure).
///
/// [`WaitStrategy::Blocking`] is for idle threads that must cost nothing and still
/// wake at once: they park until notified, and every publication pays a fence to
/// check for them.
///
/// # Examples
///
/// ```
/// use seqlane::{Producer, RingBuilder, Stage, WaitStrategy};
///
/// let mut builder = RingBuilder::new(64, || 0u64).wait_strategy(WaitStrategy::Blocking);
/// builder.add_stage(Stage::new(|_: &u64, _seq: i64, _end_of_batch: bool| {}));
/// let (mut producer, ring) = builder.build_single_producer().unwrap();
/// producer.publish(|slot| *slot = 7).unwrap();
/// drop(producer);
/// ring.join().unwrap();
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitStrategy {
    /// Polls in a tight loop. Lowest latency, one full core per waiting thread: use it
    /// only with a core to spare for every consumer and producer.
    BusySpin,
    /// Spins briefly, then yields the core between polls. Low latency and fair to
    /// other threads, but never sleeps, so an idle ring still burns CPU.
    Yielding,
    /// Spins `spins` polls, yields `yields` times, then sleeps between polls, from
    /// 5 µs doubling to 200 µs (the kernel adds its timer slack, 50 µs by default,
    /// to each). Adapts to load: fast when busy, a few percent of a
    /// core per waiting thread when idle (see above), at most about 250 µs late to
    /// wake after a long idle spell (the sleep plus the kernel's timer slack). The
    /// default.
    ///
    /// It is the strategy for more busy threads than cores, and two of its waits
    /// hand the core over rather than hold it: a producer at a full ring yields
    /// for up to 1 ms before it sleeps (the stages it waits for have events to
    /// process, so they are runnable and a yield lets them run, where a sleep would
    /// leave the core idle once they are done), and a stage that gathers a batch
    /// behind a fast producer sleeps between its looks instead of spinning.
    Backoff {
        /// Polls with a spin hint before yielding.
        spins: u32,
        /// Polls with a yield before sleeping.
        yields: u32,
    },
    /// Parks at once until notified: ~0% CPU when idle, woken as soon as the change
    /// it waits for is made (through the kernel, a few microseconds). Every
    /// publication and every stage's progress pays a fence to look for parked
    /// threads.
    Blocking,
    /// Spins `spins` polls, then parks until notified: nanoseconds to react while
    /// events keep coming, no CPU at all once they stop (no timed wake-ups). Like
    /// [`Blocking`](WaitStrategy::Blocking), every publication and every stage's
    /// progress pays a fence to look for parked threads; a thread that parked is
    /// woken through the kernel (a few microseconds).
    ///
    /// Every 64th poll comes after a yield instead of a spin hint: a thread that
    /// spins while events keep coming never parks, and a thread woken on its
    /// core meanwhile (the engine's sync thread when its write ends) would
    /// otherwise wait for the scheduler's next tick, milliseconds.
    SpinThenPark {
        /// Polls before parking.
        spins: u32,
    },
}

impl WaitStrategy {
    /// The default backoff: 16 spins, then sleep; no yields.
    ///
    /// A yielding thread stays runnable, so the scheduler goes on sharing the core
    /// with it rather than giving the core to the threads it waits for: with more
    /// threads than cores, yields took a stage of three producers from about 40 to
    /// 13 M events/s, and the engine's hand-off floor from 39 to 13 (results/README.md,
    /// "Measurements behind the code").
    pub const BACKOFF: WaitStrategy = WaitStrategy::Backoff {
        spins: 16,
        yields: 0,
    };

    /// 2,048 polls (about 25 µs here, 32 of them after a yield) before parking.
    ///
    /// Measured on the 2-core Intel Xeon (results/README.md): an idle engine costs
    /// 0.03 % of a core under it against 18 % under [`BACKOFF`](Self::BACKOFF), but
    /// with more engine threads than cores its threads park and are woken through
    /// the kernel at many hand-offs, and a saturated engine does about a third
    /// fewer commands a second. So it is a choice, not yet the default.
    pub const SPIN_THEN_PARK: WaitStrategy = WaitStrategy::SpinThenPark { spins: 2048 };

    /// Whether threads park until notified under this strategy (and so must be).
    fn parks(self) -> bool {
        matches!(
            self,
            WaitStrategy::Blocking | WaitStrategy::SpinThenPark { .. }
        )
    }
}

impl Default for WaitStrategy {
    fn default() -> Self {
        WaitStrategy::BACKOFF
    }
}

/// Polls spent spinning before [`WaitStrategy::Yielding`] starts to yield.
const YIELDING_SPINS: u32 = 100;
/// [`WaitStrategy::Backoff`]'s first sleep.
///
/// The first naps are short so that a stage of an oversubscribed pipeline, which
/// runs dry often and briefly, is back soon (results/README.md has the
/// measurement). It costs nothing idle, where the longest nap is what counts.
const FIRST_SLEEP: Duration = Duration::from_micros(5);
/// [`WaitStrategy::Backoff`]'s longest sleep: what an idle thread costs.
const LONGEST_SLEEP: Duration = Duration::from_micros(200);

/// What a wait is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    /// Events to process (a stage), or any other change a poll looks for.
    Events,
    /// Free slots to claim (a producer at a full ring).
    Room,
}

/// How long [`WaitStrategy::Backoff`] yields to a full ring's stages before it
/// sleeps. While they run, room comes in a few microseconds and a yield hands
/// them the core; a sleep costs at least the kernel's timer slack (50 µs) before
/// the producer looks again, and a pipeline's producer that slept that often
/// left its stages without work (results/README.md, "The oversubscribed waits").
/// A bound, so that a producer stuck behind a stalled stage then costs what an
/// idle one does.
const ROOM_PATIENCE: Duration = Duration::from_millis(1);

/// Polls with a yield before each poll for `patience` (or until `deadline`):
/// `Some(Some(answer))`, `Some(None)` at the deadline, `None` when patience ran out.
#[cfg(not(loom))]
fn yield_for<R>(
    patience: Duration,
    poll: &mut impl FnMut() -> Option<R>,
    deadline: Option<Instant>,
) -> Option<Option<R>> {
    let start = Instant::now();
    loop {
        thread::yield_now();
        if let Some(answer) = poll() {
            return Some(Some(answer));
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Some(None);
        }
        if now.duration_since(start) >= patience {
            return None;
        }
    }
}

/// Under loom, one yield: time means nothing to the model.
#[cfg(loom)]
fn yield_for<R>(
    _patience: Duration,
    poll: &mut impl FnMut() -> Option<R>,
    _deadline: Option<Instant>,
) -> Option<Option<R>> {
    thread::yield_now();
    poll().map(Some)
}

/// Polls between spin hints, handing the core over every [`YIELD_EVERY`] polls.
const YIELD_EVERY: u32 = 64;

/// `polls` polls, most of them a spin hint apart and every [`YIELD_EVERY`]th after
/// a yield. A thread that spins while events keep coming holds its core for as
/// long as they do; a thread woken on that core meanwhile (a sync thread whose
/// write finished, a kernel worker) would wait for the scheduler's next tick,
/// milliseconds. The yield lets it run at once, and costs a system call (a fraction
/// of a microsecond) when no other thread wants the core.
#[inline]
fn poll_spinning_and_yielding<R>(polls: u32, poll: &mut impl FnMut() -> Option<R>) -> Option<R> {
    (1..=polls).find_map(|i| {
        if i % YIELD_EVERY == 0 {
            thread::yield_now();
        } else {
            spin_loop();
        }
        poll()
    })
}

/// Polls up to `polls` times, calling `between` before each poll; the first answer.
#[inline]
fn poll_times<R>(
    polls: u32,
    between: impl Fn(),
    poll: &mut impl FnMut() -> Option<R>,
) -> Option<R> {
    (0..polls).find_map(|_| {
        between();
        poll()
    })
}

/// A wait strategy together with the queue its parked threads sleep on.
#[derive(Debug)]
pub(crate) struct Waiter {
    strategy: WaitStrategy,
    /// `strategy.parks()`, kept apart: every publication asks, and a flag costs
    /// one compare where the enum's match costs three instructions more.
    parks: bool,
    queue: WaitQueue,
}

impl Waiter {
    pub(crate) fn new(strategy: WaitStrategy) -> Self {
        Self {
            strategy,
            parks: strategy.parks(),
            queue: WaitQueue::new(),
        }
    }

    pub(crate) fn strategy(&self) -> WaitStrategy {
        self.strategy
    }

    /// Polls until `poll` answers, waiting between polls as the strategy says.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn wait<R>(&self, poll: impl FnMut() -> Option<R>) -> R {
        match self.wait_until(poll, None) {
            Some(answer) => answer,
            None => unreachable!("a wait without a deadline cannot time out"),
        }
    }

    /// Polls until `poll` answers, or until `deadline` passes (then `None`).
    pub(crate) fn wait_until<R>(
        &self,
        poll: impl FnMut() -> Option<R>,
        deadline: Option<Instant>,
    ) -> Option<R> {
        self.wait_for(Wanted::Events, poll, deadline)
    }

    /// As [`wait_until`](Self::wait_until), for `wanted`.
    pub(crate) fn wait_for<R>(
        &self,
        wanted: Wanted,
        mut poll: impl FnMut() -> Option<R>,
        deadline: Option<Instant>,
    ) -> Option<R> {
        if let Some(answer) = poll() {
            return Some(answer);
        }
        let expired = || deadline.is_some_and(|d| Instant::now() >= d);
        match self.strategy {
            WaitStrategy::BusySpin => loop {
                spin_loop();
                if let Some(answer) = poll() {
                    return Some(answer);
                }
                if expired() {
                    return None;
                }
            },
            WaitStrategy::Yielding => {
                if let Some(answer) = poll_times(YIELDING_SPINS, spin_loop, &mut poll) {
                    return Some(answer);
                }
                loop {
                    thread::yield_now();
                    if let Some(answer) = poll() {
                        return Some(answer);
                    }
                    if expired() {
                        return None;
                    }
                }
            }
            WaitStrategy::Backoff { spins, yields } => {
                if let Some(answer) = poll_times(spins, spin_loop, &mut poll)
                    .or_else(|| poll_times(yields, thread::yield_now, &mut poll))
                {
                    return Some(answer);
                }
                if wanted == Wanted::Room {
                    if let Some(answer) = yield_for(ROOM_PATIENCE, &mut poll, deadline) {
                        return answer;
                    }
                }
                let mut sleep = FIRST_SLEEP;
                loop {
                    let nap = match deadline {
                        None => sleep,
                        Some(deadline) => match deadline.checked_duration_since(Instant::now()) {
                            Some(left) if !left.is_zero() => sleep.min(left),
                            _ => return None,
                        },
                    };
                    pause(nap);
                    if let Some(answer) = poll() {
                        return Some(answer);
                    }
                    sleep = (sleep * 2).min(LONGEST_SLEEP);
                }
            }
            WaitStrategy::Blocking => self.queue.park_until(poll, deadline),
            WaitStrategy::SpinThenPark { spins } => {
                if let Some(answer) = poll_spinning_and_yielding(spins, &mut poll) {
                    return Some(answer);
                }
                if expired() {
                    return None;
                }
                self.queue.park_until(poll, deadline)
            }
        }
    }

    /// Polls for an async task: `Ready` with `poll`'s answer, or `Pending` with the
    /// task to be woken by the next notify. A strategy that never parks never
    /// notifies, so under it the task wakes itself and polls again at the
    /// executor's next turn.
    pub(crate) fn poll_until<R>(
        &self,
        mut poll: impl FnMut() -> Option<R>,
        cx: &mut Context<'_>,
        slot: &mut WakerSlot,
    ) -> Poll<R> {
        if self.strategy.parks() {
            return self.queue.poll_until(poll, cx, slot);
        }
        match poll() {
            Some(answer) => Poll::Ready(answer),
            None => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    /// Takes back a task's waker: it stopped waiting.
    pub(crate) fn forget(&self, slot: &mut WakerSlot) {
        self.queue.forget(slot);
    }

    /// Tasks waiting to be woken.
    pub(crate) fn parked_tasks(&self) -> usize {
        self.queue.parked_tasks()
    }

    /// Wakes parked threads so they poll again. Call it after every change that a
    /// poll may be waiting for. Costs a fence when the strategy can park, and a lock
    /// only when some thread is parked.
    #[inline]
    pub(crate) fn notify(&self) {
        if self.parks {
            self.wake_parked();
        }
    }

    /// Whether threads may park under this strategy, so that [`notify`](Self::notify)
    /// has work to do.
    #[inline]
    pub(crate) fn parks(&self) -> bool {
        self.parks
    }

    /// [`notify`](Self::notify) for a caller that already knows the strategy parks.
    #[inline]
    pub(crate) fn wake_parked(&self) {
        self.queue.notify();
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
