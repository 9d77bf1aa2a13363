//! `index.html`: one self-contained page for a run, with its machine, notes, the
//! results table and every plot inlined, so it opens from disk, mailed or
//! archived, with nothing beside it.

use std::fmt::Write as _;
use std::path::Path;

use crate::results::Summary;

/// Escapes text for HTML.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page for `summary`, with the SVG files `plots` (already written) inlined.
pub fn page(summary: &Summary, plots: &[&Path]) -> Result<String, String> {
    let m = &summary.machine;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>seqlane-harness: {suite} suite on {cpu}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 14px; }}
th, td {{ border: 1px solid #ccc; padding: 4px 8px; text-align: right; }}
th {{ background: #f3f3f3; }}
td.text {{ text-align: left; }}
figure {{ margin: 2em 0; }}
figure svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
<h1>seqlane-harness: {suite} suite</h1>
<p id="machine">{cpu}, {cores} cores, {kernel}, {rustc}; commit {commit}{dirty}; run {date} as <code>{command}</code>.</p>
"#,
        suite = escape(&summary.suite),
        cpu = escape(&m.cpu),
        cores = m.cores,
        kernel = escape(&m.kernel),
        rustc = escape(&m.rustc),
        commit = escape(&m.commit),
        dirty = if m.dirty {
            " with uncommitted changes"
        } else {
            ""
        },
        date = escape(&summary.date),
        command = escape(&summary.command),
    );
    out.push_str("<ul id=\"notes\">\n");
    for note in &summary.notes {
        let _ = writeln!(out, "<li>{}</li>", escape(note));
    }
    out.push_str("</ul>\n");
    let _ = writeln!(
        out,
        "<p>Throughput: median of {} repetitions (slowest–fastest), peers interleaved round by round. Files beside this page: summary.json (every repetition), summary.csv, one .hgrm and one .hlog per latency series.</p>",
        summary.repetitions
    );
    out.push_str("<table id=\"results\">\n<tr>");
    for column in Summary::COLUMNS {
        let _ = write!(out, "<th>{}</th>", escape(column));
    }
    out.push_str("</tr>\n");
    // Scenario, peer and waiting are words, the rest figures.
    const TEXT: [usize; 3] = [0, 2, 10];
    for row in &summary.results {
        out.push_str("<tr>");
        for (index, cell) in summary.cells(row).iter().enumerate() {
            let class = if TEXT.contains(&index) {
                " class=\"text\""
            } else {
                ""
            };
            let _ = write!(out, "<td{class}>{}</td>", escape(cell));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    for plot in plots {
        let svg = std::fs::read_to_string(plot)
            .map_err(|e| format!("cannot read {}: {e}", plot.display()))?;
        // The file's own XML declaration has no place inside HTML.
        let svg = svg
            .trim_start()
            .strip_prefix("<?xml")
            .and_then(|rest| rest.split_once("?>"))
            .map_or(svg.as_str(), |(_, body)| body);
        let name = plot
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let _ = writeln!(
            out,
            "<figure class=\"plot\" data-file=\"{}\">{svg}<figcaption>{}</figcaption></figure>",
            escape(&name),
            escape(&name)
        );
    }
    // Marks the page as drawn once every plot has a size on screen: what the
    // browser test reads back.
    out.push_str(
        r##"<script>
window.addEventListener("load", () => {
  const plots = [...document.querySelectorAll("figure.plot svg")];
  const drawn = plots.filter((svg) => { const box = svg.getBoundingClientRect(); return box.width > 100 && box.height > 100; });
  const rows = document.querySelectorAll("#results tr").length - 1;
  document.body.dataset.plots = String(plots.length);
  document.body.dataset.drawn = String(drawn.length);
  document.body.dataset.rows = String(rows);
});
</script>
</body>
</html>
"##,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::results::{Machine, Row, Spread};

    fn summary() -> Summary {
        let row = |peer: &str, rate: f64| Row {
            scenario: "unicast_1p1c".into(),
            peer: peer.into(),
            batch: 1,
            ops_per_sec: Spread::of(&[rate * 0.9, rate, rate * 1.1]),
            latency_ns: None,
            wait_strategy: "busy-spin".into(),
            pinned: true,
            unsupported: None,
            repetitions: vec![rate * 0.9, rate, rate * 1.1],
            samples: 1000,
            cpu_percent: None,
        };
        Summary {
            suite: "quick".into(),
            date: "2026-12-02T00:00:00Z".into(),
            command: "seqlane-harness run --out <here>".into(),
            machine: Machine {
                cpu: "Test CPU".into(),
                cores: 2,
                kernel: "Linux".into(),
                rustc: "rustc".into(),
                commit: "abc".into(),
                dirty: true,
            },
            repetitions: 3,
            notes: vec!["a note with <markup>".into()],
            results: vec![row("seqlane", 600e6), row("disruptor", 500e6)],
        }
    }

    #[test]
    fn the_page_holds_the_table_the_plots_and_escapes_text() {
        let dir = tempfile::tempdir().unwrap();
        let summary = summary();
        let plots = crate::plots::throughput(&summary, dir.path()).unwrap();
        let paths: Vec<&Path> = plots.iter().map(|p| p.as_path()).collect();
        let page = page(&summary, &paths).unwrap();
        assert!(page.contains("a note with &lt;markup&gt;"), "{page}");
        assert!(page.contains("<code>seqlane-harness run --out &lt;here&gt;</code>"));
        assert!(page.contains("with uncommitted changes"));
        assert_eq!(page.matches("<svg").count(), 1, "one plot inlined");
        assert!(!page.contains("<?xml"), "no XML declaration inside HTML");
        assert!(page.contains("<td>1.20</td>"), "seqlane over disruptor");
    }

    /// Opens the page in a real headless browser and reads back what its script
    /// saw once loaded: every plot drawn with a size, every row in the table.
    /// Skips (saying why) where no Chromium is installed, unless run by CI, which
    /// installs it.
    #[test]
    fn the_page_renders_in_a_headless_browser() {
        let Some(browser) = ["chromium", "chromium-browser", "google-chrome"]
            .into_iter()
            .find(|name| {
                Command::new(name)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
        else {
            assert!(
                std::env::var_os("SEQLANE_CI").is_none(),
                "CI installs Chromium, yet none runs here"
            );
            eprintln!("skipped: no Chromium on this machine (apt-get install chromium)");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let summary = summary();
        let mut plots = crate::plots::throughput(&summary, dir.path()).unwrap();
        let mut histogram = crate::peers::histogram();
        for value in 1..=1000u64 {
            histogram.record(value * 37).unwrap();
        }
        plots.push(
            crate::plots::latency("ping_pong", &[("seqlane", &histogram)], dir.path()).unwrap(),
        );
        let paths: Vec<&Path> = plots.iter().map(|p| p.as_path()).collect();
        let index = dir.path().join("index.html");
        std::fs::write(&index, page(&summary, &paths).unwrap()).unwrap();
        let output = Command::new(browser)
            .args([
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--no-first-run",
                "--window-size=1280,2000",
                "--dump-dom",
            ])
            .arg(format!("file://{}", index.display()))
            .output()
            .unwrap();
        let dom = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{browser} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            dom.contains(r#"data-plots="2" data-drawn="2" data-rows="2""#),
            "the page's script did not see two drawn plots and two rows: {}",
            dom.lines()
                .find(|l| l.contains("<body"))
                .unwrap_or("no <body>")
        );
        assert!(dom.contains("Test CPU"));
    }
}
