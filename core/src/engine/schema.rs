//! Event schemas: which type and version wrote each journaled event, and how
//! events of older schemas are read.
//!
//! Every event record carries a 24-bit *schema id* in its tag: a hash of the event
//! type's declared name, its declared version and the codec's fingerprint of the
//! type (see [`Codec::fingerprint`]). The first time an engine runs with a schema,
//! it journals a declaration record (name, version, fingerprint) before any event
//! of it, so that errors can name what wrote a record. Replay decodes an event
//! only with the schema that wrote it: the running one, or an upcaster registered
//! for the old one with [`EngineBuilder::upcast`](crate::EngineBuilder::upcast).
//! Anything else stops the start with [`EngineError::Replay`](crate::EngineError)
//! naming both schemas, never a wrong state.

use std::collections::HashMap;

use seqlane_journal::{fnv1a64, Codec, Postcard};

/// What is wrong with a journal record the engine cannot replay
/// ([`EngineError::Replay`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayCause {
    /// Not a record an engine writes (a journal written by something else, or by
    /// a newer seqlane), or a malformed one: what is wrong with it.
    NotAnEngineRecord(String),
    /// Its event was written under another schema than the one the running code
    /// reads, and no upcaster converts it.
    UnknownSchema {
        /// What wrote it: the declared schema, or why none is known.
        written: String,
        /// What the running code reads.
        running: EventSchema,
        /// The written schema has the running type's name and version: the type
        /// changed without a new version.
        unversioned_change: bool,
    },
    /// The event's bytes do not decode as the running type: the codec's message.
    Undecodable {
        /// The running event schema.
        running: EventSchema,
        /// The codec's error.
        message: String,
    },
    /// The upcaster registered for its schema failed.
    UpcastFailed {
        /// The schema it converts from.
        from: EventSchema,
        /// The upcaster's error.
        message: String,
    },
    /// `apply` panicked replaying its event: the panic message.
    ApplyPanicked(String),
}

impl std::fmt::Display for ReplayCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayCause::NotAnEngineRecord(reason) => f.write_str(reason),
            ReplayCause::UnknownSchema {
                written,
                running,
                unversioned_change,
            } => {
                write!(
                    f,
                    "its event was written as {written}; this engine reads {running}."
                )?;
                f.write_str(if *unversioned_change {
                    " The type changed without a new version: give it a new version with \
                     EngineBuilder::event_schema and register the old definition with \
                     EngineBuilder::upcast."
                } else {
                    " Register an upcaster for it with EngineBuilder::upcast, or run the code \
                     that wrote it."
                })
            }
            ReplayCause::Undecodable { running, message } => {
                write!(f, "{message} (decoding a {running} event)")
            }
            ReplayCause::UpcastFailed { from, message } => {
                write!(f, "upcasting from {from}: {message}")
            }
            ReplayCause::ApplyPanicked(message) => write!(f, "apply panicked: {message}"),
        }
    }
}

impl std::error::Error for ReplayCause {}

/// The type and version of an engine's events, as journaled with each of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventSchema {
    /// The declared name of the event type.
    pub name: String,
    /// The declared version of its encoding.
    pub version: u32,
    /// The codec's fingerprint of the type, if it has one.
    pub fingerprint: Option<u64>,
}

impl EventSchema {
    /// The schema of `E` under `codec`, with the given name and version.
    pub fn of<E, C: Codec<E>>(codec: &C, name: &str, version: u32) -> Self {
        EventSchema {
            name: name.to_owned(),
            version,
            fingerprint: codec.fingerprint(),
        }
    }

    /// The 24-bit id records carry (never 0, which marks records written before
    /// events carried schemas).
    pub(crate) fn id(&self) -> u32 {
        // The declaration's bytes hold exactly the name, version and fingerprint.
        let hash = fnv1a64(&self.encode());
        let id = ((hash >> 40) ^ hash) as u32 & 0x00ff_ffff;
        id.max(1)
    }

    /// The declaration record's payload.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.name.len() + 16);
        out.extend_from_slice(&(self.name.len() as u32).to_le_bytes());
        out.extend_from_slice(self.name.as_bytes());
        out.extend_from_slice(&self.version.to_le_bytes());
        match self.fingerprint {
            Some(fingerprint) => {
                out.push(1);
                out.extend_from_slice(&fingerprint.to_le_bytes());
            }
            None => out.push(0),
        }
        out
    }

    /// Reads a declaration record's payload.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let bad = || format!("a schema declaration of {} bytes is malformed", bytes.len());
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(bad)?;
        let len = u32::from_le_bytes(*len) as usize;
        let name = rest.get(..len).ok_or_else(bad)?;
        let name = std::str::from_utf8(name).map_err(|_| bad())?.to_owned();
        let rest = &rest[len..];
        let (version, rest) = rest.split_first_chunk::<4>().ok_or_else(bad)?;
        let fingerprint = match rest {
            [0] => None,
            [1, tail @ ..] if tail.len() == 8 => {
                Some(u64::from_le_bytes(tail.try_into().expect("8 bytes")))
            }
            _ => return Err(bad()),
        };
        Ok(EventSchema {
            name,
            version: u32::from_le_bytes(*version),
            fingerprint,
        })
    }
}

impl std::fmt::Display for EventSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} v{}", self.name, self.version)?;
        match self.fingerprint {
            Some(fingerprint) => write!(
                f,
                " (fingerprint {fingerprint:016x}, schema {:06x})",
                self.id()
            ),
            None => write!(f, " (no fingerprint, schema {:06x})", self.id()),
        }
    }
}

