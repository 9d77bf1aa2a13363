//! Snapshots: the state (with the engine's version and accepted command ids) and
//! every projection, saved to a file so that a restart replays only the journal
//! after it, and the segments before it can be retired.
//!
//! The business-logic thread saves the state at a command boundary `S` (every record
//! below `S` applied) and posts the snapshot as pending; each projection adds its
//! own state at the end of its next batch (at its own position, `>= S`); once all
//! parts are in, the journaler, after making sure every record below `S` is synced,
//! writes the file (temporary name, fsync, rename, directory fsync) and retires the
//! segments wholly before `S`. (Written earlier, a snapshot could claim records that
//! a crash then lost, and new records would reuse their sequences.) On start, the newest
//! snapshot that reads back whole is loaded and the journal is replayed from `S`
//! (each projection from its own position).
//!
//! File: `DIR/snapshots/snapshot-<S, 20 digits>.bin`: the magic `SEQLSNAP`, a format
//! version (u32), the CRC32C of the body (u32), the body's length (u64), then the
//! body, all little-endian: `S`, the version, the ids (`id: u128`, `version`, a
//! kind byte, then for an accepted id its records as two u64, for a rejected one its
//! record (u64) and its rejection's bytes), the state (length-prefixed bytes), and
//! per projection its name, position and bytes.

use std::fs;
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use crate::engine::domain::CommandId;
use crate::engine::logic::Remembered;
use crate::sync::{lock, AtomicBool, AtomicI64, AtomicU64, Mutex};

const MAGIC: &[u8; 8] = b"SEQLSNAP";
/// Format 2 prefixes the state and every projection part with its encoding's
/// version (`SNAPSHOT_VERSION`, u32); format 1 files read as version 1 parts.
/// Format 3 adds rejected command ids (entry kind [`REJECTED`]).
const FORMAT: u32 = 3;
/// A command id entry's kind: accepted without records, accepted with records
/// (`first`, `last`), rejected (`record`, then the encoded rejection).
const ACCEPTED: u8 = 0;
const ACCEPTED_WITH_RECORDS: u8 = 1;
const REJECTED: u8 = 2;
const HEADER: usize = 8 + 4 + 4 + 8;

/// A snapshot, in memory.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Saved {
    /// Every journal record below this is in the state.
    pub(crate) records: u64,
    pub(crate) version: u64,
    pub(crate) ids: Vec<(CommandId, Remembered)>,
    pub(crate) state: Vec<u8>,
    /// Per projection: name, position (records below it applied), bytes.
    pub(crate) projections: Vec<(String, u64, Vec<u8>)>,
}

