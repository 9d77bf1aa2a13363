//! The business logic's model: the domain state, its version, and the command ids
//! it remembers. Snapshots save it, replay rebuilds it, the logic owns it.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use crate::engine::domain::CommandId;

/// What a command with an id left behind, for its resubmissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Remembered {
    /// Accepted: the version after it, and its records.
    Accepted {
        version: u64,
        records: Option<RangeInclusive<u64>>,
    },
    /// Rejected by `decide`: the rejection as `Aggregate::encode_rejection` made it,
    /// journaled at `record`.
    Rejected { record: u64, rejection: Vec<u8> },
}

/// The domain state with what the logic derives from it.
pub(crate) struct Model<A> {
    pub(crate) state: A,
    /// Events applied since the journal began.
    pub(crate) version: u64,
    /// Ids of commands accepted, or rejected with a journaled rejection.
    pub(crate) ids: HashMap<CommandId, Remembered>,
}
