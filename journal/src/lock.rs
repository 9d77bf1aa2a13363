//! The writer's exclusive lock on a journal directory: `flock` on a `LOCK` file,
//! which also records who holds it.
//!
//! A `flock` belongs to the open file description, which a child process shares
//! from `fork` until it execs (the descriptor is close-on-exec) or exits. So a
//! process that spawns children can find its own released lock still held for a
//! moment by a child that has not exec'd yet. Two things tell that case apart from
//! a real second writer: a registry of the directories this process holds open,
//! and the holder's pid in the lock file. A lock that the file says is ours, on a
//! directory the registry says we do not hold, is a child's inherited copy: it is
//! retried until it goes, for at most [`INHERITED_WAIT`].

use std::collections::HashSet;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{JournalError, Result};

/// Name of the lock file in a journal directory.
pub const LOCK_FILE: &str = "LOCK";

/// How long a lock inherited by a child of this process (between its `fork` and
/// `exec`) is waited for before it is reported as held.
const INHERITED_WAIT: Duration = Duration::from_secs(10);

/// Journal directories (canonical paths) this process has open for writing.
static HELD: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

fn held() -> std::sync::MutexGuard<'static, Option<HashSet<PathBuf>>> {
    HELD.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Held for as long as a writer has the journal open; the lock goes with the file
/// descriptor, so a crashed writer never leaves it behind.
#[derive(Debug)]
pub(crate) struct DirLock {
    file: Option<File>,
    /// The canonical directory, as registered in [`HELD`].
    dir: PathBuf,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let canonical = dir
            .canonicalize()
            .map_err(JournalError::io("lock::canonicalize", dir))?;
        let own = format!("pid {} ", std::process::id());
        if held().get_or_insert_with(HashSet::new).contains(&canonical) {
            return Err(JournalError::Locked {
                dir: dir.to_owned(),
                holder: format!("{own}(this process already has it open)"),
            });
        }
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(JournalError::io("lock::open", &path))?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    let inherited = holder.starts_with(&own);
                    if !inherited || started.elapsed() > INHERITED_WAIT {
                        return Err(JournalError::Locked {
                            dir: dir.to_owned(),
                            holder,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(TryLockError::Error(source)) => {
                    return Err(JournalError::Io {
                        op: "lock::flock",
                        path,
                        source,
                    });
                }
            }
        }
        // Registered under the flock: a second opener in this process now gets the
        // registry's answer, not a wait.
        let mut registry = held();
        if !registry
            .get_or_insert_with(HashSet::new)
            .insert(canonical.clone())
        {
            return Err(JournalError::Locked {
                dir: dir.to_owned(),
                holder: format!("{own}(this process already has it open)"),
            });
        }
        drop(registry);
        let mut lock = Self {
            file: None,
            dir: canonical,
        };
        let holder = format!(
            "{own}({})",
            std::env::current_exe()
                .map_or_else(|_| "unknown program".into(), |p| p.display().to_string())
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(holder.as_bytes()))
            .map_err(JournalError::io("lock::record_holder", &path))?;
        lock.file = Some(file);
        Ok(lock)
    }
}

impl Drop for DirLock {
    fn drop(&mut self) {
        // Unlock (close) first, then unregister: an opener that meets the flock in
        // between sees its own pid and retries.
        drop(self.file.take());
        if let Some(registry) = held().as_mut() {
            registry.remove(&self.dir);
        }
    }
}

fn read_holder(file: &mut File) -> String {
    let mut holder = String::new();
    let _ = file
        .seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_string(&mut holder));
    match holder.trim() {
        "" => "holder unknown".to_owned(),
        text => text.to_owned(),
    }
}
