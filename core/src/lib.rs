//! seqlane: an LMAX-style ring buffer and command sequencer.
//!
//! A pre-allocated ring of slots, written in place by producers and read by
//! *stages*: event handlers, each on its own thread, arranged in a dependency graph
//! (in parallel, in a pipeline, in a diamond). Producers are gated by the slowest
//! terminal stage, so nothing is overwritten before every stage has seen it, and
//! nothing is dropped: a full ring is back-pressure ([`Producer::try_claim`] says so,
//! [`Producer::claim`] waits).
//!
//! - [`RingBuilder`] allocates the slots, takes the [`Stage`]s and a
//!   [`WaitStrategy`], and starts them behind a single [`Producer`] or cloneable
//!   [`MultiProducer`]s.
//! - Producers [`claim`](Producer::claim) slots (one or a batch), write them in place
//!   and publish them; stages see each event once, in sequence order, in batches.
//! - The [`Ring`] owns the stage threads: [`Ring::join`] drains and stops once the
//!   producers are gone, [`Ring::halt`] stops at once. A panicking handler halts the
//!   ring and comes back as a [`RingError`] instead of wedging it.
//!
//! On the ring, the [`Engine`]: commands from any thread through a [`Gateway`],
//! one business-logic thread deciding and applying them to an [`Aggregate`], every
//! event journaled (by `seqlane-journal`) before [`Projection`]s see it, read models
//! any thread can query, and [`Receipt`]s that wait until a command is processed,
//! durable or visible. See [`EngineBuilder`] for an example.
//!
//! ```text
//!  Gateway::submit ─► input ring ─► logic: decide, apply ─► output ring ─► journaler ─► projections
//!  (any thread)    (multi-producer)  (one thread, pinnable)                (append, sync)  (read models)
//!        Receipt::wait(Until::Processed | Until::Durable | Until::Visible(projection))
//! ```
//!
//! - The input ring is a [`MultiProducer`] ring; a [`Gateway`] claims a slot, writes
//!   the command and publishes it. A full ring is back-pressure, never a drop.
//! - The business logic is the only writer of the state: it decides each command
//!   (rejections cost nothing downstream), applies its events, encodes them and
//!   publishes them to the output ring, a [`SingleProducer`] ring.
//! - The journaler, first stage of the output ring, appends each batch and syncs it
//!   per the [`SyncPolicy`]; the projections run after it, so a read model never
//!   shows an event the journal does not hold.
//! - A [`Receipt`] parks until the line it waits for (processed, durable, or a
//!   projection's) passes its command.
//!
//! # Examples
//!
//! ```
//! use seqlane::{Producer, RingBuilder, Stage};
//! use std::sync::mpsc;
//!
//! let (sums, results) = mpsc::channel();
//! let mut total = 0u64;
//! let mut builder = RingBuilder::new(1024, || 0u64);
//! builder.add_stage(Stage::new(move |value: &u64, _sequence: i64, end_of_batch: bool| {
//!     total += value;
//!     if end_of_batch {
//!         sums.send(total).unwrap();
//!     }
//! }));
//! let (mut producer, ring) = builder.build_single_producer()?;
//! for value in 1..=1000 {
//!     producer.publish(|slot| *slot = value)?;
//! }
//! drop(producer);
//! ring.join()?;
//! assert_eq!(results.iter().last(), Some(500_500));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Memory ordering
//!
//! Every atomic access names its ordering and the access it pairs with. The
//! protocol is model-checked with loom (`core/tests/loom_*.rs`):
//! `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p seqlane --release
//! --lib --test 'loom_*' loom`.

#![deny(missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod barrier;
mod claim;
mod engine;
mod error;
mod poller;
mod producer;
mod ring;
mod sequence;
mod sequencer;
mod shared;
mod slots;
mod stage;
mod sync;
mod wait;

pub use claim::{BatchClaim, Claim};
pub use engine::snapshot::serde as snapshot_serde;
pub use engine::{middleware, testkit};
pub use engine::{
    Accepted, Aggregate, Command, CommandId, Committed, Engine, EngineBuilder, EngineError,
    EventDecoder, EventSchema, Gateway, Health, Metadata, Metrics, Outcome, Projection,
    ProjectionFailure, ProjectionHealth, ProjectionId, ProjectionMetrics, ProjectionRestart,
    ReachFuture, ReadModel, Receipt, ReceiptFuture, RecordKind, RecordView, Recovery, Rejection,
    ReplayCause, Retention, StopCause, Stopped, SubmitError, SubmitFuture, Topology,
    TrySubmitError, Until, WaitError, WaitFuture,
};
pub use error::{Halted, RingError, StagePanic, TryClaimError};
pub use poller::{Polled, Poller};
pub use producer::{MultiProducer, Producer, SingleProducer};
pub use ring::{Ring, RingBuilder};
pub use stage::{EventHandler, Pinning, Stage, StageId, StageStatus};
pub use wait::WaitStrategy;

/// The journal's types an engine's user meets (its options, sync policies, codecs,
/// errors and recovery report), so that `seqlane` alone is enough to depend on.
pub use seqlane_journal::{
    Codec, JournalError, JournalOptions, Postcard, RecoveryReport, SyncPolicy, TornTail,
};

/// The README's examples, compiled and run as doctests so they cannot rot (not
/// under Miri, which cannot map the engine's journal; the ring's example is in
/// this crate's docs too).
#[cfg(all(doctest, not(miri)))]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
