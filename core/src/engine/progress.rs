//! How far each part of the engine has come, and the tickets holding each
//! command's outcome until its receipt collects it: what a [`Receipt`] waits on.
//!
//! [`Receipt`]: crate::Receipt

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::sequence::Sequence;
use crate::sync::{lock, AtomicBool, Mutex};
use crate::wait::queue::{WaitQueue, WakerSlot};

/// Names a projection of one engine, for [`Until::Visible`](crate::Until::Visible).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ProjectionId(pub(crate) usize);

/// A part of the engine whose progress receipts wait on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// The business logic: input sequences below its end are processed.
    Logic,
    /// The journal: records below its end are durable.
    Journal,
    /// A projection: records below its end are applied.
    Projection(ProjectionId),
}

impl Line {
    fn index(self) -> usize {
        match self {
            Line::Logic => 0,
            Line::Journal => 1,
            Line::Projection(id) => 2 + id.0,
        }
    }
}

/// One line's position: everything below `end` is done, and `finished` says the
/// part's thread has stopped, so `end` will not move again. The business logic's
/// `end` is an input sequence; the others' are journal record sequences, kept in
/// the same `i64` (journal sequences stay below `i64::MAX`).
struct Position {
    end: Sequence,
    finished: AtomicBool,
}

impl Position {
    fn new(end: i64) -> Self {
        Self {
            end: Sequence::new(end),
            finished: AtomicBool::new(false),
        }
    }

    /// Where the line is (Acquire: pairs with the Release in `advance`, so what the
    /// part did before advancing is visible).
    fn end(&self) -> i64 {
        self.end.get()
    }

    fn is_finished(&self) -> bool {
        // Acquire: pairs with the Release in `Progress::finish`.
        self.finished.load(Ordering::Acquire)
    }
}

/// The engine's lines, with one queue that receipts park on.
pub(crate) struct Progress {
    lines: Box<[Position]>,
    queue: WaitQueue,
}

/// Why a wait for a line ended without reaching its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Missed {
    /// The deadline passed.
    TimedOut,
    /// The part stopped short of the target.
    Stopped,
}

/// A journal record sequence as a line's end.
fn record_end(record: u64) -> i64 {
    debug_assert!(record < i64::MAX as u64);
    record as i64
}

impl Progress {
    /// The logic's line at `processed`, the journal's and `projections` lines at
    /// `records`.
    pub(crate) fn new(processed: i64, records: u64, projections: usize) -> Self {
        let records = record_end(records);
        let ends = [processed, records]
            .into_iter()
            .chain(std::iter::repeat_n(records, projections));
        Self {
            lines: ends.map(Position::new).collect(),
            queue: WaitQueue::new(),
        }
    }

    fn position(&self, line: Line) -> &Position {
        &self.lines[line.index()]
    }

    /// Input sequences below this are processed.
    pub(crate) fn processed(&self) -> i64 {
        self.position(Line::Logic).end()
    }

    /// Journal records below this are durable (the journal's line) or applied (a
    /// projection's).
    pub(crate) fn records(&self, line: Line) -> u64 {
        debug_assert!(line != Line::Logic);
        self.position(line).end() as u64
    }

    /// Whether `line`'s part has stopped.
    pub(crate) fn is_finished(&self, line: Line) -> bool {
        self.position(line).is_finished()
    }

    /// Moves the logic's line to `processed` and wakes the receipts parked on it.
    /// Only the logic calls this.
    #[inline]
    pub(crate) fn advance_processed(&self, processed: i64) {
        self.set(Line::Logic, processed);
    }

    /// Moves the journal's or a projection's line to `records` and wakes the
    /// receipts parked on it. Only the line's owner calls this.
    #[inline]
    pub(crate) fn advance_records(&self, line: Line, records: u64) {
        debug_assert!(line != Line::Logic);
        self.set(line, record_end(records));
    }

    /// Moves the journal's line to `records` unless it is there already, and wakes
    /// the receipts parked on it. The journal's line has two movers in the
    /// one-thread topology, the sync thread (as soon as a sync returns) and the
    /// logic (when it completes the sync or rolls a segment): each raises it, so
    /// neither can move it back past the other.
    pub(crate) fn raise_durable(&self, records: u64) {
        // AcqRel: the Release half pairs with the Acquire in `Position::end`, as
        // `set`'s store does; the Acquire half orders this after the other mover's.
        let before = self
            .position(Line::Journal)
            .end
            .atomic()
            .fetch_max(record_end(records), Ordering::AcqRel);
        if before < record_end(records) {
            self.queue.notify();
        }
    }

    #[inline]
    fn set(&self, line: Line, end: i64) {
        // Release (in `set`): pairs with the Acquire in `Position::end`.
        self.position(line).end.set(end);
        self.queue.notify();
    }

    /// Marks `line` finished (its last advance came before) and wakes everyone
    /// parked.
    pub(crate) fn finish(&self, line: Line) {
        // Release: pairs with the Acquire in `Position::is_finished`; the last
        // advance happens before.
        self.position(line).finished.store(true, Ordering::Release);
        self.queue.notify();
    }

