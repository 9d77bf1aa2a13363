//! `seqlane-harness`: seqlane against the queues and buses people use, measured in
//! one process run with the same scenarios, capacity, event and pinning for all.
//!
//! ```text
//! seqlane-harness                      # the quick suite, into results/latest/
//! seqlane-harness run --suite full --out results/full
//! seqlane-harness run --scenario unicast_1p1c --peers seqlane disruptor
//! seqlane-harness compare results/old/summary.json results/latest/summary.json
//! ```

#![forbid(unsafe_code)]

mod endtoend;
mod event;
mod peers;
mod plots;
mod results;
mod scenario;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};

use endtoend::{Bus, Durability, Level};
use peers::{
    BareCacheLine, CrossbeamBounded, Disruptor, MutexQueue, Peer, RunConfig, Seqlane,
    StdSyncChannel,
};
use results::{Machine, Percentiles, Row, Spread, Summary};
use scenario::Topology;

#[derive(Parser)]
#[command(
    name = "seqlane-harness",
    version,
    about = "Benchmark seqlane against other queues and buses"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a suite and write its results.
    Run(RunArgs),
    /// Compare two summary.json files: the ratio per scenario, regressions flagged.
    Compare {
        /// The earlier summary.json.
        old: PathBuf,
        /// The later summary.json.
        new: PathBuf,
    },
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// `quick` (a few minutes) or `full`.
    #[arg(long, value_enum, default_value_t = Suite::Quick)]
    suite: Suite,
    /// Only these scenarios (default: all).
    #[arg(long, num_args = 1.., value_enum)]
    scenario: Vec<ScenarioName>,
    /// Only these peers (default: all); seqlane is always included.
    #[arg(long, num_args = 1..)]
    peers: Vec<String>,
    /// Where to write the results.
    #[arg(long, default_value = "results/latest")]
    out: PathBuf,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Suite {
    Quick,
    Full,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
enum ScenarioName {
    #[value(name = "unicast_1p1c")]
    Unicast,
    #[value(name = "sequencer_3p1c")]
    Sequencer,
    #[value(name = "multicast_1p3c")]
    Multicast,
    #[value(name = "pipeline_1p3c")]
    Pipeline,
    #[value(name = "diamond_1p3c")]
    Diamond,
    #[value(name = "ping_pong")]
    PingPong,
    #[value(name = "latency")]
    Latency,
    /// The engine end to end beside a lock-based CQRS bus.
    #[value(name = "engine")]
    Engine,
}

/// How much a suite measures.
struct Plan {
    events: u64,
    repetitions: usize,
    batches: [usize; 2],
    rounds: u64,
    rates: Vec<u64>,
    latency_events: u64,
    capacity: usize,
    /// End to end: commands per producer (two producers), offered rates, commands
    /// per latency run.
    engine_commands: u64,
    engine_rates: Vec<u64>,
    engine_latency_commands: u64,
}

impl Plan {
    fn of(suite: Suite) -> Self {
        match suite {
            Suite::Quick => Plan {
                events: 2_000_000,
                repetitions: 3,
                batches: [1, 100],
                rounds: 100_000,
                rates: vec![100_000, 1_000_000],
                latency_events: 200_000,
                capacity: 64 * 1024,
                engine_commands: 1_000_000,
                engine_rates: vec![100_000, 1_000_000],
                engine_latency_commands: 200_000,
            },
            Suite::Full => Plan {
                events: 10_000_000,
                repetitions: 7,
                batches: [1, 100],
                rounds: 200_000,
                rates: vec![100_000, 1_000_000, 5_000_000],
                latency_events: 1_000_000,
                capacity: 64 * 1024,
                engine_commands: 5_000_000,
                engine_rates: vec![100_000, 1_000_000],
                engine_latency_commands: 1_000_000,
            },
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Compare { old, new }) => return compare(&old, &new),
        Some(Command::Run(args)) => args,
        None => RunArgs {
            suite: Suite::Quick,
            scenario: Vec::new(),
            peers: Vec::new(),
            out: "results/latest".into(),
        },
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("seqlane-harness: {message}");
            ExitCode::FAILURE
        }
    }
}

