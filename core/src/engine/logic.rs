//! The business-logic stage: the single writer of the domain state. It decides each
//! command, applies its events, hands them to the journaler through the output ring
//! and leaves the outcome for the command's receipt.

use std::ops::RangeInclusive;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::engine::domain::{Aggregate, Command, CommandId};
use crate::engine::inline::Output;
use crate::engine::metadata::Stamper;
use crate::engine::model::{Model, Remembered};
use crate::engine::outcome::{Accepted, Decided, Outcome, Rejection};
use crate::engine::progress::Line;
use crate::engine::record::{self, About};
use crate::engine::shared::{EngineShared, Failure};
use crate::engine::slots::Submission;
use crate::engine::snapshot::{self, Refused, Saved};
use crate::stage::{panic_message, EventHandler};
use crate::sync::{lock, Arc};
use seqlane_journal::Codec;

/// A command's outcome, with the journal records it left.
struct Decision<A: Aggregate> {
    outcome: Outcome<A>,
    /// The command's last journal record (this time or, for a repeat, the first).
    last_record: Option<u64>,
    /// How many records to publish now (encoded in `Logic::encoded`).
    publish: usize,
    /// A resubmitted id: the first outcome, again.
    repeat: bool,
}

impl<A: Aggregate> Decision<A> {
    fn rejected(rejection: Rejection<A::Rejection>) -> Self {
        Self {
            outcome: Err(rejection),
            last_record: None,
            publish: 0,
            repeat: false,
        }
    }
}

/// How the logic encodes records: the codec, the running event schema's id, and
/// the journal's longest record payload.
pub(crate) struct RecordFormat<C> {
    pub(crate) codec: C,
    pub(crate) schema_id: u32,
    pub(crate) max_payload: usize,
}

pub(crate) struct Logic<A: Aggregate, C> {
    /// `None` only once handed back in `drop`.
    model: Option<Model<A>>,
    /// Encodes the records here, before `apply`, so that a command whose events
    /// cannot be journaled is rejected instead of stopping the engine (and so that
    /// the journaler, the busier thread, has less to do).
    codec: C,
    /// The id of the running event schema, carried by every event record.
    schema_id: u32,
    /// The journal's longest record payload.
    max_payload: usize,
    /// The current command's records: tag and payload (buffers reused; only the
    /// first ones, as many as the command has records, are the current command's).
    encoded: Vec<(u32, Vec<u8>)>,
    engine: Arc<EngineShared<A>>,
    /// `None` once shut down (or handed on in `drop`).
    output: Option<Output<A>>,
    /// The journal sequence of the next record the logic emits.
    next_record: u64,
    /// Events of the command being decided (reused).
    events: Vec<A::Event>,
    /// The last input sequence fully handled (outcome recorded, events published).
    handled: i64,
    batch: u64,
    /// Events applied since the last snapshot, for `snapshot_every`.
    since_snapshot: u64,
    /// The current command's metadata, with the time it was decided.
    metadata: Stamper,
}

impl<A: Aggregate, C: Codec<A::Event>> Logic<A, C> {
    pub(crate) fn new(
        model: Model<A>,
        engine: Arc<EngineShared<A>>,
        output: Output<A>,
        records: RecordFormat<C>,
        next_record: u64,
        handled: i64,
    ) -> Self {
        let RecordFormat {
            codec,
            schema_id,
            max_payload,
        } = records;
        Self {
            model: Some(model),
            codec,
            schema_id,
            max_payload,
            encoded: Vec::new(),
            engine,
            output: Some(output),
            next_record,
            events: Vec::new(),
            handled,
            batch: 0,
            since_snapshot: 0,
            metadata: Stamper::default(),
        }
    }

    fn model(&mut self) -> &mut Model<A> {
        self.model
            .as_mut()
            .expect("the model is present until drop")
    }

