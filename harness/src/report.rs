//! The report: the table on the terminal, and the files a run leaves in its
//! output folder (summary.json and summary.md, one .hgrm per latency series, SVG
//! plots).

use std::path::Path;
use std::time::Instant;

use hdrhistogram::Histogram;

use crate::plots;
use crate::results::{self, Summary};

/// Prints the table and writes the run's files into `out`.
pub fn write(
    summary: &Summary,
    histograms: &[(String, &'static str, Histogram<u64>)],
    out: &Path,
    started: Instant,
) -> Result<(), String> {
    println!("\n{}", summary.table());
    summary
        .write(out)
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    for (scenario, peer, histogram) in histograms {
        let path = out.join(format!("{scenario}_{peer}.hgrm"));
        std::fs::write(&path, results::hgrm(histogram))
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
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
    println!(
        "wrote {}/summary.json, summary.md, {} .hgrm files and {} plots in {:.0?}",
        out.display(),
        histograms.len(),
        plotted.len(),
        started.elapsed()
    );
    Ok(())
}
