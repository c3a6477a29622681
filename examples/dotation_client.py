"""A small client of the dotation Flight server, on top of pyarrow.flight.

    from dotation_client import Dotation
    d = Dotation("grpc://127.0.0.1:50051", user="demo", password="demo-password")
    d.upload_dataset("survey", "out/survey")          # departements, services, users, visits
    job = d.submit('kind = "baseline"\ndata = "survey"')
    d.wait(job, on_progress=print)
    services = d.table(job, "services").to_pandas()

Every call carries the bearer token that Handshake returned. Server errors arrive as
pyarrow's Flight exceptions (invalid data: pyarrow.ArrowInvalid, with the validation
report as message; unknown job: pyarrow.ArrowKeyError; not logged in:
pyarrow.flight.FlightUnauthenticatedError).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Optional

import pyarrow as pa
import pyarrow.csv
import pyarrow.flight as flight
import pyarrow.parquet as pq

TABLES = ("departements", "services", "users", "visits")


class JobFailed(RuntimeError):
    """A job ended failed or cancelled; `status` holds the server's status of it."""

    def __init__(self, status: dict):
        super().__init__(f"job {status['id']} {status['state']}: {status.get('error')}")
        self.status = status


class Dotation:
    """A connection to `dotation serve`."""

    def __init__(
        self,
        location: str,
        user: Optional[str] = None,
        password: Optional[str] = None,
        token: Optional[str] = None,
        tls_root_certs: Optional[bytes] = None,
    ):
        kwargs = {}
        if tls_root_certs is not None:
            kwargs["tls_root_certs"] = tls_root_certs
        self.client = flight.FlightClient(location, **kwargs)
        headers = []
        if user is not None:
            headers.append(self.client.authenticate_basic_token(user, password or ""))
        elif token is not None:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        self.options = flight.FlightCallOptions(headers=headers)

    # -- actions ---------------------------------------------------------------------
    def _action(self, kind: str, body: bytes = b""):
        results = list(self.client.do_action(flight.Action(kind, body), options=self.options))
        return json.loads(results[0].body.to_pybytes())

    def submit(self, spec: str) -> str:
        """Submits a job spec (TOML or JSON text); returns the job id."""
        return self._action("submit", spec.encode())["id"]

    def status(self, job: str) -> dict:
        """The job's state, progress (0-1), error and result tables."""
        return self._action("status", job.encode())

    def cancel(self, job: str) -> dict:
        """Cancels a waiting or running job; returns its status."""
        return self._action("cancel", job.encode())

    def jobs(self) -> list:
        """Your jobs' statuses."""
        return self._action("jobs")

    def datasets(self) -> list:
        """Your datasets: tables present, rows, whether complete."""
        return self._action("datasets")

    def wait(
        self,
        job: str,
        poll: float = 0.1,
        timeout: Optional[float] = None,
        on_progress: Optional[Callable[[dict], None]] = None,
    ) -> dict:
        """Polls the job until it is done; raises JobFailed if it failed or was cancelled."""
        start = time.monotonic()
        while True:
            status = self.status(job)
            if on_progress is not None:
                on_progress(status)
            if status["state"] == "done":
                return status
            if status["state"] in ("failed", "cancelled"):
                raise JobFailed(status)
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(f"job {job} still {status['state']} after {timeout} s")
            time.sleep(poll)

    # -- data in -----------------------------------------------------------------------
    def upload_table(self, dataset: str, name: str, table: pa.Table) -> dict:
        """Stores one table of a dataset; returns the server's summary (rows, missing
        tables, complete). Invalid data raise pyarrow.ArrowInvalid with every problem."""
        descriptor = flight.FlightDescriptor.for_path("datasets", dataset, name)
        writer, reader = self.client.do_put(descriptor, table.schema, options=self.options)
        writer.write_table(table)
        writer.done_writing()
        metadata = reader.read()
        writer.close()
        return json.loads(metadata.to_pybytes()) if metadata is not None else {}

    def upload_dataset(self, dataset: str, folder) -> dict:
        """Uploads the four tables of a dataset folder (.parquet, .csv or .arrow files)."""
        folder = Path(folder)
        summary = {}
        for name in TABLES:
            summary = self.upload_table(dataset, name, read_table(folder, name))
        return summary

    # -- results -----------------------------------------------------------------------
    def table(self, job: str, name: str) -> pa.Table:
        """One result table of a finished job."""
        descriptor = flight.FlightDescriptor.for_path("jobs", job, name)
        info = self.client.get_flight_info(descriptor, options=self.options)
        reader = self.client.do_get(info.endpoints[0].ticket, options=self.options)
        return reader.read_all()

    def tables(self, job: str) -> dict:
        """Every result table of a finished job, by name (the summary as a dict)."""
        names = self.status(job)["tables"]
        out = {name: self.table(job, name) for name in names if name != "summary"}
        out["summary"] = self.summary(job)
        return out

    def summary(self, job: str) -> dict:
        """The job's summary.json."""
        return json.loads(self.table(job, "summary").column("summary")[0].as_py())

    def list_flights(self) -> list:
        """(descriptor path, rows) of every dataset table and result table you can fetch."""
        return [
            (tuple(p.decode() if isinstance(p, bytes) else p for p in info.descriptor.path), info.total_records)
            for info in self.client.list_flights(options=self.options)
        ]


def read_table(folder: Path, name: str) -> pa.Table:
    """Reads TABLE.parquet, TABLE.csv (every column as text: the server types and checks
    them, as the command line does) or TABLE.arrow from a folder."""
    for ext in ("parquet", "csv", "arrow"):
        path = folder / f"{name}.{ext}"
        if not path.exists():
            continue
        if ext == "parquet":
            return pq.read_table(path)
        if ext == "arrow":
            with pa.memory_map(str(path)) as source:
                return pa.ipc.open_file(source).read_all()
        with open(path, encoding="utf-8-sig") as f:
            header = f.readline().rstrip("\r\n").split(",")
        types = {c.strip().strip('"'): pa.string() for c in header}
        return pyarrow.csv.read_csv(
            path,
            convert_options=pyarrow.csv.ConvertOptions(column_types=types, strings_can_be_null=True),
        )
    raise FileNotFoundError(f"{folder}: no {name}.parquet, {name}.csv or {name}.arrow")
