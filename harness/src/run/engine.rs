//! The engine end to end: throughput with events recorded (journaled to the page
//! cache, or kept in memory by the lock bus) and synced, then latency to each
//! receipt stage at fixed offered rates.

use super::{interleaved, latency_row, rate_name, Context, Measured, Subject};
use crate::endtoend::{self, Bus, Durability, Level};
use crate::suite::Plan;

/// Producers in the end-to-end throughput runs.
const ENGINE_PRODUCERS: usize = 2;

fn buses(plan: &Plan) -> [Box<dyn Bus>; 3] {
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

/// The progress steps the end-to-end runs take.
pub fn endtoend_steps(plan: &Plan) -> u64 {
    let buses = buses(plan);
    let timed = buses.iter().filter(|bus| bus.measures_latency()).count() as u64;
    2 * buses.len() as u64 * (plan.repetitions as u64 + 1)
        + (plan.engine_rates.len() * Level::ALL.len()) as u64 * timed
}

fn subject(scenario: String, bus: &dyn Bus) -> Subject {
    Subject {
        scenario,
        peer: bus.name(),
        batch: 1,
        waiting: bus.waiting(),
        pinned: false,
    }
}

/// Every end-to-end row.
pub fn run_endtoend(context: &Context, measured: &mut Measured) -> Result<(), String> {
    let plan = context.plan;
    let buses = buses(plan);
    for (scenario, durability) in [
        ("engine_2p_recorded", Durability::Recorded),
        ("engine_2p_synced", Durability::Synced),
    ] {
        let figures = interleaved(
            buses.len(),
            plan.repetitions,
            scenario,
            context.progress,
            |index, warm_up| {
                let bus = &buses[index];
                let per_producer = if warm_up {
                    (plan.engine_commands / 4).max(1)
                } else {
                    plan.engine_commands
                };
                let run = bus.throughput(ENGINE_PRODUCERS, per_producer, durability)?;
                endtoend::verify(bus.name(), ENGINE_PRODUCERS, per_producer, &run)?;
                let commands = per_producer * ENGINE_PRODUCERS as u64;
                Ok(commands as f64 / run.elapsed.as_secs_f64())
            },
            |index| buses[index].name(),
        )?;
        for (bus, figures) in buses.iter().zip(figures) {
            let subject = subject(scenario.to_owned(), bus.as_ref());
            let commands = plan.engine_commands * ENGINE_PRODUCERS as u64;
            measured.rows.push(subject.throughput(figures, commands));
        }
    }
    for &rate in &plan.engine_rates {
        for level in Level::ALL {
            let scenario = format!("engine_{}_{}", level.name(), rate_name(rate));
            for bus in buses.iter().filter(|bus| bus.measures_latency()) {
                context
                    .progress
                    .set_message(format!("{scenario}: {}", bus.name()));
                let result = bus.latency(rate, plan.engine_latency_commands, level);
                let subject = subject(scenario.clone(), bus.as_ref());
                latency_row(measured, subject, || rate as f64, result)?;
                context.progress.inc(1);
            }
        }
    }
    Ok(())
}
