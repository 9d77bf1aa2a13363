//! Segment files: naming, creating (preallocated, so a full disk fails here and not
//! as a SIGBUS later), mapping, and writing frames through the mapping.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use memmap2::{MmapOptions, MmapRaw};

use crate::error::{JournalError, Result};
use crate::format::{
    self, HeaderError, SegmentHeader, SyncMark, DATA_START, SEGMENT_HEADER_LEN, SYNC_MARK_LEN,
};

const EXTENSION: &str = "seg";
const TEMP_EXTENSION: &str = "seg.tmp";

/// `dir/<base sequence, 20 digits>.seg`, so names sort in sequence order.
pub(crate) fn segment_path(dir: &Path, base_sequence: u64) -> PathBuf {
    dir.join(format!("{base_sequence:020}.{EXTENSION}"))
}

/// The base sequence a segment file's name claims, if it is a segment's name.
fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".seg")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// What a journal directory holds.
pub(crate) struct Listing {
    /// Segments by base sequence, in order.
    pub(crate) segments: Vec<(u64, PathBuf)>,
    /// Temporary files from a crash while creating a segment.
    pub(crate) leftovers: Vec<PathBuf>,
}

/// The segments in `dir`, sorted by base sequence, and any leftover temporary files.
pub(crate) fn list(dir: &Path) -> Result<Listing> {
    let mut segments = Vec::new();
    let mut leftovers = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(JournalError::io("segment::list", dir))?;
    for entry in entries {
        let entry = entry.map_err(JournalError::io("segment::list", dir))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(base) = parse_segment_name(name) {
            segments.push((base, entry.path()));
        } else if name.ends_with(TEMP_EXTENSION) {
            leftovers.push(entry.path());
        }
    }
    segments.sort_unstable_by_key(|(base, _)| *base);
    Ok(Listing {
        segments,
        leftovers,
    })
}

/// Fsyncs a directory, so that a created, renamed or removed entry survives a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| io::fsync(&d))
        .map_err(JournalError::io("segment::sync_dir", dir))
}

/// Removes a segment file (retired, or wholly past a torn tail).
pub(crate) fn remove(path: &Path, op: &'static str) -> Result<()> {
    io::remove(path).map_err(JournalError::io(op, path))
}

/// Reads a segment's header and sync marks without mapping it: the first
/// [`DATA_START`] bytes, or fewer if the file is shorter.
pub(crate) fn read_head(path: &Path) -> Result<(SegmentHeader, Option<SyncMark>)> {
    let file = File::open(path).map_err(JournalError::io("segment::open", path))?;
    let mut head = [0u8; DATA_START];
    let read =
        read_prefix(&file, &mut head).map_err(JournalError::io("segment::read_header", path))?;
    let header = decode_header(path, &head[..read])?;
    let mark = if header.has_sync_marks() {
        SyncMark::newest(&head[..read])
    } else {
        None
    };
    Ok((header, mark))
}

fn decode_header(path: &Path, head: &[u8]) -> Result<SegmentHeader> {
    SegmentHeader::decode(head).map_err(|error| match error {
        HeaderError::BadMagic => JournalError::BadMagic {
            path: path.to_owned(),
        },
        HeaderError::UnsupportedVersion { found } => JournalError::UnsupportedVersion {
            path: path.to_owned(),
            found,
            supported: format::VERSION,
        },
        HeaderError::Truncated { len } => JournalError::CorruptSegment {
            path: path.to_owned(),
            reason: format!("file of {len} bytes is shorter than a segment header"),
        },
        HeaderError::Corrupt(reason) => JournalError::CorruptSegment {
            path: path.to_owned(),
            reason: reason.to_owned(),
        },
    })
}

/// The file operations whose failures matter for durability, each with a fail
/// point (`segment::<op>::error`, compiled in with the `failpoints` feature) so
/// that tests can make it fail as a faulty disk would.
mod io {
    use std::fs::File;
    use std::path::Path;

    /// Stands in for the operating system's answer at a fail point.
    #[cfg(feature = "failpoints")]
    fn injected(op: &str) -> std::io::Error {
        std::io::Error::other(format!("injected failure: segment::{op}::error"))
    }

