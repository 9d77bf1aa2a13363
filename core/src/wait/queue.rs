//! The park/notify handshake behind the parking wait strategies.
//!
//! A waiter registers, then polls under the lock, then sleeps on the condvar; a
//! notifier changes state, then checks for registrations, and only if there are
//! any takes them (resetting the count), takes the lock and wakes everyone. Two
//! `SeqCst` fences make the registration and the check a Dekker pair: either the
//! notifier sees the registration, or the waiter's poll sees the change. Either way
//! no wake-up is lost (model-checked below and in `tests/loom_wait.rs`).
//!
//! A notifier *consumes* registrations, so one wake-up costs one notify however
//! many publications follow before the woken thread runs again; a waiter registers
//! afresh before each sleep. A registration left behind by a waiter that found its
//! answer costs at most one spare wake-up later.
//!
//! Async tasks wait the same way: a task's future takes the lock, registers,
//! leaves its `Waker` and polls; a notifier that takes registrations drains the
//! wakers under the lock and wakes them, so a registration is never taken without
//! its waker. A future that finds its answer, or is
//! dropped, takes its waker back, so nothing is kept for a task that stopped
//! waiting.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use crate::sync::{fence, lock, AtomicUsize, Condvar, Mutex};

/// A future's place among a queue's wakers: empty until its first `Pending`.
#[derive(Debug, Default)]
pub(crate) struct WakerSlot(Option<u64>);

/// The wakers of tasks waiting on a queue, by the id in their [`WakerSlot`].
#[derive(Debug, Default)]
struct Wakers {
    last_id: u64,
    parked: HashMap<u64, Waker>,
}

#[derive(Debug)]
pub(crate) struct WaitQueue {
    /// Registrations not yet taken by a notifier. A waiter adds one (then fences)
    /// before each poll that may be followed by sleep; a notifier that finds any
    /// takes them all and wakes the sleepers. So a notifier that reads zero knows no
    /// waiter can be asleep having missed its change.
    waiters: AtomicUsize,
    /// Held by a waiter from its poll to its sleep; guards the tasks' wakers.
    lock: Mutex<Wakers>,
    condvar: Condvar,
}

impl WaitQueue {
    pub(crate) fn new() -> Self {
        Self {
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(Wakers::default()),
            condvar: Condvar::new(),
        }
    }

