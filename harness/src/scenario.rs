//! The scenarios, modelled on the LMAX performance tests.

use serde::{Deserialize, Serialize};

/// Who sends to whom in a throughput run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
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
