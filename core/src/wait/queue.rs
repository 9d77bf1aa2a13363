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

use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::sync::{fence, lock, AtomicUsize, Condvar, Mutex};

#[derive(Debug)]
pub(crate) struct WaitQueue {
    /// Registrations not yet taken by a notifier. A waiter adds one (then fences)
    /// before each poll that may be followed by sleep; a notifier that finds any
    /// takes them all and wakes the sleepers. So a notifier that reads zero knows no
    /// waiter can be asleep having missed its change.
    waiters: AtomicUsize,
    lock: Mutex<()>,
    condvar: Condvar,
}

impl WaitQueue {
    pub(crate) fn new() -> Self {
        Self {
            waiters: AtomicUsize::new(0),
            lock: Mutex::new(()),
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

    /// Wakes every parked thread, if there is any.
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
        drop(lock(&self.lock));
        self.condvar.notify_all();
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::WaitQueue;
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