fn compare(old: &std::path::Path, new: &std::path::Path) -> ExitCode {
    let (old, new) = match (Summary::read(old), Summary::read(new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(message), _) | (_, Err(message)) => {
            eprintln!("seqlane-harness: {message}");
            return ExitCode::from(2);
        }
    };
    let (report, regressed) = results::compare(&old, &new);
    print!("{report}");
    if regressed {
        println!("regressions: throughput down more than 10 % or p99 up more than 10 %");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn all_peers() -> Vec<Box<dyn Peer>> {
    vec![
        Box::new(Seqlane),
        Box::new(Disruptor),
        Box::new(CrossbeamBounded),
        Box::new(StdSyncChannel),
        Box::new(MutexQueue),
        Box::new(BareCacheLine),
    ]
}

/// Cores for a run of `threads` threads, or `None` when there are fewer cores.
fn cores_for(threads: usize, cores: &[usize]) -> Option<Vec<usize>> {
    (threads <= cores.len()).then(|| cores[..threads].to_vec())
}

fn run(args: &RunArgs) -> Result<(), String> {
    let plan = Plan::of(args.suite);
    let known: Vec<Box<dyn Peer>> = all_peers();
    if let Some(unknown) = args
        .peers
        .iter()
        .find(|n| !known.iter().any(|p| p.name() == n.as_str()))
    {
        let names: Vec<_> = known.iter().map(|p| p.name()).collect();
        return Err(format!(
            "unknown peer `{unknown}` (known: {})",
            names.join(", ")
        ));
    }
    let peers: Vec<Box<dyn Peer>> = known
        .into_iter()
        .filter(|p| {
            args.peers.is_empty()
                || p.name() == "seqlane"
                || args.peers.iter().any(|n| n == p.name())
        })
        .collect();
    let wanted = |name: ScenarioName| args.scenario.is_empty() || args.scenario.contains(&name);
    let topologies: Vec<Topology> = Topology::ALL
        .into_iter()
        .filter(|t| {
            wanted(match t {
                Topology::Unicast => ScenarioName::Unicast,
                Topology::Sequencer => ScenarioName::Sequencer,
                Topology::Multicast => ScenarioName::Multicast,
                Topology::Pipeline => ScenarioName::Pipeline,
                Topology::Diamond => ScenarioName::Diamond,
            })
        })
        .collect();

    let machine = Machine::describe();
    let cores: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .iter()
        .map(|c| c.id)
        .collect();
    let mut notes = vec![format!(
        "{} cores. A run is pinned (thread i on core i) and busy-spins only when it has no more threads than cores; \
         otherwise it is not pinned and each peer waits without spinning: seqlane backoff (spin, yield, sleep), \
         disruptor sleep 1 µs, crossbeam and std_mpsc their own spin-then-park, mutex_vecdeque a condvar.",
        cores.len()
    )];
    for topology in &topologies {
        if cores_for(topology.threads(), &cores).is_none() {
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
    println!(
        "seqlane-harness: {} suite on {} ({} cores), commit {}",
        suite_name(args.suite),
        machine.cpu,
        cores.len(),
        machine.commit
    );
    for note in &notes {
        println!("note: {note}");
    }

    let runs_per_figure = plan.repetitions as u64 + 1;
    let total =
        topologies.len() as u64 * plan.batches.len() as u64 * peers.len() as u64 * runs_per_figure
            + if wanted(ScenarioName::PingPong) {
                peers.len() as u64
            } else {
                0
            }
            + if wanted(ScenarioName::Latency) {
                (plan.rates.len() * peers.len()) as u64
            } else {
                0
            }
            + if wanted(ScenarioName::Engine) {
                endtoend_steps(&plan)
            } else {
                0
            };
    let progress = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg} [{elapsed}]")
            .expect("a valid template"),
    );
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut histograms = Vec::new();

    for &topology in &topologies {
        for batch in plan.batches {
            let config = RunConfig {
                per_producer: plan.events / topology.producers() as u64,
                batch,
                capacity: plan.capacity,
                cores: cores_for(topology.threads(), &cores),
            };
            let label = format!("{} batch {batch}", topology.name());
            let figures = interleaved(
                peers.len(),
                plan.repetitions,
                &label,
                &progress,
                |index, warm_up| {
                    let peer = &peers[index];
                    let mut run_config = config.clone();
                    if warm_up {
                        run_config.per_producer = (config.per_producer / 4).max(1);
                    }
                    match peer.throughput(topology, &run_config) {
                        Ok(run) => {
                            peers::verify(peer.name(), topology, &run_config, &run.checksums)?;
                            let events = run_config.per_producer * topology.producers() as u64;
                            Ok(Attempt::Rate(events as f64 / run.elapsed.as_secs_f64()))
                        }
                        Err(reason) => Ok(Attempt::Unsupported(reason.0.to_owned())),
                    }
                },
                |index| peers[index].name(),
            )?;
            for (peer, Figures { rates, unsupported }) in peers.iter().zip(figures) {
                rows.push(Row {
                    scenario: topology.name().to_owned(),
                    peer: peer.name().to_owned(),
                    batch,
                    ops_per_sec: Spread::of(&rates),
                    latency_ns: None,
                    wait_strategy: peer.wait_strategy(&config),
                    pinned: config.cores.is_some(),
                    unsupported,
                });
            }
        }
    }

    let pair = RunConfig {
        per_producer: plan.latency_events,
        batch: 1,
        capacity: plan.capacity,
        cores: cores_for(2, &cores),
    };
    if wanted(ScenarioName::PingPong) {
        for peer in &peers {
            progress.set_message(format!("ping_pong: {}", peer.name()));
            let started = Instant::now();
            let row = match peer.ping_pong(plan.rounds, &pair) {
                Ok(histogram) => {
                    let rate = plan.rounds as f64 / started.elapsed().as_secs_f64();
                    let row =
                        latency_row("ping_pong", peer.as_ref(), &pair, Some(rate), &histogram);
                    histograms.push(("ping_pong".to_owned(), peer.name(), histogram));
                    row
                }
                Err(reason) => unsupported_row("ping_pong", peer.as_ref(), &pair, reason.0),
            };
            rows.push(row);
            progress.inc(1);
        }
    }
    if wanted(ScenarioName::Latency) {
        for &rate in &plan.rates {
            let scenario = format!("latency_{}", rate_name(rate));
            for peer in &peers {
                progress.set_message(format!("{scenario}: {}", peer.name()));
                let row = match peer.latency(rate, &pair) {
                    Ok(histogram) => {
                        let row = latency_row(
                            &scenario,
                            peer.as_ref(),
                            &pair,
                            Some(rate as f64),
                            &histogram,
                        );
                        histograms.push((scenario.clone(), peer.name(), histogram));
                        row
                    }
                    Err(reason) => unsupported_row(&scenario, peer.as_ref(), &pair, reason.0),
                };
                rows.push(row);
                progress.inc(1);
            }
        }
    }
    if wanted(ScenarioName::Engine) {
        run_endtoend(&plan, &progress, &mut rows, &mut histograms)?;
    }
    progress.finish_and_clear();

    let summary = Summary {
        suite: suite_name(args.suite).to_owned(),
        machine,
        repetitions: plan.repetitions,
        notes,
        results: rows,
    };
    println!("\n{}", summary.table());
    summary
        .write(&args.out)
        .map_err(|e| format!("cannot write {}: {e}", args.out.display()))?;
    for (scenario, peer, histogram) in &histograms {
        let path = args.out.join(format!("{scenario}_{peer}.hgrm"));
        std::fs::write(&path, results::hgrm(histogram))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    // Plots are a view of the figures written above: a failure to draw is reported,
    // not fatal.
    let mut plotted = plots::throughput(&summary, &args.out).unwrap_or_else(|e| {
        eprintln!("seqlane-harness: throughput plot: {e}");
        Vec::new()
    });
    let mut scenarios: Vec<&str> = histograms
        .iter()
        .map(|(scenario, _, _)| scenario.as_str())
        .collect();
    scenarios.dedup();
    for scenario in scenarios {
        let series: Vec<_> = histograms
            .iter()
            .filter(|(s, _, _)| s == scenario)
            .map(|(_, peer, h)| (*peer, h))
            .collect();
        match plots::latency(scenario, &series, &args.out) {
            Ok(path) => plotted.push(path),
            Err(e) => eprintln!("seqlane-harness: {scenario} plot: {e}"),
        }
    }
    println!(
        "wrote {}/summary.json, summary.md, {} .hgrm files and {} plots in {:.0?}",
        args.out.display(),
        histograms.len(),
        plotted.len(),
        started.elapsed()
    );
    Ok(())
}

/// Producers in the end-to-end throughput runs.
const ENGINE_PRODUCERS: usize = 2;

fn endtoend_buses(plan: &Plan) -> [Box<dyn Bus>; 3] {
    [
        Box::new(endtoend::SeqlaneBus {
            capacity: plan.capacity,
        }),
        Box::new(endtoend::LockBus),
        Box::new(endtoend::HandoffFloor {
            capacity: plan.capacity,
        }),
    ]
}

fn endtoend_steps(plan: &Plan) -> u64 {
    let buses = endtoend_buses(plan);
    let timed = buses.iter().filter(|bus| bus.measures_latency()).count() as u64;
    2 * buses.len() as u64 * (plan.repetitions as u64 + 1)
        + (plan.engine_rates.len() * Level::ALL.len()) as u64 * timed
}

/// The engine end to end: throughput with events recorded (journaled to the page
/// cache, or kept in memory by the lock bus) and synced, then latency to each
/// receipt stage at fixed offered rates.
fn run_endtoend(
    plan: &Plan,
    progress: &ProgressBar,
    rows: &mut Vec<Row>,
    histograms: &mut Vec<(String, &'static str, hdrhistogram::Histogram<u64>)>,
) -> Result<(), String> {
    let buses = endtoend_buses(plan);
    for (scenario, durability) in [
        ("engine_2p_recorded", Durability::Recorded),
        ("engine_2p_synced", Durability::Synced),
    ] {
        let figures = interleaved(
            buses.len(),
            plan.repetitions,
            scenario,
            progress,
            |index, warm_up| {
                let bus = &buses[index];
                let per_producer = if warm_up {
                    (plan.engine_commands / 4).max(1)
                } else {
                    plan.engine_commands
                };
                match bus.throughput(ENGINE_PRODUCERS, per_producer, durability) {
                    Ok(run) => {
                        endtoend::verify(bus.name(), ENGINE_PRODUCERS, per_producer, &run)?;
                        let commands = per_producer * ENGINE_PRODUCERS as u64;
                        Ok(Attempt::Rate(commands as f64 / run.elapsed.as_secs_f64()))
                    }
                    Err(reason) => Ok(Attempt::Unsupported(reason)),
                }
            },
            |index| buses[index].name(),
        )?;
        for (bus, Figures { rates, unsupported }) in buses.iter().zip(figures) {
            rows.push(Row {
                scenario: scenario.to_owned(),
                peer: bus.name().to_owned(),
                batch: 1,
                ops_per_sec: Spread::of(&rates),
                latency_ns: None,
                wait_strategy: bus.waiting(),
                pinned: false,
                unsupported,
            });
        }
    }
    for &rate in &plan.engine_rates {
        for level in Level::ALL {
            let scenario = format!("engine_{}_{}", level.name(), rate_name(rate));
            for bus in buses.iter().filter(|bus| bus.measures_latency()) {
                progress.set_message(format!("{scenario}: {}", bus.name()));
                let (ops_per_sec, latency_ns, unsupported) =
                    match bus.latency(rate, plan.engine_latency_commands, level) {
                        Ok(histogram) => {
                            let percentiles = Percentiles::of(&histogram);
                            histograms.push((scenario.clone(), bus.name(), histogram));
                            (Spread::of(&[rate as f64]), Some(percentiles), None)
                        }
                        Err(reason) => (None, None, Some(reason)),
                    };
                rows.push(Row {
                    scenario: scenario.clone(),
                    peer: bus.name().to_owned(),
                    batch: 1,
                    ops_per_sec,
                    latency_ns,
                    wait_strategy: bus.waiting(),
                    pinned: false,
                    unsupported,
                });
                progress.inc(1);
            }
        }
    }
    Ok(())
}

/// One peer's throughput figures from [`interleaved`].
#[derive(Debug, Default, Clone, PartialEq)]
struct Figures {
    /// Rate of each measured run, in the order run (warm-ups left out).
    rates: Vec<f64>,
    /// Why the peer cannot run the scenario, when it cannot.
    unsupported: Option<String>,
}

/// What one throughput run gave.
enum Attempt {
    /// Events (or commands) per second.
    Rate(f64),
    /// The peer cannot run this scenario, and why.
    Unsupported(String),
}

/// Throughput figures for `peers` peers: a warm-up run of each, then `repetitions`
/// rounds of one run of each, the order rotating every round. Interleaving matters
/// on shared and virtual machines, whose speed can change several-fold between one
/// minute and the next (a neighbour's load, vCPUs moved to other host cores): run
/// back to back, each peer would be measured in its own weather; interleaved, a
/// change hits every peer alike and the ratios hold.
///
/// `run(peer, warm_up)` measures one run (an `Err` stops the suite: a peer failed its
/// check). A peer that cannot run the scenario is not asked again.
fn interleaved(
    peers: usize,
    repetitions: usize,
    label: &str,
    progress: &ProgressBar,
    mut run: impl FnMut(usize, bool) -> Result<Attempt, String>,
    name: impl Fn(usize) -> &'static str,
) -> Result<Vec<Figures>, String> {
    let mut figures = vec![Figures::default(); peers];
    for round in 0..=repetitions {
        for turn in 0..peers {
            let index = (turn + round) % peers;
            let Figures { rates, unsupported } = &mut figures[index];
            if unsupported.is_some() {
                continue;
            }
            progress.set_message(format!(
                "{label}: {} (round {round}/{repetitions})",
                name(index)
            ));
            match run(index, round == 0)? {
                Attempt::Rate(rate) if round > 0 => rates.push(rate),
                Attempt::Rate(_) => {}
                Attempt::Unsupported(reason) => {
                    *unsupported = Some(reason);
                    progress.inc((repetitions - round) as u64);
                }
            }
            progress.inc(1);
        }
    }
    Ok(figures)
}

fn latency_row(
    scenario: &str,
    peer: &dyn Peer,
    config: &RunConfig,
    rate: Option<f64>,
    histogram: &hdrhistogram::Histogram<u64>,
) -> Row {
    Row {
        scenario: scenario.to_owned(),
        peer: peer.name().to_owned(),
        batch: 1,
        ops_per_sec: rate.map(|r| Spread {
            median: r,
            min: r,
            max: r,
        }),
        latency_ns: Some(Percentiles::of(histogram)),
        wait_strategy: peer.wait_strategy(config),
        pinned: config.cores.is_some(),
        unsupported: None,
    }
}

fn unsupported_row(scenario: &str, peer: &dyn Peer, config: &RunConfig, reason: &str) -> Row {
    Row {
        scenario: scenario.to_owned(),
        peer: peer.name().to_owned(),
        batch: 1,
        ops_per_sec: None,
        latency_ns: None,
        wait_strategy: peer.wait_strategy(config),
        pinned: config.cores.is_some(),
        unsupported: Some(reason.to_owned()),
    }
}

fn rate_name(rate: u64) -> String {
    match rate {
        r if r >= 1_000_000 && r % 1_000_000 == 0 => format!("{}m", r / 1_000_000),
        r if r >= 1_000 && r % 1_000 == 0 => format!("{}k", r / 1_000),
        r => r.to_string(),
    }
}

fn suite_name(suite: Suite) -> &'static str {
    match suite {
        Suite::Quick => "quick",
        Suite::Full => "full",
    }
}

#[cfg(test)]
mod tests {
    use super::{interleaved, Attempt, Figures};
    use indicatif::ProgressBar;

    #[test]
    fn interleaved_rounds_rotate_and_leave_warm_ups_and_refusals_out() {
        let mut order = Vec::new();
        let mut calls = 0.0;
        let figures = interleaved(
            3,
            2,
            "test",
            &ProgressBar::hidden(),
            |peer, warm_up| {
                order.push((peer, warm_up));
                calls += 1.0;
                Ok(if peer == 2 {
                    Attempt::Unsupported("no".to_owned())
                } else {
                    Attempt::Rate(calls)
                })
            },
            |_| "peer",
        )
        .unwrap();
        // Warm-ups first, then each round starts one peer later; the refusing peer
        // is asked once.
        assert_eq!(
            order,
            [
                (0, true),
                (1, true),
                (2, true),
                (1, false),
                (0, false),
                (0, false),
                (1, false),
            ]
        );
        assert_eq!(
            figures,
            [
                Figures {
                    rates: vec![5.0, 6.0],
                    unsupported: None
                },
                Figures {
                    rates: vec![4.0, 7.0],
                    unsupported: None
                },
                Figures {
                    rates: vec![],
                    unsupported: Some("no".to_owned())
                },
            ]
        );
    }

    #[test]
    fn interleaved_stops_at_a_failed_check() {
        let result = interleaved(
            2,
            3,
            "test",
            &ProgressBar::hidden(),
            |peer, _| {
                if peer == 1 {
                    Err("peer 1 lost events".to_owned())
                } else {
                    Ok(Attempt::Rate(1.0))
                }
            },
            |_| "peer",
        );
        assert_eq!(result, Err("peer 1 lost events".to_owned()));
    }
}
