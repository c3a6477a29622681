//! Calibration of funding formulas against the survey: the parameters of a formula that
//! best match what services cost while spending exactly what hourly funding spends.
//!
//! - [`spec`]: the job spec ([`spec::JobSpec`], TOML or JSON), strictly parsed and checked;
//! - [`formula`]: the formula catalogue — each formula a [`formula::Design`] built once
//!   from the microdata's drivers (one row per service);
//! - [`calibrate`]: the fit under budget neutrality ([`calibrate::calibrate`]): exact
//!   equalities or point values, least-squares / Huber / median losses, standard errors,
//!   fit quality;
//! - [`crossval`]: k-fold cross-validation by service, stratified and seeded, neutrality
//!   re-imposed in every training fold;
//! - [`wls`]: weighted least squares under exact equality constraints (the KKT system),
//!   from sufficient statistics ([`wls::Moments`]), with sandwich covariances (HC0/HC1,
//!   clustered CR0/CR1);
//! - [`qp`]: least squares under equalities and inequalities (clarabel, then an exact
//!   KKT polish on the binding set), and the least-violation diagnosis naming the
//!   constraints that cannot hold together;
//! - [`guarantees`]: the legal guarantees (out-of-pocket, NHAS price, HAS cost cover,
//!   transition limit) as bounds on each service's funding, and their report;
//! - [`job`]: a job spec on a validated dataset → typed results ([`job::JobResult`]: the
//!   baseline, the fit, the guarantees' report, the impact tables) and its
//!   [`job::Summary`] (`summary.json`), one function per job kind;
//! - [`robust`]: Huber's M-estimate (IRLS) and least absolute deviations (clarabel's LP);
//! - [`point_value`]: one point value per scope restoring its budget (Brent);
//! - [`survey`]: design-based uncertainty of a stratified sample of services —
//!   linearisation with strata and fpc, the stratified jackknife and Preston's rescaled
//!   bootstrap, replicates computed from per-service statistics;
//! - [`weights`]: survey weights calibrated to known population totals (linear,
//!   truncated, raking, logit; Newton's method as R's `grake`, a feasibility LP first),
//!   and the linearisation of estimators under calibrated weights;
//! - [`neutrality`]: budget-neutrality scopes ([`neutrality::NeutralityScope`]) and the
//!   achieved residual every result reports;
//! - [`error`]: the solver's errors ([`SolverError`], [`SpecError`], [`CalibrationError`], [`JobError`]).

pub mod calibrate;
pub mod crossval;
pub mod error;
pub mod formula;
pub mod guarantees;
pub mod job;
pub mod neutrality;
pub mod point_value;
pub mod qp;
pub mod robust;
pub mod spec;
pub mod survey;
pub mod weights;
pub mod wls;

pub use error::{CalibrationError, JobError, SolverError, SpecError};
