//! seqlane: the ring under test.

use std::sync::{Arc, Barrier};
use std::time::Instant;

use hdrhistogram::Histogram;
use seqlane::{Polled, Producer, RingBuilder, Stage, StageId, WaitStrategy};

use super::measure::{
    checksum_handler, for_each_batch, paced_events, time_round_trips, Recorder, SharedChecksum,
    Timing,
};
use super::{pin, Peer, Run, RunConfig};
use crate::event::Event;
use crate::scenario::{NoFigure, Topology};

/// Publishes one producer's events: single claims at batch 1, batch claims above.
/// Generic over the producer, so both kinds run the same code, inlined.
#[inline]
fn publish(producer: &mut impl Producer<Event>, config: &RunConfig) {
    for_each_batch(config.per_producer, config.batch, |first, len| {
        if len == 1 {
            producer
                .publish(|slot| slot.value = first)
                .expect("ring halted");
        } else {
            let mut claim = producer.claim_batch(len).expect("ring halted");
            for (value, (_, slot)) in (first..).zip(claim.iter_mut()) {
                slot.value = value;
            }
        }
    })
}

/// seqlane's ring: stages on their own threads, busy-spinning when every thread has
/// a core, else its default backoff (spin, then sleep).
pub struct Seqlane;

fn strategy(config: &RunConfig) -> WaitStrategy {
    if config.spin() {
        WaitStrategy::BusySpin
    } else {
        WaitStrategy::default()
    }
}

