//! The writer: appends records, rolls segments, syncs per policy, retires old
//! segments.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::error::{JournalError, Result};
use crate::format::{SyncMark, DATA_START};
use crate::lock::DirLock;
pub use crate::options::{JournalOptions, SyncPolicy};
use crate::reader::{Progress, Reader};
use crate::recovery::{self, RecoveryReport, TornTail};
use crate::segment::{self, length_of_last, Access, Flusher, Length, Segment};

mod append;
mod sync_job;

pub use sync_job::SyncJob;

/// An open journal: the single writer of a directory of segments.
///
/// Opening recovers the log (checks every record, cuts a torn tail) and takes an
/// exclusive lock on the directory. Records get consecutive sequences.
///
/// # Examples
///
/// ```
/// use seqlane_journal::{Journal, JournalOptions, SyncPolicy};
///
/// let dir = tempfile::tempdir()?;
/// let mut journal = Journal::open(dir.path(), JournalOptions::default().segment_size(1 << 20))?;
/// let first = journal.append(1, b"item created")?;
/// let batch = journal.append_batch([(2, &b"renamed"[..]), (3, &b"checked in"[..])])?;
/// assert_eq!((first, batch), (0, Some(1..=2)));
/// assert_eq!(journal.durable(), Some(2)); // EveryBatch: synced before returning
///
/// let mut reader = journal.reader_from(1)?;
/// let record = reader.next_record()?.unwrap();
/// assert_eq!((record.sequence, record.tag, record.payload), (1, 2, &b"renamed"[..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    identity: String,
    options: JournalOptions,
    /// Base sequences and paths of every segment, oldest first; the last is active.
    segments: Vec<(u64, PathBuf)>,
    active: Segment,
    /// Write position in the active segment: the end of its appended frames
    /// (those in `batch` included).
    offset: usize,
    /// The frames of the batch being appended, encoded, not yet written: they
    /// go to the active segment at `offset - batch.len()` in one write.
    batch: Vec<u8>,
    /// First byte of the active segment not yet synced.
    unsynced_from: usize,
    /// Generation of the last sync mark written to the active segment.
    mark_generation: u64,
    /// A sync mark is written to the active segment's header page but not synced.
    mark_pending: bool,
    /// Ranges of closed segments left unsynced by rolls under `SyncPolicy::Never`.
    left_unsynced: Vec<(Flusher, usize, usize)>,
    next_sequence: u64,
    first_sequence: u64,
    last_sync: Instant,
    progress: Arc<Progress>,
    report: RecoveryReport,
    /// Set when an append failed part-way; the journal refuses further appends.
    poisoned: Option<String>,
    _lock: DirLock,
}

