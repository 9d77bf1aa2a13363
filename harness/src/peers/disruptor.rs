//! The `disruptor` crate (nicholassm/disruptor-rs), the LMAX port seqlane is most
//! directly compared with.

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use disruptor::{BusySpin, Polling, ProcessorSettings, Producer, Sleep};
use hdrhistogram::Histogram;

use super::measure::{
    checksum_handler, for_each_batch, paced_events, time_round_trips, Recorder, SharedChecksum,
    Timing,
};
use super::{pin, Peer, Run, RunConfig};
use crate::event::Event;
use crate::scenario::{NoFigure, Topology};

/// The `disruptor` crate: busy-spin when every thread has a core, else its `Sleep`
/// strategy (1 µs), the only one it has that does not spin.
pub struct Disruptor;

const SLEEP: Duration = Duration::from_micros(1);

/// Publishes one producer's events, singly or in batches.
fn publish_all(producer: &mut impl Producer<Event>, config: &RunConfig) {
    for_each_batch(config.per_producer, config.batch, |first, len| {
        if len == 1 {
            producer.publish(|slot| slot.value = first);
        } else {
            producer.batch_publish(len, |slots| {
                for (value, slot) in (first..).zip(slots) {
                    slot.value = value;
                }
            });
        }
    });
}

/// Builds the topology's consumers on `$builder` (pinning each to its core) and
/// hands the producer to `$drive`, which returns when publishing started. A macro
/// because each step of the crate's builder, and the producer, has its own type.
macro_rules! build {
    ($builder:expr, $topology:expr, $config:expr, $checksums:expr, $timing:expr, $drive:path) => {{
        let producers = $topology.producers();
        let core = |index: usize| $config.core(producers + index);
        let expected = $config.per_producer * producers as u64;
        let handler = |index: usize| {
            checksum_handler(
                Arc::clone(&$checksums[index]),
                expected,
                Arc::clone(&$timing),
            )
        };
        macro_rules! pinned {
            ($b:expr, $index:expr) => {
                match core($index) {
                    Some(id) => $b.pin_at_core(id),
                    None => $b,
                }
            };
        }
        let b = $builder;
        match $topology {
            Topology::Unicast | Topology::Sequencer => $drive(
                pinned!(b, 0).handle_events_with(handler(0)).build(),
                $config,
                producers,
                &$timing,
            ),
            Topology::Multicast => {
                let b = pinned!(b, 0).handle_events_with(handler(0));
                let b = pinned!(b, 1).handle_events_with(handler(1));
                $drive(
                    pinned!(b, 2).handle_events_with(handler(2)).build(),
                    $config,
                    producers,
                    &$timing,
                )
            }
            Topology::Pipeline => {
                let b = pinned!(b, 0).handle_events_with(handler(0)).and_then();
                let b = pinned!(b, 1).handle_events_with(handler(1)).and_then();
                $drive(
                    pinned!(b, 2).handle_events_with(handler(2)).build(),
                    $config,
                    producers,
                    &$timing,
                )
            }
            Topology::Diamond => {
                let b = pinned!(b, 0).handle_events_with(handler(0));
                let b = pinned!(b, 1).handle_events_with(handler(1)).and_then();
                $drive(
                    pinned!(b, 2).handle_events_with(handler(2)).build(),
                    $config,
                    producers,
                    &$timing,
                )
            }
        }
    }};
}

/// Publishes from one pinned thread. Dropping the producer at the end shuts the
/// consumers down once they are done, and the scope waits for that.
fn drive_single<P: Producer<Event> + Send>(
    producer: P,
    config: &RunConfig,
    _producers: usize,
    timing: &Timing,
) {
    std::thread::scope(|scope| {
        scope.spawn(|| {
            // On the publishing thread's own stack, as in every peer.
            let mut producer = producer;
            pin(config.core(0));
            timing.started();
            publish_all(&mut producer, config);
            drop(producer);
        });
    });
}

