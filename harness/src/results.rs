//! What a run produces: rows of figures, their statistics, and the files under the
//! output directory (`summary.json`, `summary.md`, one `.hgrm` per latency series).

use std::fmt::Write as _;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// Median, minimum and maximum of repeated measurements.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Spread {
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The smallest.
    pub min: f64,
    /// The largest.
    pub max: f64,
}

impl Spread {
    /// The spread of `values`; `None` if there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len();
        let median = if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
        };
        Some(Self {
            median,
            min: sorted[0],
            max: sorted[n - 1],
        })
    }
}

/// Latency percentiles in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p99_9: u64,
    /// 99.99th percentile.
    pub p99_99: u64,
    /// The largest sample.
    pub max: u64,
}

impl Percentiles {
    /// Reads the percentiles off `histogram`.
    pub fn of(histogram: &Histogram<u64>) -> Self {
        Self {
            p50: histogram.value_at_quantile(0.50),
            p99: histogram.value_at_quantile(0.99),
            p99_9: histogram.value_at_quantile(0.999),
            p99_99: histogram.value_at_quantile(0.9999),
            max: histogram.max(),
        }
    }
}

/// One line of the results: a scenario, batch size and peer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The scenario's name.
    pub scenario: String,
    /// The peer's name.
    pub peer: String,
    /// Events per publish.
    pub batch: usize,
    /// Events (or round trips) per second over the repetitions.
    pub ops_per_sec: Option<Spread>,
    /// Latency, where the scenario measures it.
    pub latency_ns: Option<Percentiles>,
    /// How the peer's threads waited.
    pub wait_strategy: String,
    /// Whether threads were pinned to cores.
    pub pinned: bool,
    /// Why the peer could not run the scenario, if it could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsupported: Option<String>,
}

/// The machine a run was made on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model name.
    pub cpu: String,
    /// Cores the process may use.
    pub cores: usize,
    /// Kernel release.
    pub kernel: String,
    /// `rustc --version` of the build.
    pub rustc: String,
    /// The git commit measured.
    pub commit: String,
}

impl Machine {
    /// Describes this machine.
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|line| {
                line.strip_prefix("model name")
                    .and_then(|rest| rest.split_once(':'))
            })
            .map_or_else(
                || "unknown".to_owned(),
                |(_, model)| model.trim().to_owned(),
            );
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(
            |_| "unknown".to_owned(),
            |release| format!("Linux {}", release.trim()),
        );
        let commit = std::process::Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .output()
            .ok()
            .filter(|output| output.status.success())
            .map_or_else(
                || "unknown".to_owned(),
                |output| String::from_utf8_lossy(&output.stdout).trim().to_owned(),
            );
        Self {
            cpu,
            cores: core_affinity::get_core_ids().map_or(1, |ids| ids.len()),
            kernel,
            rustc: env!("SEQLANE_RUSTC_VERSION").to_owned(),
            commit,
        }
    }
}

/// Everything a run writes to `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `quick` or `full`.
    pub suite: String,
    /// Where it ran.
    pub machine: Machine,
    /// Repetitions per throughput figure.
    pub repetitions: usize,
    /// Notes on pinning and wait strategies.
    pub notes: Vec<String>,
    /// The figures.
    pub results: Vec<Row>,
}

impl Summary {
    /// The row of `peer` for `scenario` at `batch`.
    pub fn find(&self, scenario: &str, peer: &str, batch: usize) -> Option<&Row> {
        self.results
            .iter()
            .find(|r| r.scenario == scenario && r.peer == peer && r.batch == batch)
    }

    /// seqlane's throughput over `row`'s, in the same scenario and batch. None for
    /// the fixed-rate latency rows, whose rate is the one offered to every peer.
    pub fn seqlane_ratio(&self, row: &Row) -> Option<f64> {
        if row.latency_ns.is_some() && row.scenario.starts_with("latency_") {
            return None;
        }
        let ours = self
            .find(&row.scenario, "seqlane", row.batch)?
            .ops_per_sec?
            .median;
        let theirs = row.ops_per_sec?.median;
        (row.peer != "seqlane" && theirs > 0.0).then(|| ours / theirs)
    }

