//! The report: the table on the terminal, and the files a run leaves in its
//! output folder (summary.json, summary.md and summary.csv, one .hgrm and one
//! .hlog per latency series, SVG plots, and index.html showing all of it).

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime};

use hdrhistogram::Histogram;

use crate::results::Summary;
use crate::{histograms, html, plots};

/// The files a run writes; [`write`] removes those of an earlier run in the same
/// folder first, so nothing stale sits beside the new ones.
fn is_ours(name: &str) -> bool {
    matches!(
        name,
        "summary.json" | "summary.md" | "summary.csv" | "index.html"
    ) || [".hgrm", ".hlog", ".svg"]
        .iter()
        .any(|suffix| name.ends_with(suffix))
}

/// Removes an earlier run's files from `out` (and nothing else).
fn clean(out: &Path) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(out) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if entry.path().is_file() && is_ours(&name.to_string_lossy()) {
            std::fs::remove_file(entry.path())
                .map_err(|e| format!("cannot remove {}: {e}", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Prints the table and writes the run's files into `out`: the summaries, each
/// latency histogram as `.hgrm` text and as an `.hlog` interval log, the plots,
/// and `index.html` with all of it on one page.
pub fn write(
    summary: &Summary,
    histograms: &[(String, &'static str, Histogram<u64>)],
    out: &Path,
    started: Instant,
) -> Result<(), String> {
    println!("\n{}", summary.table());
    clean(out)?;
    summary
        .write(out)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    let elapsed = started.elapsed();
    let start = SystemTime::now()
        .checked_sub(elapsed)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    for (scenario, peer, histogram) in histograms {
        let path = out.join(format!("{scenario}_{peer}.hgrm"));
        std::fs::write(&path, histograms::hgrm(histogram))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        let log = histograms::hlog(histogram, &format!("{scenario}_{peer}"), start, elapsed)?;
        let path = out.join(format!("{scenario}_{peer}.hlog"));
        std::fs::write(&path, log).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    // Plots are a view of the figures written above: a failure to draw is reported,
    // not fatal.
    let mut plotted = plots::throughput(summary, out).unwrap_or_else(|e| {
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
        match plots::latency(scenario, &series, out) {
            Ok(path) => plotted.push(path),
            Err(e) => eprintln!("seqlane-harness: {scenario} plot: {e}"),
        }
    }
    let plot_paths: Vec<&Path> = plotted.iter().map(PathBuf::as_path).collect();
    let page = html::page(summary, &plot_paths)?;
    let index = out.join("index.html");
    std::fs::write(&index, page).map_err(|e| format!("cannot write {}: {e}", index.display()))?;
    println!(
        "wrote {}/index.html, summary.json, summary.md, summary.csv, {} .hgrm and .hlog files and {} plots in {:.0?}",
        out.display(),
        histograms.len(),
        plotted.len(),
        started.elapsed()
    );
    Ok(())
}
