//! The on-disk format: segment headers, sync marks and record frames, as pure
//! functions over bytes. Nothing here trusts its input: every decoder checks bounds
//! and checksums and says what it expected.
//!
//! ```text
//! segment   = header (64 bytes) | sync mark slot 0 (32) | sync mark slot 1 (32)
//!           | frame* | zeros                                      (version 2)
//! segment   = header (64 bytes) | frame* | zeros                  (version 1)
//! header    = magic "SEQLJRNL" | version u32 | header_len u32 | base_sequence u64
//!           | capacity u64 | created_unix_micros u64 | writer_pid u32 | reserved (16)
//!           | crc32c(bytes 0..60) u32
//! sync mark = generation u64 | next_sequence u64 | end_offset u64 | reserved u32
//!           | crc32c(bytes 0..28) u32
//! frame     = len u32 | crc u32 | sequence u64 | tag u32 | reserved u32 | payload
//!           | zero padding to a multiple of 8
//! ```
//!
//! All integers are little-endian. A frame's `len` counts the frame without its
//! padding (so a record is never shorter than [`FRAME_HEADER_LEN`] and a zero `len`
//! means "no record here yet"); its `crc` is CRC32C over `len` and every byte from
//! `sequence` to the end of the payload, so a flipped length is caught too. The
//! writer stores `len` last, after the rest of the frame.
//!
//! # The durable line
//!
//! The kernel writes a mapping's dirty pages back in any order, so after a power
//! cut a segment holds the image of its last completed sync plus any subset of the
//! pages written since, each in some version it had. A record past the last sync
//! can therefore be invalid while a later one is valid. Such damage is a torn tail,
//! not rot: recovery must cut it. Damage to a record that a completed sync covered
//! is rot, and recovery must refuse it. To tell the two apart the writer records
//! where its syncs ended, in a *sync mark*:
//!
//! - After a sync completes, the writer stores a mark in the active segment's header
//!   page: "every record before `next_sequence` is on disk; in this segment they end
//!   at `end_offset`". The mark is written only after the sync returned, so a mark
//!   on disk is never ahead of the data.
//! - The mark reaches the disk with the next sync (whose range starts at offset 0
//!   whenever a mark is pending), when the segment is rolled, and when the journal
//!   is closed. A mark on disk thus lags the last acknowledged sync by at most one
//!   sync; the records in between were synced and read back valid, so they are kept.
//! - Two slots alternate by `generation`, each with its own checksum, so a mark torn
//!   by the power cut leaves the other slot's older mark.
//!
//! On open, the durable line is the highest `next_sequence` of any valid mark. Every
//! record below it must be present and valid: otherwise open fails, naming file and
//! offset. At or past it, the first invalid record, a missing record (a gap between
//! segments) or a sequence out of order starts a torn tail: it and everything after
//! it, in that segment and in later segments, is cut and reported. Records past the
//! line that open keeps are then written back and synced by the writer itself
//! before it counts them durable: after a failed sync the kernel may have marked
//! their pages clean without their reaching the disk.
//!
//! Version 1 segments (no sync marks) are still read. For them the old rule holds:
//! an invalid record followed by a valid one is refused, and a torn tail is cut
//! only in the last segment. A writer that opens a journal whose last segment is
//! version 1 starts a version 2 segment for its appends.

mod checksum;

pub use checksum::{frame_crc, frame_crc_of};
/// Identifies a seqlane journal segment.
pub const MAGIC: [u8; 8] = *b"SEQLJRNL";
/// The format version this build writes (it reads this one and version 1).
pub const VERSION: u32 = 2;
/// Bytes of the segment header.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes of one sync mark slot.
pub const SYNC_MARK_LEN: usize = 32;
/// Offset of sync mark slot `i` (0 or 1) in a version 2 segment.
pub const fn sync_mark_offset(slot: usize) -> usize {
    SEGMENT_HEADER_LEN + slot * SYNC_MARK_LEN
}
/// Offset of the first frame in a version 2 segment.
pub const DATA_START: usize = SEGMENT_HEADER_LEN + 2 * SYNC_MARK_LEN;
/// Bytes of a frame before its payload.
pub const FRAME_HEADER_LEN: usize = 24;
/// Frames start at multiples of this.
pub const ALIGN: usize = 8;

/// The fields of a segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The format version the segment is written in ([`VERSION`] when encoding).
    pub version: u32,
    /// Sequence of the segment's first record.
    pub base_sequence: u64,
    /// Length of the segment file, header included.
    pub capacity: u64,
    /// When the segment was created, in microseconds since the Unix epoch.
    pub created_unix_micros: u64,
    /// The process that created it.
    pub writer_pid: u32,
}

