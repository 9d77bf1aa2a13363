//! The end-to-end scenario: commands through a whole CQRS pipeline (decide, apply,
//! record the events, update a read model), seqlane's engine beside a lock-based
//! bus doing the same work.
//!
//! The domain is a ledger of accounts: a command deposits an amount into one
//! account, `decide` checks it and emits one event, `apply` adds it to the balance,
//! and a read model keeps the count and sum of deposits. Every run checks the final
//! balances and the read model against what was submitted.

mod cqrs_es;
mod disk;
mod floor;
mod lock_bus;
mod seqlane;

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::scenario::NoFigure;

pub use cqrs_es::CqrsEs;
pub use disk::{fdatasync_floor, Placement};
pub use floor::HandoffFloor;
pub use lock_bus::LockBus;
pub use seqlane::{idle_cpu_percent, Caller, SeqlaneBus};

/// Accounts in the ledger.
pub const ACCOUNTS: usize = 1024;

/// Deposit `amount` into `account`.
#[derive(Clone, Copy, Debug)]
pub struct Deposit {
    pub account: u32,
    pub amount: i64,
}

/// `amount` was deposited into `account`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deposited {
    pub account: u32,
    pub amount: i64,
}

/// Why a deposit was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotPositive;

impl std::fmt::Display for NotPositive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a deposit must be positive")
    }
}

/// The write model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger {
    pub balances: Vec<i64>,
}

impl Default for Ledger {
    fn default() -> Self {
        Self {
            balances: vec![0; ACCOUNTS],
        }
    }
}

impl Ledger {
    pub fn decide(&self, command: &Deposit) -> Result<Deposited, NotPositive> {
        if command.amount <= 0 || command.account as usize >= self.balances.len() {
            return Err(NotPositive);
        }
        Ok(Deposited {
            account: command.account,
            amount: command.amount,
        })
    }

    pub fn apply(&mut self, event: &Deposited) {
        self.balances[event.account as usize] += event.amount;
    }
}

/// The read model: how many deposits, and their sum.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    pub deposits: u64,
    pub sum: i64,
}

impl Totals {
    pub fn apply(&mut self, event: &Deposited) {
        self.deposits += 1;
        self.sum += event.amount;
    }
}

/// The `i`-th command of producer `producer`: deterministic, so a run's expected
/// totals are known.
pub fn command(producer: usize, i: u64) -> Deposit {
    Deposit {
        account: ((i * 7 + producer as u64) % ACCOUNTS as u64) as u32,
        amount: 1 + (i % 100) as i64,
    }
}

/// The totals after `per_producer` commands from each of `producers`.
pub fn expected(producers: usize, per_producer: u64) -> Totals {
    let mut totals = Totals::default();
    for producer in 0..producers {
        for i in 0..per_producer {
            let c = command(producer, i);
            totals.apply(&Deposited {
                account: c.account,
                amount: c.amount,
            });
        }
    }
    totals
}

/// How long a latency run waits on each command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Processed,
    Durable,
    Visible,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Processed, Level::Durable, Level::Visible];

    pub fn name(self) -> &'static str {
        match self {
            Level::Processed => "processed",
            Level::Durable => "durable",
            Level::Visible => "visible",
        }
    }
}

/// Whether a run's events must reach the disk before a command counts as done.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Durability {
    /// Recorded (journaled to the page cache, or kept in the bus's event list).
    Recorded,
    /// Synced to disk once per batch.
    Synced,
}

/// A whole run's figures.
pub struct Finished {
    pub elapsed: Duration,
    pub totals: Totals,
    /// The write model's balances summed, as a second check.
    pub balance_sum: i64,
}

/// A CQRS pipeline under test.
pub trait Bus: Sync {
    /// The name in the table.
    fn name(&self) -> &'static str;

    /// How it waits, for the table.
    fn waiting(&self) -> String;

    /// `producers` threads each submit `per_producer` commands without waiting for
    /// them one by one; returns once every command is processed, recorded (per
    /// `durability`) and in the read model.
    fn throughput(
        &self,
        producers: usize,
        per_producer: u64,
        durability: Durability,
    ) -> Result<Finished, NoFigure>;

    /// Offers `count` commands at `rate` per second from one thread and records, for
    /// each, the time from its intended send time to `level`.
    fn latency(&self, rate: u64, count: u64, level: Level) -> Result<Histogram<u64>, NoFigure>;

    /// Whether it has latency rows at all (a throughput floor has none).
    fn measures_latency(&self) -> bool {
        true
    }

