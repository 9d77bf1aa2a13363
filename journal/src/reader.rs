//! Reading records in sequence order, zero-copy, from any sequence.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::error::{JournalError, Result};
use crate::format::{decode_frame, Decoded};
use crate::segment::{self, Access, Length, Segment};

/// How far the writer has got, shared with in-process readers.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    /// The sequence after the last appended record. Every frame below it is fully
    /// written and never written again (Release by the writer, Acquire by readers).
    pub(crate) appended: AtomicU64,
    /// The sequence after the last synced record.
    pub(crate) synced: AtomicU64,
}

/// The durable line of the journal in `dir`, as a process other than its writer can
/// know it: every record before the returned sequence reached the disk through a
/// sync that completed. It is read from the sync marks in the segments' header
/// pages, which the writer stores only after a completed sync (a roll leaves the
/// closed segment's mark at the next segment's base); the newest segment that has a
/// mark decides. Records at or past the line may still be lost by a power cut (and
/// their sequences then written again with other records), so a reader that hands
/// records to another machine reads only below it.
///
/// A writer under [`SyncPolicy::Never`](crate::SyncPolicy::Never) leaves no marks:
/// its line stays where its last explicit sync put it.
///
/// # Errors
///
/// A corrupt segment header; I/O errors. A segment retired while this looks is
/// skipped.
///
/// # Examples
///
/// ```
/// use seqlane_journal::{durable_line, Journal, JournalOptions};
///
/// let dir = tempfile::tempdir()?;
/// let mut journal = Journal::open(dir.path(), JournalOptions::default())?;
/// journal.append(0, b"synced")?; // the default policy syncs every batch
/// assert_eq!(durable_line(dir.path())?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn durable_line(dir: impl AsRef<Path>) -> Result<u64> {
    let segments = segment::list(dir.as_ref())?.segments;
    for (_, path) in segments.iter().rev() {
        match segment::read_head(path) {
            Ok((_, Some(mark))) => return Ok(mark.next_sequence),
            Ok((_, None)) => {}
            Err(JournalError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
    }
    Ok(segments.first().map_or(0, |(base, _)| *base))
}

/// One record, borrowing its payload from the segment's mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The record's sequence.
    pub sequence: u64,
    /// The type tag given when it was appended.
    pub tag: u32,
    /// Its bytes, as appended.
    pub payload: &'a [u8],
}

/// Reads records in sequence order.
///
/// Two kinds, with the same interface:
/// - from [`Journal::reader_from`](crate::Journal::reader_from): *tailing*, bound to
///   that journal's progress; it may run on another thread while the journal
///   appends, sees each record once it is appended, and never a partial one;
/// - from [`Reader::open`]: reads a journal directory as it stands (for tools and
///   replay), stopping at the end of the valid log.
///
/// [`next_record`](Reader::next_record) lends each record until the next call, so no
/// payload is copied.
///
/// # Examples
///
/// ```
/// use seqlane_journal::{Journal, JournalOptions, Reader};
///
/// let dir = tempfile::tempdir()?;
/// let mut journal = Journal::open(dir.path(), JournalOptions::default().segment_size(1 << 20))?;
/// for i in 0..10u32 {
///     journal.append(0, &i.to_le_bytes())?;
/// }
/// drop(journal);
///
/// let mut reader = Reader::open(dir.path(), 7)?;
/// let mut seen = Vec::new();
/// while let Some(record) = reader.next_record()? {
///     seen.push(record.sequence);
/// }
/// assert_eq!(seen, [7, 8, 9]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Reader {
    dir: PathBuf,
    /// For a tailing reader: the writer's progress, which bounds what may be read.
    progress: Option<Arc<Progress>>,
    segment: Option<Segment>,
    /// Offset of the next frame in `segment`.
    offset: usize,
    /// The sequence the next record must have.
    next: u64,
}

impl Reader {
    /// A reader of the journal in `dir` as it stands, from `sequence`. It takes no
    /// lock; a writer in another process may be appending (its unfinished record
    /// reads as the end of the log).
    ///
    /// # Errors
    ///
    /// [`JournalError::OutOfRange`] when no segment holds `sequence` (retired or not
    /// yet written: an empty journal is readable from 0); a corrupt segment header;
    /// I/O errors.
    pub fn open(dir: impl AsRef<Path>, sequence: u64) -> Result<Self> {
        let mut reader = Reader {
            dir: dir.as_ref().to_owned(),
            progress: None,
            segment: None,
            offset: 0,
            next: sequence,
        };
        reader.seek(sequence)?;
        Ok(reader)
    }

    pub(crate) fn tailing(dir: &Path, sequence: u64, progress: Arc<Progress>) -> Result<Self> {
        let mut reader = Reader {
            dir: dir.to_owned(),
            progress: Some(progress),
            segment: None,
            offset: 0,
            next: sequence,
        };
        reader.seek(sequence)?;
        Ok(reader)
    }

