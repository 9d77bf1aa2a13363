//! The suite: what a run measures (the plan, the peers, the scenarios), what the
//! machine allows (pinning, spinning), and the order it all runs in.

use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::cli::{RunArgs, Suite};
use crate::peers::{
    BareCacheLine, CrossbeamBounded, Disruptor, MutexQueue, Peer, Seqlane, StdSyncChannel,
};
use crate::report;
use crate::results::{Machine, Summary};
use crate::run::{self, cores_for, Context, Measured};
use crate::scenario::{Scenario, Topology};

/// How much a suite measures.
pub struct Plan {
    /// Ring runs: events per repetition at most; a peer too slow to move them in
    /// [`run_time`](Plan::run_time) moves what it can in that time instead.
    pub events: u64,
    /// Ring runs: how long a repetition lasts, about, for a peer that cannot move
    /// `events` in that time.
    pub run_time: std::time::Duration,
    pub repetitions: usize,
    pub batches: [usize; 2],
    pub rounds: u64,
    pub rates: Vec<u64>,
    pub latency_events: u64,
    pub capacity: usize,
    /// End to end: commands per producer (two producers), offered rates, commands
    /// per latency run.
    pub engine_commands: u64,
    pub engine_rates: Vec<u64>,
    pub engine_latency_commands: u64,
    /// 4 KiB syncs timed for the disk's floor.
    pub sync_rounds: u64,
    /// Export: records per throughput run; the lag run's offered rate and commands.
    pub export_records: u64,
    pub export_rate: u64,
    pub export_lag_commands: u64,
}

impl Plan {
    pub fn of(suite: Suite) -> Self {
        match suite {
            Suite::Quick => Plan {
                events: 20_000_000,
                run_time: std::time::Duration::from_millis(250),
                repetitions: 3,
                batches: [1, 100],
                rounds: 100_000,
                rates: vec![100_000, 1_000_000],
                latency_events: 200_000,
                capacity: 64 * 1024,
                engine_commands: 1_000_000,
                engine_rates: vec![100_000, 1_000_000],
                engine_latency_commands: 200_000,
                sync_rounds: 500,
                export_records: 200_000,
                export_rate: 10_000,
                export_lag_commands: 50_000,
            },
            Suite::Full => Plan {
                events: 10_000_000,
                run_time: std::time::Duration::from_millis(500),
                repetitions: 7,
                batches: [1, 100],
                rounds: 200_000,
                rates: vec![100_000, 1_000_000, 5_000_000],
                latency_events: 1_000_000,
                capacity: 64 * 1024,
                engine_commands: 5_000_000,
                engine_rates: vec![100_000, 1_000_000],
                engine_latency_commands: 1_000_000,
                sync_rounds: 2_000,
                export_records: 1_000_000,
                export_rate: 10_000,
                export_lag_commands: 300_000,
            },
        }
    }

    /// Ring runs: events for a warm-up, before the peer's rate is known.
    pub fn warm_up_events(&self) -> u64 {
        (self.events / 20).max(1)
    }

    /// Ring runs: events for a repetition by a peer that moved `rate` events a
    /// second (the best of its runs so far): about [`run_time`](Plan::run_time)
    /// of them, within a hundredth of [`events`](Plan::events) and all of them.
    pub fn events_at(&self, rate: f64) -> u64 {
        let floor = (self.events / 100).max(1);
        let in_time = (rate * self.run_time.as_secs_f64()) as u64;
        in_time.clamp(floor, self.events)
    }
}

pub fn all_peers() -> Vec<Box<dyn Peer>> {
    vec![
        Box::new(Seqlane),
        Box::new(Disruptor),
        Box::new(CrossbeamBounded),
        Box::new(StdSyncChannel),
        Box::new(MutexQueue),
        Box::new(BareCacheLine),
    ]
}

/// The peers `--peers` names (all by default), seqlane always among them.
fn select_peers(names: &[String]) -> Result<Vec<Box<dyn Peer>>, String> {
    let known = all_peers();
    if let Some(unknown) = names
        .iter()
        .find(|n| !known.iter().any(|p| p.name() == n.as_str()))
    {
        let names: Vec<_> = known.iter().map(|p| p.name()).collect();
        return Err(format!(
            "unknown peer `{unknown}` (known: {})",
            names.join(", ")
        ));
    }
    Ok(known
        .into_iter()
        .filter(|p| {
            names.is_empty() || p.name() == "seqlane" || names.iter().any(|n| n == p.name())
        })
        .collect())
}