/// Why bytes are not a valid segment header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderError {
    /// Fewer bytes than a header.
    Truncated {
        /// Bytes available.
        len: usize,
    },
    /// Not a seqlane segment.
    BadMagic,
    /// Written by a newer format.
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
    },
    /// A field or the checksum is wrong.
    Corrupt(&'static str),
}

impl SegmentHeader {
    /// Encodes the header into its 64 bytes.
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut bytes = [0u8; SEGMENT_HEADER_LEN];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&self.version.to_le_bytes());
        bytes[12..16].copy_from_slice(&(SEGMENT_HEADER_LEN as u32).to_le_bytes());
        bytes[16..24].copy_from_slice(&self.base_sequence.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.capacity.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.created_unix_micros.to_le_bytes());
        bytes[40..44].copy_from_slice(&self.writer_pid.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes and checks a header from the start of `bytes`.
    ///
    /// # Errors
    ///
    /// [`HeaderError`] says what is wrong; the magic and version are checked before
    /// the checksum so that a foreign or newer file gets the more useful answer.
    pub fn decode(bytes: &[u8]) -> Result<Self, HeaderError> {
        if bytes.len() < SEGMENT_HEADER_LEN {
            return Err(HeaderError::Truncated { len: bytes.len() });
        }
        if bytes[0..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        let version = u32_at(bytes, 8);
        if version > VERSION {
            return Err(HeaderError::UnsupportedVersion { found: version });
        }
        if version == 0 {
            return Err(HeaderError::Corrupt("version 0"));
        }
        if crc32c::crc32c(&bytes[..60]) != u32_at(bytes, 60) {
            return Err(HeaderError::Corrupt("header checksum mismatch"));
        }
        if u32_at(bytes, 12) as usize != SEGMENT_HEADER_LEN {
            return Err(HeaderError::Corrupt("unexpected header length"));
        }
        let header = SegmentHeader {
            version,
            base_sequence: u64_at(bytes, 16),
            capacity: u64_at(bytes, 24),
            created_unix_micros: u64_at(bytes, 32),
            writer_pid: u32_at(bytes, 40),
        };
        if header.capacity < (header.data_start() + FRAME_HEADER_LEN) as u64 {
            return Err(HeaderError::Corrupt("capacity smaller than one record"));
        }
        Ok(header)
    }

    /// Offset of the segment's first frame: after the header and, from version 2
    /// on, the sync mark slots.
    pub const fn data_start(&self) -> usize {
        if self.version >= 2 {
            DATA_START
        } else {
            SEGMENT_HEADER_LEN
        }
    }

    /// Whether the segment has sync mark slots (version 2 on).
    pub const fn has_sync_marks(&self) -> bool {
        self.version >= 2
    }
}

/// Where the writer's last completed sync ended; see "The durable line" above.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyncMark {
    /// Counts the marks written to this segment; the higher valid one wins. Never 0.
    pub generation: u64,
    /// Every record of the journal before this sequence was on disk.
    pub next_sequence: u64,
    /// Where those records end in this segment.
    pub end_offset: u64,
}

impl SyncMark {
    /// The slot (0 or 1) this mark is written to.
    pub const fn slot(&self) -> usize {
        (self.generation % 2) as usize
    }

    /// Encodes the mark into its slot's 32 bytes.
    pub fn encode(&self) -> [u8; SYNC_MARK_LEN] {
        let mut bytes = [0u8; SYNC_MARK_LEN];
        bytes[0..8].copy_from_slice(&self.generation.to_le_bytes());
        bytes[8..16].copy_from_slice(&self.next_sequence.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.end_offset.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..28]);
        bytes[28..32].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Decodes one slot: `None` if it is empty or its checksum fails (a mark torn
    /// by a power cut, or never written).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let bytes = bytes.get(..SYNC_MARK_LEN)?;
        if crc32c::crc32c(&bytes[..28]) != u32_at(bytes, 28) {
            return None;
        }
        let mark = SyncMark {
            generation: u64_at(bytes, 0),
            next_sequence: u64_at(bytes, 8),
            end_offset: u64_at(bytes, 16),
        };
        (mark.generation != 0).then_some(mark)
    }

