"""Peer benchmark on a generated dataset folder: dotation end to end against DuckDB and
polars' streaming engine computing only the visit drivers, in the same run.

What is measured, each in a fresh subprocess under `/usr/bin/time -v` (wall time from the
parent, peak RSS from time's "Maximum resident set size"), median over REPEATS runs:

- DuckDB (`SET threads=N`): two GROUP BY queries over read_parquet(DIR/visits.parquet),
  per service and per user, each materialised fully as an Arrow table;
- polars (POLARS_MAX_THREADS=N): a lazy scan_parquet with the same two group_by/agg,
  collected with the streaming engine (`engine="streaming"`, `streaming=True` on old
  polars);
- dotation `--threads N calibrate --data DIR --out TMP`: end to end (read the four
  tables, validate the contract, compute the drivers, fit, write the results);
- dotation `--threads N validate DIR`: reading and validating the four tables.

The peers compute only the 13 visit drivers (per group, h = duration_min / 60): visits,
hours, hours_{weekday,evening,sunday_holiday,night}, carer_hours (h x carers),
double_staffed_hours (h where carers = 2), hours_qualification_{a,b,c}, travel_min,
travel_km. Their wall time includes the interpreter's start and imports, as dotation's
includes its process start; the in-process query time is shown beside it. Ratios are
time / dotation calibrate's time; peak RSS is the largest over the repeats. The visits
file is read once before timing, so every run starts with a warm page cache.

Correctness: DuckDB's per-service drivers are compared with dotation's drivers.parquet
from `dotation baseline --data DIR --out TMP` (max relative difference per column).

A tool that fails (non-zero exit, killed, e.g. out of memory) is reported as failed with
the tail of its stderr and not repeated; the script exits 1 if any tool failed, never
because of a timing.

Usage (benches/peer/national.sh makes the venv, the binary and the data):
    python benches/peer/national.py DIR [--repeats 3] [--threads 2] [--dotation PATH]
The child side, run by the parent: python national.py --peer {duckdb,polars} DIR
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIME = "/usr/bin/time"
SLOTS = ("weekday", "evening", "sunday_holiday", "night")
QUALIFICATIONS = ("A", "B", "C")
DRIVERS = (
    ["visits", "hours"]
    + [f"hours_{s}" for s in SLOTS]
    + ["carer_hours", "double_staffed_hours"]
    + [f"hours_qualification_{q.lower()}" for q in QUALIFICATIONS]
    + ["travel_min", "travel_km"]
)
KEYS = ("service_id", "user_id")


# ---------------------------------------------------------------- peers (child side)


def duckdb_sql(path, key):
    """The 13 drivers per `key` in DuckDB's SQL."""
    h = "duration_min / 60.0"
    cols = ["count(*) AS visits", f"sum({h}) AS hours"]
    cols += [f"coalesce(sum({h}) FILTER (WHERE slot = '{s}'), 0) AS hours_{s}" for s in SLOTS]
    cols += [
        f"sum({h} * carers) AS carer_hours",
        f"coalesce(sum({h}) FILTER (WHERE carers = 2), 0) AS double_staffed_hours",
    ]
    cols += [
        f"coalesce(sum({h}) FILTER (WHERE qualification = '{q}'), 0) AS hours_qualification_{q.lower()}"
        for q in QUALIFICATIONS
    ]
    cols += ["sum(travel_min) AS travel_min", "sum(travel_km) AS travel_km"]
    source = "read_parquet('" + str(path).replace("'", "''") + "')"
    return f"SELECT {key}, {', '.join(cols)} FROM {source} GROUP BY {key}"


def duckdb_connect(threads):
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads = {threads}")
    return con


def duckdb_drivers(con, path, key):
    """Runs the query and materialises the whole result as an Arrow table."""
    relation = con.sql(duckdb_sql(path, key))
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow  # duckdb < 1.4
    return fetch()