    /// The sequence of the record the next call returns.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// Moves to `sequence`: finds its segment by name (no scan of earlier segments),
    /// then skips the records before it in that segment.
    ///
    /// # Errors
    ///
    /// As [`Reader::open`], and [`JournalError::CorruptRecord`] if a record before
    /// `sequence` in its segment is invalid.
    pub fn seek(&mut self, sequence: u64) -> Result<()> {
        let segments = segment::list(&self.dir)?.segments;
        let holder = segments.iter().rev().find(|(base, _)| *base <= sequence);
        let Some((base, path)) = holder else {
            if segments.is_empty() && sequence == 0 {
                self.segment = None;
                self.next = 0;
                return Ok(());
            }
            let first = segments.first().map_or(0, |(base, _)| *base);
            // The end of the log, for the error's range: the last segment's scan.
            let next = match segments.last() {
                Some((_, path)) => {
                    crate::recovery::scan(
                        &Segment::open(path.clone(), Access::ReadOnly, Length::MayBeShort)?,
                        0,
                    )
                    .next_sequence
                }
                None => first,
            };
            return Err(JournalError::OutOfRange {
                sequence,
                first,
                next,
            });
        };
        self.open_segment(*base, path.clone())?;
        while self.next < sequence {
            if self.read_frame()?.is_none() {
                return Err(JournalError::OutOfRange {
                    sequence,
                    first: segments[0].0,
                    next: self.next,
                });
            }
        }
        Ok(())
    }

    fn open_segment(&mut self, base: u64, path: PathBuf) -> Result<()> {
        let segment = Segment::open(path, Access::ReadOnly, Length::MayBeShort)?;
        segment.check_name(base)?;
        self.offset = segment.data_start();
        self.segment = Some(segment);
        self.next = base;
        Ok(())
    }

    /// The next record, or `None` at the end of what is written (a tailing reader
    /// returns more records after the journal appends them).
    ///
    /// # Errors
    ///
    /// [`JournalError::CorruptRecord`] at an invalid record (for a reader from
    /// [`Reader::open`], the torn tail a crashed writer left also reads as one, until
    /// the journal is reopened and recovers); a missing or corrupt segment.
    pub fn next_record(&mut self) -> Result<Option<Record<'_>>> {
        match self.read_frame()? {
            None => Ok(None),
            Some((offset, len)) => {
                let segment = self
                    .segment
                    .as_ref()
                    .expect("a frame was read from a segment");
                // SAFETY: `read_frame` validated this frame, which lies below the
                // writer's published progress (or in a file no writer here writes).
                let bytes = unsafe { segment.bytes(offset, len) };
                match decode_frame(bytes) {
                    Decoded::Frame(frame, _) => Ok(Some(Record {
                        sequence: frame.sequence,
                        tag: frame.tag,
                        payload: frame.payload,
                    })),
                    _ => unreachable!("the frame was validated"),
                }
            }
        }
    }

    /// Finds and validates the next frame, advances past it and returns its offset
    /// and length, or `None` at the end of the readable log.
    fn read_frame(&mut self) -> Result<Option<(usize, usize)>> {
        let limit = self
            .progress
            .as_ref()
            .map(|progress| progress.appended.load(Ordering::Acquire));
        if limit.is_some_and(|limit| self.next >= limit) {
            return Ok(None);
        }
        loop {
            let Some(segment) = &self.segment else {
                // An empty journal: look again, a writer may have created a segment.
                let segments = segment::list(&self.dir)?.segments;
                match segments.into_iter().find(|(base, _)| *base == self.next) {
                    Some((base, path)) => {
                        self.open_segment(base, path)?;
                        continue;
                    }
                    None => return Ok(None),
                }
            };
            let remaining = segment.capacity() - self.offset;
            let len = if remaining < 4 {
                0
            } else {
                // SAFETY: a length field below the published progress is written
                // once, before `appended` moved past it; past the progress, or in a
                // file no writer here writes, this is a read of stable bytes.
                let field = unsafe { segment.bytes(self.offset, 4) };
                u32::from_le_bytes(field.try_into().expect("4 bytes")) as usize
            };
            if len == 0 {
                // The end of this segment's records: the log continues in the next
                // segment if there is one starting at `next` (an empty segment is
                // the end: the next one cannot start at the same sequence).
                if segment.header.base_sequence == self.next {
                    return Ok(None);
                }
                let path = segment::segment_path(&self.dir, self.next);
                if limit.is_some() || path.exists() {
                    if !path.exists() {
                        return Err(JournalError::CorruptSegment {
                            path,
                            reason: format!(
                                "missing: the journal holds sequence {} there",
                                self.next
                            ),
                        });
                    }
                    self.open_segment(self.next, path)?;
                    continue;
                }
                return Ok(None);
            }
            // SAFETY: as above, and `len` bytes is the frame the length announces,
            // bounded to the segment.
            let bytes = unsafe { segment.bytes(self.offset, len.min(remaining)) };
            let reason = match decode_frame(bytes) {
                Decoded::Frame(frame, size) if frame.sequence == self.next => {
                    let offset = self.offset;
                    self.offset += size;
                    self.next += 1;
                    return Ok(Some((offset, len)));
                }
                Decoded::Frame(frame, _) => format!(
                    "sequence {} where {} was expected",
                    frame.sequence, self.next
                ),
                Decoded::Invalid(reason) => reason.to_owned(),
                Decoded::Empty => unreachable!("the length is not zero"),
            };
            return Err(JournalError::CorruptRecord {
                path: segment.path.clone(),
                offset: self.offset as u64,
                reason,
            });
        }
    }
}