fn put_u64(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(&value.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u64(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

impl Saved {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut body = Vec::new();
        put_u64(&mut body, self.records);
        put_u64(&mut body, self.version);
        put_u64(&mut body, self.ids.len() as u64);
        for (id, remembered) in &self.ids {
            body.extend_from_slice(&id.0.to_le_bytes());
            match remembered {
                Remembered::Accepted { version, records } => {
                    put_u64(&mut body, *version);
                    let (flag, first, last) = match records {
                        Some(records) => (ACCEPTED_WITH_RECORDS, *records.start(), *records.end()),
                        None => (ACCEPTED, 0, 0),
                    };
                    body.push(flag);
                    put_u64(&mut body, first);
                    put_u64(&mut body, last);
                }
                Remembered::Rejected { record, rejection } => {
                    put_u64(&mut body, 0);
                    body.push(REJECTED);
                    put_u64(&mut body, *record);
                    put_bytes(&mut body, rejection);
                }
            }
        }
        put_bytes(&mut body, &self.state);
        put_u64(&mut body, self.projections.len() as u64);
        for (name, position, bytes) in &self.projections {
            put_bytes(&mut body, name.as_bytes());
            put_u64(&mut body, *position);
            put_bytes(&mut body, bytes);
        }
        let mut file = Vec::with_capacity(HEADER + body.len());
        file.extend_from_slice(MAGIC);
        file.extend_from_slice(&FORMAT.to_le_bytes());
        file.extend_from_slice(&crc32c::crc32c(&body).to_le_bytes());
        put_u64(&mut file, body.len() as u64);
        file.extend_from_slice(&body);
        file
    }

    /// Decodes a snapshot file; the error says what is wrong with it.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Saved, String> {
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return Err("not a seqlane snapshot (no SEQLSNAP header)".into());
        }
        let format = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if !(1..=FORMAT).contains(&format) {
            return Err(format!(
                "snapshot format {format}, this build reads 1 to {FORMAT}"
            ));
        }
        let part = |bytes: &[u8]| {
            if format == 1 {
                crate::engine::projection::versioned(1, bytes.to_vec())
            } else {
                bytes.to_vec()
            }
        };
        let crc = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes"));
        let len = u64::from_le_bytes(bytes[16..24].try_into().expect("8 bytes"));
        let body = &bytes[HEADER..];
        if body.len() as u64 != len {
            return Err(format!("{} body bytes, the header says {len}", body.len()));
        }
        if crc32c::crc32c(body) != crc {
            return Err("checksum mismatch: the file is damaged".into());
        }
        let mut reader = Cursor(body);
        let records = reader.u64()?;
        let version = reader.u64()?;
        let count = reader.u64()?;
        let mut ids = Vec::new();
        for _ in 0..count {
            let id = CommandId(u128::from_le_bytes(
                reader.take(16)?.try_into().expect("16"),
            ));
            let version = reader.u64()?;
            let remembered = match reader.take(1)?[0] {
                REJECTED if format >= 3 => Remembered::Rejected {
                    record: reader.u64()?,
                    rejection: reader.bytes()?.to_vec(),
                },
                flag @ (ACCEPTED | ACCEPTED_WITH_RECORDS) => {
                    let (first, last) = (reader.u64()?, reader.u64()?);
                    let records: Option<RangeInclusive<u64>> =
                        (flag == ACCEPTED_WITH_RECORDS).then_some(first..=last);
                    Remembered::Accepted { version, records }
                }
                flag => return Err(format!("unknown command id entry {flag}")),
            };
            ids.push((id, remembered));
        }
        let state = part(reader.bytes()?);
        let count = reader.u64()?;
        let mut projections = Vec::new();
        for _ in 0..count {
            let name = String::from_utf8(reader.bytes()?.to_vec())
                .map_err(|_| "a projection name is not UTF-8".to_owned())?;
            let position = reader.u64()?;
            projections.push((name, position, part(reader.bytes()?)));
        }
        Ok(Saved {
            records,
            version,
            ids,
            state,
            projections,
        })
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.0.len() < n {
            return Err("the snapshot ends early".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let len = self.u64()?;
        let len = usize::try_from(len).map_err(|_| "a length too large".to_owned())?;
        self.take(len)
    }
}

pub(crate) fn directory(journal: &Path) -> PathBuf {
    journal.join("snapshots")
}

fn file_name(records: u64) -> String {
    format!("snapshot-{records:020}.bin")
}

/// Writes `saved` durably (temporary file, fsync, rename, directory fsync) and
/// removes the snapshots older than the newest `keep`. Returns the journal record
/// the oldest snapshot kept starts from: records before it are needed by none.
pub(crate) fn write(journal: &Path, saved: &Saved, keep: usize) -> std::io::Result<u64> {
    let dir = directory(journal);
    fs::create_dir_all(&dir)?;
    let path = dir.join(file_name(saved.records));
    let temporary = path.with_extension("tmp");
    {
        let mut file = fs::File::create(&temporary)?;
        file.write_all(&saved.encode())?;
        file.sync_all()?;
    }
    fs::rename(&temporary, &path)?;
    fs::File::open(&dir)?.sync_all()?;
    let kept = list(journal)?;
    let mut oldest_kept = saved.records;
    for (index, (records, file)) in kept.into_iter().enumerate() {
        if index < keep.max(1) {
            oldest_kept = oldest_kept.min(records);
        } else {
            fs::remove_file(file)?;
        }
    }
    Ok(oldest_kept)
}

/// The snapshot files in the journal's directory, newest first.
pub(crate) fn list(journal: &Path) -> std::io::Result<Vec<(u64, PathBuf)>> {
    let dir = directory(journal);
    let mut found = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(found),
        Err(error) => return Err(error),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let records = name
            .strip_prefix("snapshot-")
            .and_then(|rest| rest.strip_suffix(".bin"))
            .and_then(|digits| digits.parse::<u64>().ok());
        if let Some(records) = records {
            found.push((records, entry.path()));
        }
    }
    found.sort_by_key(|(records, _)| std::cmp::Reverse(*records));
    Ok(found)
}

/// Why a snapshot was not taken: another one was still being assembled or written.
/// `Engine::snapshot` asks again after it.
pub(crate) const BUSY: &str = "another snapshot was being taken";

/// The snapshot being assembled across threads, and what came of earlier ones.
pub(crate) struct Coordinator {
    /// `S` of the pending snapshot, or -1. Set by the logic (Release), read by the
    /// projections (Acquire) to know they owe a part.
    pub(crate) pending_at: AtomicI64,
    pub(crate) pending: Mutex<Option<Pending>>,
    /// A snapshot with every part in, for the journaler to write, with the
    /// request it answers (the input sequence of an `Engine::snapshot` call).
    pub(crate) ready: Mutex<Option<(Saved, Option<i64>)>>,
    /// A snapshot was posted and has not ended (written, failed or given up). Set
    /// and read by the logic, cleared by whichever thread ends the snapshot.
    in_flight: AtomicBool,
    /// Outcomes of requested snapshots, by request, until their caller takes them.
    pub(crate) answers: Mutex<Vec<(i64, Result<u64, String>)>>,
    /// Snapshots written, and the last one's `S`, for metrics.
    pub(crate) written: AtomicU64,
    pub(crate) last_written: AtomicU64,
    /// Why the last snapshot (or retirement) failed, if it did.
    pub(crate) last_error: Mutex<Option<String>>,
}

pub(crate) struct Pending {
    pub(crate) saved: Saved,
    pub(crate) request: Option<i64>,
    /// Parts still owed, by projection index.
    pub(crate) owed: Vec<bool>,
}

impl Coordinator {
    pub(crate) fn new() -> Self {
        Self {
            pending_at: AtomicI64::new(-1),
            pending: Mutex::new(None),
            ready: Mutex::new(None),
            in_flight: AtomicBool::new(false),
            answers: Mutex::new(Vec::new()),
            written: AtomicU64::new(0),
            last_written: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    /// Whether a snapshot is being assembled, waits to be written or is being
    /// written. One load, no lock: the logic asks before every command while a
    /// due snapshot waits for the one in flight.
    pub(crate) fn in_flight(&self) -> bool {
        // Acquire: pairs with the Release in `end`, so the ended snapshot's state
        // (pending, ready) is cleared before the logic posts the next.
        self.in_flight.load(Ordering::Acquire)
    }

    /// Whether projection `index` owes a part of a snapshot at or below `position`.
    pub(crate) fn owed_by(&self, index: usize, position: u64) -> bool {
        // Acquire: pairs with the Release in `post`.
        let at = self.pending_at.load(Ordering::Acquire);
        at >= 0
            && at as u64 <= position
            && lock(&self.pending)
                .as_ref()
                .is_some_and(|pending| pending.owed[index])
    }

    /// The logic posts a snapshot with its state part.
    pub(crate) fn post(&self, saved: Saved, request: Option<i64>, projections: usize) {
        // Relaxed: only the logic reads it before posting; `end` publishes the clear.
        self.in_flight.store(true, Ordering::Relaxed);
        if projections == 0 {
            *lock(&self.ready) = Some((saved, request));
            return;
        }
        let at = saved.records as i64;
        *lock(&self.pending) = Some(Pending {
            saved,
            request,
            owed: vec![true; projections],
        });
        // Release: the pending snapshot is in place before projections look.
        self.pending_at.store(at, Ordering::Release);
    }

    /// A projection adds its part; with the last part the snapshot is ready.
    pub(crate) fn contribute(&self, index: usize, part: (String, u64, Vec<u8>)) {
        let mut pending = lock(&self.pending);
        let Some(assembling) = pending.as_mut() else {
            return;
        };
        if !assembling.owed[index] {
            return;
        }
        assembling.owed[index] = false;
        assembling.saved.projections.push(part);
        if !assembling.owed.iter().any(|owed| *owed) {
            let done = pending.take().expect("checked above");
            *lock(&self.ready) = Some((done.saved, done.request));
            self.pending_at.store(-1, Ordering::Relaxed);
        }
    }

    /// A projection cannot save its part: the pending snapshot is given up.
    pub(crate) fn abandon(&self, reason: String) {
        let pending = lock(&self.pending).take();
        self.pending_at.store(-1, Ordering::Relaxed);
        self.end(pending.and_then(|pending| pending.request), Err(reason));
    }

    /// The snapshot in flight ended with `result`: answered, and the next may start.
    pub(crate) fn end(&self, request: Option<i64>, result: Result<u64, String>) {
        self.answer(request, result);
        // Release: pairs with the Acquire in `in_flight`.
        self.in_flight.store(false, Ordering::Release);
    }

    /// How a snapshot ended (or, from the logic, why it was not started): written
    /// (covering records below `S`) or not, and why. Kept for the caller that
    /// requested it, if one did.
    pub(crate) fn answer(&self, request: Option<i64>, result: Result<u64, String>) {
        match &result {
            Ok(records) => {
                self.last_written.store(*records, Ordering::Relaxed);
                self.written.fetch_add(1, Ordering::Relaxed);
                *lock(&self.last_error) = None;
            }
            Err(reason) => *lock(&self.last_error) = Some(reason.clone()),
        }
        if let Some(request) = request {
            lock(&self.answers).push((request, result));
        }
    }

    /// Takes the answer to `request`, once there is one.
    pub(crate) fn take_answer(&self, request: i64) -> Option<Result<u64, String>> {
        let mut answers = lock(&self.answers);
        let index = answers.iter().position(|(asked, _)| *asked == request)?;
        Some(answers.swap_remove(index).1)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_snapshot_round_trips_and_damage_is_refused() {
        let saved = Saved {
            records: 42,
            version: 40,
            ids: vec![
                (
                    CommandId(7),
                    Remembered::Accepted {
                        version: 3,
                        records: Some(2..=3),
                    },
                ),
                (
                    CommandId(u128::MAX),
                    Remembered::Accepted {
                        version: 5,
                        records: None,
                    },
                ),
                (
                    CommandId(9),
                    Remembered::Rejected {
                        record: 41,
                        rejection: b"no".to_vec(),
                    },
                ),
            ],
            state: b"state".to_vec(),
            projections: vec![("list".into(), 44, b"view".to_vec())],
        };
        let bytes = saved.encode();
        assert_eq!(Saved::decode(&bytes).unwrap(), saved);
        for i in 0..bytes.len() {
            let mut damaged = bytes.clone();
            damaged[i] ^= 0x10;
            assert!(Saved::decode(&damaged).is_err(), "byte {i}");
        }
        assert!(Saved::decode(&bytes[..bytes.len() - 1]).is_err());
    }
}