    /// Parks until the logic has processed input sequence `sequence`, it stopped
    /// short of it, or `deadline` passes.
    pub(crate) fn wait_processed(
        &self,
        sequence: i64,
        deadline: Option<Instant>,
    ) -> Result<(), Missed> {
        self.wait_for(Line::Logic, sequence + 1, deadline)
    }

    /// Parks until `line` passes journal record `record`, it stops short of it, or
    /// `deadline` passes.
    pub(crate) fn wait_record(
        &self,
        line: Line,
        record: u64,
        deadline: Option<Instant>,
    ) -> Result<(), Missed> {
        debug_assert!(line != Line::Logic);
        self.wait_for(line, record_end(record) + 1, deadline)
    }

    /// Whether the logic has processed input sequence `sequence` (never waits):
    /// `Err(Missed::TimedOut)` when not yet.
    pub(crate) fn check_processed(&self, sequence: i64) -> Result<(), Missed> {
        self.check(Line::Logic, sequence + 1)
    }

    /// Whether `line` has passed journal record `record` (never waits):
    /// `Err(Missed::TimedOut)` when not yet.
    pub(crate) fn check_record(&self, line: Line, record: u64) -> Result<(), Missed> {
        debug_assert!(line != Line::Logic);
        self.check(line, record_end(record) + 1)
    }

    fn check(&self, line: Line, target: i64) -> Result<(), Missed> {
        self.reached(line, target).unwrap_or(Err(Missed::TimedOut))
    }

    /// `Ok` once `line` reached `target`, `Err(Stopped)` once it never will, `None`
    /// while it may.
    fn reached(&self, line: Line, target: i64) -> Option<Result<(), Missed>> {
        let line = self.position(line);
        if line.end() >= target {
            Some(Ok(()))
        } else if line.is_finished() {
            // The last advance happened before `finished` was set: read again.
            Some(if line.end() >= target {
                Ok(())
            } else {
                Err(Missed::Stopped)
            })
        } else {
            None
        }
    }

    fn wait_for(&self, line: Line, target: i64, deadline: Option<Instant>) -> Result<(), Missed> {
        let poll = || self.reached(line, target);
        if let Some(answer) = poll() {
            return answer;
        }
        self.queue
            .park_until(poll, deadline)
            .unwrap_or(Err(Missed::TimedOut))
    }

    /// For an async task: whether the logic processed input sequence `sequence`
    /// (or stopped short of it), `Pending` with the task to be woken when that
    /// may have changed.
    pub(crate) fn poll_processed(
        &self,
        sequence: i64,
        cx: &mut Context<'_>,
        slot: &mut WakerSlot,
    ) -> Poll<Result<(), Missed>> {
        self.queue
            .poll_until(|| self.reached(Line::Logic, sequence + 1), cx, slot)
    }

    /// For an async task: whether `line` passed journal record `record`, as
    /// [`poll_processed`](Self::poll_processed).
    pub(crate) fn poll_record(
        &self,
        line: Line,
        record: u64,
        cx: &mut Context<'_>,
        slot: &mut WakerSlot,
    ) -> Poll<Result<(), Missed>> {
        debug_assert!(line != Line::Logic);
        let target = record_end(record) + 1;
        self.queue
            .poll_until(|| self.reached(line, target), cx, slot)
    }

    /// Takes back an async task's waker: it stopped waiting.
    pub(crate) fn forget(&self, slot: &mut WakerSlot) {
        self.queue.forget(slot);
    }

    /// Async tasks waiting for a line to move.
    pub(crate) fn parked_tasks(&self) -> usize {
        self.queue.parked_tasks()
    }
}

struct Ticket<O> {
    /// The command whose outcome this ticket holds (or will: -1 before the first).
    sequence: i64,
    outcome: Option<O>,
    /// A command whose receipt was dropped unread: its outcome is not kept.
    abandoned: i64,
}

/// One ticket per input slot: the business-logic thread leaves command `s`'s
/// outcome in ticket `s % capacity`, its receipt takes it. An outcome still unread
/// when the ticket is needed a lap later moves to a spill map, so a receipt held for
/// a long time still gets its outcome.
pub(crate) struct Tickets<O> {
    tickets: Box<[Mutex<Ticket<O>>]>,
    mask: i64,
    /// Unread outcomes moved out of their tickets, by command sequence.
    spilled: Mutex<HashMap<i64, O>>,
}

