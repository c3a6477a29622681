//! Errors of the core crate. Validation problems are not errors: they are collected in a
//! [`crate::validate::Report`], and only a report with problems becomes a
//! [`CoreError::Invalid`] when a caller asks for validated tables. The inputs of the
//! legal rules (dotation complémentaire actions, Avenant 43 départements, forfait global
//! services) are checked the same way — the same [`crate::validate::Problem`]s, each
//! naming its table, row, column, value and rule — and every one is collected before a
//! [`CoreError::RuleInput`] is returned.

use crate::validate::Report;

/// What could not be computed from the microdata.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    /// The microdata broke the data contract; the report lists every problem.
    #[error("{0}")]
    Invalid(Box<Report>),
    /// A legal parameter is not known for the year asked.
    #[error("{what} is not known for year {year}: {hint}")]
    UnknownYear {
        /// The parameter (for example "the MTP").
        what: &'static str,
        /// The year asked.
        year: i32,
        /// What the user can do about it.
        hint: &'static str,
    },
    /// The input tables of a legal rule have values the rule cannot use; the report
    /// lists every problem.
    #[error("{0}")]
    RuleInput(Box<Report>),
    /// An option of a rule is out of its domain.
    #[error("option {name} = {value}: {rule}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// Its value, as text.
        value: String,
        /// What the option must be.
        rule: String,
    },
    /// An Arrow kernel failed (a cast or a concatenation); this is a bug or an
    /// unsupported column encoding.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}
