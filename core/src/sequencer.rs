//! Sequencers: who may write which slot, and when a written slot becomes visible.
//!
//! A producer *claims* sequences, writes their slots in place, then *publishes* them.
//! Stages read a slot only after they observed its publication, and a producer may
//! claim sequence `s` only after every gating stage has released `s - capacity`.
//!
//! - [`single`]: one producer handle; claiming is a plain add on a field the handle
//!   owns, publishing one Release store of a mark at the run's first slot (what
//!   stages poll) and one of the cursor.
//! - [`multi`]: any number of handles; claiming is one atomic add on a shared counter,
//!   publishing marks each slot available, so stages never read a hole left by a
//!   slower producer.

pub(crate) mod multi;
pub(crate) mod single;

/// The publication protocol in use, as the stages and claims see it.
#[allow(clippy::large_enum_variant)] // reason: one per ring, inside its `Arc`; boxing the
                                     // multi-producer variant would add a pointer chase to every publish and poll.
pub(crate) enum Sequencer {
    Single(single::SingleCursor),
    Multi(multi::MultiCursor),
}

impl Sequencer {
    /// Makes the claimed sequences `first..=last` visible to the stages. Their slots
    /// must be fully written.
    #[inline]
    pub(crate) fn publish(&self, first: i64, last: i64) {
        match self {
            Sequencer::Single(cursor) => cursor.publish(first, last),
            Sequencer::Multi(cursor) => cursor.publish(first, last),
        }
    }

    /// For a stage that runs first and consumes whole published runs: the highest
    /// `s >= next - 1` such that every sequence in `next..=s` is published.
    #[inline]
    pub(crate) fn published_from(&self, next: i64) -> i64 {
        match self {
            Sequencer::Single(cursor) => cursor.published_from(next),
            Sequencer::Multi(cursor) => cursor.highest_published(next),
        }
    }

    /// The highest `s >= next - 1` such that every sequence in `next..=s` is
    /// published (so `next - 1` when `next` is not), for any `next`: off the hot
    /// path (counting unprocessed events).
    #[inline]
    pub(crate) fn highest_published(&self, next: i64) -> i64 {
        match self {
            Sequencer::Single(cursor) => cursor.published(),
            Sequencer::Multi(cursor) => cursor.highest_published(next),
        }
    }
}
