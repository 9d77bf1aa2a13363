//! Snapshots through serde: a state or projection that is `Serialize +
//! DeserializeOwned` gets its snapshot hooks from [`serde_snapshots!`], encoded
//! with postcard, and writes no bytes by hand (the hooks stay overridable for
//! a hand-made encoding).
//!
//! [`serde_snapshots!`]: crate::serde_snapshots

use serde::de::DeserializeOwned;
use serde::Serialize;

/// `value` as snapshot bytes; `None` if serde cannot encode it (the engine
/// then reports a snapshot it cannot take).
pub fn encode<T: Serialize + ?Sized>(value: &T) -> Option<Vec<u8>> {
    postcard::to_stdvec(value).ok()
}

/// A value from [`encode`]'s bytes.
///
/// # Errors
///
/// When the bytes are not an encoding of `T` (say, of an older version of it):
/// serde's message.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    postcard::from_bytes(bytes).map_err(|error| format!("{error} (decoding a snapshot)"))
}

/// Writes an [`Aggregate`](crate::Aggregate)'s or a
/// [`Projection`](crate::Projection)'s `snapshot` and `restore` with serde: put
/// `seqlane::serde_snapshots!(aggregate);` or `seqlane::serde_snapshots!(projection);`
/// in the impl block of a type that is `Serialize + DeserializeOwned`.
///
/// ```
/// use seqlane::{Aggregate, Projection};
///
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// struct Counter(u64);
///
/// impl Aggregate for Counter {
///     type Command = u64;
///     type Event = u64;
///     type Rejection = ();
///     fn decide(&self, add: &u64, events: &mut Vec<u64>) -> Result<(), ()> {
///         events.push(*add);
///         Ok(())
///     }
///     fn apply(&mut self, added: &u64) {
///         self.0 += added;
///     }
///     seqlane::serde_snapshots!(aggregate);
/// }
///
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// struct Total(u64);
///
/// impl Projection<u64> for Total {
///     type View = u64;
///     fn apply(&mut self, added: &u64, _sequence: u64) {
///         self.0 += added;
///     }
///     fn view(&self) -> u64 {
///         self.0
///     }
///     seqlane::serde_snapshots!(projection);
/// }
///
/// let bytes = Aggregate::snapshot(&Counter(7)).unwrap();
/// assert_eq!(<Counter as Aggregate>::restore(&bytes).unwrap().0, 7);
/// let mut total = Total(0);
/// Projection::restore(&mut total, &Projection::snapshot(&Total(3)).unwrap()).unwrap();
/// assert_eq!(total.0, 3);
/// ```
#[macro_export]
macro_rules! serde_snapshots {
    (aggregate) => {
        fn snapshot(&self) -> ::core::option::Option<::std::vec::Vec<u8>> {
            $crate::snapshot_serde::encode(self)
        }

        fn restore(bytes: &[u8]) -> ::core::result::Result<Self, ::std::string::String> {
            $crate::snapshot_serde::decode(bytes)
        }
    };
    (projection) => {
        fn snapshot(&self) -> ::core::option::Option<::std::vec::Vec<u8>> {
            $crate::snapshot_serde::encode(self)
        }

        fn restore(&mut self, bytes: &[u8]) -> ::core::result::Result<(), ::std::string::String> {
            *self = $crate::snapshot_serde::decode(bytes)?;
            ::core::result::Result::Ok(())
        }
    };
}
