//! seqlane-journal: the segmented, memory-mapped, checksummed append-only log that
//! records every event before it fans out to projections.
//!
//! Not built yet: this crate holds its place in the workspace so the layout is final.
//! Its record format, writer, reader, recovery and CLI come with the journal issue.

#![deny(missing_docs)]
