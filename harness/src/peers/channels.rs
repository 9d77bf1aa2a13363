//! Channel-like peers: crossbeam's bounded channel, `std::sync::mpsc::sync_channel`
//! and a `Mutex<VecDeque>` + `Condvar` bus. They share one implementation of every
//! scenario through [`Queue`]: multicast sends each event to one queue per consumer,
//! pipelines forward from queue to queue, the diamond joins two queues.

use std::collections::VecDeque;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::time::Instant;

use hdrhistogram::Histogram;

use super::measure::{for_each_batch, paced_events, time_round_trips, Recorder, Timing};
use super::{pin, Peer, Run, RunConfig};
use crate::event::{Checksum, Event};
use crate::scenario::{NoFigure, Topology};

/// A bounded multi-producer, single-consumer queue of events.
pub trait Queue: Sync {
    /// The sending side; cloned for each producer. The queue closes when every
    /// sender is dropped.
    type Sender: Clone + Send;
    /// The receiving side.
    type Receiver: Send;

    /// Its name in tables.
    const NAME: &'static str;
    /// How its threads wait, in words.
    const WAITING: &'static str;

    /// A queue of `capacity` events.
    fn bounded(capacity: usize) -> (Self::Sender, Self::Receiver);
    /// Sends one event, waiting for room.
    fn send(sender: &Self::Sender, event: Event);
    /// Sends events in order. Queues with a cheaper way than one send each override
    /// it.
    fn send_all(sender: &Self::Sender, events: &[Event]) {
        for event in events {
            Self::send(sender, *event);
        }
    }
    /// The next event, or `None` once the queue is closed and empty.
    fn recv(receiver: &Self::Receiver) -> Option<Event>;
}

/// Consumes until the queue closes, forwarding each event to `next` if given, and
/// marks the end on the `expected`-th event.
fn consume<Q: Queue>(
    receiver: Q::Receiver,
    next: Option<Q::Sender>,
    expected: u64,
    timing: &Timing,
) -> Checksum {
    let mut checksum = Checksum::default();
    while let Some(event) = Q::recv(&receiver) {
        checksum.add(&event);
        if let Some(next) = &next {
            Q::send(next, event);
        }
        if checksum.count == expected {
            timing.finished();
        }
    }
    checksum
}

fn produce<Q: Queue>(senders: &[Q::Sender], config: &RunConfig) {
    let mut batch = vec![Event::default(); config.batch];
    for_each_batch(config.per_producer, config.batch, |first, len| {
        for (value, slot) in (first..).zip(&mut batch[..len]) {
            slot.value = value;
        }
        for sender in senders {
            Q::send_all(sender, &batch[..len]);
        }
    });
}

fn throughput<Q: Queue>(topology: Topology, config: &RunConfig) -> Run {
    let producers = topology.producers();
    let expected = config.per_producer * producers as u64;
    let timing = Timing::default();
    let timing = &timing;
    let start = Barrier::new(producers);
    let core = |index: usize| config.core(index);
    let consumer_core = |index: usize| config.core(producers + index);
    std::thread::scope(|scope| {
        // Producer-facing senders, one per queue the producer feeds, and the
        // consumer threads behind them.
        // Consumer `index` on its core: takes from `rx`, passes each event to `next`.
        let spawn = |index: usize, rx: Q::Receiver, next: Option<Q::Sender>| {
            scope.spawn(move || {
                pin(consumer_core(index));
                consume::<Q>(rx, next, expected, timing)
            })
        };
        let (inputs, consumers): (Vec<Q::Sender>, Vec<_>) = match topology {
            Topology::Unicast | Topology::Sequencer => {
                let (tx, rx) = Q::bounded(config.capacity);
                (vec![tx], vec![spawn(0, rx, None)])
            }
            Topology::Multicast => (0..3)
                .map(|index| {
                    let (tx, rx) = Q::bounded(config.capacity);
                    (tx, spawn(index, rx, None))
                })
                .unzip(),
            Topology::Pipeline => {
                let (tx1, rx1) = Q::bounded(config.capacity);
                let (tx2, rx2) = Q::bounded(config.capacity);
                let (tx3, rx3) = Q::bounded(config.capacity);
                let consumers = vec![
                    spawn(0, rx1, Some(tx2)),
                    spawn(1, rx2, Some(tx3)),
                    spawn(2, rx3, None),
                ];
                (vec![tx1], consumers)
            }
            Topology::Diamond => {
                let (tx_a, rx_a) = Q::bounded(config.capacity);
                let (tx_b, rx_b) = Q::bounded(config.capacity);
                let (tx_a3, rx_a3) = Q::bounded(config.capacity);
                let (tx_b3, rx_b3) = Q::bounded(config.capacity);
                let c1 = spawn(0, rx_a, Some(tx_a3));
                let c2 = spawn(1, rx_b, Some(tx_b3));
                let c3 = scope.spawn(move || {
                    pin(consumer_core(2));
                    // C3 takes each event once both branches have passed it on.
                    let mut checksum = Checksum::default();
                    while let (Some(a), Some(b)) = (Q::recv(&rx_a3), Q::recv(&rx_b3)) {
                        assert_eq!(a, b, "the diamond's branches disagree");
                        checksum.add(&a);
                        if checksum.count == expected {
                            timing.finished();
                        }
                    }
                    checksum
                });
                (vec![tx_a, tx_b], vec![c1, c2, c3])
            }
        };
        for index in 0..producers {
            let senders = inputs.clone();
            let start = &start;
            scope.spawn(move || {
                pin(core(index));
                start.wait();
                timing.started();
                produce::<Q>(&senders, config);
            });
        }
        drop(inputs);
        let checksums = consumers
            .into_iter()
            .map(|c| c.join().expect("consumer panicked"))
            .collect();
        Run {
            elapsed: timing.elapsed(),
            checksums,
        }
    })
}

