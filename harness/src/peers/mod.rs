//! Peers: every queue or bus measured, each running the same scenarios through one
//! small trait, with the same event, capacity, batch sizes and pinning.

mod bare;
mod channels;
mod disruptor;
mod measure;
mod seqlane;

use std::time::Duration;

use hdrhistogram::Histogram;

use crate::event::Checksum;
use crate::scenario::{NoFigure, Topology};

pub use bare::{amortised_round_trip, clock_read, BareCacheLine};
pub use channels::{CrossbeamBounded, MutexQueue, StdSyncChannel};
pub use disruptor::Disruptor;
pub use seqlane::Seqlane;

/// How one run is set up.
#[derive(Clone, Debug)]
pub struct RunConfig {
    /// Events each producer publishes.
    pub per_producer: u64,
    /// Events published together (a batch claim, or that many sends in a row).
    pub batch: usize,
    /// Ring or queue capacity, the same for every peer.
    pub capacity: usize,
    /// Cores to pin the run's threads to, producers first; `None` when the machine
    /// has fewer cores than the run has threads.
    pub cores: Option<Vec<usize>>,
}

impl RunConfig {
    /// Whether threads may busy-spin: only when each has a core of its own.
    pub fn spin(&self) -> bool {
        self.cores.is_some()
    }

    /// The core for thread `index`, if pinning.
    pub fn core(&self, index: usize) -> Option<usize> {
        self.cores
            .as_ref()
            .and_then(|cores| cores.get(index).copied())
    }
}

/// The outcome of a throughput run.
#[derive(Clone, Debug)]
pub struct Run {
    /// From the first publish until every consumer had everything.
    pub elapsed: Duration,
    /// Each terminal consumer's checksum (a pipeline's and diamond's intermediate
    /// consumers are checked too).
    pub checksums: Vec<Checksum>,
}

/// A queue or bus under test.
pub trait Peer: Sync {
    /// Its name in tables and `--peers`.
    fn name(&self) -> &'static str;

    /// The wait strategy it uses for a run, in words.
    fn wait_strategy(&self, config: &RunConfig) -> String;

    /// One throughput run of `topology`.
    fn throughput(&self, topology: Topology, config: &RunConfig) -> Result<Run, NoFigure>;

    /// `rounds` round trips between two threads, one latency sample (ns) per trip.
    fn ping_pong(&self, rounds: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure>;

    /// Unicast at a fixed offered `rate` (events/s): each event's latency is from
    /// its intended send time (not its actual one, which would hide the queueing a
    /// stall causes: coordinated omission) to its receipt.
    fn latency(&self, rate: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure>;
}

/// A latency histogram from 1 ns to 60 s at 3 significant digits.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Pins the calling thread, if asked.
pub fn pin(core: Option<usize>) {
    if let Some(id) = core {
        // The plan only names cores `core_affinity` listed, so this succeeds or the
        // machine refused, in which case the run goes on unpinned.
        core_affinity::set_for_current(core_affinity::CoreId { id });
    }
}

/// Checks every consumer's checksum: a peer that lost, duplicated or corrupted an
/// event fails the whole run rather than looking fast.
pub fn verify(
    peer: &str,
    topology: Topology,
    config: &RunConfig,
    checksums: &[Checksum],
) -> Result<(), String> {
    let expected = Checksum::expected(topology.producers() as u64, config.per_producer);
    for (index, checksum) in checksums.iter().enumerate() {
        if *checksum != expected {
            return Err(format!(
                "{peer} failed {}: consumer {} saw {} events (sum {}), expected {} (sum {})",
                topology.name(),
                index + 1,
                checksum.count,
                checksum.sum,
                expected.count,
                expected.sum
            ));
        }
    }
    if checksums.len() != topology.consumers() {
        return Err(format!(
            "{peer} reported {} consumers for {}",
            checksums.len(),
            topology.name()
        ));
    }
    Ok(())
}