impl Journal {
    /// Opens (or creates) the journal in `dir`, recovering what is there.
    ///
    /// Recovery checks every record, cuts a torn tail past the durable line (the
    /// last completed sync, see [`format`](crate::format)) and reports it in
    /// [`recovery_report`](Self::recovery_report). Unless the policy is
    /// [`SyncPolicy::Never`], the records it keeps past the line are written back
    /// and synced before `open` returns, so [`durable`](Self::durable) is true of
    /// them.
    ///
    /// # Errors
    ///
    /// [`JournalError::Locked`] if another writer holds it; a corrupt segment, or
    /// damage to a record below the durable line ([`JournalError::CorruptRecord`],
    /// naming the file and offset); [`JournalError::Allocate`] when the first
    /// segment cannot be preallocated; I/O errors, among them a failed sync.
    pub fn open(dir: impl AsRef<Path>, options: JournalOptions) -> Result<Self> {
        let dir = dir.as_ref().to_owned();
        let started = Instant::now();
        std::fs::create_dir_all(&dir).map_err(JournalError::io("journal::create_dir", &dir))?;
        let lock = DirLock::acquire(&dir)?;
        let identity = crate::identity::ensure(&dir)?;
        let segment::Listing {
            segments: listed,
            leftovers,
        } = segment::list(&dir)?;
        for leftover in &leftovers {
            segment::remove(leftover, "journal::remove_leftover")?;
        }

        let recovery::Recovered {
            found,
            line,
            verdict,
        } = recovery::recover(&listed)?;
        let mut truncated = None;
        let mut kept = listed;
        let removed = kept.split_off(verdict.keep);
        if let Some((offset, dirty_end, reason)) = &verdict.cut {
            let path = &kept.last().expect("a cut lies in a kept segment").1;
            Segment::open(path.clone(), Access::ReadWrite, Length::MayBeShort)?
                .zero(*offset, dirty_end - offset)?;
            truncated = Some(TornTail {
                path: path.clone(),
                offset: *offset as u64,
                bytes: (dirty_end - offset) as u64,
                reason: reason.clone(),
                removed_segments: Vec::new(),
            });
        }
        if !removed.is_empty() {
            for (_, path) in &removed {
                segment::remove(path, "journal::remove_torn")?;
            }
            segment::sync_dir(&dir)?;
            let tail = truncated.get_or_insert_with(|| TornTail {
                path: kept.last().map_or_else(|| dir.clone(), |(_, p)| p.clone()),
                offset: found[verdict.keep.saturating_sub(1)].scan.end as u64,
                bytes: 0,
                reason: format!(
                    "the segment after it starts past sequence {}, which never reached the disk",
                    verdict.next_sequence
                ),
                removed_segments: Vec::new(),
            });
            tail.removed_segments = removed.into_iter().map(|(_, path)| path).collect();
        }
        let records = found[..verdict.keep].iter().map(|f| f.scan.records).sum();
        let next_sequence = verdict.next_sequence;

        // Records past the line are in the files but not known to be on the disk:
        // write them back and sync them before counting them durable.
        let mut resynced = 0;
        let syncs = options.sync != SyncPolicy::Never;
        let last_kept = kept.len().checked_sub(1);
        let mut active = None;
        for (index, f) in found[..kept.len()].iter().enumerate() {
            let is_last = Some(index) == last_kept;
            let past_line = f.scan.line_offset.filter(|&at| at < f.scan.end);
            let resync = syncs && past_line.is_some();
            if !is_last && !resync {
                continue;
            }
            let segment =
                Segment::open(f.path.clone(), Access::ReadWrite, length_of_last(is_last))?;
            if let (true, Some(at)) = (syncs, past_line) {
                segment.rewrite(at, f.scan.end - at)?;
                resynced += f.scan.next_sequence - line.max(f.base);
            }
            if is_last {
                active = Some((segment, f.scan.end));
            }
        }

        let (mut active, offset) = match active {
            Some(active) => active,
            None => (Segment::create(&dir, 0, options.segment_size)?, DATA_START),
        };
        let mut segments = kept;
        if segments.is_empty() {
            segments.push((0, active.path.clone()));
        }
        let mut offset = offset;
        let mut mark_generation = active.sync_mark().map_or(0, |m| m.generation);
        if !active.header.has_sync_marks() {
            // A version 1 segment has no room for sync marks: append to a new one.
            active = Segment::create(&dir, next_sequence, options.segment_size)?;
            segments.push((next_sequence, active.path.clone()));
            offset = active.data_start();
            mark_generation = 0;
        }
        let synced = if syncs {
            if next_sequence > 0 {
                mark_generation += 1;
                active.write_sync_mark(SyncMark {
                    generation: mark_generation,
                    next_sequence,
                    end_offset: offset as u64,
                })?;
                active.flush(0, DATA_START)?;
            }
            next_sequence
        } else {
            line.min(next_sequence)
        };
        let first_sequence = segments[0].0;
        let progress = Arc::new(Progress {
            appended: AtomicU64::new(next_sequence),
            synced: AtomicU64::new(synced),
        });
        let report = RecoveryReport {
            segments: segments.len(),
            records,
            first_sequence,
            next_sequence,
            truncated,
            durable_line: line,
            resynced,
            removed_leftovers: leftovers,
            elapsed: started.elapsed(),
        };
        Ok(Self {
            dir,
            identity,
            options,
            segments,
            active,
            offset,
            batch: Vec::new(),
            unsynced_from: offset,
            mark_generation,
            mark_pending: false,
            left_unsynced: Vec::new(),
            next_sequence,
            first_sequence,
            last_sync: Instant::now(),
            progress,
            report,
            poisoned: None,
            _lock: lock,
        })
    }

