//! What a command may carry besides its body, for an audit trail: who sent it,
//! which request it belongs to and what caused it; the engine adds the time it
//! accepted the command. Journaled with the command's first record, given to the
//! projections with each of its events (at run time and on replay).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A command's metadata: an actor, a correlation id and a causation id chosen by
/// the caller, and the time the engine decided the command (set by the engine;
/// whatever a caller leaves there is replaced).
///
/// A command carries metadata only when given some ([`Command::with_metadata`]);
/// a command without it costs nothing more and journals as before.
///
/// # Examples
///
/// ```
/// use seqlane::{Command, Metadata};
///
/// let command = Command::new("rename")
///     .with_metadata(Metadata::new().actor("alice").correlation(7).causation(6));
/// let metadata = command.metadata().unwrap();
/// assert_eq!(metadata.actor.as_deref(), Some("alice"));
/// assert_eq!((metadata.correlation, metadata.causation), (Some(7), Some(6)));
/// assert_eq!(metadata.accepted_at, None); // the engine sets it
/// ```
///
/// [`Command::with_metadata`]: crate::Command::with_metadata
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Metadata {
    /// When the business logic decided the command (the engine's clock, once per
    /// batch): `None` until then.
    pub accepted_at: Option<SystemTime>,
    /// The request or conversation the command belongs to.
    pub correlation: Option<u128>,
    /// What caused it: typically the id of the command or event before it.
    pub causation: Option<u128>,
    /// Who sent it: a user, a service, a job.
    pub actor: Option<String>,
}

impl Metadata {
    /// No metadata yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the correlation id.
    pub fn correlation(mut self, id: u128) -> Self {
        self.correlation = Some(id);
        self
    }

    /// Sets the causation id.
    pub fn causation(mut self, id: u128) -> Self {
        self.causation = Some(id);
        self
    }

    /// Sets the actor.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// The same metadata, accepted at `time`.
    pub(crate) fn accepted(&self, time: SystemTime) -> Self {
        Self {
            accepted_at: Some(time),
            ..self.clone()
        }
    }
}

/// The business logic's view of the current command's metadata: the caller's,
/// stamped with the batch's time (read once, for the batch's first command with
/// metadata).
#[derive(Default)]
pub(crate) struct Stamper {
    now: Option<SystemTime>,
    current: Option<Arc<Metadata>>,
}

impl Stamper {
    /// Takes the next command's metadata.
    pub(crate) fn stamp(&mut self, metadata: Option<&Arc<Metadata>>) {
        if metadata.is_none() && self.current.is_none() {
            // The common case, without metadata: nothing to drop or stamp.
            return;
        }
        self.current = metadata.map(|metadata| {
            let now = *self.now.get_or_insert_with(SystemTime::now);
            Arc::new(metadata.accepted(now))
        });
    }

    pub(crate) fn current(&self) -> Option<&Metadata> {
        self.current.as_deref()
    }

    /// For the command's entries in the output ring.
    pub(crate) fn shared(&self) -> &Option<Arc<Metadata>> {
        &self.current
    }

    /// The next batch reads the clock afresh.
    pub(crate) fn end_batch(&mut self) {
        self.now = None;
    }
}

const TIME: u8 = 1;
const CORRELATION: u8 = 1 << 1;
const CAUSATION: u8 = 1 << 2;
const ACTOR: u8 = 1 << 3;
const KNOWN: u8 = TIME | CORRELATION | CAUSATION | ACTOR;

/// The longest encoded metadata (its length is a `u16`).
pub(crate) const MAX_LEN: usize = u16::MAX as usize;

