//! A rejected command with an id is remembered like an accepted one: a resubmission
//! gets the same rejection, across restarts and snapshots, and the command does not
//! run again; unless the aggregate does not encode rejections, or the rejection was
//! not `decide`'s (a version conflict), in which case the id stays free.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use std::path::Path;

use seqlane::{
    Aggregate, Command, CommandId, Engine, EngineBuilder, Outcome, Projection, ReadModel,
    Rejection, Until, WaitError,
};
use seqlane_journal::JournalOptions;
use serde::{Deserialize, Serialize};

/// How an aggregate treats its rejections.
const FORGET: u8 = 0;
const REMEMBER: u8 = 1;
/// Encodes rejections but cannot decode them (an older encoding, say).
const GARBLE: u8 = 2;

/// Seats left to sell; `MODE` says how rejections are kept.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Seats<const MODE: u8> {
    left: u32,
}

#[derive(Debug)]
enum Op {
    Add(u32),
    Sell(u32),
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Refusal {
    SoldOut { wanted: u32, left: u32 },
}

impl<const MODE: u8> Aggregate for Seats<MODE> {
    type Command = Op;
    type Event = i64;
    type Rejection = Refusal;

    fn decide(&self, command: &Op, events: &mut Vec<i64>) -> Result<(), Refusal> {
        match *command {
            Op::Add(seats) => events.push(i64::from(seats)),
            Op::Sell(wanted) if wanted > self.left => {
                return Err(Refusal::SoldOut {
                    wanted,
                    left: self.left,
                })
            }
            Op::Sell(wanted) => events.push(-i64::from(wanted)),
        }
        Ok(())
    }

    fn apply(&mut self, event: &i64) {
        self.left = (i64::from(self.left) + event) as u32;
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(postcard::to_stdvec(self).unwrap())
    }

    fn restore(bytes: &[u8]) -> Result<Self, String> {
        postcard::from_bytes(bytes).map_err(|error| error.to_string())
    }

    fn encode_rejection(reason: &Refusal) -> Option<Vec<u8>> {
        (MODE != FORGET).then(|| postcard::to_stdvec(reason).unwrap())
    }

    fn decode_rejection(bytes: &[u8]) -> Result<Refusal, String> {
        if MODE == GARBLE {
            return Err("refusals are encoded differently now".into());
        }
        postcard::from_bytes(bytes).map_err(|error| error.to_string())
    }
}

/// Counts the events it sees.
#[derive(Default)]
struct Sales(u64);

impl Projection<i64> for Sales {
    type View = u64;

    fn apply(&mut self, _: &i64, _: u64) {
        self.0 += 1;
    }

