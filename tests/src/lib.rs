//! Fixtures shared by the integration tests: small hand-made datasets built as Arrow
//! record batches, so that every expected value can be computed by hand, and a Flight
//! client's calls as the tests make them.

pub mod fixtures;
pub mod flight_client;
