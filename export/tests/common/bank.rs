//! A small bank for the tests: deposits and transfers decided by an engine, a
//! ledger projection whose view shows any record applied twice, skipped or out of
//! order, and the ledger an oracle reads straight from the journal.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use seqlane::{Aggregate, EventDecoder, Projection};
use serde::{Deserialize, Serialize};

/// Accounts numbered below this.
pub const ACCOUNTS: u32 = 16;

#[derive(Clone, Debug)]
pub enum Command {
    Deposit { account: u32, amount: i64 },
    Transfer { from: u32, to: u32, amount: i64 },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    Deposited { account: u32, amount: i64 },
    Withdrew { account: u32, amount: i64 },
}

/// Balances; a transfer beyond the balance is refused.
#[derive(Default)]
pub struct Bank(BTreeMap<u32, i64>);

impl Aggregate for Bank {
    type Command = Command;
    type Event = Event;
    type Rejection = ();

    fn decide(&self, command: &Command, events: &mut Vec<Event>) -> Result<(), ()> {
        match *command {
            Command::Deposit { account, amount } => {
                events.push(Event::Deposited { account, amount })
            }
            Command::Transfer { from, to, amount } => {
                if self.0.get(&from).copied().unwrap_or(0) < amount {
                    return Err(());
                }
                events.push(Event::Withdrew {
                    account: from,
                    amount,
                });
                events.push(Event::Deposited {
                    account: to,
                    amount,
                });
            }
        }
        Ok(())
    }

    fn apply(&mut self, event: &Event) {
        match *event {
            Event::Deposited { account, amount } => *self.0.entry(account).or_default() += amount,
            Event::Withdrew { account, amount } => *self.0.entry(account).or_default() -= amount,
        }
    }
}

/// The `i`th command of a test's sequence: mostly transfers, some refused.
pub fn command(i: u64) -> Command {
    let account = (i.wrapping_mul(7919) % u64::from(ACCOUNTS)) as u32;
    if i.is_multiple_of(3) {
        Command::Deposit {
            account,
            amount: (i % 100) as i64 + 1,
        }
    } else {
        Command::Transfer {
            from: account,
            to: (account + 1 + (i % 5) as u32) % ACCOUNTS,
            amount: (i % 40) as i64 + 1,
        }
    }
}

/// Balances, the events applied and a running hash of (sequence, event): any
/// record applied twice, skipped or out of order changes the hash.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    pub balances: BTreeMap<u32, i64>,
    pub events: u64,
    pub last_sequence: Option<u64>,
    pub chain: u64,
}

impl Projection<Event> for Ledger {
    type View = Ledger;

    fn apply(&mut self, event: &Event, sequence: u64) {
        let (account, delta, kind) = match *event {
            Event::Deposited { account, amount } => (account, amount, 1),
            Event::Withdrew { account, amount } => (account, -amount, 2),
        };
        *self.balances.entry(account).or_default() += delta;
        self.events += 1;
        self.last_sequence = Some(sequence);
        for word in [sequence, u64::from(account), delta as u64, kind] {
            self.chain = (self.chain ^ word)
                .wrapping_mul(0x100_0000_01b3)
                .rotate_left(29);
        }
    }

    fn view(&self) -> Ledger {
        self.clone()
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(postcard::to_allocvec(self).unwrap())
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        *self = postcard::from_bytes(bytes).map_err(|e| e.to_string())?;
        Ok(())
    }
}

/// The ledger of every whole command in the journal in `dir`, read from the
/// journal itself.
pub fn oracle(dir: &Path) -> Ledger {
    let mut decoder = EventDecoder::<Event>::new();
    let mut ledger = Ledger::default();
    let mut reader = seqlane_journal::Reader::open(dir, 0).unwrap();
    while let Some(record) = reader.next_record().unwrap() {
        let committed = decoder
            .push(record.sequence, record.tag, record.payload)
            .unwrap();
        for (sequence, event) in committed.into_iter().flat_map(|c| c.events) {
            ledger.apply(&event, sequence);
        }
    }
    ledger
}

/// Runs `count` commands through an engine on the journal in `dir`, then stops
/// it; returns the journal's next sequence.
pub fn write_commands(dir: &Path, from: u64, count: u64) -> u64 {
    let engine = seqlane::EngineBuilder::new(dir, Bank::default())
        .start()
        .unwrap();
    for i in from..from + count {
        engine.gateway().send(command(i)).unwrap();
    }
    engine.shutdown().unwrap();
    seqlane_journal::durable_line(dir).unwrap()
}
