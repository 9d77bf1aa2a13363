//! `seqlane-harness`: seqlane against the queues and buses people use, measured in
//! one process run with the same scenarios, capacity, event and pinning for all.
//!
//! ```text
//! seqlane-harness                      # the quick suite, into results/latest/
//! seqlane-harness run --suite full --out results/full
//! seqlane-harness run --scenario unicast_1p1c --peers seqlane disruptor
//! seqlane-harness compare results/old/summary.json results/latest/summary.json
//! ```
//!
//! The rooms: [`cli`] (what a user asks), [`suite`] (what runs), [`run`] (measuring,
//! interleaved, into rows), [`report`] (the files); beside them the peers, the
//! end-to-end buses, the scenarios, pacing, results and plots.

#![forbid(unsafe_code)]

mod cli;
mod compare;
mod endtoend;
mod event;
mod histograms;
mod html;
mod pacing;
mod peers;
mod plots;
mod report;
mod results;
mod run;
mod scenario;
mod suite;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, RunArgs};
use results::Summary;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let args = match cli.command {
        Some(Command::Compare {
            old,
            new,
            threshold,
            alpha,
        }) => return compare(&old, &new, compare::Options { threshold, alpha }),
        Some(Command::Run(args)) => args,
        None => RunArgs::default(),
    };
    match suite::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("seqlane-harness: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `compare OLD NEW`: exit 0 without regressions, 1 with, 2 on an unreadable file.
fn compare(old: &std::path::Path, new: &std::path::Path, options: compare::Options) -> ExitCode {
    let (old, new) = match (Summary::read(old), Summary::read(new)) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(message), _) | (_, Err(message)) => {
            eprintln!("seqlane-harness: {message}");
            return ExitCode::from(2);
        }
    };
    let comparison = compare::compare(&old, &new, options);
    print!("{}", comparison.report);
    if comparison.regressed {
        println!(
            "regressions: throughput down more than {:.0} % with the U test's p at most {} (or a latency p99 up more than {:.0} %)",
            options.threshold * 100.0,
            options.alpha,
            options.threshold * 100.0
        );
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
