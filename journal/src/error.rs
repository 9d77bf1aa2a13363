//! The journal's one error type. Each variant says what happened, where, and what
//! to do about it.

use std::io;
use std::path::PathBuf;

/// `Result` with a [`JournalError`].
pub type Result<T, E = JournalError> = std::result::Result<T, E>;

/// Everything that can go wrong with a journal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JournalError {
    /// An operating-system call failed on `path`. `op` names the failure point
    /// (`module::operation`); the source says why (permissions, I/O error, ...).
    #[error("{op} failed on {path}: {source}")]
    Io {
        /// The failure point, e.g. `segment::create`.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A new segment could not be preallocated: usually a full disk (ENOSPC) or a
    /// quota. Free space or point the journal elsewhere; nothing was written to the
    /// segment, and records appended before are intact.
    #[error("cannot preallocate {size} bytes for segment {path}: {source} (is the disk full?)")]
    Allocate {
        /// The segment being created.
        path: PathBuf,
        /// Bytes requested.
        size: u64,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Another writer holds the journal's lock. Only one process may append; stop the
    /// other one, or read with [`Reader`](crate::Reader) instead.
    #[error("journal {dir} is locked by another writer ({holder})")]
    Locked {
        /// The journal directory.
        dir: PathBuf,
        /// What the lock file says of its holder.
        holder: String,
    },
    /// The file is not a seqlane journal segment (its magic number is wrong). Check
    /// that the directory is the journal's and holds nothing else named `*.seg`.
    #[error("{path}: not a seqlane journal segment (bad magic number at offset 0)")]
    BadMagic {
        /// The file.
        path: PathBuf,
    },
    /// The segment was written by a newer format version than this build reads.
    /// Upgrade seqlane-journal.
    #[error("{path}: format version {found} is newer than the {supported} this build reads")]
    UnsupportedVersion {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u32,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A segment's header or layout is damaged. The journal cannot be trusted past
    /// this file; restore it from a replica or backup.
    #[error("{path}: corrupt segment: {reason}")]
    CorruptSegment {
        /// The file.
        path: PathBuf,
        /// What was expected.
        reason: String,
    },
    /// An invalid or missing record that a completed sync had covered (or, in a
    /// version 1 segment, one with valid records after it): not a torn tail from a
    /// crash but damage to the log. Nothing was truncated; restore the file from a
    /// replica or backup, or look at it with `seqlane-journal inspect` and `dump`.
    #[error(
        "{path} at offset {offset}: corrupt record: {reason}; refusing to drop it or what follows"
    )]
    CorruptRecord {
        /// The file.
        path: PathBuf,
        /// Byte offset of the invalid record in the file.
        offset: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A record is larger than a segment can hold. Use a larger
    /// [`segment_size`](crate::JournalOptions::segment_size) or split the record.
    #[error(
        "a record of {payload_len} payload bytes does not fit a segment of {segment_size} bytes"
    )]
    RecordTooLarge {
        /// The payload's length.
        payload_len: usize,
        /// The configured segment size.
        segment_size: u64,
    },
    /// The requested sequence is no longer in the journal (retired) or not yet in it.
    #[error("sequence {sequence} is not in the journal (it holds {first}..{next})")]
    OutOfRange {
        /// The sequence asked for.
        sequence: u64,
        /// The first sequence held.
        first: u64,
        /// The sequence the next append will get.
        next: u64,
    },
    /// The journal's identity file ([`IDENTITY_FILE`](crate::IDENTITY_FILE)) is
    /// missing or damaged. A missing one is created by the next open for writing; a
    /// damaged one is never replaced (the journal's records are known by it
    /// elsewhere): restore it from a backup.
    #[error("{path}: journal identity {reason}")]
    Identity {
        /// The identity file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A payload could not be encoded or decoded by a [`Codec`](crate::Codec).
    #[error("codec: {0}")]
    Codec(String),
    /// A journal that failed to append earlier stays closed: what is on disk past
    /// its last good record is unknown until it is reopened (and recovered).
    #[error("the journal failed earlier ({0}); reopen it to recover")]
    Poisoned(String),
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| JournalError::Io { op, path, source }
    }
}
