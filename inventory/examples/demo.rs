//! The inventory on a seqlane engine, from a console: fire-and-forget
//! submission, waiting until a command is durable, read-your-writes with
//! `Until::Visible`, rejected commands, and a restart that rebuilds the state and
//! both views from the journal.
//!
//! Run it with `cargo run --release -p seqlane-inventory --example demo`. Its
//! journal goes to `target/inventory-journal` (emptied at each run and kept after
//! it), where the journal's CLI can look at it:
//! `cargo run -p seqlane-journal -- inspect target/inventory-journal`.

use std::time::Instant;

use seqlane::{Command, CommandId, Rejection, Until, WaitError};
use seqlane_inventory::domain::InventoryCommand;
use seqlane_inventory::{start, Views};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Next to the build's own files, so `cargo clean` removes it too.
    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("inventory/ sits in the workspace");
    let dir = workspace.join("target/inventory-journal");
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?; // each run starts from an empty journal
    }
    println!("journal in {}", dir.display());

    let (engine, Views { list, details }) = start(&dir)?;
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
    let (engine, Views { list, details }) = start(&dir)?;
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
