//! The SimpleCQRS inventory domain: create, rename, check in, remove and
//! deactivate items; a list view (names of active items) and a details view
//! (name, count in stock and version of every item).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use seqlane::{Aggregate, Metadata, Projection};
use serde::{Deserialize, Serialize};

/// An item's number.
pub type ItemId = u32;

/// The write side: what `decide` needs to validate commands.
#[derive(Debug, Default)]
pub struct Inventory {
    /// Every item ever created, by id.
    pub items: BTreeMap<ItemId, Item>,
}

/// What the write side keeps of one item.
#[derive(Debug, Default)]
pub struct Item {
    /// Not deactivated.
    pub active: bool,
    /// Count in stock.
    pub in_stock: u32,
    /// Events applied to this item: the version commands may expect.
    pub version: u64,
}

/// What callers ask of the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryCommand {
    /// Adds an item.
    Create { id: ItemId, name: String },
    /// Gives an item a new name.
    Rename { id: ItemId, name: String },
    /// Adds `count` to the stock.
    CheckIn { id: ItemId, count: u32 },
    /// Takes `count` from the stock.
    Remove { id: ItemId, count: u32 },
    /// Retires an item: no further command applies to it.
    Deactivate { id: ItemId },
}

/// What happened to the inventory.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InventoryEvent {
    /// An item was added.
    Created { id: ItemId, name: String },
    /// An item was renamed.
    Renamed { id: ItemId, name: String },
    /// Stock was checked in.
    CheckedIn { id: ItemId, count: u32 },
    /// Stock was removed.
    Removed { id: ItemId, count: u32 },
    /// An item was deactivated.
    Deactivated { id: ItemId },
}

/// Why the inventory refused a command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Refusal {
    /// There is no such item.
    NoItem(ItemId),
    /// An item with this id exists.
    AlreadyExists(ItemId),
    /// The item is deactivated.
    Deactivated(ItemId),
    /// A name must not be empty.
    EmptyName,
    /// A count must be positive.
    ZeroCount,
    /// Fewer in stock than asked to remove.
    NotEnough {
        /// The item.
        id: ItemId,
        /// What is in stock.
        in_stock: u32,
        /// What was asked.
        asked: u32,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NoItem(id) => write!(f, "no item {id}"),
            Refusal::AlreadyExists(id) => write!(f, "item {id} already exists"),
            Refusal::Deactivated(id) => write!(f, "item {id} is deactivated"),
            Refusal::EmptyName => f.write_str("an item needs a name"),
            Refusal::ZeroCount => f.write_str("the count must be positive"),
            Refusal::NotEnough {
                id,
                in_stock,
                asked,
            } => write!(
                f,
                "only {in_stock} of item {id} in stock, cannot remove {asked}"
            ),
        }
    }
}

