"""Errors of the dotation client.

The server answers a bad request with a gRPC status whose code says what kind of
problem it is and whose message says where: a validation report names the table, row,
column, value and rule; a spec error names the key to change. Each code becomes one
exception class here, carrying the server's message unchanged (``error.message``) and
the code's name (``error.code``, e.g. ``"InvalidArgument"``).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

import pyarrow as pa
import pyarrow.flight as flight

if TYPE_CHECKING:
    from .client import JobStatus

__all__ = [
    "DotationError",
    "AuthenticationError",
    "InvalidInputError",
    "NotFoundError",
    "FailedPreconditionError",
    "ResourceExhaustedError",
    "ServerUnavailableError",
    "JobFailedError",
    "JobCancelledError",
]


class DotationError(Exception):
    """Any error the server reported, or a call that could not reach it.

    Attributes:
        message: the server's message, unchanged.
        code: the gRPC status code's name (``"InvalidArgument"``, ``"NotFound"``, …),
            ``None`` when the error did not come from a status.
    """

    def __init__(self, message: str, code: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class AuthenticationError(DotationError):
    """Wrong user name or password, an unknown or expired token, or a call the user may
    not make (``Unauthenticated``, ``PermissionDenied``)."""


class InvalidInputError(DotationError, ValueError):
    """Bad input (``InvalidArgument``): data breaking the contract (the message lists
    every problem with its table, row, column and value), a spec that cannot run (the
    key to change), a malformed request."""


class NotFoundError(DotationError, LookupError):
    """No such dataset, job or table for this user (``NotFound``). Other users' jobs and
    datasets are not found either: their existence is not told."""


class FailedPreconditionError(DotationError):
    """The request cannot be served in the current state (``FailedPrecondition``): an
    incomplete dataset, a job not finished yet."""


class ResourceExhaustedError(DotationError):
    """A limit of the server was reached (``ResourceExhausted``): the job queue is full,
    an upload or a spec is too large."""


class ServerUnavailableError(DotationError, ConnectionError):
    """The server could not be reached, or did not answer in time."""


class JobFailedError(DotationError):
    """A job ended ``failed``.

    Attributes:
        status: the job's last status (``status.error`` is the server's message,
            ``status.code`` the code it failed with).
    """

    def __init__(self, status: JobStatus) -> None:
        error = status.error or "no message"
        super().__init__(f"job {status.id} failed ({status.code}): {error}", status.code)
        self.message = error
        self.status = status


class JobCancelledError(DotationError):
    """A job ended ``cancelled`` (by its owner), or its tables were asked for after it was.

    Attributes:
        status: the job's last status, when known.
    """

    def __init__(self, message: str, status: Optional[JobStatus] = None) -> None:
        super().__init__(message, "Cancelled")
        self.status = status


# How pyarrow words a gRPC status: "Flight returned not found error, with message: …",
# "gRPC returned precondition failed error, with message: …", "Flight cancelled call, with
# message: …"; a debug context may follow the server's message.
_STATUS = re.compile(
    r"^(?:Flight|gRPC) (?:returned (?P<kind>[a-z -]+?) error|(?P<cancelled>cancelled) call)"
    r", with message: (?P<message>.*?)(?:\. gRPC client debug context:.*)?$",
    re.DOTALL,
)

_KINDS = {
    "invalid argument": "InvalidArgument",
    "not found": "NotFound",
    "already exists": "AlreadyExists",
    "unauthenticated": "Unauthenticated",
    "unauthorized": "PermissionDenied",
    "precondition failed": "FailedPrecondition",
    "resource exhausted": "ResourceExhausted",
    "out-of-range": "OutOfRange",
    "aborted": "Aborted",
    "internal": "Internal",
    "unavailable": "Unavailable",
    "timeout": "DeadlineExceeded",
    "unimplemented": "Unimplemented",
    "data loss": "DataLoss",
}

# When the message is not worded as above: the code pyarrow's exception class stands for.
_CLASSES = [
    (flight.FlightUnauthenticatedError, "Unauthenticated"),
    (flight.FlightUnauthorizedError, "PermissionDenied"),
    (flight.FlightCancelledError, "Cancelled"),
    (flight.FlightTimedOutError, "DeadlineExceeded"),
    (flight.FlightUnavailableError, "Unavailable"),
    (flight.FlightInternalError, "Internal"),
    (pa.ArrowKeyError, "NotFound"),
    (pa.ArrowInvalid, "InvalidArgument"),
    (pa.ArrowNotImplementedError, "Unimplemented"),
]

_ERRORS = {
    "Unauthenticated": AuthenticationError,
    "PermissionDenied": AuthenticationError,
    "InvalidArgument": InvalidInputError,
    "OutOfRange": InvalidInputError,
    "NotFound": NotFoundError,
    "FailedPrecondition": FailedPreconditionError,
    "Aborted": FailedPreconditionError,
    "ResourceExhausted": ResourceExhaustedError,
    "Unavailable": ServerUnavailableError,
    "DeadlineExceeded": ServerUnavailableError,
}


def from_arrow(e: pa.ArrowException) -> DotationError:
    """The exception for a pyarrow (Flight) error: the server's message and code."""
    text = str(e)
    m = _STATUS.match(text)
    if m is not None:
        code: Optional[str] = "Cancelled" if m["cancelled"] else _KINDS.get(m["kind"], "Unknown")
        message = m["message"].rstrip()
    else:
        code = next((c for cls, c in _CLASSES if isinstance(e, cls)), None)
        message = text
    if code == "Cancelled":
        return JobCancelledError(message)
    return _ERRORS.get(code or "", DotationError)(message, code)


def is_status(e: pa.ArrowException) -> bool:
    """Whether a pyarrow error carries a status the server (or gRPC) sent, rather than
    a failure of the client's own side of the call."""
    return _STATUS.match(str(e)) is not None


@contextmanager
def translated() -> Iterator[None]:
    """Raises pyarrow's errors of the calls inside as the client's exceptions."""
    try:
        yield
    except pa.ArrowException as e:
        raise from_arrow(e) from e
