//! Sequencers: who may write which slot, and when a written slot becomes visible.
//!
//! A producer *claims* sequences, writes their slots in place, then *publishes* them.
//! Stages read a slot only after they observed its publication, and a producer may
//! claim sequence `s` only after every gating stage has released `s - capacity`.
//!
//! - [`single`]: one producer handle; claiming is a plain add on a field the handle
//!   owns, publishing one Release store of the cursor.
//! - [`multi`]: any number of handles; claiming is one atomic add on a shared counter
//!   (a compare-exchange once there is room, near a full ring),
//!   publishing marks each slot available, so stages never read a hole left by a
//!   slower producer.

pub(crate) mod multi;
pub(crate) mod single;

/// The publication protocol in use, as the stages and claims see it.
///
/// The single producer's cursor sits outside the multi-producer state, so that a
/// [`SingleProducer`](crate::SingleProducer)'s claims publish with one store and
/// no test of which kind of ring they are on.
pub(crate) struct Sequencer {
    /// The single producer's cursor; unused behind a multi-producer sequencer.
    single: single::SingleCursor,
    /// The multi-producer state; `None` behind a single producer.
    multi: Option<multi::MultiCursor>,
}

impl Sequencer {
    /// The sequencer of a ring with one producer.
    pub(crate) fn single(capacity: usize) -> Self {
        Self {
            single: single::SingleCursor::new(capacity),
            multi: None,
        }
    }

    /// The sequencer of a ring with any number of producers.
    pub(crate) fn multi(capacity: usize) -> Self {
        Self {
            single: single::SingleCursor::new(capacity),
            multi: Some(multi::MultiCursor::new(capacity)),
        }
    }

    /// The single producer's cursor and claim limit.
    #[inline]
    pub(crate) fn single_cursor(&self) -> &single::SingleCursor {
        &self.single
    }

    /// The multi-producer state, if this is a multi-producer sequencer.
    #[inline]
    pub(crate) fn multi_cursor(&self) -> Option<&multi::MultiCursor> {
        self.multi.as_ref()
    }

    /// Makes the claimed sequences `first..=last` visible to the stages. Their slots
    /// must be fully written. `single` says the claim came from the single producer
    /// (a constant where the claim was made, so the test folds away).
    #[inline]
    pub(crate) fn publish(&self, single: bool, first: i64, last: i64) {
        match &self.multi {
            Some(cursor) if !single => cursor.publish(first, last),
            _ => {
                debug_assert!(
                    self.multi.is_none(),
                    "a single producer's claim on a multi-producer ring"
                );
                self.single.publish(last)
            }
        }
    }

    /// For a stage that runs first, whose sequence is `next - 1`: the highest
    /// `s >= next - 1` such that every sequence in `next..=s` is published.
    #[inline]
    pub(crate) fn published_from(&self, next: i64) -> i64 {
        match &self.multi {
            None => self.single.published(),
            Some(cursor) => cursor.published_from(next),
        }
    }

    /// The highest `s >= next - 1` such that every sequence in `next..=s` is
    /// published (so `next - 1` when `next` is not), for any `next`: off the hot
    /// path (counting unprocessed events).
    #[inline]
    pub(crate) fn highest_published(&self, next: i64) -> i64 {
        match &self.multi {
            None => self.single.published(),
            Some(cursor) => cursor.highest_published(next),
        }
    }
}
