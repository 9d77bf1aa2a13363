//! How the engine lays its records out in the journal.
//!
//! Every record is one event of one command, or a marker for a command that has an
//! id but no events. The journal record's tag carries flags; the payload is the
//! command id (16 bytes, little-endian) when `HAS_ID` is set, followed by the
//! event's encoding (by the engine's codec) when `EVENT` is set. `FIRST` and `LAST`
//! bracket a command's records, so replay applies a command only if it finds all of
//! them (a crash can cut a batch of records anywhere).

use seqlane_journal::{Codec, JournalError};

use crate::engine::domain::CommandId;

/// The record holds an event.
pub(crate) const EVENT: u32 = 1;
/// The payload starts with the command's id.
pub(crate) const HAS_ID: u32 = 1 << 1;
/// The command's first record.
pub(crate) const FIRST: u32 = 1 << 2;
/// The command's last record.
pub(crate) const LAST: u32 = 1 << 3;
const KNOWN: u32 = EVENT | HAS_ID | FIRST | LAST;
const ID_LEN: usize = 16;

/// Appends a record's payload to `out` and returns its tag.
pub(crate) fn encode<E, C: Codec<E>>(
    codec: &C,
    event: Option<&E>,
    id: Option<CommandId>,
    first: bool,
    last: bool,
    out: &mut Vec<u8>,
) -> Result<u32, JournalError> {
    let mut tag = 0;
    if let Some(id) = id {
        tag |= HAS_ID;
        out.extend_from_slice(&id.0.to_le_bytes());
    }
    if let Some(event) = event {
        tag |= EVENT;
        codec.encode(event, out)?;
    }
    if first {
        tag |= FIRST;
    }
    if last {
        tag |= LAST;
    }
    Ok(tag)
}

/// One record as replay sees it.
pub(crate) struct Decoded<E> {
    pub(crate) event: Option<E>,
    pub(crate) id: Option<CommandId>,
    pub(crate) first: bool,
    pub(crate) last: bool,
}

/// Decodes a record written by [`encode`]; the error says what is wrong with it.
pub(crate) fn decode<E, C: Codec<E>>(
    codec: &C,
    tag: u32,
    payload: &[u8],
) -> Result<Decoded<E>, String> {
    if tag & !KNOWN != 0 || tag & (EVENT | HAS_ID) == 0 {
        return Err(format!(
            "tag {tag:#x} is not an engine record (a journal written by something else?)"
        ));
    }
    let (id, rest) = if tag & HAS_ID != 0 {
        let Some((id, rest)) = payload.split_first_chunk::<ID_LEN>() else {
            return Err(format!(
                "{} payload bytes, too short for a command id",
                payload.len()
            ));
        };
        (Some(CommandId(u128::from_le_bytes(*id))), rest)
    } else {
        (None, payload)
    };
    let event = if tag & EVENT != 0 {
        Some(codec.decode(rest).map_err(|error| error.to_string())?)
    } else if rest.is_empty() {
        None
    } else {
        return Err(format!("{} unexpected bytes after a marker", rest.len()));
    };
    Ok(Decoded {
        event,
        id,
        first: tag & FIRST != 0,
        last: tag & LAST != 0,
    })
}
