//! Appending: records encoded into a batch, written with positioned writes, and
//! the roll to a new segment when the active one is full.

use std::sync::atomic::Ordering;

use super::Journal;
use crate::error::{JournalError, Result};
use crate::format::{decode_frame, encode_frame, frame_size, Decoded, DATA_START};
use crate::options::SyncPolicy;
use crate::segment::Segment;

impl Journal {
    /// Appends one record (a batch of one) and returns its sequence.
    ///
    /// # Errors
    ///
    /// [`JournalError::RecordTooLarge`]; [`JournalError::Allocate`] when a new
    /// segment is needed and the disk is full (nothing is appended then, and the
    /// journal stays usable); a sync failure, after which the journal is poisoned.
    pub fn append(&mut self, tag: u32, payload: &[u8]) -> Result<u64> {
        let sequence = self.next_sequence;
        self.append_batch([(tag, payload)])?;
        Ok(sequence)
    }

    /// Appends records in order, publishes them together and syncs once per the
    /// policy. Returns their sequences (`None` for an empty batch).
    ///
    /// The batch goes to the file in two positioned writes (system calls, about
    /// half a microsecond together here) whatever its size: batch records where
    /// you can rather than appending them one by one.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append). Records before the failing one are appended
    /// (see [`next_sequence`](Self::next_sequence)).
    pub fn append_batch<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u32, &'a [u8])>,
    ) -> Result<Option<std::ops::RangeInclusive<u64>>> {
        let appended = self.append_batch_unsynced(records)?;
        match self.options.sync {
            SyncPolicy::Never => {}
            SyncPolicy::EveryBatch => self.sync()?,
            SyncPolicy::Interval(_) => self.sync_if_due()?,
        }
        Ok(appended)
    }

    /// Appends a batch like [`append_batch`](Self::append_batch) but leaves the
    /// policy's sync to the caller ([`sync`](Self::sync), or a
    /// [`SyncJob`] run on another thread). A segment roll still syncs the segment
    /// it leaves, unless the policy is [`SyncPolicy::Never`].
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append).
    pub fn append_batch_unsynced<'a>(
        &mut self,
        records: impl IntoIterator<Item = (u32, &'a [u8])>,
    ) -> Result<Option<std::ops::RangeInclusive<u64>>> {
        if let Some(reason) = &self.poisoned {
            return Err(JournalError::Poisoned(reason.clone()));
        }
        let first = self.next_sequence;
        let mut outcome = Ok(());
        for (tag, payload) in records {
            outcome = self.encode(tag, payload);
            if outcome.is_err() {
                break;
            }
        }
        // The records encoded before a failure are appended too.
        let written = self.write_batch();
        // Release: pairs with the Acquire in `Reader`; the frames are written.
        self.progress
            .appended
            .store(self.next_sequence, Ordering::Release);
        written?;
        outcome?;
        Ok((self.next_sequence > first).then(|| first..=self.next_sequence - 1))
    }

    /// Encodes one frame into the batch, first writing the batch and rolling to a
    /// new segment if the frame does not fit.
    fn encode(&mut self, tag: u32, payload: &[u8]) -> Result<()> {
        if payload.len() > self.options.max_payload_len() {
            return Err(JournalError::RecordTooLarge {
                payload_len: payload.len(),
                segment_size: self.options.segment_size,
            });
        }
        let size = frame_size(payload.len());
        if self.offset + size > self.active.capacity() {
            self.write_batch()?;
            self.roll()?;
        }
        encode_frame(&mut self.batch, self.next_sequence, tag, payload);
        self.offset += size;
        self.next_sequence += 1;
        Ok(())
    }

    /// Writes the encoded batch to the active segment. A failed write poisons
    /// the journal and takes its records back: they are not appended, and what
    /// reached the file of them has a zero first length, the end of the log.
    fn write_batch(&mut self) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let at = self.offset - self.batch.len();
        let written = self.active.write_frames(at, &self.batch);
        if let Err(error) = &written {
            let mut frames = 0;
            let mut rest = &self.batch[..];
            while let Decoded::Frame(_, size) = decode_frame(rest) {
                frames += 1;
                rest = &rest[size..];
            }
            self.next_sequence -= frames;
            self.offset = at;
            self.poisoned = Some(error.to_string());
        }
        self.batch.clear();
        written
    }

    /// Closes the active segment (synced, if the policy syncs; else left for the
    /// next sync to cover) and starts the next.
    fn roll(&mut self) -> Result<()> {
        if self.options.sync != SyncPolicy::Never {
            self.sync()?;
            self.flush_sync_mark()?;
        } else if self.unsynced_from < self.offset || self.mark_pending {
            let from = if self.mark_pending {
                0
            } else {
                self.unsynced_from
            };
            let left = (self.active.flusher(), from, self.offset);
            self.left_unsynced.push(left);
        }
        let next = Segment::create(&self.dir, self.next_sequence, self.options.segment_size)?;
        self.segments.push((self.next_sequence, next.path.clone()));
        self.active = next;
        self.offset = DATA_START;
        self.unsynced_from = DATA_START;
        self.mark_generation = 0;
        self.mark_pending = false;
        Ok(())
    }

    /// Carries a pending sync mark to the disk, so the durable line on disk is the
    /// last completed sync (appends carry it with their own sync otherwise).
    pub(super) fn flush_sync_mark(&mut self) -> Result<()> {
        if !self.mark_pending {
            return Ok(());
        }
        if let Err(error) = self.active.flush(0, DATA_START) {
            self.poisoned = Some(error.to_string());
            return Err(error);
        }
        self.mark_pending = false;
        Ok(())
    }
}