def run_duckdb(path, threads):
    import duckdb

    con = duckdb_connect(threads)
    t0 = time.perf_counter()
    rows = {key: duckdb_drivers(con, path, key).num_rows for key in KEYS}
    seconds = time.perf_counter() - t0
    used = con.execute("SELECT current_setting('threads')").fetchone()[0]
    return {"seconds": seconds, "rows": rows, "threads": used, "version": duckdb.__version__}


def polars_drivers(lf, key):
    import polars as pl

    h = pl.col("duration_min") / 60.0
    aggs = [pl.len().alias("visits"), h.sum().alias("hours")]
    aggs += [(h * (pl.col("slot") == s)).sum().alias(f"hours_{s}") for s in SLOTS]
    aggs += [
        (h * pl.col("carers")).sum().alias("carer_hours"),
        (h * (pl.col("carers") == 2)).sum().alias("double_staffed_hours"),
    ]
    aggs += [
        (h * (pl.col("qualification") == q)).sum().alias(f"hours_qualification_{q.lower()}")
        for q in QUALIFICATIONS
    ]
    aggs += [pl.col("travel_min").sum(), pl.col("travel_km").sum()]
    return lf.group_by(key).agg(aggs)


def run_polars(path, threads):
    os.environ["POLARS_MAX_THREADS"] = str(threads)  # read when polars is first imported
    import polars as pl

    t0 = time.perf_counter()
    lf = pl.scan_parquet(path)
    queries = [polars_drivers(lf, key) for key in KEYS]
    try:
        frames = pl.collect_all(queries, engine="streaming")
    except TypeError:  # polars before the new streaming engine
        frames = [q.collect(streaming=True) for q in queries]
    seconds = time.perf_counter() - t0
    rows = {key: f.height for key, f in zip(KEYS, frames)}
    return {"seconds": seconds, "rows": rows, "threads": pl.thread_pool_size(), "version": pl.__version__}


PEERS = {"duckdb": run_duckdb, "polars": run_polars}


# ---------------------------------------------------------------- measuring (parent side)


def stderr_tail(text, lines=15):
    return "\n".join(text.strip().splitlines()[-lines:])


def measure(cmd, env=None, timeout=None):
    """Runs `cmd` under /usr/bin/time -v in a fresh session.

    Returns {"ok", "seconds", "rss_mb", "stdout", "error"}; never raises on a failing tool.
    """
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [TIME, "-v", "-o", report.name, *map(str, cmd)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,  # so a time-out ends the tool, not only `time`
        )
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            err += f"\n(killed after the {timeout} s time-out)"
        seconds = time.perf_counter() - t0
        stats = report.read()
    rss_kb = None
    status = []
    for line in stats.splitlines():
        line = line.strip()
        if line.startswith("Maximum resident set size"):
            rss_kb = int(line.rsplit(":", 1)[1])
        elif line.startswith(("Command exited", "Command terminated")):
            status.append(line)
    ok = proc.returncode == 0
    error = None
    if not ok:
        error = "; ".join(status) or f"exit status {proc.returncode}"
        if "signal 9" in error:
            error += " (killed: out of memory?)"
        tail = stderr_tail(err)
        if tail:
            error += "\n" + tail
    return {
        "ok": ok,
        "seconds": seconds,
        "rss_mb": rss_kb / 1024 if rss_kb is not None else None,
        "stdout": out,
        "error": error,
    }


