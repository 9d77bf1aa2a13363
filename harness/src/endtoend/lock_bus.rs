//! The lock-based CQRS bus seqlane replaces, modelled on the usual in-process ones
//! (a Go `CommandBus` with a handler map, SimpleCQRS's `FakeBus`): handlers found by
//! command type in a map behind a mutex, commands and events boxed, events appended
//! to an in-memory event list behind a mutex, and a read model behind a `RwLock`
//! updated synchronously by the event handlers. `submit` returns when all of that is
//! done, so a command is processed and visible when it returns. It keeps no
//! journal: it cannot run the durable scenarios.
//!
//! It is kept generous: the handler decides on in-memory state instead of reloading
//! the aggregate from the event store as SimpleCQRS does.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use hdrhistogram::Histogram;

use super::{command, Bus, Deposit, Deposited, Durability, Finished, Ledger, Level, Totals};
use crate::pacing::{paced, Wait};
use crate::scenario::NoFigure;

type Handler = Box<dyn FnMut(&dyn Any, &mut Vec<Box<dyn Any + Send>>) + Send>;

/// One bus instance: handlers, event list, read model.
struct Instance {
    handlers: Mutex<HashMap<TypeId, Handler>>,
    events: Mutex<Vec<Box<dyn Any + Send>>>,
    read_model: RwLock<Totals>,
    ledger: std::sync::Arc<Mutex<Ledger>>,
}

impl Instance {
    fn new() -> Self {
        let ledger = std::sync::Arc::new(Mutex::new(Ledger::default()));
        let mut handlers: HashMap<TypeId, Handler> = HashMap::new();
        let state = std::sync::Arc::clone(&ledger);
        handlers.insert(
            TypeId::of::<Deposit>(),
            Box::new(move |command, events| {
                let command = command.downcast_ref::<Deposit>().expect("routed by type");
                let mut ledger = state.lock().unwrap();
                if let Ok(event) = ledger.decide(command) {
                    ledger.apply(&event);
                    events.push(Box::new(event));
                }
            }),
        );
        Self {
            handlers: Mutex::new(handlers),
            events: Mutex::new(Vec::new()),
            read_model: RwLock::new(Totals::default()),
            ledger,
        }
    }

    /// Dispatches a command, records its events, updates the read model.
    fn submit(&self, command: Box<dyn Any + Send>) {
        let mut raised = Vec::new();
        {
            let mut handlers = self.handlers.lock().unwrap();
            let handler = handlers
                .get_mut(&(*command).type_id())
                .expect("a handler for every command type");
            handler(&*command, &mut raised);
        }
        let mut events = self.events.lock().unwrap();
        let mut read_model = self.read_model.write().unwrap();
        for event in raised {
            if let Some(deposited) = event.downcast_ref::<Deposited>() {
                read_model.apply(deposited);
            }
            events.push(event);
        }
    }
}

/// The lock-based bus as a peer.
pub struct LockBus;

impl Bus for LockBus {
    fn name(&self) -> &'static str {
        "lock_cqrs_bus"
    }

    fn waiting(&self) -> String {
        "mutexes + RwLock".into()
    }

    fn throughput(
        &self,
        producers: usize,
        per_producer: u64,
        durability: Durability,
    ) -> Result<Finished, NoFigure> {
        if durability == Durability::Synced {
            return Err(NoFigure::cannot_run(
                "keeps events in memory: no journal to sync",
            ));
        }
        let bus = Instance::new();
        let started = Instant::now();
        std::thread::scope(|scope| {
            for producer in 0..producers {
                let bus = &bus;
                scope.spawn(move || {
                    for i in 0..per_producer {
                        bus.submit(Box::new(command(producer, i)));
                    }
                });
            }
        });
        let elapsed = started.elapsed();
        let totals = *bus.read_model.read().unwrap();
        let balance_sum = bus.ledger.lock().unwrap().balances.iter().sum();
        if bus.events.lock().unwrap().len() as u64 != totals.deposits {
            return Err("the event list and the read model disagree".into());
        }
        Ok(Finished {
            elapsed,
            totals,
            balance_sum,
        })
    }

    fn latency(&self, rate: u64, count: u64, level: Level) -> Result<Histogram<u64>, NoFigure> {
        if level == Level::Durable {
            return Err(NoFigure::cannot_run(
                "keeps events in memory: no journal to sync",
            ));
        }
        let bus = Instance::new();
        let mut histogram = crate::peers::histogram();
        let epoch = Instant::now();
        paced(epoch, rate, count, Wait::Sleep, |i, due| {
            bus.submit(Box::new(command(0, i)));
            // Processed and visible at once: `submit` is synchronous.
            let latency = (epoch.elapsed().as_nanos() as u64).saturating_sub(due);
            histogram.saturating_record(latency.max(1));
        });
        Ok(histogram)
    }
}
