//! Offering work at a fixed rate, as every latency scenario does: item `i` is due
//! at `i / rate` after the epoch, carries that intended time, and is sent as soon as
//! it is due (at once when the sender is behind), so a stall shows up as latency of
//! every delayed item instead of being hidden (coordinated omission).

use std::time::{Duration, Instant};

/// How the sender waits for the next item's due time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Busy-spin: the most precise, for a sender with a core of its own.
    Spin,
    /// Sleep (at least [`NAP`]), then send everything that fell due meanwhile in a
    /// burst: on a machine with fewer cores than threads a spinning sender would
    /// take a core from the pipeline it measures. Each item still counts from its
    /// intended time, so the sender's own lateness shows up as latency.
    Sleep,
}

/// The shortest sleep under [`Wait::Sleep`].
pub const NAP: Duration = Duration::from_micros(50);

/// Calls `send(i, intended_ns)` for `count` items at `rate` per second from `epoch`,
/// each as soon as it is due, waiting as `wait` says.
pub fn paced(epoch: Instant, rate: u64, count: u64, wait: Wait, mut send: impl FnMut(u64, u64)) {
    let interval = 1_000_000_000f64 / rate as f64;
    for i in 0..count {
        let due = (i as f64 * interval) as u64;
        match wait {
            Wait::Spin => {
                while (epoch.elapsed().as_nanos() as u64) < due {
                    std::hint::spin_loop();
                }
            }
            Wait::Sleep => {
                let now = epoch.elapsed().as_nanos() as u64;
                if now < due {
                    std::thread::sleep(Duration::from_nanos(due - now).max(NAP));
                }
            }
        }
        send(i, due);
    }
}

#[cfg(test)]
mod tests {
    use super::{paced, Wait};
    use std::time::Instant;

    #[test]
    fn items_come_in_order_each_with_its_intended_time() {
        for wait in [Wait::Spin, Wait::Sleep] {
            let mut sent = Vec::new();
            paced(Instant::now(), 1_000_000, 5, wait, |i, due| {
                sent.push((i, due))
            });
            assert_eq!(
                sent,
                [(0, 0), (1, 1_000), (2, 2_000), (3, 3_000), (4, 4_000)]
            );
        }
    }
}
