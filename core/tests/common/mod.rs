//! A small bank domain for the engine tests: accounts, deposits, withdrawals,
//! transfers (two events), plus commands that misbehave on purpose.

#![allow(dead_code)] // reason: each test file uses a different part of it

use std::collections::BTreeMap;
use std::sync::{Arc, Condvar, Mutex};

use seqlane::{Aggregate, Projection, Topology};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bank {
    pub balances: BTreeMap<u32, i64>,
    /// Per account, events applied to it.
    pub versions: BTreeMap<u32, u64>,
}

#[derive(Clone, Debug)]
pub enum Op {
    Open(u32),
    Deposit(u32, i64),
    Withdraw(u32, i64),
    Transfer(u32, u32, i64),
    /// `decide` panics.
    PanicInDecide,
    /// Accepted, but `apply` panics on its event.
    PoisonApply,
    /// `decide` blocks until the gate opens (to hold the business logic still).
    Wait(Gate),
    /// Accepted with no events.
    Nothing,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Opened(u32),
    Deposited(u32, i64),
    Withdrew(u32, i64),
    Poison,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    NoAccount(u32),
    Exists(u32),
    Insufficient { account: u32, balance: i64 },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

impl Bank {
    fn balance(&self, account: u32) -> Result<i64, Refusal> {
        self.balances
            .get(&account)
            .copied()
            .ok_or(Refusal::NoAccount(account))
    }
}

impl Aggregate for Bank {
    type Command = Op;
    type Event = Event;
    type Rejection = Refusal;

    fn decide(&self, command: &Op, events: &mut Vec<Event>) -> Result<(), Refusal> {
        match command {
            Op::Open(account) => {
                if self.balances.contains_key(account) {
                    return Err(Refusal::Exists(*account));
                }
                events.push(Event::Opened(*account));
            }
            Op::Deposit(account, amount) => {
                self.balance(*account)?;
                events.push(Event::Deposited(*account, *amount));
            }
            Op::Withdraw(account, amount) => {
                let balance = self.balance(*account)?;
                if balance < *amount {
                    return Err(Refusal::Insufficient {
                        account: *account,
                        balance,
                    });
                }
                events.push(Event::Withdrew(*account, *amount));
            }
            Op::Transfer(from, to, amount) => {
                let balance = self.balance(*from)?;
                self.balance(*to)?;
                if balance < *amount {
                    return Err(Refusal::Insufficient {
                        account: *from,
                        balance,
                    });
                }
                events.push(Event::Withdrew(*from, *amount));
                events.push(Event::Deposited(*to, *amount));
            }
            Op::PanicInDecide => panic!("decide refuses to decide"),
            Op::PoisonApply => events.push(Event::Poison),
            Op::Wait(gate) => gate.wait(),
            Op::Nothing => {}
        }
        Ok(())
    }

    fn apply(&mut self, event: &Event) {
        let account = match event {
            Event::Opened(account) => {
                self.balances.insert(*account, 0);
                account
            }
            Event::Deposited(account, amount) => {
                *self.balances.get_mut(account).unwrap() += amount;
                account
            }
            Event::Withdrew(account, amount) => {
                *self.balances.get_mut(account).unwrap() -= amount;
                account
            }
            Event::Poison => panic!("apply cannot apply poison"),
        };
        *self.versions.entry(*account).or_default() += 1;
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(postcard::to_stdvec(self).expect("a bank encodes"))
    }

    fn restore(bytes: &[u8]) -> Result<Self, String> {
        postcard::from_bytes(bytes).map_err(|e| e.to_string())
    }

    fn version_of(&self, command: &Op) -> Option<u64> {
        match command {
            Op::Deposit(account, _) | Op::Withdraw(account, _) | Op::Transfer(account, _, _) => {
                Some(self.versions.get(account).copied().unwrap_or(0))
            }
            _ => None,
        }
    }
}

/// A gate `decide` waits on: holds the business-logic thread still.
#[derive(Clone, Debug, Default)]
pub struct Gate(Arc<(Mutex<bool>, Condvar)>);

impl Gate {
    pub fn open(&self) {
        *self.0 .0.lock().unwrap() = true;
        self.0 .1.notify_all();
    }

    fn wait(&self) {
        let mut open = self.0 .0.lock().unwrap();
        while !*open {
            open = self.0 .1.wait(open).unwrap();
        }
    }
}

/// A read model of the balances, with how many events it has applied and the
/// sequence of the last one (so a test can check it is never torn: the sum of
/// balances always matches the deposits minus withdrawals it counted).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub balances: BTreeMap<u32, i64>,
    pub events: u64,
    pub deposited: i64,
    pub withdrawn: i64,
    pub last_sequence: Option<u64>,
}

impl Projection<Event> for Ledger {
    type View = Ledger;

    fn apply(&mut self, event: &Event, sequence: u64) {
        match event {
            Event::Opened(account) => {
                self.balances.insert(*account, 0);
            }
            Event::Deposited(account, amount) => {
                *self.balances.entry(*account).or_default() += amount;
                self.deposited += amount;
            }
            Event::Withdrew(account, amount) => {
                *self.balances.entry(*account).or_default() -= amount;
                self.withdrawn += amount;
            }
            Event::Poison => {}
        }
        self.events += 1;
        self.last_sequence = Some(sequence);
    }

    fn view(&self) -> Ledger {
        self.clone()
    }

    // Through serde; `Bank` writes its snapshot hooks by hand.
    seqlane::serde_snapshots!(projection);
}

/// Counts events: a projection that is cheap to publish.
#[derive(Clone, Debug, Default)]
pub struct EventCount(pub u64);

impl Projection<Event> for EventCount {
    type View = u64;

    fn apply(&mut self, _: &Event, _: u64) {
        self.0 += 1;
    }

    fn view(&self) -> u64 {
        self.0
    }
}

/// Submits `command`, waits `until`, and returns the accepted outcome (panicking
/// on anything else: for tests whose command must go through).
pub fn accepted(
    gateway: &seqlane::Gateway<Bank>,
    command: impl Into<seqlane::Command<Op>>,
    until: seqlane::Until,
) -> seqlane::Accepted<Event> {
    gateway
        .submit(command)
        .expect("the engine is open")
        .wait(until)
        .expect("the engine got that far")
}

thread_local! {
    /// The topology engines built by the running test use.
    static TOPOLOGY: std::cell::Cell<Topology> = const { std::cell::Cell::new(Topology::Auto) };
}

/// Runs `test` once under each topology: every engine it builds with
/// [`topology`] runs its stages on one thread, then on a thread each.
pub fn in_each_topology(test: impl Fn()) {
    for topology in [Topology::OneThread, Topology::ThreadPerStage] {
        // Shown with a failure's output: which run failed.
        eprintln!("under {topology:?}");
        TOPOLOGY.with(|current| current.set(topology));
        test();
    }
}

/// The topology of the run [`in_each_topology`] is in.
pub fn topology() -> Topology {
    TOPOLOGY.with(|current| current.get())
}
