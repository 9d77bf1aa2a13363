//! Starting an engine: open and recover the journal, load the newest usable
//! snapshot, replay the rest, then spawn the journaler, the projections and the
//! business logic, and open the gateway.

use std::time::{Duration, Instant};

use seqlane_journal::{Codec, Journal, TornTail};

use crate::engine::config::EngineConfig;
use crate::engine::domain::Aggregate;
use crate::engine::error::EngineError;
use crate::engine::gateway::Gateway;
use crate::engine::logic::{self, Logic};
use crate::engine::progress::Line;
use crate::engine::progress::{Progress, Tickets};
use crate::engine::projection::ProjectionStage;
use crate::engine::shared::EngineShared;
use crate::engine::slots::{Entry, Submission};
use crate::engine::{health, journaler, record, replay, schema, snapshot};
use crate::stage::Stage;
use crate::sync::{lock, Arc, AtomicBool, Mutex};
use crate::Ring;
use crate::RingBuilder;

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
    pub(crate) output: Ring<Entry<A::Event>>,
    pub(crate) recovery: Recovery,
}

/// Starts an engine as `config` says, encoding events with `codec`.
pub(crate) fn start<A: Aggregate, C: Codec<A::Event> + Send + 'static>(
    config: EngineConfig<A>,
    codec: C,
) -> Result<Started<A>, EngineError> {
    let started = Instant::now();
    let journal = Journal::open(&config.dir, config.journal)?;
    let torn_tail = journal.recovery_report().truncated.clone();
    let (names, mut runners): (Vec<_>, Vec<_>) = config.projections.into_iter().unzip();
    if config.snapshot_every.is_some() && config.state.snapshot().is_none() {
        return Err(EngineError::Snapshot {
            path: None,
            reason: "snapshot_every needs a state that supports snapshots \
                     (Aggregate::snapshot returned None)"
                .into(),
        });
    }
    let restart = |name: &str| {
        config
            .restarts
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map_or(health::ProjectionRestart::Retry, |(_, r)| *r)
    };
    let rebuilt: Vec<bool> = names
        .iter()
        .map(|name| restart(name) == health::ProjectionRestart::Rebuild)
        .collect();
    for (runner, name) in runners.iter_mut().zip(&names) {
        if restart(name) == health::ProjectionRestart::Skip {
            let skipped =
                health::quarantined(&config.dir, name).map_err(|error| EngineError::Snapshot {
                    path: Some(health::quarantine_path(&config.dir)),
                    reason: format!("cannot read the quarantine list: {error}"),
                })?;
            runner.skip(skipped);
        }
    }
    let snapshot::Loaded {
        mut model,
        replay_from,
        snapshot,
        skipped,
    } = snapshot::load(
        &config.dir,
        &journal,
        config.state,
        &mut runners,
        &names,
        &rebuilt,
    )?;
    let (name, version) = &config.event_schema;
    let mut schemas = schema::Schemas::new(
        schema::EventSchema::of(&codec, name, *version),
        config.upcasters,
    );
    let replayed = replay::replay(
        &journal,
        &codec,
        &mut schemas,
        &mut model,
        replay_from,
        &mut runners,
        &names,
    )?;
    let mut journal = journal;
    if !schemas.running_declared() {
        // Declared once, before the first event of this schema.
        let (tag, payload) = record::declaration(&schemas.running);
        journal.append(tag, &payload)?;
    }
    let record_base = journal.next_sequence();
    let max_payload = journal.options().max_payload_len();
    let engine = Arc::new(EngineShared {
        progress: Progress::new(0, record_base, runners.len()),
        tickets: Tickets::new(config.input_capacity),
        metrics: Default::default(),
        closed: AtomicBool::new(false),
        failure: Mutex::new(None),
        projection_failures: Mutex::new(vec![None; runners.len()]),
        final_model: Mutex::new(None),
        record_base,
        projections: names.clone(),
        dir: config.dir.clone(),
        snapshots: snapshot::Coordinator::new(),
        snapshot_every: config.snapshot_every,
        keep_snapshots: config.keep_snapshots,
        retention: config.retention.clone(),
    });

    for runner in &runners {
        if let Some(failure) = runner.failure() {
            // Failed in replay: stopped from the start (already quarantined).
            lock(&engine.projection_failures)[runner.id().0] = Some(failure.clone());
            engine.progress.finish(Line::Projection(runner.id()));
        }
    }
    let mut output =
        RingBuilder::new(config.output_capacity, Entry::empty).wait_strategy(config.wait);
    let journaler = output.add_stage(
        Stage::new(journaler::Journaler::new(journal, Arc::clone(&engine))).name("seqlane-journal"),
    );
    let groups: Vec<Vec<_>> = if config.share_projection_thread {
        vec![runners]
    } else {
        runners.into_iter().map(|runner| vec![runner]).collect()
    };
    for group in groups.into_iter().filter(|group| !group.is_empty()) {
        let name = if group.len() == 1 {
            format!("seqlane-projection-{}", names[group[0].id().0])
        } else {
            "seqlane-projections".to_owned()
        };
        output.add_stage(
            Stage::new(ProjectionStage::new(group, Arc::clone(&engine)))
                .name(name)
                .after(&[journaler]),
        );
    }
    let (records, output) = output.build_single_producer().map_err(EngineError::Spawn)?;

    let logic = Logic::new(
        model,
        Arc::clone(&engine),
        records,
        logic::RecordFormat {
            codec,
            schema_id: schemas.running_id,
            max_payload,
        },
        record_base,
        -1,
    );
    let mut stage = Stage::new(logic).name("seqlane-logic");
    if let Some(core) = config.logic_core {
        stage = stage.pin_to_core(core);
    }
    let mut input =
        RingBuilder::new(config.input_capacity, Submission::void).wait_strategy(config.wait);
    input.add_stage(stage);
    let (producer, input) = input.build_multi_producer().map_err(EngineError::Spawn)?;

    Ok(Started {
        gateway: Gateway {
            producer,
            engine: Arc::clone(&engine),
        },
        engine,
        input,
        output,
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
