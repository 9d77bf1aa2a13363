//! Instructions per command, counted by callgrind: one producer sends N commands
//! (fire and forget) through the engine of `seqlane_benches::start` and waits until
//! the last is visible. Run it twice under callgrind with different N; the
//! difference in instructions over the difference in N is the per-command cost
//! over all threads, with the fixed costs (start, replay, shutdown) cancelled out:
//!
//! ```sh
//! cargo build --release -p seqlane-benches --example per_command
//! for n in 100000 200000; do
//!   valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.$n \
//!     target/release/examples/per_command $n
//! done
//! callgrind_annotate /tmp/cg.200000 | head -40   # where it goes
//! ```
//!
//! Under callgrind the threads take turns on one simulated CPU, so a thread
//! that spins waiting counts its spins: the engine's waits spin briefly, then
//! park, which bounds that share (`callgrind_annotate` shows it under the wait
//! functions).

use seqlane::Until;
use seqlane_benches::start;

fn main() {
    let commands: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |n| n.parse().expect("N, a count of commands"));
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (engine, count) = start(dir.path());
    let gateway = engine.gateway();
    for value in 1..commands {
        gateway.send(value).expect("the engine is open");
    }
    let last = gateway.submit(commands).expect("the engine is open");
    last.wait(Until::Visible(count.id()))
        .expect("the last command is visible");
    assert_eq!(*count.get(), commands);
    drop(gateway);
    engine.shutdown().expect("the engine stops cleanly");
}
