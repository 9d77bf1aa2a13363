//! Building a ring (its slots, stages and wait strategy) and owning it: watching its
//! stages, draining or halting it, and joining their threads.

use std::io;

use crate::barrier::Barrier;
use crate::error::{RingError, StagePanic};
use crate::poller::Poller;
use crate::producer::{MultiProducer, SingleProducer};
use crate::sequencer::Sequencer;
use crate::shared::Shared;
use crate::slots::Slots;
use crate::stage::{self, EventHandler, Stage, StageId, StageState, StageStatus};
use crate::sync::{thread, Arc, AtomicBool, AtomicUsize};
use crate::wait::{WaitStrategy, Waiter};

type StageThread = thread::JoinHandle<Result<(), String>>;
type SpawnStage<T> = Box<dyn FnOnce(Arc<Shared<T>>, Barrier) -> io::Result<StageThread>>;

struct PendingStage<T> {
    state: Arc<StageState>,
    after: Vec<StageId>,
    /// How to start the stage's thread; `None` for a poller, which has none.
    spawn: Option<SpawnStage<T>>,
}

/// Builds a ring: allocates its slots up front, collects its stages, then starts them
/// with a single- or multi-producer sequencer.
///
/// # Examples
///
/// A pipeline `parse → apply`, single producer, default (backoff) waiting:
///
/// ```
/// use seqlane::{Producer, RingBuilder, Stage};
///
/// #[derive(Default)]
/// struct Order {
///     id: u64,
///     quantity: u32,
/// }
///
/// let mut builder = RingBuilder::new(1024, Order::default);
/// let parse = builder.add_stage(Stage::new(|order: &Order, _: i64, _: bool| {
///     assert!(order.quantity > 0);
/// }).name("parse"));
/// builder.add_stage(
///     Stage::new(|order: &Order, sequence: i64, _: bool| {
///         assert_eq!(order.id, sequence as u64);
///     })
///     .name("apply")
///     .after(&[parse]),
/// );
/// let (mut producer, ring) = builder.build_single_producer()?;
/// for id in 0..10 {
///     producer.publish(|order| {
///         order.id = id;
///         order.quantity = 1;
///     })?;
/// }
/// drop(producer); // the stages drain what was published, then stop
/// ring.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RingBuilder<T> {
    slots: Slots<T>,
    wait: WaitStrategy,
    stages: Vec<PendingStage<T>>,
}

