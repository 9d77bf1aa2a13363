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
        let encoded = postcard::to_extend(value, std::mem::take(out))
            .map_err(|e| JournalError::Codec(e.to_string()))?;
        *out = encoded;
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<T> {
        postcard::from_bytes(bytes).map_err(|e| JournalError::Codec(e.to_string()))
    }
}