fn ping_pong<Q: Queue>(rounds: u64, config: &RunConfig) -> Histogram<u64> {
    let (ping_tx, ping_rx) = Q::bounded(config.capacity);
    let (pong_tx, pong_rx) = Q::bounded(config.capacity);
    std::thread::scope(|scope| {
        scope.spawn(move || {
            pin(config.core(1));
            while let Some(event) = Q::recv(&ping_rx) {
                Q::send(&pong_tx, event);
            }
        });
        // The loop owns its ends of the queues; when it is done, dropping them
        // closes the ping queue and the echo thread stops.
        time_round_trips(rounds, config.core(0), move |round| {
            Q::send(
                &ping_tx,
                Event {
                    value: round,
                    sent_ns: 0,
                },
            );
            let reply = Q::recv(&pong_rx).expect("the echo thread answers");
            assert_eq!(reply.value, round);
        })
    })
}

fn latency<Q: Queue>(rate: u64, config: &RunConfig) -> Histogram<u64> {
    let epoch = Instant::now();
    let recorder = Recorder::new(epoch);
    let (tx, rx) = Q::bounded(config.capacity);
    std::thread::scope(|scope| {
        let sink = recorder.clone();
        scope.spawn(move || {
            pin(config.core(1));
            while let Some(event) = Q::recv(&rx) {
                sink.record(&event);
            }
        });
        scope.spawn(move || {
            pin(config.core(0));
            paced_events(epoch, rate, config.per_producer, |event| {
                Q::send(&tx, event)
            });
        });
    });
    recorder.into_histogram()
}

impl<Q: Queue> Peer for Q {
    fn name(&self) -> &'static str {
        Q::NAME
    }

    fn wait_strategy(&self, _config: &RunConfig) -> String {
        Q::WAITING.to_owned()
    }

    fn throughput(&self, topology: Topology, config: &RunConfig) -> Result<Run, NoFigure> {
        Ok(throughput::<Q>(topology, config))
    }

    fn ping_pong(&self, rounds: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        Ok(ping_pong::<Q>(rounds, config))
    }

    fn latency(&self, rate: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        Ok(latency::<Q>(rate, config))
    }
}

/// `crossbeam_channel::bounded`.
pub struct CrossbeamBounded;

impl Queue for CrossbeamBounded {
    type Sender = crossbeam_channel::Sender<Event>;
    type Receiver = crossbeam_channel::Receiver<Event>;
    const NAME: &'static str = "crossbeam";
    const WAITING: &'static str = "spin, then park (its own)";

    fn bounded(capacity: usize) -> (Self::Sender, Self::Receiver) {
        crossbeam_channel::bounded(capacity)
    }

    fn send(sender: &Self::Sender, event: Event) {
        sender
            .send(event)
            .expect("the consumer lives until the senders are gone");
    }

    fn recv(receiver: &Self::Receiver) -> Option<Event> {
        receiver.recv().ok()
    }
}

/// `std::sync::mpsc::sync_channel`.
pub struct StdSyncChannel;

impl Queue for StdSyncChannel {
    type Sender = std::sync::mpsc::SyncSender<Event>;
    type Receiver = std::sync::mpsc::Receiver<Event>;
    const NAME: &'static str = "std_mpsc";
    const WAITING: &'static str = "spin, then park (its own)";

    fn bounded(capacity: usize) -> (Self::Sender, Self::Receiver) {
        std::sync::mpsc::sync_channel(capacity)
    }

