//! The SimpleCQRS inventory on a seqlane engine, as a library ([`domain`]) and
//! as an HTTP service ([`http`], run by this crate's binary):
//!
//! ```sh
//! cargo run --release -p seqlane-inventory -- --dir /tmp/inventory --listen 127.0.0.1:8080
//! curl -X POST 'localhost:8080/items?wait=visible' -H 'content-type: application/json' \
//!      -d '{"id": 1, "name": "widget"}'
//! curl localhost:8080/items/1
//! ```

pub mod domain;
pub mod http;

use std::collections::BTreeMap;
use std::sync::Arc;

use seqlane::{EngineBuilder, JournalOptions, ReadModel, SyncPolicy};

use domain::{Details, Inventory, ItemDetails, ItemId, ItemList};

/// The read models the service answers queries from.
#[derive(Clone)]
pub struct Views {
    /// Names of active items.
    pub list: ReadModel<Arc<BTreeMap<ItemId, String>>>,
    /// Every item's details.
    pub details: ReadModel<Arc<BTreeMap<ItemId, Details>>>,
}

/// Starts the inventory engine in `dir`, with its two views.
///
/// # Errors
///
/// The engine's, if it cannot open or replay its journal.
pub fn start(
    dir: &std::path::Path,
) -> Result<(seqlane::Engine<Inventory>, Views), seqlane::EngineError> {
    let mut builder = EngineBuilder::new(dir, Inventory::default()).journal_options(
        JournalOptions::default()
            .segment_size(4 << 20)
            .sync(SyncPolicy::EveryBatch),
    );
    let list = builder.add_projection("item-list", ItemList::default());
    let details = builder.add_projection("item-details", ItemDetails::default());
    Ok((builder.start()?, Views { list, details }))
}
