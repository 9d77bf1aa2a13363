//! Layers between a caller and the engine's input ring: each looks at a request
//! before its command is submitted and may refuse it with a typed reason
//! (validation, authorisation, rate limiting) or bound how long the caller waits
//! (a timeout). [`Guarded`] runs them in the order they were added, then submits.
//!
//! ```
//! use std::time::Duration;
//! use seqlane::middleware::{Authorize, Guarded, Refusal, Request, Timeout, Validate};
//! use seqlane::{Aggregate, EngineBuilder, Until};
//! # #[derive(Default)] struct Counter(u64);
//! # impl Aggregate for Counter {
//! #     type Command = u64; type Event = u64; type Rejection = String;
//! #     fn decide(&self, add: &u64, events: &mut Vec<u64>) -> Result<(), String> {
//! #         events.push(*add);
//! #         Ok(())
//! #     }
//! #     fn apply(&mut self, added: &u64) { self.0 += added; }
//! # }
//! # if cfg!(miri) { return Ok(()); } // Miri cannot map files
//! # let dir = tempfile::tempdir()?;
//! let engine = EngineBuilder::new(dir.path(), Counter::default()).start()?;
//! let guarded = Guarded::builder(engine.gateway())
//!     .layer(Validate::new(|add: &u64| if *add > 100 { Err("too much".into()) } else { Ok(()) }))
//!     .layer(Authorize::new(|actor: Option<&str>, _: &u64| actor == Some("clerk")))
//!     .layer(Timeout::new(Duration::from_secs(5)))
//!     .build();
//! let accepted = guarded.call(Request::new(7).actor("clerk"), Until::Durable)?;
//! assert_eq!(accepted.events, [7]);
//! let refused = guarded.call(Request::new(7).actor("visitor"), Until::Durable).unwrap_err();
//! assert!(matches!(refused.refusal(), Some(Refusal::Unauthorized(_))));
//! # engine.shutdown()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::engine::domain::{Aggregate, Command};
use crate::engine::error::{TrySubmitError, WaitError};
use crate::engine::gateway::Gateway;
use crate::engine::outcome::Accepted;
use crate::engine::receipt::{Receipt, Until};

#[cfg(feature = "governor")]
mod rate;
#[cfg(feature = "tower")]
mod service;

#[cfg(feature = "governor")]
pub use rate::RateLimit;
#[cfg(feature = "tower")]
pub use service::GuardedService;

/// A command on its way to the ring, with what the layers need to know of it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Request<C> {
    /// The command (with its id and expected version, if any).
    pub command: Command<C>,
    /// Who asks, if the caller said: for authorisation.
    pub actor: Option<String>,
    /// When the caller stops waiting: for room in the ring, and for the stage it
    /// waits for. Set by a [`Timeout`] layer, or by the caller.
    pub deadline: Option<Instant>,
}

impl<C> Request<C> {
    /// A request for `command`, from no one in particular, with no deadline.
    pub fn new(command: impl Into<Command<C>>) -> Self {
        Self {
            command: command.into(),
            actor: None,
            deadline: None,
        }
    }

    /// Says who asks.
    pub fn actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Gives up at `deadline`.
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The command as it is submitted: the actor the layers checked goes into its
    /// [`Metadata`](crate::Metadata) (unless that names one already), so the
    /// journal records who was let through.
    fn into_command(self) -> Command<C> {
        let Request {
            mut command, actor, ..
        } = self;
        if let Some(actor) = actor {
            let metadata = command.metadata.get_or_insert_with(Default::default);
            Arc::make_mut(metadata).actor.get_or_insert(actor);
        }
        command
    }
}

impl<C> From<C> for Request<C> {
    fn from(command: C) -> Self {
        Request::new(command)
    }
}

/// Why a layer refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The command is malformed: what is wrong with it.
    Invalid(String),
    /// The actor may not submit it: why.
    Unauthorized(String),
    /// Over the rate limit: try again after this long.
    RateLimited {
        /// The earliest a retry can pass.
        retry_after: Duration,
    },
    /// Another layer's reason.
    Other(String),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::Invalid(reason) => write!(f, "invalid: {reason}"),
            Refusal::Unauthorized(reason) => write!(f, "unauthorized: {reason}"),
            Refusal::RateLimited { retry_after } => {
                write!(f, "rate limited: retry after {retry_after:?}")
            }
            Refusal::Other(reason) => f.write_str(reason),
        }
    }
}

/// One check between the caller and the ring.
pub trait Layer<C>: Send + Sync + 'static {
    /// Its name, reported with its refusals.
    fn name(&self) -> &str;

    /// Passes `request` on (possibly changed: a deadline set, say) or refuses it.
    ///
    /// # Errors
    ///
    /// The reason the request goes no further.
    fn check(&self, request: &mut Request<C>) -> Result<(), Refusal>;
}

