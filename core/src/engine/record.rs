//! How the engine lays its records out in the journal.
//!
//! Every record is one event of one command, a marker for a command that has an
//! id or metadata but no events, a rejected command's id with its encoded rejection, or a
//! schema declaration. The journal record's tag carries
//! flags in its low byte and, for an event, the id of the event's schema in its
//! upper 24 bits (see [`schema`](crate::engine::schema)); the payload is the
//! command id (16 bytes, little-endian) when `HAS_ID` is set, then the command's
//! metadata when `META` is set (on a command's first record only; see
//! [`metadata::encode`]), followed by the event's encoding (by the engine's codec)
//! when `EVENT` is set, or the rejection's encoding (by
//! [`Aggregate::encode_rejection`](crate::Aggregate::encode_rejection)) when
//! `REJECTED` is set. `FIRST` and `LAST`
//! bracket a command's records, so replay applies a command only if it finds all of
//! them (a crash can cut a batch of records anywhere). A `SCHEMA` record stands
//! alone: its payload declares a schema (name, version, fingerprint).

use seqlane_journal::Codec;

use crate::engine::domain::CommandId;
use crate::engine::metadata::{self, Metadata};
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
/// The payload holds the command's metadata (after the id, if any).
pub(crate) const META: u32 = 1 << 6;
const KNOWN: u32 = EVENT | HAS_ID | FIRST | LAST | SCHEMA | REJECTED | META;
const FLAGS: u32 = 0xff;
const SCHEMA_SHIFT: u32 = 8;
/// The length of a command id in a payload.
pub(crate) const ID_LEN: usize = 16;

/// What a command's records say besides their events: its id, and its metadata
/// (journaled with its first record).
#[derive(Clone, Copy, Default)]
pub(crate) struct About<'a> {
    pub(crate) id: Option<CommandId>,
    pub(crate) metadata: Option<&'a Metadata>,
}

impl About<'_> {
    /// Whether the command leaves a record even without events.
    pub(crate) fn is_recorded(&self) -> bool {
        self.id.is_some() || self.metadata.is_some()
    }
}

