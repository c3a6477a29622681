//! The one place where errors become gRPC statuses, with deliberate codes: bad input
//! (data, specs, requests) is `InvalidArgument`, a state that forbids the request is
//! `FailedPrecondition`, limits are `ResourceExhausted`, and `Internal` is kept for bugs
//! and for the server's own disk and catalogue.

use dotation_core::CoreError;
use dotation_solver::weights::WeightsError;
use dotation_solver::{CalibrationError, SolverError};
use tonic::{Code, Status};

use crate::error::ServerError;

/// The status code of an error. Every variant of [`ServerError`] is named (a new one
/// does not compile until it gets its code); the errors of the other crates are matched
/// variant by variant, and only their future variants fall to `Internal`.
pub fn code(e: &ServerError) -> Code {
    match e {
        ServerError::Core(e) => core_code(e),
        ServerError::Spec(_) | ServerError::SpecFile { .. } | ServerError::BadRequest(_) => {
            Code::InvalidArgument
        }
        // Unreadable input: a file or an upload that is not what it claims to be.
        ServerError::Read { .. } => Code::InvalidArgument,
        ServerError::Calibration(e) => calibration_code(e),
        ServerError::Weights(e) => weights_code(e),
        ServerError::NotADirectory(_)
        | ServerError::MissingTable { .. }
        | ServerError::AmbiguousTable { .. }
        | ServerError::FailedPrecondition(_) => Code::FailedPrecondition,
        ServerError::Cancelled => Code::Cancelled,
        ServerError::Unauthenticated(_) => Code::Unauthenticated,
        ServerError::PermissionDenied(_) => Code::PermissionDenied,
        ServerError::NotFound(_) => Code::NotFound,
        ServerError::ResourceExhausted(_) => Code::ResourceExhausted,
        // A language not offered is the caller's; stored results that do not make a
        // report are the server's.
        ServerError::Report(dotation_report::ReportError::Lang(_)) => Code::InvalidArgument,
        ServerError::Report(_) => Code::Internal,
        // The server's own disk, catalogue, configuration and bugs.
        ServerError::Io { .. }
        | ServerError::Write { .. }
        | ServerError::Generate(_)
        | ServerError::Arrow(_)
        | ServerError::Config(_)
        | ServerError::Internal(_)
        | ServerError::Catalogue(_) => Code::Internal,
    }
}

fn core_code(e: &CoreError) -> Code {
    match e {
        CoreError::Invalid(_)
        | CoreError::UnknownYear { .. }
        | CoreError::RuleInput(_)
        | CoreError::InvalidOption { .. } => Code::InvalidArgument,
        CoreError::Arrow(_) => Code::Internal,
        _ => Code::Internal,
    }
}

fn weights_code(e: &WeightsError) -> Code {
    match e {
        WeightsError::Settings(_) | WeightsError::Shape(_) => Code::InvalidArgument,
        // Margins the sample cannot reproduce: the request is well formed, the data
        // cannot satisfy it.
        WeightsError::Infeasible { .. } | WeightsError::NotConverged { .. } => {
            Code::FailedPrecondition
        }
        WeightsError::Numerical(_) => Code::Internal,
        _ => Code::Internal,
    }
}

fn calibration_code(e: &CalibrationError) -> Code {
    match e {
        CalibrationError::Spec(_) | CalibrationError::NotIdentified { .. } => Code::InvalidArgument,
        CalibrationError::Solver(e) => match e {
            SolverError::NotIdentified { .. } => Code::InvalidArgument,
            // An infeasible problem: the spec is well formed, the data cannot satisfy it.
            SolverError::NeutralityImpossible { .. }
            | SolverError::Infeasible { .. }
            | SolverError::LonelyStratum { .. } => Code::FailedPrecondition,
            SolverError::Numerical(_) => Code::Internal,
            _ => Code::Internal,
        },
        CalibrationError::Cancelled => Code::Cancelled,
        _ => Code::Internal,
    }
}

impl From<ServerError> for Status {
    fn from(e: ServerError) -> Status {
        let code = code(&e);
        if code == Code::Internal {
            tracing::error!("internal error: {e}");
        }
        Status::new(code, e.to_string())
    }
}
