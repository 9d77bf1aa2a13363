//! The export crate's one error type.

use seqlane_journal::JournalError;

/// `Result` with an [`ExportError`].
pub type Result<T, E = ExportError> = std::result::Result<T, E>;

/// What stops an export. Lost connections and server restarts are not errors: the
/// exporter retries them (see [`Status::retries`](crate::Status::retries)); what is
/// here needs a person.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Reading the journal failed: a corrupt record or segment, a missing identity,
    /// I/O errors. The journal stays the source of truth; repair it first.
    #[error("journal: {0}")]
    Journal(#[from] JournalError),
    /// The stream's newest message does not come from this journal: another
    /// journal, or another publisher, writes to it. Export each journal to a stream
    /// of its own.
    #[error(
        "stream {stream} holds {found:?} as its newest message, not a record of journal {identity}"
    )]
    ForeignStream {
        /// The stream.
        stream: String,
        /// This journal's identity.
        identity: String,
        /// The newest message's id (or what is wrong with it).
        found: String,
    },
    /// The stream holds records the journal does not: its newest message is journal
    /// sequence `sequence`, past the journal's durable line `line`. The journal was
    /// replaced by an older copy, or lost synced records; the stream cannot be
    /// continued from it.
    #[error(
        "stream {stream} holds journal sequence {sequence}, past the journal's durable line {line}"
    )]
    JournalBehindStream {
        /// The stream.
        stream: String,
        /// The newest journal sequence in the stream.
        sequence: u64,
        /// The journal's durable line.
        line: u64,
    },
    /// The stream exists with settings that would lose or mix records (subjects
    /// that do not include the export's subject, a de-duplication window of zero).
    #[error("stream {stream}: {reason}")]
    StreamConfig {
        /// The stream.
        stream: String,
        /// What is wrong.
        reason: String,
    },
    /// A NATS call failed in a way that retrying does not mend.
    #[error("nats: {0}")]
    Nats(String),
}
