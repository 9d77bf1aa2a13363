//! An engine's journal records turned back into its events one record at a time,
//! as replay reads them, for consumers outside the engine: projections on other
//! machines fed from an exported stream, tools.

use seqlane_journal::{Codec, Postcard};

use crate::engine::domain::CommandId;
use crate::engine::metadata::Metadata;
use crate::engine::record::{self, Decoded, Found};
use crate::engine::schema::{self, EventSchema, ReplayCause, Schemas, Upcaster};

/// One command's events, handed out once its last record is read.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Committed<E> {
    /// The events with the sequences of their records, in order (an upcaster may
    /// make several, or none, of one record). Empty for a rejection or a command
    /// without events.
    pub events: Vec<(u64, E)>,
    /// The command's id, if it had one.
    pub command: Option<CommandId>,
    /// The command's metadata, if it carried any.
    pub metadata: Option<Metadata>,
}

/// Reads an engine's journal records in journal order and hands out each
/// command's events once all its records are read, decoding as the engine's replay
/// does: the running event schema through the codec, older ones through
/// upcasters, anything else refused with the same [`ReplayCause`] a start would
/// give. A command whose records were cut short (a crash tore its batch) is
/// dropped, as replay drops it.
///
/// Configure it as the engine is configured (the same
/// [`event_schema`](crate::EngineBuilder::event_schema), codec and upcasters).
///
/// # Examples
///
/// ```
/// use seqlane::{Aggregate, EngineBuilder, EventDecoder};
/// use seqlane_journal::Reader;
///
/// #[derive(Default)]
/// struct Counter(u64);
/// impl Aggregate for Counter {
///     type Command = u64;
///     type Event = u64;
///     type Rejection = ();
///     fn decide(&self, n: &u64, events: &mut Vec<u64>) -> Result<(), ()> {
///         events.push(*n);
///         Ok(())
///     }
///     fn apply(&mut self, n: &u64) {
///         self.0 += n;
///     }
/// }
///
/// # if cfg!(miri) { return Ok(()); } // Miri cannot map files
/// let dir = tempfile::tempdir()?;
/// let engine = EngineBuilder::new(dir.path(), Counter::default()).start()?;
/// engine.gateway().send(5)?;
/// engine.gateway().send(7)?;
/// engine.shutdown()?;
///
/// let mut decoder = EventDecoder::<u64>::new();
/// let mut reader = Reader::open(dir.path(), 0)?;
/// let mut events = Vec::new();
/// while let Some(record) = reader.next_record()? {
///     if let Some(command) = decoder.push(record.sequence, record.tag, record.payload)? {
///         events.extend(command.events.into_iter().map(|(_, event)| event));
///     }
/// }
/// assert_eq!(events, [5, 7]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct EventDecoder<E, C = Postcard> {
    codec: C,
    schemas: Schemas<E>,
    /// The records of the command being read, until its last one.
    pending: Vec<(u64, Decoded<E>)>,
    discarded: u64,
}

impl<E> EventDecoder<E, Postcard>
where
    Postcard: Codec<E>,
{
    /// A decoder with the engine's defaults: [`Postcard`], the event type's name
    /// without its path, version 1.
    pub fn new() -> Self {
        Self::with_codec(Postcard)
    }
}

impl<E> Default for EventDecoder<E, Postcard>
where
    Postcard: Codec<E>,
{
    fn default() -> Self {
        Self::new()
    }
}

impl<E, C: Codec<E>> EventDecoder<E, C> {
    /// A decoder of events encoded with `codec`.
    pub fn with_codec(codec: C) -> Self {
        let running = EventSchema::of(&codec, &schema::short_type_name::<E>(), 1);
        EventDecoder {
            codec,
            schemas: Schemas::new(running, Vec::new()),
            pending: Vec::new(),
            discarded: 0,
        }
    }

    /// The event schema's name and version, as given to
    /// [`EngineBuilder::event_schema`](crate::EngineBuilder::event_schema).
    pub fn event_schema(mut self, name: &str, version: u32) -> Self {
        let running = EventSchema::of(&self.codec, name, version);
        self.schemas = self.schemas.with_running(running);
        self
    }

    /// Reads events of an older schema, as
    /// [`EngineBuilder::upcast`](crate::EngineBuilder::upcast) does.
    pub fn upcast<Old>(
        mut self,
        name: &str,
        version: u32,
        convert: impl Fn(Old) -> Vec<E> + Send + Sync + 'static,
    ) -> Self
    where
        Postcard: Codec<Old>,
    {
        self.schemas
            .add_upcaster(Upcaster::typed(name, version, convert));
        self
    }

    /// Reads the record at `sequence`; returns its command's events when it is the
    /// command's last record. Records must come in journal order, each once.
    ///
    /// # Errors
    ///
    /// The record is not an engine's, or its event cannot be read by this
    /// configuration: the [`ReplayCause`] the engine's start would give.
    pub fn push(
        &mut self,
        sequence: u64,
        tag: u32,
        payload: &[u8],
    ) -> Result<Option<Committed<E>>, ReplayCause> {
        let decoded = match record::decode(&self.codec, &self.schemas, tag, payload)? {
            Found::Command(decoded) => decoded,
            Found::Schema(schema) => {
                // Declarations stand between sessions: a command still pending
                // here was cut short by a crash.
                self.discard();
                self.schemas.declare(schema);
                return Ok(None);
            }
        };
        if decoded.first != self.pending.is_empty() {
            // A command cut short, followed by the next session's records; or a
            // record without its command's start.
            self.discard();
            if !decoded.first {
                self.discarded += 1;
                return Ok(None);
            }
        }
        let last = decoded.last;
        self.pending.push((sequence, decoded));
        if !last {
            return Ok(None);
        }
        let mut committed = Committed {
            events: Vec::new(),
            command: self.pending[0].1.id,
            metadata: self.pending[0].1.metadata.take(),
        };
        for (sequence, decoded) in self.pending.drain(..) {
            let events = decoded.event.into_iter().chain(decoded.upcast);
            committed
                .events
                .extend(events.map(|event| (sequence, event)));
        }
        Ok(Some(committed))
    }

    /// Whether the records read so far end with a whole command (or a
    /// declaration): a consumer that keeps a position keeps one from here.
    pub fn between_commands(&self) -> bool {
        self.pending.is_empty()
    }

    /// Forgets a command read in part, to read again from a position kept between
    /// commands (after a consumer's failure, say).
    pub fn reset(&mut self) {
        self.pending.clear();
    }

    /// Records dropped because their command was cut short.
    pub fn discarded(&self) -> u64 {
        self.discarded
    }

    fn discard(&mut self) {
        self.discarded += self.pending.len() as u64;
        self.pending.clear();
    }
}

impl<E, C> std::fmt::Debug for EventDecoder<E, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventDecoder")
            .field("running", &self.schemas.running)
            .field("pending", &self.pending.len())
            .field("discarded", &self.discarded)
            .finish_non_exhaustive()
    }
}
