//! Projection failures: a projection that panics stops only itself. Its failure
//! (the record and the panic message) is shown by [`Engine::health`](crate::Engine)
//! and answered to its `Visible` waits, and is appended to the quarantine list,
//! `DIR/quarantine`: one line per failure, `projection<TAB>record<TAB>message`
//! (message with tabs and newlines escaped; `seqlane-journal inspect DIR` shows
//! it), which a restart with
//! [`ProjectionRestart::Skip`] reads to skip those records for that projection.

use std::collections::HashSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why and where a projection stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectionFailure {
    /// The journal record whose event it failed on.
    pub sequence: u64,
    /// The panic message.
    pub message: String,
}

/// How one projection is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectionHealth {
    /// Its name.
    pub name: String,
    /// `None` while it applies events; the failure once it stopped.
    pub failed: Option<ProjectionFailure>,
}

/// How the engine is doing, apart from its counters ([`Metrics`](crate::Metrics)).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Health {
    /// Every projection, in the order they were added.
    pub projections: Vec<ProjectionHealth>,
}

impl Health {
    /// Whether every projection is applying events.
    pub fn is_healthy(&self) -> bool {
        self.projections.iter().all(|p| p.failed.is_none())
    }
}

/// What a start does with a projection that failed before (set per projection
/// with [`EngineBuilder::projection_restart`](crate::EngineBuilder)).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ProjectionRestart {
    /// Replay it as usual (the default): after a fix to its code it goes on; if it
    /// fails again, it stops again, alone.
    #[default]
    Retry,
    /// Skip, for this projection only, the records its failures are recorded at in
    /// the quarantine list.
    Skip,
    /// Rebuild it from the journal's first record, ignoring its part of the
    /// snapshot (the records must still be held: see [`Retention`](crate::Retention)).
    Rebuild,
}

/// The quarantine list's path in the engine's directory.
pub(crate) fn quarantine_path(dir: &Path) -> PathBuf {
    dir.join("quarantine")
}

fn escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('\t', "\\t")
        .replace('\n', "\\n")
}

/// Appends a failure to the quarantine list (synced: a restart relies on it).
pub(crate) fn record(
    dir: &Path,
    projection: &str,
    failure: &ProjectionFailure,
) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(quarantine_path(dir))?;
    writeln!(
        file,
        "{}\t{}\t{}",
        escape(projection),
        failure.sequence,
        escape(&failure.message)
    )?;
    file.sync_data()
}

/// The records quarantined for `projection`.
pub(crate) fn quarantined(dir: &Path, projection: &str) -> std::io::Result<HashSet<u64>> {
    let text = match std::fs::read_to_string(quarantine_path(dir)) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(error),
    };
    let name = escape(projection);
    Ok(text
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, '\t');
            let who = fields.next()?;
            let sequence = fields.next()?.parse().ok()?;
            (who == name).then_some(sequence)
        })
        .collect())
}

#[cfg(all(test, not(any(loom, miri))))]
mod tests {
    use super::*;

    #[test]
    fn the_quarantine_list_keeps_each_projection_apart() {
        let dir = tempfile::tempdir().unwrap();
        let failure = |sequence| ProjectionFailure {
            sequence,
            message: "boom\tat\nline 2".into(),
        };
        record(dir.path(), "ledger", &failure(7)).unwrap();
        record(dir.path(), "audit\tlog", &failure(9)).unwrap();
        record(dir.path(), "ledger", &failure(11)).unwrap();
        assert_eq!(
            quarantined(dir.path(), "ledger").unwrap(),
            HashSet::from([7, 11])
        );
        assert_eq!(
            quarantined(dir.path(), "audit\tlog").unwrap(),
            HashSet::from([9])
        );
        assert!(quarantined(dir.path(), "other").unwrap().is_empty());
        let text = std::fs::read_to_string(quarantine_path(dir.path())).unwrap();
        assert_eq!(text.lines().count(), 3);
    }
}
