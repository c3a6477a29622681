"""A notebook session against `dotation serve`, as a script: upload the synthetic survey,
submit a calibration job, watch its progress, pull the result tables into pandas and
polars and print them. Each step is one cell of a notebook.

    pip install './clients/python[pandas,polars,progress]'
    dotation generate --out survey
    dotation serve --config server.toml &
    python examples/notebook.py --location grpc://127.0.0.1:50051 \\
        --user demo --password demo-password --data survey

The client's tests run it against a live server (clients/python/tests/test_notebook.py).
"""

import argparse
import sys

import pandas as pd
import polars as pl

from dotation import Dotation


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--location", default="grpc://127.0.0.1:50051")
    p.add_argument("--user", default="demo")
    p.add_argument("--password", default="demo-password")
    p.add_argument("--data", required=True, help="a dataset folder (dotation generate --out DIR)")
    p.add_argument("--dataset", default="survey", help="name of the dataset on the server")
    p.add_argument("--floor", type=float, default=None, help="a scenario's floor tariff, EUR/h")
    args = p.parse_args()
    pd.set_option("display.width", 120)
    pd.set_option("display.max_columns", 12)

    # Cell 1: log in.
    d = Dotation(args.location, user=args.user, password=args.password)

    # Cell 2: upload the survey, table by table (each is validated on arrival).
    summary = d.upload(args.dataset, args.data)
    print(f"uploaded {args.dataset}: complete={summary.complete}")
    for ds in d.datasets():
        print(f"  {ds.name}: {ds.tables}")

    # Cell 3: submit a calibration: a forfait per user-month by allowance x GIR band x
    # entourage, national budget neutrality, and no user's out-of-pocket may rise (the job
    # spec is docs/spec.md's TOML; the guarantees are docs/guarantees.md).
    spec = f"""kind = "calibrate"
data = "{args.dataset}"

[formula]
kind = "forfait"
groups = ["allowance", "gir_band", "entourage"]

[neutrality]
scope = "national"

[guarantees]
participation = "unchanged"
constrain = ["out_of_pocket"]
"""
    if args.floor is not None:
        spec += f"\n[baseline]\nfloor = {args.floor}\n"
    job = d.submit(spec)
    print(f"submitted job {job.id}")

    # Cell 4: wait, with a progress bar.
    job.wait(progress=True)
    print(f"job {job.id}: {job.last_status.state}, tables {', '.join(job.table_names)}")

    # Cell 5: pull the tables into pandas (or polars: job.to_polars).
    tables = job.tables()
    parameters = tables["parameters"].to_pandas()
    services = tables["services"].to_pandas()
    departements = tables["departements"].to_pandas()
    summary = job.summary()
    print("\nparameters:")
    print(parameters.to_string(index=False))
    print(
        f"\nneutrality residual {summary['neutrality_residual']:.2e}, weighted R2 {summary['r2']:.3f}, "
        f"winners {summary['winners_5pct']:.1%}, losers {summary['losers_5pct']:.1%}"
    )
    print(f"\nservices ({len(services)} rows):")
    print(services.head(10).to_string(index=False))
    print(f"\ndépartements ({len(departements)} rows), by baseline:")
    print(departements.sort_values("baseline_total", ascending=False).head(10).to_string(index=False))

    # Cell 6: who gains and who loses, and what users pay.
    impact = tables["impact"].to_pandas()
    users = tables["users"].to_pandas()
    oop = tables["out_of_pocket"].to_pandas()
    columns = ["group", "services", "delta_pct", "winners_5pct", "losers_5pct", "coverage_before", "coverage_after"]
    for dimension in ["regime", "status", "size_decile"]:
        print(f"\nimpact by {dimension}:")
        print(impact[impact["dimension"] == dimension][columns].to_string(index=False))
    print("\nout-of-pocket by GIR (EUR/h):")
    print(oop[oop["dimension"] == "gir"][["group", "users", "oop_before", "oop_after", "rising"]].to_string(index=False))
    guarantees = summary["guarantees"]
    print(
        f"\nHAS services below cost: {guarantees['has_cover']['violations']} of {guarantees['has_cover']['services']}; "
        f"users paying more per hour: {guarantees['out_of_pocket']['rising']}"
    )

    # Cell 7: the same spec again is served from the stored result.
    again = d.submit(spec).last_status
    print(f"\nresubmitted: {again.state} at once (result {again.result_key[:12]}…)")

    # Cell 8: the same table in polars: services' change by département.
    by_departement = (
        job.to_polars("services")
        .group_by("departement")
        .agg((pl.col("delta") * pl.col("weight")).sum().alias("delta"), pl.len().alias("services"))
        .sort("delta")
    )
    print("\ndépartements losing most (weighted change, EUR):")
    print(by_departement.head(5))

    # Checks the session relies on (CI runs this script).
    funding = (services["funding"] * services["weight"]).sum()
    baseline = (services["baseline"] * services["weight"]).sum()
    assert abs(funding - baseline) <= 1e-9 * abs(baseline), (funding, baseline)
    assert summary["neutrality_residual"] <= 1e-9
    assert again.state == "done" and again.result_key == job.last_status.result_key
    assert by_departement["services"].sum() == len(services)
    assert not users["rises"].fillna(False).any(), users[users["rises"].fillna(False)].head()
    assert guarantees["out_of_pocket"]["rising"] == 0
    for dimension in ["size_decile", "status", "regime", "zone", "departement"]:
        group = impact[impact["dimension"] == dimension]
        assert int(group["services"].sum()) == len(services), dimension
    print("\nOK: the notebook session ran end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