    /// Parks the calling thread until `poll` answers or `deadline` passes.
    pub(crate) fn park_until<R>(
        &self,
        mut poll: impl FnMut() -> Option<R>,
        deadline: Option<Instant>,
    ) -> Option<R> {
        let mut guard = lock(&self.lock);
        loop {
            self.waiters.fetch_add(1, Ordering::Relaxed);
            // SeqCst fence: pairs with the fence in `notify`. Either the notifier's
            // check of `waiters` sees this registration, or the poll below sees its
            // change.
            fence(Ordering::SeqCst);
            // Polls run under the lock: a notifier that took our registration takes
            // the lock before it wakes us, so it cannot slip between this poll and
            // the wait below.
            if let Some(answer) = poll() {
                return Some(answer);
            }
            match deadline {
                None => {
                    guard = self.condvar.wait(guard).unwrap_or_else(|p| p.into_inner());
                }
                Some(deadline) => {
                    let now = Instant::now();
                    if now >= deadline {
                        return None;
                    }
                    guard = self
                        .condvar
                        .wait_timeout(guard, deadline - now)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// Polls for an async task: `Ready` with `poll`'s answer, or `Pending` with the
    /// task's waker left in the queue (in `slot`) to be woken by the next notify.
    pub(crate) fn poll_until<R>(
        &self,
        mut poll: impl FnMut() -> Option<R>,
        cx: &mut Context<'_>,
        slot: &mut WakerSlot,
    ) -> Poll<R> {
        if let Some(answer) = poll() {
            self.forget(slot);
            return Poll::Ready(answer);
        }
        // Register under the lock, as `park_until` does: a notifier that takes this
        // registration (for whatever change) drains the wakers under the same lock,
        // so after this task's waker is in place. Registering before the lock would
        // let a notify for some other change take the registration and drain before
        // the waker is in, and the notify this task waits for would then find no
        // registration (`loom_a_registration_taken_by_another_change_still_wakes`).
        let mut wakers = lock(&self.lock);
        self.waiters.fetch_add(1, Ordering::Relaxed);
        // SeqCst fence: as in `park_until`.
        fence(Ordering::SeqCst);
        let id = *slot.0.get_or_insert_with(|| {
            wakers.last_id += 1;
            wakers.last_id
        });
        match wakers.parked.get_mut(&id) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                wakers.parked.insert(id, cx.waker().clone());
            }
        }
        // Under the lock, after leaving the waker: a notifier that took the
        // registration drains the wakers after this, or changed the state before.
        if let Some(answer) = poll() {
            wakers.parked.remove(&id);
            slot.0 = None;
            return Poll::Ready(answer);
        }
        Poll::Pending
    }

    /// Takes back the waker a future left in `slot`, if any: the task stopped
    /// waiting.
    pub(crate) fn forget(&self, slot: &mut WakerSlot) {
        if let Some(id) = slot.0.take() {
            lock(&self.lock).parked.remove(&id);
        }
    }

    /// Tasks whose wakers wait in the queue.
    pub(crate) fn parked_tasks(&self) -> usize {
        lock(&self.lock).parked.len()
    }

    /// Wakes every parked thread and task, if there is any.
    #[inline]
    pub(crate) fn notify(&self) {
        // SeqCst fence: pairs with the fence in `park_until` (see the module docs).
        // The caller's change to polled state is sequenced before it.
        fence(Ordering::SeqCst);
        // The load keeps an idle queue's line shared; only a registration costs a
        // write (the swap that consumes it) and a wake-up.
        if self.waiters.load(Ordering::Relaxed) != 0 && self.waiters.swap(0, Ordering::Relaxed) != 0
        {
            self.wake_all();
        }
    }

    #[cold]
    fn wake_all(&self) {
        // Taking the lock waits out any waiter between its poll and its sleep.
        let tasks: Vec<Waker> = {
            let mut wakers = lock(&self.lock);
            wakers.parked.drain().map(|(_, waker)| waker).collect()
        };
        self.condvar.notify_all();
        // Outside the lock: a waker may run executor code.
        for task in tasks {
            task.wake();
        }
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::{WaitQueue, WakerSlot};
    use crate::sync::{thread, Arc, AtomicBool};
    use std::sync::atomic::Ordering;

    /// The bare handshake, with a Relaxed flag so that only the fences can order
    /// it: a waiter that parks is always woken, whichever side runs first. A lost
    /// wake-up leaves the waiter asleep forever, which loom reports as a deadlock.
    #[test]
    fn loom_park_notify_never_loses_a_wakeup() {
        loom::model(|| {
            let queue = Arc::new(WaitQueue::new());
            let flag = Arc::new(AtomicBool::new(false));
            let waiter = {
                let (queue, flag) = (Arc::clone(&queue), Arc::clone(&flag));
                thread::spawn(move || {
                    queue.park_until(|| flag.load(Ordering::Relaxed).then_some(()), None)
                })
            };
            flag.store(true, Ordering::Relaxed);
            queue.notify();
            assert_eq!(waiter.join().unwrap(), Some(()));
            // At most the one registration of a waiter that found its answer itself.
            assert!(queue.waiters.load(Ordering::Relaxed) <= 1);
        });
    }

    /// A task on `queue` awaits a flag that `notifier` sets (and notifies), in a
    /// thread of its own; the task must be woken and leave no waker behind. A lost
    /// wake-up leaves `block_on` parked, which loom reports as a deadlock.
    fn a_task_is_woken_by(notifier: fn(&WaitQueue, &AtomicBool)) {
        loom::model(move || {
            let queue = Arc::new(WaitQueue::new());
            let flag = Arc::new(AtomicBool::new(false));
            let notifying = {
                let (queue, flag) = (Arc::clone(&queue), Arc::clone(&flag));
                thread::spawn(move || notifier(&queue, &flag))
            };
            let mut slot = WakerSlot::default();
            loom::future::block_on(std::future::poll_fn(|cx| {
                queue.poll_until(|| flag.load(Ordering::Relaxed).then_some(()), cx, &mut slot)
            }));
            notifying.join().unwrap();
            queue.forget(&mut slot);
            assert_eq!(queue.parked_tasks(), 0);
        });
    }

    /// The async handshake: a task's future that returns `Pending` is always woken
    /// by the notify that follows the change it waits for, whichever side runs
    /// first.
    #[test]
    fn loom_a_pending_task_is_always_woken() {
        a_task_is_woken_by(|queue, flag| {
            flag.store(true, Ordering::Relaxed);
            queue.notify();
        });
    }

    /// A notify for some other change can take a task's registration before the
    /// task's waker is in the queue; the notify for the change the task waits for
    /// must still wake it. (Two lines share one queue: the journal's advance comes
    /// between a task's registration and the projection's advance it waits for.)
    #[test]
    fn loom_a_registration_taken_by_another_change_still_wakes() {
        a_task_is_woken_by(|queue, flag| {
            queue.notify();
            flag.store(true, Ordering::Relaxed);
            queue.notify();
        });
    }

    /// Two waiters on one queue, two notifications: both wake.
    #[test]
    fn loom_notify_wakes_every_parked_waiter() {
        loom::model(|| {
            let queue = Arc::new(WaitQueue::new());
            let flags: Arc<[AtomicBool; 2]> =
                Arc::new([AtomicBool::new(false), AtomicBool::new(false)]);
            let waiters: Vec<_> = (0..2)
                .map(|i| {
                    let (queue, flags) = (Arc::clone(&queue), Arc::clone(&flags));
                    thread::spawn(move || {
                        queue.park_until(|| flags[i].load(Ordering::Relaxed).then_some(i), None)
                    })
                })
                .collect();
            for flag in flags.iter() {
                flag.store(true, Ordering::Relaxed);
                queue.notify();
            }
            for (i, waiter) in waiters.into_iter().enumerate() {
                assert_eq!(waiter.join().unwrap(), Some(i));
            }
        });
    }
}
