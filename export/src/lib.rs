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
pub mod message;
mod snapshot;
mod status;
mod tail;

pub use error::{ExportError, Result};
pub use exporter::{ExportOptions, Exporter, StatusHandle};
pub use follow::{Applied, Checkpoint, NotYet, ReadModel, RemoteProjection, ViewHandle};
pub use snapshot::Snapshotted;
pub use status::Status;
pub use tail::DurableTail;
