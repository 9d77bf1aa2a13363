//! Which threads run the engine's stages.

/// How the engine's stages (business logic, journal, projections) share threads.
///
/// A hand-off between two threads is a few nanoseconds while both are running,
/// and as long as the scheduler takes to run the other one when they are not: on a
/// machine with fewer cores than busy threads, a command waits for a descheduled
/// thread at each hand-off. So the engine runs its stages on one thread there, and
/// on a thread each where the cores allow.
///
/// # Examples
///
/// ```
/// use seqlane::{Aggregate, EngineBuilder, Topology};
///
/// #[derive(Default)]
/// struct Counter(u64);
///
/// impl Aggregate for Counter {
///     type Command = u64;
///     type Event = u64;
///     type Rejection = ();
///
///     fn decide(&self, add: &u64, events: &mut Vec<u64>) -> Result<(), ()> {
///         events.push(*add);
///         Ok(())
///     }
///
///     fn apply(&mut self, added: &u64) {
///         self.0 += added;
///     }
/// }
///
/// # if cfg!(miri) { return Ok(()); } // Miri cannot map files
/// let dir = tempfile::tempdir()?;
/// let engine = EngineBuilder::new(dir.path(), Counter::default())
///     .producer_threads(4) // what `Auto` counts with the engine's own threads
///     .start()?;
/// // `Auto` resolves to one of the two at start.
/// assert_ne!(engine.topology(), Topology::Auto);
///
/// let dir = tempfile::tempdir()?;
/// let engine = EngineBuilder::new(dir.path(), Counter::default())
///     .topology(Topology::OneThread)
///     .start()?;
/// assert_eq!(engine.topology(), Topology::OneThread);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Topology {
    /// [`ThreadPerStage`](Topology::ThreadPerStage) when the machine has a core for
    /// each of its threads and each declared producer
    /// ([`EngineBuilder::producer_threads`](crate::EngineBuilder::producer_threads)),
    /// [`OneThread`](Topology::OneThread) otherwise. The default.
    #[default]
    Auto,
    /// The business logic decides and applies a batch of commands, then journals
    /// its events (appending and syncing as the journal's policy says), then applies
    /// them to every projection, all on one thread: no stage ever waits for
    /// another to be scheduled. Projections then share the logic's time: a slow
    /// one slows the engine.
    OneThread,
    /// The business logic, the journal and the projections each on a thread of
    /// their own, linked by the output ring: the journal's sync and the projections
    /// overlap the next commands' decisions. Projections share one thread or have
    /// one each, as
    /// [`share_projection_thread`](crate::EngineBuilder::share_projection_thread)
    /// says.
    ThreadPerStage,
}

impl Topology {
    /// What `self` means on a machine of `cores` cores, for an engine whose
    /// threaded topology runs `stage_threads` threads, with `producers` threads
    /// submitting.
    pub(crate) fn resolve(self, cores: usize, stage_threads: usize, producers: usize) -> Self {
        match self {
            Topology::Auto if cores >= stage_threads + producers => Topology::ThreadPerStage,
            Topology::Auto => Topology::OneThread,
            chosen => chosen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Topology;

    #[test]
    fn auto_runs_one_thread_unless_every_thread_has_a_core() {
        // Logic, journal, one projection thread: 3, and one producer.
        assert_eq!(Topology::Auto.resolve(2, 3, 1), Topology::OneThread);
        assert_eq!(Topology::Auto.resolve(3, 3, 1), Topology::OneThread);
        assert_eq!(Topology::Auto.resolve(4, 3, 1), Topology::ThreadPerStage);
        assert_eq!(Topology::Auto.resolve(32, 3, 8), Topology::ThreadPerStage);
        assert_eq!(Topology::Auto.resolve(8, 3, 8), Topology::OneThread);
        for cores in [1, 2, 64] {
            for chosen in [Topology::OneThread, Topology::ThreadPerStage] {
                assert_eq!(chosen.resolve(cores, 3, 1), chosen);
            }
        }
    }
}