/// Appends `metadata`'s encoding to `out`: a `u16` length (little-endian) of what
/// follows, a byte of which fields are present, then those fields in order: the
/// time as nanoseconds since the Unix epoch (`u64`), the correlation and causation
/// ids (`u128`), and the actor's UTF-8 (to the end). The error says why it cannot be.
pub(crate) fn encode(metadata: &Metadata, out: &mut Vec<u8>) -> Result<(), String> {
    let nanos = match metadata.accepted_at {
        None => None,
        Some(time) => {
            let since = time.duration_since(SystemTime::UNIX_EPOCH).map_err(|_| {
                "the metadata's time is before 1970 (the engine's clock is wrong)".to_string()
            })?;
            Some(
                u64::try_from(since.as_nanos())
                    .map_err(|_| "the metadata's time is after 2554".to_string())?,
            )
        }
    };
    let start = out.len();
    out.extend_from_slice(&[0, 0, 0]);
    let mut present = 0;
    if let Some(nanos) = nanos {
        present |= TIME;
        out.extend_from_slice(&nanos.to_le_bytes());
    }
    if let Some(id) = metadata.correlation {
        present |= CORRELATION;
        out.extend_from_slice(&id.to_le_bytes());
    }
    if let Some(id) = metadata.causation {
        present |= CAUSATION;
        out.extend_from_slice(&id.to_le_bytes());
    }
    if let Some(actor) = &metadata.actor {
        present |= ACTOR;
        out.extend_from_slice(actor.as_bytes());
    }
    let len = out.len() - start - 2;
    let len = u16::try_from(len).map_err(|_| {
        out.truncate(start);
        format!("the metadata takes {len} bytes; at most {MAX_LEN} are journaled")
    })?;
    out[start..start + 2].copy_from_slice(&len.to_le_bytes());
    out[start + 2] = present;
    Ok(())
}

/// Reads metadata written by [`encode`] from the front of `bytes`, and returns it
/// with the bytes after it; the error says what is wrong.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Metadata, &[u8]), String> {
    let Some((len, rest)) = bytes.split_first_chunk::<2>() else {
        return Err("a record too short for its metadata's length".into());
    };
    let len = usize::from(u16::from_le_bytes(*len));
    if rest.len() < len || len == 0 {
        return Err(format!(
            "metadata of {len} bytes in a record with {} left",
            rest.len()
        ));
    }
    let (mut block, after) = rest.split_at(len);
    let present = block[0];
    block = &block[1..];
    if present & !KNOWN != 0 {
        return Err(format!(
            "metadata fields {present:#x} include ones this seqlane does not know \
             (written by a newer seqlane?)"
        ));
    }
    let mut metadata = Metadata::new();
    if present & TIME != 0 {
        let nanos = u64::from_le_bytes(take(&mut block)?);
        metadata.accepted_at = Some(SystemTime::UNIX_EPOCH + Duration::from_nanos(nanos));
    }
    if present & CORRELATION != 0 {
        metadata.correlation = Some(u128::from_le_bytes(take(&mut block)?));
    }
    if present & CAUSATION != 0 {
        metadata.causation = Some(u128::from_le_bytes(take(&mut block)?));
    }
    if present & ACTOR != 0 {
        let actor = std::str::from_utf8(block)
            .map_err(|error| format!("the metadata's actor is not UTF-8: {error}"))?;
        metadata.actor = Some(actor.to_string());
    } else if !block.is_empty() {
        return Err(format!("{} unexpected bytes in metadata", block.len()));
    }
    Ok((metadata, after))
}

fn take<const N: usize>(block: &mut &[u8]) -> Result<[u8; N], String> {
    let Some((field, rest)) = block.split_first_chunk::<N>() else {
        return Err("metadata cut short".into());
    };
    *block = rest;
    Ok(*field)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips_with_any_fields() {
        let time = SystemTime::UNIX_EPOCH + Duration::from_nanos(1_764_000_000_123_456_789);
        let full = Metadata::new()
            .actor("ålice")
            .correlation(u128::MAX)
            .causation(3)
            .accepted(time);
        for metadata in [
            Metadata::new(),
            full.clone(),
            Metadata::new().actor(""),
            Metadata::new().causation(9),
        ] {
            let mut out = vec![0xaa];
            encode(&metadata, &mut out).unwrap();
            out.extend_from_slice(b"event");
            let (read, rest) = decode(&out[1..]).unwrap();
            assert_eq!((read, rest), (metadata, &b"event"[..]));
        }
    }

    #[test]
    fn bad_metadata_is_an_error_not_a_guess() {
        let mut out = Vec::new();
        encode(&Metadata::new().correlation(1), &mut out).unwrap();
        assert!(decode(&out[..out.len() - 1]).is_err(), "cut short");
        let mut newer = out.clone();
        newer[2] |= 1 << 7;
        assert!(decode(&newer).unwrap_err().contains("newer seqlane"));
        let long = Metadata::new().actor("x".repeat(MAX_LEN));
        let mut out = vec![1, 2];
        assert!(encode(&long, &mut out).unwrap_err().contains("at most"));
        assert_eq!(out, [1, 2], "nothing left behind");
    }
}
