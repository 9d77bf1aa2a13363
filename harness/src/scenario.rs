//! The scenarios, modelled on the LMAX performance tests.

use serde::{Deserialize, Serialize};

/// Who sends to whom in a throughput run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Topology {
    /// One producer, one consumer.
    Unicast,
    /// Three producers, one consumer.
    Sequencer,
    /// One producer, three consumers each seeing every event.
    Multicast,
    /// One producer, then C1, then C2, then C3.
    Pipeline,
    /// One producer, C1 and C2 in parallel, then C3 after both.
    Diamond,
}

impl Topology {
    /// Every topology, in table order.
    pub const ALL: [Topology; 5] = [
        Topology::Unicast,
        Topology::Sequencer,
        Topology::Multicast,
        Topology::Pipeline,
        Topology::Diamond,
    ];

    /// The name used in tables, files and `--scenario`.
    pub fn name(self) -> &'static str {
        match self {
            Topology::Unicast => "unicast_1p1c",
            Topology::Sequencer => "sequencer_3p1c",
            Topology::Multicast => "multicast_1p3c",
            Topology::Pipeline => "pipeline_1p3c",
            Topology::Diamond => "diamond_1p3c",
        }
    }

    /// Producer threads.
    pub fn producers(self) -> usize {
        if self == Topology::Sequencer {
            3
        } else {
            1
        }
    }

    /// Consumer threads.
    pub fn consumers(self) -> usize {
        match self {
            Topology::Unicast | Topology::Sequencer => 1,
            _ => 3,
        }
    }

    /// All threads of a run.
    pub fn threads(self) -> usize {
        self.producers() + self.consumers()
    }
}

/// What `--scenario` selects: a ring topology, or one of the other scenarios.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scenario {
    /// Throughput through a topology, at each batch size.
    Ring(Topology),
    /// Round trips between two threads.
    PingPong,
    /// Unicast at fixed offered rates.
    Latency,
    /// The engine end to end beside a lock-based CQRS bus and a hand-off floor.
    Engine,
    /// The journal exported to NATS JetStream beside raw publishing, and the lag
    /// to a remote projection.
    Export,
}

impl Scenario {
    /// Every scenario, in table order.
    pub fn all() -> impl Iterator<Item = Scenario> {
        Topology::ALL.into_iter().map(Scenario::Ring).chain([
            Scenario::PingPong,
            Scenario::Latency,
            Scenario::Engine,
            Scenario::Export,
        ])
    }

    /// The name `--scenario` takes.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ring(topology) => topology.name(),
            Scenario::PingPong => "ping_pong",
            Scenario::Latency => "latency",
            Scenario::Engine => "engine",
            Scenario::Export => "export",
        }
    }

    /// The scenario named `name`.
    pub fn named(name: &str) -> Option<Scenario> {
        Scenario::all().find(|scenario| scenario.name() == name)
    }
}

/// Why a peer gave no figure for a scenario.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NoFigure {
    /// The peer cannot run this scenario by its nature (the reason says why): its
    /// row says so, and the suite goes on.
    CannotRun(String),
    /// The peer ran and failed (lost a command, could not start): the suite stops,
    /// rather than show a figure for broken work.
    Failed(String),
}

impl NoFigure {
    /// A "cannot run" for a fixed reason.
    pub fn cannot_run(reason: &str) -> Self {
        NoFigure::CannotRun(reason.to_owned())
    }
}

/// A failure's message: `?` on a `String` error fails the run.
impl From<String> for NoFigure {
    fn from(message: String) -> Self {
        NoFigure::Failed(message)
    }
}

impl From<&str> for NoFigure {
    fn from(message: &str) -> Self {
        NoFigure::Failed(message.to_owned())
    }
}