    /// What opening found: records, sequences, a truncated torn tail.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The journal's identity (see [`identity`](crate::identity())): the same for
    /// every open of this directory, different for every other journal.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The journal's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options it was opened with.
    pub fn options(&self) -> &JournalOptions {
        &self.options
    }

    /// The sequence the next append gets.
    pub fn next_sequence(&self) -> u64 {
        self.next_sequence
    }

    /// The first sequence still held (retirement removes older ones).
    pub fn first_sequence(&self) -> u64 {
        self.first_sequence
    }

    /// The highest sequence that is durable under the sync policy: synced to disk,
    /// or for [`SyncPolicy::Never`] written to the page cache. `None` before the
    /// first record.
    pub fn durable(&self) -> Option<u64> {
        let line = match self.options.sync {
            SyncPolicy::Never => self.next_sequence,
            _ => self.progress.synced.load(Ordering::Acquire),
        };
        line.checked_sub(1)
    }

    /// The highest sequence synced to disk, whatever the policy.
    pub fn synced(&self) -> Option<u64> {
        self.progress.synced.load(Ordering::Acquire).checked_sub(1)
    }

    /// A reader from `sequence`, which may run on another thread while this journal
    /// appends: it sees every record once it is appended, and never a partial one.
    ///
    /// # Errors
    ///
    /// [`JournalError::OutOfRange`] if `sequence` was retired or is past the next
    /// append; I/O errors opening the segment.
    pub fn reader_from(&self, sequence: u64) -> Result<Reader> {
        if sequence < self.first_sequence || sequence > self.next_sequence {
            return Err(JournalError::OutOfRange {
                sequence,
                first: self.first_sequence,
                next: self.next_sequence,
            });
        }
        Reader::tailing(&self.dir, sequence, Arc::clone(&self.progress))
    }

    /// The segments, oldest first: base sequence and path.
    pub fn segments(&self) -> &[(u64, PathBuf)] {
        &self.segments
    }

    /// Deletes whole segments whose records all come before `sequence` (typically
    /// the sequence a snapshot covers), or moves them into `archive` if given. The
    /// active segment is never retired. Returns the paths removed or moved.
    ///
    /// Readers that already have a retired segment open keep reading it.
    ///
    /// # Errors
    ///
    /// I/O errors removing, moving or syncing; segments handled before the error
    /// stay handled.
    pub fn retire_before(&mut self, sequence: u64, archive: Option<&Path>) -> Result<Vec<PathBuf>> {
        let mut retired = Vec::new();
        if let Some(archive) = archive {
            std::fs::create_dir_all(archive)
                .map_err(JournalError::io("journal::create_archive", archive))?;
        }
        while self.segments.len() > 1 && self.segments[1].0 <= sequence {
            let (_, path) = self.segments.remove(0);
            let outcome = match archive {
                Some(archive) => {
                    let target = archive.join(path.file_name().expect("segment paths have names"));
                    std::fs::rename(&path, &target)
                        .map_err(JournalError::io("journal::archive", &path))
                }
                None => segment::remove(&path, "journal::retire"),
            };
            if let Err(error) = outcome {
                self.segments.insert(0, (0, path));
                self.segments[0].0 = self.first_sequence;
                return Err(error);
            }
            self.first_sequence = self.segments[0].0;
            retired.push(path);
        }
        if !retired.is_empty() {
            segment::sync_dir(&self.dir)?;
            if let Some(archive) = archive {
                segment::sync_dir(archive)?;
            }
        }
        Ok(retired)
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        // Group commit owes a final sync; the other policies have nothing pending
        // that they promised to sync.
        if self.poisoned.is_none() && self.options.sync != SyncPolicy::Never {
            if matches!(self.options.sync, SyncPolicy::Interval(_)) {
                let _ = self.sync();
            }
            // The durable line on disk becomes the last sync, so the next open can
            // tell every acknowledged record's damage from a torn tail.
            let _ = self.flush_sync_mark();
        }
    }
}
