//! seqlane's engine on the end-to-end scenario.

use std::time::Instant;

use hdrhistogram::Histogram;
use seqlane::{Aggregate, Engine, EngineBuilder, Projection, ReadModel, Receipt, Until};
use seqlane_journal::{JournalOptions, SyncPolicy};

use super::{
    command, Bus, Deposit, Deposited, Durability, Finished, Ledger, Level, NotPositive, Totals,
};
use crate::scenario::NoFigure;

impl Aggregate for Ledger {
    type Command = Deposit;
    type Event = Deposited;
    type Rejection = NotPositive;

    fn decide(&self, command: &Deposit, events: &mut Vec<Deposited>) -> Result<(), NotPositive> {
        events.push(Ledger::decide(self, command)?);
        Ok(())
    }

    fn apply(&mut self, event: &Deposited) {
        Ledger::apply(self, event);
    }
}

/// The read model as a projection: a `Copy` view, so publishing it is cheap.
#[derive(Default)]
struct TotalsProjection(Totals);

impl Projection<Deposited> for TotalsProjection {
    type View = Totals;

    fn apply(&mut self, event: &Deposited, _sequence: u64) {
        self.0.apply(event);
    }

    fn view(&self) -> Totals {
        self.0
    }
}

/// The threads that submit in the throughput rows, declared to the engine.
const PRODUCERS: usize = 2;

/// seqlane's engine with a journal in a temporary directory.
pub struct SeqlaneBus {
    /// Ring sizes (input and output).
    pub capacity: usize,
}

struct Running {
    engine: Engine<Ledger>,
    totals: ReadModel<Totals>,
    _dir: tempfile::TempDir,
}

impl SeqlaneBus {
    fn start(&self, durability: Durability) -> Result<Running, String> {
        let dir =
            tempfile::tempdir().map_err(|e| format!("cannot make a journal directory: {e}"))?;
        let sync = match durability {
            Durability::Recorded => SyncPolicy::Never,
            Durability::Synced => SyncPolicy::EveryBatch,
        };
        let mut builder = EngineBuilder::new(dir.path(), Ledger::default())
            .journal_options(JournalOptions::default().sync(sync))
            .input_capacity(self.capacity)
            .output_capacity(self.capacity)
            // The engine's defaults otherwise: its topology chosen from the cores
            // (one thread on 2), spin then park.
            .producer_threads(PRODUCERS);
        let totals = builder.add_projection("totals", TotalsProjection::default());
        let engine = builder.start().map_err(|e| e.to_string())?;
        Ok(Running {
            engine,
            totals,
            _dir: dir,
        })
    }
}

fn finish(running: Running, elapsed: std::time::Duration) -> Result<Finished, String> {
    let totals = *running.totals.get();
    let stopped = running.engine.shutdown().map_err(|e| e.to_string())?;
    Ok(Finished {
        elapsed,
        totals,
        balance_sum: stopped.state.balances.iter().sum(),
    })
}

impl Bus for SeqlaneBus {
    fn name(&self) -> &'static str {
        "seqlane"
    }

    fn waiting(&self) -> String {
        // The topology the engine chose here, from an engine started to ask it.
        let topology = self.start(Durability::Recorded).map_or_else(
            |e| format!("topology unknown ({e})"),
            |running| format!("{:?}", running.engine.topology()),
        );
        format!("{topology}; spin then park; receipts polled by the sender")
    }

    fn throughput(
        &self,
        producers: usize,
        per_producer: u64,
        durability: Durability,
    ) -> Result<Finished, NoFigure> {
        let running = self.start(durability)?;
        let visible = Until::Visible(running.totals.id());
        let started = Instant::now();
        let lasts: Vec<Receipt<Ledger>> = std::thread::scope(|scope| {
            let threads: Vec<_> = (0..producers)
                .map(|producer| {
                    let gateway = running.engine.gateway();
                    scope.spawn(move || {
                        for i in 0..per_producer - 1 {
                            gateway
                                .send(command(producer, i))
                                .expect("the engine is open");
                        }
                        gateway
                            .submit(command(producer, per_producer - 1))
                            .expect("the engine is open")
                    })
                })
                .collect();
            threads
                .into_iter()
                .map(|t| t.join().expect("a producer panicked"))
                .collect()
        });
        for last in lasts {
            last.wait(visible).map_err(|e| e.to_string())?;
        }
        let elapsed = started.elapsed();
        Ok(finish(running, elapsed)?)
    }

    fn latency(&self, rate: u64, count: u64, level: Level) -> Result<Histogram<u64>, NoFigure> {
        // The journal syncs in the durable rows only, as the lock bus with a
        // journal does: a processed or visible row with a synced journal would
        // charge seqlane alone for the disk.
        let durability = match level {
            Level::Durable => Durability::Synced,
            Level::Processed | Level::Visible => Durability::Recorded,
        };
        let running = self.start(durability)?;
        let until = match level {
            Level::Processed => Until::Processed,
            Level::Durable => Until::Durable,
            Level::Visible => Until::Visible(running.totals.id()),
        };
        let gateway = running.engine.gateway();
        // One thread offers the commands on time (spinning before each, yielding
        // while it is more than 2 µs off: `pacing::spin_until`) and, in
        // the same loop, looks at the oldest receipts without blocking: a command
        // counts as done when this thread first sees it so, so no second thread
        // competes for the cores and no receipt waits for a wake-up.
        let mut histogram = crate::peers::histogram();
        let mut outstanding: std::collections::VecDeque<(u64, Receipt<Ledger>)> =
            Default::default();
        let mut failed = None;
        let mut collect = |outstanding: &mut std::collections::VecDeque<(u64, Receipt<Ledger>)>,
                           epoch: Instant| {
            while let Some((due, receipt)) = outstanding.front_mut() {
                let Some(answer) = receipt.try_wait(until) else {
                    break;
                };
                if let Err(e) = answer {
                    failed.get_or_insert(e.to_string());
                }
                let latency = (epoch.elapsed().as_nanos() as u64).saturating_sub(*due);
                histogram.saturating_record(latency.max(1));
                outstanding.pop_front();
            }
        };
        let epoch = Instant::now();
        let interval = 1_000_000_000f64 / rate as f64;
        for i in 0..count {
            let due = (i as f64 * interval) as u64;
            crate::pacing::spin_until(epoch, due, || collect(&mut outstanding, epoch));
            let receipt = gateway.submit(command(0, i)).expect("the engine is open");
            outstanding.push_back((due, receipt));
        }
        while !outstanding.is_empty() {
            collect(&mut outstanding, epoch);
            std::hint::spin_loop();
        }
        if let Some(e) = failed {
            return Err(e.into());
        }
        drop(gateway);
        finish(running, epoch.elapsed())?;
        Ok(histogram)
    }
}