/// A validation layer: `rule` says what is wrong with a command, if anything.
pub struct Validate<C> {
    rule: Rule<C>,
}

type Rule<C> = Box<dyn Fn(&C) -> Result<(), String> + Send + Sync>;

impl<C> Validate<C> {
    /// Refuses commands for which `rule` returns an error, as [`Refusal::Invalid`].
    pub fn new(rule: impl Fn(&C) -> Result<(), String> + Send + Sync + 'static) -> Self {
        Self {
            rule: Box::new(rule),
        }
    }
}

impl<C: 'static> Layer<C> for Validate<C> {
    fn name(&self) -> &str {
        "validate"
    }

    fn check(&self, request: &mut Request<C>) -> Result<(), Refusal> {
        (self.rule)(request.command.body()).map_err(Refusal::Invalid)
    }
}

type Policy<C> = Box<dyn Fn(Option<&str>, &C) -> bool + Send + Sync>;

/// An authorisation layer: `policy` says whether an actor may submit a command.
pub struct Authorize<C> {
    policy: Policy<C>,
}

impl<C> Authorize<C> {
    /// Refuses what `policy` does not allow, as [`Refusal::Unauthorized`].
    pub fn new(policy: impl Fn(Option<&str>, &C) -> bool + Send + Sync + 'static) -> Self {
        Self {
            policy: Box::new(policy),
        }
    }
}

impl<C: 'static> Layer<C> for Authorize<C> {
    fn name(&self) -> &str {
        "authorize"
    }

    fn check(&self, request: &mut Request<C>) -> Result<(), Refusal> {
        let actor = request.actor.as_deref();
        if (self.policy)(actor, request.command.body()) {
            Ok(())
        } else {
            Err(Refusal::Unauthorized(match actor {
                Some(actor) => format!("`{actor}` may not submit this command"),
                None => "an anonymous caller may not submit this command".into(),
            }))
        }
    }
}

/// A timeout layer: the caller waits at most this long, for room in the ring and
/// for the stage it asked for (a [`WaitError::TimedOut`] then). For async calls,
/// put the runtime's timeout around the future as well (tower's `Timeout` layer
/// in front of a [`GuardedService`]): a future only notices the deadline when
/// it is polled.
pub struct Timeout(Duration);

impl Timeout {
    /// Gives up `after` this long from when the request passes this layer.
    pub fn new(after: Duration) -> Self {
        Self(after)
    }
}

impl<C> Layer<C> for Timeout {
    fn name(&self) -> &str {
        "timeout"
    }

    fn check(&self, request: &mut Request<C>) -> Result<(), Refusal> {
        let deadline = Instant::now() + self.0;
        request.deadline = Some(request.deadline.map_or(deadline, |own| own.min(deadline)));
        Ok(())
    }
}

/// Why a guarded call did not end with the command accepted.
#[derive(Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallError<R> {
    /// A layer refused the request; nothing was submitted.
    Refused {
        /// The layer's name.
        layer: String,
        /// Its reason.
        refusal: Refusal,
    },
    /// The input ring stayed full until the deadline; nothing was submitted.
    Full,
    /// The engine is closed; nothing was submitted.
    Closed,
    /// Submitted, and the wait answered this (a rejection, a timeout, a stop).
    Wait(WaitError<R>),
}

impl<R> CallError<R> {
    /// The layer's refusal, if a layer refused.
    pub fn refusal(&self) -> Option<&Refusal> {
        match self {
            CallError::Refused { refusal, .. } => Some(refusal),
            _ => None,
        }
    }
}

impl<R: fmt::Display> fmt::Display for CallError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Refused { layer, refusal } => write!(f, "refused by {layer}: {refusal}"),
            CallError::Full => f.write_str("the engine's input ring is full"),
            CallError::Closed => f.write_str("the engine is closed"),
            CallError::Wait(error) => error.fmt(f),
        }
    }
}

impl<R: fmt::Debug + fmt::Display> std::error::Error for CallError<R> {}

impl<R> From<WaitError<R>> for CallError<R> {
    fn from(error: WaitError<R>) -> Self {
        CallError::Wait(error)
    }
}

/// A command the layers passed and the ring took.
#[derive(Debug)]
#[non_exhaustive]
pub struct Submitted<A: Aggregate> {
    /// Its receipt.
    pub receipt: Receipt<A>,
    /// The deadline its waits should keep, if a layer or the caller set one.
    pub deadline: Option<Instant>,
}

/// Assembles a [`Guarded`] gateway, layer by layer.
pub struct GuardedBuilder<A: Aggregate> {
    gateway: Gateway<A>,
    layers: Vec<Box<dyn Layer<A::Command>>>,
}

