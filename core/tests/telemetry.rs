//! The engine's figures through the `metrics` facade: wait and sync histograms
//! as they happen, counters and gauges from `Metrics::publish`. One test: the
//! recorder is process-wide.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use common::{Bank, Ledger, Op};
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use metrics_util::MetricKind;
use seqlane::{EngineBuilder, Until};

#[test]
fn waits_syncs_and_counters_reach_the_installed_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder in this binary");

    let dir = tempfile::tempdir().unwrap();
    let mut builder = EngineBuilder::new(dir.path(), Bank::default());
    let ledger = builder.add_projection("ledger", Ledger::default());
    let engine = builder.start().unwrap();
    let gateway = engine.gateway();
    let mut receipt = gateway.submit(Op::Open(1)).unwrap();
    receipt.reach(Until::Processed).unwrap();
    receipt.reach(Until::Durable).unwrap();
    receipt.reach(Until::Durable).unwrap(); // recorded once
    receipt.reach(Until::Visible(ledger.id())).unwrap();
    let _ = gateway
        .submit(Op::Withdraw(1, 5))
        .unwrap()
        .wait(Until::Processed);
    engine.metrics().publish();

    let snapshot = snapshotter.snapshot().into_vec();
    let find = |kind: MetricKind, name: &str, label: Option<(&str, &str)>| {
        snapshot
            .iter()
            .find(|(key, _, _, _)| {
                key.kind() == kind
                    && key.key().name() == name
                    && label.is_none_or(|(k, v)| {
                        key.key().labels().any(|l| l.key() == k && l.value() == v)
                    })
            })
            .map(|(_, _, _, value)| value)
            .unwrap_or_else(|| panic!("no {kind:?} {name} {label:?}"))
    };
    for (until, count) in [("processed", 2), ("durable", 1), ("visible", 1)] {
        match find(
            MetricKind::Histogram,
            "seqlane_wait_seconds",
            Some(("until", until)),
        ) {
            DebugValue::Histogram(values) => {
                assert_eq!(values.len(), count, "{until}");
                assert!(values.iter().all(|v| v.into_inner() > 0.0));
            }
            other => panic!("{other:?}"),
        }
    }
    match find(MetricKind::Histogram, "seqlane_journal_sync_seconds", None) {
        DebugValue::Histogram(values) => assert!(!values.is_empty()),
        other => panic!("{other:?}"),
    }
    let counter = |outcome| match find(
        MetricKind::Counter,
        "seqlane_commands_total",
        Some(("outcome", outcome)),
    ) {
        DebugValue::Counter(value) => *value,
        other => panic!("{other:?}"),
    };
    assert_eq!((counter("accepted"), counter("rejected")), (1, 1));
    assert!(matches!(
        find(
            MetricKind::Gauge,
            "seqlane_projection_lag",
            Some(("projection", "ledger"))
        ),
        DebugValue::Gauge(_)
    ));
    engine.shutdown().unwrap();
}
