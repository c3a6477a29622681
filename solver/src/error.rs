//! Errors of the solver: specs that cannot be run and problems that cannot be solved as
//! posed. Expected numerical outcomes (a residual, a non-converged robust fit) are data in
//! the results, not errors.

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
    /// The guarantees asked as constraints cannot all hold with budget neutrality.
    #[error(
        "the guarantees cannot all hold with budget neutrality: the closest funding still violates {violated} constraint(s) ({}); the furthest: {}; binding there: {}. Relax or drop one of these guarantees (guarantees.constrain, guarantees.transition_limit, guarantees.participation) or change the formula",
        families.iter().map(|(f, n)| format!("{f} {n}")).collect::<Vec<_>>().join(", "),
        conflicts.iter().map(Conflict::describe).collect::<Vec<_>>().join("; "),
        binding.join(", ")
    )]
    Infeasible {
        /// Constraints violated at the least-violation point.
        violated: usize,
        /// The least total violation: the sum of every violated constraint's gap
        /// relative to its scale (the least-violation program's objective).
        total_relative: f64,
        /// Violated constraints per guarantee, by name.
        families: Vec<(String, usize)>,
        /// The guarantees with a constraint binding or violated at that point.
        binding: Vec<String>,
        /// The furthest from holding, worst first.
        conflicts: Vec<Conflict>,
    },
    /// A decomposition failed to converge.
    #[error("numerical failure: {0}")]
    Numerical(&'static str),
    /// A stratum with one sampled service gives no estimate of its variance.
    #[error(
        "stratum {stratum} has one sampled service: its variance cannot be estimated from the sample; merge it with a similar stratum in services.stratum, or give its fpc if the service is the stratum's only one (a certainty stratum adds no variance)"
    )]
    LonelyStratum {
        /// The stratum's name.
        stratum: String,
    },
}

/// One constraint that cannot hold with the others.
#[derive(Clone, Debug, PartialEq)]
pub struct Conflict {
    /// The constraint, e.g. `has_cover[S0042]: funding ≥ 123456.00 €`.
    pub constraint: String,
    /// Its guarantee, e.g. `has_cover`.
    pub family: String,
    /// How far it is from holding, € (in the parameters' unit for an order).
    pub gap: f64,
    /// The gap as a share of the service's baseline (the gap itself for an order).
    pub relative: f64,
}

impl Conflict {
    /// `label` misses by `gap` € (`relative` % of its baseline).
    pub fn describe(&self) -> String {
        if self.family == "order" {
            return format!(
                "{} misses by {:.4} (in the parameters' unit)",
                self.constraint, self.gap
            );
        }
        format!(
            "{} misses by {:.2} € ({:.3} % of its baseline)",
            self.constraint,
            self.gap,
            100.0 * self.relative
        )
    }
}

/// Why a job spec cannot be run.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum SpecError {
    /// The text is not a valid spec (unknown key, wrong type, unknown value…).
    #[error("the job spec is not valid {format}: {message}")]
    Syntax {
        /// `TOML` or `JSON`.
        format: &'static str,
        /// The parser's message, with the place and what was expected.
        message: String,
    },
    /// Options that do not fit together.
    #[error("job spec, {key}: {message}")]
    Inconsistent {
        /// The key to change.
        key: String,
        /// Why, and what to change.
        message: String,
    },
    /// A name the catalogue does not know.
    #[error("job spec, {key}: unknown {what} \"{name}\"; known: {}", known.join(", "))]
    Unknown {
        /// The key.
        key: String,
        /// What kind of name (attribute, driver, allowance…).
        what: &'static str,
        /// The name given.
        name: String,
        /// The names that exist.
        known: Vec<String>,
    },
    /// A group, band or driver with nothing in the data.
    #[error("job spec, {key}: {message}")]
    Empty {
        /// The key.
        key: String,
        /// What is empty and what to change.
        message: String,
    },
    /// The data do not fit the spec.
    #[error("job spec, {key}: {message}")]
    Data {
        /// The key.
        key: String,
        /// What in the data, and what to change.
        message: String,
    },
}

impl SpecError {
    /// The same error with its key placed under `prefix` (a candidate of a comparison).
    pub fn within(self, prefix: &str) -> SpecError {
        let at = |key: String| format!("{prefix}.{key}");
        match self {
            SpecError::Inconsistent { key, message } => SpecError::Inconsistent {
                key: at(key),
                message,
            },
            SpecError::Unknown {
                key,
                what,
                name,
                known,
            } => SpecError::Unknown {
                key: at(key),
                what,
                name,
                known,
            },
            SpecError::Empty { key, message } => SpecError::Empty {
                key: at(key),
                message,
            },
            SpecError::Data { key, message } => SpecError::Data {
                key: at(key),
                message,
            },
            other @ SpecError::Syntax { .. } => other,
        }
    }
}

/// Why a calibration job failed.
#[derive(Debug, thiserror::Error, PartialEq)]
#[non_exhaustive]
pub enum CalibrationError {
    /// The spec cannot be run on these data.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// Some parameters are not determined, named.
    #[error(
        "the design cannot identify {}: {reason} (condition number {condition:.3e}); merge groups, drop the driver, or add data", parameters.join(", ")
    )]
    NotIdentified {
        /// The parameters involved.
        parameters: Vec<String>,
        /// Why, in words.
        reason: String,
        /// Condition number of the equilibrated system.
        condition: f64,
    },
    /// The solver failed.
    #[error(transparent)]
    Solver(#[from] SolverError),
    /// The job was cancelled.
    #[error("the job was cancelled")]
    Cancelled,
}

/// Why a job could not run to its end.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The data or a computation of the core (baseline, out-of-pocket) failed.
    #[error(transparent)]
    Core(#[from] dotation_core::CoreError),
    /// The job spec cannot be run on these data.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The calibration could not be computed.
    #[error(transparent)]
    Calibration(#[from] CalibrationError),
    /// The survey weights could not be calibrated to the margins.
    #[error(transparent)]
    Weights(#[from] crate::weights::WeightsError),
    /// The job was cancelled.
    #[error("the job was cancelled")]
    Cancelled,
}
