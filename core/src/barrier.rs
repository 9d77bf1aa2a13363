//! What a stage waits on before it may read a sequence: the producers' publications,
//! or the progress of the stages it runs after.

use std::sync::atomic::Ordering;

use crate::sequence::minimum;
use crate::shared::Shared;
use crate::stage::state::StageState;
use crate::sync::Arc;

/// Why a stage stopped waiting without a sequence to process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stop {
    /// Everything upstream is finished and this stage has processed all of it.
    Drained,
    /// The ring was halted.
    Halted,
}

pub(crate) enum Barrier {
    /// A first stage: gated by the producers' publications.
    Producers,
    /// A later stage: gated by the slowest stage it runs after.
    Stages(Box<[Arc<StageState>]>),
}

impl Barrier {
    /// The highest sequence this stage may process now (below `next` if none).
    #[inline]
    pub(crate) fn available<T>(&self, shared: &Shared<T>, next: i64) -> i64 {
        match self {
            Barrier::Producers => shared.sequencer.published_from(next),
            // Acquire (in `Sequence::get`): pairs with the Release of each upstream
            // stage's progress, which came after that stage acquired the slots'
            // publication, so the slots are visible here too.
            Barrier::Stages(upstream) => {
                minimum(upstream.iter().map(|stage| &stage.sequence), i64::MAX)
            }
        }
    }

    /// Whether nothing more will arrive from upstream.
    fn upstream_done<T>(&self, shared: &Shared<T>) -> bool {
        match self {
            // Acquire: pairs with the Release in `Shared::remove_producer`.
            Barrier::Producers => shared.producers_done.load(Ordering::Acquire),
            // Acquire: pairs with the Release when a stage finishes (`stage::run`).
            Barrier::Stages(upstream) => upstream
                .iter()
                .all(|stage| stage.done.load(Ordering::Acquire)),
        }
    }

    /// One look upstream: the highest sequence this stage may process now (a whole
    /// batch from `next`), why it should stop, or `None` while nothing is available
    /// and more may come.
    #[inline]
    pub(crate) fn check<T>(&self, shared: &Shared<T>, next: i64) -> Option<Result<i64, Stop>> {
        if shared.is_halted() {
            return Some(Err(Stop::Halted));
        }
        let available = self.available(shared, next);
        if available >= next {
            return Some(Ok(available));
        }
        if self.upstream_done(shared) {
            // Upstream finished after the read above, perhaps with more events:
            // read again now that its last publication is acquired.
            let available = self.available(shared, next);
            return Some(if available >= next {
                Ok(available)
            } else {
                Err(Stop::Drained)
            });
        }
        None
    }

    /// Waits until `next` may be processed and returns the highest sequence that may
    /// (a whole batch), or says why the stage should stop; gives up (with `None`)
    /// at `deadline` or as soon as `work()` says the stage has something else to
    /// do. Events available come first.
    #[inline]
    pub(crate) fn wait_or<T>(
        &self,
        shared: &Shared<T>,
        next: i64,
        deadline: Option<std::time::Instant>,
        work: impl Fn() -> bool,
    ) -> Option<Result<i64, Stop>> {
        let poll = || match self.check(shared, next) {
            None if work() => Some(None),
            checked => checked.map(Some),
        };
        shared.waiter.wait_until(poll, deadline).flatten()
    }
}