    pub(super) fn fallocate(file: &File, len: u64) -> std::io::Result<()> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("segment::fallocate::error", |_| Err(injected("fallocate")));
        rustix::fs::fallocate(file, rustix::fs::FallocateFlags::empty(), 0, len).map_err(Into::into)
    }

    pub(super) fn fsync(file: &File) -> std::io::Result<()> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("segment::fsync::error", |_| Err(injected("fsync")));
        file.sync_all()
    }

    pub(super) fn rename(from: &Path, to: &Path) -> std::io::Result<()> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("segment::rename::error", |_| Err(injected("rename")));
        std::fs::rename(from, to)
    }

    pub(super) fn remove(path: &Path) -> std::io::Result<()> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("segment::remove::error", |_| Err(injected("remove")));
        std::fs::remove_file(path)
    }

    pub(super) fn write_at(file: &File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("segment::write::error", |_| Err(injected("write")));
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }

    pub(super) fn msync(map: &memmap2::MmapRaw, offset: usize, len: usize) -> std::io::Result<()> {
        #[cfg(feature = "failpoints")]
        fail::fail_point!("segment::msync::error", |_| Err(injected("msync")));
        map.flush_range(offset, len)
    }
}

/// Whether a segment is mapped for appends (and recovery) or only read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    ReadWrite,
    ReadOnly,
}

/// Whether a segment file may be shorter than its header says: only the last one,
/// cut short by a crash or a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Length {
    Whole,
    MayBeShort,
}

/// The last segment may be short; the others may not.
pub(crate) fn length_of_last(last: bool) -> Length {
    if last {
        Length::MayBeShort
    } else {
        Length::Whole
    }
}

/// A mapped segment file.
///
/// Records and sync marks are written with positioned writes (`pwrite`), not
/// through the mapping, which serves reads: a store into a mapped page of a
/// preallocated ext4 file faults on the page's first write and after each
/// write-back, and some of those faults wait for the file system for
/// milliseconds (34 waits over 100 µs, up to 86 ms, in 100 MB written at 1M
/// records/s, against 2 to 10 under 1 ms with `pwrite`; results/README.md). The
/// page cache is one, so readers of the mapping see what was written.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    pub(crate) header: SegmentHeader,
    /// Shared with the [`Flusher`]s of syncs in flight on other threads.
    map: Arc<MmapRaw>,
    /// The file, for writes.
    file: File,
    writable: bool,
}

