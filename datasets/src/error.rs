//! Errors of the generator: an unsupported configuration, a malformed embedded reference
//! table, an Arrow batch that could not be built, or a sink that refused a batch.

use arrow::error::ArrowError;

/// Why a survey could not be generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// The legal figures the model needs (MTP, floor tariff) are known for a few years only.
    #[error(
        "year {year} is not supported: the legal figures (MTP, floor tariff) are known for {first} to {last}"
    )]
    UnsupportedYear {
        /// The requested year.
        year: i32,
        /// First supported year.
        first: i32,
        /// Last supported year.
        last: i32,
    },
    /// An embedded reference CSV could not be read.
    #[error("embedded reference table {file}, line {line}: {message}")]
    ReferenceData {
        /// The file under `datasets/data/`.
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A record batch could not be assembled.
    #[error("building a {table} batch: {source}")]
    Arrow {
        /// The table being built.
        table: &'static str,
        /// Arrow's error.
        #[source]
        source: ArrowError,
    },
    /// [`crate::survey`] keeps every table in memory, which the national scale's visits
    /// (about 10^8 rows) do not fit: stream them with [`crate::generate`].
    #[error("the national scale cannot be held in memory: stream it with generate()")]
    InMemoryNational,
    /// The caller's sink refused a batch (for example a failed write); generation stops.
    #[error("the sink failed: {0}")]
    Sink(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl GenerateError {
    /// Wraps a sink's own error.
    pub fn sink(error: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        GenerateError::Sink(error.into())
    }
}

/// A `--scale` value that is neither `survey` nor `national`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scale {value:?}: expected \"survey\" or \"national\"")]
pub struct ParseScaleError {
    /// The value given.
    pub value: String,
}
