//! How a journal is opened: segment size and sync policy.

use std::time::Duration;

use crate::format::{DATA_START, FRAME_HEADER_LEN};

/// When appended records are forced to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncPolicy {
    /// Never sync: records are in the page cache when an append returns, so they
    /// survive the process crashing but not the machine losing power.
    Never,
    /// Sync (msync) the written range before each append or batch returns.
    EveryBatch,
    /// Group commit: sync when an append finds the last sync older than this, and
    /// on [`Journal::sync`](crate::Journal::sync) and drop. Call [`Journal::sync_if_due`](crate::Journal::sync_if_due) from an idle
    /// writer to bound the window without appending.
    Interval(Duration),
}

/// How to open a journal.
///
/// # Examples
///
/// ```
/// use seqlane_journal::{JournalOptions, SyncPolicy};
///
/// let options = JournalOptions::default()
///     .segment_size(16 << 20)
///     .sync(SyncPolicy::EveryBatch);
/// assert_eq!(options.sync_policy(), SyncPolicy::EveryBatch);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    pub(crate) segment_size: u64,
    pub(crate) sync: SyncPolicy,
}

impl Default for JournalOptions {
    /// 64 MiB segments, [`SyncPolicy::EveryBatch`].
    fn default() -> Self {
        Self {
            segment_size: 64 << 20,
            sync: SyncPolicy::EveryBatch,
        }
    }
}

impl JournalOptions {
    /// Bytes per segment file, header included (rounded up to a multiple of 4096).
    ///
    /// # Panics
    ///
    /// If `bytes` is below 4096.
    pub fn segment_size(mut self, bytes: u64) -> Self {
        assert!(
            bytes >= 4096,
            "a segment needs at least 4096 bytes, not {bytes}"
        );
        self.segment_size = bytes.next_multiple_of(4096);
        self
    }

    /// The sync policy (default [`SyncPolicy::EveryBatch`]).
    pub fn sync(mut self, policy: SyncPolicy) -> Self {
        self.sync = policy;
        self
    }

    /// The configured sync policy.
    pub fn sync_policy(&self) -> SyncPolicy {
        self.sync
    }

    /// The longest payload one record may have: a frame must fit in a segment
    /// after its header. Longer ones get [`JournalError::RecordTooLarge`](crate::JournalError::RecordTooLarge).
    ///
    /// ```
    /// use seqlane_journal::JournalOptions;
    ///
    /// let options = JournalOptions::default().segment_size(4096);
    /// assert_eq!(options.max_payload_len(), 4096 - 128 - 24);
    /// ```
    pub fn max_payload_len(&self) -> usize {
        let room = usize::try_from(self.segment_size - DATA_START as u64).unwrap_or(usize::MAX);
        // Frames are padded to ALIGN, so the room (a multiple of it) bounds the
        // padded frame, and the length field bounds the frame itself.
        (room - FRAME_HEADER_LEN).min(u32::MAX as usize - FRAME_HEADER_LEN)
    }
}
