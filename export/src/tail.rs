//! The durable tail of a journal, read from its directory: every record below the
//! journal's durable line, in order, each once, following the writer as it appends
//! and rolls. Records above the line are not handed out: a power cut may still take
//! them, and the writer would then give their sequences to other records.

use std::path::{Path, PathBuf};

use seqlane_journal::{durable_line, identity, Reader, Record, Result};

/// Reads a journal's durable records from a directory another process (or this
/// one) writes.
///
/// # Examples
///
/// ```
/// use seqlane_export::DurableTail;
/// use seqlane_journal::{Journal, JournalOptions};
///
/// let dir = tempfile::tempdir()?;
/// let mut journal = Journal::open(dir.path(), JournalOptions::default())?;
/// let mut tail = DurableTail::open(dir.path(), 0)?;
/// assert!(tail.next_record()?.is_none());
/// journal.append(3, b"synced")?;
/// let record = tail.next_record()?.unwrap();
/// assert_eq!((record.sequence, record.tag, record.payload), (0, 3, &b"synced"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct DurableTail {
    dir: PathBuf,
    identity: String,
    reader: Reader,
    /// The durable line as last read.
    line: u64,
}

impl DurableTail {
    /// A tail of the journal in `dir` from `sequence`.
    ///
    /// # Errors
    ///
    /// The journal has no identity yet (its writer has not opened it with this
    /// version), `sequence` was retired or is past the end
    /// ([`OutOfRange`](seqlane_journal::JournalError::OutOfRange)), I/O errors.
    pub fn open(dir: impl AsRef<Path>, sequence: u64) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        let identity = identity(&dir)?;
        let reader = Reader::open(&dir, sequence)?;
        let line = durable_line(&dir)?;
        Ok(DurableTail {
            dir,
            identity,
            reader,
            line,
        })
    }

    /// The journal's identity.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The sequence of the record the next call returns.
    pub fn next_sequence(&self) -> u64 {
        self.reader.next_sequence()
    }

    /// The durable line as last read: records below it are on disk.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Moves to `sequence`, forwards or back.
    ///
    /// # Errors
    ///
    /// As [`Reader::seek`].
    pub fn seek(&mut self, sequence: u64) -> Result<()> {
        self.reader.seek(sequence)
    }

    /// Reads the durable line again.
    ///
    /// # Errors
    ///
    /// As [`durable_line`].
    pub fn refresh(&mut self) -> Result<u64> {
        self.line = durable_line(&self.dir)?.max(self.line);
        Ok(self.line)
    }

    /// The next durable record, or `None` if the next one is not durable yet. The
    /// line is read again only when the records below the last reading run out.
    ///
    /// # Errors
    ///
    /// A corrupt record or segment; I/O errors.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        if self.reader.next_sequence() >= self.line && self.refresh()? <= self.next_sequence() {
            return Ok(None);
        }
        self.reader.next_record()
    }
}
