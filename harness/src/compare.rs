//! `compare`: two runs side by side. A throughput row is called slower or faster
//! only when its median moved by more than the threshold *and* a Mann–Whitney U
//! test on the two runs' repetitions says the move is unlikely to be noise; on a
//! shared machine one run's weather can differ from the next by a third.

use std::fmt::Write as _;

use crate::results::{Row, Summary};

/// How sure a verdict must be.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The smallest relative change that counts (0.10: 10 %).
    pub threshold: f64,
    /// The largest two-sided p-value of the U test that counts as a real change.
    pub alpha: f64,
}

impl Default for Options {
    /// 10 % and p ≤ 0.10: with the quick suite's 3 repetitions a side, p is never
    /// below 0.10 (all six orderings of two sets of three), so a stricter alpha
    /// could flag nothing.
    fn default() -> Self {
        Self {
            threshold: 0.10,
            alpha: 0.10,
        }
    }
}

/// What `compare` found.
#[derive(Debug)]
pub struct Comparison {
    /// The report, for the terminal.
    pub report: String,
    /// Whether any row is slower by more than the threshold, tested where it can be.
    pub regressed: bool,
}

/// Compares every row the two summaries share, and lists the rows only one has.
pub fn compare(old: &Summary, new: &Summary, options: Options) -> Comparison {
    let mut out = String::new();
    for warning in warnings(old, new) {
        let _ = writeln!(out, "warning: {warning}");
    }
    let _ = writeln!(
        out,
        "{:<22} {:>5} {:<16} {:>10} {:>8} {:>10}  verdict",
        "scenario", "batch", "peer", "throughput", "p", "p99"
    );
    let mut regressed = false;
    for row in &new.results {
        let Some(before) = old.find(&row.scenario, &row.peer, row.batch) else {
            continue;
        };
        let verdict = judge(before, row, options);
        regressed |= verdict.slower;
        let show = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        let p = verdict
            .p
            .map_or_else(|| "-".to_owned(), |p| format!("{p:.3}"));
        let _ = writeln!(
            out,
            "{:<22} {:>5} {:<16} {:>10} {p:>8} {:>10}  {}",
            row.scenario,
            row.batch,
            row.peer,
            show(verdict.throughput),
            show(verdict.p99),
            verdict.words
        );
    }
    for (side, from, other) in [("old", old, new), ("new", new, old)] {
        for row in &from.results {
            if other.find(&row.scenario, &row.peer, row.batch).is_none() {
                let _ = writeln!(
                    out,
                    "only in the {side} run: {} batch {} {}",
                    row.scenario, row.batch, row.peer
                );
            }
        }
    }
    Comparison {
        report: out,
        regressed,
    }
}

/// What differs between the runs besides the code.
fn warnings(old: &Summary, new: &Summary) -> Vec<String> {
    let mut warnings = Vec::new();
    let (a, b) = (&old.machine, &new.machine);
    if a.cpu != b.cpu || a.cores != b.cores {
        warnings.push(format!(
            "different machines: {} ({} cores) and {} ({} cores); ratios between peers of one run carry over, absolute figures do not",
            a.cpu, a.cores, b.cpu, b.cores
        ));
    }
    if old.suite != new.suite {
        warnings.push(format!(
            "different suites: {} and {} (other event counts and repetitions)",
            old.suite, new.suite
        ));
    }
    for (side, summary) in [("old", old), ("new", new)] {
        if summary.machine.dirty {
            warnings.push(format!(
                "the {side} run was made with uncommitted changes on {}",
                summary.machine.commit
            ));
        }
    }
    warnings
}

struct Verdict {
    throughput: Option<f64>,
    p: Option<f64>,
    p99: Option<f64>,
    slower: bool,
    words: String,
}

