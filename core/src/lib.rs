//! The numerical core of dotation: the survey microdata and what is computed from it,
//! without any IO or async.
//!
//! - [`schema`]: the data contract — the four input tables, column by column, with units;
//! - [`validate`]: checks record batches against the contract, collecting every problem
//!   ([`validate::Report`]), and converts them to typed columns ([`tables::Microdata`]);
//!   the visits are streamed ([`validate::VisitCheck`]): checked batch by batch and folded
//!   into drivers, never held whole; the result is a [`Dataset`];
//! - [`aggregate`]: visits and users into the cost drivers of each service and user
//!   ([`aggregate::Drivers`]) through a mergeable state ([`aggregate::VisitSums`]),
//!   bit-identical whatever the thread count or the record-batch boundaries;
//! - [`simd`]: the vector kernels of validation, with runtime dispatch to AVX2;
//! - [`margins`]: the known population totals survey weights are calibrated to, and the
//!   per-service auxiliary variables they define;
//! - [`legal`]: the floor tariff, the MTP, APA ceilings and participation (R.232-10/11);
//! - [`baseline`]: today's hourly funding per service, user, département and nation
//!   ([`baseline::Baseline`]);
//! - [`dotation_complementaire`]: the action catalogues of the dotation complémentaire
//!   (Creuse 2025, Saône-et-Loire 2026), amounts per objective, caps, prorata and the
//!   CNSA's refinancing;
//! - [`avenant43`]: the CNSA's aid to départements for the Avenant 43 salary agreement
//!   (art. 47 LFSS 2021): activity and cost caps, advance and balance;
//! - [`forfait_global`]: the forfait global négocié's monthly schedule, the withheld 10 %
//!   and the CPOM bands.

pub mod aggregate;
pub mod avenant43;
pub mod baseline;
pub mod dotation_complementaire;
pub mod error;
pub mod forfait_global;
pub mod legal;
pub mod margins;
pub mod out_of_pocket;
pub mod schema;
pub mod simd;
pub mod tables;
pub mod validate;

pub use error::CoreError;
pub use validate::Dataset;

/// The version of the software, written into every result.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The version of the results: bumped whenever a change alters any output of the same
/// spec on the same data (a figure, a table's columns, a rule), whatever the crate's
/// version says. Stored results are keyed by it, so a server upgraded on a persisted data
/// directory recomputes what an earlier version computed.
pub const RESULTS_VERSION: u32 = 6;
