//! A journal written by one version of an event type, replayed by another: a
//! variant inserted mid-enum, a field added, the type renamed, `u64` become `i64`.
//! Each is refused with an error naming the record and both schemas, or replays
//! correctly through an upcaster; never to a wrong state. An older binary refuses
//! the newer journal.

#![cfg(not(miri))] // Miri cannot map files

use std::marker::PhantomData;
use std::path::Path;

use seqlane::{Aggregate, EngineBuilder, EngineError, EventDecoder, ReplayCause};
use seqlane_journal::Reader;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// What each version of the event type can do.
trait Ev: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {
    fn deposit(amount: u64) -> Self;
    fn withdraw(amount: u64) -> Self;
    fn delta(&self) -> i128;
}

mod v1 {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    pub enum Event {
        Deposited { amount: u64 },
        Withdrew { amount: u64 },
    }
}

mod inserted {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    pub enum Event {
        Deposited { amount: u64 },
        Frozen,
        Withdrew { amount: u64 },
    }
}

mod added {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    pub enum Event {
        Deposited {
            amount: u64,
            #[serde(default)]
            memo: String,
        },
        Withdrew {
            amount: u64,
        },
    }
}

mod renamed {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    pub enum AccountEvent {
        Deposited { amount: u64 },
        Withdrew { amount: u64 },
    }
}

mod signed {
    #[derive(Clone, serde::Serialize, serde::Deserialize)]
    pub enum Event {
        Deposited { amount: i64 },
        Withdrew { amount: i64 },
    }
}

impl Ev for v1::Event {
    fn deposit(amount: u64) -> Self {
        Self::Deposited { amount }
    }
    fn withdraw(amount: u64) -> Self {
        Self::Withdrew { amount }
    }
    fn delta(&self) -> i128 {
        match *self {
            Self::Deposited { amount } => amount.into(),
            Self::Withdrew { amount } => -i128::from(amount),
        }
    }
}

impl Ev for inserted::Event {
    fn deposit(amount: u64) -> Self {
        Self::Deposited { amount }
    }
    fn withdraw(amount: u64) -> Self {
        Self::Withdrew { amount }
    }
    fn delta(&self) -> i128 {
        match *self {
            Self::Deposited { amount } => amount.into(),
            Self::Frozen => 0,
            Self::Withdrew { amount } => -i128::from(amount),
        }
    }
}

impl Ev for added::Event {
    fn deposit(amount: u64) -> Self {
        Self::Deposited {
            amount,
            memo: "new".into(),
        }
    }
    fn withdraw(amount: u64) -> Self {
        Self::Withdrew { amount }
    }
    fn delta(&self) -> i128 {
        match *self {
            Self::Deposited { amount, .. } => amount.into(),
            Self::Withdrew { amount } => -i128::from(amount),
        }
    }
}

impl Ev for renamed::AccountEvent {
    fn deposit(amount: u64) -> Self {
        Self::Deposited { amount }
    }
    fn withdraw(amount: u64) -> Self {
        Self::Withdrew { amount }
    }
    fn delta(&self) -> i128 {
        match *self {
            Self::Deposited { amount } => amount.into(),
            Self::Withdrew { amount } => -i128::from(amount),
        }
    }
}

impl Ev for signed::Event {
    fn deposit(amount: u64) -> Self {
        Self::Deposited {
            amount: amount as i64,
        }
    }
    fn withdraw(amount: u64) -> Self {
        Self::Withdrew {
            amount: amount as i64,
        }
    }
    fn delta(&self) -> i128 {
        match *self {
            Self::Deposited { amount } => amount.into(),
            Self::Withdrew { amount } => -i128::from(amount),
        }
    }
}

/// A balance, kept with events of type `E`. Withdrawals below zero are refused.
struct Balance<E>(i128, PhantomData<E>);

impl<E> Default for Balance<E> {
    fn default() -> Self {
        Balance(0, PhantomData)
    }
}

impl<E: Ev> Aggregate for Balance<E> {
    type Command = i64;
    type Event = E;
    type Rejection = ();

    fn decide(&self, change: &i64, events: &mut Vec<E>) -> Result<(), ()> {
        match *change {
            c if c >= 0 => events.push(E::deposit(c as u64)),
            c if i128::from(c.unsigned_abs()) <= self.0 => {
                events.push(E::withdraw(c.unsigned_abs()))
            }
            _ => return Err(()),
        }
        Ok(())
    }

    fn apply(&mut self, event: &E) {
        self.0 += event.delta();
    }
}

/// Deposits and withdrawals that end at 70,301 (large amounts, so a misread
/// `u64` as `i64` or a shifted variant would show).
const CHANGES: [i64; 6] = [70_000, 1 << 40, -(1 << 40), 301, -1, 1];

fn write_v1(dir: &Path) -> i128 {
    let engine = EngineBuilder::new(dir, Balance::<v1::Event>::default())
        .start()
        .unwrap();
    for change in CHANGES {
        engine.gateway().send(change).unwrap();
    }
    engine.shutdown().unwrap().state.0
}

fn refusal<E: Ev>(builder: EngineBuilder<Balance<E>>) -> (u64, String) {
    match builder.start() {
        Err(EngineError::Replay {
            sequence,
            cause: cause @ ReplayCause::UnknownSchema { .. },
        }) => (sequence, cause.to_string()),
        Err(other) => panic!("expected a replay error, got {other}"),
        Ok(engine) => panic!(
            "the engine started on a journal of another schema, with balance {}",
            engine.shutdown().unwrap().state.0
        ),
    }
}