fn judge(old: &Row, new: &Row, options: Options) -> Verdict {
    let throughput = match (new.ops_per_sec, old.ops_per_sec) {
        (Some(n), Some(o)) if o.median > 0.0 => Some(n.median / o.median),
        _ => None,
    };
    let is_latency_row = new.latency_ns.is_some();
    let p99 = match (new.latency_ns, old.latency_ns) {
        (Some(n), Some(o)) if o.p99 > 0 => Some(n.p99 as f64 / o.p99 as f64),
        _ => None,
    };
    let tested = old.repetitions.len() >= 2 && new.repetitions.len() >= 2;
    let p = (tested && !is_latency_row).then(|| mann_whitney_p(&old.repetitions, &new.repetitions));
    let beyond = |ratio: f64| (ratio - 1.0).abs() > options.threshold;
    let (slower, words) = if is_latency_row {
        match p99 {
            Some(r) if r > 1.0 + options.threshold => (
                true,
                "REGRESSION (p99; one histogram a side: threshold only)".to_owned(),
            ),
            Some(r) if r < 1.0 - options.threshold => (false, "p99 lower".to_owned()),
            _ => (false, "same".to_owned()),
        }
    } else {
        match (throughput, p) {
            (Some(r), Some(p)) if beyond(r) && p <= options.alpha => {
                if r < 1.0 {
                    (true, "REGRESSION".to_owned())
                } else {
                    (false, "faster".to_owned())
                }
            }
            (Some(r), Some(p)) if beyond(r) => (
                false,
                format!(
                    "same (a {:+.0} % move, p {p:.2} > {})",
                    (r - 1.0) * 100.0,
                    options.alpha
                ),
            ),
            (Some(r), None) if beyond(r) => (
                r < 1.0,
                format!(
                    "{} (no repetitions to test: threshold only)",
                    if r < 1.0 { "REGRESSION" } else { "faster" }
                ),
            ),
            _ => (false, "same".to_owned()),
        }
    };
    Verdict {
        throughput,
        p,
        p99,
        slower,
        words,
    }
}

/// The two-sided p-value of the Mann–Whitney U test that `a` and `b` come from
/// one distribution: exact (every split of the pooled values into groups of
/// their sizes, so ties are handled as they fall) for up to 20 values in all,
/// the normal approximation with a tie correction beyond.
pub fn mann_whitney_p(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return 1.0;
    }
    let pooled: Vec<f64> = a.iter().chain(b).copied().collect();
    // U of the first group against the second, ties counting a half.
    let u_of = |in_first: &dyn Fn(usize) -> bool| {
        let mut u = 0.0;
        for (_, x) in pooled.iter().enumerate().filter(|(i, _)| in_first(*i)) {
            for (_, y) in pooled.iter().enumerate().filter(|(j, _)| !in_first(*j)) {
                u += match x.total_cmp(y) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                };
            }
        }
        u
    };
    let mean = (n * m) as f64 / 2.0;
    let observed = (u_of(&|i| i < n) - mean).abs();
    if n + m <= 20 {
        let (mut as_extreme, mut splits) = (0u64, 0u64);
        for mask in 0u32..(1 << (n + m)) {
            if mask.count_ones() as usize != n {
                continue;
            }
            splits += 1;
            let deviation = (u_of(&|i| mask & (1 << i) != 0) - mean).abs();
            if deviation >= observed - 1e-9 {
                as_extreme += 1;
            }
        }
        return as_extreme as f64 / splits as f64;
    }
    let mut sorted = pooled.clone();
    sorted.sort_by(f64::total_cmp);
    let total = (n + m) as f64;
    let mut ties = 0.0;
    let mut start = 0;
    while start < sorted.len() {
        let end = sorted[start..]
            .iter()
            .take_while(|v| **v == sorted[start])
            .count()
            + start;
        let t = (end - start) as f64;
        ties += t * t * t - t;
        start = end;
    }
    let variance = (n * m) as f64 / 12.0 * ((total + 1.0) - ties / (total * (total - 1.0)));
    if variance <= 0.0 {
        return 1.0;
    }
    let z = (observed - 0.5).max(0.0) / variance.sqrt();
    (2.0 * normal_upper_tail(z)).min(1.0)
}