    fn view(&self) -> u64 {
        self.0
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(self.0.to_le_bytes().to_vec())
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.0 = u64::from_le_bytes(bytes.try_into().map_err(|_| "8 bytes")?);
        Ok(())
    }
}

fn start_with_sales<const MODE: u8>(dir: &Path) -> (Engine<Seats<MODE>>, ReadModel<u64>) {
    let mut builder = EngineBuilder::new(dir, Seats::<MODE>::default())
        .topology(common::topology())
        .journal_options(JournalOptions::default().segment_size(1 << 20))
        .input_capacity(64)
        .output_capacity(64);
    let sales = builder.add_projection("sales", Sales::default());
    (builder.start().unwrap(), sales)
}

fn start<const MODE: u8>(dir: &Path) -> Engine<Seats<MODE>> {
    start_with_sales(dir).0
}

fn submit<const MODE: u8>(
    engine: &Engine<Seats<MODE>>,
    command: impl Into<Command<Op>>,
    until: Until,
) -> Outcome<Seats<MODE>> {
    engine
        .gateway()
        .submit(command)
        .unwrap()
        .wait(until)
        .map_err(|error| match error {
            WaitError::Rejected(rejection) => rejection,
            other => panic!("the wait itself failed: {other:?}"),
        })
}

const SOLD_OUT: Refusal = Refusal::SoldOut { wanted: 5, left: 2 };

#[test]
fn a_rejected_id_gets_the_same_rejection_across_restarts_and_snapshots() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let id = CommandId(0x5ea7);
        let sell = || Command::new(Op::Sell(5)).with_id(id);
        {
            let engine = start::<REMEMBER>(dir.path());
            submit(&engine, Op::Add(2), Until::Processed).unwrap();
            let first = submit(&engine, sell(), Until::Durable);
            assert_eq!(first, Err(Rejection::Domain(SOLD_OUT)));
            // Enough seats now, but the id was decided: the same rejection, no sale.
            submit(&engine, Op::Add(10), Until::Processed).unwrap();
            assert_eq!(submit(&engine, sell(), Until::Durable), first);
            let metrics = engine.metrics();
            assert_eq!((metrics.rejected, metrics.duplicates), (1, 1));
            assert_eq!(engine.shutdown().unwrap().state.left, 12);
        }
        {
            let (engine, sales) = start_with_sales::<REMEMBER>(dir.path());
            assert_eq!(
                submit(&engine, sell(), Until::Visible(sales.id())),
                Err(Rejection::Domain(SOLD_OUT)),
                "the rejection is journaled, so a restart remembers it"
            );
            engine.snapshot().unwrap();
            engine.shutdown().unwrap();
        }
        let engine = start::<REMEMBER>(dir.path());
        assert!(engine.recovery().snapshot.is_some());
        assert_eq!(
            submit(&engine, sell(), Until::Processed),
            Err(Rejection::Domain(SOLD_OUT)),
            "the snapshot remembers it"
        );
        // Another id is decided on its own.
        let other = Command::new(Op::Sell(5)).with_id(CommandId(1));
        assert!(submit(&engine, other, Until::Durable).is_ok());
        assert_eq!(engine.shutdown().unwrap().state.left, 7);
    });
}

#[test]
fn without_an_encoding_a_rejected_id_is_decided_again() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let engine = start::<FORGET>(dir.path());
        let sell = || Command::new(Op::Sell(5)).with_id(CommandId(9));
        // Durable: the journaler has counted this command's record before `before`.
        submit(&engine, Op::Add(2), Until::Durable).unwrap();
        let before = engine.metrics().journal_records;
        assert_eq!(
            submit(&engine, sell(), Until::Durable),
            Err(Rejection::Domain(SOLD_OUT))
        );
        assert_eq!(
            engine.metrics().journal_records,
            before,
            "nothing journaled"
        );
        submit(&engine, Op::Add(10), Until::Processed).unwrap();
        assert!(submit(&engine, sell(), Until::Processed).is_ok());
        assert_eq!(engine.shutdown().unwrap().state.left, 7);
    });
}

#[test]
fn a_version_conflict_leaves_the_id_free() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let engine = start::<REMEMBER>(dir.path());
        submit(&engine, Op::Add(2), Until::Processed).unwrap();
        let id = CommandId(3);
        let stale = Command::new(Op::Sell(1)).with_id(id).expect_version(0);
        assert_eq!(
            submit(&engine, stale, Until::Durable),
            Err(Rejection::Conflict {
                expected: 0,
                actual: 1
            })
        );
        let current = Command::new(Op::Sell(1)).with_id(id).expect_version(1);
        assert!(submit(&engine, current, Until::Durable).is_ok());
        assert_eq!(engine.shutdown().unwrap().state.left, 1);
    });
}

#[test]
fn a_rejection_that_no_longer_decodes_is_still_not_run_again() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let sell = || Command::new(Op::Sell(5)).with_id(CommandId(4));
        {
            let engine = start::<REMEMBER>(dir.path());
            submit(&engine, Op::Add(2), Until::Processed).unwrap();
            assert!(submit(&engine, sell(), Until::Durable).is_err());
            submit(&engine, Op::Add(10), Until::Processed).unwrap();
            engine.shutdown().unwrap();
        }
        let engine = start::<GARBLE>(dir.path());
        match submit(&engine, sell(), Until::Processed) {
            Err(Rejection::Undecodable(reason)) => {
                assert!(reason.contains("encoded differently"), "{reason}");
            }
            other => panic!("expected an undecodable rejection, got {other:?}"),
        }
        assert_eq!(engine.shutdown().unwrap().state.left, 12, "nothing sold");
    });
}
