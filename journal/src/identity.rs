//! A journal's identity: a random name given when the journal is created and kept
//! beside its segments, so that its records can be named outside this machine (the
//! exporter's message ids are identity and sequence). Two journals never share one,
//! even if they hold the same sequences; a journal moved or copied keeps its own.

use std::io::Write;
use std::path::Path;

use crate::error::{JournalError, Result};
use crate::segment;

/// The file in a journal directory that holds its identity: 32 lowercase hex digits
/// and a newline.
pub const IDENTITY_FILE: &str = "journal.id";

/// Digits of an identity.
const LEN: usize = 32;

/// The identity of the journal in `dir`, as its writer recorded it.
///
/// # Errors
///
/// [`JournalError::Identity`] if the file is missing (a journal last opened for
/// writing by a version before identities: open it once for writing) or damaged;
/// I/O errors.
///
/// # Examples
///
/// ```
/// use seqlane_journal::{identity, Journal, JournalOptions};
///
/// let dir = tempfile::tempdir()?;
/// let journal = Journal::open(dir.path(), JournalOptions::default())?;
/// assert_eq!(identity(dir.path())?, journal.identity());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn identity(dir: impl AsRef<Path>) -> Result<String> {
    let path = dir.as_ref().join(IDENTITY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(&path, &text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(JournalError::Identity {
            path,
            reason: "missing: open the journal for writing once to give it one".into(),
        }),
        Err(source) => Err(JournalError::Io {
            op: "identity::read",
            path,
            source,
        }),
    }
}

/// The identity of the journal in `dir`, created if it has none: written to a
/// temporary file, synced, renamed into place and the directory synced, so a crash
/// leaves either no identity or a whole one. Called by the writer, under its lock.
pub(crate) fn ensure(dir: &Path) -> Result<String> {
    let path = dir.join(IDENTITY_FILE);
    if path.exists() {
        return identity(dir);
    }
    let id = uuid::Uuid::new_v4().simple().to_string();
    let temp = dir.join(format!("{IDENTITY_FILE}.tmp"));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(format!("{id}\n").as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, &path)
    };
    write().map_err(JournalError::io("identity::create", &path))?;
    segment::sync_dir(dir)?;
    Ok(id)
}

fn parse(path: &Path, text: &str) -> Result<String> {
    let id = text.trim_end_matches('\n');
    if id.len() == LEN && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        Ok(id.to_owned())
    } else {
        Err(JournalError::Identity {
            path: path.to_owned(),
            reason: format!("{:?} is not {LEN} lowercase hex digits", text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = ensure(dir.path()).unwrap();
        assert_eq!(first.len(), LEN);
        assert_eq!(ensure(dir.path()).unwrap(), first);
        assert_eq!(identity(dir.path()).unwrap(), first);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(ensure(other.path()).unwrap(), first);
    }

    #[test]
    fn missing_or_damaged_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = identity(dir.path()).unwrap_err().to_string();
        assert!(
            missing.contains(IDENTITY_FILE) && missing.contains("missing"),
            "{missing}"
        );
        std::fs::write(dir.path().join(IDENTITY_FILE), "not an id\n").unwrap();
        let damaged = identity(dir.path()).unwrap_err().to_string();
        assert!(damaged.contains("hex digits"), "{damaged}");
        assert!(
            ensure(dir.path()).is_err(),
            "a damaged identity is not replaced"
        );
    }
}
