//! How the engine lays its records out in the journal.
//!
//! Every record is one event of one command, a marker for a command that has an
//! id but no events, a rejected command's id with its encoded rejection, or a
//! schema declaration. The journal record's tag carries
//! flags in its low byte and, for an event, the id of the event's schema in its
//! upper 24 bits (see [`schema`](crate::engine::schema)); the payload is the
//! command id (16 bytes, little-endian) when `HAS_ID` is set, followed by the
//! event's encoding (by the engine's codec) when `EVENT` is set, or the rejection's
//! encoding (by [`Aggregate::encode_rejection`](crate::Aggregate::encode_rejection))
//! when `REJECTED` is set. `FIRST` and `LAST`
//! bracket a command's records, so replay applies a command only if it finds all of
//! them (a crash can cut a batch of records anywhere). A `SCHEMA` record stands
//! alone: its payload declares a schema (name, version, fingerprint).

use seqlane_journal::{Codec, JournalError};

use crate::engine::domain::CommandId;
use crate::engine::schema::{EventSchema, Reading, ReplayCause, Schemas};

/// The record holds an event.
pub(crate) const EVENT: u32 = 1;
/// The payload starts with the command's id.
pub(crate) const HAS_ID: u32 = 1 << 1;
/// The command's first record.
pub(crate) const FIRST: u32 = 1 << 2;
/// The command's last record.
pub(crate) const LAST: u32 = 1 << 3;
/// A schema declaration.
pub(crate) const SCHEMA: u32 = 1 << 4;
/// A rejected command: its id and its rejection (one record, `FIRST | LAST`).
pub(crate) const REJECTED: u32 = 1 << 5;
const KNOWN: u32 = EVENT | HAS_ID | FIRST | LAST | SCHEMA | REJECTED;
const FLAGS: u32 = 0xff;
const SCHEMA_SHIFT: u32 = 8;
/// The length of a command id in a payload.
pub(crate) const ID_LEN: usize = 16;

/// Appends a record's payload to `out` and returns its tag.
pub(crate) fn encode<E, C: Codec<E>>(
    codec: &C,
    schema_id: u32,
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
        tag |= EVENT | schema_id << SCHEMA_SHIFT;
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

/// Encodes a command's journal records (its `events`, or one marker for an id
/// without events) into `records`, one per record; the error says why one cannot
/// be journaled.
pub(crate) fn encode_command<E, C: Codec<E>>(
    codec: &C,
    schema_id: u32,
    events: &[E],
    id: Option<CommandId>,
    records: &mut [(u32, Vec<u8>)],
    max_payload: usize,
) -> Result<(), String> {
    let count = records.len();
    for (index, (tag, payload)) in records.iter_mut().enumerate() {
        payload.clear();
        *tag = encode(
            codec,
            schema_id,
            events.get(index),
            id,
            index == 0,
            index + 1 == count,
            payload,
        )
        .map_err(|error| format!("record {} of {count}: {error}", index + 1))?;
        if payload.len() > max_payload {
            return Err(format!(
                "record {} of {count} takes {} bytes; a journal record holds at most \
                 {max_payload} (see JournalOptions::segment_size)",
                index + 1,
                payload.len(),
            ));
        }
    }
    Ok(())
}

/// Appends the payload of a rejected command's record to `out` and returns its tag.
pub(crate) fn encode_rejection(id: CommandId, rejection: &[u8], out: &mut Vec<u8>) -> u32 {
    out.extend_from_slice(&id.0.to_le_bytes());
    out.extend_from_slice(rejection);
    HAS_ID | REJECTED | FIRST | LAST
}

/// The tag and payload of a declaration of `schema`.
pub(crate) fn declaration(schema: &EventSchema) -> (u32, Vec<u8>) {
    (SCHEMA, schema.encode())
}

/// Whether a record with `tag` is a schema declaration.
pub(crate) fn is_declaration(tag: u32) -> bool {
    tag & FLAGS == SCHEMA
}

/// A record as replay sees it.
pub(crate) enum Found<E> {
    /// A command's record.
    Command(Decoded<E>),
    /// A schema declaration.
    Schema(EventSchema),
}

/// One command record as replay sees it.
pub(crate) struct Decoded<E> {
    /// The event, decoded with the running schema.
    pub(crate) event: Option<E>,
    /// The events an upcaster made of an older schema's event.
    pub(crate) upcast: Vec<E>,
    pub(crate) id: Option<CommandId>,
    /// A rejected command's encoded rejection.
    pub(crate) rejection: Option<Vec<u8>>,
    pub(crate) first: bool,
    pub(crate) last: bool,
}

/// Decodes a record written by [`encode`] or [`declaration`]; the error says what
/// is wrong with it.
pub(crate) fn decode<E, C: Codec<E>>(
    codec: &C,
    schemas: &Schemas<E>,
    tag: u32,
    payload: &[u8],
) -> Result<Found<E>, ReplayCause> {
    let malformed = ReplayCause::NotAnEngineRecord;
    let flags = tag & FLAGS;
    if flags & !KNOWN != 0 || flags & (EVENT | HAS_ID | SCHEMA) == 0 {
        return Err(malformed(format!(
            "tag {tag:#x} is not an engine record (a journal written by something else, \
             or by a newer seqlane?)"
        )));
    }
    if flags == SCHEMA {
        return EventSchema::decode(payload)
            .map(Found::Schema)
            .map_err(malformed);
    }
    if flags & SCHEMA != 0 {
        return Err(malformed(format!(
            "tag {tag:#x} mixes a schema declaration with a command"
        )));
    }
    if flags & REJECTED != 0 && flags != HAS_ID | REJECTED | FIRST | LAST {
        return Err(malformed(format!(
            "tag {tag:#x} marks a rejection without being one command's only record"
        )));
    }
    let (id, rest) = if tag & HAS_ID != 0 {
        let Some((id, rest)) = payload.split_first_chunk::<ID_LEN>() else {
            return Err(malformed(format!(
                "{} payload bytes, too short for a command id",
                payload.len()
            )));
        };
        (Some(CommandId(u128::from_le_bytes(*id))), rest)
    } else {
        (None, payload)
    };
    let mut event = None;
    let mut upcast = Vec::new();
    let mut rejection = None;
    if tag & REJECTED != 0 {
        rejection = Some(rest.to_vec());
    } else if tag & EVENT != 0 {
        match schemas.reading(tag >> SCHEMA_SHIFT)? {
            Reading::Current => {
                event = Some(
                    codec
                        .decode(rest)
                        .map_err(|error| ReplayCause::Undecodable {
                            running: schemas.running.clone(),
                            message: error.to_string(),
                        })?,
                );
            }
            Reading::Upcast(upcaster) => upcast = upcaster.convert(rest)?,
        }
    } else if !rest.is_empty() {
        return Err(malformed(format!(
            "{} unexpected bytes after a marker",
            rest.len()
        )));
    }
    Ok(Found::Command(Decoded {
        event,
        upcast,
        id,
        rejection,
        first: tag & FIRST != 0,
        last: tag & LAST != 0,
    }))
}
