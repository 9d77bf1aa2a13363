//! Receipts: what a caller holds after submitting a command, to wait for as much of
//! the command's fate as it needs.

use std::fmt;
use std::time::{Duration, Instant};

use crate::engine::domain::Aggregate;
use crate::engine::outcome::Outcome;
use crate::engine::progress::{Line, Missed, ProjectionId};
use crate::engine::shared::EngineShared;
use crate::sync::Arc;

/// How long a [`Receipt`] waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// Decided and applied to the state by the business logic.
    Processed,
    /// Also durable in the journal, per its sync policy.
    Durable,
    /// Also applied by this projection, and published in its read model
    /// (read-your-writes).
    Visible(ProjectionId),
}

/// Why a wait ended without the outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitError {
    /// The timeout passed first; the receipt can wait again.
    TimedOut,
    /// The engine stopped before the command got that far (a failure, or a shutdown
    /// that could not finish); the reason says which.
    Stopped(String),
    /// The outcome was already returned by an earlier wait.
    Spent,
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::TimedOut => f.write_str("timed out waiting for the command"),
            WaitError::Stopped(reason) => write!(f, "the engine stopped: {reason}"),
            WaitError::Spent => f.write_str("this receipt's outcome was already taken"),
        }
    }
}

impl std::error::Error for WaitError {}

/// The engine accepted a command into its input ring; wait on this to learn what
/// became of it, as far as you need: [`Until::Processed`], [`Until::Durable`] or
/// [`Until::Visible`]. Waiting parks the thread (no busy-spin) and may time out.
///
/// Dropping a receipt unread costs nothing more: the command still runs, and its
/// outcome is not kept. A receipt may be waited on long after its command ran.
pub struct Receipt<A: Aggregate> {
    engine: Arc<EngineShared<A>>,
    sequence: i64,
    /// The outcome once collected from the ticket, until it is returned.
    outcome: Option<Outcome<A>>,
    /// The last journal record the command left, once collected.
    last_record: Option<u64>,
    spent: bool,
}

impl<A: Aggregate> Receipt<A> {
    pub(crate) fn new(engine: Arc<EngineShared<A>>, sequence: i64) -> Self {
        Self {
            engine,
            sequence,
            outcome: None,
            last_record: None,
            spent: false,
        }
    }

    /// The command's position in the input ring (commands are decided in this
    /// order).
    pub fn sequence(&self) -> i64 {
        self.sequence
    }

    /// Waits until the command got as far as `until`, and returns its outcome.
    ///
    /// A rejected command has nothing to project: its outcome comes as soon as it
    /// is processed, or, when its rejection is journaled (a command with an id, see
    /// [`Aggregate::encode_rejection`]), once that record is durable for
    /// [`Until::Durable`].
    ///
    /// # Errors
    ///
    /// [`WaitError::Stopped`] when the engine stopped first (the reason says why).
    pub fn wait(mut self, until: Until) -> Result<Outcome<A>, WaitError> {
        self.wait_until(until, None)
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; the receipt stays
    /// usable after a timeout.
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`], [`WaitError::Stopped`], or [`WaitError::Spent`] if
    /// an earlier wait returned the outcome.
    pub fn wait_timeout(
        &mut self,
        until: Until,
        timeout: Duration,
    ) -> Result<Outcome<A>, WaitError> {
        self.wait_until(until, Some(Instant::now() + timeout))
    }

    /// Whether the business logic has processed the command (never waits).
    pub fn is_processed(&self) -> bool {
        self.engine.progress.processed() > self.sequence
    }

    /// The outcome if the command got as far as `until` by now; `None` if not yet
    /// (the receipt stays usable). Never waits: for a thread that polls many
    /// receipts, or its own event loop.
    ///
    /// # Errors
    ///
    /// As [`wait`](Self::wait), and [`WaitError::Spent`] if an earlier wait
    /// returned the outcome.
    pub fn try_wait(&mut self, until: Until) -> Option<Result<Outcome<A>, WaitError>> {
        let engine = Arc::clone(&self.engine);
        let progress = &engine.progress;
        let sequence = self.sequence;
        match self.resolve(
            until,
            || progress.check_processed(sequence),
            |line, record| progress.check_record(line, record),
        ) {
            Err(WaitError::TimedOut) => None,
            answer => Some(answer),
        }
    }

    fn wait_until(
        &mut self,
        until: Until,
        deadline: Option<Instant>,
    ) -> Result<Outcome<A>, WaitError> {
        let engine = Arc::clone(&self.engine);
        let progress = &engine.progress;
        let sequence = self.sequence;
        self.resolve(
            until,
            || progress.wait_processed(sequence, deadline),
            |line, record| progress.wait_record(line, record, deadline),
        )
    }

    /// The outcome once the command got as far as `until`, learning how far it got
    /// from `processed` and `record` (which wait, or only look).
    fn resolve(
        &mut self,
        until: Until,
        processed: impl FnOnce() -> Result<(), Missed>,
        record: impl FnOnce(Line, u64) -> Result<(), Missed>,
    ) -> Result<Outcome<A>, WaitError> {
        if self.spent {
            return Err(WaitError::Spent);
        }
        if self.outcome.is_none() {
            let processed = processed();
            self.answer(Line::Logic, processed)?;
            let decided = self.engine.tickets.take(self.sequence).ok_or_else(|| {
                WaitError::Stopped("the outcome was taken by another receipt".into())
            })?;
            self.outcome = Some(decided.outcome);
            self.last_record = decided.last_record;
        }
        let accepted = matches!(self.outcome, Some(Ok(_)));
        if let Some(last) = self.last_record {
            let line = match until {
                Until::Processed => None,
                Until::Durable => Some(Line::Journal),
                Until::Visible(projection) if accepted => {
                    Some(self.engine.projection_line(projection))
                }
                // A rejection has nothing to project; its record is journaled.
                Until::Visible(_) => Some(Line::Journal),
            };
            if let Some(line) = line {
                let reached = record(line, last);
                self.answer(line, reached)?;
            }
        }
        self.spent = true;
        Ok(self.outcome.take().expect("collected above"))
    }

    /// What a wait for `line` that ended with `reached` answers.
    fn answer(&self, line: Line, reached: Result<(), Missed>) -> Result<(), WaitError> {
        reached.map_err(|missed| match missed {
            Missed::TimedOut => WaitError::TimedOut,
            Missed::Stopped => WaitError::Stopped(self.engine.stop_reason(line)),
        })
    }
}

impl<A: Aggregate> Drop for Receipt<A> {
    fn drop(&mut self) {
        if !self.spent && self.outcome.is_none() {
            self.engine.tickets.abandon(self.sequence);
        }
    }
}

impl<A: Aggregate> fmt::Debug for Receipt<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receipt")
            .field("sequence", &self.sequence)
            .field("processed", &self.is_processed())
            .field("spent", &self.spent)
            .finish()
    }
}