/// How a closed-loop caller waits for its command to be visible.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A thread blocked in `Receipt::wait`.
    Blocking,
    /// A task on a one-thread tokio runtime awaiting `submit_async` and
    /// `wait_async`.
    Async,
}

impl SeqlaneBus {
    /// One caller, one command at a time: submit, wait until the read model shows
    /// it, again, `count` times; the histogram holds each round trip (ns). The
    /// journal is not synced, so the figure is the engine's hand-offs and the
    /// caller's wake-up, which is what the two callers differ in.
    pub fn closed_loop_visible(
        &self,
        caller: Caller,
        count: u64,
    ) -> Result<Histogram<u64>, NoFigure> {
        let running = self.start(Durability::Recorded)?;
        let visible = Until::Visible(running.totals.id());
        let gateway = running.engine.gateway();
        let mut histogram = crate::peers::histogram();
        match caller {
            Caller::Blocking => {
                for i in 0..count {
                    let started = Instant::now();
                    let waited = gateway.submit(command(0, i)).map(|r| r.wait(visible));
                    histogram.saturating_record(started.elapsed().as_nanos() as u64);
                    waited
                        .map_err(|e| format!("{e:?}"))?
                        .map_err(|e| e.to_string())?;
                }
            }
            Caller::Async => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .map_err(|e| format!("cannot start a tokio runtime: {e}"))?;
                runtime.block_on(async {
                    for i in 0..count {
                        let started = Instant::now();
                        let mut receipt = gateway
                            .submit_async(command(0, i))
                            .await
                            .map_err(|e| format!("{e:?}"))?;
                        let waited = receipt.wait_async(visible).await;
                        histogram.saturating_record(started.elapsed().as_nanos() as u64);
                        waited.map_err(|e| e.to_string())?;
                    }
                    Ok::<_, String>(())
                })?;
            }
        }
        drop(gateway);
        finish(running, std::time::Duration::ZERO)?;
        Ok(histogram)
    }
}

/// The CPU time the process's live threads have used so far: the sum of each
/// thread's time on a CPU as the scheduler counts it (nanoseconds, in
/// `/proc/self/task/*/schedstat`). `None` where there is no such file.
fn threads_cpu_time() -> Option<std::time::Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        // A thread that ended between the listing and the read counts nothing.
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
        }
    }
    Some(std::time::Duration::from_nanos(total))
}

/// What an idle engine costs: an engine with default settings (and one projection)
/// takes a command, then is left alone for `idle`; the process's CPU time over
/// that span, as a percentage of one core. Nothing else in the process runs then
/// (the calling thread sleeps, and its own share is counted too).
pub fn idle_cpu_percent(idle: std::time::Duration) -> Result<f64, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a journal directory: {e}"))?;
    let mut builder = EngineBuilder::new(dir.path(), Ledger::default());
    let totals = builder.add_projection("totals", TotalsProjection::default());
    let engine = builder.start().map_err(|e| e.to_string())?;
    engine
        .gateway()
        .submit(command(0, 0))
        .map_err(|e| format!("{e:?}"))?
        .wait(Until::Visible(totals.id()))
        .map_err(|e| e.to_string())?;
    // Let the stages finish their backoff down to their longest wait first.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let unreadable =
        || "this system does not report threads' CPU time (/proc/self/task/*/schedstat)".to_owned();
    let before = threads_cpu_time().ok_or_else(unreadable)?;
    std::thread::sleep(idle);
    let used = threads_cpu_time()
        .ok_or_else(unreadable)?
        .saturating_sub(before);
    engine.shutdown().map_err(|e| e.to_string())?;
    Ok(100.0 * used.as_secs_f64() / idle.as_secs_f64())
}
