"""Jobs: submit, wait (with progress), tables in pyarrow, pandas and polars, compared
with the command line's files for the same spec on the same data; bad specs, failed and
cancelled jobs; the report."""

from __future__ import annotations

import json
import time

import polars as pl
import pyarrow.parquet as pq
import pytest

import dotation.progress
from dotation import (
    FailedPreconditionError,
    InvalidInputError,
    JobCancelledError,
    JobFailedError,
    NotFoundError,
)

# A forfait per user-month by GIR band and entourage for HAS and NHAS services separately,
# one point value per département keeping each département's budget, Huber's loss.
SPEC = """data = "survey"

[formula]
kind = "forfait"
regimes = "separate"
groups = ["gir_band", "entourage"]

[calibration]
method = "point_values"
loss = "huber"

[neutrality]
scope = "departement"
"""

SPEC_AS_DICT = {
    "neutrality": {"scope": "departement"},
    "calibration": {"loss": "huber", "method": "point_values"},
    "formula": {
        "groups": ["gir_band", "entourage"],
        "regimes": "separate",
        "kind": "forfait",
    },
    "data": "survey",
}


def baseline_spec(floor: float) -> str:
    """A baseline on the survey with a floor of its own: a job not computed before."""
    return f'kind = "baseline"\ndata = "survey"\n\n[baseline]\nfloor = {floor}\n'


@pytest.fixture(scope="module")
def calibration(alice, survey_dataset):
    """SPEC's job, done."""
    return alice.submit(SPEC).wait(timeout=600)


@pytest.fixture(scope="module")
def cli_calibration(cli, survey, tmp_path_factory):
    """The command line's result of SPEC on the survey's folder."""
    out = tmp_path_factory.mktemp("cli")
    (out / "spec.toml").write_text(SPEC.replace('data = "survey"\n', ""))
    cli("--quiet", "calibrate", "--data", survey, "--spec", out / "spec.toml", "--out", out / "result")
    return out / "result"


def test_tables_are_those_the_command_line_writes(calibration, cli_calibration):
    status = calibration.last_status
    assert (status.state, status.progress, status.error) == ("done", 1.0, None)
    assert set(calibration.table_names) >= {"parameters", "services", "departements", "summary"}
    for name in ("parameters", "services", "departements", "impact", "users", "out_of_pocket"):
        ours = calibration.table(name)
        theirs = pq.read_table(cli_calibration / f"{name}.parquet")
        assert ours.column_names == theirs.column_names, name
        assert ours.to_pylist() == theirs.to_pylist(), name
    summary = calibration.summary()
    cli_summary = json.loads((cli_calibration / "summary.json").read_text())
    assert summary["neutrality_residual"] == cli_summary["neutrality_residual"]
    assert summary["neutrality_residual"] <= 1e-9


def test_tables_in_pandas_and_polars(calibration):
    services = calibration.table("services").to_pandas()
    assert len(services) == 437
    # Per-département neutrality: each département's weighted funding is its baseline.
    by_dep = (
        services.assign(f=services.funding * services.weight, b=services.baseline * services.weight)
        .groupby("departement")[["f", "b"]]
        .sum()
    )
    assert ((by_dep.f - by_dep.b).abs() <= 1e-9 * by_dep.b.abs()).all()

    frame = calibration.to_polars("services")
    assert isinstance(frame, pl.DataFrame)
    assert frame.columns == list(services.columns)
    assert frame["funding"].to_list() == services["funding"].tolist()
    totals = frame.group_by("departement").agg(
        (pl.col("funding") * pl.col("weight")).sum().alias("f"),
        (pl.col("baseline") * pl.col("weight")).sum().alias("b"),
    )
    assert ((totals["f"] - totals["b"]).abs() <= 1e-9 * totals["b"].abs()).all()

    parameters = calibration.to_pandas("parameters")
    assert list(parameters.columns) == [
        "parameter", "unit", "estimate", "std_error", "ci_low", "ci_high"
    ]
    assert parameters["parameter"].str.startswith(("HAS:", "NHAS:")).all()
    tables = calibration.tables()
    assert list(tables) == list(calibration.table_names)
    assert tables["parameters"].to_pandas().equals(parameters)


