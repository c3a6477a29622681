"""Visit aggregation: dotation against polars on the same Parquet files, in the same run.

dotation's side is the `aggregate_peer` binary (benches/src/bin/aggregate_peer.rs): it
writes a seeded dataset as Parquet, then times reading the four tables, validating them
(every contract rule; string keys resolved to indices) and computing the drivers (13 visit
drivers per service and per user, user-month cells).

polars' side reads the same visits file and computes the same 13 drivers with two
group-bys (per service, per user). Medians of REPEATS runs; ratios = polars / dotation.

Usage: python3 benches/peer/aggregate.py [VISITS] [REPEATS]   (run by benches/peer/run.sh)
"""
import json
import os
import subprocess
import sys
import tempfile
import time

import polars as pl

VISITS = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
REPEATS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
BIN = os.environ.get("AGGREGATE_PEER", "target/release/aggregate_peer")


def drivers(df, key):
    h = pl.col("duration_min") / 60.0
    aggs = [pl.len().alias("visits"), h.sum().alias("hours")]
    aggs += [(h * (pl.col("slot") == s)).sum().alias(f"hours_{s}")
             for s in ("weekday", "evening", "sunday_holiday", "night")]
    aggs += [(h * pl.col("carers")).sum().alias("carer_hours"),
             (h * (pl.col("carers") == 2)).sum().alias("double_staffed_hours")]
    aggs += [(h * (pl.col("qualification") == q)).sum().alias(f"hours_qualification_{q}")
             for q in ("A", "B", "C")]
    aggs += [pl.col("travel_min").sum(), pl.col("travel_km").sum()]
    return df.group_by(key).agg(aggs)


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def main():
    with tempfile.TemporaryDirectory() as d:
        ours = json.loads(subprocess.check_output([BIN, d, str(VISITS), str(REPEATS)]))
        path = os.path.join(d, "visits.parquet")
        read, group, total = [], [], []
        for _ in range(REPEATS):
            t0 = time.perf_counter()
            df = pl.read_parquet(path)
            t1 = time.perf_counter()
            s = drivers(df, "service_id")
            u = drivers(df, "user_id")
            t2 = time.perf_counter()
            assert s.height > 0 and u.height > 0
            read.append(t1 - t0)
            group.append(t2 - t1)
            total.append(t2 - t0)
        peer = {"read_parquet": median(read), "group_by": median(group), "total": median(total)}
    ms = lambda x: f"{x * 1e3:,.0f} ms"
    print(f"visits: {VISITS:,}; threads: dotation {ours['threads']}, polars {pl.thread_pool_size()}; "
          f"polars {pl.__version__}; medians of {REPEATS}")
    print()
    print("| step | dotation | polars | polars / dotation |")
    print("|---|---|---|---|")
    print(f"| read the visits Parquet (dotation: all four tables) | {ms(ours['read_parquet'])} | {ms(peer['read_parquet'])} | {peer['read_parquet'] / ours['read_parquet']:.2f} |")
    print(f"| dotation: validation incl. key resolution + drivers (in memory), vs polars group-by | {ms(ours['validate'])} | {ms(peer['group_by'])} | {peer['group_by'] / ours['validate']:.2f} |")
    print(f"| end to end from Parquet (dotation: visits streamed, validated and aggregated) | {ms(ours['total'])} | {ms(peer['total'])} | {peer['total'] / ours['total']:.2f} |")
    print()
    print(json.dumps({"dotation": ours, "polars": peer}))


if __name__ == "__main__":
    main()
