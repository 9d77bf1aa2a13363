//! Rate limiting with the `governor` crate (the `governor` feature): a
//! generic cell rate algorithm, one shared budget or one per actor.

use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota};

use super::{Layer, Refusal, Request};

enum Limiter {
    Shared(DefaultDirectRateLimiter),
    PerActor(DefaultKeyedRateLimiter<Option<String>>),
}

/// A rate-limiting layer: at most `per_second` requests a second, with bursts
/// of up to `burst` at once; over it, [`Refusal::RateLimited`] says when to
/// retry.
pub struct RateLimit {
    limiter: Limiter,
    clock: DefaultClock,
}

impl RateLimit {
    /// One budget shared by every caller.
    pub fn new(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: Limiter::Shared(DefaultDirectRateLimiter::direct(quota)),
            clock: DefaultClock::default(),
        }
    }

    /// A budget per actor (anonymous callers share one).
    pub fn per_actor(per_second: NonZeroU32, burst: NonZeroU32) -> Self {
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Self {
            limiter: Limiter::PerActor(DefaultKeyedRateLimiter::keyed(quota)),
            clock: DefaultClock::default(),
        }
    }
}

impl<C> Layer<C> for RateLimit {
    fn name(&self) -> &str {
        "rate-limit"
    }

    fn check(&self, request: &mut Request<C>) -> Result<(), Refusal> {
        let checked = match &self.limiter {
            Limiter::Shared(limiter) => limiter.check(),
            Limiter::PerActor(limiter) => limiter.check_key(&request.actor),
        };
        checked.map_err(|not_until| Refusal::RateLimited {
            retry_after: not_until.wait_time_from(self.clock.now()),
        })
    }
}
