//! What an engine is started with: everything [`EngineBuilder`](crate::EngineBuilder)
//! collects but the codec.

use std::path::PathBuf;
use std::sync::Arc as StdArc;

use seqlane_journal::JournalOptions;

use crate::engine::domain::Aggregate;
use crate::engine::projection::BoxedRunner;
use crate::engine::snapshot::Retention;
use crate::engine::{health, schema, Topology};
use crate::WaitStrategy;

/// Everything an [`EngineBuilder`](crate::EngineBuilder) collects but the codec:
/// what the start needs.
pub(crate) struct EngineConfig<A: Aggregate> {
    pub(crate) dir: PathBuf,
    pub(crate) state: A,
    pub(crate) journal: JournalOptions,
    pub(crate) input_capacity: usize,
    pub(crate) output_capacity: usize,
    pub(crate) wait: WaitStrategy,
    pub(crate) logic_core: Option<usize>,
    pub(crate) share_projection_thread: bool,
    pub(crate) topology: Topology,
    /// Threads the user will submit from, for [`Topology::Auto`].
    pub(crate) producers: usize,
    pub(crate) snapshot_every: Option<u64>,
    pub(crate) keep_snapshots: usize,
    pub(crate) retention: Retention,
    pub(crate) restarts: Vec<(String, health::ProjectionRestart)>,
    pub(crate) projections: Vec<(StdArc<str>, BoxedRunner<A::Event>)>,
    /// The declared name and version of the event type.
    pub(crate) event_schema: (String, u32),
    pub(crate) upcasters: Vec<schema::Upcaster<A::Event>>,
}
