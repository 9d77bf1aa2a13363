//! Scanning segments: which records are valid, where the log ends, and whether an
//! invalid record is a torn tail (past the durable line: cut it) or damage (below
//! it: a hard error). The rule is written down in [`crate::format`].

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{JournalError, Result};
use crate::format::{decode_frame, Decoded, ALIGN};
use crate::segment::{self, length_of_last, Access, Segment};

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
    /// The durable line found on disk: every record before it had been synced
    /// (from the segments' sync marks; 0 if none was found).
    pub durable_line: u64,
    /// Records past the durable line that were kept, then written back and synced
    /// by this open (none under [`SyncPolicy::Never`](crate::SyncPolicy::Never),
    /// which syncs nothing).
    pub resynced: u64,
    /// Leftover temporary segment files (from a crash while creating one) removed.
    pub removed_leftovers: Vec<PathBuf>,
    /// How long the scan took.
    pub elapsed: Duration,
}

/// A torn tail: records past the last completed sync that did not all reach the
/// disk (the writer crashed or lost power before they did). The first invalid or
/// missing one and everything after it were cut: its bytes zeroed, later segments
/// removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment where the log now ends.
    pub path: PathBuf,
    /// Offset of the first byte cut in it.
    pub offset: u64,
    /// Bytes zeroed in it.
    pub bytes: u64,
    /// Why the log ends there.
    pub reason: String,
    /// Segments removed because they lay wholly past the cut.
    pub removed_segments: Vec<PathBuf>,
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
    /// Offset of the first valid frame at or past the durable line, if the valid
    /// prefix reaches the line in this segment.
    pub(crate) line_offset: Option<usize>,
    /// An invalid frame at `end`, if the segment does not simply end with zeros.
    pub(crate) problem: Option<Problem>,
}

#[derive(Clone, Debug)]
pub(crate) struct Problem {
    pub(crate) reason: String,
    /// Whether a valid frame follows the invalid one in this segment (looked for in
    /// version 1 segments only, whose recovery rule needs it).
    pub(crate) followed_by_valid: bool,
    /// One past the last nonzero byte of the segment.
    pub(crate) dirty_end: usize,
}

/// Scans `segment` from its first frame, checking every frame's checksum and that
/// sequences run on from the header's base. `line` is the journal's durable line
/// (see the format's docs), used to note where the records past it start.
///
/// The log ends cleanly only where a zero length is followed by nothing but zeros.
/// Nonzero bytes past the end are a problem, which [`judge`] classifies.
///
/// Must not run while a writer in this process appends to the segment.
pub(crate) fn scan(segment: &Segment, line: u64) -> Scan {
    // SAFETY: the caller rules out a concurrent writer in this process (recovery runs
    // before the journal opens; inspection reads segments no writer here has open).
    let bytes = unsafe { segment.bytes(0, segment.capacity()) };
    let mut offset = segment.data_start();
    let mut expected = segment.header.base_sequence;
    let mut records = 0;
    let mut line_offset = None;
    let reason = loop {
        if expected >= line && line_offset.is_none() {
            line_offset = Some(offset);
        }
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
    let problem = (dirty_end > offset).then(|| Problem {
        reason,
        followed_by_valid: !segment.header.has_sync_marks()
            && (offset + ALIGN..dirty_end)
                .step_by(ALIGN)
                .any(|at| matches!(decode_frame(&bytes[at..]), Decoded::Frame(..))),
        dirty_end,
    });
    Scan {
        records,
        end: offset,
        next_sequence: expected,
        line_offset,
        problem,
    }
}

/// One segment as recovery sees it.
#[derive(Clone, Debug)]
pub(crate) struct Found {
    pub(crate) path: PathBuf,
    pub(crate) base: u64,
    /// Whether the segment has sync marks (format version 2 on).
    pub(crate) marked: bool,
    pub(crate) scan: Scan,
}

/// Where the log ends, as recovery decides it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Segments kept, from the first: the rest lie wholly past a torn tail.
    pub(crate) keep: usize,
    /// A torn tail to cut in the last kept segment: offset, end of its nonzero
    /// bytes, and why.
    pub(crate) cut: Option<(usize, usize, String)>,
    /// The sequence after the last record kept.
    pub(crate) next_sequence: u64,
}

/// Damage that recovery must not cut: the segment (an index into what was found),
/// the offset and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Damage {
    pub(crate) index: usize,
    pub(crate) offset: usize,
    pub(crate) reason: String,
}

