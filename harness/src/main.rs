//! `seqlane-harness`: the benchmark CLI.
//!
//! For now a placeholder for the full suite (peers, scenarios, latency percentiles,
//! reports): it runs a short unicast check (one producer, one stage) on seqlane alone
//! and prints the throughput of each run and their median. Every run checks that the
//! stage saw every event, by count and by sum, so a broken ring cannot look fast.
//!
//! Usage: `seqlane-harness [--events N] [--runs N] [--batch N]`

#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use seqlane::{RingBuilder, Stage, WaitStrategy};

const RING_CAPACITY: usize = 64 * 1024;

struct Options {
    events: u64,
    runs: usize,
    batch: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        events: 20_000_000,
        runs: 5,
        batch: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = |name: &str| -> Result<u64, String> {
            let raw = args.next().ok_or_else(|| format!("{name} needs a value"))?;
            raw.parse()
                .map_err(|_| format!("{name} expects a positive integer, got `{raw}`"))
        };
        match flag.as_str() {
            "--events" => options.events = value("--events")?,
            "--runs" => options.runs = value("--runs")? as usize,
            "--batch" => options.batch = value("--batch")? as usize,
            "-h" | "--help" => {
                println!("usage: seqlane-harness [--events N] [--runs N] [--batch N]");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument `{other}` (try --help)")),
        }
    }
    if options.events == 0 || options.runs == 0 {
        return Err("--events and --runs must be at least 1".into());
    }
    if options.batch == 0 || options.batch > RING_CAPACITY {
        return Err(format!("--batch must be between 1 and {RING_CAPACITY}"));
    }
    Ok(options)
}

/// One unicast run: publishes `events` values and returns the elapsed time once the
/// stage has processed all of them.
fn unicast(events: u64, batch: usize) -> Result<Duration, String> {
    let count = Arc::new(AtomicU64::new(0));
    let sum = Arc::new(AtomicU64::new(0));
    let (stage_count, stage_sum) = (Arc::clone(&count), Arc::clone(&sum));
    let (mut seen, mut total) = (0u64, 0u64);
    let mut builder = RingBuilder::new(RING_CAPACITY, u64::default);
    builder.add_stage(
        Stage::new(move |value: &u64, _: i64, end_of_batch: bool| {
            seen += 1;
            total = total.wrapping_add(*value);
            if end_of_batch {
                stage_count.store(seen, Ordering::Relaxed);
                stage_sum.store(total, Ordering::Relaxed);
            }
        })
        .name("unicast-consumer"),
    );
    let (mut producer, ring) = builder
        .build_single_producer()
        .map_err(|e| format!("cannot start the ring: {e}"))?;

    let started = Instant::now();
    let mut value = 0u64;
    while value < events {
        let n = batch.min((events - value) as usize);
        let mut claim = producer.claim_batch(n).map_err(|e| e.to_string())?;
        for (_, slot) in claim.iter_mut() {
            *slot = value;
            value += 1;
        }
    }
    drop(producer);
    ring.join().map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();

    let expected_sum = (0..events).fold(0u64, u64::wrapping_add);
    let (count, sum) = (count.load(Ordering::Relaxed), sum.load(Ordering::Relaxed));
    if count != events || sum != expected_sum {
        return Err(format!(
            "checksum failed: the stage saw {count} events (sum {sum}), expected {events} (sum {expected_sum})"
        ));
    }
    Ok(elapsed)
}

fn main() -> ExitCode {
    let options = match parse_options() {
        Ok(options) => options,
        Err(message) => {
            eprintln!("seqlane-harness: {message}");
            return ExitCode::from(2);
        }
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("seqlane-harness (placeholder: seqlane only; the peer comparison comes later)");
    println!(
        "unicast 1P -> 1C, ring {RING_CAPACITY}, batch {}, {} events x {} runs, wait strategy {:?}",
        options.batch,
        options.events,
        options.runs,
        WaitStrategy::default()
    );
    println!(
        "{cores} cores available; threads are not pinned{}",
        if cores < 4 {
            " (too few cores to pin a producer and a consumer apart)"
        } else {
            ""
        }
    );

    // Warm-up: page in the ring and settle the CPU clocks.
    if let Err(message) = unicast(options.events / 10 + 1, options.batch) {
        eprintln!("seqlane-harness: warm-up: {message}");
        return ExitCode::FAILURE;
    }
    let mut rates = Vec::with_capacity(options.runs);
    for run in 1..=options.runs {
        match unicast(options.events, options.batch) {
            Ok(elapsed) => {
                let rate = options.events as f64 / elapsed.as_secs_f64();
                println!(
                    "  run {run}: {:>8.2} M events/s  ({elapsed:.2?})",
                    rate / 1e6
                );
                rates.push(rate);
            }
            Err(message) => {
                eprintln!("seqlane-harness: run {run}: {message}");
                return ExitCode::FAILURE;
            }
        }
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "median {:.2} M events/s (min {:.2}, max {:.2}), every event checked",
        rates[rates.len() / 2] / 1e6,
        rates[0] / 1e6,
        rates[rates.len() - 1] / 1e6
    );
    ExitCode::SUCCESS
}
