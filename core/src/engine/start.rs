//! Starting an engine: open and recover the journal, load the newest usable
//! snapshot, replay the rest, then spawn the journaler, the projections and the
//! business logic, and open the gateway.

use std::path::Path;
use std::sync::Arc as StdArc;
use std::time::{Duration, Instant};

use seqlane_journal::{Codec, Journal, TornTail};

use crate::engine::config::EngineConfig;
use crate::engine::domain::Aggregate;
use crate::engine::error::EngineError;
use crate::engine::gateway::Gateway;
use crate::engine::inline::{Inline, Output};
use crate::engine::logic::{self, Logic};
use crate::engine::progress::Line;
use crate::engine::progress::{Progress, Tickets};
use crate::engine::projection::{BoxedRunner, ProjectionStage};
use crate::engine::shared::EngineShared;
use crate::engine::slots::{Entry, Submission};
use crate::engine::syncer::Syncer;
use crate::engine::{health, journaler, record, replay, schema, snapshot, Topology};
use crate::stage::Stage;
use crate::sync::{lock, Arc, AtomicBool, Mutex};
use crate::RingBuilder;
use crate::{Ring, SingleProducer};

/// What happened at start: the journal's recovery and the replay.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Recovery {
    /// Commands replayed (accepted commands found whole in the journal).
    pub commands: u64,
    /// Events replayed through `apply` and every projection.
    pub events: u64,
    /// Records of commands found incomplete (a crash cut their batch) and skipped.
    pub discarded_records: u64,
    /// The torn tail the journal cut off on open, if any.
    pub torn_tail: Option<TornTail>,
    /// The snapshot started from: every journal record below this was in it.
    pub snapshot: Option<u64>,
    /// Newer snapshot files that could not be used (damaged), each with the reason;
    /// an older one (or the whole journal) was used instead.
    pub skipped_snapshots: Vec<String>,
    /// From opening the journal to opening the gateway.
    pub duration: Duration,
}

/// A started engine's parts, for [`Engine`](crate::Engine) to own.
pub(crate) struct Started<A: Aggregate> {
    pub(crate) engine: Arc<EngineShared<A>>,
    pub(crate) gateway: Gateway<A>,
    pub(crate) input: Ring<Submission<A::Command>>,
    /// Under [`Topology::ThreadPerStage`].
    pub(crate) output: Option<Ring<Entry<A::Event>>>,
    /// Resolved: never `Auto`.
    pub(crate) topology: Topology,
    pub(crate) recovery: Recovery,
}

