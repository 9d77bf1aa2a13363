//! The latency histograms a run keeps: HdrHistogram's percentile text (`.hgrm`, for
//! reading) and its interval log with V2-encoded histograms (`.hlog`, for tools:
//! percentiles can be recomputed from it, and histograms from several runs merged).

use std::fmt::Write as _;

#[cfg(test)]
use base64::Engine as _;
use std::time::{Duration, SystemTime};

#[cfg(test)]
use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
#[cfg(test)]
use hdrhistogram::serialization::Deserializer;
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

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

/// `histogram` as an interval log of one interval, tagged `tag` (letters, digits,
/// `_` and `-`), covering `duration` from `start`: what HdrHistogram's own tools
/// (`HistogramLogProcessor`) and the `hdrhistogram` crate read.
pub fn hlog(
    histogram: &Histogram<u64>,
    tag: &str,
    start: SystemTime,
    duration: Duration,
) -> Result<Vec<u8>, String> {
    let tag = Tag::new(tag).ok_or_else(|| format!("`{tag}` cannot tag an interval"))?;
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut log = IntervalLogWriterBuilder::new()
        .add_comment("seqlane-harness latency, values in nanoseconds")
        .with_start_time(start)
        .with_base_time(start)
        .with_max_value_divisor(1.0)
        .begin_log_with(&mut out, &mut serializer)
        .map_err(|e| format!("cannot start the log: {e}"))?;
    log.write_histogram(histogram, Duration::ZERO, duration, Some(tag))
        .map_err(|e| format!("cannot write the histogram: {e}"))?;
    drop(log);
    Ok(out)
}

/// An interval's tag and histogram.
#[cfg(test)]
type Interval = (Option<String>, Histogram<u64>);

/// The histograms of an interval log, in order, with their tags.
#[cfg(test)]
pub fn read_hlog(log: &[u8]) -> Result<Vec<Interval>, String> {
    let mut deserializer = Deserializer::new();
    let mut histograms = Vec::new();
    for entry in IntervalLogIterator::new(log) {
        let entry = entry.map_err(|e| format!("not an interval log: {e:?}"))?;
        if let LogEntry::Interval(interval) = entry {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(interval.encoded_histogram())
                .map_err(|e| format!("not base64: {e}"))?;
            let histogram: Histogram<u64> = deserializer
                .deserialize(&mut bytes.as_slice())
                .map_err(|e| format!("not a V2 histogram: {e:?}"))?;
            histograms.push((interval.tag().map(|t| t.as_str().to_owned()), histogram));
        }
    }
    Ok(histograms)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Histogram<u64> {
        let mut histogram = crate::peers::histogram();
        for value in 1..=10_000u64 {
            histogram.record(value * 100).unwrap();
        }
        histogram
    }

    #[test]
    fn the_percentile_text_lists_the_distribution() {
        let text = hgrm(&sample());
        assert!(text.starts_with("       Value     Percentile"), "{text}");
        assert!(text.contains("Total count    =        10000"), "{text}");
    }

    /// What is written can be read back as the same histogram: every count at
    /// every value, so percentiles recomputed from the log are the run's own.
    #[test]
    fn the_interval_log_round_trips_through_the_hdrhistogram_crate() {
        let original = sample();
        let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let log = hlog(
            &original,
            "ping_pong_seqlane",
            start,
            Duration::from_millis(1500),
        )
        .unwrap();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains("#[StartTime: 1800000000.000"), "{text}");
        assert!(
            text.contains("Tag=ping_pong_seqlane,0.000,1.500,"),
            "{text}"
        );
        let read = read_hlog(&log).unwrap();
        assert_eq!(read.len(), 1);
        let (tag, histogram) = &read[0];
        assert_eq!(tag.as_deref(), Some("ping_pong_seqlane"));
        assert_eq!(histogram, &original);
        assert_eq!(
            histogram.value_at_quantile(0.99),
            original.value_at_quantile(0.99)
        );
        assert!(hlog(&original, "not a tag", start, Duration::ZERO).is_err());
    }
}
