//! The sequence counter: a cache-padded atomic position in the ring.

use crossbeam_utils::CachePadded;

use crate::sync::AtomicI64;
use std::sync::atomic::Ordering;

/// The value of a sequence before anything was claimed, published or processed.
pub(crate) const INITIAL: i64 = -1;

/// A position in the ring, alone on its cache line so that the producer's cursor and
/// each consumer's progress never false-share.
#[derive(Debug)]
pub(crate) struct Sequence(CachePadded<AtomicI64>);

impl Sequence {
    pub(crate) fn new(value: i64) -> Self {
        Self(CachePadded::new(AtomicI64::new(value)))
    }

    /// Acquire: pairs with the Release in [`Sequence::set`], so that whatever the
    /// owner did before publishing this value (writing or reading slots) happens
    /// before what the caller does next.
    #[inline]
    pub(crate) fn get(&self) -> i64 {
        self.0.load(Ordering::Acquire)
    }

    /// Release: pairs with the Acquire in [`Sequence::get`].
    #[inline]
    pub(crate) fn set(&self, value: i64) {
        self.0.store(value, Ordering::Release);
    }

    /// The raw atomic, for the multi-producer claim counter.
    #[inline]
    pub(crate) fn atomic(&self) -> &AtomicI64 {
        &self.0
    }
}

/// The smallest of `sequences`, or `default` when there are none.
#[inline]
pub(crate) fn minimum<'a>(sequences: impl IntoIterator<Item = &'a Sequence>, default: i64) -> i64 {
    sequences
        .into_iter()
        .map(Sequence::get)
        .fold(default, i64::min)
}
