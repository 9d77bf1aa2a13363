//! Replay on start: every whole command in the journal, through `apply` and every
//! projection, in journal order.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc as StdArc;

use seqlane_journal::{Codec, Journal};

use crate::engine::domain::Aggregate;
use crate::engine::error::EngineError;
use crate::engine::health::{self, ProjectionFailure};
use crate::engine::model::{Model, Remembered};
use crate::engine::projection::Runner;
use crate::engine::record::{self, Decoded, Found};
use crate::engine::schema::{ReplayCause, Schemas};
use crate::stage::panic_message;

pub(crate) struct Replayed {
    pub(crate) commands: u64,
    pub(crate) events: u64,
    pub(crate) discarded: u64,
}

/// Replays the journal into `model` (from record `state_from`) and `runners` (each
/// from its own start), then publishes every read model.
pub(crate) fn replay<A: Aggregate, C: Codec<A::Event>>(
    journal: &Journal,
    codec: &C,
    schemas: &mut Schemas<A::Event>,
    model: &mut Model<A>,
    state_from: u64,
    runners: &mut [Box<dyn Runner<A::Event>>],
    names: &[StdArc<str>],
) -> Result<Replayed, EngineError> {
    let mut replayed = Replayed {
        commands: 0,
        events: 0,
        discarded: 0,
    };
    // The records of the command being read, until its last one.
    let mut pending: Vec<(u64, Decoded<A::Event>)> = Vec::new();
    let from = runners
        .iter()
        .map(|runner| runner.start())
        .fold(state_from, u64::min)
        .max(journal.first_sequence());
    // Read from the first record held: the schema declarations before `from` say
    // what wrote the records after it. Records before `from` are only checked.
    let mut reader = journal.reader_from(journal.first_sequence())?;
    while let Some(found) = reader.next_record()? {
        let sequence = found.sequence;
        if sequence < from {
            if record::is_declaration(found.tag) {
                if let Ok(Found::Schema(schema)) =
                    record::decode(codec, schemas, found.tag, found.payload)
                {
                    schemas.declare(schema);
                }
            }
            continue;
        }
        let decoded = match record::decode(codec, schemas, found.tag, found.payload)
            .map_err(|cause| EngineError::Replay { sequence, cause })?
        {
            Found::Command(decoded) => decoded,
            Found::Schema(schema) => {
                // Declarations stand between sessions: a command still pending
                // here was cut short by a crash.
                replayed.discarded += pending.len() as u64;
                pending.clear();
                schemas.declare(schema);
                continue;
            }
        };
        if decoded.first != pending.is_empty() {
            // A command cut short by a crash (its batch was torn), followed by the
            // next session's records; or a record without its command's start.
            replayed.discarded += pending.len() as u64 + u64::from(!decoded.first);
            pending.clear();
            if !decoded.first {
                continue;
            }
        }
        let last = decoded.last;
        pending.push((sequence, decoded));
        if last {
            commit(
                journal.dir(),
                model,
                state_from,
                runners,
                names,
                &mut pending,
                &mut replayed,
            )?;
        }
    }
    replayed.discarded += pending.len() as u64;
    for runner in runners.iter_mut() {
        runner.publish();
    }
    Ok(replayed)
}

#[allow(clippy::too_many_arguments)] // reason: the replay's state, passed down once per command
fn commit<A: Aggregate>(
    dir: &std::path::Path,
    model: &mut Model<A>,
    state_from: u64,
    runners: &mut [Box<dyn Runner<A::Event>>],
    names: &[StdArc<str>],
    pending: &mut Vec<(u64, Decoded<A::Event>)>,
    replayed: &mut Replayed,
) -> Result<(), EngineError> {
    let first = pending.first().map(|(sequence, _)| *sequence);
    let last = pending.last().map(|(sequence, _)| *sequence);
    let id = pending.first().and_then(|(_, decoded)| decoded.id);
    let to_state = first.is_some_and(|first| first >= state_from);
    if let [(record, decoded)] = pending.as_mut_slice() {
        if let Some(rejection) = decoded.rejection.take() {
            if let (true, Some(id)) = (to_state, id) {
                let record = *record;
                model
                    .ids
                    .insert(id, Remembered::Rejected { record, rejection });
            }
            pending.clear();
            return Ok(());
        }
    }
    let metadata = pending
        .first_mut()
        .and_then(|(_, decoded)| decoded.metadata.take());
    for (sequence, decoded) in pending.drain(..) {
        for event in decoded.event.into_iter().chain(decoded.upcast) {
            for runner in runners.iter_mut().filter(|runner| {
                sequence >= runner.start() && runner.failure().is_none() && !runner.skips(sequence)
            }) {
                let applied = catch_unwind(AssertUnwindSafe(|| {
                    runner.apply(&event, sequence, metadata.as_ref())
                }));
                if let Err(payload) = applied {
                    // The projection stops alone; the start goes on.
                    let failure = ProjectionFailure {
                        sequence,
                        message: panic_message(payload.as_ref()),
                    };
                    let name = &names[runner.id().0];
                    let _ = health::record(dir, name, &failure);
                    runner.fail(failure);
                }
            }
            if !to_state {
                continue;
            }
            catch_unwind(AssertUnwindSafe(|| model.state.apply(&event))).map_err(|payload| {
                EngineError::Replay {
                    sequence,
                    cause: ReplayCause::ApplyPanicked(panic_message(payload.as_ref())),
                }
            })?;
            model.version += 1;
            replayed.events += 1;
        }
    }
    if !to_state {
        return Ok(());
    }
    if let (Some(id), Some(first), Some(last)) = (id, first, last) {
        model.ids.insert(
            id,
            Remembered::Accepted {
                version: model.version,
                records: Some(first..=last),
            },
        );
    }
    replayed.commands += 1;
    Ok(())
}

