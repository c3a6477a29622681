//! Errors of the core crate. Validation problems are not errors: they are collected in a
//! [`crate::validate::Report`], and only a report with problems becomes a
//! [`CoreError::Invalid`] when a caller asks for validated tables. The inputs of the
//! legal rules (dotation complémentaire actions, Avenant 43 départements, forfait global
//! services) are checked the same way: every [`InputProblem`] is collected before a
//! [`CoreError::RuleInput`] is returned.

use std::fmt;

use crate::validate::Report;

/// One value of a rule's input table that the rule cannot use: where it is (file, table,
/// row from 1, column), the value as text and the rule it breaks.
#[derive(Clone, Debug, PartialEq)]
pub struct InputProblem {
    /// The file the table came from, when there is one.
    pub file: Option<String>,
    /// The table (for example `actions`).
    pub table: &'static str,
    /// The row, from 1 (`None` for a problem of the whole table).
    pub row: Option<usize>,
    /// The column.
    pub column: String,
    /// The offending value, as text.
    pub value: String,
    /// The rule broken, as a sentence.
    pub rule: String,
}

impl InputProblem {
    /// A problem of one cell.
    pub fn cell(
        table: &'static str,
        row: usize,
        column: &str,
        value: impl Into<String>,
        rule: impl Into<String>,
    ) -> InputProblem {
        InputProblem {
            file: None,
            table,
            row: Some(row),
            column: column.to_string(),
            value: value.into(),
            rule: rule.into(),
        }
    }
}

impl fmt::Display for InputProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{file}: ")?;
        }
        write!(f, "table {}", self.table)?;
        if let Some(r) = self.row {
            write!(f, ", row {r}")?;
        }
        write!(
            f,
            ", column {}, value {:?}: {}",
            self.column, self.value, self.rule
        )
    }
}

/// Every problem of a rule's input, one per line.
fn list_problems(problems: &[InputProblem]) -> String {
    let mut s = format!(
        "{} problem{} in the rule's input:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        s.push_str("\n  - ");
        s.push_str(&p.to_string());
    }
    s
}

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
    /// The input of a legal rule has values the rule cannot use; every one is listed.
    #[error("{}", list_problems(.0))]
    RuleInput(Vec<InputProblem>),
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