/// The balance an [`EventDecoder`] reads from the journal, as a consumer outside
/// the engine (a remote projection) would; the first record it refuses.
fn decoded<E: Ev>(dir: &Path, decoder: &mut EventDecoder<E>) -> Result<i128, (u64, ReplayCause)> {
    let mut reader = Reader::open(dir, 0).unwrap();
    let mut balance = 0;
    while let Some(record) = reader.next_record().unwrap() {
        let committed = decoder
            .push(record.sequence, record.tag, record.payload)
            .map_err(|cause| (record.sequence, cause))?;
        for (_, event) in committed.into_iter().flat_map(|c| c.events) {
            balance += event.delta();
        }
    }
    assert!(decoder.between_commands());
    Ok(balance)
}

/// Refused without an upcaster; replayed with one; the mixed journal replays
/// again; the version 1 code refuses the journal the new code wrote. An
/// [`EventDecoder`] configured as the engine reads what the engine replays.
fn check<E: Ev>(new_name: &str, upcast: fn(v1::Event) -> Vec<E>, same_name_and_version: bool) {
    let dir = tempfile::tempdir().unwrap();
    let expected = write_v1(dir.path());
    assert_eq!(expected, 70_301);

    let (sequence, reason) = refusal(EngineBuilder::new(dir.path(), Balance::<E>::default()));
    assert_eq!(
        sequence, 1,
        "record 0 declares the schema; record 1 is the first event"
    );
    assert!(
        reason.contains("written as Event v1"),
        "{new_name}: {reason}"
    );
    assert!(
        reason.contains(&format!("reads {new_name} v1")),
        "{new_name}: {reason}"
    );
    assert_eq!(
        reason.contains("changed without a new version"),
        same_name_and_version,
        "{new_name}: {reason}"
    );

    let upgraded = || {
        EngineBuilder::new(dir.path(), Balance::<E>::default())
            .event_schema(new_name, 2)
            .upcast("Event", 1, upcast)
    };
    let engine = upgraded().start().unwrap();
    assert_eq!(engine.recovery().events, CHANGES.len() as u64);
    engine.gateway().send(-300).unwrap();
    assert_eq!(engine.shutdown().unwrap().state.0, 70_001, "{new_name}");

    let engine = upgraded().start().unwrap();
    assert_eq!(
        engine.shutdown().unwrap().state.0,
        70_001,
        "{new_name}: mixed journal"
    );
    let mut decoder = EventDecoder::<E>::new()
        .event_schema(new_name, 2)
        .upcast("Event", 1, upcast);
    assert_eq!(decoded(dir.path(), &mut decoder), Ok(70_001), "{new_name}");
    match decoded(dir.path(), &mut EventDecoder::<E>::new()) {
        Err((1, ReplayCause::UnknownSchema { .. })) => {}
        other => panic!("{new_name}: a decoder without the upcaster gave {other:?}"),
    }

    let (sequence, reason) = refusal(EngineBuilder::new(
        dir.path(),
        Balance::<v1::Event>::default(),
    ));
    assert!(
        sequence > CHANGES.len() as u64,
        "{new_name}: refused at {sequence}"
    );
    assert!(
        reason.contains(&format!("written as {new_name} v2")),
        "{new_name}: {reason}"
    );
    assert!(reason.contains("reads Event v1"), "{new_name}: {reason}");
}

fn amounts(event: v1::Event) -> (bool, u64) {
    match event {
        v1::Event::Deposited { amount } => (true, amount),
        v1::Event::Withdrew { amount } => (false, amount),
    }
}

#[test]
fn a_variant_inserted_mid_enum() {
    check::<inserted::Event>(
        "Event",
        |old| match amounts(old) {
            (true, amount) => vec![inserted::Event::Deposited { amount }],
            (false, amount) => vec![inserted::Event::Withdrew { amount }],
        },
        true,
    );
}

#[test]
fn a_field_added_with_a_default() {
    check::<added::Event>(
        "Event",
        |old| match amounts(old) {
            (true, amount) => vec![added::Event::Deposited {
                amount,
                memo: "v1".into(),
            }],
            (false, amount) => vec![added::Event::Withdrew { amount }],
        },
        true,
    );
}

#[test]
fn the_type_renamed() {
    check::<renamed::AccountEvent>(
        "AccountEvent",
        |old| match amounts(old) {
            (true, amount) => vec![renamed::AccountEvent::Deposited { amount }],
            (false, amount) => vec![renamed::AccountEvent::Withdrew { amount }],
        },
        false,
    );
}

#[test]
fn u64_become_i64() {
    check::<signed::Event>(
        "Event",
        |old| match amounts(old) {
            (true, amount) => vec![signed::Event::Deposited {
                amount: amount as i64,
            }],
            (false, amount) => vec![signed::Event::Withdrew {
                amount: amount as i64,
            }],
        },
        true,
    );
}

/// One event split in two by the upcaster: both are applied.
#[test]
fn an_upcaster_may_split_an_event() {
    let dir = tempfile::tempdir().unwrap();
    write_v1(dir.path());
    let engine = EngineBuilder::new(dir.path(), Balance::<inserted::Event>::default())
        .event_schema("Event", 2)
        .upcast("Event", 1, |old: v1::Event| match amounts(old) {
            (true, amount) => vec![
                inserted::Event::Deposited { amount: amount / 2 },
                inserted::Event::Deposited {
                    amount: amount - amount / 2,
                },
            ],
            (false, amount) => vec![
                inserted::Event::Frozen,
                inserted::Event::Withdrew { amount },
            ],
        })
        .start()
        .unwrap();
    assert_eq!(engine.recovery().events, 2 * CHANGES.len() as u64);
    assert_eq!(engine.shutdown().unwrap().state.0, 70_301);
}