class Task:
    """One row of the table: a command run REPEATS times, each in a fresh process."""

    def __init__(self, tool, task, make_cmd, env=None, reports_json=False):
        self.tool, self.task, self.make_cmd, self.env = tool, task, make_cmd, env
        self.reports_json = reports_json  # a peer child prints its own figures as JSON
        self.runs, self.error, self.failed_run, self.info = [], None, None, {}

    def run(self, timeout):
        if self.error:  # failed once: don't repeat it
            return
        with tempfile.TemporaryDirectory(prefix="dotation-peer-") as tmp:
            r = measure(self.make_cmd(Path(tmp)), env=self.env, timeout=timeout)
        if not r["ok"]:
            self.error, self.failed_run = r["error"], r
            print(f"  {self.tool} {self.task}: FAILED after {r['seconds']:.2f} s, {fmt(r['rss_mb'], ',.0f')} MB"
                  f"\n{indent(self.error)}", file=sys.stderr)
            return
        if self.reports_json:
            self.info = json.loads(r["stdout"])
            r["in_process"] = self.info["seconds"]
        self.runs.append(r)
        inproc = f", in-process {r['in_process']:.2f} s" if "in_process" in r else ""
        print(f"  {self.tool} {self.task}: {r['seconds']:.2f} s, {r['rss_mb']:.0f} MB{inproc}", file=sys.stderr)

    @property
    def seconds(self):
        return statistics.median(r["seconds"] for r in self.runs) if self.runs and not self.error else None

    @property
    def in_process(self):
        times = [r["in_process"] for r in self.runs if "in_process" in r]
        return statistics.median(times) if times and not self.error else None

    @property
    def rss_mb(self):
        return max(r["rss_mb"] for r in self.runs) if self.runs and not self.error else None


def indent(text, prefix="    "):
    return "\n".join(prefix + line for line in text.splitlines())


def visits_count(path):
    import pyarrow.parquet as pq

    return pq.ParquetFile(path).metadata.num_rows


def warm_page_cache(path):
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# ---------------------------------------------------------------- correctness


def cross_check(dotation, data, visits_path, threads):
    """DuckDB's per-service drivers against dotation's baseline drivers.parquet."""
    import pyarrow.parquet as pq

    lines = []
    with tempfile.TemporaryDirectory(prefix="dotation-baseline-") as tmp:
        r = measure([dotation, "--threads", threads, "--quiet", "baseline", "--data", data, "--out", tmp])
        if not r["ok"]:
            return [f"cross-check skipped: `dotation baseline` failed: {r['error']}"]
        drivers_path = Path(tmp) / "drivers.parquet"
        if not drivers_path.exists():
            return [f"cross-check skipped: baseline wrote no drivers.parquet (files: {sorted(os.listdir(tmp))})"]
        ours = pq.read_table(drivers_path)
    if "service_id" not in ours.column_names:
        return [f"cross-check skipped: drivers.parquet has no service_id column ({ours.column_names})"]

    con = duckdb_connect(threads)
    theirs = duckdb_drivers(con, visits_path, "service_id")
    con.register("ours", ours)
    con.register("theirs", theirs)
    present = [c for c in DRIVERS if c in ours.column_names]
    missing = [c for c in DRIVERS if c not in ours.column_names]
    counts = con.execute(
        "SELECT (SELECT count(*) FROM ours), (SELECT count(*) FROM theirs),"
        " (SELECT count(*) FROM ours JOIN theirs USING (service_id))"
    ).fetchone()
    lines.append(
        f"services: dotation {counts[0]:,}, DuckDB {counts[1]:,} (with visits), matched {counts[2]:,}"
    )
    # Services absent on one side count as zero drivers there (a service without visits).
    diffs = []
    for c in present:
        rel, worst = con.execute(
            f"""SELECT max(abs(a - b) / greatest(abs(a), abs(b), 1e-12)),
                       arg_max(service_id, abs(a - b) / greatest(abs(a), abs(b), 1e-12))
                FROM (SELECT service_id, coalesce(o.{c}, 0)::DOUBLE AS a, coalesce(t.{c}, 0)::DOUBLE AS b
                      FROM ours o FULL OUTER JOIN theirs t USING (service_id))"""
        ).fetchone()
        diffs.append((c, rel or 0.0, worst))
    lines.append("| driver | max relative difference | at service |")
    lines.append("|---|---|---|")
    lines += [f"| {c} | {rel:.2e} | {worst if rel > 0 else ''} |" for c, rel, worst in diffs]
    if diffs:
        lines.append(f"max relative difference over {len(diffs)} drivers: {max(d[1] for d in diffs):.2e}")
    if missing:
        extra = sorted(set(ours.column_names) - set(DRIVERS) - {"service_id"})
        lines.append(f"absent from drivers.parquet, not compared: {', '.join(missing)} (its other columns: {', '.join(extra)})")
    return lines