impl Segment {
    /// Creates segment `base_sequence` in `dir`: a temporary file, preallocated,
    /// headed and synced, then renamed into place and the directory synced. A crash
    /// at any point leaves either no segment or a complete empty one.
    pub(crate) fn create(dir: &Path, base_sequence: u64, capacity: u64) -> Result<Self> {
        let path = segment_path(dir, base_sequence);
        let temp = path.with_extension(TEMP_EXTENSION);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&temp)
            .map_err(JournalError::io("segment::create", &temp))?;
        if let Err(source) = io::fallocate(&file, capacity) {
            drop(file);
            let _ = std::fs::remove_file(&temp);
            return Err(JournalError::Allocate {
                path,
                size: capacity,
                source,
            });
        }
        let header = SegmentHeader {
            version: format::VERSION,
            base_sequence,
            capacity,
            created_unix_micros: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_micros() as u64),
            writer_pid: std::process::id(),
        };
        file.write_all_at(&header.encode(), 0)
            .and_then(|()| io::fsync(&file))
            .map_err(JournalError::io("segment::write_header", &temp))?;
        io::rename(&temp, &path).map_err(JournalError::io("segment::rename", &temp))?;
        sync_dir(dir)?;
        Self::map(path, file, Access::ReadWrite, Length::Whole)
    }

    /// Opens an existing segment, for writing (recovery and appends) or reading.
    ///
    /// A file shorter than its header says is refused unless `length` is
    /// [`Length::MayBeShort`]: a writable one is then extended back to its size with
    /// zeros, a read-only one is mapped as it is.
    pub(crate) fn open(path: PathBuf, access: Access, length: Length) -> Result<Self> {
        let writable = access == Access::ReadWrite;
        let file = OpenOptions::new()
            .read(true)
            .write(writable)
            .open(&path)
            .map_err(JournalError::io("segment::open", &path))?;
        Self::map(path, file, access, length)
    }

    fn map(path: PathBuf, file: File, access: Access, length: Length) -> Result<Self> {
        let writable = access == Access::ReadWrite;
        let short_ok = length == Length::MayBeShort;
        let len = file
            .metadata()
            .map_err(JournalError::io("segment::stat", &path))?
            .len();
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        let read = read_prefix(&file, &mut head)
            .map_err(JournalError::io("segment::read_header", &path))?;
        let header = decode_header(&path, &head[..read])?;
        let mut len = len;
        if len > header.capacity || (len < header.capacity && !short_ok) {
            return Err(JournalError::CorruptSegment {
                path,
                reason: format!("header says {} bytes, file has {len}", header.capacity),
            });
        }
        if len < header.capacity && writable {
            file.set_len(header.capacity)
                .map_err(JournalError::io("segment::extend", &path))?;
            if let Err(source) = io::fallocate(&file, header.capacity) {
                return Err(JournalError::Allocate {
                    path,
                    size: header.capacity,
                    source,
                });
            }
            len = header.capacity;
        }
        if usize::try_from(len).is_err() {
            return Err(JournalError::CorruptSegment {
                path,
                reason: "too large to map".into(),
            });
        }
        let mut options = MmapOptions::new();
        options.len(len as usize);
        let map = if writable {
            options.map_raw(&file)
        } else {
            options.map_raw_read_only(&file)
        };
        let map = map.map_err(JournalError::io("segment::mmap", &path))?;
        Ok(Self {
            path,
            header,
            map: Arc::new(map),
            file,
            writable,
        })
    }

    /// Checks that the base sequence in the file's name is the one in its header.
    pub(crate) fn check_name(&self, base_from_name: u64) -> Result<()> {
        if self.header.base_sequence != base_from_name {
            return Err(JournalError::CorruptSegment {
                path: self.path.clone(),
                reason: format!(
                    "its name says base sequence {base_from_name}, its header says {}",
                    self.header.base_sequence
                ),
            });
        }
        Ok(())
    }

    pub(crate) fn capacity(&self) -> usize {
        self.map.len()
    }

    /// Offset of the segment's first frame.
    pub(crate) fn data_start(&self) -> usize {
        self.header.data_start()
    }

    /// The newest valid sync mark in the mapping (version 2 segments).
    pub(crate) fn sync_mark(&self) -> Option<SyncMark> {
        if !self.header.has_sync_marks() || self.capacity() < DATA_START {
            return None;
        }
        // SAFETY: in bounds; only the writer of this segment writes the mark slots,
        // and it does not call this while it writes them.
        SyncMark::newest(unsafe { self.bytes(0, DATA_START) })
    }

    /// Stores `mark` in its slot of the header page (not synced: the next flush
    /// that covers offset 0 carries it to the disk).
    ///
    /// # Errors
    ///
    /// The write's I/O error.
    pub(crate) fn write_sync_mark(&self, mark: SyncMark) -> Result<()> {
        assert!(
            self.writable && self.header.has_sync_marks(),
            "no sync mark slots"
        );
        let at = format::sync_mark_offset(mark.slot());
        let encoded: [u8; SYNC_MARK_LEN] = mark.encode();
        // Readers never borrow the slots (they read marks through `read_head`, a
        // copy, or before the writer exists).
        io::write_at(&self.file, &encoded, at as u64)
            .map_err(JournalError::io("segment::write_sync_mark", &self.path))
    }

    /// Writes `offset..offset + len` again, byte for byte, and syncs it: a page
    /// that a failed sync left marked clean without reaching the disk becomes
    /// dirty again, so this sync carries it.
    pub(crate) fn rewrite(&self, offset: usize, len: usize) -> Result<()> {
        assert!(self.writable && offset + len <= self.capacity());
        const PAGE: usize = 4096;
        let mut at = offset;
        while at < offset + len {
            // SAFETY: in bounds; recovery runs before any reader or appender of this
            // journal exists in this process. A volatile read and write of the same
            // byte marks the page dirty without changing it.
            unsafe {
                let byte = self.map.as_mut_ptr().add(at);
                byte.write_volatile(byte.read_volatile());
            }
            at = (at / PAGE + 1) * PAGE;
        }
        self.flush(offset, len)
    }

    /// The bytes `offset..offset + len` of the segment.
    ///
    /// # Safety
    ///
    /// No one may write these bytes while the slice lives: in this process, they
    /// must lie below what the writer has published (it never rewrites those); a
    /// writer in another process is outside Rust's model, and every frame read
    /// through here is checksummed.
    pub(crate) unsafe fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        assert!(
            offset <= self.capacity() && len <= self.capacity() - offset,
            "range outside the segment"
        );
        // SAFETY: in bounds (checked above) of a live mapping; the caller rules out
        // concurrent writes.
        unsafe { std::slice::from_raw_parts(self.map.as_ptr().add(offset), len) }
    }

    /// Writes `frames`, whole encoded frames back to back, at `offset`: all but
    /// the first frame's length first, that length last, in a second write. A
    /// reader in another process finds the first length zero until every byte
    /// of the batch is in the page cache, so it reads the batch's start as the
    /// end of the log, never as a torn frame. (In this process, readers read
    /// below the journal's published progress only.)
    ///
    /// The caller (the journal's single writer) guarantees that `offset` is the end
    /// of the written data, that the frames fit, and that they are zero past each
    /// payload.
    ///
    /// # Errors
    ///
    /// A write's I/O error: then part of the batch, without its first length,
    /// may be in the file.
    pub(crate) fn write_frames(&self, offset: usize, frames: &[u8]) -> Result<()> {
        assert!(self.writable, "write to a read-only segment");
        assert!(
            offset.is_multiple_of(format::ALIGN)
                && frames.len() >= format::FRAME_HEADER_LEN
                && offset + frames.len() <= self.capacity(),
            "frames outside the segment"
        );
        io::write_at(&self.file, &frames[4..], offset as u64 + 4)
            .and_then(|()| io::write_at(&self.file, &frames[..4], offset as u64))
            .map_err(JournalError::io("segment::write_frames", &self.path))
    }

    /// Zeroes `offset..offset + len` (a torn tail found by recovery) and syncs it.
    pub(crate) fn zero(&self, offset: usize, len: usize) -> Result<()> {
        assert!(self.writable && offset + len <= self.capacity());
        // SAFETY: in bounds; recovery runs before any reader of this journal exists.
        unsafe { std::ptr::write_bytes(self.map.as_mut_ptr().add(offset), 0, len) };
        self.flush(offset, len)
    }

    /// Writes `offset..offset + len` back to the disk (msync), so it survives a power
    /// loss.
    pub(crate) fn flush(&self, offset: usize, len: usize) -> Result<()> {
        self.flusher().flush(offset, len)
    }

    /// A handle that writes ranges of this segment back to the disk from any
    /// thread, keeping the mapping alive meanwhile.
    pub(crate) fn flusher(&self) -> Flusher {
        Flusher {
            map: Arc::clone(&self.map),
            path: self.path.clone(),
        }
    }
}

/// Writes ranges of one segment's mapping back to the disk (msync). Writing the
/// mapping elsewhere meanwhile is allowed: the pages then go to the disk with
/// either content, and only the range's bytes as they were before the flush began
/// are promised.
#[derive(Debug)]
pub(crate) struct Flusher {
    map: Arc<MmapRaw>,
    path: PathBuf,
}

impl Flusher {
    /// Writes `offset..offset + len` back to the disk.
    pub(crate) fn flush(&self, offset: usize, len: usize) -> Result<()> {
        if len == 0 {
            return Ok(());
        }
        io::msync(&self.map, offset, len).map_err(JournalError::io("segment::msync", &self.path))
    }
}

/// Reads up to `buf.len()` bytes from the start of `file`.
fn read_prefix(file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match file.read_at(&mut buf[read..], read as u64)? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read)
}
