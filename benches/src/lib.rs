//! Criterion micro-benchmarks of seqlane's hot paths live in `benches/`; this crate
//! has no library code of its own.
