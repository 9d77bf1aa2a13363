//! Error types. Hot-path errors are small and `Copy`; the owner's error says which
//! stage failed and how.

use std::fmt;

/// The ring was halted: a stage panicked, or the owner called
/// [`Ring::halt`](crate::Ring::halt). No stage will process further events, so the
/// claim was refused rather than accepted and lost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Halted;

impl fmt::Display for Halted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the ring was halted (a stage panicked or the owner halted it)")
    }
}

impl std::error::Error for Halted {}

/// Why a non-waiting claim failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TryClaimError {
    /// The slowest gating stage is a whole ring behind: nothing was claimed. Back off,
    /// shed load, or wait with a blocking claim.
    Full,
    /// The ring was halted; see [`Halted`].
    Halted,
}

impl fmt::Display for TryClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryClaimError::Full => f.write_str("the ring is full"),
            TryClaimError::Halted => Halted.fmt(f),
        }
    }
}

impl std::error::Error for TryClaimError {}

impl From<Halted> for TryClaimError {
    fn from(_: Halted) -> Self {
        TryClaimError::Halted
    }
}

/// A stage's handler panicked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StagePanic {
    /// The stage's name (its thread's name).
    pub stage: String,
    /// The panic message, when it was a string.
    pub message: String,
}

/// How a ring stopped badly: some stages panicked, so the ring was halted, and some
/// published events may not have been processed by every stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RingError {
    /// Every stage that panicked, in the order the stages were added.
    pub panics: Vec<StagePanic>,
    /// Published events that the slowest terminal stage did not process.
    pub unprocessed: u64,
}

impl fmt::Display for RingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ring halted: ")?;
        for (i, panic) in self.panics.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "stage `{}` panicked: {}", panic.stage, panic.message)?;
        }
        write!(
            f,
            " ({} published events left unprocessed)",
            self.unprocessed
        )
    }
}

impl std::error::Error for RingError {}
