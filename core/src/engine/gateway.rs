//! [`Gateway`]: how commands get into the engine's input ring, from any thread.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};
use std::time::Instant;

use crate::claim::Claim;
use crate::engine::domain::{Aggregate, Command};
use crate::engine::error::{SubmitError, TrySubmitError};
use crate::engine::metrics::Metrics;
use crate::engine::receipt::Receipt;
use crate::engine::shared::EngineShared;
use crate::engine::slots::Submission;
use crate::error::{Halted, TryClaimError};
use crate::sync::Arc;
use crate::wait::queue::WakerSlot;
use crate::{MultiProducer, Producer};

/// Submits commands to an engine, from any thread. Clone it for each thread.
///
/// Three ways in, by how they treat a full input ring: [`submit`](Gateway::submit)
/// waits for room, [`submit_before`](Gateway::submit_before) waits until a deadline,
/// [`try_submit`](Gateway::try_submit) gives the command back at once. Each returns a
/// [`Receipt`] as soon as the command is in the ring. [`send`](Gateway::send) is
/// fire-and-forget: no receipt, and the engine keeps no outcome.
pub struct Gateway<A: Aggregate> {
    pub(crate) producer: MultiProducer<Submission<A::Command>>,
    pub(crate) engine: Arc<EngineShared<A>>,
}

impl<A: Aggregate> Clone for Gateway<A> {
    fn clone(&self) -> Self {
        Self {
            producer: self.producer.clone(),
            engine: Arc::clone(&self.engine),
        }
    }
}

impl<A: Aggregate> fmt::Debug for Gateway<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gateway")
            .field("closed", &self.engine.closed.load(Ordering::Relaxed))
            .finish()
    }
}

/// How long a submission may wait for room.
enum Room {
    Wait,
    Now,
    Before(Instant),
}

impl<A: Aggregate> Gateway<A> {
    /// Submits a command, waiting for room in the input ring; returns its receipt.
    ///
    /// # Errors
    ///
    /// [`SubmitError::Closed`] (with the command) once the engine is shutting down
    /// or stopped on a failure.
    pub fn submit(
        &self,
        command: impl Into<Command<A::Command>>,
    ) -> Result<Receipt<A>, SubmitError<A::Command>> {
        match self.enqueue(command.into(), true, Room::Wait) {
            Ok(sequence) => Ok(Receipt::new(Arc::clone(&self.engine), sequence)),
            Err(TrySubmitError::Closed(command) | TrySubmitError::Full(command)) => {
                Err(SubmitError::Closed(command))
            }
        }
    }

    /// Submits a command without a receipt: the engine keeps no outcome for it.
    /// The cheapest way in.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit).
    pub fn send(
        &self,
        command: impl Into<Command<A::Command>>,
    ) -> Result<(), SubmitError<A::Command>> {
        match self.enqueue(command.into(), false, Room::Wait) {
            Ok(_) => Ok(()),
            Err(TrySubmitError::Closed(command) | TrySubmitError::Full(command)) => {
                Err(SubmitError::Closed(command))
            }
        }
    }

    /// Submits a command if the input ring has room now.
    ///
    /// # Errors
    ///
    /// [`TrySubmitError::Full`] (with the command) when the ring is full: the
    /// business logic is a whole ring behind. [`TrySubmitError::Closed`] as in
    /// [`submit`](Self::submit).
    pub fn try_submit(
        &self,
        command: impl Into<Command<A::Command>>,
    ) -> Result<Receipt<A>, TrySubmitError<A::Command>> {
        let sequence = self.enqueue(command.into(), true, Room::Now)?;
        Ok(Receipt::new(Arc::clone(&self.engine), sequence))
    }

    /// Submits a command, waiting for room until `deadline`.
    ///
    /// # Errors
    ///
    /// As [`try_submit`](Self::try_submit), `Full` meaning still full at `deadline`.
    pub fn submit_before(
        &self,
        command: impl Into<Command<A::Command>>,
        deadline: Instant,
    ) -> Result<Receipt<A>, TrySubmitError<A::Command>> {
        let sequence = self.enqueue(command.into(), true, Room::Before(deadline))?;
        Ok(Receipt::new(Arc::clone(&self.engine), sequence))
    }