    /// Decides a command: a repeat of a remembered id, a version conflict, a
    /// rejection, or events encoded, applied and ready to publish.
    fn decide(&mut self, command: &Command<A::Command>, sequence: i64) -> Decision<A> {
        if let Some(repeat) = command.id.and_then(|id| self.repeat(id)) {
            return repeat;
        }
        if let Err(conflict) = self.check_version(command) {
            return Decision::rejected(conflict);
        }
        // Only a command that may leave records needs its metadata stamped.
        self.metadata.stamp(command.metadata.as_ref());
        self.events.clear();
        let model = self
            .model
            .as_mut()
            .expect("the model is present until drop");
        let decided = catch_unwind(AssertUnwindSafe(|| {
            model.state.decide(&command.body, &mut self.events)
        }));
        match decided {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return self.reject(command.id, reason),
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                return Decision::rejected(Rejection::Panicked(message));
            }
        }
        let records = match self.encode_events(command.id) {
            Ok(records) => records,
            Err(rejection) => return Decision::rejected(rejection),
        };
        self.apply_events(sequence);
        let model = self
            .model
            .as_mut()
            .expect("the model is present until drop");
        model.version += self.events.len() as u64;
        let version = model.version;
        let records = self.take_records(records);
        if let Some(id) = command.id {
            let remembered = Remembered::Accepted {
                version,
                records: records.clone(),
            };
            self.model().ids.insert(id, remembered);
        }
        Decision {
            last_record: records.as_ref().map(|records| *records.end()),
            publish: records
                .as_ref()
                .map_or(0, |r| (r.end() - r.start() + 1) as usize),
            outcome: Ok(Accepted {
                version,
                events: Vec::new(),
                records,
                duplicate: false,
            }),
            repeat: false,
        }
    }

    /// The first outcome of a resubmitted `id`, if it is remembered.
    fn repeat(&mut self, id: CommandId) -> Option<Decision<A>> {
        let (outcome, last_record) = match self.model().ids.get(&id)? {
            Remembered::Accepted { version, records } => (
                Ok(Accepted {
                    version: *version,
                    events: Vec::new(),
                    records: records.clone(),
                    duplicate: true,
                }),
                records.as_ref().map(|records| *records.end()),
            ),
            Remembered::Rejected { record, rejection } => {
                let rejection = match A::decode_rejection(rejection) {
                    Ok(reason) => Rejection::Domain(reason),
                    Err(error) => Rejection::Undecodable(error),
                };
                (Err(rejection), Some(*record))
            }
        };
        Some(Decision {
            outcome,
            last_record,
            publish: 0,
            repeat: true,
        })
    }

    /// Checks the command's expected version, if it has one.
    fn check_version(
        &mut self,
        command: &Command<A::Command>,
    ) -> Result<(), Rejection<A::Rejection>> {
        let Some(expected) = command.expected_version else {
            return Ok(());
        };
        let model = self.model();
        let actual = model
            .state
            .version_of(&command.body)
            .unwrap_or(model.version);
        if expected == actual {
            Ok(())
        } else {
            Err(Rejection::Conflict { expected, actual })
        }
    }

    /// `decide`'s rejection; with an id, and when the aggregate encodes it (in no
    /// more than a record holds), journaled and remembered for resubmissions.
    fn reject(&mut self, id: Option<CommandId>, reason: A::Rejection) -> Decision<A> {
        let Some((id, rejection)) = id.zip(A::encode_rejection(&reason)) else {
            return Decision::rejected(Rejection::Domain(reason));
        };
        if rejection.len() + record::ID_LEN > self.max_payload {
            return Decision::rejected(Rejection::Domain(reason));
        }
        if self.encoded.is_empty() {
            self.encoded.push((0, Vec::new()));
        }
        let (tag, payload) = &mut self.encoded[0];
        payload.clear();
        let metadata = self.metadata.current();
        *tag = record::encode_rejection(id, metadata, &rejection, self.max_payload, payload);
        let record = self.next_record;
        self.next_record += 1;
        self.model()
            .ids
            .insert(id, Remembered::Rejected { record, rejection });
        Decision {
            outcome: Err(Rejection::Domain(reason)),
            last_record: Some(record),
            publish: 1,
            repeat: false,
        }
    }

    /// Encodes the command's records (its events, or a marker for its id or
    /// metadata) into `self.encoded`, and says how many there are.
    fn encode_events(&mut self, id: Option<CommandId>) -> Result<usize, Rejection<A::Rejection>> {
        let about = About {
            id,
            metadata: self.metadata.current(),
        };
        let records = self.events.len().max(usize::from(about.is_recorded()));
        let limit = self.output.as_ref().map_or(0, |output| output.capacity());
        if records > limit {
            return Err(Rejection::TooManyEvents {
                events: self.events.len(),
                limit,
            });
        }
        if self.encoded.len() < records {
            self.encoded.resize_with(records, || (0, Vec::new()));
        }
        record::encode_command(
            &self.codec,
            self.schema_id,
            &self.events,
            about,
            &mut self.encoded[..records],
            self.max_payload,
        )
        .map_err(Rejection::Unrecordable)?;
        Ok(records)
    }

    /// Applies the decided events to the state. Apply comes before publishing:
    /// events whose `apply` panicked never reach the journal, so a replay cannot
    /// trip on them; the panic stops the engine.
    fn apply_events(&mut self, sequence: i64) {
        let model = self
            .model
            .as_mut()
            .expect("the model is present until drop");
        let events = &self.events;
        let applied = catch_unwind(AssertUnwindSafe(|| {
            for event in events {
                model.state.apply(event);
            }
        }));
        if let Err(payload) = applied {
            let message = panic_message(payload.as_ref());
            self.engine.fail(Failure::ApplyPanicked {
                command: sequence,
                message,
            });
            resume_unwind(payload);
        }
    }

    /// Takes the journal sequences of the next `count` records.
    fn take_records(&mut self, count: usize) -> Option<RangeInclusive<u64>> {
        (count > 0).then(|| {
            let first = self.next_record;
            self.next_record += count as u64;
            first..=self.next_record - 1
        })
    }

    /// Posts a snapshot of the state as it stands (after the last command handled),
    /// answering `request` (an `Engine::snapshot` call's slot) if given.
    fn take_snapshot(&mut self, request: Option<i64>) {
        let snapshots = &self.engine.snapshots;
        if snapshots.in_flight() {
            // An automatic snapshot due now is tried again after the next command.
            if request.is_some() {
                snapshots.answer(request, Err(Refused::Busy));
            }
            return;
        }
        self.since_snapshot = 0;
        let model = self.model.as_ref().expect("present until drop");
        let Some(state) = model.state.snapshot() else {
            let reason = "the state does not support snapshots (Aggregate::snapshot)";
            snapshots.answer(request, Err(Refused::Failed(reason.into())));
            return;
        };
        let saved = Saved {
            records: self.next_record,
            version: model.version,
            ids: model
                .ids
                .iter()
                .map(|(id, remembered)| (*id, remembered.clone()))
                .collect(),
            state: snapshot::versioned(A::SNAPSHOT_VERSION, state),
            projections: Vec::new(),
        };
        snapshots.post(saved, request, self.engine.projection_count());
        // The journaler and the projections may be waiting for events: they have
        // a part to add, or the snapshot to write (`EventHandler::has_work`).
        if let Some(output) = &mut self.output {
            output.wake();
        }
    }

    /// Leaves the outcome in the command's ticket for its receipt, with a copy of
    /// the events of a fresh acceptance (in the buffer of the ticket's previous
    /// outcome, when that one is no longer wanted).
    fn record_outcome(&self, sequence: i64, decision: Decision<A>, accepted: bool) {
        let Decision {
            mut outcome,
            last_record,
            ..
        } = decision;
        let events = &self.events;
        self.engine.tickets.record(sequence, |recycled| {
            if let (Ok(accepted), true) = (&mut outcome, accepted) {
                let mut buffer = match recycled {
                    Some(Decided {
                        outcome: Ok(old), ..
                    }) => old.events,
                    _ => Vec::new(),
                };
                buffer.clear();
                buffer.extend_from_slice(events);
                accepted.events = buffer;
            }
            Decided {
                outcome,
                last_record,
            }
        });
    }

    /// Whether `snapshot_every` events have been applied since the last snapshot.
    fn snapshot_due(&self) -> bool {
        self.engine
            .snapshot_every
            .is_some_and(|every| self.since_snapshot >= every)
    }

    /// Hands the command's records (made by [`encode`]) to the journaler.
    fn publish(&mut self, count: usize) {
        let output = self.output.as_mut().expect("present until drop");
        let mut events = self.events.drain(..);
        let mut encoded = self.encoded.iter_mut();
        let published = output.publish(count, |entry| {
            let (tag, payload) = encoded.next().expect("`count` records were encoded");
            entry.event = events.next();
            entry.metadata.clone_from(self.metadata.shared());
            entry.tag = *tag;
            std::mem::swap(&mut entry.payload, payload);
        });
        if published.is_err() {
            let reason = self.engine.stop_cause(Line::Journal).to_string();
            self.engine.fail(Failure::JournalStopped(reason.clone()));
            panic!("the journaler stopped, so no further command can be journaled: {reason}");
        }
    }
}