impl InventoryCommand {
    /// The item the command is about.
    pub fn id(&self) -> ItemId {
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
    /// The item the event is about.
    pub fn id(&self) -> ItemId {
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
    type Rejection = Refusal;

    fn decide(
        &self,
        command: &InventoryCommand,
        events: &mut Vec<InventoryEvent>,
    ) -> Result<(), Refusal> {
        use InventoryCommand::*;
        let id = command.id();
        if let Create { name, .. } = command {
            if self.items.contains_key(&id) {
                return Err(Refusal::AlreadyExists(id));
            }
            if name.is_empty() {
                return Err(Refusal::EmptyName);
            }
            events.push(InventoryEvent::Created {
                id,
                name: name.clone(),
            });
            return Ok(());
        }
        let item = self.items.get(&id).ok_or(Refusal::NoItem(id))?;
        if !item.active {
            return Err(Refusal::Deactivated(id));
        }
        events.push(match command {
            Create { .. } => unreachable!("handled above"),
            Rename { name, .. } if name.is_empty() => return Err(Refusal::EmptyName),
            Rename { name, .. } => InventoryEvent::Renamed {
                id,
                name: name.clone(),
            },
            CheckIn { count: 0, .. } | Remove { count: 0, .. } => return Err(Refusal::ZeroCount),
            CheckIn { count, .. } => InventoryEvent::CheckedIn { id, count: *count },
            Remove { count, .. } if *count > item.in_stock => {
                return Err(Refusal::NotEnough {
                    id,
                    in_stock: item.in_stock,
                    asked: *count,
                })
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
pub struct ItemList(Arc<BTreeMap<ItemId, String>>);

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

/// One item in the details view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Details {
    /// Its name.
    pub name: String,
    /// Count in stock.
    pub in_stock: u32,
    /// Events applied to it.
    pub version: u64,
    /// Not deactivated.
    pub active: bool,
    /// Who sent the last command that changed it, when the command said
    /// (its [`Metadata`](seqlane::Metadata)).
    #[serde(default)]
    pub changed_by: Option<String>,
}

/// The details view: name, count in stock, version and last actor of every item.
#[derive(Default)]
pub struct ItemDetails(Arc<BTreeMap<ItemId, Details>>);

impl Projection<InventoryEvent> for ItemDetails {
    type View = Arc<BTreeMap<ItemId, Details>>;

    fn apply(&mut self, event: &InventoryEvent, sequence: u64) {
        self.apply_with_metadata(event, sequence, None);
    }

    fn apply_with_metadata(
        &mut self,
        event: &InventoryEvent,
        _sequence: u64,
        metadata: Option<&Metadata>,
    ) {
        let details = Arc::make_mut(&mut self.0).entry(event.id()).or_default();
        details.changed_by = metadata.and_then(|metadata| metadata.actor.clone());
        match event {
            InventoryEvent::Created { name, .. } => {
                details.name = name.clone();
                details.active = true;
            }
            InventoryEvent::Renamed { name, .. } => details.name = name.clone(),
            InventoryEvent::CheckedIn { count, .. } => details.in_stock += count,
            InventoryEvent::Removed { count, .. } => details.in_stock -= count,
            InventoryEvent::Deactivated { .. } => details.active = false,
        }
        details.version += 1;
    }

    fn view(&self) -> Self::View {
        Arc::clone(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use seqlane::testkit::AggregateTest;

    fn created(id: ItemId) -> InventoryEvent {
        InventoryEvent::Created {
            id,
            name: format!("widget {id}"),
        }
    }

    #[test]
    fn an_item_is_created_once_and_needs_a_name() {
        AggregateTest::<Inventory>::given_no_events()
            .when(InventoryCommand::Create {
                id: 1,
                name: "widget 1".into(),
            })
            .then_expect_events([created(1)]);
        AggregateTest::<Inventory>::given([created(1)])
            .when(InventoryCommand::Create {
                id: 1,
                name: "again".into(),
            })
            .then_expect_rejection(Refusal::AlreadyExists(1));
        AggregateTest::<Inventory>::given_no_events()
            .when(InventoryCommand::Create {
                id: 2,
                name: String::new(),
            })
            .then_expect_rejection(Refusal::EmptyName);
    }

    #[test]
    fn stock_goes_in_and_out_but_never_below_zero() {
        let checked_in = InventoryEvent::CheckedIn { id: 1, count: 10 };
        let then = AggregateTest::<Inventory>::given([created(1), checked_in.clone()])
            .when(InventoryCommand::Remove { id: 1, count: 4 })
            .then_expect_events([InventoryEvent::Removed { id: 1, count: 4 }]);
        assert_eq!(then.state().items[&1].in_stock, 6);
        AggregateTest::<Inventory>::given([created(1), checked_in])
            .when(InventoryCommand::Remove { id: 1, count: 11 })
            .then_expect_rejection(Refusal::NotEnough {
                id: 1,
                in_stock: 10,
                asked: 11,
            });
        AggregateTest::<Inventory>::given([created(1)])
            .when(InventoryCommand::CheckIn { id: 1, count: 0 })
            .then_expect_rejection(Refusal::ZeroCount);
    }

    #[test]
    fn a_deactivated_or_missing_item_takes_no_command() {
        let deactivated = InventoryEvent::Deactivated { id: 1 };
        AggregateTest::<Inventory>::given([created(1), deactivated])
            .when(InventoryCommand::Rename {
                id: 1,
                name: "sprocket".into(),
            })
            .then_expect_rejection(Refusal::Deactivated(1));
        AggregateTest::<Inventory>::given_no_events()
            .when(InventoryCommand::Deactivate { id: 9 })
            .then_expect_rejection(Refusal::NoItem(9));
        let then = AggregateTest::<Inventory>::given([created(1)]).when_all([
            InventoryCommand::Rename {
                id: 1,
                name: "sprocket".into(),
            },
            InventoryCommand::Deactivate { id: 1 },
        ]);
        assert_eq!(then.result().unwrap().len(), 2);
        assert!(!then.state().items[&1].active);
        assert_eq!(then.state().items[&1].version, 3);
    }
}
