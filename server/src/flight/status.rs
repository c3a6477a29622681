//! The one place where errors become gRPC statuses, with deliberate codes: bad input
//! (data, specs, requests) is `InvalidArgument`, a state that forbids the request is
//! `FailedPrecondition`, limits are `ResourceExhausted`, and `Internal` is kept for bugs
//! and for the server's own disk and catalogue.

use dotation_core::CoreError;
use dotation_solver::{CalibrationError, SolverError};
use tonic::{Code, Status};

use crate::error::ServerError;

/// The status code of an error.
pub fn code(e: &ServerError) -> Code {
    match e {
        ServerError::Core(CoreError::Invalid(_))
        | ServerError::Core(CoreError::UnknownYear { .. })
        | ServerError::Read { .. }
        | ServerError::Spec(_)
        | ServerError::SpecFile { .. }
        | ServerError::Calibration(CalibrationError::Spec(_))
        | ServerError::Calibration(CalibrationError::NotIdentified { .. })
        | ServerError::BadRequest(_) => Code::InvalidArgument,
        // An infeasible problem: the spec is well formed, the data cannot satisfy it.
        ServerError::Calibration(CalibrationError::Solver(
            SolverError::NeutralityImpossible { .. } | SolverError::Infeasible { .. },
        )) => Code::FailedPrecondition,
        ServerError::Calibration(CalibrationError::Cancelled) => Code::Cancelled,
        ServerError::NotADirectory(_)
        | ServerError::MissingTable { .. }
        | ServerError::AmbiguousTable { .. }
        | ServerError::FailedPrecondition(_) => Code::FailedPrecondition,
        ServerError::Cancelled => Code::Cancelled,
        ServerError::Unauthenticated(_) => Code::Unauthenticated,
        ServerError::PermissionDenied(_) => Code::PermissionDenied,
        ServerError::NotFound(_) => Code::NotFound,
        ServerError::ResourceExhausted(_) => Code::ResourceExhausted,
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