/// Turns one stored event of an old schema into events of the running type.
type Convert<E> = Box<dyn Fn(&[u8]) -> Result<Vec<E>, String> + Send + Sync>;

/// An upcaster: the old schema, and how its events become today's.
pub(crate) struct Upcaster<E> {
    pub(crate) from: EventSchema,
    convert: Convert<E>,
}

impl<E> Upcaster<E> {
    /// Decodes a stored event as `Old` with [`Postcard`] and converts it.
    pub(crate) fn typed<Old>(
        name: &str,
        version: u32,
        convert: impl Fn(Old) -> Vec<E> + Send + Sync + 'static,
    ) -> Self
    where
        Postcard: Codec<Old>,
    {
        Upcaster {
            from: EventSchema::of::<Old, _>(&Postcard, name, version),
            convert: Box::new(move |bytes| {
                Codec::<Old>::decode(&Postcard, bytes)
                    .map(&convert)
                    .map_err(|error| error.to_string())
            }),
        }
    }
}

/// What replay knows of schemas: the running one, the upcasters, and the
/// declarations found in the journal.
pub(crate) struct Schemas<E> {
    pub(crate) running: EventSchema,
    pub(crate) running_id: u32,
    upcasters: HashMap<u32, Upcaster<E>>,
    /// Declarations read from the journal so far, by id.
    declared: HashMap<u32, EventSchema>,
}

/// How one stored event is to be read.
pub(crate) enum Reading<'a, E> {
    /// With the engine's codec: it was written by the running schema.
    Current,
    /// Through an upcaster.
    Upcast(&'a Upcaster<E>),
}

impl<E> Schemas<E> {
    pub(crate) fn new(running: EventSchema, upcasters: Vec<Upcaster<E>>) -> Self {
        Schemas {
            running_id: running.id(),
            running,
            upcasters: upcasters
                .into_iter()
                .map(|upcaster| (upcaster.from.id(), upcaster))
                .collect(),
            declared: HashMap::new(),
        }
    }

    /// The same upcasters and declarations, another running schema.
    pub(crate) fn with_running(self, running: EventSchema) -> Self {
        Schemas {
            running_id: running.id(),
            running,
            ..self
        }
    }

    pub(crate) fn add_upcaster(&mut self, upcaster: Upcaster<E>) {
        self.upcasters.insert(upcaster.from.id(), upcaster);
    }

    pub(crate) fn declare(&mut self, schema: EventSchema) {
        self.declared.insert(schema.id(), schema);
    }

    /// Whether the journal declared the running schema (else start declares it).
    pub(crate) fn running_declared(&self) -> bool {
        self.declared.contains_key(&self.running_id)
    }

    /// How to read an event of schema `id`; the error says what wrote it and what
    /// to do.
    pub(crate) fn reading(&self, id: u32) -> Result<Reading<'_, E>, ReplayCause> {
        if id == self.running_id {
            return Ok(Reading::Current);
        }
        if let Some(upcaster) = self.upcasters.get(&id) {
            return Ok(Reading::Upcast(upcaster));
        }
        let written = match (id, self.declared.get(&id)) {
            (0, _) => "without a schema (journaled before events carried one)".to_owned(),
            (_, Some(schema)) => format!("{schema}"),
            (_, None) => {
                format!("schema {id:06x}, whose declaration is not in the journal")
            }
        };
        let unversioned_change = self.declared.get(&id).is_some_and(|schema| {
            schema.name == self.running.name && schema.version == self.running.version
        });
        Err(ReplayCause::UnknownSchema {
            written,
            running: self.running.clone(),
            unversioned_change,
        })
    }
}

impl<E> Upcaster<E> {
    pub(crate) fn convert(&self, bytes: &[u8]) -> Result<Vec<E>, ReplayCause> {
        (self.convert)(bytes).map_err(|message| ReplayCause::UpcastFailed {
            from: self.from.clone(),
            message,
        })
    }
}

/// The short name of a type: its path's last segment, generics kept.
pub(crate) fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    let start = base.rfind("::").map_or(0, |at| at + 2);
    full[start..].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations_round_trip_and_ids_differ_by_every_part() {
        let schema = EventSchema {
            name: "Event".into(),
            version: 3,
            fingerprint: Some(42),
        };
        assert_eq!(EventSchema::decode(&schema.encode()), Ok(schema.clone()));
        let unfingerprinted = EventSchema {
            fingerprint: None,
            ..schema.clone()
        };
        assert_eq!(
            EventSchema::decode(&unfingerprinted.encode()),
            Ok(unfingerprinted.clone())
        );
        let renamed = EventSchema {
            name: "Other".into(),
            ..schema.clone()
        };
        let bumped = EventSchema {
            version: 4,
            ..schema.clone()
        };
        let ids = [&schema, &unfingerprinted, &renamed, &bumped].map(EventSchema::id);
        for (i, a) in ids.iter().enumerate() {
            assert!(*a != 0 && *a < 1 << 24);
            for b in &ids[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(EventSchema::decode(&[1, 2, 3]).is_err());
    }

    #[test]
    fn short_type_names_drop_the_path() {
        assert_eq!(short_type_name::<std::string::String>(), "String");
        assert_eq!(short_type_name::<Vec<u8>>(), "Vec<u8>");
    }
}
