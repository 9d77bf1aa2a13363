//! How every peer is measured: checksums, timing, the publish loop, recording and
//! round trips, shared so that no peer publishes, records or checks differently
//! from another (pacing is in [`crate::pacing`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_utils::CachePadded;
use hdrhistogram::Histogram;

use crate::event::{Checksum, Event};
use crate::pacing::{paced, Wait};

/// A consumer's checksum, published at each end of batch and read after the run.
///
/// Alone on its cache line(s): the consumer stores it after every batch, and a
/// small allocation of the producer's (its handle, its thread's closure) may land
/// next to it; sharing a line with the producer's hot loop would slow each peer
/// by however the allocator happened to place things.
#[derive(Debug, Default)]
pub struct SharedChecksum(CachePadded<Counts>);

#[derive(Debug, Default)]
struct Counts {
    count: AtomicU64,
    sum: AtomicU64,
}

impl SharedChecksum {
    /// Relaxed: read only after the consumer's thread was joined.
    pub fn store(&self, checksum: Checksum) {
        self.0.count.store(checksum.count, Ordering::Relaxed);
        self.0.sum.store(checksum.sum, Ordering::Relaxed);
    }

    /// The last stored checksum.
    pub fn load(&self) -> Checksum {
        Checksum {
            count: self.0.count.load(Ordering::Relaxed),
            sum: self.0.sum.load(Ordering::Relaxed),
        }
    }
}

/// When a throughput run started and ended, marked by the threads that know: each
/// producer as it starts publishing (the earliest counts), each consumer as it
/// takes its last expected event (the latest counts). Taking the time on the
/// harness's own thread instead would measure its scheduling: with busy-spinning
/// threads on every core, it may not run until the run is over.
#[derive(Debug, Default)]
pub struct Timing {
    start: Mutex<Option<Instant>>,
    end: Mutex<Option<Instant>>,
}

impl Timing {
    /// A producer starts publishing.
    pub fn started(&self) {
        let now = Instant::now();
        let mut start = self.start.lock().unwrap_or_else(|p| p.into_inner());
        *start = Some(start.map_or(now, |earlier| earlier.min(now)));
    }

    /// A consumer has taken its last expected event.
    pub fn finished(&self) {
        let now = Instant::now();
        let mut end = self.end.lock().unwrap_or_else(|p| p.into_inner());
        *end = Some(end.map_or(now, |later| later.max(now)));
    }

    /// From the first producer's start to the last consumer's end (zero if either
    /// is missing, which the checksums then report).
    pub fn elapsed(&self) -> Duration {
        let start = *self.start.lock().unwrap_or_else(|p| p.into_inner());
        let end = *self.end.lock().unwrap_or_else(|p| p.into_inner());
        match (start, end) {
            (Some(start), Some(end)) => end.saturating_duration_since(start),
            _ => Duration::ZERO,
        }
    }
}

/// The handler ring peers give each consumer: checksum every event, publish the
/// checksum at the end of each batch, and mark the end on the `expected`-th event.
pub fn checksum_handler(
    out: Arc<SharedChecksum>,
    expected: u64,
    timing: Arc<Timing>,
) -> impl FnMut(&Event, i64, bool) + Send + 'static {
    let mut checksum = Checksum::default();
    move |event: &Event, _sequence: i64, end_of_batch: bool| {
        checksum.add(event);
        if checksum.count == expected {
            timing.finished();
        }
        if end_of_batch {
            out.store(checksum);
        }
    }
}

/// Calls `publish(first_value, len)` for each batch a producer sends.
///
/// Batches of one get a loop of their own, in which `len` is the constant 1: the
/// peers' publish calls then run without the harness's batch arithmetic around
/// them (about a quarter of the instructions per event of a batch-1 publish).
#[inline]
pub fn for_each_batch(per_producer: u64, batch: usize, mut publish: impl FnMut(u64, usize)) {
    if batch == 1 {
        for value in 0..per_producer {
            publish(value, 1);
        }
        return;
    }
    let mut value = 0;
    while value < per_producer {
        let len = (batch as u64).min(per_producer - value) as usize;
        publish(value, len);
        value += len as u64;
    }
}