impl<A: Aggregate, C: Codec<A::Event> + Send + 'static> EventHandler<Submission<A::Command>>
    for Logic<A, C>
{
    fn on_event(&mut self, slot: &Submission<A::Command>, sequence: i64, end_of_batch: bool) {
        if let Some(command) = &slot.command {
            let decision = self.decide(command, sequence);
            let events = self.events.len();
            let (ok, repeat) = (decision.outcome.is_ok(), decision.repeat);
            self.engine.metrics.logic.count(ok, repeat, events);
            let publish = decision.publish;
            let accepted = ok && !repeat;
            if slot.receipt {
                self.record_outcome(sequence, decision, accepted);
            }
            if publish > 0 {
                if accepted {
                    self.since_snapshot += self.events.len() as u64;
                } else {
                    self.events.clear(); // a rejection's record carries no event
                }
                self.publish(publish);
            }
        }
        if slot.snapshot || self.snapshot_due() {
            self.take_snapshot(slot.snapshot.then_some(sequence));
        }
        self.handled = sequence;
        self.batch += 1;
        if end_of_batch {
            self.engine.metrics.logic.observe_batch(self.batch);
            self.batch = 0;
            self.metadata.end_batch();
            self.engine.progress.advance_processed(sequence + 1);
            if let Some(output) = &mut self.output {
                output.end_batch();
            }
        }
    }

    fn on_shutdown(&mut self) {
        if let Some(output) = self.output.take() {
            output.shut_down();
        }
    }

    fn wake_at(&self) -> Option<std::time::Instant> {
        self.output.as_ref().and_then(Output::wake_at)
    }

    fn has_work(&self) -> bool {
        self.output.as_ref().is_some_and(Output::has_work)
    }

    fn on_wake(&mut self) {
        if let Some(output) = &mut self.output {
            output.on_wake();
        }
    }
}

impl<A: Aggregate, C> Drop for Logic<A, C> {
    fn drop(&mut self) {
        // After a panic mid-batch: the commands before it were handled, and
        // their records are journaled and projected (by the output ring's stages,
        // which drain once its producer is gone, or here).
        if self.engine.progress.processed() < self.handled + 1 {
            self.engine.progress.advance_processed(self.handled + 1);
        }
        if let Some(output) = self.output.take() {
            // A journal failing now is recorded as the engine's failure.
            let _ = catch_unwind(AssertUnwindSafe(|| output.shut_down()));
        }
        if let Some(model) = self.model.take() {
            *lock(&self.engine.final_model) = Some(model);
        }
        self.engine.progress.finish(Line::Logic);
        self.engine.snapshots.wake();
    }
}
