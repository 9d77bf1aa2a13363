//! The SimpleCQRS inventory domain on a seqlane engine: create, rename, check in,
//! remove and deactivate items; a list view and a details view.
//!
//! Run it with `cargo run --release -p seqlane --example inventory`. It shows
//! fire-and-forget submission, waiting until a command is durable, read-your-writes
//! with `Until::Visible`, a rejected command, and a restart that rebuilds the state
//! and both views from the journal.
//!
//! Its journal goes to `target/inventory-journal` (emptied at each run and kept
//! after it), where the journal's CLI can look at it:
//! `cargo run -p seqlane-journal -- inspect target/inventory-journal`. Remove it with
//! `rm -r target/inventory-journal` (or `cargo clean`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use seqlane::{
    Aggregate, Command, CommandId, EngineBuilder, JournalOptions, Projection, Rejection,
    SyncPolicy, Until, WaitError,
};
use serde::{Deserialize, Serialize};

type ItemId = u32;

/// The write side: what `decide` needs to validate commands.
#[derive(Default)]
struct Inventory {
    items: BTreeMap<ItemId, Item>,
}

#[derive(Default)]
struct Item {
    active: bool,
    in_stock: u32,
    /// Events applied to this item: the version commands may expect.
    version: u64,
}

enum InventoryCommand {
    Create { id: ItemId, name: String },
    Rename { id: ItemId, name: String },
    CheckIn { id: ItemId, count: u32 },
    Remove { id: ItemId, count: u32 },
    Deactivate { id: ItemId },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum InventoryEvent {
    Created { id: ItemId, name: String },
    Renamed { id: ItemId, name: String },
    CheckedIn { id: ItemId, count: u32 },
    Removed { id: ItemId, count: u32 },
    Deactivated { id: ItemId },
}

impl InventoryCommand {
    fn id(&self) -> ItemId {
        match self {
            Self::Create { id, .. }
            | Self::Rename { id, .. }
            | Self::CheckIn { id, .. }
            | Self::Remove { id, .. }
            | Self::Deactivate { id } => *id,
        }
    }
}

impl InventoryEvent {
    fn id(&self) -> ItemId {
        match self {
            Self::Created { id, .. }
            | Self::Renamed { id, .. }
            | Self::CheckedIn { id, .. }
            | Self::Removed { id, .. }
            | Self::Deactivated { id } => *id,
        }
    }
}

impl Aggregate for Inventory {
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Rejection = String;

    fn decide(
        &self,
        command: &InventoryCommand,
        events: &mut Vec<InventoryEvent>,
    ) -> Result<(), String> {
        use InventoryCommand::*;
        let id = command.id();
        if let Create { name, .. } = command {
            if self.items.contains_key(&id) {
                return Err(format!("item {id} already exists"));
            }
            if name.is_empty() {
                return Err("an item needs a name".into());
            }
            events.push(InventoryEvent::Created {
                id,
                name: name.clone(),
            });
            return Ok(());
        }
        let item = self.items.get(&id).ok_or(format!("no item {id}"))?;
        if !item.active {
            return Err(format!("item {id} is deactivated"));
        }
        events.push(match command {
            Create { .. } => unreachable!("handled above"),
            Rename { name, .. } if name.is_empty() => return Err("an item needs a name".into()),
            Rename { name, .. } => InventoryEvent::Renamed {
                id,
                name: name.clone(),
            },
            CheckIn { count: 0, .. } | Remove { count: 0, .. } => {
                return Err("the count must be positive".into())
            }
            CheckIn { count, .. } => InventoryEvent::CheckedIn { id, count: *count },
            Remove { count, .. } if *count > item.in_stock => {
                return Err(format!(
                    "only {} of item {id} in stock, cannot remove {count}",
                    item.in_stock
                ))
            }
            Remove { count, .. } => InventoryEvent::Removed { id, count: *count },
            Deactivate { .. } => InventoryEvent::Deactivated { id },
        });
        Ok(())
    }

    fn apply(&mut self, event: &InventoryEvent) {
        let item = self.items.entry(event.id()).or_default();
        match event {
            InventoryEvent::Created { .. } => item.active = true,
            InventoryEvent::Renamed { .. } => {}
            InventoryEvent::CheckedIn { count, .. } => item.in_stock += count,
            InventoryEvent::Removed { count, .. } => item.in_stock -= count,
            InventoryEvent::Deactivated { .. } => item.active = false,
        }
        item.version += 1;
    }

    fn version_of(&self, command: &InventoryCommand) -> Option<u64> {
        Some(self.items.get(&command.id()).map_or(0, |item| item.version))
    }
}

/// The list view: the names of active items.
#[derive(Default)]
struct ItemList(Arc<BTreeMap<ItemId, String>>);

impl Projection<InventoryEvent> for ItemList {
    type View = Arc<BTreeMap<ItemId, String>>;

    fn apply(&mut self, event: &InventoryEvent, _sequence: u64) {
        let list = Arc::make_mut(&mut self.0);
        match event {
            InventoryEvent::Created { id, name } | InventoryEvent::Renamed { id, name } => {
                list.insert(*id, name.clone());
            }
            InventoryEvent::Deactivated { id } => {
                list.remove(id);
            }
            _ => {}
        }
    }

    fn view(&self) -> Self::View {
        // Cheap: the map is shared until the next batch changes it.
        Arc::clone(&self.0)
    }
}

#[derive(Clone, Debug, Default)]
struct Details {
    name: String,
    in_stock: u32,
    version: u64,
}

/// The details view: name, count in stock and version of every item.
#[derive(Default)]
struct ItemDetails(Arc<BTreeMap<ItemId, Details>>);

impl Projection<InventoryEvent> for ItemDetails {
    type View = Arc<BTreeMap<ItemId, Details>>;

