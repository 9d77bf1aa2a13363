//! The disk's own floor under the durable rows: what syncing 4 KiB costs here,
//! the least a command made durable on its own can wait.

use std::io::{Seek, SeekFrom, Write};
use std::time::Instant;

use hdrhistogram::Histogram;

/// Bytes written before each sync: a page, about what one sync of the engine's
/// journal carries at a low rate.
const BLOCK: usize = 4096;

/// Where each 4 KiB goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Over blocks written before (the writes cycle over 64 KiB): a sync of data
    /// alone, the least a sync costs.
    Overwrite,
    /// Past the last write, into space preallocated with `fallocate` as the
    /// journal's segments are: each sync also records that the blocks now hold
    /// data (on ext4, an extent conversion committed to its journal).
    Append,
}

/// `rounds` times: write 4 KiB into a file in a temporary directory (on the file
/// system the journals use), placed as `placement` says, and `fdatasync` it; the
/// time of each write and sync.
pub fn fdatasync_floor(rounds: u64, placement: Placement) -> Result<Histogram<u64>, String> {
    let dir = tempfile::tempdir().map_err(|e| format!("cannot make a directory: {e}"))?;
    let path = dir.path().join("sync-floor");
    let mut file = std::fs::File::create(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    if placement == Placement::Append {
        let len = rounds * BLOCK as u64;
        rustix::fs::fallocate(&file, rustix::fs::FallocateFlags::empty(), 0, len)
            .map_err(|e| format!("cannot preallocate {}: {e}", path.display()))?;
        file.sync_all()
            .map_err(|e| format!("cannot sync {}: {e}", path.display()))?;
    }
    let block = [0x5a_u8; BLOCK];
    let mut histogram = crate::peers::histogram();
    for round in 0..rounds {
        let at = match placement {
            Placement::Overwrite => (round % 16) * BLOCK as u64,
            Placement::Append => round * BLOCK as u64,
        };
        let started = Instant::now();
        file.seek(SeekFrom::Start(at))
            .and_then(|_| file.write_all(&block))
            .and_then(|()| file.sync_data())
            .map_err(|e| format!("cannot write and sync {}: {e}", path.display()))?;
        histogram.saturating_record((started.elapsed().as_nanos() as u64).max(1));
    }
    Ok(histogram)
}