impl<T: Send + Sync + 'static> RingBuilder<T> {
    /// A ring of `capacity` slots, each pre-filled by `factory` (events are then
    /// written in place, so publishing never allocates).
    ///
    /// # Panics
    ///
    /// If `capacity` is not a power of two between 1 and 2^31.
    pub fn new(capacity: usize, factory: impl FnMut() -> T) -> Self {
        Self {
            slots: Slots::new(capacity, factory),
            wait: WaitStrategy::default(),
            stages: Vec::new(),
        }
    }

    /// How stages and producers wait (default [`WaitStrategy::BACKOFF`]).
    pub fn wait_strategy(mut self, wait: WaitStrategy) -> Self {
        self.wait = wait;
        self
    }

    /// Adds a stage; its thread starts when the ring is built.
    ///
    /// # Panics
    ///
    /// If the stage runs after a [`StageId`] from another builder.
    pub fn add_stage<H: EventHandler<T>>(&mut self, stage: Stage<H>) -> StageId {
        let id = StageId(self.stages.len());
        for upstream in &stage.after {
            assert!(
                upstream.0 < id.0,
                "stage {upstream:?} does not belong to this builder"
            );
        }
        let name = stage
            .name
            .unwrap_or_else(|| format!("seqlane-stage-{}", id.0));
        let state = Arc::new(StageState::new(name.clone(), stage.core));
        let handler = stage.handler;
        let stage_state = Arc::clone(&state);
        let spawn: SpawnStage<T> = Box::new(move |shared, barrier| {
            thread::Builder::new()
                .name(name)
                .spawn(move || stage::run(shared, stage_state, barrier, handler))
        });
        self.stages.push(PendingStage {
            state,
            after: stage.after,
            spawn: Some(spawn),
        });
        id
    }

    /// Adds a [`Poller`]: a consumer with no thread, which the caller drives with
    /// [`Poller::poll`]. It runs after `after` (or directly after the producers) and
    /// gates the producers like any stage. Take it from the built ring with
    /// [`Ring::take_poller`].
    ///
    /// # Panics
    ///
    /// If `after` names a [`StageId`] from another builder.
    pub fn add_poller(&mut self, name: impl Into<String>, after: &[StageId]) -> StageId {
        let id = StageId(self.stages.len());
        for upstream in after {
            assert!(
                upstream.0 < id.0,
                "stage {upstream:?} does not belong to this builder"
            );
        }
        let state = Arc::new(StageState::new(name.into(), None));
        self.stages.push(PendingStage {
            state,
            after: after.to_vec(),
            spawn: None,
        });
        id
    }

    /// Starts the stages behind a single producer (one thread publishes).
    ///
    /// # Errors
    ///
    /// When a stage's thread cannot be spawned; the stages already started are
    /// stopped and joined first.
    ///
    /// # Panics
    ///
    /// If no stage was added: nothing would ever free a slot.
    pub fn build_single_producer(self) -> io::Result<(SingleProducer<T>, Ring<T>)> {
        let capacity = self.slots.capacity();
        let (shared, stages) = self.into_shared(Sequencer::single(capacity));
        let producer = SingleProducer::new(Arc::clone(&shared));
        Ok((producer, Ring::start(shared, stages)?))
    }

    /// Starts the stages behind a multi-producer sequencer: clone the producer for
    /// each publishing thread.
    ///
    /// # Errors
    ///
    /// As [`build_single_producer`](Self::build_single_producer).
    ///
    /// # Panics
    ///
    /// If no stage was added.
    pub fn build_multi_producer(self) -> io::Result<(MultiProducer<T>, Ring<T>)> {
        let capacity = self.slots.capacity();
        let (shared, stages) = self.into_shared(Sequencer::multi(capacity));
        let producer = MultiProducer::new(Arc::clone(&shared));
        Ok((producer, Ring::start(shared, stages)?))
    }

    /// The shared state, with the terminal stages as the producers' gate.
    fn into_shared(self, sequencer: Sequencer) -> (Arc<Shared<T>>, Vec<PendingStage<T>>) {
        assert!(!self.stages.is_empty(), "a ring needs at least one stage");
        let mut terminal = vec![true; self.stages.len()];
        for stage in &self.stages {
            for upstream in &stage.after {
                terminal[upstream.0] = false;
            }
        }
        let gating = self
            .stages
            .iter()
            .zip(terminal)
            .filter(|(_, terminal)| *terminal)
            .map(|(stage, _)| Arc::clone(&stage.state))
            .collect();
        let shared = Arc::new(Shared {
            slots: self.slots,
            sequencer,
            waiter: Waiter::new(self.wait),
            gating,
            halted: AtomicBool::new(false),
            producers: AtomicUsize::new(0),
            producers_done: AtomicBool::new(false),
        });
        (shared, self.stages)
    }
}

impl<T> std::fmt::Debug for RingBuilder<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RingBuilder")
            .field("capacity", &self.slots.capacity())
            .field("wait", &self.wait)
            .field("stages", &self.stages.len())
            .finish()
    }
}

/// A running ring: owns its stages' threads.
///
/// Stop it one of two ways:
/// - [`join`](Ring::join): once every producer handle is dropped, the stages process
///   everything that was published, then stop; `join` waits for that.
/// - [`halt`](Ring::halt): the stages stop at their next wait, leaving unprocessed
///   events behind (it says how many).
///
/// Dropping the ring joins if the producers are already gone and halts otherwise (a
/// drop cannot wait for producers that may live on the same thread); call `join` or
/// `halt` to see the outcome.
pub struct Ring<T> {
    shared: Arc<Shared<T>>,
    stages: Vec<(Arc<StageState>, Option<StageThread>)>,
    /// Pollers not yet taken, by stage index.
    pollers: Vec<(usize, Poller<T>)>,
}