# ---------------------------------------------------------------- main


def fmt(x, spec, missing="—"):
    return missing if x is None else format(x, spec)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", type=Path, help="dataset folder (from `dotation generate`)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per tool; the median is reported (default 3)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dotation", default=os.environ.get("DOTATION_BIN", str(ROOT / "target/release/dotation")))
    ap.add_argument("--timeout", type=float, default=None, help="seconds before a run is killed (default none)")
    ap.add_argument("--no-check", action="store_true", help="skip the cross-check against dotation baseline")
    ap.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)  # child mode
    args = ap.parse_args()

    visits_path = args.data / "visits.parquet"
    if args.peer:
        print(json.dumps(PEERS[args.peer](str(visits_path), args.threads)))
        return 0

    if not Path(TIME).exists():
        sys.exit(f"{TIME} is missing: apt-get install time (benches/peer/national.sh does)")
    if not visits_path.exists():
        sys.exit(f"{visits_path} is missing: make the data with `dotation generate --out {args.data}`")
    dotation = str(Path(args.dotation).resolve())
    data, threads = str(args.data.resolve()), str(args.threads)
    visits = visits_count(visits_path)
    warm_page_cache(visits_path)

    me = [sys.executable, str(Path(__file__).resolve())]
    peer_env = dict(os.environ, POLARS_MAX_THREADS=threads)
    tasks = [
        Task("dotation", "calibrate end to end",
             lambda tmp: [dotation, "--threads", threads, "calibrate", "--data", data, "--out", tmp]),
        Task("dotation", "validate", lambda tmp: [dotation, "--threads", threads, "validate", data]),
        Task("DuckDB", "drivers per service + per user",
             lambda tmp: [*me, "--peer", "duckdb", "--threads", threads, data],
             env=peer_env, reports_json=True),
        Task("polars streaming", "drivers per service + per user",
             lambda tmp: [*me, "--peer", "polars", "--threads", threads, data],
             env=peer_env, reports_json=True),
    ]
    print(f"{data}: {visits:,} visits; {args.threads} threads; {args.repeats} repeat(s)", file=sys.stderr)
    for i in range(args.repeats):  # round robin, so drifting load spreads over every tool
        print(f"repeat {i + 1}/{args.repeats}", file=sys.stderr)
        for t in tasks:
            t.run(args.timeout)

    base = tasks[0].seconds
    versions = [f"{t.tool} {t.info['version']} (threads {t.info['threads']})" for t in tasks if t.info.get("version")]
    print(f"\n{visits:,} visits in {visits_path}; --threads {args.threads}; median of {args.repeats}; "
          + "; ".join(versions))
    print()
    print("| tool | task | median s | in-process s | peak RSS (MB) | ratio (time / dotation calibrate) | visits/s |")
    print("|---|---|---|---|---|---|---|")
    for t in tasks:
        if t.error:
            r = t.failed_run
            first = t.error.splitlines()[0]
            print(f"| {t.tool} | {t.task} | failed after {r['seconds']:.2f}: {first} | | "
                  f"{fmt(r['rss_mb'], ',.0f')} at failure | | |")
            continue
        inproc = fmt(t.in_process, ".2f")
        ratio = fmt(t.seconds / base if base else None, ".2f")
        print(f"| {t.tool} | {t.task} | {t.seconds:.2f} | {inproc} | {t.rss_mb:,.0f} | {ratio} | "
              f"{visits / t.seconds / 1e6:.1f} M |")
    rows = {t.tool: t.info["rows"] for t in tasks if "rows" in t.info}
    if rows:
        print("\nresult rows: " + "; ".join(
            f"{tool}: {r['service_id']:,} services, {r['user_id']:,} users" for tool, r in rows.items()))
    failed = [t for t in tasks if t.error]
    for t in failed:
        print(f"\n{t.tool} {t.task} failed:\n{indent(t.error)}")

    if not args.no_check:
        print("\ncross-check: DuckDB per-service drivers vs dotation baseline drivers.parquet")
        for line in cross_check(dotation, data, str(visits_path), threads):
            print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
