//! A stage that chases its producer: taking a few events at a time, look after
//! look, as fast as they are published.
//!
//! Each such look reads the lines the producer writes next (its cursor, the slot
//! beside the one just read), so each publication must take the line back first:
//! two transfers between cores per event, and the producer slowed to the stage's
//! pace, which keeps the chase going. Left alone, a run settles either there
//! (tens of millions of events a second) or with the producer far ahead (hundreds
//! of millions), and which one is a matter of timing: the CPU, the run's length.
//! A short step back before each look did not get out of it on the Intel Xeon of
//! results/README.md once the runs were long enough to settle.
//!
//! So a stage that finds a few events at once, several looks in a row, *gathers*:
//! it leaves the lines alone for a short round, looks again, and takes the batch
//! once the producer has run [`enough`](Chase::enough) ahead (about 16 KiB of
//! slots), or as soon as a round shows the producer slow or stopped. The stage
//! then reads lines the producer has left, ahead of it in the ring, with the
//! prefetcher's help, and the producer writes lines the stage left a lap ago.
//! A stage under a light load never gathers: its looks find nothing first, and a
//! producer that stops costs a gathering stage one round (half a microsecond
//! spinning; under [`WaitStrategy::Backoff`], the strategy for more threads than
//! cores, a sleep of that length plus the kernel's timer slack).

use std::time::Duration;

use crate::barrier::Barrier;
use crate::shared::Shared;
use crate::slots::Slots;
use crate::wait::WaitStrategy;

/// What a stage knows of its recent looks.
#[derive(Debug, Default)]
pub(super) struct Chase {
    /// Looks in a row that found a few events at once; at [`STREAK`](Self::STREAK)
    /// the stage is chasing, and stays so while its looks find events at once.
    streak: u32,
}

impl Chase {
    /// At most this many events in a batch is "a few".
    const FEW: i64 = 8;
    /// A batch found after at most this many empty looks was found at once.
    const AT_ONCE: u32 = 3;
    /// This many such batches in a row are a chase.
    const STREAK: u32 = 4;
    /// How long a gathering stage leaves the producer alone between looks.
    #[cfg_attr(loom, allow(dead_code))]
    const ROUND: Duration = Duration::from_nanos(500);
    /// At most this many rounds per batch: a bound on what gathering adds to an
    /// event's latency (4 µs), reached only while the producer keeps up its pace.
    const ROUNDS: u32 = 8;

    /// Events a gathering stage waits for: about 16 KiB of slots (a quarter of
    /// the ring at most), which the stage then reads in one pass.
    fn enough<T>(capacity: i64) -> i64 {
        let quarter = (capacity / 4).max(1);
        let events = match (16 * 1024usize).checked_div(std::mem::size_of::<T>()) {
            Some(events) => (events as i64).max(Self::FEW + 1),
            None => quarter,
        };
        events.min(quarter)
    }

    /// Fewer new events than this in a round mean the producer is slow or stopped:
    /// four cache lines of slots.
    fn slow<T>() -> i64 {
        Slots::<T>::spanning(4 * 64)
    }

    /// The batch to take after a look from `next` found `available` after
    /// `empty_looks` looks that found nothing: `available`, or more once the
    /// stage has gathered.
    #[inline]
    pub(super) fn batch<T>(
        &mut self,
        barrier: &Barrier,
        shared: &Shared<T>,
        next: i64,
        available: i64,
        empty_looks: u32,
    ) -> i64 {
        if empty_looks > Self::AT_ONCE {
            self.streak = 0;
            return available;
        }
        if self.streak < Self::STREAK {
            self.streak = if available - next < Self::FEW {
                self.streak + 1
            } else {
                0
            };
            return available;
        }
        let enough = next + Self::enough::<T>(shared.capacity()) - 1;
        if available >= enough {
            return available;
        }
        self.gather(barrier, shared, next, available, enough)
    }

    /// Leaves the producer alone for rounds until `enough` (a sequence) is
    /// published, the producer proves slow, or the rounds run out.
    #[cold]
    fn gather<T>(
        &mut self,
        barrier: &Barrier,
        shared: &Shared<T>,
        next: i64,
        found: i64,
        enough: i64,
    ) -> i64 {
        let mut available = found;
        let sleeps = matches!(shared.waiter.strategy(), WaitStrategy::Backoff { .. });
        for _ in 0..Self::ROUNDS {
            wait_a_round(sleeps);
            let now = barrier.available(shared, next);
            let slow = now - available < Self::slow::<T>();
            available = now.max(available);
            if slow {
                // Not worth waiting for: look as usual until a chase shows again.
                self.streak = 0;
                break;
            }
            if available >= enough {
                break;
            }
        }
        available
    }
}

/// Waits [`Chase::ROUND`] without touching shared lines: asleep under a
/// strategy that sleeps when idle, spinning otherwise.
///
/// A sleeping strategy is the one for more threads than cores: there a spin
/// takes the core from the producer or the stages the gathering stage waits for,
/// and the kernel's timer slack makes the round longer, so more is gathered.
#[cfg(not(loom))]
fn wait_a_round(sleeps: bool) {
    if sleeps {
        crate::sync::pause(Chase::ROUND);
        return;
    }
    let start = std::time::Instant::now();
    while start.elapsed() < Chase::ROUND {
        crate::sync::spin_loop();
    }
}

/// Under loom a round is one yield: time means nothing to the model.
#[cfg(loom)]
fn wait_a_round(_sleeps: bool) {
    crate::sync::spin_loop();
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::Chase;

    #[test]
    fn a_gathering_stage_waits_for_about_16_kib_within_a_quarter_ring() {
        assert_eq!(Chase::enough::<[u8; 16]>(65_536), 1024);
        assert_eq!(Chase::enough::<u64>(65_536), 2048);
        assert_eq!(Chase::enough::<u64>(1024), 256);
        assert_eq!(Chase::enough::<[u8; 4096]>(65_536), Chase::FEW + 1);
        assert_eq!(Chase::enough::<[u8; 4096]>(8), 2);
        assert_eq!(Chase::enough::<()>(64), 16);
        assert_eq!(Chase::slow::<[u8; 16]>(), 16);
        assert_eq!(Chase::slow::<[u8; 1024]>(), 1);
    }
}
