//! The engine's errors: why it could not start or stopped ([`EngineError`]), why
//! a gateway gave a command back ([`SubmitError`], [`TrySubmitError`]), and why a
//! wait did not end accepted ([`WaitError`], [`StopCause`]).

use std::fmt;
use std::io;
use std::path::PathBuf;

use seqlane_journal::JournalError;

use crate::engine::domain::Command;
use crate::engine::outcome::Rejection;
use crate::engine::schema::ReplayCause;
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
        cause: ReplayCause,
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
            EngineError::Replay { sequence, cause } => {
                write!(f, "cannot replay journal record {sequence}: {cause}")
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

/// Why a wait did not end with the command accepted: it was rejected, or the
/// wait ended first. One flat error, so the common wait is one `match`:
///
/// ```
/// # use seqlane::{Rejection, StopCause, WaitError};
/// fn status(error: &WaitError<String>) -> u16 {
///     match error {
///         WaitError::Rejected(Rejection::Domain(_)) => 409,
///         WaitError::Rejected(_) => 422,
///         WaitError::TimedOut => 504,
///         WaitError::Stopped(StopCause::ShutDown) => 503,
///         _ => 500,
///     }
/// }
/// # assert_eq!(status(&WaitError::TimedOut), 504);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WaitError<R> {
    /// The command was not accepted; the state is untouched. (Never from
    /// [`Receipt::reach`], which does not return the outcome.)
    Rejected(Rejection<R>),
    /// The timeout passed first; the receipt can wait again.
    TimedOut,
    /// The engine stopped before the command got that far.
    Stopped(StopCause),
    /// The outcome was already returned by an earlier wait.
    Spent,
}

impl<R: fmt::Display> fmt::Display for WaitError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::Rejected(rejection) => rejection.fmt(f),
            WaitError::TimedOut => f.write_str("timed out waiting for the command"),
            WaitError::Stopped(cause) => write!(f, "the engine stopped: {cause}"),
            WaitError::Spent => f.write_str("this receipt's outcome was already taken"),
        }
    }
}

impl<R: fmt::Debug + fmt::Display> std::error::Error for WaitError<R> {}

/// Why the engine stopped before a command got as far as a wait asked.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopCause {
    /// The engine was shut down (or dropped) first.
    ShutDown,
    /// `apply` panicked on command `command` (an input sequence): the engine
    /// stopped without processing later commands.
    ApplyPanicked {
        /// The command's input sequence.
        command: i64,
        /// The panic message.
        message: String,
    },
    /// Appending to or syncing the journal failed (the message names the file
    /// and operation): nothing after it was made durable.
    Journal(String),
    /// The projection waited for failed at a record and was not restarted.
    ProjectionFailed {
        /// The projection's name.
        projection: String,
        /// The journal record it failed at.
        record: u64,
        /// Its panic message.
        message: String,
    },
}

impl fmt::Display for StopCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StopCause::ShutDown => f.write_str("the engine shut down"),
            StopCause::ApplyPanicked { command, message } => {
                write!(f, "apply panicked on command {command} ({message})")
            }
            StopCause::Journal(reason) => write!(f, "the journal failed: {reason}"),
            StopCause::ProjectionFailed {
                projection,
                record,
                message,
            } => write!(
                f,
                "projection `{projection}` failed at journal record {record}: {message}"
            ),
        }
    }
}
