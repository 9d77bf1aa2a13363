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
    /// The stream skips journal records: after `expected` comes `found`. The
    /// stream was not written by one exporter from one journal, or lost messages
    /// its exporter has not published again yet.
    #[error("stream {stream} carries journal sequence {found} where {expected} was next")]
    StreamGap {
        /// The stream.
        stream: String,
        /// The journal sequence the read model needs next.
        expected: u64,
        /// The journal sequence the stream gave.
        found: u64,
    },
    /// A record's event cannot be read with the decoder's configuration (see
    /// [`EventDecoder`](seqlane::EventDecoder)): configure it as the engine is.
    #[error("journal sequence {sequence}: {cause}")]
    Decode {
        /// The record.
        sequence: u64,
        /// Why it cannot be read.
        cause: seqlane::ReplayCause,
    },
    /// A read model's checkpoint file cannot be read or written.
    #[error("checkpoint {}: {reason}", path.display())]
    Checkpoint {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A PostgreSQL call failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A NATS call failed in a way that retrying does not mend.
    #[error("nats: {0}")]
    Nats(String),
}
