//! Errors of the solver: problems that cannot be solved as posed. Expected numerical
//! outcomes (a residual, a non-converged robust fit) are data in the results, not errors.

/// Why a calibration could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SolverError {
    /// The data and constraints do not determine every parameter.
    #[error(
        "the design cannot identify parameter(s) {parameters:?} (condition number {condition:.3e}): add data for them, merge them with others, or drop a constraint"
    )]
    NotIdentified {
        /// Indices of the parameters involved in the undetermined direction.
        parameters: Vec<usize>,
        /// Condition number of the equilibrated KKT matrix.
        condition: f64,
    },
    /// No parameter value can keep a scope's budget unchanged.
    #[error("budget neutrality is impossible in {scope}: {reason}")]
    NeutralityImpossible {
        /// The scope (a département code, or "national").
        scope: String,
        /// Why, and what to change.
        reason: String,
    },
    /// A decomposition failed to converge.
    #[error("numerical failure: {0}")]
    Numerical(&'static str),
}
