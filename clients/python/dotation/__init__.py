"""Python client of ``dotation serve``, the Arrow Flight job server of dotation.

Upload survey data, submit calibration jobs, watch their progress and fetch their
result tables as pyarrow Tables (then pandas or polars)::

    from dotation import Dotation

    d = Dotation("grpc://127.0.0.1:50051", user="demo", password="demo-password")
    d.upload("survey", "survey/")              # a folder written by `dotation generate`
    job = d.submit('data = "survey"')          # a job spec: TOML, JSON or a dict
    job.wait(progress=True)
    parameters = job.table("parameters").to_pandas()
    services = job.to_polars("services")

- :class:`Dotation`: the connection (login, ``upload``, ``submit``, ``jobs``,
  ``datasets``);
- :class:`Job`: a job (``wait``, ``table``, ``tables``, ``summary``, ``report``,
  ``cancel``) and :class:`JobStatus`, what the server says of it;
- the errors (:mod:`dotation.errors`): the server's status codes as exceptions
  carrying its message — :class:`InvalidInputError` for data breaking the contract (the
  message names table, row, column and value) or a spec that cannot run (the key to
  change), :class:`AuthenticationError`, :class:`NotFoundError`,
  :class:`JobFailedError`, :class:`JobCancelledError`, all :class:`DotationError`.

Only pyarrow is required; pandas, polars and tqdm (the progress bar) are optional:
``pip install 'dotation-client[pandas,polars,progress]'``.
"""

from . import errors
from .client import Dataset, Dotation, Job, JobStatus, UploadSummary
from .errors import *  # noqa: F403 (the exceptions, errors.__all__)
from .tables import TABLES, read_table

__version__ = "0.1.0"

__all__ = ["Dotation", "Job", "JobStatus", "UploadSummary", "Dataset", "TABLES", "read_table"]
__all__ += errors.__all__