    /// The results as a table (the terminal's and `summary.md`'s).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "| scenario | batch | peer | Mops/s median (min–max) | p50 | p99 | p99.9 | p99.99 | max | seqlane × | waiting |"
        );
        let _ = writeln!(out, "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|");
        for row in &self.results {
            let ops = match (&row.ops_per_sec, &row.unsupported) {
                (_, Some(reason)) => format!("cannot run: {reason}"),
                (Some(s), None) => format!(
                    "{:.2} ({:.2}–{:.2})",
                    s.median / 1e6,
                    s.min / 1e6,
                    s.max / 1e6
                ),
                (None, None) => "-".to_owned(),
            };
            let latency = row.latency_ns.map_or_else(
                || vec!["-".to_owned(); 5],
                |p| {
                    [p.p50, p.p99, p.p99_9, p.p99_99, p.max]
                        .iter()
                        .map(|&ns| format_ns(ns))
                        .collect()
                },
            );
            let ratio = self
                .seqlane_ratio(row)
                .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
            let waiting = format!(
                "{}{}",
                row.wait_strategy,
                if row.pinned { ", pinned" } else { "" }
            );
            let _ = writeln!(
                out,
                "| {} | {} | {} | {ops} | {} | {ratio} | {waiting} |",
                row.scenario,
                row.batch,
                row.peer,
                latency.join(" | ")
            );
        }
        out
    }

    /// Writes `summary.json` and `summary.md` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let json = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("summary.json"), json + "\n")?;
        let mut md = String::new();
        let _ = writeln!(md, "# seqlane-harness: {} suite\n", self.suite);
        let m = &self.machine;
        let _ = writeln!(
            md,
            "Machine: {}, {} cores, {}, {}, commit {}.\n",
            m.cpu, m.cores, m.kernel, m.rustc, m.commit
        );
        let _ = writeln!(md, "Throughput: median of {} repetitions after a warm-up, the peers' runs interleaved round by round. Latency in the units shown (ns, µs, ms).\n", self.repetitions);
        for note in &self.notes {
            let _ = writeln!(md, "- {note}");
        }
        let _ = writeln!(md, "\n{}", self.table());
        std::fs::write(dir.join("summary.md"), md)
    }

    /// Reads a `summary.json`.
    pub fn read(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a harness summary: {e}", path.display()))
    }
}

/// Nanoseconds in the unit that keeps three significant figures readable.
pub fn format_ns(ns: u64) -> String {
    match ns {
        0..1_000 => format!("{ns} ns"),
        1_000..1_000_000 => format!("{:.2} µs", ns as f64 / 1e3),
        _ => format!("{:.2} ms", ns as f64 / 1e6),
    }
}

/// The HdrHistogram percentile distribution text (`.hgrm`), values in ns.
pub fn hgrm(histogram: &Histogram<u64>) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>12} {:>14} {:>10} {:>14}\n",
        "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
    );
    let mut total = 0;
    for step in histogram.iter_quantiles(5) {
        total += step.count_since_last_iteration();
        let quantile = step.quantile_iterated_to();
        let inverse = if quantile < 1.0 {
            format!("{:14.2}", 1.0 / (1.0 - quantile))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:12.3} {:14.12} {:10} {inverse}",
            step.value_iterated_to() as f64,
            quantile,
            total
        );
    }
    let _ = writeln!(
        out,
        "#[Mean    = {:12.3}, StdDeviation   = {:12.3}]\n#[Max     = {:12.3}, Total count    = {:12}]\n#[Buckets = {:12}, SubBuckets     = {:12}]",
        histogram.mean(),
        histogram.stdev(),
        histogram.max() as f64,
        histogram.len(),
        histogram.buckets(),
        histogram.distinct_values()
    );
    out
}

