//! Any [`Projection`] as a remote read model: kept in memory, its state saved with
//! its checkpoint in one file, replaced atomically.

use std::io::Write;
use std::marker::PhantomData;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use seqlane::{Committed, Projection};
use serde::{Deserialize, Serialize};

use crate::error::{ExportError, Result};
use crate::follow::{Checkpoint, ReadModel};

/// The first bytes of a checkpoint file, with its format's version.
const MAGIC: &[u8; 8] = b"SLCKPT1\n";

/// A [`Projection`] fed from a stream, its state saved with its [`Checkpoint`]
/// (through [`Projection::snapshot`]) in one file at most every
/// [`every`](Snapshotted::every) and when it stops.
///
/// After a crash it restarts from the saved state at exactly the command after
/// it. A projection whose [`snapshot`](Projection::snapshot) is `None`, or whose
/// saved [`SNAPSHOT_VERSION`](Projection::SNAPSHOT_VERSION) differs, is rebuilt
/// from the stream's first message instead.
pub struct Snapshotted<E, P> {
    projection: P,
    path: PathBuf,
    every: Duration,
    saved: Option<Instant>,
    /// Whether the projection holds events not yet saved (or never savable).
    dirty: bool,
    _events: PhantomData<fn(&E)>,
}

/// A checkpoint file's contents, after the magic and before the checksum.
#[derive(Serialize, Deserialize)]
struct Saved {
    identity: String,
    journal: u64,
    stream: u64,
    version: u32,
    state: Vec<u8>,
}

impl<E, P: Projection<E>> Snapshotted<E, P> {
    /// `projection` (as new: it is restored from `path` if a checkpoint is there)
    /// with its checkpoint file at `path`.
    pub fn new(projection: P, path: impl AsRef<Path>) -> Self {
        Snapshotted {
            projection,
            path: path.as_ref().to_owned(),
            every: Duration::from_secs(1),
            saved: None,
            dirty: false,
            _events: PhantomData,
        }
    }

    /// Saves at most once per `interval` (default one second; zero saves after
    /// every batch). A crash repeats at most the commands of one interval.
    pub fn every(mut self, interval: Duration) -> Self {
        self.every = interval;
        self
    }

    /// The projection.
    pub fn projection(&self) -> &P {
        &self.projection
    }

    fn fail(&self, reason: impl std::fmt::Display) -> ExportError {
        ExportError::Checkpoint {
            path: self.path.clone(),
            reason: reason.to_string(),
        }
    }

    /// Nothing to restore: the projection is fed from the stream's start, which
    /// is right only if it holds nothing yet.
    fn start_over(&self) -> Result<Option<Checkpoint>> {
        if self.dirty {
            return Err(self.fail(
                "the projection holds events it cannot save; run a new one, from the start",
            ));
        }
        Ok(None)
    }

    fn save(&mut self, at: &Checkpoint) -> Result<()> {
        let Some(state) = self.projection.snapshot() else {
            return Ok(());
        };
        let saved = Saved {
            identity: at.identity.clone(),
            journal: at.journal,
            stream: at.stream,
            version: P::SNAPSHOT_VERSION,
            state,
        };
        let mut bytes = MAGIC.to_vec();
        postcard::to_io(&saved, &mut bytes).map_err(|e| self.fail(e))?;
        let checksum = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        write_atomically(&self.path, &bytes).map_err(|e| self.fail(e))?;
        self.saved = Some(Instant::now());
        self.dirty = false;
        Ok(())
    }
}

/// Writes `bytes` to a file beside `path`, syncs it, renames it over `path` and
/// syncs the directory: a crash leaves the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".new");
    let temporary = PathBuf::from(temporary);
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temporary, path)?;
    std::fs::File::open(dir)?.sync_all()
}

impl<E, P> ReadModel<E> for Snapshotted<E, P>
where
    E: Send + Sync + 'static,
    P: Projection<E>,
{
    type View = P::View;

    async fn load(&mut self) -> Result<Option<Checkpoint>> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return self.start_over();
            }
            Err(error) => return Err(self.fail(error)),
        };
        let body = bytes
            .strip_prefix(MAGIC)
            .and_then(|rest| rest.len().checked_sub(4).map(|end| rest.split_at(end)))
            .filter(|(_, checksum)| {
                **checksum == crc32c::crc32c(&bytes[..bytes.len() - 4]).to_le_bytes()
            })
            .map(|(body, _)| body)
            .ok_or_else(|| self.fail("not a checkpoint file, or a damaged one"))?;
        let saved: Saved = postcard::from_bytes(body).map_err(|e| self.fail(e))?;
        if saved.version != P::SNAPSHOT_VERSION {
            return self.start_over();
        }
        self.projection
            .restore(&saved.state)
            .map_err(|reason| self.fail(format!("restoring the projection: {reason}")))?;
        self.dirty = false;
        Ok(Some(Checkpoint {
            identity: saved.identity,
            journal: saved.journal,
            stream: saved.stream,
        }))
    }

    async fn apply(&mut self, batch: &[Committed<E>], to: &Checkpoint) -> Result<()> {
        self.dirty = true;
        for command in batch {
            for (sequence, event) in &command.events {
                self.projection
                    .apply_with_metadata(event, *sequence, command.metadata.as_ref());
            }
        }
        if self.saved.is_none_or(|saved| saved.elapsed() >= self.every) {
            self.save(to)?;
        }
        Ok(())
    }

    async fn settle(&mut self, at: &Checkpoint) -> Result<()> {
        if at.identity.is_empty() {
            return Ok(()); // nothing was read
        }
        self.save(at)
    }

    fn view(&self) -> P::View {
        self.projection.view()
    }
}
