//! The one-thread topology's sync thread: it writes the journal's appended records
//! back to the disk while the business logic goes on deciding.
//!
//! A thread blocked in a sync uses no core, so it does not take one from the
//! logic; without it the logic would stop for every sync (a few hundred
//! microseconds here) and every command arriving meanwhile would wait for it. The
//! journal stays single-writer: the logic takes a [`SyncJob`] out of it, this
//! thread runs it, and the logic completes it (`Journal::complete_sync`, which
//! writes the sync mark). The engine's durable line moves as soon as the job
//! returns, here: a receipt waiting for `Durable` does not wait for the logic to
//! be woken and to complete the job too.

use std::io;

use seqlane_journal::{JournalError, SyncJob};

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::sync::{lock, thread, Arc, AtomicBool, Condvar, Mutex};

/// How long the thread spins for the next job before it parks. Under a steady
/// stream of commands the logic hands over the next job a few microseconds after
/// the last ended; a parked thread adds a kernel wake-up to every sync (the gap
/// between syncs at 100k commands/s went from 25 to 3 µs at the median). It
/// spins rather than yields: a yielding thread stays runnable, and behind a busy
/// logic on its core it waited for the scheduler's tick to take the job.
const PATIENCE: Duration = Duration::from_micros(20);

/// Wakes the business logic's thread (the input ring's waiter) when a sync ends.
pub(crate) type Wake = std::sync::Arc<dyn Fn() + Send + Sync>;

/// Told, after a job ran without error, that every journal record below the
/// sequence it is given is on the disk: moves the engine's durable line.
pub(crate) type Synced = Box<dyn Fn(u64) + Send>;

#[derive(Default)]
struct State {
    /// A job for the thread to run.
    job: Option<SyncJob>,
    /// A job run, with its outcome, for the logic to complete.
    done: Option<(SyncJob, Result<(), JournalError>)>,
    stop: bool,
    /// Set once the input ring exists: how to wake the logic.
    wake: Option<Wake>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when `job`, `done` or `stop` changes.
    changed: Condvar,
    /// Set with `job`: what the thread polls, without the lock, before parking.
    job_ready: AtomicBool,
}

/// The sync thread and the one job it holds at a time.
pub(crate) struct Syncer {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
    /// A job is with the thread (running, or done and not yet taken).
    in_flight: bool,
}

impl Syncer {
    pub(crate) fn spawn(synced: Synced) -> io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let thread = {
            let shared = Arc::clone(&shared);
            thread::Builder::new()
                .name("seqlane-sync".into())
                .spawn(move || run(&shared, &synced))?
        };
        Ok(Self {
            shared,
            thread: Some(thread),
            in_flight: false,
        })
    }

    /// Where to say, once the input ring exists, how to wake the logic.
    pub(crate) fn wake_slot(&self) -> WakeSlot {
        WakeSlot(Arc::clone(&self.shared))
    }

    /// Whether a job is with the thread.
    pub(crate) fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Hands `job` to the thread. At most one at a time.
    pub(crate) fn start(&mut self, job: SyncJob) {
        debug_assert!(!self.in_flight);
        let mut state = lock(&self.shared.state);
        state.job = Some(job);
        // Relaxed, under the lock: a hint only; the thread takes the job under
        // the lock and clears the flag there.
        self.shared.job_ready.store(true, Ordering::Relaxed);
        drop(state);
        self.shared.changed.notify_all();
        self.in_flight = true;
    }

    /// Whether the job in flight is done (never waits).
    pub(crate) fn is_done(&self) -> bool {
        self.in_flight && lock(&self.shared.state).done.is_some()
    }

    /// The job in flight, once done: at once if `wait` is false (`None` when it
    /// is still running), else when it ends.
    pub(crate) fn take_done(&mut self, wait: bool) -> Option<(SyncJob, Result<(), JournalError>)> {
        if !self.in_flight {
            return None;
        }
        let mut state = lock(&self.shared.state);
        while wait && state.done.is_none() {
            state = self
                .shared
                .changed
                .wait(state)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        let done = state.done.take();
        self.in_flight = done.is_none();
        done
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        lock(&self.shared.state).stop = true;
        self.shared.changed.notify_all();
        if let Some(thread) = self.thread.take() {
            // A job in flight is finished first; the journal it came from is being
            // dropped, so its outcome no longer matters.
            let _ = thread.join();
        }
    }
}

/// Where a [`Syncer`] learns how to wake the logic.
pub(crate) struct WakeSlot(Arc<Shared>);

impl WakeSlot {
    pub(crate) fn set(&self, wake: Wake) {
        lock(&self.0.state).wake = Some(wake);
    }
}

/// The thread: run each job handed over, until told to stop.
fn run(shared: &Shared, synced: &Synced) {
    let mut state = lock(&shared.state);
    loop {
        if let Some(job) = state.job.take() {
            shared.job_ready.store(false, Ordering::Relaxed);
            drop(state);
            let outcome = job.run();
            let durable = outcome.is_ok().then(|| job.next_sequence());
            state = lock(&shared.state);
            state.done = Some((job, outcome));
            shared.changed.notify_all();
            if let Some(records) = durable {
                // The records are on the disk: say so now, not when the logic
                // completes the job. After `done` is set, so that whoever sees
                // them durable finds the job done, and the logic's next look
                // starts the next sync. A failed job moves nothing; the logic
                // poisons the journal when it completes it.
                drop(state);
                synced(records);
                state = lock(&shared.state);
            }
            if let Some(wake) = state.wake.clone() {
                drop(state);
                wake();
                // The logic starts the next sync as soon as it has looked.
                let since = Instant::now();
                while !shared.job_ready.load(Ordering::Relaxed) && since.elapsed() < PATIENCE {
                    crate::sync::spin_loop();
                }
                state = lock(&shared.state);
            }
            continue;
        }
        if state.stop {
            return;
        }
        state = shared
            .changed
            .wait(state)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
    }
}
