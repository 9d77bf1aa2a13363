//! The single-producer sequencer: one [`SingleProducer`](crate::SingleProducer)
//! handle owns the claim counter; this is what its stages read.

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
}

impl SingleCursor {
    pub(crate) fn new() -> Self {
        Self {
            cursor: Sequence::new(INITIAL),
        }
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
