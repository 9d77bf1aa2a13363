//! Read-only inspection and verification of a journal directory.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::recovery;
use crate::segment::{self, Segment};

/// One segment as [`inspect`] found it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    /// The file.
    pub path: PathBuf,
    /// Sequence of its first record.
    pub base_sequence: u64,
    /// Valid records in it.
    pub records: u64,
    /// Bytes used by the header and the valid records.
    pub used_bytes: u64,
    /// The file's preallocated size.
    pub capacity: u64,
    /// When it was created, in microseconds since the Unix epoch.
    pub created_unix_micros: u64,
    /// Why the segment (or a record in it) is not valid, if it is not.
    pub problem: Option<String>,
}

/// What [`inspect`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Every segment, oldest first.
    pub segments: Vec<SegmentSummary>,
}

impl Inspection {
    /// Whether every segment and every record is valid.
    pub fn is_valid(&self) -> bool {
        self.segments
            .iter()
            .all(|segment| segment.problem.is_none())
    }

    /// Valid records in all segments.
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|segment| segment.records).sum()
    }
}

/// Scans every segment in `dir` read-only, checking every record, without taking the
/// writer's lock. Problems (a damaged header, an invalid record, a gap between
/// segments, a torn tail that the next open would truncate) are reported per
/// segment rather than as errors, so a damaged journal can still be looked at.
///
/// # Errors
///
/// Only when the directory cannot be listed.
pub fn inspect(dir: impl AsRef<Path>) -> Result<Inspection> {
    let listed = segment::list(dir.as_ref())?.segments;
    let mut inspection = Inspection::default();
    let mut expected_base: Option<u64> = None;
    let count = listed.len();
    for (index, (base, path)) in listed.into_iter().enumerate() {
        let mut summary = SegmentSummary {
            path: path.clone(),
            base_sequence: base,
            records: 0,
            used_bytes: 0,
            capacity: 0,
            created_unix_micros: 0,
            problem: None,
        };
        match Segment::open(path, false, index + 1 == count) {
            Err(error) => {
                summary.problem = Some(error.to_string());
                expected_base = None;
            }
            Ok(segment) => {
                summary.capacity = segment.capacity() as u64;
                summary.created_unix_micros = segment.header.created_unix_micros;
                let scan = recovery::scan(&segment);
                summary.records = scan.records;
                summary.used_bytes = scan.end as u64;
                let mut problems = Vec::new();
                if (segment.capacity() as u64) < segment.header.capacity {
                    problems.push(format!(
                        "file is {} bytes, its header says {}: cut short (the next open extends it)",
                        segment.capacity(),
                        segment.header.capacity
                    ));
                }
                if let Err(error) = segment.check_name(base) {
                    problems.push(error.to_string());
                }
                if let Some(expected) = expected_base.filter(|&e| e != segment.header.base_sequence)
                {
                    problems.push(format!(
                        "starts at sequence {}, but the previous segment ends before {expected}",
                        segment.header.base_sequence
                    ));
                }
                if let Some(problem) = scan.problem {
                    let what = if problem.followed_by_valid {
                        "followed by valid records"
                    } else {
                        "a torn tail; the next open truncates it if this is the last segment"
                    };
                    problems.push(format!(
                        "invalid record at offset {} ({}): {what}",
                        scan.end, problem.reason
                    ));
                }
                summary.problem = (!problems.is_empty()).then(|| problems.join("; "));
                expected_base = Some(scan.next_sequence);
            }
        }
        inspection.segments.push(summary);
    }
    Ok(inspection)
}
