//! The business-logic stage: the single writer of the domain state. It decides each
//! command, applies its events, hands them to the journaler through the output ring
//! and leaves the outcome for the command's receipt.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use crate::engine::domain::{Aggregate, Command, CommandId};
use crate::engine::receipt::{Accepted, Outcome, Rejection};
use crate::engine::record;
use crate::engine::snapshot::Saved;
use crate::engine::{EngineShared, Failure, LOGIC};
use crate::stage::{panic_message, EventHandler};
use crate::sync::{lock, Arc};
use crate::Producer;
use seqlane_journal::Codec;

/// An input slot: a command and whether its submitter holds a receipt. `None` is a
/// void slot (a claim made after the engine closed), which the logic skips.
pub(crate) struct Submission<C> {
    pub(crate) command: Option<Command<C>>,
    pub(crate) receipt: bool,
    /// Take a snapshot here (after the commands before this slot).
    pub(crate) snapshot: bool,
}

impl<C> Submission<C> {
    pub(crate) fn void() -> Self {
        Self {
            command: None,
            receipt: false,
            snapshot: false,
        }
    }
}

/// An output slot: one journal record, an event or (for a command with an id and
/// no events) a marker that records the id, already encoded by the logic.
pub(crate) struct Entry<E> {
    /// For the projections.
    pub(crate) event: Option<E>,
    /// The record's tag and payload, as [`record::encode`] made them. The payload's
    /// buffer is swapped with the logic's, not copied, and is reused lap after lap.
    pub(crate) tag: u32,
    pub(crate) payload: Vec<u8>,
}

impl<E> Entry<E> {
    pub(crate) fn empty() -> Self {
        Self {
            event: None,
            tag: 0,
            payload: Vec::new(),
        }
    }
}

/// What an accepted command with an id left behind, for its resubmissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Remembered {
    pub(crate) version: u64,
    pub(crate) records: Option<RangeInclusive<u64>>,
}

/// The domain state with what the logic derives from it.
pub(crate) struct Model<A> {
    pub(crate) state: A,
    /// Events applied since the journal began.
    pub(crate) version: u64,
    /// Accepted command ids.
    pub(crate) ids: HashMap<CommandId, Remembered>,
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
    output: Option<Producer<Entry<A::Event>>>,
    /// The journal sequence of the next record the logic emits.
    next_record: u64,
    /// Events of the command being decided (reused).
    events: Vec<A::Event>,
    /// The last input sequence fully handled (outcome recorded, events published).
    handled: i64,
    batch: u64,
    /// Events applied since the last snapshot, for `snapshot_every`.
    since_snapshot: u64,
}