/// Publishes from `producers` pinned threads, each with a clone of `producer`.
fn drive_multi<B>(
    producer: disruptor::MultiProducer<Event, B>,
    config: &RunConfig,
    producers: usize,
    timing: &Timing,
) where
    disruptor::MultiProducer<Event, B>: Producer<Event> + Clone + Send,
{
    let start = Barrier::new(producers);
    std::thread::scope(|scope| {
        for index in 0..producers {
            let producer = producer.clone();
            let start = &start;
            scope.spawn(move || {
                let mut producer = producer;
                pin(config.core(index));
                start.wait();
                timing.started();
                publish_all(&mut producer, config);
            });
        }
        drop(producer);
    });
}

fn throughput_with<W>(wait: W, topology: Topology, config: &RunConfig) -> Run
where
    W: disruptor::wait_strategies::WaitStrategy + 'static,
{
    let checksums: Vec<Arc<SharedChecksum>> = (0..topology.consumers())
        .map(|_| Arc::new(SharedChecksum::default()))
        .collect();
    let timing = Arc::new(Timing::default());
    if topology.producers() == 1 {
        let builder = disruptor::build_single_producer(config.capacity, Event::default, wait);
        build!(builder, topology, config, checksums, timing, drive_single)
    } else {
        let builder = disruptor::build_multi_producer(config.capacity, Event::default, wait);
        build!(builder, topology, config, checksums, timing, drive_multi)
    }
    // The scope joined the producer threads, and the last producer's drop joined
    // the consumers after they processed everything.
    Run {
        elapsed: timing.elapsed(),
        checksums: checksums.iter().map(|c| c.load()).collect(),
    }
}

impl Peer for Disruptor {
    fn name(&self) -> &'static str {
        "disruptor"
    }

    fn wait_strategy(&self, config: &RunConfig) -> String {
        if config.spin() {
            "busy-spin"
        } else {
            "sleep 1 µs"
        }
        .to_owned()
    }

    fn throughput(&self, topology: Topology, config: &RunConfig) -> Result<Run, NoFigure> {
        Ok(if config.spin() {
            throughput_with(BusySpin, topology, config)
        } else {
            throughput_with(Sleep::new(SLEEP), topology, config)
        })
    }

    fn ping_pong(&self, rounds: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        let (mut ping_poller, builder) =
            disruptor::build_single_producer(config.capacity, Event::default, BusySpin)
                .new_event_poller();
        let mut ping = builder.build();
        let (mut pong_poller, builder) =
            disruptor::build_single_producer(config.capacity, Event::default, BusySpin)
                .new_event_poller();
        let mut pong = builder.build();
        let echo_core = config.core(1);
        Ok(std::thread::scope(|scope| {
            scope.spawn(move || {
                pin(echo_core);
                loop {
                    let mut received = None;
                    match ping_poller.poll() {
                        Ok(mut events) => {
                            for event in &mut events {
                                received = Some(*event);
                            }
                        }
                        Err(Polling::NoEvents) => {}
                        Err(Polling::Shutdown) => break,
                    }
                    if let Some(event) = received {
                        pong.publish(|slot| *slot = event);
                    }
                }
            });
            let histogram = time_round_trips(rounds, config.core(0), |round| {
                ping.publish(|slot| slot.value = round);
                let mut answered = false;
                while !answered {
                    if let Ok(mut events) = pong_poller.poll() {
                        for event in &mut events {
                            answered = event.value == round;
                        }
                    }
                }
            });
            drop(ping);
            histogram
        }))
    }

    fn latency(&self, rate: u64, config: &RunConfig) -> Result<Histogram<u64>, NoFigure> {
        let epoch = Instant::now();
        let recorder = Recorder::new(epoch);
        let sink = recorder.clone();
        let handler = move |event: &Event, _: i64, _: bool| sink.record(event);
        let builder = disruptor::build_single_producer(config.capacity, Event::default, BusySpin);
        let builder = match config.core(1) {
            Some(core) => builder.pin_at_core(core),
            None => builder,
        };
        let mut producer = builder.handle_events_with(handler).build();
        std::thread::scope(|scope| {
            scope.spawn(|| {
                pin(config.core(0));
                paced_events(epoch, rate, config.per_producer, |event| {
                    producer.publish(|slot| *slot = event)
                });
            });
        });
        drop(producer);
        Ok(recorder.into_histogram())
    }
}
