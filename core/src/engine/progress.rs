//! How far each part of the engine has come, and the tickets holding each
//! command's outcome until its receipt collects it: what a [`Receipt`] waits on.
//!
//! [`Receipt`]: crate::Receipt

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::sequence::Sequence;
use crate::sync::{lock, AtomicBool, Mutex};
use crate::wait::queue::WaitQueue;

/// One part's progress: everything below `end` is done (processed by the business
/// logic, durable in the journal, applied by a projection), and `finished` says the
/// part's thread has stopped, so `end` will not move again.
pub(crate) struct Line {
    end: Sequence,
    finished: AtomicBool,
}

impl Line {
    fn new(end: i64) -> Self {
        Self {
            end: Sequence::new(end),
            finished: AtomicBool::new(false),
        }
    }

    /// Where the line is (Acquire: pairs with the Release in `advance`, so what the
    /// part did before advancing is visible).
    pub(crate) fn end(&self) -> i64 {
        self.end.get()
    }

    /// Whether the part has stopped.
    pub(crate) fn is_finished(&self) -> bool {
        // Acquire: pairs with the Release in `Progress::finish`.
        self.finished.load(Ordering::Acquire)
    }
}

/// The engine's lines, with one queue that receipts park on.
pub(crate) struct Progress {
    lines: Box<[Line]>,
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

impl Progress {
    /// Lines starting at the given ends.
    pub(crate) fn new(ends: impl IntoIterator<Item = i64>) -> Self {
        Self {
            lines: ends.into_iter().map(Line::new).collect(),
            queue: WaitQueue::new(),
        }
    }

    pub(crate) fn line(&self, index: usize) -> &Line {
        &self.lines[index]
    }

    /// Moves line `index` to `end` and wakes the receipts parked on it. Only the
    /// line's owner calls this.
    #[inline]
    pub(crate) fn advance(&self, index: usize, end: i64) {
        // Release (in `set`): pairs with the Acquire in `Line::end`.
        self.lines[index].end.set(end);
        self.queue.notify();
    }

    /// Marks line `index` finished (its last `advance` came before) and wakes
    /// everyone parked.
    pub(crate) fn finish(&self, index: usize) {
        // Release: pairs with the Acquire in `Line::is_finished`; the last advance
        // happens before.
        self.lines[index].finished.store(true, Ordering::Release);
        self.queue.notify();
    }

    /// Parks until line `index` reaches `target`, it stops short of it, or
    /// `deadline` passes.
    pub(crate) fn wait_for(
        &self,
        index: usize,
        target: i64,
        deadline: Option<Instant>,
    ) -> Result<(), Missed> {
        let line = &self.lines[index];
        let poll = || {
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
        };
        if let Some(answer) = poll() {
            return answer;
        }
        self.queue
            .park_until(poll, deadline)
            .unwrap_or(Err(Missed::TimedOut))
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
    use super::{Missed, Progress, Tickets};
    use loom::sync::Arc;
    use loom::thread;

    /// The receipt handshake: the business-logic thread records an outcome and
    /// advances its line; a receipt parked on the line wakes and finds the outcome.
    /// A lost wake-up deadlocks the model; a missing outcome fails it.
    #[test]
    fn loom_receipt_wakes_with_its_outcome() {
        loom::model(|| {
            let progress = Arc::new(Progress::new([0]));
            let tickets = Arc::new(Tickets::<u32>::new(2));
            let logic = {
                let (progress, tickets) = (Arc::clone(&progress), Arc::clone(&tickets));
                thread::spawn(move || {
                    tickets.record(0, |_| 10);
                    tickets.record(1, |_| 11);
                    progress.advance(0, 2);
                })
            };
            assert_eq!(progress.wait_for(0, 2, None), Ok(()));
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
            let progress = Arc::new(Progress::new([0]));
            let logic = {
                let progress = Arc::clone(&progress);
                thread::spawn(move || {
                    progress.advance(0, 1);
                    progress.finish(0);
                })
            };
            assert_eq!(progress.wait_for(0, 2, None), Err(Missed::Stopped));
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
