//! Receipts: what a caller holds after submitting a command, to wait for as much of
//! the command's fate as it needs.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::engine::domain::Aggregate;
use crate::engine::error::WaitError;
use crate::engine::outcome::{Accepted, Outcome};
use crate::engine::progress::{Line, Missed, Progress, ProjectionId};
use crate::engine::shared::EngineShared;
use crate::sync::Arc;
use crate::wait::queue::WakerSlot;

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

/// What a wait answers: the command accepted, or why not.
type Answer<A> = Result<Accepted<<A as Aggregate>::Event>, WaitError<<A as Aggregate>::Rejection>>;

/// What a wait for a stage answers.
type Reached<A> = Result<(), WaitError<<A as Aggregate>::Rejection>>;

/// The engine accepted a command into its input ring; wait on this to learn what
/// became of it, as far as you need: [`Until::Processed`], [`Until::Durable`] or
/// [`Until::Visible`]. Waiting parks the thread (no busy-spin) and may time out;
/// an async task awaits instead ([`wait_async`](Self::wait_async), or the receipt
/// itself for `Processed`), with no runtime needed.
///
/// A receipt answers several stages: take the outcome once ([`wait`](Self::wait)
/// and its kin), and wait for later stages as often as needed with
/// [`reach`](Self::reach), before or after, to reply when processed and confirm
/// when durable:
///
/// ```
/// # use seqlane::{Aggregate, EngineBuilder, Until};
/// # #[derive(Default)] struct Counter(u64);
/// # impl Aggregate for Counter {
/// #     type Command = u64; type Event = u64; type Rejection = String;
/// #     fn decide(&self, add: &u64, events: &mut Vec<u64>) -> Result<(), String> {
/// #         events.push(*add);
/// #         Ok(())
/// #     }
/// #     fn apply(&mut self, added: &u64) { self.0 += added; }
/// # }
/// # if cfg!(miri) { return Ok(()); } // Miri cannot map files
/// # let dir = tempfile::tempdir()?;
/// # let engine = EngineBuilder::new(dir.path(), Counter::default()).start()?;
/// let mut receipt = engine.gateway().submit(5)?;
/// let accepted = receipt.wait_timeout(Until::Processed, std::time::Duration::from_secs(5))?;
/// // ... reply to the caller with `accepted` ...
/// receipt.reach(Until::Durable)?; // ... then confirm it is on disk.
/// # let _ = accepted;
/// # engine.shutdown()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
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
    /// The outcome was collected from the ticket (and may since be returned).
    collected: bool,
    /// The collected outcome was an acceptance.
    accepted: bool,
    /// The outcome was returned.
    spent: bool,
    /// When the command was submitted, and the stages whose waits were recorded
    /// (bit 0 processed, 1 durable, 2 visible).
    #[cfg(feature = "metrics")]
    submitted: (Instant, u8),
}

