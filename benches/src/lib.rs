//! Criterion micro-benchmarks of seqlane's hot paths live in `benches/`; this
//! library holds the smallest engine they and `examples/per_command.rs` share.

use seqlane::{Aggregate, Engine, EngineBuilder, Projection, ReadModel};
use seqlane_journal::{Codec, JournalError, JournalOptions, SyncPolicy};

/// A running sum: the smallest useful domain.
pub struct Sum(pub u64);

impl Aggregate for Sum {
    type Command = u64;
    type Event = u64;
    type Rejection = ();

    fn decide(&self, add: &u64, events: &mut Vec<u64>) -> Result<(), ()> {
        events.push(*add);
        Ok(())
    }

    fn apply(&mut self, added: &u64) {
        self.0 += added;
    }
}

/// Counts the events it sees.
pub struct Count(pub u64);

impl Projection<u64> for Count {
    type View = u64;

    fn apply(&mut self, _: &u64, _: u64) {
        self.0 += 1;
    }

    fn view(&self) -> u64 {
        self.0
    }
}

/// Events as 8 little-endian bytes.
pub struct Le;

impl Codec<u64> for Le {
    fn encode(&self, value: &u64, out: &mut Vec<u8>) -> Result<(), JournalError> {
        out.extend_from_slice(&value.to_le_bytes());
        Ok(())
    }

    fn decode(&self, bytes: &[u8]) -> Result<u64, JournalError> {
        let bytes: [u8; 8] = bytes
            .try_into()
            .map_err(|_| JournalError::Codec(format!("{} bytes, not 8", bytes.len())))?;
        Ok(u64::from_le_bytes(bytes))
    }
}

/// An engine over `dir` with the [`Sum`] domain, the [`Count`] projection and
/// [`Le`] events, its journal not synced, rings of 16,384 slots.
pub fn start(dir: &std::path::Path) -> (Engine<Sum>, ReadModel<u64>) {
    let mut builder = EngineBuilder::new(dir, Sum(0))
        .codec(Le)
        .journal_options(JournalOptions::default().sync(SyncPolicy::Never))
        .input_capacity(1 << 14)
        .output_capacity(1 << 14);
    let count = builder.add_projection("count", Count(0));
    (builder.start().expect("the engine starts"), count)
}