/// Latency recording shared by a run's consumer(s): nanoseconds from each event's
/// intended send time to its receipt.
#[derive(Clone)]
pub struct Recorder {
    epoch: Instant,
    histogram: Arc<Mutex<Histogram<u64>>>,
}

impl Recorder {
    /// A recorder measuring from `epoch`.
    pub fn new(epoch: Instant) -> Self {
        Self {
            epoch,
            histogram: Arc::new(Mutex::new(super::histogram())),
        }
    }

    /// Records `event`'s latency now.
    #[inline]
    pub fn record(&self, event: &Event) {
        self.record_at(self.epoch.elapsed().as_nanos() as u64, event);
    }

    /// Records `event` as received `now_ns` after the epoch: its latency counts from
    /// its intended send time, so an event held up behind a stall carries the stall.
    pub fn record_at(&self, now_ns: u64, event: &Event) {
        let latency = now_ns.saturating_sub(event.sent_ns).max(1);
        self.histogram
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .saturating_record(latency);
    }

    /// The histogram, after the run.
    pub fn into_histogram(self) -> Histogram<u64> {
        self.histogram
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// Sends `count` events at `rate` per second from a producer with a core of its
/// own (so it spins between them), each carrying its intended send time.
pub fn paced_events(epoch: Instant, rate: u64, count: u64, mut send: impl FnMut(Event)) {
    paced(epoch, rate, count, Wait::Spin, |value, sent_ns| {
        send(Event { value, sent_ns })
    });
}

/// Runs `rounds` round trips on a new thread pinned to `core` (never on the
/// caller's thread, whose affinity must stay as it is), timing each with
/// `round_trip(i)`.
pub fn time_round_trips(
    rounds: u64,
    core: Option<usize>,
    mut round_trip: impl FnMut(u64) + Send,
) -> Histogram<u64> {
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                super::pin(core);
                let mut histogram = super::histogram();
                for round in 0..rounds {
                    let started = Instant::now();
                    round_trip(round);
                    histogram.saturating_record((started.elapsed().as_nanos() as u64).max(1));
                }
                histogram
            })
            .join()
            .expect("the round-trip thread panicked")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::Percentiles;

    /// Coordinated omission: 1,000 events offered every 1 µs, and the consumer stalls
    /// for 1 ms on the first. Counting from the intended send time, every event
    /// that waited behind the stall shows it; counting from when each was actually
    /// sent (the producer, held up too, sent them all after the stall) hides it in
    /// one sample.
    #[test]
    fn latency_counts_from_the_intended_send_time() {
        let corrected = Recorder::new(Instant::now());
        let naive = Recorder::new(Instant::now());
        const STALL: u64 = 1_000_000;
        for value in 0..1_000u64 {
            let intended = value * 1_000;
            let received = STALL.max(intended) + 100;
            corrected.record_at(
                received,
                &Event {
                    value,
                    sent_ns: intended,
                },
            );
            let actually_sent = if value == 0 { 0 } else { received - 100 };
            naive.record_at(
                received,
                &Event {
                    value,
                    sent_ns: actually_sent,
                },
            );
        }
        let corrected = Percentiles::of(&corrected.into_histogram());
        let naive = Percentiles::of(&naive.into_histogram());
        assert!(
            corrected.p50 > 400_000,
            "half the events waited behind the stall: {corrected:?}"
        );
        assert!(corrected.p99 > 900_000, "{corrected:?}");
        assert!(
            naive.p99 < 1_000,
            "the naive count hides the stall: {naive:?}"
        );
        assert!(naive.max >= STALL, "only its maximum shows it: {naive:?}");
    }

    #[test]
    fn batches_cover_every_value_once() {
        let mut seen = Vec::new();
        for_each_batch(250, 100, |first, len| seen.push((first, len)));
        assert_eq!(seen, [(0, 100), (100, 100), (200, 50)]);
        seen.clear();
        for_each_batch(3, 1, |first, len| seen.push((first, len)));
        assert_eq!(seen, [(0, 1), (1, 1), (2, 1)]);
    }

    #[test]
    fn timing_spans_the_first_start_and_the_last_end() {
        let timing = Timing::default();
        assert_eq!(timing.elapsed(), Duration::ZERO);
        timing.started();
        std::thread::sleep(Duration::from_millis(2));
        timing.started();
        timing.finished();
        assert!(timing.elapsed() >= Duration::from_millis(2));
    }
}