/// What the machine allows, said once at the top of the run and in the summary.
fn notes(plan: &Plan, topologies: &[Topology], cores: &[usize]) -> Vec<String> {
    let mut notes = vec![format!(
        "{} cores. A run is pinned (thread i on core i) and busy-spins only when it has no more threads than cores; \
         otherwise it is not pinned and each peer waits without spinning: seqlane backoff (spin, sleep), \
         disruptor sleep 1 µs, crossbeam and std_mpsc their own spin-then-park, mutex_vecdeque a condvar.",
        cores.len()
    )];
    if !topologies.is_empty() {
        notes.push(format!(
            "Ring runs: a warm-up of {} events, then each repetition moves {} events, or as many as the peer moves in about {} ms at the best rate it showed in the row's earlier runs if that is fewer (at least {}); the samples column gives a row's fewest.",
            plan.warm_up_events(),
            plan.events,
            plan.run_time.as_millis(),
            plan.events_at(0.0),
        ));
    }
    for topology in topologies {
        if cores_for(topology.threads(), cores).is_none() {
            notes.push(format!(
                "{}: {} threads on {} cores: not pinned, no busy-spinning.",
                topology.name(),
                topology.threads(),
                cores.len()
            ));
        }
    }
    if cores.len() < 2 {
        notes.push(
            "fewer than 2 cores: ping-pong and latency runs are not pinned either.".to_owned(),
        );
    }
    if let Some(monitors) = kernel_monitors() {
        notes.push(format!(
            "{monitors} `kdamond` thread(s) (DAMON, the kernel's memory-access monitor) run here: \
             one can take a busy core for about a millisecond, which shows in the p99 of a latency \
             row that lasts a fraction of a second (results/README.md)."
        ));
    }
    notes
}

/// How many `kdamond` threads run on this machine, if any.
fn kernel_monitors() -> Option<usize> {
    let count = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("kdamond"))
        .count();
    (count > 0).then_some(count)
}

/// How the harness was started, as a shell would take it back.
fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            if !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,".contains(c))
            {
                arg
            } else {
                format!("'{}'", arg.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the suite `args` asks for and writes its results.
pub fn run(args: &RunArgs) -> Result<(), String> {
    let plan = Plan::of(args.suite);
    let peers = select_peers(&args.peers)?;
    let scenarios: Vec<Scenario> = Scenario::all()
        .filter(|s| args.scenario.is_empty() || args.scenario.contains(s))
        .collect();
    let topologies: Vec<Topology> = scenarios
        .iter()
        .filter_map(|scenario| match scenario {
            Scenario::Ring(topology) => Some(*topology),
            _ => None,
        })
        .collect();

    let machine = Machine::describe();
    let cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .iter()
        .map(|c| c.id)
        .collect();
    let notes = notes(&plan, &topologies, &cores);
    println!(
        "seqlane-harness: {} suite on {} ({} cores), commit {}",
        args.suite.name(),
        machine.cpu,
        cores.len(),
        machine.commit
    );
    for note in &notes {
        println!("note: {note}");
    }

    let per_figure = plan.repetitions as u64 + 1;
    let total: u64 = scenarios
        .iter()
        .map(|scenario| match scenario {
            Scenario::Ring(_) => plan.batches.len() as u64 * peers.len() as u64 * per_figure,
            Scenario::PingPong => peers.len() as u64,
            Scenario::Latency => (plan.rates.len() * peers.len()) as u64,
            Scenario::Engine => run::endtoend_steps(&plan),
            Scenario::Export => run::export_steps(&plan),
        })
        .sum();
    let progress = ProgressBar::new(total).with_style(
        ProgressStyle::with_template(
            "{bar:40} {pos}/{len} {msg} [{elapsed} gone, about {eta} left]",
        )
        .expect("a valid template"),
    );
    // Redrawn on its own clock, so the elapsed time and estimate move during a long
    // run too, not only when a run ends.
    progress.enable_steady_tick(std::time::Duration::from_millis(250));
    let started = Instant::now();
    let date = std::time::SystemTime::now();
    let context = Context {
        plan: &plan,
        progress: &progress,
        cores: &cores,
    };
    let mut measured = Measured::default();
    for scenario in &scenarios {
        match *scenario {
            Scenario::Ring(topology) => {
                run::run_throughput(&context, &peers, topology, &mut measured)?
            }
            Scenario::PingPong => run::run_ping_pong(&context, &peers, &mut measured)?,
            Scenario::Latency => run::run_latency(&context, &peers, &mut measured)?,
            Scenario::Engine => run::run_endtoend(&context, &mut measured)?,
            Scenario::Export => run::run_export(&context, &mut measured)?,
        }
    }
    progress.finish_and_clear();

    let mut notes = notes;
    notes.append(&mut measured.notes);
    let summary = Summary {
        suite: args.suite.name().to_owned(),
        date: humantime::format_rfc3339_seconds(date).to_string(),
        command: command_line(),
        machine,
        repetitions: plan.repetitions,
        notes,
        results: measured.rows,
    };
    report::write(&summary, &measured.histograms, &args.out, started)
}

#[cfg(test)]
mod tests {
    use super::Plan;
    use crate::cli::Suite;

    #[test]
    fn a_slow_peer_runs_for_the_run_time_and_a_fast_one_runs_every_event() {
        let plan = Plan::of(Suite::Quick);
        assert_eq!(plan.run_time.as_millis(), 250);
        // 1 M events/s for 0.25 s.
        assert_eq!(plan.events_at(1_000_000.0), 250_000);
        assert_eq!(plan.events_at(1e12), plan.events);
        assert_eq!(plan.events_at(0.0), plan.events / 100);
        assert_eq!(plan.events_at(f64::NAN), plan.events / 100);
        assert!(plan.warm_up_events() < plan.events);
    }
}
