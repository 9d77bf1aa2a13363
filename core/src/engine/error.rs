//! The engine's errors: why it could not start or stopped ([`EngineError`]), and
//! why a gateway gave a command back ([`SubmitError`], [`TrySubmitError`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use seqlane_journal::JournalError;

use crate::engine::domain::Command;
use crate::error::RingError;

/// Why an engine could not start, or stopped badly.
#[derive(Debug)]
#[non_exhaustive]
pub enum EngineError {
    /// Opening, recovering, appending to or syncing the journal failed (the error
    /// names the file and operation). After a failed append or sync the engine
    /// stopped; restart it to recover from what reached the disk.
    Journal(JournalError),
    /// A journaled record could not be replayed: it was not written by an engine,
    /// or its event was written by a schema (type name, version, fingerprint) that
    /// the running code does not read and no upcaster converts; the reason names
    /// both.
    Replay {
        /// The record's journal sequence.
        sequence: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The journal's first records were retired (by a [`Retention`](crate::Retention) policy, or by
    /// hand), and something must replay records from before them: the state (no
    /// usable snapshot) or a projection the snapshot has no part for (added since):
    /// replaying what is left would rebuild a wrong state. Restore the archived
    /// segments, or start with the projection's part in a snapshot.
    Retired {
        /// The first record still held.
        first: u64,
        /// The first record that is needed.
        needed: u64,
        /// What needs it.
        by: String,
    },
    /// `apply` panicked (the state may be half-changed): the engine stopped without
    /// journaling that command's events or processing later commands.
    ApplyPanicked {
        /// The command's input sequence ([`Receipt::sequence`](crate::Receipt::sequence)).
        command: i64,
        /// The panic message.
        message: String,
        /// Commands submitted and not processed (the failing one included).
        unprocessed: u64,
    },
    /// A snapshot could not be taken, or a snapshot file could not be used.
    Snapshot {
        /// The file, when one was involved.
        path: Option<PathBuf>,
        /// What went wrong.
        reason: String,
    },
    /// An engine thread could not be started.
    Spawn(io::Error),
    /// An engine stage failed in a way not covered above.
    Ring(RingError),
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Journal(error) => write!(f, "journal: {error}"),
            EngineError::Replay { sequence, reason } => {
                write!(f, "cannot replay journal record {sequence}: {reason}")
            }
            EngineError::Retired { first, needed, by } => write!(
                f,
                "{by} must replay from journal record {needed}, but the journal starts at \
                 record {first}: the records before it were retired"
            ),
            EngineError::ApplyPanicked {
                command,
                message,
                unprocessed,
            } => write!(
                f,
                "apply panicked on command {command}: {message}; the engine stopped with \
                 {unprocessed} submitted commands unprocessed (that one included)"
            ),
            EngineError::Snapshot {
                path: Some(path),
                reason,
            } => {
                write!(f, "snapshot {}: {reason}", path.display())
            }
            EngineError::Snapshot { path: None, reason } => write!(f, "snapshot: {reason}"),
            EngineError::Spawn(error) => write!(f, "cannot start an engine thread: {error}"),
            EngineError::Ring(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for EngineError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            EngineError::Journal(error) => Some(error),
            EngineError::Spawn(error) => Some(error),
            EngineError::Ring(error) => Some(error),
            _ => None,
        }
    }
}

impl From<JournalError> for EngineError {
    fn from(error: JournalError) -> Self {
        EngineError::Journal(error)
    }
}

/// A command the engine refused to take: it is shutting down, or stopped on a
/// failure. Carries the command back.
pub enum SubmitError<C> {
    /// The engine is closed.
    Closed(Command<C>),
}

impl<C> SubmitError<C> {
    /// The command that was not submitted.
    pub fn into_command(self) -> Command<C> {
        match self {
            SubmitError::Closed(command) => command,
        }
    }
}

/// A command not taken by [`Gateway::try_submit`](crate::Gateway::try_submit) or [`Gateway::submit_before`](crate::Gateway::submit_before).
pub enum TrySubmitError<C> {
    /// The input ring is full: back off, shed load, or [`Gateway::submit`](crate::Gateway::submit).
    Full(Command<C>),
    /// The engine is closed.
    Closed(Command<C>),
}

impl<C> TrySubmitError<C> {
    /// The command that was not submitted.
    pub fn into_command(self) -> Command<C> {
        match self {
            TrySubmitError::Full(command) | TrySubmitError::Closed(command) => command,
        }
    }
}

impl<C> fmt::Debug for SubmitError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Closed(..)")
    }
}

impl<C> fmt::Display for SubmitError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the engine is closed (shutting down, or stopped on a failure)")
    }
}

impl<C> std::error::Error for SubmitError<C> {}

impl<C> fmt::Debug for TrySubmitError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => f.write_str("Full(..)"),
            TrySubmitError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<C> fmt::Display for TrySubmitError<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrySubmitError::Full(_) => f.write_str("the engine's input ring is full"),
            TrySubmitError::Closed(_) => {
                f.write_str("the engine is closed (shutting down, or stopped on a failure)")
            }
        }
    }
}

impl<C> std::error::Error for TrySubmitError<C> {}