    fn apply(&mut self, event: &InventoryEvent, _sequence: u64) {
        let details = Arc::make_mut(&mut self.0).entry(event.id()).or_default();
        match event {
            InventoryEvent::Created { name, .. } | InventoryEvent::Renamed { name, .. } => {
                details.name = name.clone();
            }
            InventoryEvent::CheckedIn { count, .. } => details.in_stock += count,
            InventoryEvent::Removed { count, .. } => details.in_stock -= count,
            InventoryEvent::Deactivated { .. } => {}
        }
        details.version += 1;
    }

    fn view(&self) -> Self::View {
        Arc::clone(&self.0)
    }
}

type Views = (
    seqlane::ReadModel<Arc<BTreeMap<ItemId, String>>>,
    seqlane::ReadModel<Arc<BTreeMap<ItemId, Details>>>,
);

fn start(
    dir: &std::path::Path,
) -> Result<(seqlane::Engine<Inventory>, Views), seqlane::EngineError> {
    let mut builder = EngineBuilder::new(dir, Inventory::default()).journal_options(
        JournalOptions::default()
            .segment_size(4 << 20)
            .sync(SyncPolicy::EveryBatch),
    );
    let list = builder.add_projection("item-list", ItemList::default());
    let details = builder.add_projection("item-details", ItemDetails::default());
    Ok((builder.start()?, (list, details)))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Next to the build's own files, so `cargo clean` removes it too.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core/ sits in the workspace");
    let dir = workspace.join("target/inventory-journal");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?; // each run starts from an empty journal
    }
    println!("journal in {}", dir.display());

    let (engine, (list, details)) = start(&dir)?;
    let gateway = engine.gateway();

    // Fire and forget: no receipt, nothing kept for the caller.
    for id in 1..=1000 {
        gateway.send(InventoryCommand::Create {
            id,
            name: format!("widget #{id}"),
        })?;
    }
    println!("sent 1000 creates without waiting");

    // Wait until durable: the receipt answers once its event is synced to disk.
    let started = Instant::now();
    let accepted = gateway
        .submit(Command::new(InventoryCommand::CheckIn { id: 7, count: 40 }).with_id(CommandId(1)))?
        .wait(Until::Durable)?;
    println!(
        "check-in of 40 x item 7 is durable as journal record {:?} (version {}), after {:?}",
        accepted.records,
        accepted.version,
        started.elapsed()
    );

    // Read your writes: wait until the details view shows the command, then query it.
    gateway
        .submit(
            Command::new(InventoryCommand::Rename {
                id: 7,
                name: "sprocket".into(),
            })
            .expect_version(2),
        )?
        .wait(Until::Visible(details.id()))?;
    let item = details.get()[&7].clone();
    println!("details view right after the rename: {item:?}");

    // A rejected command: the state is untouched and the caller learns why.
    let rejected = gateway
        .submit(InventoryCommand::Remove { id: 7, count: 100 })?
        .wait(Until::Durable);
    if let Err(WaitError::Rejected(Rejection::Domain(reason))) = &rejected {
        println!("removing 100 x item 7 was rejected: {reason}");
    }
    // So is a command that expected an older version (optimistic concurrency).
    let stale = gateway
        .submit(Command::new(InventoryCommand::Deactivate { id: 7 }).expect_version(2))?
        .wait(Until::Processed);
    if let Err(WaitError::Rejected(rejection @ Rejection::Conflict { .. })) = &stale {
        println!("deactivating item 7 at version 2 was rejected: {rejection}");
    }
    // Resubmitting a command id gets the first outcome, without checking in twice.
    let again = gateway
        .submit(Command::new(InventoryCommand::CheckIn { id: 7, count: 40 }).with_id(CommandId(1)))?
        .wait(Until::Processed)?;
    println!(
        "the check-in resubmitted with the same id is a duplicate: {}",
        again.duplicate
    );

    gateway
        .submit(InventoryCommand::Deactivate { id: 1000 })?
        .wait(Until::Visible(list.id()))?;
    let metrics = engine.metrics();
    println!(
        "{} commands accepted, {} rejected, {} duplicate; {} records journaled in {} batches; mean business-logic batch {:.1}",
        metrics.accepted,
        metrics.rejected,
        metrics.duplicates,
        metrics.journal_records,
        metrics.journal_batches,
        metrics.mean_logic_batch()
    );
    let before = engine.shutdown()?;
    println!(
        "shut down (drained): {} items, version {}; the list view holds {} active items",
        before.state.items.len(),
        before.version,
        list.get().len()
    );

    // A restart rebuilds the state and both views from the journal.
    let (engine, (list, details)) = start(&dir)?;
    let recovery = engine.recovery();
    println!(
        "restarted in {:?}: replayed {} commands ({} events); list view {} items, item 7 = {:?}",
        recovery.duration,
        recovery.commands,
        recovery.events,
        list.get().len(),
        details.get()[&7]
    );
    let after = engine.shutdown()?;
    assert_eq!(after.version, before.version);
    assert_eq!(after.state.items[&7].in_stock, 40);
    println!(
        "the journal stays in {}: `cargo run -p seqlane-journal -- inspect {}` shows it, \
         `rm -r {}` removes it",
        dir.display(),
        dir.display(),
        dir.display()
    );
    Ok(())
}