impl<O> Tickets<O> {
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self {
            tickets: (0..capacity)
                .map(|_| {
                    Mutex::new(Ticket {
                        sequence: -1,
                        outcome: None,
                        abandoned: -1,
                    })
                })
                .collect(),
            mask: capacity as i64 - 1,
            spilled: Mutex::new(HashMap::new()),
        }
    }

    fn ticket(&self, sequence: i64) -> &Mutex<Ticket<O>> {
        &self.tickets[(sequence & self.mask) as usize]
    }

    /// Records command `sequence`'s outcome, built by `make` from the ticket's
    /// previous outcome when that one is no longer wanted (so its buffers are reused).
    /// Called by the business-logic thread, in sequence order.
    pub(crate) fn record(&self, sequence: i64, make: impl FnOnce(Option<O>) -> O) {
        let mut ticket = lock(self.ticket(sequence));
        let previous = ticket.sequence;
        let mut recycled = ticket.outcome.take();
        if recycled.is_some() && ticket.abandoned != previous {
            // Its receipt is still out there: keep the outcome for it.
            lock(&self.spilled).insert(previous, recycled.take().expect("checked above"));
        }
        ticket.sequence = sequence;
        if ticket.abandoned != sequence {
            ticket.outcome = Some(make(recycled));
        }
    }

    /// Takes command `sequence`'s outcome, once it was recorded (`None` if it was
    /// taken before).
    pub(crate) fn take(&self, sequence: i64) -> Option<O> {
        let mut ticket = lock(self.ticket(sequence));
        if ticket.sequence == sequence {
            ticket.outcome.take()
        } else {
            lock(&self.spilled).remove(&sequence)
        }
    }

    /// Forgets command `sequence`'s outcome: its receipt was dropped unread.
    pub(crate) fn abandon(&self, sequence: i64) {
        let mut ticket = lock(self.ticket(sequence));
        if ticket.sequence <= sequence {
            // Recorded (it stays, to be recycled) or not yet (it will not be kept).
            ticket.abandoned = sequence;
        } else {
            lock(&self.spilled).remove(&sequence);
        }
    }

    /// Outcomes kept for receipts that outlived their ticket.
    pub(crate) fn spilled(&self) -> usize {
        lock(&self.spilled).len()
    }
}

#[cfg(all(test, loom))]
mod loom_tests {
    use super::{Line, Missed, Progress, Tickets};
    use loom::sync::Arc;
    use loom::thread;

    /// The receipt handshake: the business-logic thread records an outcome and
    /// advances its line; a receipt parked on the line wakes and finds the outcome.
    /// A lost wake-up deadlocks the model; a missing outcome fails it.
    #[test]
    fn loom_receipt_wakes_with_its_outcome() {
        loom::model(|| {
            let progress = Arc::new(Progress::new(0, 0, 0));
            let tickets = Arc::new(Tickets::<u32>::new(2));
            let logic = {
                let (progress, tickets) = (Arc::clone(&progress), Arc::clone(&tickets));
                thread::spawn(move || {
                    tickets.record(0, |_| 10);
                    tickets.record(1, |_| 11);
                    progress.advance_processed(2);
                })
            };
            assert_eq!(progress.wait_processed(1, None), Ok(()));
            assert_eq!(tickets.take(1), Some(11));
            assert_eq!(tickets.take(0), Some(10));
            logic.join().unwrap();
        });
    }

    /// A part that stops short of a receipt's target wakes it with `Stopped`,
    /// never leaves it parked.
    #[test]
    fn loom_receipt_wakes_when_its_part_stops() {
        loom::model(|| {
            let progress = Arc::new(Progress::new(0, 0, 0));
            let logic = {
                let progress = Arc::clone(&progress);
                thread::spawn(move || {
                    progress.advance_processed(1);
                    progress.finish(Line::Logic);
                })
            };
            assert_eq!(progress.wait_processed(1, None), Err(Missed::Stopped));
            logic.join().unwrap();
        });
    }

    /// A receipt dropped while its command is processed: the outcome is either
    /// never kept or recycled, and nothing is spilled.
    #[test]
    fn loom_abandoned_receipt_leaves_nothing_behind() {
        loom::model(|| {
            let tickets = Arc::new(Tickets::<u32>::new(1));
            let logic = {
                let tickets = Arc::clone(&tickets);
                thread::spawn(move || {
                    tickets.record(0, |_| 10);
                    tickets.record(1, |recycled| recycled.map_or(11, |old| old + 1));
                })
            };
            tickets.abandon(0);
            logic.join().unwrap();
            assert_eq!(tickets.spilled(), 0);
            assert_eq!(tickets.take(1), Some(11));
        });
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Tickets;

    #[test]
    fn an_outcome_outlives_its_ticket_until_taken() {
        let tickets = Tickets::<String>::new(2);
        for sequence in 0..6 {
            tickets.record(sequence, |_| format!("outcome {sequence}"));
        }
        assert_eq!(tickets.spilled(), 4);
        assert_eq!(tickets.take(0).as_deref(), Some("outcome 0"));
        assert_eq!(tickets.take(5).as_deref(), Some("outcome 5"));
        assert_eq!(tickets.take(5), None);
        tickets.abandon(1);
        assert_eq!(tickets.spilled(), 2);
    }

    #[test]
    fn an_abandoned_outcome_is_not_kept_and_its_buffer_is_reused() {
        let tickets = Tickets::<Vec<u8>>::new(1);
        tickets.abandon(0);
        tickets.record(0, |_| vec![0]);
        assert_eq!(tickets.take(0), None);
        tickets.record(1, |_| Vec::with_capacity(64));
        tickets.abandon(1);
        tickets.record(2, |recycled| {
            let buffer = recycled.expect("the abandoned outcome is recycled");
            assert!(buffer.capacity() >= 64);
            buffer
        });
        assert_eq!(tickets.spilled(), 0);
    }
}
