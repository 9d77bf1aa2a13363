//! Payload encoding: the journal stores bytes; a codec turns the caller's values into
//! them and back.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{JournalError, Result};

/// Encodes values of `T` into payload bytes and decodes them back.
pub trait Codec<T> {
    /// Appends the encoding of `value` to `out`.
    ///
    /// # Errors
    ///
    /// [`JournalError::Codec`] when the value cannot be encoded.
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<()>;

    /// Decodes a value from a whole payload.
    ///
    /// # Errors
    ///
    /// [`JournalError::Codec`] when the bytes are not an encoding of a `T`.
    fn decode(&self, bytes: &[u8]) -> Result<T>;

    /// A fingerprint of how `T` is encoded: it changes when a change to `T` would
    /// change what stored bytes mean (a field added, a variant inserted, a `u64`
    /// become an `i64`, a type renamed). `None` (the default) when the codec cannot
    /// tell; then only the name and version the user declares guard the format.
    fn fingerprint(&self) -> Option<u64> {
        None
    }
}

/// FNV-1a, 64 bits: a small, stable hash for fingerprints (not for security).
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// [`postcard`]: a compact, stable, serde-based binary format. Works for any
/// `Serialize + DeserializeOwned` type.
///
/// # Examples
///
/// ```
/// use seqlane_journal::{Codec, Postcard};
///
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// enum Event {
///     Created { id: u64, name: String },
///     Removed { id: u64, count: u32 },
/// }
///
/// let event = Event::Created { id: 7, name: "widget".into() };
/// let mut bytes = Vec::new();
/// Postcard.encode(&event, &mut bytes)?;
/// let decoded: Event = Postcard.decode(&bytes)?;
/// assert_eq!(decoded, event);
/// # Ok::<(), seqlane_journal::JournalError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Postcard;

impl<T: Serialize + DeserializeOwned> Codec<T> for Postcard {
    fn encode(&self, value: &T, out: &mut Vec<u8>) -> Result<()> {
        postcard::serialize_with_flavor(value, Append(out))
            .map_err(|e| JournalError::Codec(e.to_string()))
    }

    fn decode(&self, bytes: &[u8]) -> Result<T> {
        postcard::from_bytes(bytes).map_err(|e| JournalError::Codec(e.to_string()))
    }

    /// The hash of `T`'s serde data model as [`serde_reflection`] traces it: every
    /// container's name, its fields in order and their formats, every enum's
    /// variants with their indices (postcard encodes variants by index). Nested
    /// enums are explored for a bounded number of passes; a type whose
    /// deserializer cannot be traced (custom validation) has no fingerprint.
    fn fingerprint(&self) -> Option<u64> {
        fingerprint_of::<T>()
    }
}

/// Postcard's output appended in place to the caller's buffer. The crate's own
/// `to_extend` moves the buffer in and out of its serializer and pushes each byte
/// through `Extend`, which cost the business logic as much as the rest of its
/// work per command (results/README.md).
struct Append<'a>(&'a mut Vec<u8>);

/// The longest slice `Append` copies byte by byte: a varint of a `u128`.
const SHORT: usize = 19;

impl postcard::ser_flavors::Flavor for Append<'_> {
    type Output = ();

    #[inline]
    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        self.0.push(data);
        Ok(())
    }

    /// Postcard hands over each integer as a varint it has just written, byte by
    /// byte, into a small buffer. A short slice is copied byte by byte: `memcpy`
    /// would read it with one wide load, which waits until those byte stores
    /// reach the cache (perf put a tenth of the business logic's samples there).
    #[inline]
    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        if data.len() <= SHORT {
            self.0.reserve(data.len());
            for &byte in data {
                self.0.push(byte);
            }
        } else {
            self.0.extend_from_slice(data);
        }
        Ok(())
    }

    fn finalize(self) -> postcard::Result<()> {
        Ok(())
    }
}

/// Passes over the type beyond the first, to reach the variants of nested enums.
const TRACE_PASSES: usize = 32;

fn fingerprint_of<T: DeserializeOwned>() -> Option<u64> {
    use serde_reflection::{Samples, Tracer, TracerConfig};
    let samples = Samples::new();
    let mut tracer = Tracer::new(TracerConfig::default());
    let (top, _) = tracer.trace_type::<T>(&samples).ok()?;
    for _ in 0..TRACE_PASSES {
        tracer.trace_type_once::<T>(&samples).ok()?;
    }
    let registry = tracer.registry_unchecked();
    let bytes = postcard::to_stdvec(&(top, registry)).ok()?;
    Some(fnv1a64(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    mod v1 {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Event {
            Deposited { amount: u64 },
            Withdrew { amount: u64 },
        }
    }
    mod inserted {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Event {
            Deposited { amount: u64 },
            Frozen,
            Withdrew { amount: u64 },
        }
    }
    mod signed {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Event {
            Deposited { amount: i64 },
            Withdrew { amount: i64 },
        }
    }
    mod field_added {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Event {
            Deposited {
                amount: u64,
                #[serde(default)]
                memo: String,
            },
            Withdrew {
                amount: u64,
            },
        }
    }
    mod renamed {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum AccountEvent {
            Deposited { amount: u64 },
            Withdrew { amount: u64 },
        }
    }
    mod nested {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Reason {
            Fee,
            Refund,
        }
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Event {
            Deposited { amount: u64, reason: Reason },
        }
    }
    mod nested_inserted {
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Reason {
            Fee,
            Bonus,
            Refund,
        }
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum Event {
            Deposited { amount: u64, reason: Reason },
        }
    }

    fn fp<T: serde::Serialize + DeserializeOwned>() -> u64 {
        Codec::<T>::fingerprint(&Postcard).expect("traceable")
    }

    #[test]
    fn postcard_appends_what_the_crate_encodes() {
        let events = [
            v1::Event::Deposited { amount: 0 },
            v1::Event::Withdrew { amount: u64::MAX },
            v1::Event::Deposited { amount: 300 },
        ];
        let mut out = vec![0xAA];
        let mut expected = vec![0xAA];
        for event in &events {
            Postcard.encode(event, &mut out).expect("encodes");
            expected.extend(postcard::to_stdvec(event).expect("encodes"));
        }
        assert_eq!(out, expected);
        let first = postcard::to_stdvec(&events[0]).expect("encodes");
        let decoded: v1::Event = Postcard.decode(&out[1..1 + first.len()]).expect("decodes");
        assert!(matches!(decoded, v1::Event::Deposited { amount: 0 }));
    }

    #[test]
    fn fingerprints_are_stable_and_see_every_change_that_breaks_decoding() {
        assert_eq!(fp::<v1::Event>(), fp::<v1::Event>());
        let v1 = fp::<v1::Event>();
        for (what, other) in [
            ("variant inserted", fp::<inserted::Event>()),
            ("u64 to i64", fp::<signed::Event>()),
            ("field added", fp::<field_added::Event>()),
            ("type renamed", fp::<renamed::AccountEvent>()),
        ] {
            assert_ne!(v1, other, "{what}");
        }
        assert_ne!(
            fp::<nested::Event>(),
            fp::<nested_inserted::Event>(),
            "nested enum"
        );
        assert_ne!(fp::<u64>(), fp::<i64>());
    }
}
