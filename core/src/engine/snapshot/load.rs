//! Loading the newest usable snapshot on start: the state, the projections' parts,
//! and the checks that the journal still holds what the replay after it needs.

use std::path::Path;
use std::sync::Arc as StdArc;

use seqlane_journal::Journal;

use super::file::{unversioned, Saved};
use crate::engine::domain::Aggregate;
use crate::engine::error::EngineError;
use crate::engine::model::Model;
use crate::engine::projection::Runner;

/// Where a start begins its replay.
pub(crate) struct Loaded<A> {
    /// The model to replay onto.
    pub(crate) model: Model<A>,
    /// The journal record the state's replay starts from (the snapshot's, or 0).
    pub(crate) replay_from: u64,
    /// The snapshot used, named by the record it covers up to.
    pub(crate) snapshot: Option<u64>,
    /// Newer snapshots that could not be used, each with the reason.
    pub(crate) skipped: Vec<String>,
}

/// The model to replay onto: from the newest usable snapshot (restoring the
/// projections too, except those in `rebuilt`), or `initial`.
pub(crate) fn load<A: Aggregate>(
    dir: &Path,
    journal: &Journal,
    initial: A,
    runners: &mut [Box<dyn Runner<A::Event>>],
    names: &[StdArc<str>],
    rebuilt: &[bool],
) -> Result<Loaded<A>, EngineError> {
    let mut skipped = Vec::new();
    let files = super::list(dir).map_err(|error| EngineError::Snapshot {
        path: Some(super::directory(dir)),
        reason: error.to_string(),
    })?;
    for (_, path) in files {
        let saved = std::fs::read(&path)
            .map_err(|error| error.to_string())
            .and_then(|bytes| Saved::decode(&bytes));
        let saved = match saved {
            Ok(saved) => saved,
            Err(reason) => {
                skipped.push(format!("{}: {reason}", path.display()));
                continue;
            }
        };
        let unusable = |reason: String| EngineError::Snapshot {
            path: Some(path.clone()),
            reason,
        };
        if saved.records > journal.next_sequence() {
            return Err(unusable(format!(
                "it covers journal records up to {}, but the journal ends at {}",
                saved.records,
                journal.next_sequence()
            )));
        }
        let (state_version, state) = unversioned(&saved.state).map_err(&unusable)?;
        if state_version != A::SNAPSHOT_VERSION {
            // A cache of another encoding: the journal rebuilds the state.
            skipped.push(format!(
                "{}: the state's snapshot is version {state_version}, this code reads \
                 version {} (Aggregate::SNAPSHOT_VERSION)",
                path.display(),
                A::SNAPSHOT_VERSION
            ));
            continue;
        }
        let state = A::restore(state).map_err(&unusable)?;
        // A projection added since the snapshot has no part: it replays from the
        // journal's start (if the journal still holds it, checked below).
        for ((runner, name), _) in runners
            .iter_mut()
            .zip(names)
            .zip(rebuilt)
            .filter(|(_, rebuilt)| !**rebuilt)
        {
            let part = saved
                .projections
                .iter()
                .find(|(saved_name, _, _)| **saved_name == **name);
            if let Some((_, position, part)) = part {
                let (version, bytes) = unversioned(part).map_err(&unusable)?;
                if version != runner.snapshot_version() {
                    // Rebuilt from the journal instead.
                    skipped.push(format!(
                        "{}: projection `{name}`'s part is version {version}, this code \
                         reads version {} (Projection::SNAPSHOT_VERSION): rebuilt from the \
                         journal",
                        path.display(),
                        runner.snapshot_version()
                    ));
                    continue;
                }
                runner
                    .restore(bytes, *position)
                    .map_err(|reason| unusable(format!("projection `{name}`: {reason}")))?;
            }
        }
        let held = journal.first_sequence();
        if let Some((runner, name)) = runners
            .iter()
            .zip(names)
            .find(|(runner, _)| runner.start() < held)
        {
            return Err(EngineError::Retired {
                first: held,
                needed: runner.start(),
                by: format!(
                    "projection `{name}`, which has no part in the snapshot of record {} \
                     (added since?),",
                    saved.records
                ),
            });
        }
        if saved.records < held {
            return Err(EngineError::Retired {
                first: held,
                needed: saved.records,
                by: format!("the snapshot of record {}", saved.records),
            });
        }
        let model = Model {
            state,
            version: saved.version,
            ids: saved.ids.into_iter().collect(),
        };
        return Ok(Loaded {
            model,
            replay_from: saved.records,
            snapshot: Some(saved.records),
            skipped,
        });
    }
    if journal.first_sequence() > 0 && !skipped.is_empty() {
        return Err(EngineError::Snapshot {
            path: None,
            reason: format!(
                "no usable snapshot ({}), and the journal starts at record {}: \
                 the records before it were retired",
                skipped.join("; "),
                journal.first_sequence()
            ),
        });
    }
    if journal.first_sequence() > 0 {
        return Err(EngineError::Retired {
            first: journal.first_sequence(),
            needed: 0,
            by: "the state (there is no snapshot)".into(),
        });
    }
    let model = Model {
        state: initial,
        version: 0,
        ids: Default::default(),
    };
    Ok(Loaded {
        model,
        replay_from: 0,
        snapshot: None,
        skipped,
    })
}