/// Appends a record's payload to `out` and returns its tag: the id on every record,
/// the metadata on the first; the error says why the record cannot be journaled.
pub(crate) fn encode<E, C: Codec<E>>(
    codec: &C,
    schema_id: u32,
    event: Option<&E>,
    about: About<'_>,
    first: bool,
    last: bool,
    out: &mut Vec<u8>,
) -> Result<u32, String> {
    let mut tag = 0;
    if let Some(id) = about.id {
        tag |= HAS_ID;
        out.extend_from_slice(&id.0.to_le_bytes());
    }
    if let (Some(metadata), true) = (about.metadata, first) {
        tag |= META;
        metadata::encode(metadata, out)?;
    }
    if let Some(event) = event {
        tag |= EVENT | schema_id << SCHEMA_SHIFT;
        codec
            .encode(event, out)
            .map_err(|error| error.to_string())?;
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
    about: About<'_>,
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
            about,
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

/// Appends the payload of a rejected command's record to `out` and returns its tag
/// (its metadata too, if it has any and it fits in `max_payload` with the rest).
pub(crate) fn encode_rejection(
    id: CommandId,
    metadata: Option<&Metadata>,
    rejection: &[u8],
    max_payload: usize,
    out: &mut Vec<u8>,
) -> u32 {
    let mut tag = HAS_ID | REJECTED | FIRST | LAST;
    let start = out.len();
    out.extend_from_slice(&id.0.to_le_bytes());
    if let Some(metadata) = metadata {
        let before = out.len();
        let fits = metadata::encode(metadata, out).is_ok()
            && out.len() - start + rejection.len() <= max_payload;
        if fits {
            tag |= META;
        } else {
            // The rejection is journaled for the id's sake, without metadata.
            out.truncate(before);
        }
    }
    out.extend_from_slice(rejection);
    tag
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
    /// The command's metadata (on its first record).
    pub(crate) metadata: Option<Metadata>,
    /// A rejected command's encoded rejection.
    pub(crate) rejection: Option<Vec<u8>>,
    pub(crate) first: bool,
    pub(crate) last: bool,
}

/// What kind of engine record a journal record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordKind {
    /// One of a command's events, encoded by the engine's codec under the event
    /// schema with this id (declared by an earlier [`RecordKind::Schema`] record).
    Event {
        /// The id of the event's schema.
        schema: u32,
    },
    /// A command with no events, recorded for its id or its metadata.
    Marker,
    /// A rejected command's id and its rejection, as
    /// [`Aggregate::encode_rejection`](crate::Aggregate::encode_rejection) made it.
    Rejection,
    /// A declaration of an event schema (name, version, fingerprint).
    Schema,
}

/// A journal record as the engine laid it out, for tools that read an engine's
/// journal (the `seqlane` command-line tool, exporters): what kind it is, the
/// command's id and metadata, and the bytes left for the codec.
///
/// # Examples
///
/// ```no_run
/// use seqlane::RecordView;
/// use seqlane_journal::Reader;
///
/// let mut reader = Reader::open(std::path::Path::new("journal"), 0)?;
/// while let Some(record) = reader.next_record()? {
///     let view = RecordView::parse(record.tag, record.payload)?;
///     if let Some(actor) = view.metadata.as_ref().and_then(|m| m.actor.as_deref()) {
///         println!("{}: {:?} by {actor}", record.sequence, view.kind);
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordView<'a> {
    /// What the record holds.
    pub kind: RecordKind,
    /// The command's id, if it has one (on each of its records).
    pub command: Option<CommandId>,
    /// The command's metadata, if it has any (on its first record).
    pub metadata: Option<Metadata>,
    /// The command's first record.
    pub first: bool,
    /// The command's last record.
    pub last: bool,
    /// The event's encoding, the rejection's, or the schema declaration; empty
    /// for a marker.
    pub body: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// Reads the layout of a record with `tag` and `payload`; the error says why it
    /// is not an engine record.
    ///
    /// # Errors
    ///
    /// When the tag or payload is not one the engine writes (another program's
    /// journal, a newer seqlane's record, or damage).
    pub fn parse(tag: u32, payload: &'a [u8]) -> Result<Self, String> {
        let flags = tag & FLAGS;
        if flags & !KNOWN != 0 || flags & (EVENT | HAS_ID | SCHEMA | META) == 0 {
            return Err(format!(
                "tag {tag:#x} is not an engine record (a journal written by something else, \
                 or by a newer seqlane?)"
            ));
        }
        if flags == SCHEMA {
            return Ok(Self {
                kind: RecordKind::Schema,
                command: None,
                metadata: None,
                first: false,
                last: false,
                body: payload,
            });
        }
        if flags & SCHEMA != 0 {
            return Err(format!(
                "tag {tag:#x} mixes a schema declaration with a command"
            ));
        }
        if flags & REJECTED != 0 && flags & !META != HAS_ID | REJECTED | FIRST | LAST {
            return Err(format!(
                "tag {tag:#x} marks a rejection without being one command's only record"
            ));
        }
        let (command, rest) = if tag & HAS_ID != 0 {
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
        let (metadata, body) = if tag & META != 0 {
            if tag & FIRST == 0 {
                return Err(format!(
                    "tag {tag:#x} carries metadata on a command's later record"
                ));
            }
            let (metadata, rest) = metadata::decode(rest)?;
            (Some(metadata), rest)
        } else {
            (None, rest)
        };
        let kind = if tag & REJECTED != 0 {
            RecordKind::Rejection
        } else if tag & EVENT != 0 {
            RecordKind::Event {
                schema: tag >> SCHEMA_SHIFT,
            }
        } else if body.is_empty() {
            RecordKind::Marker
        } else {
            return Err(format!("{} unexpected bytes after a marker", body.len()));
        };
        Ok(Self {
            kind,
            command,
            metadata,
            first: tag & FIRST != 0,
            last: tag & LAST != 0,
            body,
        })
    }
}

/// Decodes a record written by [`encode`], [`encode_rejection`] or
/// [`declaration`]; the error says what is wrong with it.
pub(crate) fn decode<E, C: Codec<E>>(
    codec: &C,
    schemas: &Schemas<E>,
    tag: u32,
    payload: &[u8],
) -> Result<Found<E>, ReplayCause> {
    let view = RecordView::parse(tag, payload).map_err(ReplayCause::NotAnEngineRecord)?;
    let mut event = None;
    let mut upcast = Vec::new();
    let mut rejection = None;
    match view.kind {
        RecordKind::Schema => {
            return EventSchema::decode(view.body)
                .map(Found::Schema)
                .map_err(ReplayCause::NotAnEngineRecord);
        }
        RecordKind::Rejection => rejection = Some(view.body.to_vec()),
        RecordKind::Event { schema } => {
            match schemas.reading(schema)? {
                Reading::Current => {
                    event = Some(codec.decode(view.body).map_err(|error| {
                        ReplayCause::Undecodable {
                            running: schemas.running.clone(),
                            message: error.to_string(),
                        }
                    })?);
                }
                Reading::Upcast(upcaster) => upcast = upcaster.convert(view.body)?,
            }
        }
        RecordKind::Marker => {}
    }
    Ok(Found::Command(Decoded {
        event,
        upcast,
        id: view.command,
        metadata: view.metadata,
        rejection,
        first: view.first,
        last: view.last,
    }))
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use seqlane_journal::Postcard;

    fn by(actor: &str) -> Metadata {
        Metadata::new().actor(actor).correlation(5)
    }

    #[test]
    fn metadata_rides_on_a_commands_first_record_only() {
        let metadata = by("alice");
        let about = About {
            id: Some(CommandId(9)),
            metadata: Some(&metadata),
        };
        let mut records = vec![(0, Vec::new()), (0, Vec::new())];
        encode_command(&Postcard, 3, &[1u64, 2], about, &mut records, 1 << 16).unwrap();
        let first = RecordView::parse(records[0].0, &records[0].1).unwrap();
        let second = RecordView::parse(records[1].0, &records[1].1).unwrap();
        assert_eq!(first.kind, RecordKind::Event { schema: 3 });
        assert_eq!(first.metadata.as_ref(), Some(&metadata));
        assert_eq!((first.first, first.last), (true, false));
        assert_eq!(second.command, Some(CommandId(9)));
        assert_eq!(second.metadata, None);
        // Postcard's varints of the events 1 and 2.
        assert_eq!((first.body, second.body), (&[1u8][..], &[2u8][..]));
        // Metadata on a later record is not something the engine writes.
        let forged = records[1].0 | META;
        let mut payload = records[1].1[..ID_LEN].to_vec();
        metadata::encode(&metadata, &mut payload).unwrap();
        assert!(RecordView::parse(forged, &payload)
            .unwrap_err()
            .contains("later record"));
    }

    #[test]
    fn a_rejection_keeps_its_metadata_when_it_fits() {
        let metadata = by("bob");
        let mut out = Vec::new();
        let tag = encode_rejection(CommandId(4), Some(&metadata), b"no", 1 << 16, &mut out);
        let view = RecordView::parse(tag, &out).unwrap();
        assert_eq!(view.kind, RecordKind::Rejection);
        assert_eq!(
            (view.metadata, view.body),
            (Some(metadata.clone()), &b"no"[..])
        );
        // Too long for the record with the rejection: journaled without it.
        let mut out = Vec::new();
        let tag = encode_rejection(CommandId(4), Some(&metadata), b"no", ID_LEN + 2, &mut out);
        let view = RecordView::parse(tag, &out).unwrap();
        assert_eq!((view.metadata, view.body), (None, &b"no"[..]));
    }
}
