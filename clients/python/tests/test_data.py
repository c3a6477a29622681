"""Uploads: a folder, tables in memory (pyarrow, pandas, polars, streams), and the
server's validation report when a table breaks the contract."""

from __future__ import annotations

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dotation import TABLES, FailedPreconditionError, InvalidInputError, read_table


def rows(folder, table):
    return pq.ParquetFile(folder / f"{table}.parquet").metadata.num_rows


def datasets_of(d):
    return {ds.name: ds for ds in d.datasets()}


def test_a_folder_is_uploaded_whole(alice, survey, survey_dataset):
    ds = datasets_of(alice)[survey_dataset]
    assert ds.complete
    assert ds.tables == {t: rows(survey, t) for t in TABLES}


def test_a_folder_of_mixed_formats_without_visits_is_census_data(alice, survey, census_dataset):
    ds = datasets_of(alice)[census_dataset]
    assert ds.complete
    assert ds.tables == {t: rows(survey, t) for t in ("departements", "services", "users")}


def test_tables_in_memory_pandas_polars_pyarrow_and_streams(alice, survey):
    visits = pq.read_table(survey / "visits.parquet").combine_chunks()
    # One record batch larger than a gRPC message may be (64 MiB): the client slices it.
    assert visits.nbytes > 64 << 20 and len(visits.to_batches()) == 1
    users = pq.ParquetFile(survey / "users.parquet")
    summary = alice.upload(
        "frames",
        {
            "departements": pd.read_parquet(survey / "departements.parquet"),
            "services": pl.read_parquet(survey / "services.parquet"),
            "users": pa.RecordBatchReader.from_batches(
                users.schema_arrow, users.iter_batches(batch_size=10_000)
            ),
            "visits": visits,
        },
    )
    assert (summary.table, summary.complete, summary.visits) == ("visits", True, True)
    assert summary.rows == visits.num_rows
    assert datasets_of(alice)["frames"].tables == {t: rows(survey, t) for t in TABLES}


def test_a_table_breaking_the_contract_is_refused_naming_row_and_column(alice, survey):
    alice.upload_table("broken", "departements", survey / "departements.parquet")
    services = read_table(survey, "services")
    departement = services.column("departement").to_pylist()
    departement[5] = "999"
    cost = services.column("cost_total").to_pylist()
    cost[7] = -5.0
    services = services.set_column(
        services.schema.get_field_index("departement"), "departement", pa.array(departement)
    ).set_column(services.schema.get_field_index("cost_total"), "cost_total", pa.array(cost))
    with pytest.raises(InvalidInputError) as e:
        alice.upload_table("broken", "services", services)
    assert e.value.code == "InvalidArgument"
    message = e.value.message
    assert message.startswith("3 problems in the input data:"), message
    assert (
        'table services, row 6, column departement, value "999": '
        "no row of departements has this departement"
    ) in message
    assert 'table services, row 8, column cost_total, value "-5": the value must be ≥ 0' in message
    assert "gRPC" not in message
    # Nothing of the refused table was stored.
    assert datasets_of(alice)["broken"].tables == {"departements": rows(survey, "departements")}


def test_an_incomplete_dataset_cannot_run_a_job(alice, survey):
    alice.upload_table("partial", "departements", survey / "departements.parquet")
    with pytest.raises(FailedPreconditionError) as e:
        alice.submit('kind = "baseline"\ndata = "partial"')
    assert e.value.message == 'dataset "partial" is incomplete: upload services, users'


def test_a_folder_without_a_required_table_uploads_nothing(alice, survey, tmp_path):
    (tmp_path / "departements.parquet").write_bytes((survey / "departements.parquet").read_bytes())
    with pytest.raises(FileNotFoundError, match="no file for table services, users"):
        alice.upload("lacking", tmp_path)
    assert "lacking" not in datasets_of(alice)


def test_an_unknown_table_is_refused_before_uploading(alice, survey):
    with pytest.raises(ValueError, match="unknown table 'visit'"):
        alice.upload("typo", {"departements": survey / "departements.parquet", "visit": survey})
    assert "typo" not in datasets_of(alice)