impl<A: Aggregate> Receipt<A> {
    pub(crate) fn new(engine: Arc<EngineShared<A>>, sequence: i64) -> Self {
        Self {
            engine,
            sequence,
            outcome: None,
            last_record: None,
            collected: false,
            accepted: false,
            spent: false,
            #[cfg(feature = "metrics")]
            submitted: (Instant::now(), 0),
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
    pub fn wait(mut self, until: Until) -> Answer<A> {
        self.reach_by(until, None)?;
        self.take()
    }

    /// Like [`wait`](Self::wait), giving up after `timeout`; the receipt stays
    /// usable after a timeout.
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`], [`WaitError::Stopped`], or [`WaitError::Spent`] if
    /// an earlier wait returned the outcome.
    pub fn wait_timeout(&mut self, until: Until, timeout: Duration) -> Answer<A> {
        self.reach_by(until, Some(Instant::now() + timeout))?;
        self.take()
    }

    /// Waits until the command got as far as `until`, keeping the outcome for a
    /// later wait. Any number of times, before or after the outcome was taken.
    ///
    /// # Errors
    ///
    /// [`WaitError::Stopped`] when the engine stopped first.
    pub fn reach(&mut self, until: Until) -> Reached<A> {
        self.reach_by(until, None)
    }

    /// Like [`reach`](Self::reach), giving up after `timeout`.
    ///
    /// # Errors
    ///
    /// [`WaitError::TimedOut`] or [`WaitError::Stopped`].
    pub fn reach_timeout(&mut self, until: Until, timeout: Duration) -> Reached<A> {
        self.reach_by(until, Some(Instant::now() + timeout))
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
    pub fn try_wait(&mut self, until: Until) -> Option<Answer<A>> {
        let sequence = self.sequence;
        let reached = self.reach_with(
            until,
            |progress| progress.check_processed(sequence),
            |progress, line, record| progress.check_record(line, record),
        );
        match reached {
            Err(WaitError::TimedOut) => None,
            Err(error) => Some(Err(error)),
            Ok(()) => Some(self.take()),
        }
    }

    /// A future of the outcome once the command got as far as `until`: the async
    /// [`wait_timeout`](Self::wait_timeout) (put a timeout around it with your
    /// runtime's). Dropping the future stops waiting and keeps the receipt usable.
    pub fn wait_async(&mut self, until: Until) -> WaitFuture<'_, A> {
        WaitFuture {
            receipt: self,
            until,
            slot: WakerSlot::default(),
        }
    }

    /// A future that is ready once the command got as far as `until`: the async
    /// [`reach`](Self::reach).
    pub fn reach_async(&mut self, until: Until) -> ReachFuture<'_, A> {
        ReachFuture {
            receipt: self,
            until,
            slot: WakerSlot::default(),
        }
    }

    fn reach_by(&mut self, until: Until, deadline: Option<Instant>) -> Reached<A> {
        let sequence = self.sequence;
        self.reach_with(
            until,
            |progress| progress.wait_processed(sequence, deadline),
            |progress, line, record| progress.wait_record(line, record, deadline),
        )
    }

    /// Learns whether the command got as far as `until` from `processed` and
    /// `record` (which wait, or only look).
    fn reach_with(
        &mut self,
        until: Until,
        processed: impl FnOnce(&Progress) -> Result<(), Missed>,
        record: impl FnOnce(&Progress, Line, u64) -> Result<(), Missed>,
    ) -> Reached<A> {
        if !self.collected {
            let reached = processed(&self.engine.progress);
            self.answer(Line::Logic, reached)?;
            self.collect()?;
        }
        if let Some((line, last)) = self.target(until) {
            let reached = record(&self.engine.progress, line, last);
            self.answer(line, reached)?;
        }
        self.reached(until);
        Ok(())
    }

    /// Records the wait for `until` (once per stage), with the `metrics` feature.
    #[inline]
    fn reached(&mut self, until: Until) {
        #[cfg(feature = "metrics")]
        {
            let (bit, stage) = match until {
                Until::Processed => (1, "processed"),
                Until::Durable => (2, "durable"),
                Until::Visible(_) => (4, "visible"),
            };
            if self.submitted.1 & bit == 0 {
                self.submitted.1 |= bit;
                crate::engine::telemetry::record_wait(stage, self.submitted.0.elapsed());
            }
        }
        #[cfg(not(feature = "metrics"))]
        let _ = until;
    }

    /// [`reach_with`](Self::reach_with) for an async task.
    fn poll_reach(
        &mut self,
        until: Until,
        cx: &mut Context<'_>,
        slot: &mut WakerSlot,
    ) -> Poll<Reached<A>> {
        if !self.collected {
            let Poll::Ready(reached) = self.engine.progress.poll_processed(self.sequence, cx, slot)
            else {
                return Poll::Pending;
            };
            if let Err(error) = self
                .answer(Line::Logic, reached)
                .and_then(|()| self.collect())
            {
                return Poll::Ready(Err(error));
            }
        }
        if let Some((line, last)) = self.target(until) {
            let Poll::Ready(reached) = self.engine.progress.poll_record(line, last, cx, slot)
            else {
                return Poll::Pending;
            };
            if let Err(error) = self.answer(line, reached) {
                return Poll::Ready(Err(error));
            }
        }
        self.reached(until);
        Poll::Ready(Ok(()))
    }

    /// [`poll_reach`](Self::poll_reach), then the outcome: what the outcome
    /// futures answer.
    fn poll_wait(
        &mut self,
        until: Until,
        cx: &mut Context<'_>,
        slot: &mut WakerSlot,
    ) -> Poll<Answer<A>> {
        self.poll_reach(until, cx, slot)
            .map(|reached| reached.and_then(|()| self.take()))
    }

    /// Takes the outcome from the ticket, once the command is processed.
    fn collect(&mut self) -> Reached<A> {
        // Only this receipt takes its command's ticket, once; a processed command
        // without one was cut short by the engine stopping.
        let decided = self
            .engine
            .tickets
            .take(self.sequence)
            .ok_or_else(|| WaitError::Stopped(self.engine.stop_cause(Line::Logic)))?;
        self.accepted = decided.outcome.is_ok();
        self.outcome = Some(decided.outcome);
        self.last_record = decided.last_record;
        self.collected = true;
        Ok(())
    }

    /// The line and record to wait for once processed, for `until`.
    fn target(&self, until: Until) -> Option<(Line, u64)> {
        let last = self.last_record?;
        let line = match until {
            Until::Processed => return None,
            Until::Durable => Line::Journal,
            Until::Visible(projection) if self.accepted => self.engine.projection_line(projection),
            // A rejection has nothing to project; its record is journaled.
            Until::Visible(_) => Line::Journal,
        };
        Some((line, last))
    }

    /// Returns the collected outcome, once.
    fn take(&mut self) -> Answer<A> {
        if self.spent {
            return Err(WaitError::Spent);
        }
        self.spent = true;
        let outcome: Outcome<A> = self.outcome.take().expect("collected before it is taken");
        outcome.map_err(WaitError::Rejected)
    }

    /// What a wait for `line` that ended with `reached` answers.
    fn answer(&self, line: Line, reached: Result<(), Missed>) -> Reached<A> {
        reached.map_err(|missed| match missed {
            Missed::TimedOut => WaitError::TimedOut,
            Missed::Stopped => WaitError::Stopped(self.engine.stop_cause(line)),
        })
    }
}

impl<A: Aggregate> Drop for Receipt<A> {
    fn drop(&mut self) {
        if !self.collected {
            self.engine.tickets.abandon(self.sequence);
        }
    }
}

/// The future of [`Receipt::wait_async`]: the outcome once the command got as far
/// as asked.
#[must_use = "futures do nothing unless awaited"]
pub struct WaitFuture<'a, A: Aggregate> {
    receipt: &'a mut Receipt<A>,
    until: Until,
    slot: WakerSlot,
}

impl<A: Aggregate> Future for WaitFuture<'_, A> {
    type Output = Answer<A>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.receipt.poll_wait(this.until, cx, &mut this.slot)
    }
}

impl<A: Aggregate> Drop for WaitFuture<'_, A> {
    fn drop(&mut self) {
        self.receipt.engine.progress.forget(&mut self.slot);
    }
}

/// The future of [`Receipt::reach_async`]: ready once the command got as far as
/// asked.
#[must_use = "futures do nothing unless awaited"]
pub struct ReachFuture<'a, A: Aggregate> {
    receipt: &'a mut Receipt<A>,
    until: Until,
    slot: WakerSlot,
}

impl<A: Aggregate> Future for ReachFuture<'_, A> {
    type Output = Reached<A>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.receipt.poll_reach(this.until, cx, &mut this.slot)
    }
}

impl<A: Aggregate> Drop for ReachFuture<'_, A> {
    fn drop(&mut self) {
        self.receipt.engine.progress.forget(&mut self.slot);
    }
}

/// The future of awaiting a [`Receipt`] itself: its outcome once processed.
#[must_use = "futures do nothing unless awaited"]
pub struct ReceiptFuture<A: Aggregate> {
    receipt: Receipt<A>,
    slot: WakerSlot,
}

// No field is ever pinned: the future moves its receipt only by `&mut`.
impl<A: Aggregate> Unpin for ReceiptFuture<A> {}

impl<A: Aggregate> Future for ReceiptFuture<A> {
    type Output = Answer<A>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.receipt.poll_wait(Until::Processed, cx, &mut this.slot)
    }
}

impl<A: Aggregate> Drop for ReceiptFuture<A> {
    fn drop(&mut self) {
        self.receipt.engine.progress.forget(&mut self.slot);
    }
}

impl<A: Aggregate> IntoFuture for Receipt<A> {
    type Output = Answer<A>;
    type IntoFuture = ReceiptFuture<A>;

    /// Awaits the outcome once the command is processed: `receipt.await` is the
    /// async `receipt.wait(Until::Processed)`.
    fn into_future(self) -> ReceiptFuture<A> {
        ReceiptFuture {
            receipt: self,
            slot: WakerSlot::default(),
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
