//! Errors of the server crate: files, formats, invalid data, job specs and requests. The
//! binary maps each to an exit code ([`ServerError::exit_code`]); the Flight service maps
//! them to gRPC statuses in one place (`flight::status`).

use std::path::PathBuf;

use dotation_core::CoreError;

/// What went wrong while serving a command or a request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The data folder does not exist.
    #[error(
        "{0}: not a directory (a dataset is a folder holding departements, services, users and visits files)"
    )]
    NotADirectory(PathBuf),
    /// A table's file is absent.
    #[error(
        "{dir}: no file for table {table} (expected {table}.parquet, {table}.csv or {table}.arrow)"
    )]
    MissingTable {
        /// The folder.
        dir: PathBuf,
        /// The table.
        table: &'static str,
    },
    /// Several files hold the same table.
    #[error("{dir}: several files for table {table} ({}); keep one", files.join(", "))]
    AmbiguousTable {
        /// The folder.
        dir: PathBuf,
        /// The table.
        table: &'static str,
        /// The files found.
        files: Vec<String>,
    },
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not in the format its extension says.
    #[error("{path}: cannot be read: {message}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The reader's message.
        message: String,
    },
    /// A result file could not be written.
    #[error("{path}: cannot be written: {message}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The writer's message.
        message: String,
    },
    /// The data or a computation on it failed.
    #[error(transparent)]
    Core(#[from] CoreError),
    /// The synthetic survey could not be generated.
    #[error("generating the survey: {0}")]
    Generate(#[from] dotation_datasets::GenerateError),
    /// A spec file is not a valid spec.
    #[error("{path}: {message}")]
    SpecFile {
        /// The file.
        path: PathBuf,
        /// What is wrong, and what to change.
        message: String,
    },
    /// The job spec cannot be run.
    #[error(transparent)]
    Spec(#[from] dotation_solver::SpecError),
    /// The calibration could not be computed.
    #[error(transparent)]
    Calibration(#[from] dotation_solver::CalibrationError),
    /// The survey weights could not be calibrated.
    #[error(transparent)]
    Weights(#[from] dotation_solver::weights::WeightsError),
    /// The job was cancelled.
    #[error("the job was cancelled")]
    Cancelled,
    /// An Arrow kernel failed building a result table.
    #[error("building a result table: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
    /// A request is malformed: a descriptor, ticket, action or upload that cannot be
    /// understood.
    #[error("{0}")]
    BadRequest(String),
    /// The caller did not prove who they are.
    #[error("{0}")]
    Unauthenticated(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// No such dataset, job or table (for this caller).
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be served in the current state (an incomplete dataset, a job
    /// not finished yet).
    #[error("{0}")]
    FailedPrecondition(String),
    /// A limit was reached: the job queue is full, an upload or a spec is too large.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The server's configuration is unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A bug: something that should not happen did (a job panicked).
    #[error("internal error: {0}")]
    Internal(String),
    /// A report could not be made (a language not offered, a result folder that is not a
    /// job's).
    #[error("report: {0}")]
    Report(#[from] dotation_report::ReportError),
    /// The job catalogue (SQLite) failed.
    #[error("job catalogue: {0}")]
    Catalogue(#[from] rusqlite::Error),
}

impl From<dotation_solver::JobError> for ServerError {
    fn from(e: dotation_solver::JobError) -> ServerError {
        use dotation_solver::JobError;
        match e {
            JobError::Core(e) => ServerError::Core(e),
            JobError::Spec(e) => ServerError::Spec(e),
            JobError::Calibration(e) => ServerError::Calibration(e),
            JobError::Weights(e) => ServerError::Weights(e),
            JobError::Cancelled => ServerError::Cancelled,
            // A kind of failure added to the library and not yet mapped here.
            e => ServerError::Internal(e.to_string()),
        }
    }
}

impl ServerError {
    /// The process exit code for this error: 1 for invalid input data (a dataset or a
    /// rule's input table), 2 for everything that prevented the command from running
    /// (files, formats, options).
    pub fn exit_code(&self) -> u8 {
        match self {
            ServerError::Core(CoreError::Invalid(_) | CoreError::RuleInput(_)) => 1,
            _ => 2,
        }
    }
}