#[cfg(all(test, not(any(loom, miri))))]
mod tests {
    use seqlane_journal::{Journal, JournalOptions, Postcard};

    use crate::engine::record;
    use crate::engine::CommandId;
    use crate::{Aggregate, EngineBuilder};

    /// A sum of numbers.
    struct Sum(u64);

    impl Aggregate for Sum {
        type Command = u64;
        type Event = u64;
        type Rejection = ();

        fn decide(&self, command: &u64, events: &mut Vec<u64>) -> Result<(), ()> {
            events.push(*command);
            Ok(())
        }

        fn apply(&mut self, event: &u64) {
            self.0 += event;
        }
    }

    fn append(
        journal: &mut Journal,
        event: Option<u64>,
        id: Option<u128>,
        first: bool,
        last: bool,
    ) {
        let mut payload = Vec::new();
        let schema = crate::engine::schema::EventSchema::of::<u64, _>(&Postcard, "u64", 1);
        let tag = record::encode(
            &Postcard,
            schema.id(),
            event.as_ref(),
            record::About {
                id: id.map(CommandId),
                metadata: None,
            },
            first,
            last,
            &mut payload,
        )
        .unwrap();
        journal.append(tag, &payload).unwrap();
    }

    #[test]
    fn a_command_cut_short_is_skipped_wherever_it_lies() {
        let dir = tempfile::tempdir().unwrap();
        {
            let options = JournalOptions::default().segment_size(1 << 16);
            let mut journal = Journal::open(dir.path(), options).unwrap();
            append(&mut journal, Some(1), None, true, true);
            // A two-event command whose second record never made it.
            append(&mut journal, Some(10), Some(5), true, false);
            // The next session's command.
            append(&mut journal, Some(100), None, true, true);
            // A marker for an id with no events.
            append(&mut journal, None, Some(6), true, true);
            // A command cut short at the very end.
            append(&mut journal, Some(1000), None, true, false);
        }
        let engine = EngineBuilder::new(dir.path(), Sum(0)).start().unwrap();
        let recovery = engine.recovery().clone();
        assert_eq!(recovery.commands, 3);
        assert_eq!(recovery.events, 2);
        assert_eq!(recovery.discarded_records, 2);
        // The id of the torn command was not remembered: resubmitting it runs it.
        let gateway = engine.gateway();
        let again = gateway
            .submit(crate::Command::new(10).with_id(CommandId(5)))
            .unwrap()
            .wait(crate::Until::Processed)
            .unwrap();
        assert!(!again.duplicate);
        let marker = gateway
            .submit(crate::Command::new(0).with_id(CommandId(6)))
            .unwrap()
            .wait(crate::Until::Processed)
            .unwrap();
        assert!(marker.duplicate);
        assert_eq!(engine.shutdown().unwrap().state.0, 111);
    }

    #[test]
    fn a_foreign_record_is_a_replay_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut journal = Journal::open(dir.path(), JournalOptions::default()).unwrap();
            journal.append(0x100, b"not ours").unwrap();
        }
        match EngineBuilder::new(dir.path(), Sum(0)).start() {
            Err(crate::EngineError::Replay {
                sequence: 0,
                cause: crate::ReplayCause::NotAnEngineRecord(reason),
            }) => {
                assert!(reason.contains("not an engine record"), "{reason}");
            }
            other => panic!("expected a replay error, got {other:?}"),
        }
    }
}