    /// A future of the command's receipt once it is in the ring: the async
    /// [`submit`](Self::submit), which waits for room without blocking the thread
    /// (the task is woken when the business logic frees slots). Dropping the
    /// future before it is ready drops the command unsubmitted.
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
    /// let engine = EngineBuilder::new(dir.path(), Counter::default()).start()?;
    /// let gateway = engine.gateway();
    /// # let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// // In any async runtime: no thread blocks on a full ring or on a wait.
    /// let accepted = runtime.block_on(async {
    ///     let mut receipt = gateway.submit_async(5).await?;
    ///     let accepted = receipt.wait_async(Until::Processed).await?;
    ///     receipt.reach_async(Until::Durable).await?;
    ///     Ok::<_, Box<dyn std::error::Error>>(accepted)
    /// })?;
    /// assert_eq!(accepted.events, [5]);
    /// # engine.shutdown()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn submit_async(&self, command: impl Into<Command<A::Command>>) -> SubmitFuture<'_, A> {
        SubmitFuture {
            gateway: self,
            command: Some(command.into()),
            slot: WakerSlot::default(),
        }
    }

    /// The engine's counters now, as [`Engine::metrics`](crate::Engine::metrics)
    /// reads them: for a service that holds gateways, not the engine.
    pub fn metrics(&self) -> Metrics {
        let mut metrics = self
            .engine
            .metrics(self.producer.last_claimed() + 1, self.producer.capacity());
        metrics.waiting_tasks += self.producer.parked_tasks();
        metrics
    }

    fn enqueue(
        &self,
        command: Command<A::Command>,
        receipt: bool,
        room: Room,
    ) -> Result<i64, TrySubmitError<A::Command>> {
        // Relaxed: a fast refusal only; the SeqCst check in `fill` decides.
        if self.engine.closed.load(Ordering::Relaxed) {
            return Err(TrySubmitError::Closed(command));
        }
        let claimed = match room {
            Room::Wait => self
                .producer
                .claim_shared()
                .map_err(|_| TryClaimError::Halted),
            Room::Now => self.producer.try_claim_shared(None),
            Room::Before(deadline) => self.producer.try_claim_shared(Some(deadline)),
        };
        match claimed {
            Ok(slot) => self.fill(slot, command, receipt),
            Err(TryClaimError::Full) => Err(TrySubmitError::Full(command)),
            Err(TryClaimError::Halted) => Err(TrySubmitError::Closed(command)),
        }
    }

    /// Writes `command` into its claimed slot, or leaves the slot void if the
    /// engine closed meanwhile.
    fn fill(
        &self,
        mut slot: Claim<'_, Submission<A::Command>>,
        command: Command<A::Command>,
        receipt: bool,
    ) -> Result<i64, TrySubmitError<A::Command>> {
        // SeqCst: pairs with the store in `Engine::stop` (see there). If shutdown
        // may have stopped counting claims, leave the slot void.
        if self.engine.closed.load(Ordering::SeqCst) {
            *slot = Submission::void();
            return Err(TrySubmitError::Closed(command));
        }
        *slot = Submission {
            command: Some(command),
            receipt,
            snapshot: false,
        };
        Ok(slot.sequence())
    }
}

/// The future of [`Gateway::submit_async`]: the command's receipt once it is in
/// the input ring.
#[must_use = "futures do nothing unless awaited"]
pub struct SubmitFuture<'a, A: Aggregate> {
    gateway: &'a Gateway<A>,
    command: Option<Command<A::Command>>,
    slot: WakerSlot,
}

// No field is ever pinned: the command moves out only by `&mut`.
impl<A: Aggregate> Unpin for SubmitFuture<'_, A> {}

impl<A: Aggregate> Future for SubmitFuture<'_, A> {
    type Output = Result<Receipt<A>, SubmitError<A::Command>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let gateway = this.gateway;
        let command = this.command.take().expect("polled after it was ready");
        // Relaxed: a fast refusal only; the SeqCst check in `fill` decides.
        if gateway.engine.closed.load(Ordering::Relaxed) {
            return Poll::Ready(Err(SubmitError::Closed(command)));
        }
        match gateway.producer.poll_claim_shared(cx, &mut this.slot) {
            Poll::Pending => {
                this.command = Some(command);
                Poll::Pending
            }
            Poll::Ready(Err(Halted)) => Poll::Ready(Err(SubmitError::Closed(command))),
            Poll::Ready(Ok(slot)) => Poll::Ready(match gateway.fill(slot, command, true) {
                Ok(sequence) => Ok(Receipt::new(Arc::clone(&gateway.engine), sequence)),
                Err(TrySubmitError::Closed(command) | TrySubmitError::Full(command)) => {
                    Err(SubmitError::Closed(command))
                }
            }),
        }
    }
}

impl<A: Aggregate> Drop for SubmitFuture<'_, A> {
    fn drop(&mut self) {
        self.gateway.producer.forget_waker(&mut self.slot);
    }
}
