//! The middleware between callers and the ring: each layer refuses what it
//! should, in order, with its reason; a rate limit holds its rate; a timeout
//! fires; the guarded gateway works as a tower service.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Bank, Event, Gate, Op};
use seqlane::middleware::{
    Authorize, CallError, Guarded, GuardedService, Layer, RateLimit, Refusal, Request, Timeout,
    Validate,
};
use seqlane::{Engine, EngineBuilder, Until, WaitError};

fn start(dir: &std::path::Path, input: usize) -> Engine<Bank> {
    EngineBuilder::new(dir, Bank::default())
        .topology(common::topology())
        .input_capacity(input)
        .start()
        .unwrap()
}

/// Counts the requests that reached it: shows which layers ran.
struct Count(&'static str, Arc<AtomicU64>);

impl<C> Layer<C> for Count {
    fn name(&self) -> &str {
        self.0
    }

    fn check(&self, _: &mut Request<C>) -> Result<(), Refusal> {
        self.1.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

fn positive(op: &Op) -> Result<(), String> {
    match op {
        Op::Deposit(_, amount) if *amount <= 0 => Err(format!("deposit of {amount}")),
        _ => Ok(()),
    }
}

fn tellers_only(actor: Option<&str>, op: &Op) -> bool {
    matches!(op, Op::Open(_)) || actor.is_some_and(|actor| actor.starts_with("teller"))
}

#[test]
fn each_layer_refuses_in_order_with_its_reason() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let engine = start(dir.path(), 64);
        let counts: Vec<Arc<AtomicU64>> = (0..3).map(|_| Arc::default()).collect();
        let guarded = Guarded::builder(engine.gateway())
            .layer(Validate::new(positive))
            .layer(Count("after-validate", Arc::clone(&counts[0])))
            .layer(Authorize::new(tellers_only))
            .layer(Count("after-authorize", Arc::clone(&counts[1])))
            .layer(RateLimit::per_actor(
                NonZeroU32::new(1).unwrap(),
                NonZeroU32::new(3).unwrap(),
            ))
            .layer(Count("after-rate-limit", Arc::clone(&counts[2])))
            .build();
        let seen = || {
            counts
                .iter()
                .map(|c| c.load(Ordering::Relaxed))
                .collect::<Vec<_>>()
        };
        let call = |op: Op, actor: Option<&str>| {
            let mut request = Request::new(op);
            if let Some(actor) = actor {
                request = request.actor(actor);
            }
            guarded.call(request, Until::Processed)
        };

        let opened = call(Op::Open(1), None).unwrap();
        assert_eq!(opened.events, [Event::Opened(1)]);
        assert_eq!(seen(), [1, 1, 1]);

        // Invalid and unauthorised: the validation, first, refuses.
        let error = call(Op::Deposit(1, -5), None).unwrap_err();
        assert_eq!(
            error,
            CallError::Refused {
                layer: "validate".into(),
                refusal: Refusal::Invalid("deposit of -5".into()),
            }
        );
        assert_eq!(seen(), [1, 1, 1], "no later layer saw it");

        let error = call(Op::Deposit(1, 5), Some("visitor")).unwrap_err();
        assert_eq!(
            error,
            CallError::Refused {
                layer: "authorize".into(),
                refusal: Refusal::Unauthorized("`visitor` may not submit this command".into()),
            }
        );
        assert_eq!(seen(), [2, 1, 1]);

        // The teller's burst of 3 passes (anonymous opens have a budget of their
        // own); the fourth at once is over the rate.
        for _ in 0..3 {
            call(Op::Deposit(1, 5), Some("teller")).unwrap();
        }
        let error = call(Op::Deposit(1, 5), Some("teller")).unwrap_err();
        match &error {
            CallError::Refused {
                layer,
                refusal: Refusal::RateLimited { retry_after },
            } => {
                assert_eq!(layer, "rate-limit");
                assert!(*retry_after <= Duration::from_secs(1), "{retry_after:?}");
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        assert_eq!(seen(), [6, 5, 4]);
        assert!(
            error.to_string().contains("refused by rate-limit"),
            "{error}"
        );
        // Past the layers, a rejection by the aggregate comes through the wait.
        let error = call(Op::Withdraw(9, 1), Some("teller-2")).unwrap_err();
        assert!(
            matches!(error, CallError::Wait(WaitError::Rejected(_))),
            "{error:?}"
        );
        assert_eq!(engine.shutdown().unwrap().state.balances[&1], 15);
    });
}

/// 400 requests a second with bursts of ten (so a caller descheduled for a few
/// milliseconds loses nothing), offered as fast as the caller can for 2 s: what
/// passes is within 10% of 400 a second.
#[test]
fn a_rate_limit_holds_its_rate() {
    let dir = tempfile::tempdir().unwrap();
    let engine = start(dir.path(), 1024);
    let guarded = Guarded::builder(engine.gateway())
        .layer(RateLimit::new(
            NonZeroU32::new(400).unwrap(),
            NonZeroU32::new(10).unwrap(),
        ))
        .build();
    guarded.call(Op::Open(1), Until::Processed).unwrap();
    let started = Instant::now();
    let (mut passed, mut refused) = (0u64, 0u64);
    while started.elapsed() < Duration::from_secs(2) {
        match guarded.submit(Op::Deposit(1, 1)) {
            Ok(_) => passed += 1,
            Err(CallError::Refused {
                refusal: Refusal::RateLimited { retry_after },
                ..
            }) => {
                refused += 1;
                std::thread::sleep(retry_after.min(Duration::from_millis(1)));
            }
            Err(other) => panic!("{other:?}"),
        }
    }
    let rate = passed as f64 / started.elapsed().as_secs_f64();
    assert!(
        (360.0..=440.0).contains(&rate),
        "{rate:.0}/s passed ({passed} passed, {refused} refused)"
    );
    assert!(refused > 0);
    drop(guarded);
    engine.shutdown().unwrap();
}

/// A timeout bounds the wait for the stage (the logic held still) and the wait
/// for room (the ring full), and the call says which.
#[test]
fn a_timeout_fires() {
    common::in_each_topology(|| {
        let dir = tempfile::tempdir().unwrap();
        let engine = start(dir.path(), 8);
        let guarded = Guarded::builder(engine.gateway())
            .layer(Timeout::new(Duration::from_millis(50)))
            .build();
        // The gate's command comes first: nothing after it is processed, and no
        // slot is freed, until the gate opens.
        let gate = Gate::default();
        engine.gateway().send(Op::Wait(gate.clone())).unwrap();
        let started = Instant::now();
        let error = guarded.call(Op::Open(1), Until::Processed).unwrap_err();
        assert_eq!(error, CallError::Wait(WaitError::TimedOut));
        assert!(started.elapsed() >= Duration::from_millis(50));
        while engine.gateway().try_submit(Op::Deposit(1, 1)).is_ok() {}
        let started = Instant::now();
        let error = guarded
            .call(Op::Deposit(1, 1), Until::Processed)
            .unwrap_err();
        assert_eq!(error, CallError::Full);
        assert!(started.elapsed() >= Duration::from_millis(50));
        gate.open();
        // The backlog drains and syncs without a deadline (a sync can take longer
        // than 50 ms on a loaded disk); then the guarded gateway answers again.
        let drained = engine.gateway().submit(Op::Deposit(1, 1)).unwrap();
        drained.wait(Until::Durable).unwrap();
        guarded.call(Op::Deposit(1, 1), Until::Processed).unwrap();
        drop(guarded);
        engine.shutdown().unwrap();
    });
}

/// As a tower service, with tower's own timeout stacked in front: calls answer
/// once durable, a refusal is the service's error.
#[test]
fn the_guarded_gateway_is_a_tower_service() {
    use tower::{Service, ServiceExt};
    let dir = tempfile::tempdir().unwrap();
    let engine = start(dir.path(), 64);
    let guarded = Guarded::builder(engine.gateway())
        .layer(Validate::new(positive))
        .build();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut service = tower::ServiceBuilder::new()
            .timeout(Duration::from_secs(30))
            .service(GuardedService::new(guarded, Until::Durable));
        let opened = service
            .ready()
            .await
            .unwrap()
            .call(Request::new(Op::Open(1)))
            .await
            .unwrap();
        assert_eq!(opened.events, [Event::Opened(1)]);
        let refused = service
            .ready()
            .await
            .unwrap()
            .call(Request::new(Op::Deposit(1, 0)))
            .await
            .unwrap_err();
        let refused = refused
            .downcast::<CallError<common::Refusal>>()
            .expect("the guarded gateway's error");
        assert!(matches!(*refused, CallError::Refused { .. }), "{refused:?}");
    });
    engine.shutdown().unwrap();
}