    /// By how much its runs at `durability` are shortened: a bus that syncs per
    /// command does a few thousand a second, and one that replays an aggregate's
    /// whole history at each command slows as the history grows; the planned
    /// counts would keep either busy for an hour. Rates stay comparable where the
    /// cost per command does not grow; the rows carry their sample counts.
    fn divisor(&self, _durability: Durability) -> u64 {
        1
    }
}

/// For a bus whose `submit` returns once the command is done: `producers` threads
/// each submit `per_producer` commands, one after the other; the time they took,
/// or the first failure.
pub fn submit_from_threads(
    producers: usize,
    per_producer: u64,
    submit: impl Fn(Deposit) -> Result<(), String> + Sync,
) -> Result<Duration, String> {
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        let threads: Vec<_> = (0..producers)
            .map(|producer| {
                let submit = &submit;
                scope
                    .spawn(move || (0..per_producer).try_for_each(|i| submit(command(producer, i))))
            })
            .collect();
        threads
            .into_iter()
            .try_for_each(|t| t.join().expect("a producer panicked"))
    })?;
    Ok(started.elapsed())
}

/// For the same kind of bus: `count` commands offered at `rate` from one thread,
/// each timed from its intended send time to `submit`'s return (processed, visible
/// and, where the bus syncs, durable at once); or the first failure.
pub fn synchronous_latency(
    rate: u64,
    count: u64,
    mut submit: impl FnMut(Deposit) -> Result<(), String>,
) -> Result<Histogram<u64>, String> {
    let mut histogram = crate::peers::histogram();
    let mut failed = None;
    let epoch = std::time::Instant::now();
    // Spinning before each command (yielding while it is far off), as seqlane's
    // sender does: the sender's own lateness stays out of every bus's figures
    // alike.
    let wait = crate::pacing::Wait::SpinYielding;
    crate::pacing::paced(epoch, rate, count, wait, |i, due| {
        if let Err(e) = submit(command(0, i)) {
            failed.get_or_insert(e);
        }
        let latency = (epoch.elapsed().as_nanos() as u64).saturating_sub(due);
        histogram.saturating_record(latency.max(1));
    });
    failed.map_or(Ok(histogram), Err)
}

/// Checks a run's totals: a bus that lost or duplicated a command fails the run.
pub fn verify(
    bus: &str,
    producers: usize,
    per_producer: u64,
    run: &Finished,
) -> Result<(), String> {
    let expected = expected(producers, per_producer);
    if run.totals != expected || run.balance_sum != expected.sum {
        return Err(format!(
            "{bus}: the read model shows {:?} and the balances sum to {}, expected {expected:?}: \
             a command was lost or duplicated",
            run.totals, run.balance_sum
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{verify, Bus, Durability, HandoffFloor, Level, LockBus, SeqlaneBus};

    #[test]
    fn both_buses_process_every_command_and_the_check_catches_a_lost_one() {
        let buses: [Box<dyn Bus>; 5] = [
            Box::new(SeqlaneBus { capacity: 1024 }),
            Box::new(super::CqrsEs),
            Box::new(LockBus { journal: false }),
            Box::new(LockBus { journal: true }),
            Box::new(HandoffFloor { capacity: 1024 }),
        ];
        for bus in &buses {
            let mut run = bus.throughput(2, 5_000, Durability::Recorded).unwrap();
            verify(bus.name(), 2, 5_000, &run).unwrap();
            run.totals.deposits -= 1;
            assert!(verify(bus.name(), 2, 5_000, &run).is_err());
            for level in Level::ALL {
                match bus.latency(50_000, 1_000, level) {
                    Ok(histogram) => assert_eq!(histogram.len(), 1_000),
                    Err(reason) => assert!(
                        !bus.measures_latency()
                            || matches!(bus.name(), "lock_cqrs_bus" | "cqrs_es_mem")
                                && level == Level::Durable,
                        "{reason:?}"
                    ),
                }
            }
        }
        let synced = SeqlaneBus { capacity: 1024 }
            .throughput(1, 2_000, Durability::Synced)
            .unwrap();
        verify("seqlane", 1, 2_000, &synced).unwrap();
        assert!(LockBus { journal: false }
            .throughput(1, 10, Durability::Synced)
            .is_err());
        let synced = LockBus { journal: true }
            .throughput(2, 500, Durability::Synced)
            .unwrap();
        verify("lock_bus_journal", 2, 500, &synced).unwrap();
        assert!(HandoffFloor { capacity: 64 }
            .throughput(1, 10, Durability::Synced)
            .is_err());
    }
}
