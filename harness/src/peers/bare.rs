//! The physical floor of a round trip: two threads bouncing a value through two
//! cache lines, with no queue at all.

use std::sync::atomic::{AtomicU64, Ordering};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use super::measure::time_round_trips;
use super::{pin, Peer, Run, RunConfig};
use crate::scenario::NoFigure;
use crate::scenario::Topology;

/// Two cache-padded atomics: the ping-pong floor any queue is measured against.
pub struct BareCacheLine;

impl Peer for BareCacheLine {
    fn name(&self) -> &'static str {
        "bare_cache_line"
    }

    fn wait_strategy(&self, _config: &RunConfig) -> String {
        "busy-spin".to_owned()
    }

    fn throughput(&self, _: Topology, _: &RunConfig) -> Result<Run, NoFigure> {
        Err(NoFigure::cannot_run(
            "a bare cache line is a ping-pong floor, not a queue",
        ))
    }

    fn ping_pong(&self, rounds: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        // Values are round + 1, so 0 means "nothing yet"; u64::MAX tells the echo
        // thread to stop.
        let ping = CachePadded::new(AtomicU64::new(0));
        let pong = CachePadded::new(AtomicU64::new(0));
        Ok(std::thread::scope(|scope| {
            scope.spawn(|| {
                pin(config.core(1));
                let mut last = 0;
                loop {
                    // Acquire/Release: pairs with the other thread's store.
                    let value = ping.load(Ordering::Acquire);
                    if value == u64::MAX {
                        break;
                    }
                    if value != last {
                        pong.store(value, Ordering::Release);
                        last = value;
                    } else {
                        std::hint::spin_loop();
                    }
                }
            });
            let histogram = time_round_trips(rounds, config.core(0), |round| {
                ping.store(round + 1, Ordering::Release);
                while pong.load(Ordering::Acquire) != round + 1 {
                    std::hint::spin_loop();
                }
            });
            ping.store(u64::MAX, Ordering::Release);
            histogram
        }))
    }

    fn latency(&self, _: u64, _: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        Err(NoFigure::cannot_run(
            "a bare cache line is a ping-pong floor, not a queue",
        ))
    }
}
