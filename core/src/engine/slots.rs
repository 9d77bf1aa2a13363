//! What the engine's two rings carry: submissions into the business logic, and
//! journal records out of it to the journaler and the projections.

use std::sync::Arc;

use crate::engine::domain::Command;
use crate::engine::metadata::Metadata;

/// An input slot: a command and whether its submitter holds a receipt. `None` is a
/// void slot (a claim made after the engine closed), which the logic skips.
pub(crate) struct Submission<C> {
    pub(crate) command: Option<Command<C>>,
    pub(crate) receipt: bool,
    /// Take a snapshot here (after the commands before this slot).
    pub(crate) snapshot: bool,
}

impl<C> Submission<C> {
    pub(crate) fn void() -> Self {
        Self {
            command: None,
            receipt: false,
            snapshot: false,
        }
    }
}

/// An output slot: one journal record, an event or (for a command with an id and
/// no events) a marker that records the id, already encoded by the logic.
pub(crate) struct Entry<E> {
    /// For the projections.
    pub(crate) event: Option<E>,
    /// Its command's metadata, if any, for the projections.
    pub(crate) metadata: Option<Arc<Metadata>>,
    /// The record's tag and payload, as [`record::encode`] made them. The payload's
    /// buffer is swapped with the logic's, not copied, and is reused lap after lap.
    pub(crate) tag: u32,
    pub(crate) payload: Vec<u8>,
}

impl<E> Entry<E> {
    pub(crate) fn empty() -> Self {
        Self {
            event: None,
            metadata: None,
            tag: 0,
            payload: Vec::new(),
        }
    }
}
