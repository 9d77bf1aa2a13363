//! The command line: what a user can ask of the harness.

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};

use crate::scenario::Scenario;

#[derive(Parser)]
#[command(
    name = "seqlane-harness",
    version,
    about = "Benchmark seqlane against other queues and buses"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a suite and write its results.
    Run(RunArgs),
    /// Compare two summary.json files: the ratio per row, a Mann–Whitney U test on
    /// the repetitions, regressions flagged.
    Compare {
        /// The earlier summary.json.
        old: PathBuf,
        /// The later summary.json.
        new: PathBuf,
        /// The smallest relative change that counts.
        #[arg(long, default_value_t = 0.10)]
        threshold: f64,
        /// The largest p-value of the U test that counts as a real change (with 3
        /// repetitions a side p is never below 0.10).
        #[arg(long, default_value_t = 0.10)]
        alpha: f64,
    },
}

#[derive(clap::Args, Clone)]
pub struct RunArgs {
    /// `quick` (a few minutes) or `full`.
    #[arg(long, value_enum, default_value_t = Suite::Quick)]
    pub suite: Suite,
    /// Only these scenarios (default: all).
    #[arg(long, num_args = 1.., value_parser = scenario_parser())]
    pub scenario: Vec<Scenario>,
    /// Only these peers (default: all); seqlane is always included.
    #[arg(long, num_args = 1..)]
    pub peers: Vec<String>,
    /// Where to write the results.
    #[arg(long, default_value = "results/latest")]
    pub out: PathBuf,
}

impl Default for RunArgs {
    /// What a bare `seqlane-harness` runs: the quick suite into results/latest.
    fn default() -> Self {
        Self {
            suite: Suite::Quick,
            scenario: Vec::new(),
            peers: Vec::new(),
            out: "results/latest".into(),
        }
    }
}

/// How much a run measures.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Suite {
    Quick,
    Full,
}

impl Suite {
    /// Its name in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Quick => "quick",
            Suite::Full => "full",
        }
    }
}

/// Parses `--scenario` values from the scenarios' own names.
fn scenario_parser() -> impl TypedValueParser<Value = Scenario> {
    PossibleValuesParser::new(Scenario::all().map(Scenario::name))
        .map(|name| Scenario::named(&name).expect("only listed names parse"))
}

#[cfg(test)]
mod tests {
    use super::{Cli, Command};
    use crate::scenario::{Scenario, Topology};
    use clap::Parser;

    #[test]
    fn scenarios_parse_by_their_table_names() {
        let cli = Cli::try_parse_from([
            "seqlane-harness",
            "run",
            "--scenario",
            "unicast_1p1c",
            "engine",
        ])
        .unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("a run");
        };
        assert_eq!(
            args.scenario,
            [Scenario::Ring(Topology::Unicast), Scenario::Engine]
        );
        assert!(Cli::try_parse_from(["seqlane-harness", "run", "--scenario", "nope"]).is_err());
    }
}