/// Starts an engine as `config` says, encoding events with `codec`: open the
/// journal, apply each projection's restart choice, load the newest usable snapshot,
/// replay the rest, declare the running event schema, then spawn the output ring
/// (journaler, projections) and the input ring (the business logic).
pub(crate) fn start<A: Aggregate, C: Codec<A::Event> + Send + 'static>(
    config: EngineConfig<A>,
    codec: C,
) -> Result<Started<A>, EngineError> {
    let started = Instant::now();
    if config.snapshot_every.is_some() && config.state.snapshot().is_none() {
        return Err(EngineError::Snapshot {
            path: None,
            reason: "snapshot_every needs a state that supports snapshots \
                     (Aggregate::snapshot returned None)"
                .into(),
        });
    }
    let EngineConfig {
        dir,
        state,
        journal: journal_options,
        input_capacity,
        output_capacity,
        wait,
        logic_core,
        share_projection_thread,
        topology,
        producers,
        snapshot_every,
        keep_snapshots,
        retention,
        restarts,
        projections,
        event_schema: (name, version),
        upcasters,
    } = config;
    let mut journal = Journal::open(&dir, journal_options)?;
    let torn_tail = journal.recovery_report().truncated.clone();
    let (names, mut runners): (Vec<_>, Vec<_>) = projections.into_iter().unzip();
    let rebuilt = restart_choices(&dir, &restarts, &names, &mut runners)?;
    let snapshot::Loaded {
        mut model,
        replay_from,
        snapshot,
        skipped,
    } = snapshot::load(&dir, &journal, state, &mut runners, &names, &rebuilt)?;
    let running = schema::EventSchema::of(&codec, &name, version);
    let mut schemas = schema::Schemas::new(running, upcasters);
    let replayed = replay::replay(
        &journal,
        &codec,
        &mut schemas,
        &mut model,
        replay_from,
        &mut runners,
        &names,
    )?;
    if !schemas.running_declared() {
        // Declared once, before the first event of this schema.
        let (tag, payload) = record::declaration(&schemas.running);
        journal.append(tag, &payload)?;
    }
    let record_base = journal.next_sequence();
    let max_payload = journal.options().max_payload_len();
    let engine = Arc::new(EngineShared {
        progress: Progress::new(0, record_base, runners.len()),
        tickets: Tickets::new(input_capacity),
        metrics: Default::default(),
        closed: AtomicBool::new(false),
        failure: Mutex::new(None),
        projection_failures: Mutex::new(vec![None; runners.len()]),
        final_model: Mutex::new(None),
        record_base,
        projections: names.clone(),
        dir,
        snapshots: snapshot::Coordinator::new(),
        snapshot_every,
        keep_snapshots,
        retention,
    });
    for runner in &runners {
        if let Some(failure) = runner.failure() {
            // Failed in replay: stopped from the start (already quarantined).
            lock(&engine.projection_failures)[runner.id().0] = Some(failure.clone());
            engine.progress.finish(Line::Projection(runner.id()));
        }
    }

    let projection_threads = match (runners.len(), share_projection_thread) {
        (0, _) => 0,
        (_, true) => 1,
        (n, false) => n,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let topology = topology.resolve(cores, 2 + projection_threads, producers);
    let journaler = journaler::Journaler::new(journal, Arc::clone(&engine));
    let mut wake_slot = None;
    let (records, output) = if topology == Topology::OneThread {
        let projections =
            (!runners.is_empty()).then(|| ProjectionStage::new(runners, Arc::clone(&engine)));
        let synced = {
            let engine = Arc::clone(&engine);
            Box::new(move |records| {
                // Counted first: a receipt that sees the records durable sees the
                // sync in the metrics too.
                engine.metrics.journal.syncs.add(1);
                engine.progress.raise_durable(records);
            })
        };
        let syncer = Syncer::spawn(synced).map_err(EngineError::Spawn)?;
        wake_slot = Some(syncer.wake_slot());
        let inline = Inline::new(journaler, projections, output_capacity, syncer);
        (Output::Inline(Box::new(inline)), None)
    } else {
        let groups: Vec<Vec<_>> = if share_projection_thread {
            vec![runners]
        } else {
            runners.into_iter().map(|runner| vec![runner]).collect()
        };
        let output = RingBuilder::new(output_capacity, Entry::empty).wait_strategy(wait);
        let (records, output) = spawn_output(output, journaler, groups, &names, &engine)?;
        (Output::Ring(records), Some(output))
    };
    let format = logic::RecordFormat {
        codec,
        schema_id: schemas.running_id,
        max_payload,
    };
    let logic = Logic::new(model, Arc::clone(&engine), records, format, record_base, -1);
    let mut stage = Stage::new(logic).name("seqlane-logic");
    if let Some(core) = logic_core {
        stage = stage.pin_to_core(core);
    }
    let mut input = RingBuilder::new(input_capacity, Submission::void).wait_strategy(wait);
    input.add_stage(stage);
    let (producer, input) = input.build_multi_producer().map_err(EngineError::Spawn)?;
    if let Some(slot) = wake_slot {
        // The sync thread wakes the logic (parked on the input ring) when a sync
        // ends; none can end before the first command.
        slot.set(producer.stage_waker());
    }

    Ok(Started {
        gateway: Gateway {
            producer,
            engine: Arc::clone(&engine),
        },
        engine,
        input,
        output,
        topology,
        recovery: Recovery {
            commands: replayed.commands,
            events: replayed.events,
            discarded_records: replayed.discarded,
            torn_tail,
            snapshot,
            skipped_snapshots: skipped,
            duration: started.elapsed(),
        },
    })
}

/// Applies each projection's [`ProjectionRestart`](health::ProjectionRestart)
/// (the last one given for its name; `Retry` by default): `Skip` loads its
/// quarantine list. Returns, per projection, whether it is rebuilt from the journal.
fn restart_choices<E>(
    dir: &Path,
    restarts: &[(String, health::ProjectionRestart)],
    names: &[StdArc<str>],
    runners: &mut [BoxedRunner<E>],
) -> Result<Vec<bool>, EngineError> {
    let restart = |name: &str| {
        restarts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(health::ProjectionRestart::Retry, |(_, r)| *r)
    };
    for (runner, name) in runners.iter_mut().zip(names) {
        if restart(name) == health::ProjectionRestart::Skip {
            let skipped =
                health::quarantined(dir, name).map_err(|error| EngineError::Snapshot {
                    path: Some(health::quarantine_path(dir)),
                    reason: format!("cannot read the quarantine list: {error}"),
                })?;
            runner.skip(skipped);
        }
    }
    Ok(names
        .iter()
        .map(|name| restart(name) == health::ProjectionRestart::Rebuild)
        .collect())
}

/// The logic's producer into the output ring, and the ring.
type OutputRing<A> = (
    SingleProducer<Entry<<A as Aggregate>::Event>>,
    Ring<Entry<<A as Aggregate>::Event>>,
);

/// The output ring: the journaler first, then each group of projections on its own
/// thread after it. Returns the logic's producer and the ring.
fn spawn_output<A: Aggregate>(
    mut output: RingBuilder<Entry<A::Event>>,
    journaler: journaler::Journaler<A>,
    groups: Vec<Vec<BoxedRunner<A::Event>>>,
    names: &[StdArc<str>],
    engine: &Arc<EngineShared<A>>,
) -> Result<OutputRing<A>, EngineError> {
    let journaler = output.add_stage(Stage::new(journaler).name("seqlane-journal"));
    for group in groups.into_iter().filter(|group| !group.is_empty()) {
        let name = if group.len() == 1 {
            format!("seqlane-projection-{}", names[group[0].id().0])
        } else {
            "seqlane-projections".to_owned()
        };
        output.add_stage(
            Stage::new(ProjectionStage::new(group, Arc::clone(engine)))
                .name(name)
                .after(&[journaler]),
        );
    }
    output.build_single_producer().map_err(EngineError::Spawn)
}
