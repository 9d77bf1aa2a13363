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

/// A rate in the unit that keeps it short: 12.5 k/s, 340 M/s.
fn per_second(rate: f64) -> String {
    let (value, unit) = match rate {
        r if r >= 1e9 => (r / 1e9, "G/s"),
        r if r >= 1e6 => (r / 1e6, "M/s"),
        r if r >= 1e3 => (r / 1e3, "k/s"),
        r => (r, "/s"),
    };
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} {unit}")
}

/// A point of the percentile axis (`1 / (1 - q)`) as a percentile: 90%, 99.99%.
fn nines(x: f64) -> String {
    let percent = 100.0 * (1.0 - 1.0 / x);
    let text = format!("{percent:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

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
        // Wide enough that every scenario's name fits under its bars.
        let width = (170 * scenarios.len() as u32).max(1000);
        let root = SVGBackend::new(&path, (width, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Throughput, batch {batch}: median, whiskers from the slowest to the fastest repetition (log scale)"
                ),
                ("sans-serif", 20),
            )
            .margin(16)
            .margin_right(24)
            .x_label_area_size(48)
            .y_label_area_size(90)
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
            .y_desc("events or commands per second")
            .y_label_formatter(&|v| per_second(*v * 1e6))
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
            let whiskers = rows.iter().filter(|r| r.peer == *peer).filter_map(|row| {
                let s = scenarios.iter().position(|s| *s == row.scenario)? as f64;
                let middle = s + 0.1 + p as f64 * width + width * 0.45;
                let spread = row.ops_per_sec?;
                Some(ErrorBar::new_vertical(
                    middle,
                    (spread.min / 1e6).max(0.1),
                    (spread.median / 1e6).max(0.1),
                    (spread.max / 1e6).max(0.1),
                    BLACK.stroke_width(1),
                    6,
                ))
            });
            chart.draw_series(whiskers).map_err(err)?;
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
            format!("{scenario}: latency by percentile (log scales)"),
            ("sans-serif", 20),
        )
        .margin(16)
        .margin_right(40)
        .x_label_area_size(48)
        .y_label_area_size(90)
        .build_cartesian_2d((1f64..1_000_000f64).log_scale(), (1f64..top).log_scale())
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .x_label_formatter(&|x| nines(*x))
        .y_desc("latency")
        .y_label_formatter(&|ns| crate::results::format_ns(ns.round() as u64))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_read_in_human_units() {
        assert_eq!(per_second(340e6), "340 M/s");
        assert_eq!(per_second(12_500.0), "12.5 k/s");
        assert_eq!(per_second(1.25e9), "1.25 G/s");
        assert_eq!(nines(10.0), "90%");
        assert_eq!(nines(10_000.0), "99.99%");
        assert_eq!(nines(1.0), "0%");
    }
}
