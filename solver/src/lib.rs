//! Calibration of funding formulas against the survey: the parameters of a formula that
//! best match what services cost while spending exactly what hourly funding spends.
//!
//! - [`wls`]: weighted least squares under exact equality constraints (the KKT system),
//!   from sufficient statistics ([`wls::Moments`]), with sandwich covariances (HC0/HC1,
//!   clustered CR0/CR1);
//! - [`point_value`]: one point value per département restoring its budget (Brent);
//! - [`neutrality`]: budget-neutrality scopes ([`neutrality::NeutralityScope`]) and the
//!   achieved residual every result reports;
//! - [`error`]: the solver's errors, [`SolverError`].

pub mod error;
pub mod neutrality;
pub mod point_value;
pub mod wls;

pub use error::SolverError;
