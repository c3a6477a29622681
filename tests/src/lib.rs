//! Fixtures shared by the integration tests: small hand-made datasets built as Arrow
//! record batches, so that every expected value can be computed by hand.

pub mod fixtures;