def test_the_same_spec_as_json_is_done_at_once(alice, calibration):
    again = alice.submit(SPEC_AS_DICT)
    assert again.id != calibration.id
    assert again.last_status.state == "done"
    assert again.last_status.result_key == calibration.last_status.result_key
    assert again.wait() is again


def test_jobs_lists_your_jobs_oldest_first(alice, calibration):
    jobs = alice.jobs()
    assert calibration.id in [j.id for j in jobs]
    assert [j.last_status.submitted for j in jobs] == sorted(j.last_status.submitted for j in jobs)
    assert [j.id for j in alice.jobs(limit=1)] == [jobs[-1].id]
    assert alice.job(calibration.id).last_status.state == "done"


def test_progress_bar_without_tqdm_is_a_line_on_stderr(alice, survey_dataset, monkeypatch, capsys):
    monkeypatch.setattr(dotation.progress, "_tqdm_class", lambda: None)
    job = alice.submit(baseline_spec(23.1)).wait(progress=True)
    err = capsys.readouterr().err
    assert err.endswith(f"\rjob {job.id[:8]}: done      100%\n"), err
    assert f"job {job.id[:8]}: " in err.split("\r")[1]


def test_progress_bar_with_tqdm(alice, survey_dataset, capsys):
    pytest.importorskip("tqdm")
    job = alice.submit(baseline_spec(23.2)).wait(progress=True)
    err = capsys.readouterr().err
    last = err.rstrip().split("\r")[-1]
    assert last.startswith(f"job {job.id[:8]}: 100%|"), err
    assert last.endswith(", done]"), err


def test_progress_callback_sees_each_status(alice, survey_dataset):
    seen = []
    job = alice.submit(baseline_spec(23.3)).wait(progress=seen.append)
    assert seen[-1] == job.last_status
    assert (seen[-1].state, seen[-1].progress) == ("done", 1.0)
    assert all(0.0 <= s.progress <= 1.0 for s in seen)
    assert {s.state for s in seen} <= {"queued", "running", "done"}


def test_a_bad_spec_is_refused_naming_the_key(alice):
    with pytest.raises(InvalidInputError) as e:
        alice.submit('[calibration]\nloss = "median"\nbootstrap = 1\n')
    assert e.value.code == "InvalidArgument"
    assert e.value.message == (
        "job spec, calibration.bootstrap: the median loss's standard errors come from a "
        "bootstrap by service: give at least 2 replicates (200 by default)"
    )
    with pytest.raises(InvalidInputError) as e:
        alice.submit('formulaa = "forfait"\n')
    assert e.value.message.startswith("the job spec is not valid TOML: TOML parse error at line 1")
    assert "unknown field `formulaa`, expected one of `kind`, `data`" in e.value.message


def test_a_spec_on_a_dataset_you_do_not_have(alice):
    with pytest.raises(NotFoundError) as e:
        alice.submit('data = "nothere"')
    assert e.value.message.startswith('no dataset "nothere"')


def test_a_job_failing_on_its_data_raises_job_failed(alice, census_dataset):
    spec = {"data": census_dataset, "formula": {"kind": "globale", "drivers": ["users", "travel_km"]}}
    job = alice.submit(spec)
    with pytest.raises(JobFailedError) as e:
        job.wait()
    assert e.value.code == "InvalidArgument"
    assert e.value.status.state == "failed"
    assert e.value.message.startswith(
        "job spec, formula.drivers: travel_km is computed from visits, and the dataset has no visits table"
    )
    with pytest.raises(JobFailedError):
        job.table("parameters")