impl<A: Aggregate> GuardedBuilder<A> {
    /// Adds `layer` after those added before: it sees only what they passed.
    pub fn layer(mut self, layer: impl Layer<A::Command>) -> Self {
        self.layers.push(Box::new(layer));
        self
    }

    /// The guarded gateway.
    pub fn build(self) -> Guarded<A> {
        Guarded {
            gateway: self.gateway,
            layers: self.layers.into(),
        }
    }
}

/// A [`Gateway`] behind layers. Clone it for each thread or task.
pub struct Guarded<A: Aggregate> {
    gateway: Gateway<A>,
    layers: Arc<[Box<dyn Layer<A::Command>>]>,
}

impl<A: Aggregate> Clone for Guarded<A> {
    fn clone(&self) -> Self {
        Self {
            gateway: self.gateway.clone(),
            layers: Arc::clone(&self.layers),
        }
    }
}

impl<A: Aggregate> fmt::Debug for Guarded<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.layers.iter().map(|layer| layer.name()).collect();
        f.debug_struct("Guarded").field("layers", &names).finish()
    }
}

impl<A: Aggregate> Guarded<A> {
    /// Starts a guarded gateway in front of `gateway`.
    pub fn builder(gateway: Gateway<A>) -> GuardedBuilder<A> {
        GuardedBuilder {
            gateway,
            layers: Vec::new(),
        }
    }

    /// Runs the layers over `request`, in order.
    ///
    /// # Errors
    ///
    /// [`CallError::Refused`] naming the first layer that refused.
    pub fn check(&self, request: &mut Request<A::Command>) -> Result<(), CallError<A::Rejection>> {
        for layer in self.layers.iter() {
            layer.check(request).map_err(|refusal| CallError::Refused {
                layer: layer.name().to_owned(),
                refusal,
            })?;
        }
        Ok(())
    }

    /// Checks `request` and submits its command, waiting for room until its
    /// deadline (or for as long as it takes, without one).
    ///
    /// # Errors
    ///
    /// [`CallError::Refused`], [`CallError::Full`] at the deadline, or
    /// [`CallError::Closed`].
    pub fn submit(
        &self,
        request: impl Into<Request<A::Command>>,
    ) -> Result<Submitted<A>, CallError<A::Rejection>> {
        let mut request = request.into();
        self.check(&mut request)?;
        let deadline = request.deadline;
        let command = request.into_command();
        let receipt = match deadline {
            None => self
                .gateway
                .submit(command)
                .map_err(|_| CallError::Closed)?,
            Some(deadline) => self
                .gateway
                .submit_before(command, deadline)
                .map_err(|error| match error {
                    TrySubmitError::Full(_) => CallError::Full,
                    TrySubmitError::Closed(_) => CallError::Closed,
                })?,
        };
        Ok(Submitted { receipt, deadline })
    }

    /// Checks and submits `request`, then waits `until`: the whole call.
    ///
    /// # Errors
    ///
    /// As [`submit`](Self::submit), then [`CallError::Wait`] with the wait's
    /// error (a rejection among them).
    pub fn call(
        &self,
        request: impl Into<Request<A::Command>>,
        until: Until,
    ) -> Result<Accepted<A::Event>, CallError<A::Rejection>> {
        let Submitted {
            mut receipt,
            deadline,
        } = self.submit(request)?;
        Ok(match deadline {
            None => receipt.wait(until)?,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                receipt.wait_timeout(until, left)?
            }
        })
    }

    /// The async [`submit`](Self::submit): checks `request`, then awaits room in
    /// the ring. The deadline is checked before submitting; see [`Timeout`].
    ///
    /// # Errors
    ///
    /// [`CallError::Refused`], [`CallError::Wait`] with a timeout when the
    /// deadline passed, or [`CallError::Closed`].
    pub async fn submit_async(
        &self,
        request: impl Into<Request<A::Command>>,
    ) -> Result<Receipt<A>, CallError<A::Rejection>> {
        let mut request = request.into();
        self.check(&mut request)?;
        if request
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return Err(CallError::Wait(WaitError::TimedOut));
        }
        self.gateway
            .submit_async(request.into_command())
            .await
            .map_err(|_| CallError::Closed)
    }

    /// The async [`call`](Self::call): awaits room in the ring and the stage.
    /// The deadline is checked before submitting; see [`Timeout`].
    ///
    /// # Errors
    ///
    /// As [`call`](Self::call).
    pub async fn call_async(
        &self,
        request: impl Into<Request<A::Command>>,
        until: Until,
    ) -> Result<Accepted<A::Event>, CallError<A::Rejection>> {
        let mut receipt = self.submit_async(request).await?;
        Ok(receipt.wait_async(until).await?)
    }

    /// The gateway behind the layers.
    pub fn gateway(&self) -> &Gateway<A> {
        &self.gateway
    }
}