    /// The newest valid mark of a version 2 segment, given its first
    /// [`DATA_START`] bytes (or fewer, for a file cut short).
    pub fn newest(head: &[u8]) -> Option<Self> {
        let slot = |i: usize| head.get(sync_mark_offset(i)..).and_then(SyncMark::decode);
        match (slot(0), slot(1)) {
            (Some(a), Some(b)) => Some(if a.generation > b.generation { a } else { b }),
            (a, b) => a.or(b),
        }
    }
}

/// A decoded frame, borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The record's sequence.
    pub sequence: u64,
    /// The caller's type tag.
    pub tag: u32,
    /// The caller's bytes.
    pub payload: &'a [u8],
}

/// What is at a frame position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decoded<'a> {
    /// A valid frame, and the offset of the next one (relative to the same start).
    Frame(Frame<'a>, usize),
    /// `len` is zero: nothing was written here (yet).
    Empty,
    /// Something that is not a valid frame.
    Invalid(&'static str),
}

/// Bytes a frame with `payload_len` bytes of payload takes, padding included.
#[inline]
pub const fn frame_size(payload_len: usize) -> usize {
    (FRAME_HEADER_LEN + payload_len).next_multiple_of(ALIGN)
}

/// Writes everything of a frame but its length into `dst` (which must be exactly
/// [`frame_size`] bytes and zeroed past the payload), and returns the `len` value to
/// store last.
#[inline]
pub fn encode_frame_body(dst: &mut [u8], sequence: u64, tag: u32, payload: &[u8]) -> u32 {
    debug_assert_eq!(dst.len(), frame_size(payload.len()));
    let len = (FRAME_HEADER_LEN + payload.len()) as u32;
    dst[8..FRAME_HEADER_LEN].copy_from_slice(&frame_header(len, sequence, tag)[8..]);
    dst[FRAME_HEADER_LEN..len as usize].copy_from_slice(payload);
    let crc = frame_crc_of(len, sequence, tag, payload);
    dst[4..8].copy_from_slice(&crc.to_le_bytes());
    len
}

/// A frame's header: `len`, a zero checksum (filled in once the body is in
/// place), `sequence`, `tag`, and the reserved zero word.
#[inline]
fn frame_header(len: u32, sequence: u64, tag: u32) -> [u8; FRAME_HEADER_LEN] {
    let mut header = [0u8; FRAME_HEADER_LEN];
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[8..16].copy_from_slice(&sequence.to_le_bytes());
    header[16..20].copy_from_slice(&tag.to_le_bytes());
    header
}

/// Appends a whole frame, its length included and its padding zeroed, to `out`.
#[inline]
pub fn encode_frame(out: &mut Vec<u8>, sequence: u64, tag: u32, payload: &[u8]) {
    let len = FRAME_HEADER_LEN + payload.len();
    let crc = frame_crc_of(len as u32, sequence, tag, payload);
    let mut header = frame_header(len as u32, sequence, tag);
    header[4..8].copy_from_slice(&crc.to_le_bytes());
    let end = out.len() + frame_size(payload.len());
    out.reserve(frame_size(payload.len()) + ALIGN);
    out.extend_from_slice(&header);
    out.extend_from_slice(payload);
    // The padding: a whole word of zeros cut back (one store, not a call to memset).
    out.extend_from_slice(&[0; ALIGN]);
    out.truncate(end);
}

/// Decodes the frame at the start of `bytes` (the rest of the segment).
pub fn decode_frame(bytes: &[u8]) -> Decoded<'_> {
    if bytes.len() < 4 {
        return if bytes.iter().all(|&b| b == 0) {
            Decoded::Empty
        } else {
            Decoded::Invalid("truncated length")
        };
    }
    let len = u32_at(bytes, 0) as usize;
    if len == 0 {
        return Decoded::Empty;
    }
    if len < FRAME_HEADER_LEN {
        return Decoded::Invalid("length shorter than a frame header");
    }
    if len > bytes.len() {
        return Decoded::Invalid("length runs past the end of the segment");
    }
    if frame_crc(len as u32, &bytes[8..len]) != u32_at(bytes, 4) {
        return Decoded::Invalid("checksum mismatch");
    }
    let frame = Frame {
        sequence: u64_at(bytes, 8),
        tag: u32_at(bytes, 16),
        payload: &bytes[FRAME_HEADER_LEN..len],
    };
    Decoded::Frame(frame, len.next_multiple_of(ALIGN))
}

#[inline]
fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

