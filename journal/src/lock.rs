//! The writer's exclusive lock on a journal directory: `flock` on a `LOCK` file,
//! which also records who holds it.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{JournalError, Result};

/// Name of the lock file in a journal directory.
pub const LOCK_FILE: &str = "LOCK";

/// Held for as long as a writer has the journal open; the lock goes with the file
/// descriptor, so a crashed writer never leaves it behind.
#[derive(Debug)]
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub(crate) fn acquire(dir: &Path) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(JournalError::io("lock::open", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "holder unknown".to_owned(),
                    text => text.to_owned(),
                };
                return Err(JournalError::Locked {
                    dir: dir.to_owned(),
                    holder,
                });
            }
            Err(TryLockError::Error(source)) => {
                return Err(JournalError::Io {
                    op: "lock::flock",
                    path,
                    source,
                });
            }
        }
        let holder = format!(
            "pid {} ({})",
            std::process::id(),
            std::env::current_exe()
                .map_or_else(|_| "unknown program".into(), |p| p.display().to_string())
        );
        file.set_len(0)
            .and_then(|()| file.seek(SeekFrom::Start(0)))
            .and_then(|_| file.write_all(holder.as_bytes()))
            .map_err(JournalError::io("lock::record_holder", &path))?;
        Ok(Self { _file: file })
    }
}
