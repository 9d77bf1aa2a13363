//! SVG plots of a run: throughput bars per batch size, and latency percentile curves
//! per latency scenario.

use std::path::{Path, PathBuf};

use hdrhistogram::Histogram;
use plotters::prelude::*;

use crate::results::Summary;

const COLOURS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

fn colour(index: usize) -> RGBColor {
    COLOURS[index % COLOURS.len()]
}

type PlotResult<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// `throughput_batch_N.svg`: per scenario, one bar per peer, Mops/s on a log axis.
pub fn throughput(summary: &Summary, dir: &Path) -> PlotResult<Vec<PathBuf>> {
    let mut written = Vec::new();
    let mut batches: Vec<usize> = summary
        .results
        .iter()
        .filter(|r| r.latency_ns.is_none())
        .map(|r| r.batch)
        .collect();
    batches.sort_unstable();
    batches.dedup();
    for batch in batches {
        let rows: Vec<_> = summary
            .results
            .iter()
            .filter(|r| r.batch == batch && r.latency_ns.is_none() && r.ops_per_sec.is_some())
            .collect();
        let mut scenarios: Vec<&str> = Vec::new();
        let mut peers: Vec<&str> = Vec::new();
        for row in &rows {
            if !scenarios.contains(&row.scenario.as_str()) {
                scenarios.push(&row.scenario);
            }
            if !peers.contains(&row.peer.as_str()) {
                peers.push(&row.peer);
            }
        }
        if rows.is_empty() {
            continue;
        }
        let top = rows
            .iter()
            .filter_map(|r| r.ops_per_sec)
            .map(|s| s.max / 1e6)
            .fold(1.0, f64::max)
            * 20.0; // a decade of headroom above the bars for the legend
        let path = dir.join(format!("throughput_batch_{batch}.svg"));
        let root = SVGBackend::new(&path, (1000, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("Throughput, batch {batch} (Mops/s, median; log scale)"),
                ("sans-serif", 22),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..scenarios.len() as f64, (0.1f64..top).log_scale())
            .map_err(err)?;
        let names = scenarios.clone();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(scenarios.len() * 2 + 1)
            .x_label_formatter(&|x| {
                let index = x.floor() as usize;
                if (x - index as f64 - 0.5).abs() < 0.01 {
                    names.get(index).map_or_else(String::new, |s| s.to_string())
                } else {
                    String::new()
                }
            })
            .y_desc("Mops/s")
            .draw()
            .map_err(err)?;
        let width = 0.8 / peers.len() as f64;
        for (p, peer) in peers.iter().enumerate() {
            let bars = rows.iter().filter(|r| r.peer == *peer).filter_map(|row| {
                let s = scenarios.iter().position(|s| *s == row.scenario)? as f64;
                let x0 = s + 0.1 + p as f64 * width;
                let value = row.ops_per_sec?.median / 1e6;
                Some(Rectangle::new(
                    [(x0, 0.1), (x0 + width * 0.9, value.max(0.1))],
                    colour(p).filled(),
                ))
            });
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(*peer)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour(p).filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
        drop(chart);
        drop(root);
        written.push(path);
    }
    Ok(written)
}

/// `<scenario>.svg`: latency against percentile ("nines" on a log axis) per peer.
pub fn latency(
    scenario: &str,
    series: &[(&str, &Histogram<u64>)],
    dir: &Path,
) -> PlotResult<PathBuf> {
    let path = dir.join(format!("{scenario}.svg"));
    let root = SVGBackend::new(&path, (1000, 520)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let top = series
        .iter()
        .map(|(_, h)| h.max())
        .max()
        .unwrap_or(1)
        .max(10) as f64
        * 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{scenario}: latency by percentile (ns, log scales)"),
            ("sans-serif", 22),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d((1f64..1_000_000f64).log_scale(), (1f64..top).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .x_label_formatter(&|x| format!("{:.4}%", 100.0 * (1.0 - 1.0 / x)))
        .y_desc("ns")
        .draw()
        .map_err(err)?;
    for (index, (peer, histogram)) in series.iter().enumerate() {
        let points: Vec<(f64, f64)> = histogram
            .iter_quantiles(5)
            .filter(|step| step.quantile_iterated_to() < 1.0)
            .map(|step| {
                (
                    1.0 / (1.0 - step.quantile_iterated_to()),
                    step.value_iterated_to().max(1) as f64,
                )
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, colour(index).stroke_width(2)))
            .map_err(err)?
            .label(*peer)
            .legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 16, y)], colour(index).stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    drop(chart);
    drop(root);
    Ok(path)
}
