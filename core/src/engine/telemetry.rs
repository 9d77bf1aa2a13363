//! The engine's figures through the `metrics` facade (the `metrics` feature), for
//! whatever exporter the service installs (Prometheus, StatsD, ...).
//!
//! Histograms are recorded as things happen, off the business logic's path:
//! `seqlane_wait_seconds{until}` by the thread that waited on a receipt (submit
//! to the stage it waited for, as that caller saw it), and
//! `seqlane_journal_sync_seconds` by the journaler after each append-and-sync.
//! Counters and gauges are published from a [`Metrics`] snapshot by
//! [`Metrics::publish`], which a service calls before each scrape: the hot path
//! pays nothing for them.

use std::time::Duration;

use crate::engine::metrics::Metrics;

/// Records a receipt's wait, from submission to the stage named `until`.
pub(crate) fn record_wait(until: &'static str, waited: Duration) {
    metrics::histogram!("seqlane_wait_seconds", "until" => until).record(waited.as_secs_f64());
}

/// Records one append-and-sync of the journal.
pub(crate) fn record_sync(took: Duration) {
    metrics::histogram!("seqlane_journal_sync_seconds").record(took.as_secs_f64());
}

impl Metrics {
    /// Publishes this snapshot's counters and gauges through the `metrics`
    /// facade (`seqlane_commands_total{outcome}`, `seqlane_events_total`,
    /// `seqlane_journal_records_total`, `seqlane_input_occupancy`,
    /// `seqlane_projection_lag{projection}`, ...). Call it before each scrape.
    pub fn publish(&self) {
        let counters = [
            ("seqlane_commands_total", Some("accepted"), self.accepted),
            ("seqlane_commands_total", Some("rejected"), self.rejected),
            ("seqlane_commands_total", Some("duplicate"), self.duplicates),
            ("seqlane_events_total", None, self.events),
            ("seqlane_logic_batches_total", None, self.logic_batches),
            ("seqlane_journal_batches_total", None, self.journal_batches),
            ("seqlane_journal_records_total", None, self.journal_records),
            ("seqlane_journal_bytes_total", None, self.journal_bytes),
            ("seqlane_journal_syncs_total", None, self.journal_syncs),
            ("seqlane_snapshots_total", None, self.snapshots),
        ];
        for (name, outcome, value) in counters {
            match outcome {
                Some(outcome) => metrics::counter!(name, "outcome" => outcome).absolute(value),
                None => metrics::counter!(name).absolute(value),
            }
        }
        let gauges = [
            ("seqlane_input_occupancy", self.input_occupancy as f64),
            ("seqlane_input_capacity", self.input_capacity as f64),
            ("seqlane_durable_end", self.durable_end as f64),
            ("seqlane_held_outcomes", self.held_outcomes as f64),
            ("seqlane_waiting_tasks", self.waiting_tasks as f64),
        ];
        for (name, value) in gauges {
            metrics::gauge!(name).set(value);
        }
        for projection in &self.projections {
            let name = projection.name.clone();
            metrics::gauge!("seqlane_projection_lag", "projection" => name.clone())
                .set(projection.lag as f64);
            metrics::gauge!("seqlane_projection_position", "projection" => name)
                .set(projection.position as f64);
        }
    }
}