    fn send(sender: &Self::Sender, event: Event) {
        sender
            .send(event)
            .expect("the consumer lives until the senders are gone");
    }

    fn recv(receiver: &Self::Receiver) -> Option<Event> {
        receiver.recv().ok()
    }
}

/// A `Mutex<VecDeque>` with two `Condvar`s: the bus many services start with.
pub struct MutexQueue;

struct MutexState {
    queue: VecDeque<Event>,
    capacity: usize,
    senders: usize,
}

/// The state behind a [`MutexQueue`]: the queue and its two condition variables.
pub struct MutexShared {
    state: Mutex<MutexState>,
    not_empty: Condvar,
    not_full: Condvar,
}

/// The sending side of [`MutexQueue`]; the queue closes when the last is dropped.
pub struct MutexSender(Arc<MutexShared>);

impl Clone for MutexSender {
    fn clone(&self) -> Self {
        self.0.state.lock().expect("no panics while locked").senders += 1;
        Self(Arc::clone(&self.0))
    }
}

impl Drop for MutexSender {
    fn drop(&mut self) {
        let mut state = self.0.state.lock().unwrap_or_else(|p| p.into_inner());
        state.senders -= 1;
        if state.senders == 0 {
            self.0.not_empty.notify_all();
        }
    }
}

impl Queue for MutexQueue {
    type Sender = MutexSender;
    type Receiver = Arc<MutexShared>;
    const NAME: &'static str = "mutex_vecdeque";
    const WAITING: &'static str = "condvar";

    fn bounded(capacity: usize) -> (Self::Sender, Self::Receiver) {
        let shared = Arc::new(MutexShared {
            state: Mutex::new(MutexState {
                queue: VecDeque::with_capacity(capacity),
                capacity,
                senders: 1,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        });
        (MutexSender(Arc::clone(&shared)), shared)
    }

    fn send(sender: &Self::Sender, event: Event) {
        Self::send_all(sender, std::slice::from_ref(&event));
    }

    /// A whole batch under one lock, waiting for room as it goes.
    fn send_all(sender: &Self::Sender, events: &[Event]) {
        let shared = &sender.0;
        let mut state = shared.state.lock().expect("no panics while locked");
        for event in events {
            while state.queue.len() == state.capacity {
                shared.not_empty.notify_one();
                state = shared.not_full.wait(state).expect("no panics while locked");
            }
            state.queue.push_back(*event);
        }
        shared.not_empty.notify_one();
    }

    fn recv(receiver: &Self::Receiver) -> Option<Event> {
        let mut state = receiver.state.lock().expect("no panics while locked");
        loop {
            if let Some(event) = state.queue.pop_front() {
                receiver.not_full.notify_one();
                return Some(event);
            }
            if state.senders == 0 {
                return None;
            }
            state = receiver
                .not_empty
                .wait(state)
                .expect("no panics while locked");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Crossbeam, but every 1,000th event silently goes missing.
    struct Lossy;

    impl Queue for Lossy {
        type Sender = crossbeam_channel::Sender<Event>;
        type Receiver = crossbeam_channel::Receiver<Event>;
        const NAME: &'static str = "lossy";
        const WAITING: &'static str = "whatever crossbeam does";

        fn bounded(capacity: usize) -> (Self::Sender, Self::Receiver) {
            crossbeam_channel::bounded(capacity)
        }

        fn send(sender: &Self::Sender, event: Event) {
            if event.value % 1000 != 999 {
                sender.send(event).unwrap();
            }
        }

        fn recv(receiver: &Self::Receiver) -> Option<Event> {
            receiver.recv().ok()
        }
    }

    fn config() -> RunConfig {
        RunConfig {
            per_producer: 10_000,
            batch: 1,
            capacity: 1024,
            cores: None,
        }
    }

    #[test]
    fn the_checksum_catches_a_peer_that_drops_events() {
        for topology in Topology::ALL {
            let run = Lossy.throughput(topology, &config()).unwrap();
            let error =
                crate::peers::verify("lossy", topology, &config(), &run.checksums).unwrap_err();
            assert!(
                error.contains("lossy failed") && error.contains("expected"),
                "{error}"
            );
        }
    }

    #[test]
    fn honest_peers_pass_every_topology() {
        for topology in Topology::ALL {
            for peer in [&CrossbeamBounded as &dyn Peer, &StdSyncChannel, &MutexQueue] {
                let run = peer.throughput(topology, &config()).unwrap();
                crate::peers::verify(peer.name(), topology, &config(), &run.checksums).unwrap();
                assert!(run.elapsed > std::time::Duration::ZERO);
            }
        }
    }
}
