"""Times `dotation serve` from the pyarrow client, next to pyarrow's own Flight server
(flight_peer_server.py) serving the same Parquet files, in the same run:

- DoPut throughput (MB/s of Arrow data sent) of the survey's four tables, validated and
  stored by dotation, stored as IPC files by pyarrow's server;
- DoGet throughput (MB/s of Arrow data received) of a large dataset table (the survey's
  visits) and of a large result table (the baseline's users);
- jobs per second: distinct baseline jobs submitted at once and waited for, and the same
  specs submitted again (served from the stored results).

    python flight_bench.py DOTATION_LOCATION USER PASSWORD SURVEY_DIR PEER_SCRIPT REPEATS JOBS

Run by benches/peer/flight.sh, with the client package (clients/python) installed. Exits
non-zero if a tool fails (a job fails, a table differs in rows, a server dies), never
because of a timing.
"""

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.flight as flight
import pyarrow.parquet as pq

from dotation import TABLES, Dotation, read_table


def timed_get(client, ticket, options=None):
    t0 = time.perf_counter()
    reader = client.do_get(ticket, options=options) if options else client.do_get(ticket)
    table = reader.read_all()
    return time.perf_counter() - t0, table


def main():
    location, user, password, survey, peer_script, repeats, n_jobs = sys.argv[1:8]
    repeats, n_jobs = int(repeats), int(n_jobs)
    d = Dotation(location, user=user, password=password)

    # The tables are read first: only the upload is timed.
    tables = {name: read_table(Path(survey), name) for name in TABLES}
    survey_bytes = sum(t.nbytes for t in tables.values())

    def upload(put):
        t0 = time.perf_counter()
        for name in TABLES:
            put(name, tables[name])
        return time.perf_counter() - t0

    # Each repeat into a new dataset: every table is checked against those uploaded
    # before it, as in a first upload.
    def our_put(dataset):
        return lambda name, table: d.upload_table(dataset, name, table)

    def peer_put(client):
        def put(name, table):
            writer, _ = client.do_put(flight.FlightDescriptor.for_path("bench", name), table.schema)
            writer.write_table(table)
            writer.close()
        return put

    ours = [upload(our_put("bench" if i == 0 else f"bench-{i}")) for i in range(repeats)]

    job = d.submit('kind = "baseline"\ndata = "bench"').wait()
    users_result = job.table("users")

    with tempfile.TemporaryDirectory() as tmp:
        users_file = Path(tmp) / "users_result.parquet"
        pq.write_table(users_result, users_file, compression="zstd")
        files = {"visits": str(Path(survey) / "visits.parquet"), "users": str(users_file)}
        peer = subprocess.Popen([sys.executable, peer_script] + [f"{k}={v}" for k, v in files.items()],
                                stdout=subprocess.PIPE, text=True)
        try:
            port = int(peer.stdout.readline())
            peer_client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
            theirs = [upload(peer_put(peer_client)) for _ in range(repeats)]
            mb = survey_bytes / 1e6
            a, b = mb / statistics.median(ours), mb / statistics.median(theirs)
            print(f"\nupload of the survey (4 tables, {mb:.0f} MB of Arrow; dotation validates them): "
                  f"median of {repeats}")
            print("\n| | dotation | pyarrow server | dotation / pyarrow |")
            print("|---|---|---|---|")
            print(f"| seconds | {statistics.median(ours):.3f} | {statistics.median(theirs):.3f} | |")
            print(f"| MB/s | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")
            tickets = {
                "visits": flight.Ticket(b"datasets/bench/visits"),
                "users": flight.Ticket(f"jobs/{job.id}/users".encode()),
            }
            print("\n| table | rows | Arrow MB | dotation MB/s | pyarrow server MB/s | dotation / pyarrow |")
            print("|---|---|---|---|---|---|")
            for name in ("visits", "users"):
                ours, theirs = [], []
                for _ in range(repeats):
                    s, t = timed_get(d.flight_client, tickets[name], d.call_options)
                    ours.append(s)
                    s2, t2 = timed_get(peer_client, flight.Ticket(name.encode()))
                    theirs.append(s2)
                    assert t.num_rows == t2.num_rows
                mb = t.nbytes / 1e6
                a, b = mb / statistics.median(ours), mb / statistics.median(theirs)
                print(f"| {name} | {t.num_rows:,} | {mb:.0f} | {a:,.0f} | {b:,.0f} | {a / b:.2f} |")
        finally:
            peer.kill()

    # Distinct specs: a different floor tariff each (the spec's [baseline] table).
    specs = [f'kind = "baseline"\ndata = "bench"\n\n[baseline]\nfloor = {23 + i / 100:.2f}'
             for i in range(n_jobs)]
    t0 = time.perf_counter()
    jobs = [d.submit(s) for s in specs]
    for j in jobs:
        j.wait(poll=0.02)
    fresh = time.perf_counter() - t0
    t0 = time.perf_counter()
    jobs = [d.submit(s) for s in specs]
    for j in jobs:
        j.wait(poll=0.02)
    cached = time.perf_counter() - t0
    visits = pq.ParquetFile(Path(survey) / "visits.parquet").metadata.num_rows
    print(f"\njobs (baseline on the survey: validation of {visits / 1e6:.1f} M visits, drivers, baseline, "
          f"result tables written):")
    print(f"  {n_jobs} distinct jobs: {fresh:.2f} s, {n_jobs / fresh:.2f} jobs/s")
    print(f"  the same {n_jobs} specs again (stored results): {cached:.3f} s, {n_jobs / cached:.0f} jobs/s")


if __name__ == "__main__":
    main()