impl Peer for Seqlane {
    fn name(&self) -> &'static str {
        "seqlane"
    }

    fn wait_strategy(&self, config: &RunConfig) -> String {
        if config.spin() {
            "busy-spin"
        } else {
            "backoff (spin, sleep)"
        }
        .to_owned()
    }

    fn throughput(&self, topology: Topology, config: &RunConfig) -> Result<Run, NoFigure> {
        let producers = topology.producers();
        let expected = config.per_producer * producers as u64;
        let timing = Arc::new(Timing::default());
        let mut builder =
            RingBuilder::new(config.capacity, Event::default).wait_strategy(strategy(config));
        let checksums: Vec<Arc<SharedChecksum>> = (0..topology.consumers())
            .map(|_| Arc::new(SharedChecksum::default()))
            .collect();
        let mut add = |index: usize, after: &[StageId]| {
            let handler =
                checksum_handler(Arc::clone(&checksums[index]), expected, Arc::clone(&timing));
            let mut stage = Stage::new(handler)
                .name(format!("seqlane-c{}", index + 1))
                .after(after);
            if let Some(core) = config.core(producers + index) {
                stage = stage.pin_to_core(core);
            }
            builder.add_stage(stage)
        };
        match topology {
            Topology::Unicast | Topology::Sequencer => {
                add(0, &[]);
            }
            Topology::Multicast => {
                for index in 0..3 {
                    add(index, &[]);
                }
            }
            Topology::Pipeline => {
                let c1 = add(0, &[]);
                let c2 = add(1, &[c1]);
                add(2, &[c2]);
            }
            Topology::Diamond => {
                let c1 = add(0, &[]);
                let c2 = add(1, &[]);
                add(2, &[c1, c2]);
            }
        }
        // One producer gets the single-producer sequencer, as it would in a service.
        let ring = if producers == 1 {
            let (producer, ring) = builder.build_single_producer().expect("start the ring");
            std::thread::scope(|scope| {
                scope.spawn(|| {
                    // On the publishing thread's own stack, as in every peer: the
                    // compiler may then keep its claim counter in a register.
                    let mut producer = producer;
                    pin(config.core(0));
                    timing.started();
                    publish(&mut producer, config);
                    drop(producer);
                });
            });
            ring
        } else {
            let (producer, ring) = builder.build_multi_producer().expect("start the ring");
            let start = Barrier::new(producers);
            std::thread::scope(|scope| {
                for index in 0..producers {
                    let producer = producer.clone();
                    let (start, timing) = (&start, &timing);
                    scope.spawn(move || {
                        let mut producer = producer;
                        pin(config.core(index));
                        start.wait();
                        timing.started();
                        publish(&mut producer, config);
                    });
                }
                drop(producer);
            });
            ring
        };
        ring.join().expect("no stage panics");
        Ok(Run {
            elapsed: timing.elapsed(),
            checksums: checksums.iter().map(|c| c.load()).collect(),
        })
    }

    fn ping_pong(&self, rounds: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        let mut pings = RingBuilder::new(config.capacity, Event::default);
        let ping_id = pings.add_poller("ping", &[]);
        let (mut ping, mut ping_ring) = pings.build_single_producer().expect("start the ring");
        let mut pongs = RingBuilder::new(config.capacity, Event::default);
        let pong_id = pongs.add_poller("pong", &[]);
        let (mut pong, mut pong_ring) = pongs.build_single_producer().expect("start the ring");
        let mut ping_poller = ping_ring.take_poller(ping_id).expect("the poller");
        let mut pong_poller = pong_ring.take_poller(pong_id).expect("the poller");
        let echo_core = config.core(1);
        let histogram = std::thread::scope(|scope| {
            scope.spawn(move || {
                pin(echo_core);
                loop {
                    let mut received = None;
                    match ping_poller
                        .poll(|event, _, _| received = Some(*event))
                        .expect("ring halted")
                    {
                        Polled::Drained => break,
                        Polled::Idle => {}
                        Polled::Events(_) => {}
                    }
                    if let Some(event) = received {
                        pong.publish(|slot| *slot = event).expect("ring halted");
                    }
                }
            });
            let histogram = time_round_trips(rounds, config.core(0), |round| {
                ping.publish(|slot| slot.value = round)
                    .expect("ring halted");
                let mut answered = false;
                while !answered {
                    pong_poller
                        .poll(|event, _, _| answered = event.value == round)
                        .expect("ring halted");
                }
            });
            drop(ping);
            histogram
        });
        drop(pong_poller);
        ping_ring.join().expect("no stage");
        pong_ring.join().expect("no stage");
        Ok(histogram)
    }

    fn latency(&self, rate: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        let epoch = Instant::now();
        let recorder = Recorder::new(epoch);
        let sink = recorder.clone();
        let mut builder =
            RingBuilder::new(config.capacity, Event::default).wait_strategy(strategy(config));
        let mut stage = Stage::new(move |event: &Event, _: i64, _: bool| sink.record(event));
        if let Some(core) = config.core(1) {
            stage = stage.pin_to_core(core);
        }
        builder.add_stage(stage);
        let (mut producer, ring) = builder.build_single_producer().expect("start the ring");
        let core = config.core(0);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                pin(core);
                paced_events(epoch, rate, config.per_producer, |event| {
                    producer.publish(|slot| *slot = event).expect("ring halted");
                });
            });
        });
        drop(producer);
        ring.join().expect("no stage panics");
        Ok(recorder.into_histogram())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{verify, Disruptor};

    /// Both rings run every topology at both batch sizes and pass the checksum,
    /// unpinned (a test must not depend on the machine's cores).
    #[test]
    fn rings_pass_every_topology() {
        for batch in [1, 100] {
            let config = RunConfig {
                per_producer: 10_000,
                batch,
                capacity: 1024,
                cores: None,
            };
            for topology in Topology::ALL {
                for peer in [&Seqlane as &dyn Peer, &Disruptor] {
                    let run = peer.throughput(topology, &config).unwrap();
                    verify(peer.name(), topology, &config, &run.checksums).unwrap();
                }
            }
        }
    }

    #[test]
    fn ping_pong_and_latency_run_unpinned() {
        let config = RunConfig {
            per_producer: 1_000,
            batch: 1,
            capacity: 1024,
            cores: None,
        };
        for peer in crate::suite::all_peers() {
            if let Ok(histogram) = peer.ping_pong(200, &config) {
                assert_eq!(histogram.len(), 200, "{}", peer.name());
            }
            if let Ok(histogram) = peer.latency(1_000_000, &config) {
                assert_eq!(histogram.len(), 1_000, "{}", peer.name());
            }
        }
    }
}
