//! What a stage shares with the stages after it, the producers and the ring's
//! owner: how far it has come, whether it stopped, and whether it got its core.

use std::sync::atomic::Ordering;

use crate::sequence::{Sequence, INITIAL};
use crate::sync::{AtomicBool, AtomicUsize};

/// Whether a stage's thread got the core it asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pinning {
    /// The stage did not ask to be pinned.
    NotRequested,
    /// The stage's thread has not started yet.
    Pending,
    /// Pinned to this core.
    Pinned(usize),
    /// The machine refused this core; the stage runs unpinned.
    Failed(usize),
}

/// A snapshot of one stage, from [`Ring::stages`](crate::Ring::stages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StageStatus {
    /// The stage's name.
    pub name: String,
    /// The highest sequence it has processed (-1 before the first).
    pub processed: i64,
    /// Whether its thread has finished.
    pub finished: bool,
    /// Whether it got its core.
    pub pinning: Pinning,
}

const PIN_PENDING: usize = 0;
const PIN_DONE: usize = 1;
const PIN_FAILED: usize = 2;

/// What a stage shares with the stages after it, the producers and the owner.
pub(crate) struct StageState {
    /// Highest sequence this stage has processed. It has finished reading every slot
    /// up to it, so producers may reuse them once every gating stage is past them.
    pub(crate) sequence: Sequence,
    /// Set (Release) when the stage's thread stops, after its last `sequence`.
    pub(crate) done: AtomicBool,
    pub(crate) name: String,
    core: Option<usize>,
    pinned: AtomicUsize,
}

impl StageState {
    pub(crate) fn new(name: String, core: Option<usize>) -> Self {
        Self {
            sequence: Sequence::new(INITIAL),
            done: AtomicBool::new(false),
            name,
            core,
            pinned: AtomicUsize::new(PIN_PENDING),
        }
    }

    pub(crate) fn status(&self) -> StageStatus {
        let pinning = match (self.core, self.pinned.load(Ordering::Relaxed)) {
            (None, _) => Pinning::NotRequested,
            (Some(_), PIN_PENDING) => Pinning::Pending,
            (Some(core), PIN_DONE) => Pinning::Pinned(core),
            (Some(core), _) => Pinning::Failed(core),
        };
        StageStatus {
            name: self.name.clone(),
            processed: self.sequence.get(),
            finished: self.done.load(Ordering::Acquire),
            pinning,
        }
    }

    pub(crate) fn pin(&self) {
        let Some(core) = self.core else { return };
        let pinned = pin_current_thread(core);
        self.pinned.store(
            if pinned { PIN_DONE } else { PIN_FAILED },
            Ordering::Relaxed,
        );
    }
}

#[cfg(not(any(loom, miri)))]
fn pin_current_thread(core: usize) -> bool {
    // Only cores the process may run on: `core_affinity` indexes a fixed-size CPU set
    // without a bounds check, so an unknown id would abort the process.
    let available = core_affinity::get_core_ids().unwrap_or_default();
    available.iter().any(|id| id.id == core)
        && core_affinity::set_for_current(core_affinity::CoreId { id: core })
}

/// Loom and Miri model no cores.
#[cfg(any(loom, miri))]
fn pin_current_thread(_core: usize) -> bool {
    false
}
