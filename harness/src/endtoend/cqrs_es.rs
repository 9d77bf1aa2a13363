//! `cqrs-es` 0.5 with its in-memory event store, the Rust CQRS framework a user
//! leaving a lock-based bus would likely try: one aggregate per account, as the
//! crate's own bank example has it, and the read model as a `Query` the framework
//! dispatches committed events to.
//!
//! Its `MemStore` has no optimistic check: two commands to one account at once would
//! each load the same events and both commit, one deposit lost. So each account has
//! a lock, held from load to commit, as a real store's version check would force a
//! retry. Each producer runs its commands one by one on a single-threaded executor
//! (`futures-executor`), the way a service would call `execute` and await it. It
//! keeps events in memory: it has no durable rows.
//!
//! `MemStore` prints a line to stdout for every load and every commit (its source
//! says it is not for production). While it runs, stdout goes to `/dev/null`, so
//! the harness's output stays readable and the peer pays for the `println!` but
//! not for a terminal or a pipe.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use cqrs_es::event_sink::EventSink;
use cqrs_es::mem_store::MemStore;
use cqrs_es::{Aggregate, CqrsFramework, DomainEvent, EventEnvelope, Query};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::{
    submit_from_threads, synchronous_latency, Bus, Deposit, Durability, Finished, Level, Totals,
    ACCOUNTS,
};
use crate::scenario::NoFigure;

/// One account: the aggregate.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Account {
    balance: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Deposited {
    amount: i64,
}

impl DomainEvent for Deposited {
    fn event_type(&self) -> String {
        "Deposited".to_owned()
    }

    fn event_version(&self) -> String {
        "1".to_owned()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a deposit must be positive")]
struct NotPositive;

impl Aggregate for Account {
    const TYPE: &'static str = "account";
    type Command = i64;
    type Event = Deposited;
    type Error = NotPositive;
    type Services = ();

    async fn handle(
        &mut self,
        amount: i64,
        _: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), NotPositive> {
        if amount <= 0 {
            return Err(NotPositive);
        }
        sink.write(Deposited { amount }, self).await;
        Ok(())
    }

    fn apply(&mut self, event: Deposited) {
        self.balance += event.amount;
    }
}

/// The read model: totals, and each account's balance for the check.
#[derive(Default)]
struct View {
    totals: Totals,
    balances: Vec<i64>,
}

struct TotalsQuery(Arc<Mutex<View>>);

#[async_trait]
impl Query<Account> for TotalsQuery {
    async fn dispatch(&self, aggregate_id: &str, events: &[EventEnvelope<Account>]) {
        let account: usize = aggregate_id.parse().expect("ids are account numbers");
        let mut view = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for envelope in events {
            let amount = envelope.payload.amount;
            view.totals.apply(&super::Deposited {
                account: account as u32,
                amount,
            });
            view.balances[account] += amount;
        }
    }
}

/// A framework, its read model and the accounts' locks.
struct Instance {
    cqrs: CqrsFramework<Account, MemStore<Account>>,
    view: Arc<Mutex<View>>,
    ids: Vec<String>,
    locks: Vec<Mutex<()>>,
}

impl Instance {
    fn new() -> Self {
        let view = Arc::new(Mutex::new(View {
            totals: Totals::default(),
            balances: vec![0; ACCOUNTS],
        }));
        let query = TotalsQuery(Arc::clone(&view));
        Self {
            cqrs: CqrsFramework::new(MemStore::default(), vec![Box::new(query)], ()),
            view,
            ids: (0..ACCOUNTS).map(|a| a.to_string()).collect(),
            locks: (0..ACCOUNTS).map(|_| Mutex::new(())).collect(),
        }
    }

    /// Executes one deposit and returns when it is committed and in the read model.
    fn submit(&self, deposit: Deposit) -> Result<(), String> {
        let account = deposit.account as usize;
        // Held across the whole load, decide and commit: see the module's text.
        let _guard = self.locks[account]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        futures_executor::block_on(self.cqrs.execute(&self.ids[account], deposit.amount))
            .map_err(|e| format!("cqrs-es refused a deposit: {e}"))
    }
}

/// cqrs-es as a peer.
pub struct CqrsEs;

impl Bus for CqrsEs {
    fn name(&self) -> &'static str {
        "cqrs_es_mem"
    }

    fn waiting(&self) -> String {
        "execute awaited per command; a lock per account".into()
    }

    /// Each command loads and replays its account's whole history (what the
    /// in-memory store does), so runs are kept to a hundredth of the plan: about
    /// 100 events per account at the end of a full run's throughput rows.
    fn divisor(&self, _durability: Durability) -> u64 {
        100
    }

    fn throughput(
        &self,
        producers: usize,
        per_producer: u64,
        durability: Durability,
    ) -> Result<Finished, NoFigure> {
        if durability == Durability::Synced {
            return Err(NoFigure::cannot_run(
                "MemStore keeps events in memory: nothing to sync",
            ));
        }
        let bus = Instance::new();
        let _quiet = Silenced::stdout();
        let elapsed = submit_from_threads(producers, per_producer, |deposit| bus.submit(deposit))?;
        let view = bus.view.lock().unwrap_or_else(|p| p.into_inner());
        Ok(Finished {
            elapsed,
            totals: view.totals,
            balance_sum: view.balances.iter().sum(),
        })
    }

    fn latency(&self, rate: u64, count: u64, level: Level) -> Result<Histogram<u64>, NoFigure> {
        if level == Level::Durable {
            return Err(NoFigure::cannot_run(
                "MemStore keeps events in memory: nothing to sync",
            ));
        }
        let bus = Instance::new();
        let _quiet = Silenced::stdout();
        // Processed and visible at once: `execute` returns after the queries ran.
        Ok(synchronous_latency(rate, count, |deposit| {
            bus.submit(deposit)
        })?)
    }
}

/// Stdout sent to `/dev/null` until dropped (where it can be: otherwise left as
/// it is).
struct Silenced(Option<std::os::fd::OwnedFd>);

impl Silenced {
    fn stdout() -> Self {
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let saved = rustix::io::dup(rustix::stdio::stdout()).ok();
        let null = std::fs::OpenOptions::new().write(true).open("/dev/null");
        match (saved, null) {
            (Some(saved), Ok(null)) if rustix::stdio::dup2_stdout(&null).is_ok() => {
                Self(Some(saved))
            }
            _ => Self(None),
        }
    }
}

impl Drop for Silenced {
    fn drop(&mut self) {
        use std::io::Write;
        if let Some(saved) = self.0.take() {
            let _ = std::io::stdout().flush();
            let _ = rustix::stdio::dup2_stdout(&saved);
        }
    }
}
