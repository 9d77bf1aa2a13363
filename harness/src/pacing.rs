//! Offering work at a fixed rate, as every latency scenario does: item `i` is due
//! at `i / rate` after the epoch, carries that intended time, and is sent as soon as
//! it is due (at once when the sender is behind), so a stall shows up as latency of
//! every delayed item instead of being hidden (coordinated omission).

use std::time::Instant;

/// How the sender waits for the next item's due time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Busy-spin: the most precise, for rows whose threads each have a core. A
    /// sleeping sender (the harness had one) is late by the kernel's timer slack
    /// and sends in bursts, and that lateness was most of every bus's latency on
    /// 2 cores.
    Spin,
    /// Spin for the last 2 µs before each item, yield before that
    /// ([`spin_until`]): for rows where the bus under test has more threads
    /// than the machine has cores left beside the sender.
    SpinYielding,
    /// Sleep: late by the timer's slack (tens of µs), bursts after a late wake-up;
    /// for rows measured in milliseconds, where a spinning sender would take a
    /// core from the work it measures.
    Sleep,
}

/// Within this many ns of an item's due time the sender spins; further off it
/// yields its core between looks at the clock.
const SPIN_WITHIN_NS: u64 = 2_000;

/// One step of a spinning sender's wait, at `now` for `due` (ns from its epoch):
/// a spin hint when the item is nearly due, else a yield. A sender that only
/// spins holds its core until the scheduler's next tick (4 ms here) against any
/// thread woken there, such as a bus's sync thread whose write just finished: it
/// was most of seqlane's p99 to durable on 2 cores. The yield is a system call of
/// a fraction of a µs when no other thread wants the core.
#[inline]
fn spin_towards(now: u64, due: u64) {
    if due.saturating_sub(now) > SPIN_WITHIN_NS {
        std::thread::yield_now();
    } else {
        std::hint::spin_loop();
    }
}

/// Waits until `due` ns after `epoch` as [`Wait::SpinYielding`] does, calling
/// `between` before each step of the wait (a sender that also collects answers
/// does it there).
#[inline]
pub fn spin_until(epoch: Instant, due: u64, mut between: impl FnMut()) {
    loop {
        let now = epoch.elapsed().as_nanos() as u64;
        if now >= due {
            return;
        }
        between();
        spin_towards(now, due);
    }
}

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
            Wait::SpinYielding => spin_until(epoch, due, || {}),
            Wait::Sleep => {
                let now = epoch.elapsed().as_nanos() as u64;
                if now < due {
                    std::thread::sleep(std::time::Duration::from_nanos(due - now));
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
        let mut sent = Vec::new();
        paced(Instant::now(), 1_000_000, 5, Wait::Spin, |i, due| {
            sent.push((i, due))
        });
        assert_eq!(
            sent,
            [(0, 0), (1, 1_000), (2, 2_000), (3, 3_000), (4, 4_000)]
        );
    }
}
