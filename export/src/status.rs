//! How far an export has got, shared with whoever watches it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// A snapshot of an export's progress.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Status {
    /// Every journal record before this sequence is in the stream, acknowledged.
    pub exported: u64,
    /// The journal's durable line as last read: records below it are to be exported.
    pub line: u64,
    /// Records durable in the journal and not yet acknowledged by the stream.
    pub lag_records: u64,
    /// How long the oldest of them has been durable (as the exporter saw the line
    /// move, so within one poll interval).
    pub lag: Duration,
    /// Times the exporter lost the server, a publish failed, or the stream was not
    /// where the exporter expected, and it read the stream's position again.
    pub resyncs: u64,
    /// Times a NATS call failed and was retried after a pause.
    pub retries: u64,
    /// The last failure that was retried, for a person to read.
    pub last_error: Option<String>,
}

/// The exporter's side of [`Status`], cloned to watchers.
#[derive(Clone, Debug, Default)]
pub(crate) struct Shared(Arc<Mutex<Inner>>);

#[derive(Debug, Default)]
struct Inner {
    status: Status,
    /// When the line passed each sequence: (line, first seen), oldest first.
    seen: VecDeque<(u64, Instant)>,
}

impl Shared {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.0.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The status now, lag measured to this moment.
    pub(crate) fn snapshot(&self) -> Status {
        self.with(|inner| {
            let mut status = inner.status.clone();
            status.lag_records = status.line.saturating_sub(status.exported);
            status.lag = match inner.seen.front() {
                Some((_, since)) if status.lag_records > 0 => since.elapsed(),
                _ => Duration::ZERO,
            };
            status
        })
    }

    pub(crate) fn line(&self, line: u64) {
        self.with(|inner| {
            if line > inner.status.line {
                inner.status.line = line;
                inner.seen.push_back((line, Instant::now()));
            }
        });
    }

    /// Records before `next` are acknowledged.
    pub(crate) fn exported(&self, next: u64) {
        self.with(|inner| {
            inner.status.exported = next;
            // The oldest unexported record became durable when the first line
            // above it was seen: drop the readings it has passed.
            while inner.seen.len() > 1 && inner.seen[0].0 <= next {
                inner.seen.pop_front();
            }
        });
    }

    pub(crate) fn resynced(&self) {
        self.with(|inner| inner.status.resyncs += 1);
    }

    pub(crate) fn retried(&self, error: String) {
        self.with(|inner| {
            inner.status.retries += 1;
            inner.status.last_error = Some(error);
        });
    }
}
