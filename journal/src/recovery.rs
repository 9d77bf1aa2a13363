//! Scanning segments: which records are valid, where the log ends, and whether an
//! invalid record is a torn tail (nothing valid after it: safe to truncate) or damage
//! in the middle of the log (valid records after it: a hard error).

use std::path::PathBuf;
use std::time::Duration;

use crate::format::{decode_frame, Decoded, ALIGN, SEGMENT_HEADER_LEN};
use crate::segment::Segment;

/// What opening a journal found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Segments found.
    pub segments: usize,
    /// Valid records found.
    pub records: u64,
    /// The sequence of the first record held (the next one if there is none).
    pub first_sequence: u64,
    /// The sequence the next append gets.
    pub next_sequence: u64,
    /// The torn tail that was cut off, if there was one.
    pub truncated: Option<TornTail>,
    /// Leftover temporary segment files (from a crash while creating one) removed.
    pub removed_leftovers: Vec<PathBuf>,
    /// How long the scan took.
    pub elapsed: Duration,
}

/// A torn tail: the last record of the log was only partly written (the writer
/// crashed or lost power mid-write), so it and the bytes after it were zeroed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment.
    pub path: PathBuf,
    /// Offset of the first invalid byte in it.
    pub offset: u64,
    /// Bytes zeroed.
    pub bytes: u64,
    /// Why the record there was invalid.
    pub reason: String,
}

/// The valid prefix of one segment, and what follows it.
#[derive(Clone, Debug)]
pub(crate) struct Scan {
    /// Valid records.
    pub(crate) records: u64,
    /// Offset just past the last valid frame.
    pub(crate) end: usize,
    /// The sequence after the last valid record.
    pub(crate) next_sequence: u64,
    /// An invalid frame at `end`, if the segment does not simply end with zeros.
    pub(crate) problem: Option<Problem>,
}

#[derive(Clone, Debug)]
pub(crate) struct Problem {
    pub(crate) reason: String,
    /// Whether a valid frame follows the invalid one in this segment.
    pub(crate) followed_by_valid: bool,
    /// One past the last nonzero byte of the segment.
    pub(crate) dirty_end: usize,
}

/// Scans `segment` from its header, checking every frame's checksum and that
/// sequences run on from the header's base.
///
/// The log ends cleanly only where a zero length is followed by nothing but zeros.
/// Nonzero bytes past the end are a problem: a torn tail (a record whose length was
/// never written, or a partly written one), or, if a valid frame lies among them,
/// damage in the middle of the log that must not be dropped silently.
///
/// Must not run while a writer in this process appends to the segment.
pub(crate) fn scan(segment: &Segment) -> Scan {
    // SAFETY: the caller rules out a concurrent writer in this process (recovery runs
    // before the journal opens; inspection reads segments no writer here has open).
    let bytes = unsafe { segment.bytes(0, segment.capacity()) };
    let mut offset = SEGMENT_HEADER_LEN;
    let mut expected = segment.header.base_sequence;
    let mut records = 0;
    let reason = loop {
        match decode_frame(&bytes[offset..]) {
            Decoded::Empty => {
                break "bytes after the end of the last record (one whose length was never written)"
                    .to_owned()
            }
            Decoded::Frame(frame, size) if frame.sequence == expected => {
                records += 1;
                expected += 1;
                offset += size;
            }
            Decoded::Frame(frame, _) => {
                break format!("sequence {} where {expected} was expected", frame.sequence);
            }
            Decoded::Invalid(reason) => break reason.to_owned(),
        }
    };
    let dirty_end = last_nonzero(&bytes[offset..]).map_or(offset, |last| offset + last + 1);
    if dirty_end == offset {
        return Scan {
            records,
            end: offset,
            next_sequence: expected,
            problem: None,
        };
    }
    let followed_by_valid = (offset + ALIGN..dirty_end)
        .step_by(ALIGN)
        .any(|at| matches!(decode_frame(&bytes[at..]), Decoded::Frame(..)));
    Scan {
        records,
        end: offset,
        next_sequence: expected,
        problem: Some(Problem {
            reason,
            followed_by_valid,
            dirty_end,
        }),
    }
}

/// The index of the last nonzero byte. Works back in chunks, so the zero tail of a
/// preallocated segment costs a vectorised compare, not a byte loop.
fn last_nonzero(bytes: &[u8]) -> Option<usize> {
    const CHUNK: usize = 4096;
    let mut end = bytes.len();
    for chunk in bytes.rchunks(CHUNK) {
        let start = end - chunk.len();
        if chunk.iter().fold(0u8, |any, &b| any | b) != 0 {
            return chunk.iter().rposition(|&b| b != 0).map(|i| start + i);
        }
        end = start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::last_nonzero;

    #[test]
    fn last_nonzero_finds_the_last_set_byte() {
        assert_eq!(last_nonzero(&[]), None);
        assert_eq!(last_nonzero(&[0; 10_000]), None);
        for at in [0, 1, 4095, 4096, 4097, 9_999] {
            let mut bytes = vec![0u8; 10_000];
            bytes[at] = 1;
            bytes[0] |= 2;
            assert_eq!(last_nonzero(&bytes), Some(at));
        }
    }
}
