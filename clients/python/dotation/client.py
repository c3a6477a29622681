"""The connection to ``dotation serve`` (:class:`Dotation`) and its jobs (:class:`Job`).

On the wire (the server's ``ARCHITECTURE.md`` and README describe it): ``Handshake``
with a user name and password returns a bearer token sent with every call; ``DoPut`` to
``["datasets", NAME, TABLE]`` stores a table; the actions ``submit``, ``status``,
``cancel``, ``jobs``, ``datasets`` and ``report`` take and return JSON; a result table is
``GetFlightInfo(["jobs", ID, TABLE])`` then ``DoGet`` of its ticket.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Dict,
    List,
    Mapping,
    Optional,
    Tuple,
    Union,
)

import pyarrow as pa
import pyarrow.flight as flight

from .errors import (
    AuthenticationError,
    DotationError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
    ServerUnavailableError,
    from_arrow,
    is_status,
    translated,
)
from .progress import ProgressBar
from .tables import MARGINS, TABLES, TableLike, folder_tables, record_batches, sliced

if TYPE_CHECKING:
    import pandas
    import polars

__all__ = ["Dotation", "Job", "JobStatus", "UploadSummary", "Dataset"]

#: The states a job ends in.
FINAL_STATES = ("done", "failed", "cancelled")

Spec = Union[str, Mapping[str, Any], "os.PathLike[str]"]
Progress = Union[bool, Callable[["JobStatus"], None]]


@dataclass(frozen=True)
class JobStatus:
    """What the server says of a job at one moment.

    Attributes:
        id: the job id (32 hex digits).
        state: ``queued``, ``running``, ``done``, ``failed`` or ``cancelled``.
        progress: from 0 to 1.
        error: why it failed or was cancelled (the server's message), else ``None``.
        code: the status code it failed with (``"InvalidArgument"``, …), else ``None``.
        dataset: the dataset it runs on (``"embedded"``: the embedded survey).
        tables: its result tables, once done.
        result_key: the key of its result (the same spec on the same data shares it).
        submitted: its number among the server's jobs.
    """

    id: str
    state: str
    progress: float
    error: Optional[str]
    code: Optional[str]
    dataset: str
    tables: Tuple[str, ...]
    result_key: str
    submitted: int
    raw: Dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> JobStatus:
        return cls(
            id=d["id"],
            state=d["state"],
            progress=float(d.get("progress") or 0.0),
            error=d.get("error"),
            code=d.get("code"),
            dataset=d.get("dataset") or "embedded",
            tables=tuple(d.get("tables") or ()),
            result_key=d.get("result_key") or "",
            submitted=int(d.get("submitted") or 0),
            raw=d,
        )

    @property
    def finished(self) -> bool:
        """Whether the job has ended (done, failed or cancelled)."""
        return self.state in FINAL_STATES


@dataclass(frozen=True)
class UploadSummary:
    """What an upload did.

    Attributes:
        dataset: the dataset's name.
        table: the table stored.
        rows: rows stored.
        missing: tables still missing before jobs can use the dataset.
        complete: whether départements, services and users are in (and valid together,
            with the visits if there are any).
        visits: whether the dataset has visits.
    """

    dataset: str
    table: str
    rows: int
    missing: Tuple[str, ...]
    complete: bool
    visits: bool

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> UploadSummary:
        return cls(
            dataset=d["dataset"],
            table=d["table"],
            rows=int(d["rows"]),
            missing=tuple(d.get("missing") or ()),
            complete=bool(d["complete"]),
            visits=bool(d.get("visits")),
        )


@dataclass(frozen=True)
class Dataset:
    """One of your datasets on the server.

    Attributes:
        name: its name.
        tables: rows of each table stored.
        complete: whether jobs can use it.
    """

    name: str
    tables: Dict[str, int]
    complete: bool


class Dotation:
    """A connection to ``dotation serve``::

        d = Dotation("grpc://127.0.0.1:50051", user="demo", password="demo-password")
        d.upload("survey", "survey/")          # a folder written by `dotation generate`
        job = d.submit('data = "survey"').wait(progress=True)
        job.table("parameters").to_pandas()

    Args:
        url: the server's location, ``grpc://HOST:PORT`` or ``grpc+tls://HOST:PORT``
            (``HOST:PORT`` alone means ``grpc://``).
        user: a user name of the server's configuration; with ``password``, logs in
            (``Handshake``) and keeps the session token.
        password: the user's password.
        token: a bearer token instead of a user and password: a static token of the
            server's configuration, or the ``token`` of another connection.
        tls_root_certs: PEM certificates to trust for ``grpc+tls`` (a server with a
            certificate of its own).
        timeout: seconds after which a call is abandoned (``None``: no limit).
        max_batch_bytes: record batches larger than this are sent in slices (one gRPC
            message carries one batch; the server's ``limits.max_message_bytes``, 64 MiB
            by default, bounds it).

    Raises:
        AuthenticationError: wrong user name or password.
        ServerUnavailableError: no server answers at ``url``.
    """

    def __init__(
        self,
        url: str,
        *,
        user: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
        tls_root_certs: Optional[bytes] = None,
        timeout: Optional[float] = None,
        max_batch_bytes: int = 16 << 20,
    ) -> None:
        if user is not None and token is not None:
            raise ValueError("give either user and password, or token, not both")
        if user is not None and password is None:
            raise ValueError(f"user {user!r} needs a password")
        if "://" not in url:
            url = f"grpc://{url}"
        self.url = url
        self.max_batch_bytes = max_batch_bytes
        kwargs: Dict[str, Any] = {}
        if tls_root_certs is not None:
            kwargs["tls_root_certs"] = tls_root_certs
        with translated():
            self._client = flight.FlightClient(url, **kwargs)
        self._token: Optional[str] = None
        if user is not None:
            try:
                _, value = self._client.authenticate_basic_token(
                    user, password or "", options=flight.FlightCallOptions(timeout=timeout)
                )
            except pa.ArrowException as e:
                if is_status(e):
                    raise from_arrow(e) from e
                # pyarrow's Handshake reports a connection that failed as its own error.
                raise ServerUnavailableError(f"cannot log in at {url}: {e}") from e
            self._token = value.decode().split(" ", 1)[1]
        elif token is not None:
            self._token = token
        headers = [(b"authorization", f"Bearer {self._token}".encode())] if self._token else []
        self._options = flight.FlightCallOptions(headers=headers, timeout=timeout)

    # -- the connection ----------------------------------------------------------------

    @property
    def token(self) -> Optional[str]:
        """The bearer token the calls carry (valid until the server restarts or the
        token expires), ``None`` on an anonymous connection."""
        return self._token

    @property
    def flight_client(self) -> flight.FlightClient:
        """The underlying ``pyarrow.flight.FlightClient``, for calls this package does
        not wrap; pass :attr:`call_options` with each."""
        return self._client

    @property
    def call_options(self) -> flight.FlightCallOptions:
        """The call options carrying the bearer token (and the timeout)."""
        return self._options

    def close(self) -> None:
        """Closes the connection."""
        self._client.close()

    def __enter__(self) -> Dotation:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Dotation({self.url!r})"

    def _action(self, kind: str, body: Union[bytes, str] = b"") -> bytes:
        """Runs an action; returns the body of its results, joined."""
        if isinstance(body, str):
            body = body.encode()
        with translated():
            results = self._client.do_action(flight.Action(kind, body), options=self._options)
            return b"".join(r.body.to_pybytes() for r in results)

    def _json_action(self, kind: str, body: Union[bytes, str] = b"") -> Any:
        return json.loads(self._action(kind, body))

    # -- data in -----------------------------------------------------------------------

    def upload(
        self, name: str, data: Union[str, "os.PathLike[str]", Mapping[str, TableLike]]
    ) -> UploadSummary:
        """Uploads a dataset: a folder (``departements``, ``services``, ``users`` and
        optionally ``visits``, each as ``.parquet``, ``.csv`` or ``.arrow`` — what
        ``dotation generate`` writes — and optionally ``margins``, the totals its survey
        weights are calibrated to), or tables by name (pyarrow Tables or
        RecordBatchReaders, pandas or polars DataFrames, file paths).

        Each table is validated by the server on arrival, against the tables already
        stored; a table that breaks the data contract is refused and not stored. The
        margins are uploaded last, and checked against the services and users.

        Returns:
            The summary of the last upload (whether the dataset is complete).

        Raises:
            InvalidInputError: a table breaks the data contract; the message lists every
                problem with its table, row, column, value and rule.
            FileNotFoundError: the folder lacks one of the three required tables.
        """
        if isinstance(data, (str, os.PathLike)):
            items: List[Tuple[str, TableLike]] = list(folder_tables(data))
        else:
            names = (*TABLES, MARGINS)
            unknown = [t for t in data if t not in names]
            if unknown:
                raise ValueError(
                    f"unknown table {', '.join(map(repr, unknown))}: a dataset holds "
                    f"{', '.join(TABLES)}, and {MARGINS}"
                )
            items = [(t, data[t]) for t in names if t in data]
        if not items:
            raise ValueError("nothing to upload")
        summary = None
        for table, value in items:
            summary = self.upload_table(name, table, value)
        assert summary is not None
        return summary

    def upload_table(self, dataset: str, table: str, data: TableLike) -> UploadSummary:
        """Uploads one table of a dataset (``DoPut`` to ``["datasets", DATASET,
        TABLE]``), streamed batch by batch.

        Raises:
            InvalidInputError: the table breaks the data contract (the message names the
                table, row, column, value and rule of every problem).
        """
        schema, batches = record_batches(data)
        descriptor = flight.FlightDescriptor.for_path("datasets", dataset, table)
        with translated():
            writer, reader = self._client.do_put(descriptor, schema, options=self._options)
        try:
            for batch in sliced(batches, self.max_batch_bytes):
                writer.write_batch(batch)
            writer.done_writing()
            metadata = reader.read()
        except pa.ArrowException as sending:
            # The server may have ended the call with its answer: closing returns it.
            try:
                writer.close()
            except pa.ArrowException as answer:
                raise from_arrow(answer) from sending
            raise from_arrow(sending) from sending
        with translated():
            writer.close()
        if metadata is None:
            raise DotationError(f"the server did not acknowledge the upload of {table}")
        return UploadSummary.from_json(json.loads(metadata.to_pybytes()))

    def datasets(self) -> List[Dataset]:
        """Your datasets: the tables stored and their rows, whether complete."""
        return [
            Dataset(d["name"], {k: int(v) for k, v in d["tables"].items()}, bool(d["complete"]))
            for d in self._json_action("datasets")
        ]

    # -- jobs --------------------------------------------------------------------------

    def submit(self, spec: Spec) -> Job:
        """Submits a job.

        Args:
            spec: the job spec — TOML or JSON text (the server's ``docs/spec.md``), a
                dict (sent as JSON), or the path of a spec file. Its ``data`` names an
                uploaded dataset (absent: the embedded survey).

        Returns:
            The job, queued (or done at once when the same spec already ran on the same
            data).

        Raises:
            InvalidInputError: the spec cannot run; the message names the key to change.
            NotFoundError: the spec's dataset does not exist.
            FailedPreconditionError: the dataset is incomplete.
            ResourceExhaustedError: the queue is full.
        """
        if isinstance(spec, os.PathLike):
            text = Path(spec).read_text(encoding="utf-8")
        elif isinstance(spec, Mapping):
            text = json.dumps(spec)
        else:
            text = spec
        return Job(self, JobStatus.from_json(self._json_action("submit", text)))

    def job(self, id: str) -> Job:
        """One of your jobs, by id.

        Raises:
            NotFoundError: no such job of yours.
        """
        return Job(self, self._status(id))

    def jobs(self, limit: Optional[int] = None) -> List[Job]:
        """Your most recent jobs, oldest first (100 unless ``limit`` says up to
        10,000)."""
        body = json.dumps({"limit": limit}) if limit is not None else ""
        return [Job(self, JobStatus.from_json(s)) for s in self._json_action("jobs", body)]

    def _status(self, id: str) -> JobStatus:
        return JobStatus.from_json(self._json_action("status", id))


class Job:
    """A job on the server. :meth:`wait` for it, then fetch its tables.

    Attributes:
        id: the job id.
        last_status: the status last received (refreshed by :meth:`status`,
            :meth:`wait` and :meth:`cancel`).
    """

    def __init__(self, client: Dotation, status: JobStatus) -> None:
        self._client = client
        self.id = status.id
        self.last_status = status

    def __repr__(self) -> str:
        s = self.last_status
        return f"<Job {self.id} {s.state} {s.progress:.0%}>"

    def status(self) -> JobStatus:
        """The job's current status."""
        self.last_status = self._client._status(self.id)
        return self.last_status

    def wait(
        self,
        progress: Progress = False,
        timeout: Optional[float] = None,
        poll: float = 0.25,
    ) -> Job:
        """Waits until the job has ended.

        Args:
            progress: ``True`` shows a progress bar (tqdm when installed, else a line on
                standard error); a function is called with each status instead.
            timeout: seconds after which to give up (``TimeoutError``); the job goes on.
            poll: the longest pause between two polls, in seconds (polls start fast
                and slow down to it).

        Returns:
            The job itself, done: ``job.wait().table("parameters")``.

        Raises:
            JobFailedError: the job failed (its ``status.error`` says why).
            JobCancelledError: the job was cancelled.
            TimeoutError: still running after ``timeout`` seconds.
        """
        bar = ProgressBar(f"job {self.id[:8]}") if progress is True else None
        report = bar.update if bar is not None else (progress or None)
        start = time.monotonic()
        pause = min(0.02, poll)
        try:
            while True:
                status = self.status() if not self.last_status.finished else self.last_status
                if callable(report):
                    report(status)
                if status.finished:
                    break
                if timeout is not None and time.monotonic() - start > timeout:
                    raise TimeoutError(f"job {self.id} still {status.state} after {timeout} s")
                time.sleep(pause)
                pause = min(poll, pause * 1.5)
        finally:
            if bar is not None:
                bar.close()
        return self._checked(status)

    def _checked(self, status: JobStatus) -> Job:
        if status.state == "failed":
            raise JobFailedError(status)
        if status.state == "cancelled":
            raise JobCancelledError(
                f"job {self.id} was cancelled: {status.error or 'no message'}", status
            )
        return self

    def cancel(self) -> JobStatus:
        """Cancels the job if it is waiting or running (a finished job is left as it
        is); returns its status."""
        self.last_status = JobStatus.from_json(self._client._json_action("cancel", self.id))
        return self.last_status

    # -- results -----------------------------------------------------------------------

    @property
    def table_names(self) -> Tuple[str, ...]:
        """The job's result tables (empty until it is done)."""
        if not self.last_status.finished:
            self.status()
        return self.last_status.tables

    def table(self, name: str) -> pa.Table:
        """A result table (``parameters``, ``services``, ``departements``, ``impact``,
        ``users``, ``out_of_pocket``, ``groups``, ``summary`` of a calibration; see
        :attr:`table_names`) as a pyarrow Table: ``.to_pandas()``, or
        ``polars.from_arrow(...)``.

        Raises:
            NotFoundError: no such table, or no such job of yours.
            FailedPreconditionError: the job is not done yet.
            JobCancelledError: the job was cancelled.
        """
        c = self._client
        descriptor = flight.FlightDescriptor.for_path("jobs", self.id, name)
        try:
            with translated():
                info = c._client.get_flight_info(descriptor, options=c._options)
                return pa.concat_tables(
                    c._client.do_get(e.ticket, options=c._options).read_all()
                    for e in info.endpoints
                )
        except (NotFoundError, AuthenticationError):
            raise
        except DotationError:
            # A job that failed or was cancelled says so, with the reason.
            self._checked(self.status())
            raise

    def tables(self) -> Dict[str, pa.Table]:
        """Every result table, by name."""
        return {name: self.table(name) for name in self.table_names}

    def to_pandas(self, name: str) -> pandas.DataFrame:
        """A result table as a pandas DataFrame (``pip install dotation-client[pandas]``)."""
        try:
            import pandas  # noqa: F401
        except ImportError as e:
            raise ImportError("to_pandas needs pandas: pip install 'dotation-client[pandas]'") from e
        frame: pandas.DataFrame = self.table(name).to_pandas()
        return frame

    def to_polars(self, name: str) -> polars.DataFrame:
        """A result table as a polars DataFrame (``pip install dotation-client[polars]``)."""
        try:
            import polars
        except ImportError as e:
            raise ImportError(
                "to_polars needs polars: pip install 'dotation-client[polars]'"
            ) from e
        frame = polars.from_arrow(self.table(name))
        assert isinstance(frame, polars.DataFrame)
        return frame

    def summary(self) -> Dict[str, Any]:
        """The job's ``summary.json`` (for a calibration: neutrality residual, fit,
        guarantees, provenance)."""
        summary: Dict[str, Any] = json.loads(self.table("summary").column("summary")[0].as_py())
        return summary

    def report(self, path: Union[str, "os.PathLike[str]"], lang: str = "fr") -> Path:
        """Writes the job's report, a self-contained HTML file.

        Args:
            path: the file to write (a folder: ``JOB_ID.html`` in it).
            lang: the report's language.

        Returns:
            The file written.
        """
        body = self._client._action("report", json.dumps({"job": self.id, "lang": lang}))
        target = Path(path)
        if target.is_dir():
            target = target / f"{self.id}.html"
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(body)
        partial.replace(target)
        return target
