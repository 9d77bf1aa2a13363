//! The single-producer sequencer: one [`SingleProducer`](crate::SingleProducer)
//! handle owns the claim counter; this is what its stages read.

use std::sync::atomic::Ordering;

use crate::sequence::{Sequence, INITIAL};

/// The publication state of a single-producer ring: one cursor.
///
/// Publishing is one Release store of the cursor, and a stage learns from one load
/// everything published since it last looked, however many runs that is. The cursor
/// is the only line a publication writes beside the events' own: the 8 bytes per
/// event of a mark array, and the walk from mark to mark (one dependent load per
/// run), cost more than the cursor's line moving between the cores once per look
/// (measured: results/README.md, "Measurements behind the code"). What keeps a
/// stage that has caught up from taking that line at every event is its loop
/// (`stage::run`), not the sequencer.
pub(crate) struct SingleCursor {
    /// Highest published sequence. Every slot up to it is fully written; the
    /// producer writes no slot at or below it until the gating stages release it.
    cursor: Sequence,
    /// The highest sequence the producer may claim without looking at the gating
    /// stages (a lap past a gating minimum it saw), or `HALTED`. Only the producer
    /// moves it forward; a halt sets it to `HALTED`, so one load and compare per
    /// claim tells the producer both that it has room and that the ring runs. On
    /// its own line: the producer reads it at every claim, the stages never.
    limit: Sequence,
}

/// The limit of a halted ring: below every sequence, so every claim looks again.
const HALTED: i64 = i64::MIN;

impl SingleCursor {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            cursor: Sequence::new(INITIAL),
            limit: Sequence::new(INITIAL + capacity as i64),
        }
    }

    /// The producer's limit (see the field); below every sequence once the ring
    /// is halted ([`is_halted`](Self::is_halted) tells).
    #[inline]
    pub(crate) fn limit(&self) -> i64 {
        // Relaxed: only the producer moves the limit forward, so the value it
        // reads below `HALTED` is one it stored itself after acquiring the
        // gating stages' progress. A halt only lowers it, and the producer then
        // takes the slow path, which needs nothing else from the halt. Acquire
        // would keep the compiler from holding the producer's other fields in
        // registers across claims: instructions on the hottest path.
        self.limit.atomic().load(Ordering::Relaxed)
    }

    /// Whether `limit`, as read from [`limit`](Self::limit), says the ring was
    /// halted.
    #[inline]
    pub(crate) fn is_halted(limit: i64) -> bool {
        limit == HALTED
    }

    /// Moves the limit from `seen` (what the producer read) to `limit`. Fails when
    /// a halt came between: the claim must then fail too.
    pub(crate) fn advance_limit(&self, seen: i64, limit: i64) -> Result<(), ()> {
        // AcqRel/Acquire: the failure reads the halt's store, after its flag.
        self.limit
            .atomic()
            .compare_exchange(seen, limit, Ordering::AcqRel, Ordering::Acquire)
            .map(drop)
            .map_err(drop)
    }

    /// Makes the producer's next claim look at the ring (and find it halted).
    pub(crate) fn halt(&self) {
        self.limit.set(HALTED);
    }

    /// Publishes everything up to `last`. The slots must be fully written.
    #[inline]
    pub(crate) fn publish(&self, last: i64) {
        // Release (in `set`): pairs with the Acquire in `published`: a stage that
        // reads `last` sees every slot up to it written.
        self.cursor.set(last);
    }

    /// The highest published sequence.
    #[inline]
    pub(crate) fn published(&self) -> i64 {
        // Acquire (in `get`): pairs with the Release in `publish`.
        self.cursor.get()
    }
}