/// Decides, from every segment's scan and the durable line, where the log ends:
/// the rule of "The durable line" in [`crate::format`].
pub(crate) fn judge(found: &[Found], line: u64) -> Result<Verdict, Damage> {
    let mut expected = found.first().map_or(0, |f| f.base);
    let last = found.len().saturating_sub(1);
    for (index, segment) in found.iter().enumerate() {
        if index > 0 && segment.base != expected {
            let reason = format!(
                "starts at sequence {}, but the previous segment ends before {expected}",
                segment.base
            );
            if !segment.marked || expected < line {
                return Err(Damage {
                    index,
                    offset: 0,
                    reason: below_line(reason, expected, line),
                });
            }
            // Records `expected..` never reached the disk: the rest is a torn tail.
            return Ok(Verdict {
                keep: index,
                cut: None,
                next_sequence: expected,
            });
        }
        let scan = &segment.scan;
        if let Some(problem) = &scan.problem {
            let torn = if segment.marked {
                scan.next_sequence >= line
            } else {
                !problem.followed_by_valid && index == last
            };
            if !torn {
                let reason = if segment.marked {
                    below_line(problem.reason.clone(), scan.next_sequence, line)
                } else if problem.followed_by_valid {
                    format!("{}, followed by valid records", problem.reason)
                } else {
                    format!("{}, in a segment that is not the last", problem.reason)
                };
                return Err(Damage {
                    index,
                    offset: scan.end,
                    reason,
                });
            }
            return Ok(Verdict {
                keep: index + 1,
                cut: Some((scan.end, problem.dirty_end, problem.reason.clone())),
                next_sequence: scan.next_sequence,
            });
        }
        expected = scan.next_sequence;
    }
    if expected < line {
        let index = last;
        return Err(Damage {
            index,
            offset: found.get(index).map_or(0, |f| f.scan.end),
            reason: format!(
                "the log ends before sequence {expected}, but a completed sync covered every \
                 record before {line}"
            ),
        });
    }
    Ok(Verdict {
        keep: found.len(),
        cut: None,
        next_sequence: expected,
    })
}

/// Every segment found, the durable line, and where the log ends.
pub(crate) struct Recovered {
    pub(crate) found: Vec<Found>,
    pub(crate) line: u64,
    pub(crate) verdict: Verdict,
}

/// Reads the sync marks of the `listed` segments, scans each, and judges where
/// the log ends, without changing anything.
///
/// # Errors
///
/// A segment that cannot be read or whose header is damaged; damage below the
/// durable line, as [`JournalError::CorruptRecord`] (or `CorruptSegment` for a
/// gap between segments).
pub(crate) fn recover(listed: &[(u64, PathBuf)]) -> Result<Recovered> {
    let found = survey(listed)?;
    let line = found.line;
    match judge(&found.found, line) {
        Ok(verdict) => Ok(Recovered {
            found: found.found,
            line,
            verdict,
        }),
        Err(damage) => Err(damage.into_error(&found.found)),
    }
}

/// The segments and the durable line, before judging.
pub(crate) struct Survey {
    pub(crate) found: Vec<Found>,
    pub(crate) line: u64,
}

/// Reads every listed segment's sync marks, then scans each against the line.
pub(crate) fn survey(listed: &[(u64, PathBuf)]) -> Result<Survey> {
    let mut line = 0;
    for (_, path) in listed {
        let (_, mark) = segment::read_head(path)?;
        if let Some(mark) = mark {
            line = line.max(mark.next_sequence);
        }
    }
    let mut found = Vec::with_capacity(listed.len());
    for (index, (base, path)) in listed.iter().enumerate() {
        let segment = Segment::open(
            path.clone(),
            Access::ReadOnly,
            length_of_last(index + 1 == listed.len()),
        )?;
        segment.check_name(*base)?;
        found.push(Found {
            path: path.clone(),
            base: *base,
            marked: segment.header.has_sync_marks(),
            scan: scan(&segment, line),
        });
    }
    Ok(Survey { found, line })
}

impl Damage {
    pub(crate) fn into_error(self, found: &[Found]) -> JournalError {
        let path = found[self.index].path.clone();
        if self.offset == 0 {
            JournalError::CorruptSegment {
                path,
                reason: self.reason,
            }
        } else {
            JournalError::CorruptRecord {
                path,
                offset: self.offset as u64,
                reason: self.reason,
            }
        }
    }
}

fn below_line(reason: String, sequence: u64, line: u64) -> String {
    format!(
        "{reason}; record {sequence} is below the durable line ({line}): a completed sync \
         covered it"
    )
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