#[inline]
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(sequence: u64, tag: u32, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0; frame_size(payload.len())];
        let len = encode_frame_body(&mut bytes, sequence, tag, payload);
        bytes[0..4].copy_from_slice(&len.to_le_bytes());
        bytes
    }

    #[test]
    fn frames_round_trip_and_align() {
        for size in 0..40 {
            let payload: Vec<u8> = (0..size as u8).collect();
            let bytes = frame(7, 3, &payload);
            assert_eq!(bytes.len() % ALIGN, 0);
            let Decoded::Frame(decoded, next) = decode_frame(&bytes) else {
                panic!("size {size}")
            };
            assert_eq!(
                (decoded.sequence, decoded.tag, decoded.payload),
                (7, 3, &payload[..])
            );
            assert_eq!(next, bytes.len());
        }
    }

    #[test]
    fn a_frame_appended_to_a_batch_is_the_frame_encoded_in_place() {
        let mut batch = vec![0xee; 3];
        let mut expected = batch.clone();
        for size in 0..40 {
            let payload: Vec<u8> = (0..size as u8).map(|b| b ^ 0x5a).collect();
            encode_frame(&mut batch, 100 + size as u64, 9, &payload);
            expected.extend_from_slice(&frame(100 + size as u64, 9, &payload));
            assert_eq!(batch, expected, "payload of {size} bytes");
        }
    }

    #[test]
    fn every_flipped_bit_is_caught() {
        let bytes = frame(42, 9, b"hello, journal");
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            let in_padding = bit / 8 >= FRAME_HEADER_LEN + 14;
            match decode_frame(&flipped) {
                Decoded::Frame(..) => assert!(in_padding, "bit {bit} flipped unnoticed"),
                Decoded::Empty | Decoded::Invalid(_) => assert!(!in_padding),
            }
        }
    }

    #[test]
    fn zeros_are_empty_and_short_garbage_is_invalid() {
        assert_eq!(decode_frame(&[0; 64]), Decoded::Empty);
        assert_eq!(decode_frame(&[]), Decoded::Empty);
        assert!(matches!(decode_frame(&[1, 0]), Decoded::Invalid(_)));
        assert!(matches!(
            decode_frame(&[8, 0, 0, 0, 0, 0, 0, 0]),
            Decoded::Invalid(_)
        ));
        assert!(matches!(
            decode_frame(&[200, 0, 0, 0, 0, 0, 0, 0]),
            Decoded::Invalid(_)
        ));
    }

    #[test]
    fn sync_marks_round_trip_and_the_newest_valid_one_wins() {
        let mut head = [0u8; DATA_START];
        assert_eq!(SyncMark::newest(&head), None, "zeros hold no mark");
        let mark = |generation| SyncMark {
            generation,
            next_sequence: 10 * generation,
            end_offset: 128 + generation,
        };
        for generation in 1..=3 {
            let m = mark(generation);
            let at = sync_mark_offset(m.slot());
            head[at..at + SYNC_MARK_LEN].copy_from_slice(&m.encode());
            assert_eq!(SyncMark::newest(&head), Some(m));
        }
        // A torn newest mark (generation 3, slot 1) leaves generation 2.
        head[sync_mark_offset(1) + 9] ^= 1;
        assert_eq!(SyncMark::newest(&head), Some(mark(2)));
        assert_eq!(SyncMark::newest(&head[..70]), None, "cut short");
    }

    #[test]
    fn headers_round_trip_and_reject_damage() {
        let header = SegmentHeader {
            version: VERSION,
            base_sequence: 5,
            capacity: 4096,
            created_unix_micros: 1,
            writer_pid: 2,
        };
        let bytes = header.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Ok(header));
        assert_eq!(
            SegmentHeader::decode(&bytes[..10]),
            Err(HeaderError::Truncated { len: 10 })
        );
        let mut foreign = bytes;
        foreign[0] = b'X';
        assert_eq!(SegmentHeader::decode(&foreign), Err(HeaderError::BadMagic));
        let mut future = bytes;
        future[8] = 3;
        assert_eq!(
            SegmentHeader::decode(&future),
            Err(HeaderError::UnsupportedVersion { found: 3 })
        );
        let old = SegmentHeader {
            version: 1,
            ..header
        };
        assert_eq!(SegmentHeader::decode(&old.encode()), Ok(old));
        assert_eq!(old.data_start(), SEGMENT_HEADER_LEN);
        assert_eq!(header.data_start(), DATA_START);
        for byte in 12..64 {
            let mut damaged = bytes;
            damaged[byte] ^= 0x10;
            assert!(SegmentHeader::decode(&damaged).is_err(), "byte {byte}");
        }
    }
}
