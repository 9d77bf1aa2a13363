//! Snapshots: the state (with the engine's version and accepted command ids) and
//! every projection, saved to a file so that a restart replays only the journal
//! after it, and the segments before it can be retired.
//!
//! The business-logic thread saves the state at a command boundary `S` (every record
//! below `S` applied) and posts the snapshot as pending; each projection adds its
//! own state at the end of its next batch (at its own position, `>= S`); once all
//! parts are in, the journaler, after making sure every record below `S` is synced,
//! writes the file (temporary name, fsync, rename, directory fsync) and retires the
//! segments wholly before `S`. (A snapshot written before that sync could claim
//! records that a crash then loses, and new records would reuse their sequences.)
//! On start, the newest
//! snapshot that reads back whole is loaded and the journal is replayed from `S`
//! (each projection from its own position): [`load`].
//!
//! The file and its format: [`file`].

mod file;
mod load;
pub mod serde;

use std::path::PathBuf;
use std::sync::atomic::Ordering;

use crate::engine::progress::ProjectionId;
use crate::sync::{lock, AtomicBool, AtomicI64, AtomicU64, Mutex};
use crate::wait::queue::WaitQueue;

pub(crate) use file::{directory, list, versioned, write, Saved};
pub(crate) use load::{load, Loaded};

/// What happens to the journal's events once snapshots cover them. Snapshots are
/// a cache of the journal: by default nothing is deleted, and a retirement never
/// reaches past the oldest snapshot kept ([`EngineBuilder::keep_snapshots`](crate::EngineBuilder::keep_snapshots)), so
/// a damaged newest snapshot can fall back to the one before.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Retention {
    /// Keep every event: the whole history stays replayable (a projection added
    /// later is rebuilt from it).
    #[default]
    KeepAll,
    /// Move the segments that every kept snapshot covers into this directory
    /// (created if missing), out of the journal's reach.
    Archive(PathBuf),
    /// Delete the segments that every kept snapshot covers.
    DeleteBefore,
}

/// Why a requested snapshot was not written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Another one was still being assembled or written: `Engine::snapshot` asks
    /// again once it has ended.
    Busy,
    /// It cannot be taken or written; the reason says why.
    Failed(String),
}

/// The snapshot being assembled across threads, and what came of earlier ones.
pub(crate) struct Coordinator {
    /// `S` of the pending snapshot, or -1. Set by the logic (Release), read by the
    /// projections (Acquire) to know they owe a part.
    pub(crate) pending_at: AtomicI64,
    pub(crate) pending: Mutex<Option<Pending>>,
    /// A snapshot with every part in, for the journaler to write, with the
    /// request it answers (the input sequence of an `Engine::snapshot` call).
    ready: Mutex<Option<(Saved, Option<i64>)>>,
    /// `S` of the ready snapshot, or -1: what the journaler checks while it waits.
    /// Set (Release) after `ready` is filled, cleared when it is taken.
    ready_at: AtomicI64,
    /// A snapshot was posted and has not ended (written, failed or given up). Set
    /// and read by the logic, cleared by whichever thread ends the snapshot.
    in_flight: AtomicBool,
    /// Outcomes of requested snapshots, by request, until their caller takes them.
    answers: Mutex<Vec<(i64, Result<u64, Refused>)>>,
    /// Where `Engine::snapshot` parks for its answer, or for the snapshot in flight
    /// to end; woken by every answer and end, and by the threads that stop.
    queue: WaitQueue,
    /// Snapshots written, and the last one's `S`, for metrics.
    pub(crate) written: AtomicU64,
    pub(crate) last_written: AtomicU64,
    /// Why the last snapshot (or retirement) failed, if it did.
    pub(crate) last_error: Mutex<Option<String>>,
}

pub(crate) struct Pending {
    pub(crate) saved: Saved,
    pub(crate) request: Option<i64>,
    /// Parts still owed, by projection index.
    pub(crate) owed: Vec<bool>,
}

