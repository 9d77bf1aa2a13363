//! Read-only inspection and verification of a journal directory.

use std::path::{Path, PathBuf};

use crate::error::{JournalError, Result};
use crate::lock::LOCK_FILE;
use crate::recovery::{self, Found};
use crate::segment::{self, length_of_last, Access, Segment};

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
    /// What is wrong with the segment or a record in it, or what the next open
    /// does to it, if anything.
    pub problem: Option<String>,
}

/// The state of a journal as a whole.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    /// Every record is valid and the log ends cleanly.
    #[default]
    Clean,
    /// The log ends in a torn tail past the durable line: records that never fully
    /// reached the disk. The next open (or `seqlane-journal repair`) cuts it; no
    /// acknowledged record is lost. In a journal a writer has open, this is the
    /// writer's work in flight.
    TornTail,
    /// Damage below the durable line, or a segment that cannot be read: open
    /// refuses the journal.
    Damaged,
}

/// What [`inspect`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inspection {
    /// Every segment, oldest first.
    pub segments: Vec<SegmentSummary>,
    /// Every record before this sequence had been synced when the writer last
    /// recorded a sync (0 if no sync was recorded).
    pub durable_line: u64,
    /// Clean, torn tail or damaged.
    pub health: Health,
    /// Whether a writer held the journal's lock while it was inspected: records
    /// past the durable line may then still be being written.
    pub live: bool,
}

impl Inspection {
    /// Whether every segment and every record is valid.
    pub fn is_valid(&self) -> bool {
        self.health == Health::Clean
    }

    /// Valid records in all segments.
    pub fn records(&self) -> u64 {
        self.segments.iter().map(|segment| segment.records).sum()
    }

    /// The first sequence held, if any segment could be read.
    pub fn first_sequence(&self) -> Option<u64> {
        self.segments.first().map(|segment| segment.base_sequence)
    }
}

/// Scans every segment in `dir` read-only, checking every record, without taking the
/// writer's lock, and judges it as the next open would (the rule is in
/// [`format`](crate::format)). Problems are reported per segment rather than as
/// errors, so a damaged journal can still be looked at.
///
/// A writer may be appending meanwhile: the durable line is read before the
/// records, and records below it never change, so a live journal is never
/// reported damaged for the writer's work in flight.
///
/// # Errors
///
/// Only when the directory cannot be listed.
pub fn inspect(dir: impl AsRef<Path>) -> Result<Inspection> {
    let dir = dir.as_ref();
    let live = writer_holds_lock(dir);
    let listed = segment::list(dir)?.segments;
    let mut inspection = Inspection {
        live,
        ..Inspection::default()
    };
    for (_, path) in &listed {
        if let Ok((_, Some(mark))) = segment::read_head(path) {
            inspection.durable_line = inspection.durable_line.max(mark.next_sequence);
        }
    }
    let line = inspection.durable_line;
    let mut found: Vec<Found> = Vec::new();
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
        let opened = Segment::open(
            path.clone(),
            Access::ReadOnly,
            length_of_last(index + 1 == count),
        )
        .and_then(|segment| segment.check_name(base).map(|()| segment));
        match opened {
            Err(JournalError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound && index + 1 < count =>
            {
                // Retired by a live writer since the listing: retirement removes
                // segments oldest first and never the last, so this one and every
                // one before it are no longer held.
                found.clear();
                inspection.segments.clear();
                continue;
            }
            Err(error) => {
                summary.problem = Some(error.to_string());
                inspection.health = Health::Damaged;
                inspection.segments.push(summary);
                continue;
            }
            Ok(segment) => {
                summary.capacity = segment.capacity() as u64;
                summary.created_unix_micros = segment.header.created_unix_micros;
                if (segment.capacity() as u64) < segment.header.capacity {
                    summary.problem = Some(format!(
                        "file is {} bytes, its header says {}: cut short (the next open extends it)",
                        segment.capacity(),
                        segment.header.capacity
                    ));
                }
                let scan = recovery::scan(&segment, line);
                summary.records = scan.records;
                summary.used_bytes = scan.end as u64;
                found.push(Found {
                    path,
                    base,
                    marked: segment.header.has_sync_marks(),
                    scan,
                });
            }
        }
        inspection.segments.push(summary);
    }
    if inspection.health == Health::Damaged {
        return Ok(inspection);
    }
    let problem = |inspection: &mut Inspection, index: usize, text: String| {
        let summary = &mut inspection.segments[index];
        summary.problem = Some(match summary.problem.take() {
            Some(before) => format!("{before}; {text}"),
            None => text,
        });
    };
    match recovery::judge(&found, line) {
        Err(damage) => {
            inspection.health = Health::Damaged;
            let text = format!("damage at offset {}: {}", damage.offset, damage.reason);
            problem(&mut inspection, damage.index, text);
        }
        Ok(verdict) => {
            let torn = if live {
                "past the durable line, being written (a writer has the journal open)"
            } else {
                "a torn tail past the durable line: the next open cuts it"
            };
            if let Some((offset, _, reason)) = &verdict.cut {
                inspection.health = Health::TornTail;
                let text = format!("invalid record at offset {offset} ({reason}): {torn}");
                problem(&mut inspection, verdict.keep - 1, text);
            }
            for index in verdict.keep..found.len() {
                inspection.health = Health::TornTail;
                let text = format!(
                    "lies wholly past the end of the log at sequence {}: {torn}",
                    verdict.next_sequence
                );
                problem(&mut inspection, index, text);
            }
        }
    }
    Ok(inspection)
}

/// Whether some process holds the writer's `flock` on `dir`'s lock file, read
/// from `/proc/locks` so that looking does not take the lock (which would make a
/// writer starting at that moment fail). `false` where that file cannot be read.
fn writer_holds_lock(dir: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(metadata) = std::fs::metadata(dir.join(LOCK_FILE)) else {
        return false;
    };
    let Ok(locks) = std::fs::read_to_string("/proc/locks") else {
        return false;
    };
    // Lines read "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; the fifth field
    // ends with the inode.
    let inode = metadata.ino().to_string();
    locks.lines().any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields.get(1) == Some(&"FLOCK")
            && fields
                .get(5)
                .and_then(|device_inode| device_inode.rsplit(':').next())
                == Some(inode.as_str())
    })
}
