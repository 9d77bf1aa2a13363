//! The wait strategies' own tests.

use super::{yield_for, WaitStrategy, Waiter, Wanted};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ALL: [WaitStrategy; 5] = [
    WaitStrategy::BusySpin,
    WaitStrategy::Yielding,
    WaitStrategy::BACKOFF,
    WaitStrategy::Blocking,
    WaitStrategy::SPIN_THEN_PARK,
];

#[test]
fn only_blocking_needs_notifications() {
    assert_eq!(WaitStrategy::default(), WaitStrategy::BACKOFF);
    assert!(WaitStrategy::Blocking.parks());
    assert!(WaitStrategy::SPIN_THEN_PARK.parks());
    for strategy in [
        WaitStrategy::BusySpin,
        WaitStrategy::Yielding,
        WaitStrategy::BACKOFF,
    ] {
        assert!(!strategy.parks(), "{strategy:?}");
    }
}

#[test]
fn a_ready_poll_answers_without_waiting() {
    for strategy in ALL {
        assert_eq!(Waiter::new(strategy).wait(|| Some(7)), 7);
    }
}

#[test]
fn every_strategy_gives_up_at_its_deadline() {
    for strategy in ALL {
        let deadline = Instant::now() + Duration::from_millis(5);
        let answer: Option<()> = Waiter::new(strategy).wait_until(|| None, Some(deadline));
        assert_eq!(answer, None, "{strategy:?}");
        assert!(Instant::now() >= deadline, "{strategy:?} gave up early");
    }
}

#[test]
fn every_strategy_gives_up_waiting_for_room_at_its_deadline() {
    for strategy in ALL {
        // Past the backoff's yielding spell, and within it (under Miri, whose
        // clock moves with the instructions it runs, both within it).
        let past = Duration::from_micros(if cfg!(miri) { 200 } else { 5_000 });
        for wait in [past, Duration::from_micros(20)] {
            let deadline = Instant::now() + wait;
            let answer: Option<()> =
                Waiter::new(strategy).wait_for(Wanted::Room, || None, Some(deadline));
            assert_eq!(answer, None, "{strategy:?}");
            assert!(Instant::now() >= deadline, "{strategy:?} gave up early");
        }
    }
}

#[test]
fn yielding_for_room_ends_with_the_answer_the_deadline_or_its_patience() {
    let mut polls = 0;
    let answer = yield_for(
        Duration::from_secs(10),
        &mut || {
            polls += 1;
            (polls == 3).then_some(polls)
        },
        None,
    );
    assert_eq!(answer, Some(Some(3)));

    let started = Instant::now();
    let gave_up: Option<Option<()>> = yield_for(Duration::from_millis(2), &mut || None, None);
    assert_eq!(gave_up, None);
    assert!(started.elapsed() >= Duration::from_millis(2));

    let deadline = Instant::now() + Duration::from_millis(1);
    let timed_out: Option<Option<()>> =
        yield_for(Duration::from_secs(10), &mut || None, Some(deadline));
    assert_eq!(timed_out, Some(None));
    assert!(Instant::now() >= deadline);
}

#[test]
fn every_strategy_sees_a_change_made_by_another_thread() {
    for strategy in ALL {
        let waiter = Arc::new(Waiter::new(strategy));
        let flag = Arc::new(AtomicBool::new(false));
        let setter = {
            let (waiter, flag) = (Arc::clone(&waiter), Arc::clone(&flag));
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(2));
                flag.store(true, Ordering::Release);
                waiter.notify();
            })
        };
        waiter.wait(|| flag.load(Ordering::Acquire).then_some(()));
        setter.join().unwrap();
    }
}
