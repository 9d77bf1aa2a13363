//! [`Gateway`]: how commands get into the engine's input ring, from any thread.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::engine::domain::{Aggregate, Command};
use crate::engine::error::{SubmitError, TrySubmitError};
use crate::engine::receipt::Receipt;
use crate::engine::shared::EngineShared;
use crate::engine::slots::Submission;
use crate::error::TryClaimError;
use crate::sync::Arc;
use crate::MultiProducer;

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

    fn enqueue(
        &self,
        command: Command<A::Command>,
        receipt: bool,
        room: Room,
    ) -> Result<i64, TrySubmitError<A::Command>> {
        // Relaxed: a fast refusal only; the SeqCst check below decides.
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
        let mut slot = match claimed {
            Ok(slot) => slot,
            Err(TryClaimError::Full) => return Err(TrySubmitError::Full(command)),
            Err(TryClaimError::Halted) => return Err(TrySubmitError::Closed(command)),
        };
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
