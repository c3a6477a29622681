"""The margins of a dataset — the totals its survey weights are calibrated to —
uploaded from a folder or from memory, checked by the server against the services and
users, and a weights job on them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dotation import InvalidInputError, read_table

REPO = Path(__file__).resolve().parents[3]
MARGINS_CSV = REPO / "tests" / "reference" / "weights" / "margins.csv"


def test_a_folder_with_margins_uploads_them_last_and_a_weights_job_runs(alice, survey, tmp_path):
    folder = tmp_path / "weighted"
    folder.mkdir()
    for table in ("departements", "services", "users"):
        shutil.copy(survey / f"{table}.parquet", folder)
    shutil.copy(MARGINS_CSV, folder / "margins.csv")
    summary = alice.upload("weighted", folder)
    assert (summary.table, summary.complete, summary.rows) == ("margins", True, 13)
    tables = {ds.name: ds for ds in alice.datasets()}["weighted"].tables
    assert tables["margins"] == 13

    job = alice.submit(
        {"kind": "weights", "data": "weighted", "weights": {"method": "raking"}}
    ).wait()
    weights = job.table("weights")
    services = pq.ParquetFile(survey / "services.parquet").metadata.num_rows
    assert weights.num_rows == services
    assert weights.column("service_id").to_pylist() == read_table(survey, "services").column(
        "service_id"
    ).to_pylist()
    summary = job.summary()
    assert (summary["method"], summary["margins"], summary["converged"]) == ("raking", 13, True)


def test_margins_in_memory_that_do_not_fit_are_refused_naming_row_and_column(
    alice, survey_dataset
):
    # As the client reads a CSV file: text columns, empty fields null.
    margins = read_table(MARGINS_CSV.parent, "margins")
    variables = margins.column("variable").to_pylist()
    variables[1] = "colour"
    margins = margins.set_column(
        margins.schema.get_field_index("variable"), "variable", pa.array(variables)
    )
    with pytest.raises(InvalidInputError) as e:
        alice.upload(survey_dataset, {"margins": margins})
    message = e.value.message
    assert 'table margins, row 2, column variable, value "colour"' in message, message
    assert "margins" not in {ds.name: ds for ds in alice.datasets()}[survey_dataset].tables


def test_an_unknown_table_is_refused_before_any_upload(alice):
    with pytest.raises(ValueError, match="margins"):
        alice.upload("nothing", {"weights": MARGINS_CSV})
