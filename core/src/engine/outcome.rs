//! What became of a command: [`Accepted`] with its events, or a [`Rejection`]
//! saying why not.

use std::fmt;
use std::ops::RangeInclusive;

use crate::engine::domain::Aggregate;

/// A command the business logic accepted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted<E> {
    /// The engine's version after the command: the number of events applied to the
    /// state since the journal began.
    pub version: u64,
    /// The events it produced, in order. Empty for a [duplicate](Self::duplicate).
    pub events: Vec<E>,
    /// The journal records holding them (and the command's id), `None` when nothing
    /// was journaled (no events and no id).
    pub records: Option<RangeInclusive<u64>>,
    /// The command's id had been accepted before: this is the first acceptance's
    /// version and records, and the command did not run again.
    pub duplicate: bool,
}

/// Why a command was not accepted. The state is untouched, and nothing was
/// journaled but, for a command with an id, a rejection the aggregate encodes (see
/// [`Aggregate::encode_rejection`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection<R> {
    /// `decide` refused it.
    Domain(R),
    /// Its [expected version](crate::Command::expect_version) was not the version
    /// when it was decided.
    Conflict {
        /// What the command expected.
        expected: u64,
        /// What the version was.
        actual: u64,
    },
    /// `decide` panicked (with this message); the engine went on.
    Panicked(String),
    /// `decide` returned more events than the engine's output ring holds.
    TooManyEvents {
        /// How many it returned.
        events: usize,
        /// The most one command may produce.
        limit: usize,
    },
    /// Its events cannot be journaled: the codec failed on one, or one encodes to
    /// more than a journal record holds (see
    /// [`JournalOptions::max_payload_len`](seqlane_journal::JournalOptions::max_payload_len)).
    /// Nothing was applied; the engine went on.
    Unrecordable(String),
    /// The command's id was rejected before, and that rejection, journaled by
    /// [`Aggregate::encode_rejection`], no longer decodes (the message says why);
    /// the command did not run again.
    Undecodable(String),
}

impl<R: fmt::Display> fmt::Display for Rejection<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Domain(reason) => write!(f, "rejected: {reason}"),
            Rejection::Conflict { expected, actual } => {
                write!(f, "version conflict: expected {expected}, found {actual}")
            }
            Rejection::Panicked(message) => write!(f, "decide panicked: {message}"),
            Rejection::TooManyEvents { events, limit } => {
                write!(
                    f,
                    "{events} events for one command, more than the limit of {limit}"
                )
            }
            Rejection::Unrecordable(reason) => write!(f, "cannot journal its events: {reason}"),
            Rejection::Undecodable(reason) => write!(
                f,
                "its id was rejected before, and that rejection no longer decodes: {reason}"
            ),
        }
    }
}

impl<R: fmt::Debug + fmt::Display> std::error::Error for Rejection<R> {}

/// What became of a command: accepted with its events, or rejected.
pub type Outcome<A> =
    Result<Accepted<<A as Aggregate>::Event>, Rejection<<A as Aggregate>::Rejection>>;

/// A command's outcome as its ticket holds it, with the last journal record the
/// command left (its last event, its id's marker or its rejection), if any.
pub(crate) struct Decided<A: Aggregate> {
    pub(crate) outcome: Outcome<A>,
    pub(crate) last_record: Option<u64>,
}
