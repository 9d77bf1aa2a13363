//! The run: measuring each scenario, peers interleaved round by round, and turning
//! what was measured into results rows (one way, [`Subject`], for every row).

mod engine;
mod export;
mod ring;

use hdrhistogram::Histogram;
use indicatif::ProgressBar;

use crate::results::{Percentiles, Row, Spread};
use crate::scenario::NoFigure;
use crate::suite::Plan;

pub use engine::{endtoend_steps, run_endtoend};
pub use export::{export_steps, run_export};
pub use ring::{run_latency, run_ping_pong, run_throughput};

/// What a run gathers: the rows, and the latency histograms behind some of them.
#[derive(Default)]
pub struct Measured {
    pub rows: Vec<Row>,
    /// Scenario, peer, histogram.
    pub histograms: Vec<(String, &'static str, Histogram<u64>)>,
    /// What the runs found out about the machine, for the summary's notes.
    pub notes: Vec<String>,
}

/// What every scenario's run needs.
pub struct Context<'a> {
    pub plan: &'a Plan,
    pub progress: &'a ProgressBar,
    /// The cores the harness may pin to.
    pub cores: &'a [usize],
}

/// Cores for a run of `threads` threads, or `None` when there are fewer cores.
pub fn cores_for(threads: usize, cores: &[usize]) -> Option<Vec<usize>> {
    (threads <= cores.len()).then(|| cores[..threads].to_vec())
}

/// What a row is about. Every row of every scenario is made from one of these.
pub struct Subject {
    pub scenario: String,
    pub peer: &'static str,
    pub batch: usize,
    /// How the peer's threads waited, in words.
    pub waiting: String,
    pub pinned: bool,
}

impl Subject {
    fn row(self, ops_per_sec: Option<Spread>, latency_ns: Option<Percentiles>) -> Row {
        Row {
            scenario: self.scenario,
            peer: self.peer.to_owned(),
            batch: self.batch,
            ops_per_sec,
            latency_ns,
            wait_strategy: self.waiting,
            pinned: self.pinned,
            unsupported: None,
            repetitions: Vec::new(),
            samples: 0,
            cpu_percent: None,
        }
    }

    /// A row of what something costs in CPU time, as a percentage of one core.
    pub fn cpu_cost(self, percent: f64) -> Row {
        Row {
            cpu_percent: Some(percent),
            ..self.row(None, None)
        }
    }

    /// A throughput row from [`interleaved`]'s figures, each repetition of which
    /// moved `samples` events or commands.
    pub fn throughput(self, figures: Figures, samples: u64) -> Row {
        match figures.cannot_run {
            Some(reason) => self.cannot_run(reason),
            None => Row {
                samples,
                ..self.row(Spread::of(&figures.rates), None)
            }
            .with_repetitions(figures.rates),
        }
    }

    /// A latency row: the rate offered (or achieved) and the percentiles.
    pub fn latency(self, rate: f64, histogram: &Histogram<u64>) -> Row {
        let rate = Spread {
            median: rate,
            min: rate,
            max: rate,
        };
        Row {
            samples: histogram.len(),
            ..self.row(Some(rate), Some(Percentiles::of(histogram)))
        }
    }

    /// A row saying why the peer cannot run the scenario.
    pub fn cannot_run(self, reason: String) -> Row {
        Row {
            unsupported: Some(reason),
            ..self.row(None, None)
        }
    }
}

/// A latency measurement as a row, its histogram kept for the report; a failure
/// stops the suite.
pub fn latency_row(
    measured: &mut Measured,
    subject: Subject,
    rate: impl FnOnce() -> f64,
    result: Result<Histogram<u64>, NoFigure>,
) -> Result<(), String> {
    let peer = subject.peer;
    let row = match result {
        Ok(histogram) => {
            let row = subject.latency(rate(), &histogram);
            measured
                .histograms
                .push((row.scenario.clone(), peer, histogram));
            row
        }
        Err(NoFigure::CannotRun(reason)) => subject.cannot_run(reason),
        Err(NoFigure::Failed(message)) => return Err(message),
    };
    measured.rows.push(row);
    Ok(())
}

/// One peer's throughput figures from [`interleaved`].
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Figures {
    /// Rate of each measured run, in the order run (warm-ups left out).
    pub rates: Vec<f64>,
    /// Why the peer cannot run the scenario, when it cannot.
    pub cannot_run: Option<String>,
}

/// Throughput figures for `peers` peers: a warm-up run of each, then `repetitions`
/// rounds of one run of each, the order rotating every round. Interleaving matters
/// on shared and virtual machines, whose speed can change several-fold between one
/// minute and the next (a neighbour's load, vCPUs moved to other host cores): run
/// back to back, each peer would be measured in its own weather; interleaved, a
/// change hits every peer alike and the ratios hold.
///
/// `run(peer, warm_up)` measures one run and returns its rate; a failure stops the
/// suite (a peer failed its check). A peer that cannot run the scenario is not
/// asked again.
pub fn interleaved(
    peers: usize,
    repetitions: usize,
    label: &str,
    progress: &ProgressBar,
    mut run: impl FnMut(usize, bool) -> Result<f64, NoFigure>,
    name: impl Fn(usize) -> &'static str,
) -> Result<Vec<Figures>, String> {
    let mut figures = vec![Figures::default(); peers];
    for round in 0..=repetitions {
        for turn in 0..peers {
            let index = (turn + round) % peers;
            let Figures { rates, cannot_run } = &mut figures[index];
            if cannot_run.is_some() {
                continue;
            }
            progress.set_message(format!(
                "{label}: {} (round {round}/{repetitions})",
                name(index)
            ));
            match run(index, round == 0) {
                Ok(rate) if round > 0 => rates.push(rate),
                Ok(_) => {}
                Err(NoFigure::CannotRun(reason)) => {
                    *cannot_run = Some(reason);
                    progress.inc((repetitions - round) as u64);
                }
                Err(NoFigure::Failed(message)) => return Err(message),
            }
            progress.inc(1);
        }
    }
    Ok(figures)
}

/// `rate` as a scenario name's suffix: 100k, 1m.
pub fn rate_name(rate: u64) -> String {
    match rate {
        r if r >= 1_000_000 && r % 1_000_000 == 0 => format!("{}m", r / 1_000_000),
        r if r >= 1_000 && r % 1_000 == 0 => format!("{}k", r / 1_000),
        r => r.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::{interleaved, Figures};
    use crate::scenario::NoFigure;
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
                if peer == 2 {
                    Err(NoFigure::cannot_run("no"))
                } else {
                    Ok(calls)
                }
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
                    cannot_run: None
                },
                Figures {
                    rates: vec![4.0, 7.0],
                    cannot_run: None
                },
                Figures {
                    rates: vec![],
                    cannot_run: Some("no".to_owned())
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
                    Err(NoFigure::Failed("peer 1 lost events".to_owned()))
                } else {
                    Ok(1.0)
                }
            },
            |_| "peer",
        );
        assert_eq!(result, Err("peer 1 lost events".to_owned()));
    }
}
