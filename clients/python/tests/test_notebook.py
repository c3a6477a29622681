"""The README's notebook session (examples/notebook.py) end to end, and a restart of the
server: jobs and their tables are still served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_the_notebook_session_runs_end_to_end(server, survey, passwords):
    out = subprocess.run(
        [
            sys.executable,
            str(REPO / "examples" / "notebook.py"),
            "--location", server.url,
            "--user", "alice",
            "--password", passwords["alice"],
            "--data", str(survey),
            "--dataset", "notebook",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "OK: the notebook session ran end to end" in out.stdout
    assert "resubmitted: done at once" in out.stdout


def test_after_a_restart_jobs_and_tables_are_still_served(new_server):
    server = new_server()
    server.start()
    with server.connect("alice") as d:
        job = d.submit('kind = "baseline"').wait(timeout=600)
        services = job.table("services")
    server.stop()
    server.start()
    # Session tokens do not survive a restart: log in again.
    with server.connect("alice") as d:
        jobs = d.jobs()
        assert [(j.id, j.last_status.state) for j in jobs] == [(job.id, "done")]
        again = d.job(job.id).table("services")
    assert services.num_rows > 400
    assert again.equals(services)
