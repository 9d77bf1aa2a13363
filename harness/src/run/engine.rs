//! The engine end to end: throughput with events recorded (journaled to the page
//! cache, or kept in memory by the lock bus) and synced, then latency to each
//! receipt stage at fixed offered rates.

use super::{interleaved, latency_row, rate_name, Context, Measured, Subject};
use crate::endtoend::{self, Bus, Durability, Level};
use crate::scenario::NoFigure;
use crate::suite::Plan;

/// Producers in the end-to-end throughput runs.
const ENGINE_PRODUCERS: usize = 2;

fn buses(plan: &Plan) -> [Box<dyn Bus>; 5] {
    [
        Box::new(endtoend::SeqlaneBus {
            capacity: plan.capacity,
        }),
        Box::new(endtoend::CqrsEs),
        Box::new(endtoend::LockBus { journal: false }),
        Box::new(endtoend::LockBus { journal: true }),
        Box::new(endtoend::HandoffFloor {
            capacity: plan.capacity,
        }),
    ]
}

/// What a bus's run is shortened by at `durability`.
fn divisor(bus: &dyn Bus, durability: Durability) -> u64 {
    bus.divisor(durability).max(1)
}

/// The progress steps the end-to-end runs take.
pub fn endtoend_steps(plan: &Plan) -> u64 {
    let buses = buses(plan);
    let timed = buses.iter().filter(|bus| bus.measures_latency()).count() as u64;
    2 * buses.len() as u64 * (plan.repetitions as u64 + 1)
        + (plan.engine_rates.len() * Level::ALL.len()) as u64 * timed
        // The two fdatasync floors, the generator at each rate, the two
        // closed-loop callers and the idle row.
        + 5
        + plan.engine_rates.len() as u64
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
                let planned = plan.engine_commands / divisor(bus.as_ref(), durability);
                let per_producer = if warm_up {
                    (planned / 4).max(1)
                } else {
                    planned
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
            let commands =
                plan.engine_commands / divisor(bus.as_ref(), durability) * ENGINE_PRODUCERS as u64;
            measured.rows.push(subject.throughput(figures, commands));
        }
    }
    // The disk's floor, beside the durable rows: syncing 4 KiB, alone, over
    // written blocks and appended into preallocated space (as a journal does).
    for (scenario, placement, waiting) in [
        (
            "fdatasync_4k",
            endtoend::Placement::Overwrite,
            "write 4 KiB over written blocks, fdatasync, one at a time",
        ),
        (
            "fdatasync_4k_append",
            endtoend::Placement::Append,
            "append 4 KiB into fallocated space, fdatasync, one at a time",
        ),
    ] {
        context
            .progress
            .set_message(format!("{scenario}: the disk's floor"));
        let started = std::time::Instant::now();
        let result =
            endtoend::fdatasync_floor(plan.sync_rounds, placement).map_err(NoFigure::Failed);
        let rate = || plan.sync_rounds as f64 / started.elapsed().as_secs_f64();
        let floor = Subject {
            scenario: scenario.to_owned(),
            peer: "floor",
            batch: 1,
            waiting: waiting.to_owned(),
            pinned: false,
        };
        latency_row(measured, floor, rate, result)?;
        context.progress.inc(1);
    }
    for &rate in &plan.engine_rates {
        generator_row(context, measured, rate)?;
        for level in Level::ALL {
            let scenario = format!("engine_{}_{}", level.name(), rate_name(rate));
            for bus in buses.iter().filter(|bus| bus.measures_latency()) {
                context
                    .progress
                    .set_message(format!("{scenario}: {}", bus.name()));
                let durability = if level == Level::Durable {
                    Durability::Synced
                } else {
                    Durability::Recorded
                };
                let count = plan.engine_latency_commands / divisor(bus.as_ref(), durability);
                let result = bus.latency(rate, count.max(1), level);
                let subject = subject(scenario.clone(), bus.as_ref());
                latency_row(measured, subject, || rate as f64, result)?;
                context.progress.inc(1);
            }
        }
    }
    closed_loop_rows(context, measured)?;
    context
        .progress
        .set_message(format!("engine_idle: seqlane, {:?} alone", IDLE));
    let idle = endtoend::idle_cpu_percent(IDLE)?;
    let subject = Subject {
        scenario: "engine_idle".to_owned(),
        peer: "seqlane",
        batch: 1,
        waiting: format!("default settings; CPU time over {} s idle", IDLE.as_secs()),
        pinned: false,
    };
    measured.rows.push(subject.cpu_cost(idle));
    context.progress.inc(1);
    Ok(())
}

/// The fixed-rate sender alone: each command made and timed as the latency rows
/// do, handed to no bus. Its latency is the generator's own lateness (spinning to
/// the due time, reading the clock), which every latency row at `rate` includes.
fn generator_row(context: &Context, measured: &mut Measured, rate: u64) -> Result<(), String> {
    let scenario = format!("generator_{}", rate_name(rate));
    context
        .progress
        .set_message(format!("{scenario}: the sender alone"));
    let count = context.plan.engine_latency_commands;
    let result = endtoend::synchronous_latency(rate, count, |command| {
        std::hint::black_box(command);
        Ok(())
    })
    .map_err(NoFigure::Failed);
    let subject = Subject {
        scenario,
        peer: "floor",
        batch: 1,
        waiting: "spins to each due time (yielding while over 2 µs off), makes the command, reads the clock"
            .to_owned(),
        pinned: false,
    };
    latency_row(measured, subject, || rate as f64, result)?;
    context.progress.inc(1);
    Ok(())
}

/// One caller waiting for each command to be visible before the next, blocked in
/// a wait and as an async task, in the same run: what the async path costs.
fn closed_loop_rows(context: &Context, measured: &mut Measured) -> Result<(), String> {
    let plan = context.plan;
    let bus = endtoend::SeqlaneBus {
        capacity: plan.capacity,
    };
    let count = (plan.engine_latency_commands / 10).max(1);
    for (caller, peer, waiting) in [
        (
            endtoend::Caller::Blocking,
            "seqlane",
            "a thread blocked in Receipt::wait(Visible)",
        ),
        (
            endtoend::Caller::Async,
            "seqlane-async",
            "a task on a one-thread tokio runtime: submit_async, wait_async(Visible)",
        ),
    ] {
        context
            .progress
            .set_message(format!("engine_visible_closed_loop: {peer}"));
        let started = std::time::Instant::now();
        let result = bus.closed_loop_visible(caller, count);
        let rate = || count as f64 / started.elapsed().as_secs_f64();
        let subject = Subject {
            scenario: "engine_visible_closed_loop".to_owned(),
            peer,
            batch: 1,
            waiting: format!("{waiting}; journal not synced; one command at a time"),
            pinned: false,
        };
        latency_row(measured, subject, rate, result)?;
        context.progress.inc(1);
    }
    Ok(())
}

/// How long the idle row leaves the engine alone.
const IDLE: std::time::Duration = std::time::Duration::from_secs(10);
