//! The disk's own floor under the durable rows: what syncing 4 KiB costs here,
//! the least a command made durable on its own can wait.

use std::io::{Seek, SeekFrom, Write};
use std::time::Instant;

use hdrhistogram::Histogram;

/// Bytes written before each sync: a page, about what one sync of the engine's
/// journal carries at a low rate.
const BLOCK: usize = 4096;

/// `rounds` times: write 4 KiB into a file in a temporary directory (on the file
/// system the journals use) and `fdatasync` it; the time of each write and sync.
/// The writes cycle over 64 KiB, so the file does not grow after the first lap.
pub fn fdatasync_floor(rounds: u64) -> Result<Histogram<u64>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a directory: {e}"))?;
    let path = dir.path().join("sync-floor");
    let mut file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let block = [0x5a_u8; BLOCK];
    let mut histogram = crate::peers::histogram();
    for round in 0..rounds {
        let started = Instant::now();
        file.seek(SeekFrom::Start((round % 16) * BLOCK as u64))
            .and_then(|_| file.write_all(&block))
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("cannot write and sync {}: {e}", path.display()))?;
        histogram.saturating_record((started.elapsed().as_nanos() as u64).max(1));
    }
    Ok(histogram)
}
