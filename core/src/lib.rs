//! The numerical core of dotation: the survey microdata and what is computed from it,
//! without any IO or async.
//!
//! - [`schema`]: the data contract — the four input tables, column by column, with units;
//! - [`validate`]: checks record batches against the contract, collecting every problem
//!   ([`validate::Report`]), and converts them to typed columns ([`tables::Microdata`]);
//! - [`aggregate`]: visits and users into the cost drivers of each service and user
//!   ([`aggregate::Drivers`]), in parallel and bit-identical whatever the thread count;
//! - [`legal`]: the floor tariff, the MTP, APA ceilings and participation (R.232-10/11);
//! - [`baseline`]: today's hourly funding per service, user, département and nation
//!   ([`baseline::Baseline`]).

pub mod aggregate;
pub mod baseline;
pub mod error;
pub mod legal;
pub mod schema;
pub mod tables;
pub mod validate;

pub use error::CoreError;

/// The version of the computations, written into every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