/// Compares two summaries: per scenario, batch and peer, the new median throughput
/// over the old and the new p99 over the old. Returns the report and whether any
/// row regressed (throughput down more than 10 %, or p99 up more than 10 %).
pub fn compare(old: &Summary, new: &Summary) -> (String, bool) {
    let mut out = String::new();
    let mut regressed = false;
    let _ = writeln!(
        out,
        "{:<18} {:>5} {:<16} {:>12} {:>10}  verdict",
        "scenario", "batch", "peer", "throughput", "p99"
    );
    for row in &new.results {
        let Some(before) = old.find(&row.scenario, &row.peer, row.batch) else {
            continue;
        };
        let ops = match (row.ops_per_sec, before.ops_per_sec) {
            (Some(n), Some(o)) if o.median > 0.0 => Some(n.median / o.median),
            _ => None,
        };
        let p99 = match (row.latency_ns, before.latency_ns) {
            (Some(n), Some(o)) if o.p99 > 0 => Some(n.p99 as f64 / o.p99 as f64),
            _ => None,
        };
        let worse = ops.is_some_and(|r| r < 0.9) || p99.is_some_and(|r| r > 1.1);
        regressed |= worse;
        let show = |r: Option<f64>| r.map_or_else(|| "-".to_owned(), |r| format!("{r:.2}x"));
        let _ = writeln!(
            out,
            "{:<18} {:>5} {:<16} {:>12} {:>10}  {}",
            row.scenario,
            row.batch,
            row.peer,
            show(ops),
            show(p99),
            if worse { "REGRESSION" } else { "ok" }
        );
    }
    (out, regressed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scenario: &str, peer: &str, ops: f64, p99: Option<u64>) -> Row {
        Row {
            scenario: scenario.into(),
            peer: peer.into(),
            batch: 1,
            ops_per_sec: Some(Spread {
                median: ops,
                min: ops,
                max: ops,
            }),
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
        }
    }

    fn summary(rows: Vec<Row>) -> Summary {
        Summary {
            suite: "quick".into(),
            machine: Machine {
                cpu: "cpu".into(),
                cores: 2,
                kernel: "k".into(),
                rustc: "r".into(),
                commit: "c".into(),
            },
            repetitions: 3,
            notes: vec![],
            results: rows,
        }
    }

    #[test]
    fn spread_takes_the_median_of_odd_and_even_counts() {
        assert_eq!(Spread::of(&[]), None);
        assert_eq!(
            Spread::of(&[3.0, 1.0, 2.0]),
            Some(Spread {
                median: 2.0,
                min: 1.0,
                max: 3.0
            })
        );
        assert_eq!(Spread::of(&[4.0, 1.0, 2.0, 3.0]).unwrap().median, 2.5);
    }

    #[test]
    fn percentiles_come_off_a_synthetic_histogram() {
        let mut histogram = crate::peers::histogram();
        for value in 1..=10_000u64 {
            histogram.record(value * 100).unwrap();
        }
        let p = Percentiles::of(&histogram);
        let near = |actual: u64, expected: u64| actual.abs_diff(expected) <= expected / 500;
        assert!(near(p.p50, 500_000), "{p:?}");
        assert!(near(p.p99, 990_000), "{p:?}");
        assert!(near(p.p99_9, 999_000), "{p:?}");
        assert!(near(p.p99_99, 999_900), "{p:?}");
        assert!(near(p.max, 1_000_000), "{p:?}");
        let text = hgrm(&histogram);
        assert!(text.starts_with("       Value     Percentile"), "{text}");
        assert!(text.contains("Total count    =        10000"), "{text}");
    }

    #[test]
    fn compare_flags_throughput_and_latency_regressions() {
        let old = summary(vec![
            row("unicast", "seqlane", 100.0, None),
            row("ping", "seqlane", 1.0, Some(1000)),
        ]);
        let same = summary(vec![
            row("unicast", "seqlane", 95.0, None),
            row("ping", "seqlane", 1.0, Some(1050)),
        ]);
        let (report, regressed) = compare(&old, &same);
        assert!(!regressed, "{report}");
        let slower = summary(vec![
            row("unicast", "seqlane", 80.0, None),
            row("ping", "seqlane", 1.0, Some(1000)),
        ]);
        let (report, regressed) = compare(&old, &slower);
        assert!(
            regressed && report.contains("0.80x") && report.contains("REGRESSION"),
            "{report}"
        );
        let laggier = summary(vec![
            row("unicast", "seqlane", 100.0, None),
            row("ping", "seqlane", 1.0, Some(1500)),
        ]);
        assert!(compare(&old, &laggier).1);
    }

    #[test]
    fn summaries_round_trip_through_their_files() {
        let dir = std::env::temp_dir().join(format!("seqlane-harness-test-{}", std::process::id()));
        let original = summary(vec![
            row("unicast", "seqlane", 100e6, None),
            row("unicast", "disruptor", 50e6, None),
        ]);
        original.write(&dir).unwrap();
        let read = Summary::read(&dir.join("summary.json")).unwrap();
        assert_eq!(read, original);
        assert_eq!(read.seqlane_ratio(&read.results[1]), Some(2.0));
        let markdown = std::fs::read_to_string(dir.join("summary.md")).unwrap();
        assert!(
            markdown.contains("| unicast | 1 | disruptor | 50.00 (50.00–50.00) |"),
            "{markdown}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Summary::read(&dir.join("summary.json"))
            .unwrap_err()
            .contains("cannot read"));
    }
}