impl Coordinator {
    pub(crate) fn new() -> Self {
        Self {
            pending_at: AtomicI64::new(-1),
            pending: Mutex::new(None),
            ready: Mutex::new(None),
            ready_at: AtomicI64::new(-1),
            in_flight: AtomicBool::new(false),
            answers: Mutex::new(Vec::new()),
            queue: WaitQueue::new(),
            written: AtomicU64::new(0),
            last_written: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// Whether a snapshot is being assembled, waits to be written or is being
    /// written. One load, no lock: the logic asks before every command while a
    /// due snapshot waits for the one in flight.
    pub(crate) fn in_flight(&self) -> bool {
        // Acquire: pairs with the Release in `end`, so the ended snapshot's state
        // (pending, ready) is cleared before the logic posts the next.
        self.in_flight.load(Ordering::Acquire)
    }

    /// Whether `projection` owes a part of a snapshot at or below `position`.
    pub(crate) fn owed_by(&self, projection: ProjectionId, position: u64) -> bool {
        // Acquire: pairs with the Release in `post`.
        let at = self.pending_at.load(Ordering::Acquire);
        at >= 0
            && at as u64 <= position
            && lock(&self.pending)
                .as_ref()
                .is_some_and(|pending| pending.owed[projection.0])
    }

    /// The logic posts a snapshot with its state part.
    pub(crate) fn post(&self, saved: Saved, request: Option<i64>, projections: usize) {
        // Relaxed: only the logic reads it before posting; `end` publishes the clear.
        self.in_flight.store(true, Ordering::Relaxed);
        if projections == 0 {
            self.set_ready(saved, request);
            return;
        }
        let at = saved.records as i64;
        *lock(&self.pending) = Some(Pending {
            saved,
            request,
            owed: vec![true; projections],
        });
        // Release: the pending snapshot is in place before projections look.
        self.pending_at.store(at, Ordering::Release);
    }

    /// A projection adds its part; with the last part the snapshot is ready.
    pub(crate) fn contribute(&self, projection: ProjectionId, part: (String, u64, Vec<u8>)) {
        let mut pending = lock(&self.pending);
        let Some(assembling) = pending.as_mut() else {
            return;
        };
        if !assembling.owed[projection.0] {
            return;
        }
        assembling.owed[projection.0] = false;
        assembling.saved.projections.push(part);
        if !assembling.owed.iter().any(|owed| *owed) {
            let done = pending.take().expect("checked above");
            self.set_ready(done.saved, done.request);
            self.pending_at.store(-1, Ordering::Relaxed);
        }
    }

    /// Hands a whole snapshot to the journaler.
    pub(crate) fn set_ready(&self, saved: Saved, request: Option<i64>) {
        let at = saved.records as i64;
        *lock(&self.ready) = Some((saved, request));
        // Release: the snapshot is in `ready` before the journaler sees `ready_at`.
        self.ready_at.store(at, Ordering::Release);
    }

    /// Takes the ready snapshot, if there is one.
    pub(crate) fn take_ready(&self) -> Option<(Saved, Option<i64>)> {
        let taken = lock(&self.ready).take();
        self.ready_at.store(-1, Ordering::Relaxed);
        taken
    }

    /// The record a ready snapshot covers up to, if one is ready.
    pub(crate) fn ready_at(&self) -> Option<u64> {
        // Acquire: pairs with the Release in `set_ready`.
        let at = self.ready_at.load(Ordering::Acquire);
        (at >= 0).then_some(at as u64)
    }

    /// A projection cannot save its part: the pending snapshot is given up.
    pub(crate) fn abandon(&self, reason: String) {
        let pending = lock(&self.pending).take();
        self.pending_at.store(-1, Ordering::Relaxed);
        self.end(pending.and_then(|pending| pending.request), Err(reason));
    }

    /// The snapshot in flight ended with `result`: answered, and the next may start.
    pub(crate) fn end(&self, request: Option<i64>, result: Result<u64, String>) {
        // Release: pairs with the Acquire in `in_flight`.
        self.in_flight.store(false, Ordering::Release);
        self.answer(request, result.map_err(Refused::Failed));
    }

    /// How a snapshot ended (or, from the logic, why it was not started): written
    /// (covering records below `S`) or not, and why. Kept for the caller that
    /// requested it, if one did.
    pub(crate) fn answer(&self, request: Option<i64>, result: Result<u64, Refused>) {
        match &result {
            Ok(records) => {
                self.last_written.store(*records, Ordering::Relaxed);
                self.written.fetch_add(1, Ordering::Relaxed);
                *lock(&self.last_error) = None;
            }
            Err(Refused::Failed(reason)) => *lock(&self.last_error) = Some(reason.clone()),
            Err(Refused::Busy) => {}
        }
        if let Some(request) = request {
            lock(&self.answers).push((request, result));
        }
        self.queue.notify();
    }

    /// Wakes whoever waits in [`wait_answer`](Self::wait_answer) or
    /// [`wait_ended`](Self::wait_ended): a thread they depend on stopped.
    pub(crate) fn wake(&self) {
        self.queue.notify();
    }

    /// Parks until `request` is answered (and takes the answer), or `stopped()`.
    pub(crate) fn wait_answer(
        &self,
        request: i64,
        stopped: impl Fn() -> bool,
    ) -> Option<Result<u64, Refused>> {
        self.queue
            .park_until(
                || {
                    let mut answers = lock(&self.answers);
                    match answers.iter().position(|(asked, _)| *asked == request) {
                        Some(index) => Some(Some(answers.swap_remove(index).1)),
                        None => stopped().then_some(None),
                    }
                },
                None,
            )
            .flatten()
    }

    /// Parks until no snapshot is in flight, or `stopped()`.
    pub(crate) fn wait_ended(&self, stopped: impl Fn() -> bool) {
        self.queue
            .park_until(|| (!self.in_flight() || stopped()).then_some(()), None);
    }
}
