//! seqlane-journal: the durable record of every event, as a segmented, memory-mapped,
//! checksummed, append-only log.
//!
//! - [`Journal`] is the single writer of a directory: it recovers the log on open
//!   (checking every record's CRC32C, cutting a torn tail, refusing damage in the
//!   middle), takes an exclusive lock, appends records and batches, rolls to new
//!   preallocated segments, syncs per [`SyncPolicy`], and retires old segments.
//!   Segments are mapped for reading; a batch is written with one positioned
//!   write (and its first length with a second), which on ext4 avoids the
//!   page faults of stores into the mapping, some of which wait milliseconds.
//! - [`Reader`] reads records from any sequence without copying payloads, tailing a
//!   live journal or reading a directory as it stands.
//! - [`inspect`] summarises and verifies a journal without opening it for writing;
//!   the `seqlane-journal` CLI (`inspect`, `verify`, `dump`) is built on it.
//! - [`Codec`] with [`Postcard`] turns values into payloads.
//!
//! The on-disk format, and how recovery tells a torn tail from damage, is in
//! [`format`](mod@format).
//!
//! # Examples
//!
//! ```
//! use seqlane_journal::{Journal, JournalOptions, Reader};
//!
//! let dir = tempfile::tempdir()?;
//! {
//!     let mut journal = Journal::open(dir.path(), JournalOptions::default())?;
//!     journal.append(1, b"first")?;
//!     journal.append(1, b"second")?;
//! } // dropped: unlocked
//!
//! let journal = Journal::open(dir.path(), JournalOptions::default())?;
//! assert_eq!(journal.recovery_report().records, 2);
//! assert_eq!(journal.next_sequence(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod codec;
mod error;
pub mod format;
mod identity;
mod inspect;
mod journal;
mod lock;
mod options;
mod reader;
mod recovery;
mod segment;

pub use codec::{fnv1a64, Codec, Postcard};
pub use error::{JournalError, Result};
pub use identity::{identity, IDENTITY_FILE};
pub use inspect::{inspect, Health, Inspection, SegmentSummary};
pub use journal::{Journal, JournalOptions, SyncJob, SyncPolicy};
pub use lock::LOCK_FILE;
pub use reader::{durable_line, Reader, Record};
pub use recovery::{RecoveryReport, TornTail};