def test_a_job_failing_on_its_spec_names_what_is_known(alice):
    job = alice.submit('[formula]\nkind = "forfait"\ngroups = ["allowance", "colour"]\n')
    with pytest.raises(JobFailedError) as e:
        job.wait()
    assert e.value.message == (
        'job spec, formula.groups: unknown user attribute "colour"; known: allowance, gir_band, '
        "gir, entourage, entourage_level, zone, rurality, pch_band, weekend_evening"
    )


def slow_spec(seed: int) -> str:
    """A job that runs for minutes: a median fit with 20,000 bootstrap replicates."""
    return f'[calibration]\nloss = "median"\nbootstrap = 20000\nseed = {seed}\n'


def test_cancel_a_running_and_a_queued_job(alice):
    running = alice.submit(slow_spec(11))
    deadline = time.monotonic() + 120
    while running.status().state != "running":
        assert running.last_status.state == "queued" and time.monotonic() < deadline
        time.sleep(0.05)
    # The server runs one job at a time: the next one waits.
    queued = alice.submit(slow_spec(12))
    assert queued.last_status.state == "queued"
    with pytest.raises(FailedPreconditionError) as e:
        running.table("parameters")
    assert e.value.message == f"job {running.id} is running: poll it until it is done"

    assert queued.cancel().state == "cancelled"
    assert running.cancel().state == "cancelled"
    for job in (running, queued):
        with pytest.raises(JobCancelledError) as e:
            job.wait()
        assert e.value.status.error == "cancelled by its owner"
        with pytest.raises(JobCancelledError):
            job.table("parameters")
    # Cancelling a finished job leaves it as it is; the queue goes on with the next job.
    assert running.cancel().state == "cancelled"
    assert alice.submit(baseline_spec(23.4)).wait(timeout=300).last_status.state == "done"


def test_report_is_a_self_contained_html_file(calibration, tmp_path):
    path = calibration.report(tmp_path / "report.html")
    assert path == tmp_path / "report.html"
    html = path.read_text(encoding="utf-8")
    assert html.lstrip().lower().startswith("<!doctype html"), html[:200]
    assert "</html>" in html.lower()
    assert 'src="http' not in html  # self-contained: no script or image fetched
    assert 'data-field="r2"' in html and "<svg" in html
    assert calibration.report(tmp_path) == tmp_path / f"{calibration.id}.html"
    assert (tmp_path / f"{calibration.id}.html").read_text(encoding="utf-8") == html


def test_a_sweep_and_a_comparison_are_jobs_with_their_tables(alice, survey_dataset, tmp_path):
    sweep = alice.submit(
        'kind = "sweep"\ndata = "survey"\n\n[sweep]\n'
        "grid = { budget_change_percent = [-5, 0, 5], transition_limit = [0.05, 0.1] }\n"
    ).wait(timeout=600)
    scenarios = sweep.table("scenarios").to_pandas()
    assert len(scenarios) == 6
    assert scenarios["feasible"].all()
    # Each scenario's formula pays its baseline changed by the budget change (1e-9).
    want = scenarios["formula_baseline_total"] * (1 + scenarios["budget_change_percent"] / 100)
    assert ((scenarios["formula_funding_total"] - want).abs() / want).max() <= 1e-9
    assert set(sweep.table("parameters").column_names) == {"scenario", "parameter", "estimate"}
    assert "sweep-losers" in sweep.report(tmp_path / "sweep.html").read_text(encoding="utf-8")

    compare = alice.submit(
        'kind = "compare"\ndata = "survey"\n\n[cross_validation]\nfolds = 5\n\n'
        '[[candidates]]\nname = "forfait"\n\n'
        '[[candidates]]\nname = "globale"\nformula = { kind = "globale", drivers = ["hours_funded", "users"] }\n'
    ).wait(timeout=600)
    candidates = pl.from_arrow(compare.table("candidates"))
    assert candidates["candidate"].to_list() == ["forfait", "globale"]
    assert candidates["cv_rmse"].null_count() == 0
