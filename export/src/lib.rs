//! seqlane beyond one machine.
//!
//! One engine is one writer on one machine. This crate carries its journal to
//! others: [`Exporter`] publishes the journal's durable records to a NATS JetStream
//! stream, each exactly once and in order, and resumes from what the stream holds
//! after any crash or restart.
//!
//! The journal stays the source of truth: only records below its durable line are
//! exported ([`DurableTail`]), so nothing that a power cut could still take from
//! the journal reaches another machine.
//!
//! On the other side, [`RemoteProjection`] feeds a [`ReadModel`] from the stream:
//! any [`seqlane::Projection`] through [`Snapshotted`] (its state saved with its
//! position in one file), or tables in PostgreSQL through [`PgReadModel`] (upserts
//! and position in one transaction). Either resumes exactly after the last command
//! it kept, whatever killed it, and [`ViewHandle::wait_for`] waits until a journal
//! sequence (a `Durable` receipt's last record) is visible: read-your-writes on
//! another machine. [`LocalProjection`] feeds the same read models from the
//! journal's directory, beside the engine.
//!
//! JetStream acknowledges a message once it is written to its store, not synced:
//! `nats-server` syncs its files on a timer, every two minutes by default (the
//! `sync_interval` setting from 2.10 on; the 2.9.10 of Debian 12 has no setting),
//! so a server that loses power can lose acknowledged messages.
//! The exporter checks the stream's end against what it stored and publishes
//! whatever went missing again, from the journal.
//!
//! # Examples
//!
//! ```no_run
//! use seqlane_export::{ExportOptions, Exporter};
//!
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! let client = async_nats::connect("127.0.0.1:4222").await?;
//! let mut exporter = Exporter::new("data/journal", client, ExportOptions::new("orders")).await?;
//! exporter.export_until(1_000).await?; // records 0..1000 are in stream "orders"
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod error;
mod exporter;
mod follow;
mod local;
pub mod message;
mod postgres;
mod remote;
mod snapshot;
mod status;
mod tail;

pub use error::{ExportError, Result};
pub use exporter::{ExportOptions, Exporter, StatusHandle};
pub use follow::{Applied, Checkpoint, NotYet, ReadModel, ViewHandle};
pub use local::LocalProjection;
pub use postgres::{PgProjection, PgReadModel, CHECKPOINT_TABLE};
pub use remote::RemoteProjection;
pub use snapshot::Snapshotted;
pub use status::Status;
pub use tail::DurableTail;