impl<A: Aggregate, C: Codec<A::Event>> Logic<A, C> {
    pub(crate) fn new(
        model: Model<A>,
        engine: Arc<EngineShared<A>>,
        output: Producer<Entry<A::Event>>,
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
        }
    }

    fn decide(&mut self, command: &Command<A::Command>, sequence: i64) -> Outcome<A> {
        let model = self
            .model
            .as_mut()
            .expect("the model is present until drop");
        if let Some(remembered) = command.id.and_then(|id| model.ids.get(&id)) {
            return Ok(Accepted {
                version: remembered.version,
                events: Vec::new(),
                records: remembered.records.clone(),
                duplicate: true,
            });
        }
        if let Some(expected) = command.expected_version {
            let actual = model
                .state
                .version_of(&command.body)
                .unwrap_or(model.version);
            if expected != actual {
                return Err(Rejection::Conflict { expected, actual });
            }
        }
        self.events.clear();
        let decided = catch_unwind(AssertUnwindSafe(|| {
            model.state.decide(&command.body, &mut self.events)
        }));
        match decided {
            Ok(Ok(())) => {}
            Ok(Err(reason)) => return Err(Rejection::Domain(reason)),
            Err(payload) => return Err(Rejection::Panicked(panic_message(payload.as_ref()))),
        }
        let records = self.events.len().max(usize::from(command.id.is_some()));
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
        encode(
            &self.codec,
            self.schema_id,
            &self.events,
            command.id,
            &mut self.encoded[..records],
            self.max_payload,
        )
        .map_err(Rejection::Unrecordable)?;
        // Apply before publishing: events whose `apply` panicked never reach the
        // journal, so a replay cannot trip on them.
        let applied = catch_unwind(AssertUnwindSafe(|| {
            for event in &self.events {
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
        model.version += self.events.len() as u64;
        let records = (records > 0).then(|| {
            let first = self.next_record;
            self.next_record += records as u64;
            first..=self.next_record - 1
        });
        if let Some(id) = command.id {
            model.ids.insert(
                id,
                Remembered {
                    version: model.version,
                    records: records.clone(),
                },
            );
        }
        Ok(Accepted {
            version: model.version,
            events: Vec::new(),
            records,
            duplicate: false,
        })
    }

    /// Posts a snapshot of the state as it stands (after the last command handled),
    /// answering `request` (an `Engine::snapshot` call's slot) if given.
    fn take_snapshot(&mut self, request: Option<i64>) {
        let snapshots = &self.engine.snapshots;
        if snapshots.in_flight() {
            // An automatic snapshot due now is tried again after the next command.
            if request.is_some() {
                snapshots.answer(request, Err(crate::engine::snapshot::BUSY.into()));
            }
            return;
        }
        self.since_snapshot = 0;
        let model = self.model.as_ref().expect("present until drop");
        let Some(state) = model.state.snapshot() else {
            let reason = "the state does not support snapshots (Aggregate::snapshot)";
            snapshots.answer(request, Err(reason.into()));
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
            state: crate::engine::projection::versioned(A::SNAPSHOT_VERSION, state),
            projections: Vec::new(),
        };
        snapshots.post(saved, request, self.engine.projection_count());
    }

    /// Hands the command's records (made by [`encode`]) to the journaler.
    fn publish(&mut self, count: usize) {
        let output = self.output.as_mut().expect("present until drop");
        let mut claim = match output.claim_batch(count) {
            Ok(claim) => claim,
            Err(_halted) => {
                let reason = self.engine.stop_reason(crate::engine::JOURNAL);
                self.engine.fail(Failure::JournalStopped(reason.clone()));
                panic!("the journaler stopped, so no further command can be journaled: {reason}");
            }
        };
        let mut events = self.events.drain(..);
        for ((_, entry), (tag, payload)) in claim.iter_mut().zip(&mut self.encoded) {
            entry.event = events.next();
            entry.tag = *tag;
            std::mem::swap(&mut entry.payload, payload);
        }
    }
}

impl<A: Aggregate, C: Codec<A::Event> + Send + 'static> EventHandler<Submission<A::Command>>
    for Logic<A, C>
{
    fn on_event(&mut self, slot: &Submission<A::Command>, sequence: i64, end_of_batch: bool) {
        if let Some(command) = &slot.command {
            let outcome = self.decide(command, sequence);
            let metrics = &self.engine.metrics.logic;
            let mut to_publish = 0;
            match &outcome {
                Ok(accepted) if !accepted.duplicate => {
                    metrics.accepted.add(1);
                    if let Some(records) = &accepted.records {
                        to_publish = (records.end() - records.start() + 1) as usize;
                    }
                }
                Ok(_) => metrics.duplicates.add(1),
                Err(_) => metrics.rejected.add(1),
            }
            if slot.receipt {
                let events = &self.events;
                self.engine.tickets.record(sequence, |recycled| {
                    let mut outcome = outcome;
                    if let Ok(accepted) = &mut outcome {
                        if !accepted.duplicate {
                            let mut buffer = match recycled {
                                Some(Ok(old)) => old.events,
                                _ => Vec::new(),
                            };
                            buffer.clear();
                            buffer.extend_from_slice(events);
                            accepted.events = buffer;
                        }
                    }
                    outcome
                });
            }
            if to_publish > 0 {
                metrics.events.add(self.events.len() as u64);
                self.since_snapshot += self.events.len() as u64;
                self.publish(to_publish);
            }
        }
        if slot.snapshot
            || self
                .engine
                .snapshot_every
                .is_some_and(|every| self.since_snapshot >= every)
        {
            self.take_snapshot(slot.snapshot.then_some(sequence));
        }
        self.handled = sequence;
        self.batch += 1;
        if end_of_batch {
            self.engine.metrics.logic.observe_batch(self.batch);
            self.batch = 0;
            self.engine.progress.advance(LOGIC, sequence + 1);
        }
    }

    fn on_shutdown(&mut self) {
        // The output ring drains and stops once its producer is gone.
        self.output = None;
    }
}

/// Encodes a command's journal records (its `events`, or one marker for an id
/// without events) into `records`, one per record; the error says why one cannot
/// be journaled.
fn encode<E, C: Codec<E>>(
    codec: &C,
    schema_id: u32,
    events: &[E],
    id: Option<CommandId>,
    records: &mut [(u32, Vec<u8>)],
    max_payload: usize,
) -> Result<(), String> {
    let count = records.len();
    for (index, (tag, payload)) in records.iter_mut().enumerate() {
        payload.clear();
        *tag = record::encode(
            codec,
            schema_id,
            events.get(index),
            id,
            index == 0,
            index + 1 == count,
            payload,
        )
        .map_err(|error| format!("record {} of {count}: {error}", index + 1))?;
        if payload.len() > max_payload {
            return Err(format!(
                "record {} of {count} takes {} bytes; a journal record holds at most \
                 {max_payload} (see JournalOptions::segment_size)",
                index + 1,
                payload.len(),
            ));
        }
    }
    Ok(())
}

impl<A: Aggregate, C> Drop for Logic<A, C> {
    fn drop(&mut self) {
        // After a panic mid-batch: the commands before it were handled.
        self.output = None;
        if self.engine.progress.line(LOGIC).end() < self.handled + 1 {
            self.engine.progress.advance(LOGIC, self.handled + 1);
        }
        if let Some(model) = self.model.take() {
            *lock(&self.engine.final_model) = Some(model);
        }
        self.engine.progress.finish(LOGIC);
    }
}
