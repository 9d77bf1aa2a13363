//! The floor under any single-writer pipeline on this machine: the producers hand
//! their commands through seqlane's multi-producer ring to one thread that decides
//! and applies them and keeps the read model's totals, and nothing else: no
//! journal, no projection thread, no receipts. The engine does all of that and
//! more, so it cannot beat this row; the row shows how much of the machine the
//! handoff alone takes, and so what a target relative to another bus can mean
//! here.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;
use seqlane::{Producer, RingBuilder, Stage, WaitStrategy};

use super::{command, Bus, Deposit, Durability, Finished, Ledger, Level, Totals};
use crate::scenario::NoFigure;

/// Commands through the ring to a thread running `decide` and `apply`.
pub struct HandoffFloor {
    /// Ring size.
    pub capacity: usize,
}

impl Bus for HandoffFloor {
    fn name(&self) -> &'static str {
        "handoff_floor"
    }

    fn waiting(&self) -> String {
        "backoff; no journal, no projection".into()
    }

    fn throughput(
        &self,
        producers: usize,
        per_producer: u64,
        durability: Durability,
    ) -> Result<Finished, NoFigure> {
        if durability == Durability::Synced {
            return Err(NoFigure::cannot_run(
                "a floor without a journal: nothing to sync",
            ));
        }
        let expected = producers as u64 * per_producer;
        // Written once, by the writer, after the last command.
        let result: Arc<Mutex<Option<(Ledger, Totals)>>> = Arc::default();
        let mut builder = RingBuilder::new(self.capacity, || Deposit {
            account: 0,
            amount: 0,
        })
        .wait_strategy(WaitStrategy::BACKOFF);
        let mut ledger = Ledger::default();
        let mut totals = Totals::default();
        let mut seen = 0u64;
        let out = Arc::clone(&result);
        builder.add_stage(
            Stage::new(move |command: &Deposit, _: i64, _: bool| {
                if let Ok(event) = ledger.decide(command) {
                    ledger.apply(&event);
                    totals.apply(&event);
                }
                seen += 1;
                if seen == expected {
                    *out.lock().unwrap() = Some((std::mem::take(&mut ledger), totals));
                }
            })
            .name("seqlane-floor"),
        );
        let (producer, ring) = builder
            .build_multi_producer()
            .map_err(|e| format!("cannot start the ring: {e}"))?;
        let started = Instant::now();
        std::thread::scope(|scope| {
            for index in 0..producers {
                let producer = producer.clone();
                scope.spawn(move || {
                    let mut producer = producer;
                    for i in 0..per_producer {
                        let next = command(index, i);
                        producer
                            .publish(|slot| *slot = next)
                            .expect("the ring is open");
                    }
                });
            }
            drop(producer);
        });
        ring.join().map_err(|e| e.to_string())?;
        let elapsed = started.elapsed();
        let (ledger, totals) = result
            .lock()
            .unwrap()
            .take()
            .ok_or("the writer did not see every command")?;
        Ok(Finished {
            elapsed,
            totals,
            balance_sum: ledger.balances.iter().sum(),
        })
    }

    fn latency(&self, _rate: u64, _count: u64, _level: Level) -> Result<Histogram<u64>, NoFigure> {
        Err(NoFigure::cannot_run("a throughput floor only"))
    }

    fn measures_latency(&self) -> bool {
        false
    }
}
