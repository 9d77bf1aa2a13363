//! How a journal record travels as a JetStream message: its payload as it is, its
//! name (identity and sequence) as `Nats-Msg-Id`, its tag as a header.

use async_nats::header::NATS_MESSAGE_ID;
use async_nats::HeaderMap;

/// The header that carries the record's tag (decimal).
pub const TAG_HEADER: &str = "Seqlane-Tag";
/// The header JetStream de-duplicates on.
pub const MSG_ID_HEADER: &str = "Nats-Msg-Id";

/// The message id of record `sequence` of journal `identity`: `identity:sequence`.
pub fn message_id(identity: &str, sequence: u64) -> String {
    format!("{identity}:{sequence}")
}

/// A journal record as a message of the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exported {
    /// The journal's identity.
    pub identity: String,
    /// The record's journal sequence.
    pub sequence: u64,
    /// The record's tag.
    pub tag: u32,
}

impl Exported {
    /// Reads a message's headers, or says what is missing or malformed (the
    /// message's id, as found, for an error).
    ///
    /// # Errors
    ///
    /// A string naming what is wrong, with the id as found.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, String> {
        let id = headers
            .get(NATS_MESSAGE_ID)
            .map(|value| value.as_str().to_owned())
            .ok_or_else(|| format!("a message without {MSG_ID_HEADER}"))?;
        let (identity, sequence) = id
            .rsplit_once(':')
            .and_then(|(identity, sequence)| Some((identity, sequence.parse().ok()?)))
            .ok_or_else(|| id.clone())?;
        let tag = headers
            .get(TAG_HEADER)
            .and_then(|value| value.as_str().parse().ok())
            .ok_or_else(|| format!("{id} without a valid {TAG_HEADER}"))?;
        Ok(Exported {
            identity: identity.to_owned(),
            sequence,
            tag,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_damage_is_named() {
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, message_id("ab12", 42).as_str());
        headers.insert(TAG_HEADER, "7");
        let read = Exported::from_headers(&headers).unwrap();
        assert_eq!(
            read,
            Exported {
                identity: "ab12".into(),
                sequence: 42,
                tag: 7
            }
        );

        let mut foreign = HeaderMap::new();
        foreign.insert(NATS_MESSAGE_ID, "order-17");
        assert_eq!(Exported::from_headers(&foreign).unwrap_err(), "order-17");
        assert!(Exported::from_headers(&HeaderMap::new())
            .unwrap_err()
            .contains(MSG_ID_HEADER));
    }
}
