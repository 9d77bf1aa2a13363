//! The ring scenarios: throughput through each topology at each batch size, round
//! trips, and unicast latency at fixed offered rates.

use std::time::Instant;

use super::{cores_for, interleaved, latency_row, rate_name, Context, Measured, Subject};
use crate::peers::{self, Peer, RunConfig};
use crate::scenario::Topology;

/// Throughput of every peer through `topology`, at each of the plan's batch sizes.
pub fn run_throughput(
    context: &Context,
    peers: &[Box<dyn Peer>],
    topology: Topology,
    measured: &mut Measured,
) -> Result<(), String> {
    let plan = context.plan;
    for batch in plan.batches {
        let config = RunConfig {
            per_producer: plan.events / topology.producers() as u64,
            batch,
            capacity: plan.capacity,
            cores: cores_for(topology.threads(), context.cores),
        };
        let label = format!("{} batch {batch}", topology.name());
        let producers = topology.producers() as u64;
        // Each peer's next run is sized from the best rate it showed so far in this
        // row (see `Plan::events_at`): a slow peer's repetitions last about the
        // plan's run time, not minutes, and a fast peer whose warm-up fell into a
        // slow spell gets its full count once it has shown its speed.
        let mut best_rate = vec![0.0f64; peers.len()];
        let mut fewest = vec![u64::MAX; peers.len()];
        let figures = interleaved(
            peers.len(),
            plan.repetitions,
            &label,
            context.progress,
            |index, warm_up| {
                let peer = &peers[index];
                let mut run_config = config.clone();
                let sized = if warm_up {
                    plan.warm_up_events()
                } else {
                    plan.events_at(best_rate[index])
                };
                run_config.per_producer = (sized / producers).max(1);
                let run = peer.throughput(topology, &run_config)?;
                peers::verify(peer.name(), topology, &run_config, &run.checksums)?;
                let events = run_config.per_producer * producers;
                let rate = events as f64 / run.elapsed.as_secs_f64();
                if !warm_up {
                    fewest[index] = fewest[index].min(events);
                }
                best_rate[index] = best_rate[index].max(rate);
                Ok(rate)
            },
            |index| peers[index].name(),
        )?;
        for ((peer, figures), events) in peers.iter().zip(figures).zip(fewest) {
            let subject = subject(topology.name().to_owned(), peer.as_ref(), batch, &config);
            measured.rows.push(subject.throughput(figures, events));
        }
    }
    Ok(())
}

/// The two-thread runs' setup: ping-pong and latency.
fn pair(context: &Context) -> RunConfig {
    RunConfig {
        per_producer: context.plan.latency_events,
        batch: 1,
        capacity: context.plan.capacity,
        cores: cores_for(2, context.cores),
    }
}

/// Round trips between two threads, for every peer.
pub fn run_ping_pong(
    context: &Context,
    peers: &[Box<dyn Peer>],
    measured: &mut Measured,
) -> Result<(), String> {
    let pair = pair(context);
    let rounds = context.plan.rounds;
    for peer in peers {
        context
            .progress
            .set_message(format!("ping_pong: {}", peer.name()));
        let started = Instant::now();
        let result = peer.ping_pong(rounds, &pair);
        let rate = || rounds as f64 / started.elapsed().as_secs_f64();
        let subject = subject("ping_pong".to_owned(), peer.as_ref(), 1, &pair);
        latency_row(measured, subject, rate, result)?;
        context.progress.inc(1);
    }
    // The floor without the clock, beside the per-trip rows: what timing each trip
    // adds is the difference.
    let trip = peers::amortised_round_trip(rounds, (pair.core(0), pair.core(1)));
    let clock = peers::clock_read();
    let subject = Subject {
        scenario: "ping_pong".to_owned(),
        peer: "bare_amortised",
        batch: 1,
        waiting: format!("busy-spin, no spin hint; {rounds} trips between two clock reads"),
        pinned: pair.cores.is_some(),
    };
    let per_second = 1e9 / trip.as_nanos().max(1) as f64;
    measured.rows.push(subject.throughput(
        super::Figures {
            rates: vec![per_second],
            cannot_run: None,
        },
        rounds,
    ));
    measured.notes.push(format!(
        "ping_pong floor: two threads bouncing a cache line with no spin hint take {} per round trip ({rounds} trips between two clock reads, row bare_amortised); the per-trip rows also carry two clock reads of about {} each.",
        crate::results::format_ns(trip.as_nanos() as u64),
        crate::results::format_ns(clock.as_nanos() as u64)
    ));
    Ok(())
}

/// Unicast at each of the plan's offered rates, for every peer.
pub fn run_latency(
    context: &Context,
    peers: &[Box<dyn Peer>],
    measured: &mut Measured,
) -> Result<(), String> {
    let pair = pair(context);
    for &rate in &context.plan.rates {
        let scenario = format!("latency_{}", rate_name(rate));
        for peer in peers {
            context
                .progress
                .set_message(format!("{scenario}: {}", peer.name()));
            let result = peer.latency(rate, &pair);
            let subject = subject(scenario.clone(), peer.as_ref(), 1, &pair);
            latency_row(measured, subject, || rate as f64, result)?;
            context.progress.inc(1);
        }
    }
    Ok(())
}

fn subject(scenario: String, peer: &dyn Peer, batch: usize, config: &RunConfig) -> Subject {
    Subject {
        scenario,
        peer: peer.name(),
        batch,
        waiting: peer.wait_strategy(config),
        pinned: config.cores.is_some(),
    }
}
