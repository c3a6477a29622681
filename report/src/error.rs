//! Errors of the report: a language that is not offered, result tables that are not the
//! job's (a missing table or column, a column of another type), a plot that could not be
//! drawn.

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The language asked for is not offered.
    #[error("unknown language {0:?}: a report is in fr or en")]
    Lang(String),
    /// A result table the report reads is absent.
    #[error("the result has no table {0:?}")]
    MissingTable(String),
    /// A column the report reads is absent.
    #[error("table {table:?} has no column {column:?}")]
    MissingColumn {
        /// The table.
        table: String,
        /// The column.
        column: String,
    },
    /// A column is not of the type the report reads.
    #[error("column {column:?} of table {table:?} is {found}, expected {expected}")]
    ColumnType {
        /// The table.
        table: String,
        /// The column.
        column: String,
        /// The type the report reads.
        expected: &'static str,
        /// The column's type.
        found: String,
    },
    /// plotters failed drawing a plot.
    #[error("drawing the plot {plot:?}: {message}")]
    Plot {
        /// The plot's identifier.
        plot: String,
        /// plotters' message.
        message: String,
    },
}
