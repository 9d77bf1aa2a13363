//! The physical floor of a round trip: two threads bouncing a value through two
//! cache lines, with no queue at all.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use super::measure::time_round_trips;
use super::{pin, Peer, Run, RunConfig};
use crate::scenario::NoFigure;
use crate::scenario::Topology;

/// Two cache-padded atomics: the ping-pong floor any queue is measured against.
pub struct BareCacheLine;

/// The two lines: the pinger writes `ping`, the echo answers on `pong`. Values are
/// round + 1, so 0 means "nothing yet"; `u64::MAX` tells the echo to stop.
#[derive(Default)]
struct Lines {
    ping: CachePadded<AtomicU64>,
    pong: CachePadded<AtomicU64>,
}

impl Lines {
    /// The echo thread: answers each ping until told to stop.
    fn echo(&self, core: Option<usize>) {
        pin(core);
        let mut last = 0;
        loop {
            // Acquire/Release: pairs with the other thread's store.
            let value = self.ping.load(Ordering::Acquire);
            if value == u64::MAX {
                break;
            }
            if value != last {
                self.pong.store(value, Ordering::Release);
                last = value;
            }
        }
    }

    /// One round trip, numbered `round`.
    #[inline]
    fn trip(&self, round: u64) {
        self.ping.store(round + 1, Ordering::Release);
        while self.pong.load(Ordering::Acquire) != round + 1 {}
    }

    fn stop(&self) {
        self.ping.store(u64::MAX, Ordering::Release);
    }
}

/// The floor without the clock: `rounds` round trips between one pair of
/// timestamps, pause-free, and what one trip took on average. Timing every trip
/// (the ping-pong rows) adds two clock reads per trip; this does not.
pub fn amortised_round_trip(rounds: u64, cores: (Option<usize>, Option<usize>)) -> Duration {
    let lines = Lines::default();
    std::thread::scope(|scope| {
        scope.spawn(|| lines.echo(cores.1));
        let elapsed = scope
            .spawn(|| {
                pin(cores.0);
                // A warm-up, so both threads are running before the clock starts.
                for round in 0..rounds / 10 {
                    lines.trip(round);
                }
                let started = Instant::now();
                for round in rounds / 10..rounds / 10 + rounds {
                    lines.trip(round);
                }
                started.elapsed()
            })
            .join()
            .expect("the pinging thread panicked");
        lines.stop();
        elapsed / rounds.max(1) as u32
    })
}

/// What one `Instant::now()` costs here: the median over 101 batches of 1,000
/// back-to-back reads. A per-trip timing carries about two of them.
pub fn clock_read() -> Duration {
    let mut batches: Vec<Duration> = (0..101)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..1_000 {
                std::hint::black_box(Instant::now());
            }
            started.elapsed() / 1_000
        })
        .collect();
    batches.sort_unstable();
    batches[batches.len() / 2]
}

impl Peer for BareCacheLine {
    fn name(&self) -> &'static str {
        "bare_cache_line"
    }

    fn wait_strategy(&self, _config: &RunConfig) -> String {
        "busy-spin, no spin hint".to_owned()
    }

    fn throughput(&self, _: Topology, _: &RunConfig) -> Result<Run, NoFigure> {
        Err(NoFigure::cannot_run(
            "a bare cache line is a ping-pong floor, not a queue",
        ))
    }

    /// Each side spins on the other's line with no spin hint between loads: a
    /// `pause` on the path would be part of the floor (it is about 40 cycles on
    /// some CPUs, over 100 on others), and the floor is what the lines cost.
    fn ping_pong(&self, rounds: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        let lines = Lines::default();
        Ok(std::thread::scope(|scope| {
            scope.spawn(|| lines.echo(config.core(1)));
            let histogram = time_round_trips(rounds, config.core(0), |round| lines.trip(round));
            lines.stop();
            histogram
        }))
    }

    fn latency(&self, _: u64, _: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        Err(NoFigure::cannot_run(
            "a bare cache line is a ping-pong floor, not a queue",
        ))
    }
}
