//! Calibration of funding formulas against the survey: the parameters of a formula that
//! best match what services cost while spending exactly what hourly funding spends.
//!
//! - [`neutrality`]: budget-neutrality scopes ([`neutrality::NeutralityScope`]) and the
//!   achieved residual every result reports.

pub mod neutrality;
