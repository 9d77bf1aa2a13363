//! The engine under an injected sync failure: nothing whose sync failed is
//! answered `Durable`, not before the failure, not after a restart, until a sync
//! the restarted engine made itself covers it. Fail points are process-wide, so
//! each test holds a `FailScenario` and no other tests share this binary.
#![cfg(not(any(loom, miri)))] // real threads and a memory-mapped journal

mod common;

use common::{accepted, Bank, Op};
use seqlane::{Command, CommandId, EngineBuilder, EngineError, StopCause, Until, WaitError};
use seqlane_journal::{JournalOptions, SyncPolicy};

fn builder(dir: &std::path::Path) -> EngineBuilder<Bank> {
    EngineBuilder::new(dir, Bank::default())
        .topology(common::topology())
        .journal_options(
            JournalOptions::default()
                .segment_size(1 << 20)
                .sync(SyncPolicy::EveryBatch),
        )
        .input_capacity(64)
        .output_capacity(64)
}

#[test]
fn a_command_whose_sync_failed_is_durable_only_after_a_restart_synced_it() {
    common::in_each_topology(|| {
        let scenario = fail::FailScenario::setup();
        let dir = tempfile::tempdir().unwrap();
        let engine = builder(dir.path()).start().unwrap();
        let gateway = engine.gateway();
        accepted(&gateway, Op::Open(1), Until::Durable);
        let id = CommandId(7);

        fail::cfg("segment::msync::error", "return").unwrap();
        let receipt = gateway
            .submit(Command::new(Op::Deposit(1, 40)).with_id(id))
            .unwrap();
        match receipt.wait(Until::Durable) {
            Err(WaitError::Stopped(StopCause::Journal(reason))) => {
                assert!(reason.contains("segment::msync"), "{reason}")
            }
            other => panic!("a failed sync answered {other:?}"),
        }
        assert!(matches!(engine.shutdown(), Err(EngineError::Journal(_))));

        // While syncs still fail, the engine cannot start: it would have to call the
        // deposit durable without having synced it.
        match builder(dir.path()).start() {
            Err(EngineError::Journal(error)) => {
                assert!(error.to_string().contains("segment::msync"), "{error}")
            }
            Err(other) => panic!("{other}"),
            Ok(_) => panic!("started without syncing what it found unsynced"),
        }
        fail::remove("segment::msync::error");

        // The restart syncs the deposit itself before opening the gateway: only then
        // is the resubmission's answer, durable and a duplicate, true.
        let engine = builder(dir.path()).start().unwrap();
        let gateway = engine.gateway();
        let again = accepted(
            &gateway,
            Command::new(Op::Deposit(1, 40)).with_id(id),
            Until::Durable,
        );
        assert!(again.duplicate);
        let records = again.records.expect("the deposit's record");
        assert!(engine.metrics().durable_end > *records.end());
        assert_eq!(engine.shutdown().unwrap().state.balances[&1], 40);
        scenario.teardown();
    });
}
