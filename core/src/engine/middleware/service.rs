//! The guarded gateway as a `tower::Service` (the `tower` feature), so a
//! service can stack tower layers in front of it and mount it in axum or tonic.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use super::{CallError, Guarded, Request};
use crate::engine::domain::Aggregate;
use crate::engine::outcome::Accepted;
use crate::engine::receipt::Until;

/// A [`Guarded`] gateway as a `tower::Service`: each call runs the layers,
/// submits, and answers once the command got as far as `until`. Room in the
/// ring is awaited in the call, so `poll_ready` is always ready.
pub struct GuardedService<A: Aggregate> {
    guarded: Guarded<A>,
    until: Until,
}

impl<A: Aggregate> GuardedService<A> {
    /// Answers each call once its command got as far as `until`.
    pub fn new(guarded: Guarded<A>, until: Until) -> Self {
        Self { guarded, until }
    }
}

impl<A: Aggregate> Clone for GuardedService<A> {
    fn clone(&self) -> Self {
        Self {
            guarded: self.guarded.clone(),
            until: self.until,
        }
    }
}

type Answer<A> = Result<Accepted<<A as Aggregate>::Event>, CallError<<A as Aggregate>::Rejection>>;

impl<A> tower::Service<Request<A::Command>> for GuardedService<A>
where
    A: Aggregate,
    A::Command: Send,
{
    type Response = Accepted<A::Event>;
    type Error = CallError<A::Rejection>;
    type Future = Pin<Box<dyn Future<Output = Answer<A>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<A::Command>) -> Self::Future {
        let (guarded, until) = (self.guarded.clone(), self.until);
        Box::pin(async move { guarded.call_async(request, until).await })
    }
}