impl<T> Ring<T> {
    fn start(shared: Arc<Shared<T>>, pending: Vec<PendingStage<T>>) -> io::Result<Self> {
        let mut ring = Ring {
            shared,
            stages: Vec::with_capacity(pending.len()),
            pollers: Vec::new(),
        };
        let states: Vec<_> = pending
            .iter()
            .map(|stage| Arc::clone(&stage.state))
            .collect();
        for (index, stage) in pending.into_iter().enumerate() {
            let barrier = if stage.after.is_empty() {
                Barrier::Producers
            } else {
                Barrier::Stages(
                    stage
                        .after
                        .iter()
                        .map(|id| Arc::clone(&states[id.0]))
                        .collect(),
                )
            };
            match stage.spawn {
                Some(spawn) => {
                    // On error, dropping `ring` halts and joins the stages started.
                    let thread = spawn(Arc::clone(&ring.shared), barrier)?;
                    ring.stages.push((stage.state, Some(thread)));
                }
                None => {
                    let poller =
                        Poller::new(Arc::clone(&ring.shared), Arc::clone(&stage.state), barrier);
                    ring.pollers.push((index, poller));
                    ring.stages.push((stage.state, None));
                }
            }
        }
        Ok(ring)
    }

    /// Takes the [`Poller`] added as `id`; `None` if `id` is not a poller or was
    /// taken already.
    pub fn take_poller(&mut self, id: StageId) -> Option<Poller<T>> {
        let index = self.pollers.iter().position(|(stage, _)| *stage == id.0)?;
        Some(self.pollers.swap_remove(index).1)
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.shared.slots.capacity()
    }

    /// The wait strategy the ring was built with.
    pub fn wait_strategy(&self) -> WaitStrategy {
        self.shared.waiter.strategy()
    }

    /// Every stage's progress and pinning, in the order they were added.
    pub fn stages(&self) -> Vec<StageStatus> {
        self.stages
            .iter()
            .map(|(state, _)| state.status())
            .collect()
    }

    /// Whether the ring was halted (by [`halt`](Ring::halt) or a panicking stage).
    pub fn is_halted(&self) -> bool {
        self.shared.is_halted()
    }

    /// Waits until every producer handle is dropped and every stage has processed
    /// every published event, then joins the stages' threads.
    ///
    /// Blocks forever while a producer handle lives; drop them all first (a
    /// producer owned by this thread must be dropped before the call). The same goes
    /// for a taken [`Poller`] that stages run after: drop it first.
    ///
    /// # Errors
    ///
    /// [`RingError`] when a stage panicked: the ring was halted then, and the error
    /// names each panicked stage and counts the events left unprocessed.
    pub fn join(mut self) -> Result<(), RingError> {
        self.join_stages()
    }

    /// Stops every stage at its next wait (abandoning events not yet processed),
    /// makes further claims fail with [`Halted`](crate::Halted), and joins the
    /// stages' threads. Returns how many published events the slowest terminal stage
    /// did not process.
    ///
    /// # Errors
    ///
    /// [`RingError`] when a stage panicked.
    pub fn halt(mut self) -> Result<u64, RingError> {
        self.shared.halt();
        self.join_stages()?;
        Ok(self.shared.unprocessed())
    }

    fn join_stages(&mut self) -> Result<(), RingError> {
        // Pollers never taken will never poll: finished, so stages after them drain.
        self.pollers.clear();
        let mut panics = Vec::new();
        for (state, thread) in &mut self.stages {
            let Some(thread) = thread.take() else {
                continue;
            };
            let outcome = thread.join().unwrap_or_else(|_| {
                // `stage::run` catches the handler's panics, so only a panic in the
                // ring's own code lands here.
                Err("the stage thread itself panicked".to_owned())
            });
            if let Err(message) = outcome {
                panics.push(StagePanic {
                    stage: state.name.clone(),
                    message,
                });
            }
        }
        if panics.is_empty() {
            Ok(())
        } else {
            Err(RingError {
                panics,
                unprocessed: self.shared.unprocessed(),
            })
        }
    }
}

impl<T> Drop for Ring<T> {
    fn drop(&mut self) {
        if self.stages.iter().all(|(_, thread)| thread.is_none()) {
            return;
        }
        if !self
            .shared
            .producers_done
            .load(std::sync::atomic::Ordering::Acquire)
        {
            self.shared.halt();
        }
        // A drop has no caller to hand an error to; each panic was already printed
        // by the panic hook on its stage's thread.
        let _ = self.join_stages();
    }
}

impl<T> std::fmt::Debug for Ring<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("capacity", &self.capacity())
            .field("wait", &self.wait_strategy())
            .field("stages", &self.stages())
            .finish()
    }
}
