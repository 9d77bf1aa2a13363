//! A snapshot file: how [`Saved`] is written, read and listed.
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

use crate::engine::domain::CommandId;
use crate::engine::model::Remembered;

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
                versioned(1, bytes.to_vec())
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

/// A snapshot part: its encoding's version (u32, little-endian), then its bytes.
pub(crate) fn versioned(version: u32, bytes: Vec<u8>) -> Vec<u8> {
    let mut part = Vec::with_capacity(4 + bytes.len());
    part.extend_from_slice(&version.to_le_bytes());
    part.extend_from_slice(&bytes);
    part
}

/// Splits a snapshot part into its version and its bytes.
pub(crate) fn unversioned(part: &[u8]) -> Result<(u32, &[u8]), String> {
    let (version, bytes) = part
        .split_first_chunk::<4>()
        .ok_or("a snapshot part shorter than its version")?;
    Ok((u32::from_le_bytes(*version), bytes))
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