/// P(Z > z) for a standard normal Z (Abramowitz and Stegun 26.2.17, error below
/// 1e-7).
fn normal_upper_tail(z: f64) -> f64 {
    let t = 1.0 / (1.0 + 0.231_641_9 * z);
    let poly = t
        * (0.319_381_530
            + t * (-0.356_563_782
                + t * (1.781_477_937 + t * (-1.821_255_978 + t * 1.330_274_429))));
    (-z * z / 2.0).exp() / (2.0 * std::f64::consts::PI).sqrt() * poly
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Machine, Percentiles, Spread};

    fn row(scenario: &str, repetitions: &[f64], p99: Option<u64>) -> Row {
        Row {
            scenario: scenario.into(),
            peer: "seqlane".into(),
            batch: 1,
            ops_per_sec: Spread::of(repetitions),
            latency_ns: p99.map(|p99| Percentiles {
                p50: 1,
                p99,
                p99_9: p99,
                p99_99: p99,
                max: p99,
            }),
            wait_strategy: "busy-spin".into(),
            pinned: true,
            unsupported: None,
            repetitions: if p99.is_some() {
                Vec::new()
            } else {
                repetitions.to_vec()
            },
            samples: 1000,
            cpu_percent: None,
        }
    }

    fn summary(cpu: &str, rows: Vec<Row>) -> Summary {
        Summary {
            suite: "quick".into(),
            date: "2026-12-02T00:00:00Z".into(),
            command: "seqlane-harness run".into(),
            machine: Machine {
                cpu: cpu.into(),
                cores: 2,
                kernel: "k".into(),
                rustc: "r".into(),
                commit: "c".into(),
                dirty: false,
            },
            repetitions: 3,
            notes: vec![],
            results: rows,
        }
    }

    #[test]
    fn the_u_test_matches_its_tables() {
        // Two groups of three, fully apart: 2 of the 20 splits are as extreme.
        assert!((mann_whitney_p(&[1.0, 2.0, 3.0], &[4.0, 5.0, 6.0]) - 0.1).abs() < 1e-12);
        assert!((mann_whitney_p(&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0]) - 0.7).abs() < 1e-12);
        assert_eq!(mann_whitney_p(&[1.0, 1.0], &[1.0, 1.0]), 1.0);
        // Seven a side, apart: 2 / C(14, 7).
        let low: Vec<f64> = (0..7).map(f64::from).collect();
        let high: Vec<f64> = (10..17).map(f64::from).collect();
        assert!((mann_whitney_p(&low, &high) - 2.0 / 3432.0).abs() < 1e-12);
        // Large samples take the normal approximation: near 0 apart, near 1 mixed.
        let a: Vec<f64> = (0..30).map(f64::from).collect();
        let b: Vec<f64> = (100..130).map(f64::from).collect();
        assert!(mann_whitney_p(&a, &b) < 1e-6);
        let evens: Vec<f64> = (0..30).map(|i| f64::from(2 * i)).collect();
        let odds: Vec<f64> = (0..30).map(|i| f64::from(2 * i + 1)).collect();
        assert!(mann_whitney_p(&evens, &odds) > 0.8);
    }

    /// Two runs of the same code on a noisy machine differ by more than the
    /// threshold in their medians, yet overlap: that is the same.
    #[test]
    fn two_runs_of_the_same_code_are_the_same() {
        let old = summary("cpu", vec![row("unicast", &[100.0, 72.0, 104.0], None)]);
        let new = summary("cpu", vec![row("unicast", &[71.0, 103.0, 75.0], None)]);
        let comparison = compare(&old, &new, Options::default());
        assert!(!comparison.regressed, "{}", comparison.report);
        assert!(
            comparison.report.contains("same (a -25 % move"),
            "{}",
            comparison.report
        );
    }

    #[test]
    fn a_planted_thirty_percent_regression_is_one() {
        let old = summary("cpu", vec![row("unicast", &[100.0, 96.0, 103.0], None)]);
        let new = summary("cpu", vec![row("unicast", &[70.0, 67.2, 72.1], None)]);
        let comparison = compare(&old, &new, Options::default());
        assert!(comparison.regressed, "{}", comparison.report);
        assert!(comparison.report.contains("0.70x"), "{}", comparison.report);
        assert!(
            comparison.report.contains("REGRESSION"),
            "{}",
            comparison.report
        );
        // And the other way round it is faster, not a regression.
        let comparison = compare(&new, &old, Options::default());
        assert!(!comparison.regressed && comparison.report.contains("faster"));
    }

    #[test]
    fn latency_rows_and_rows_on_one_side_are_reported() {
        let old = summary(
            "cpu",
            vec![
                row("ping", &[1.0], Some(1000)),
                row("gone", &[1.0, 1.0], None),
            ],
        );
        let new = summary(
            "other cpu",
            vec![
                row("ping", &[1.0], Some(1500)),
                row("added", &[1.0, 1.0], None),
            ],
        );
        let comparison = compare(&old, &new, Options::default());
        assert!(comparison.regressed, "{}", comparison.report);
        let report = comparison.report;
        assert!(report.contains("warning: different machines"), "{report}");
        assert!(
            report.contains("only in the old run: gone batch 1 seqlane"),
            "{report}"
        );
        assert!(
            report.contains("only in the new run: added batch 1 seqlane"),
            "{report}"
        );
    }
}
