//! A sync taken out of the writer, to run on another thread while the writer goes
//! on appending: [`Journal::begin_sync`] captures what is appended, the job writes it
//! back to the disk anywhere, [`Journal::complete_sync`] moves the durable line
//! and writes the sync mark. [`Journal::sync`] is the three in a row; a sync
//! also covers closed segments a roll under `SyncPolicy::Never` left unsynced.
//!
//! The durable line and the sync mark move only in `complete_sync`, on the writer,
//! after the job's write-back returned: a mark on disk never runs ahead of the
//! records, whichever thread synced them.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::Journal;
use crate::error::{JournalError, Result};
use crate::format::SyncMark;
use crate::options::SyncPolicy;
use crate::segment::Flusher;

/// A sync of every record appended before [`Journal::begin_sync`] returned it.
/// [`run`](SyncJob::run) it on any thread, then hand it back to
/// [`Journal::complete_sync`] with what `run` returned.
///
/// # Examples
///
/// ```
/// use seqlane_journal::{Journal, JournalOptions, SyncPolicy};
///
/// let dir = tempfile::tempdir()?;
/// let options = JournalOptions::default().segment_size(1 << 20).sync(SyncPolicy::Never);
/// let mut journal = Journal::open(dir.path(), options)?;
/// journal.append(1, b"checked in")?;
/// let job = journal.begin_sync()?.expect("a record is unsynced");
/// let synced = std::thread::spawn(move || {
///     let outcome = job.run();
///     (job, outcome)
/// });
/// journal.append(2, b"renamed")?; // appends go on meanwhile
/// let (job, outcome) = synced.join().unwrap();
/// journal.complete_sync(job, outcome)?;
/// assert_eq!(journal.synced(), Some(0)); // the first record only
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "a sync job does nothing until run and completed"]
pub struct SyncJob {
    flusher: Flusher,
    /// The active segment's base when the job began.
    segment: u64,
    /// The byte range to write back.
    from: usize,
    to: usize,
    /// The journal's next sequence when the job began: every record below it is in
    /// the range (or was synced before).
    appended: u64,
}

impl SyncJob {
    /// Writes the job's range back to the disk (msync). Runs on any thread.
    ///
    /// # Errors
    ///
    /// The I/O error; hand it to [`Journal::complete_sync`], which poisons the
    /// journal (what reached the disk is unknown until it is reopened).
    pub fn run(&self) -> Result<()> {
        self.flusher.flush(self.from, self.to - self.from)
    }

    /// Every record below this sequence is durable once the job completes.
    pub fn next_sequence(&self) -> u64 {
        self.appended
    }
}

impl Journal {
    /// Syncs everything appended so far to disk.
    ///
    /// # Errors
    ///
    /// An msync failure (an I/O error on the device). The journal is then poisoned:
    /// what reached the disk is unknown until it is reopened.
    pub fn sync(&mut self) -> Result<()> {
        match self.begin_sync()? {
            Some(job) => {
                let outcome = job.run();
                self.complete_sync(job, outcome)
            }
            None => {
                self.last_sync = Instant::now();
                // Release: a reader of `synced` may rely on the records being on disk.
                self.progress
                    .synced
                    .store(self.next_sequence, Ordering::Release);
                Ok(())
            }
        }
    }

    /// Under [`SyncPolicy::Interval`], syncs if the interval has passed since the
    /// last sync and something is unsynced; otherwise does nothing.
    ///
    /// # Errors
    ///
    /// As [`sync`](Self::sync).
    pub fn sync_if_due(&mut self) -> Result<()> {
        let SyncPolicy::Interval(interval) = self.options.sync else {
            return Ok(());
        };
        if self.unsynced_from < self.offset && self.last_sync.elapsed() >= interval {
            self.sync()?;
        }
        Ok(())
    }

    /// Takes out a sync of every record appended so far, to [`run`](SyncJob::run)
    /// on another thread; `None` when all of them are synced already. Appends may
    /// go on meanwhile; they are not part of the job.
    ///
    /// # Errors
    ///
    /// [`JournalError::Poisoned`] after a failed append or sync.
    pub fn begin_sync(&mut self) -> Result<Option<SyncJob>> {
        if let Some(reason) = &self.poisoned {
            return Err(JournalError::Poisoned(reason.clone()));
        }
        self.sync_left_segments()?;
        if self.unsynced_from >= self.offset {
            return Ok(None);
        }
        // A pending sync mark (header page) goes to the disk with the records.
        let from = if self.mark_pending {
            0
        } else {
            self.unsynced_from
        };
        Ok(Some(SyncJob {
            flusher: self.active.flusher(),
            segment: self.active.header.base_sequence,
            from,
            to: self.offset,
            appended: self.next_sequence,
        }))
    }

    /// Completes `job` with what its [`run`](SyncJob::run) returned: on success the
    /// records it covers become durable, and the sync mark saying so is written (to
    /// reach the disk with the next sync).
    ///
    /// A job overtaken by a later sync (a roll syncs the segment it leaves, and
    /// [`sync`](Self::sync) syncs everything) completes with nothing more to do.
    ///
    /// # Errors
    ///
    /// The job's error, after which the journal is poisoned;
    /// [`JournalError::Poisoned`] if it already was.
    pub fn complete_sync(&mut self, job: SyncJob, outcome: Result<()>) -> Result<()> {
        if let Some(reason) = &self.poisoned {
            return Err(JournalError::Poisoned(reason.clone()));
        }
        if let Err(error) = outcome {
            self.poisoned = Some(error.to_string());
            return Err(error);
        }
        let synced = self.progress.synced.load(Ordering::Relaxed);
        if job.segment != self.active.header.base_sequence
            || job.appended <= synced
            || job.to <= self.unsynced_from
        {
            return Ok(());
        }
        self.unsynced_from = job.to;
        self.mark_generation += 1;
        let marked = self.active.write_sync_mark(SyncMark {
            generation: self.mark_generation,
            next_sequence: job.appended,
            end_offset: job.to as u64,
        });
        if let Err(error) = marked {
            self.poisoned = Some(error.to_string());
            return Err(error);
        }
        self.mark_pending = true;
        self.last_sync = Instant::now();
        // Release: a reader of `synced` may rely on the records being on disk.
        self.progress.synced.store(job.appended, Ordering::Release);
        Ok(())
    }

    /// Writes back what rolls under [`SyncPolicy::Never`](SyncPolicy::Never)
    /// left unsynced in closed segments, here on the writer: a sync covers every
    /// record appended before it, not only the active segment's.
    fn sync_left_segments(&mut self) -> Result<()> {
        while let Some((flusher, from, to)) = self.left_unsynced.first() {
            if let Err(error) = flusher.flush(*from, to - from) {
                self.poisoned = Some(error.to_string());
                return Err(error);
            }
            self.left_unsynced.remove(0);
        }
        Ok(())
    }
}
