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
//!
//! With `journal` set it is the same bus with a write-ahead log, as such buses are
//! made durable: under the event list's mutex each event is also appended to a
//! seqlane journal (its 12 bytes written by hand, no serializer), and where a
//! command must be durable the journal is synced before `submit` returns, one
//! fdatasync per command.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};

use hdrhistogram::Histogram;
use seqlane_journal::{Journal, JournalOptions, SyncPolicy};

use super::{
    submit_from_threads, synchronous_latency, Bus, Deposit, Deposited, Durability, Finished,
    Ledger, Level, Totals,
};
use crate::scenario::NoFigure;

type Handler = Box<dyn FnMut(&dyn Any, &mut Vec<Box<dyn Any + Send>>) + Send>;

/// The event list, and the journal it is written ahead to, if any.
struct Events {
    list: Vec<Box<dyn Any + Send>>,
    journal: Option<Journal>,
    /// Whether each submit syncs the journal before it returns.
    sync: bool,
}

/// One bus instance: handlers, event list, read model.
struct Instance {
    handlers: Mutex<HashMap<TypeId, Handler>>,
    events: Mutex<Events>,
    /// Where the journal lives while the instance does.
    _dir: Option<tempfile::TempDir>,
    read_model: RwLock<Totals>,
    ledger: std::sync::Arc<Mutex<Ledger>>,
}

impl Instance {
    /// A bus, journaling its events when `journal` is set (and syncing them per
    /// command when `sync` is).
    fn new(journal: bool, sync: bool) -> Result<Self, NoFigure> {
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
        let (dir, journal) = if journal {
            let dir =
                tempfile::tempdir().map_err(|e| format!("cannot make a journal directory: {e}"))?;
            let journal = Journal::open(
                dir.path(),
                JournalOptions::default().sync(SyncPolicy::Never),
            )
            .map_err(|e| format!("cannot open the lock bus's journal: {e}"))?;
            (Some(dir), Some(journal))
        } else {
            (None, None)
        };
        Ok(Self {
            handlers: Mutex::new(handlers),
            events: Mutex::new(Events {
                list: Vec::new(),
                journal,
                sync,
            }),
            _dir: dir,
            read_model: RwLock::new(Totals::default()),
            ledger,
        })
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
        let Events {
            list,
            journal,
            sync,
        } = &mut *events;
        if let Some(journal) = journal {
            for event in &raised {
                if let Some(deposited) = event.downcast_ref::<Deposited>() {
                    let mut record = [0; 12];
                    record[..4].copy_from_slice(&deposited.account.to_le_bytes());
                    record[4..].copy_from_slice(&deposited.amount.to_le_bytes());
                    journal
                        .append(EVENT_TAG, &record)
                        .expect("the journal takes the event");
                }
            }
            if *sync {
                journal.sync().expect("the journal syncs");
            }
        }
        let mut read_model = self.read_model.write().unwrap();
        for event in raised {
            if let Some(deposited) = event.downcast_ref::<Deposited>() {
                read_model.apply(deposited);
            }
            list.push(event);
        }
    }
}

/// The tag of the journal's event records.
const EVENT_TAG: u32 = 1;

/// The lock-based bus as a peer, with or without a write-ahead journal.
pub struct LockBus {
    pub journal: bool,
}

impl Bus for LockBus {
    fn name(&self) -> &'static str {
        if self.journal {
            "lock_bus_journal"
        } else {
            "lock_cqrs_bus"
        }
    }

    fn waiting(&self) -> String {
        if self.journal {
            "mutexes + RwLock; journal appended under the mutex, synced per command where durable"
        } else {
            "mutexes + RwLock"
        }
        .into()
    }

    fn divisor(&self, durability: Durability) -> u64 {
        if self.journal && durability == Durability::Synced {
            500
        } else {
            1
        }
    }

    fn throughput(
        &self,
        producers: usize,
        per_producer: u64,
        durability: Durability,
    ) -> Result<Finished, NoFigure> {
        if durability == Durability::Synced && !self.journal {
            return Err(NoFigure::cannot_run(
                "keeps events in memory: no journal to sync",
            ));
        }
        let bus = Instance::new(self.journal, durability == Durability::Synced)?;
        let elapsed = submit_from_threads(producers, per_producer, |command| {
            bus.submit(Box::new(command));
            Ok(())
        })?;
        let totals = *bus.read_model.read().unwrap();
        let balance_sum = bus.ledger.lock().unwrap().balances.iter().sum();
        if bus.events.lock().unwrap().list.len() as u64 != totals.deposits {
            return Err("the event list and the read model disagree".into());
        }
        Ok(Finished {
            elapsed,
            totals,
            balance_sum,
        })
    }

    fn latency(&self, rate: u64, count: u64, level: Level) -> Result<Histogram<u64>, NoFigure> {
        if level == Level::Durable && !self.journal {
            return Err(NoFigure::cannot_run(
                "keeps events in memory: no journal to sync",
            ));
        }
        let bus = Instance::new(self.journal, level == Level::Durable)?;
        Ok(synchronous_latency(rate, count, |command| {
            bus.submit(Box::new(command));
            Ok(())
        })?)
    }
}
