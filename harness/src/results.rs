//! What a run produces: rows of figures, their statistics, and the summary files
//! under the output directory (`summary.json`, `summary.md`, `summary.csv`).

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
    /// Every repetition's figure (events or commands per second), in the order run:
    /// what `ops_per_sec` summarises and what `compare` tests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repetitions: Vec<f64>,
    /// The samples behind the row: events (or commands) per repetition for a
    /// throughput row, recorded latencies for a latency row.
    #[serde(default)]
    pub samples: u64,
    /// CPU time as a percentage of one core, for a row that measures a cost
    /// rather than a rate (an idle engine).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_percent: Option<f64>,
}

impl Row {
    /// The row with every repetition's figure kept.
    pub fn with_repetitions(self, repetitions: Vec<f64>) -> Self {
        Self {
            repetitions,
            ..self
        }
    }
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
    /// Whether the work tree had changes that commit does not hold.
    #[serde(default)]
    pub dirty: bool,
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
        let git = |args: &[&str]| {
            std::process::Command::new("git")
                .args(args)
                .output()
                .ok()
                .filter(|output| output.status.success())
                .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        };
        let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
        // Changes to tracked files only: results written into the tree are untracked.
        let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
            .is_some_and(|status| !status.is_empty());
        Self {
            cpu,
            cores: core_affinity::get_core_ids().map_or(1, |ids| ids.len()),
            kernel,
            rustc: env!("SEQLANE_RUSTC_VERSION").to_owned(),
            commit,
            dirty,
        }
    }
}

/// Everything a run writes to `summary.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// `quick` or `full`.
    pub suite: String,
    /// When the run started (RFC 3339, UTC).
    #[serde(default)]
    pub date: String,
    /// The command line that made it.
    #[serde(default)]
    pub command: String,
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

    /// The table's column headings, in the order of [`cells`](Self::cells).
    pub const COLUMNS: [&'static str; 11] = [
        "scenario",
        "batch",
        "peer",
        "Mops/s median (min–max)",
        "p50",
        "p99",
        "p99.9",
        "p99.99",
        "max",
        "seqlane ×",
        "waiting",
    ];

    /// `row` as the table's cells, as text: what the terminal, `summary.md` and
    /// `index.html` show.
    pub fn cells(&self, row: &Row) -> [String; 11] {
        let ops = match (&row.ops_per_sec, &row.unsupported) {
            (_, Some(reason)) => format!("cannot run: {reason}"),
            (None, None) if row.cpu_percent.is_some() => {
                format!("{:.2} % of a core", row.cpu_percent.unwrap_or_default())
            }
            (Some(s), None) => format!(
                "{:.2} ({:.2}–{:.2})",
                s.median / 1e6,
                s.min / 1e6,
                s.max / 1e6
            ),
            (None, None) => "-".to_owned(),
        };
        let latency = row.latency_ns.map_or_else(
            || std::array::from_fn(|_| "-".to_owned()),
            |p| [p.p50, p.p99, p.p99_9, p.p99_99, p.max].map(format_ns),
        );
        let ratio = self
            .seqlane_ratio(row)
            .map_or_else(|| "-".to_owned(), |r| format!("{r:.2}"));
        let waiting = format!(
            "{}{}",
            row.wait_strategy,
            if row.pinned { ", pinned" } else { "" }
        );
        let [p50, p99, p99_9, p99_99, max] = latency;
        [
            row.scenario.clone(),
            row.batch.to_string(),
            row.peer.clone(),
            ops,
            p50,
            p99,
            p99_9,
            p99_99,
            max,
            ratio,
            waiting,
        ]
    }

    /// The results as a table (the terminal's and `summary.md`'s).
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "| {} |", Self::COLUMNS.join(" | "));
        let _ = writeln!(out, "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|");
        for row in &self.results {
            let _ = writeln!(out, "| {} |", self.cells(row).join(" | "));
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
            "Machine: {}, {} cores, {}, {}, commit {}{}. Run {} as `{}`.\n",
            m.cpu,
            m.cores,
            m.kernel,
            m.rustc,
            m.commit,
            if m.dirty {
                " with uncommitted changes"
            } else {
                ""
            },
            self.date,
            self.command
        );
        let _ = writeln!(md, "Throughput: median of {} repetitions after a warm-up, the peers' runs interleaved round by round. Latency in the units shown (ns, µs, ms).\n", self.repetitions);
        for note in &self.notes {
            let _ = writeln!(md, "- {note}");
        }
        let _ = writeln!(md, "\n{}", self.table());
        std::fs::write(dir.join("summary.md"), md)?;
        std::fs::write(dir.join("summary.csv"), self.csv())
    }

    /// The results as CSV: one line per row, every repetition in its own column
    /// group (`rep_1`, `rep_2`, ...), throughput in events per second and latency
    /// in nanoseconds.
    pub fn csv(&self) -> String {
        let repetitions = self
            .results
            .iter()
            .map(|r| r.repetitions.len())
            .max()
            .unwrap_or(0);
        let mut out = String::from(
            "scenario,batch,peer,ops_per_sec_median,ops_per_sec_min,ops_per_sec_max,p50_ns,p99_ns,p99_9_ns,p99_99_ns,max_ns,samples,seqlane_ratio,cpu_percent,waiting,pinned,cannot_run",
        );
        for index in 1..=repetitions {
            let _ = write!(out, ",rep_{index}");
        }
        out.push('\n');
        let quote = |text: &str| format!("\"{}\"", text.replace('"', "\"\""));
        for row in &self.results {
            let ops = row.ops_per_sec.map_or_else(
                || ",,".to_owned(),
                |s| format!("{},{},{}", s.median, s.min, s.max),
            );
            let latency = row.latency_ns.map_or_else(
                || ",,,,".to_owned(),
                |p| format!("{},{},{},{},{}", p.p50, p.p99, p.p99_9, p.p99_99, p.max),
            );
            let ratio = self
                .seqlane_ratio(row)
                .map_or_else(String::new, |r| format!("{r:.4}"));
            let _ = write!(
                out,
                "{},{},{},{ops},{latency},{},{ratio},{},{},{},{}",
                quote(&row.scenario),
                row.batch,
                quote(&row.peer),
                row.samples,
                row.cpu_percent
                    .map_or_else(String::new, |c| format!("{c:.3}")),
                quote(&row.wait_strategy),
                row.pinned,
                quote(row.unsupported.as_deref().unwrap_or(""))
            );
            for value in &row.repetitions {
                let _ = write!(out, ",{value}");
            }
            out.push('\n');
        }
        out
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
            repetitions: vec![ops, ops],
            samples: 1000,
            cpu_percent: None,
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
                dirty: false,
            },
            date: "2026-12-02T00:00:00Z".into(),
            command: "seqlane-harness run".into(),
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
        let csv = std::fs::read_to_string(dir.join("summary.csv")).unwrap();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 3, "{csv}");
        assert!(lines[0].ends_with(",rep_1,rep_2"), "{csv}");
        assert!(
            lines[2].starts_with(
                "\"unicast\",1,\"disruptor\",50000000,50000000,50000000,,,,,,1000,2.0000,"
            ),
            "{csv}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Summary::read(&dir.join("summary.json"))
            .unwrap_err()
            .contains("cannot read"));
    }
}
