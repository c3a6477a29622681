"""Export the survey and the totals of its national frame for the weight-calibration references.

Usage (from the repository root, after a release build):

    target/release/dotation generate --scale survey --out /tmp/wsurvey
    target/release/dotation generate --scale national --out /tmp/wnational
    python3 tests/reference/weights/export.py /tmp/wsurvey /tmp/wnational

Writes, next to this script:

    services.csv        one row per survey service, in the order of the services table:
                        service_id, stratum, fpc, design_weight, departement, status,
                        habilitated, mixed, hours_apa, hours_pch, hours_social_aid,
                        hours_other, users, user_months, users_apa, users_pch,
                        users_social_aid, users_other, users_gir1 ... users_gir6
    margins.csv         the national frame's totals (margin,variable,level,total)
    margins_tight.csv   the same rows with the hours_pch total doubled (TIGHT_FACTOR):
                        out of reach of g in the truncated case's bounds, the
                        infeasible case (see README.md)
    frame_totals.json   the frame's totals next to the survey's design-weighted
                        estimates of the same variables

Needs pyarrow. The national users table is read with only the columns used; visits are
never read.
"""

import json
import os
import sys

import pyarrow.parquet as pq

HERE = os.path.dirname(os.path.abspath(__file__))

ALLOWANCES = ["APA", "PCH", "social_aid", "other"]
GIRS = [1, 2, 3, 4, 5, 6]
# margins_tight.csv: this row's total is multiplied by TIGHT_FACTOR.
TIGHT_VARIABLE = "hours_pch"
TIGHT_FACTOR = 2.0
HOURS = ["hours_apa", "hours_pch", "hours_social_aid", "hours_other"]
SERVICE_COLUMNS = [
    "service_id", "stratum", "fpc", "design_weight", "departement", "status",
    "habilitated", "mixed",
] + HOURS
USER_COLUMNS = (
    ["users", "user_months"]
    + ["users_" + a.lower() for a in ALLOWANCES]
    + ["users_gir%d" % k for k in GIRS]
)


def parquet(folder, table, columns):
    path = os.path.join(folder, table + ".parquet")
    if not os.path.exists(path):
        raise SystemExit("missing %s" % path)
    names = pq.read_schema(path).names
    cols = [c for c in columns if c in names]
    return pq.read_table(path, columns=cols).to_pydict()


def load(folder):
    """The services (as a list of dicts, in table order) with their user aggregates."""
    sv = parquet(folder, "services", SERVICE_COLUMNS)
    n = len(sv["service_id"])
    index = {sid: i for i, sid in enumerate(sv["service_id"])}
    if len(index) != n:
        raise SystemExit("duplicate service_id in %s" % folder)
    agg = {c: [0] * n for c in USER_COLUMNS}
    agg["user_months"] = [0.0] * n
    us = parquet(folder, "users", ["service_id", "allowance", "gir", "months_served"])
    for sid, allowance, gir, months in zip(
        us["service_id"], us["allowance"], us["gir"], us["months_served"]
    ):
        i = index[sid]
        agg["users"][i] += 1
        agg["user_months"][i] += months
        if allowance not in ALLOWANCES:
            raise SystemExit("unknown allowance %r" % allowance)
        agg["users_" + allowance.lower()][i] += 1
        if gir is not None:
            agg["users_gir%d" % gir][i] += 1
    rows = []
    for i in range(n):
        r = {c: (sv[c][i] if c in sv else None) for c in SERVICE_COLUMNS}
        for c in USER_COLUMNS:
            r[c] = agg[c][i]
        rows.append(r)
    return rows


def fmt(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return str(v)


def quote(s):
    return '"%s"' % s.replace('"', '""') if ("," in s or '"' in s) else s


def write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(quote(fmt(v)) for v in r) + "\n")


# A margins row: (margin, variable, level, column of services.csv or None for a crossing).
def margin_rows(survey):
    levels = sorted({"%s*%s" % (r["status"], fmt(r["habilitated"])) for r in survey})
    rows = [("status_regime", "status*habilitated", lv) for lv in levels]
    rows += [("hours_apa", "hours_apa", ""), ("hours_pch", "hours_pch", "")]
    rows += [("users_gir", "users:gir=%d" % k, "") for k in (1, 2, 3, 4)]
    rows += [("users", "users", "")]
    return rows


def value(r, variable, level):
    """The service's value of a margins row's auxiliary variable."""
    if level != "":
        cols = variable.split("*")
        return 1.0 if "*".join(fmt(r[c]) for c in cols) == level else 0.0
    if variable.startswith("users:gir="):
        return float(r["users_gir" + variable.split("=")[1]])
    if variable.startswith("users:allowance="):
        return float(r["users_" + variable.split("=")[1].lower()])
    return float(r[variable])


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    survey_dir, national_dir = sys.argv[1], sys.argv[2]
    survey = load(survey_dir)
    write_csv(
        os.path.join(HERE, "services.csv"),
        SERVICE_COLUMNS + USER_COLUMNS,
        [[r[c] for c in SERVICE_COLUMNS + USER_COLUMNS] for r in survey],
    )
    print("services.csv: %d services" % len(survey))

    frame = load(national_dir)
    print("national frame: %d services" % len(frame))
    rows = margin_rows(survey)
    out, report = [], []
    for margin, variable, level in rows:
        total = sum(value(r, variable, level) for r in frame)
        estimate = sum(r["design_weight"] * value(r, variable, level) for r in survey)
        out.append([margin, variable, level, total])
        report.append({
            "margin": margin, "variable": variable, "level": level,
            "frame_total": total, "survey_estimate": estimate,
            "ratio": total / estimate,
        })
        print("%-14s %-20s %-26s frame %16.1f  survey %18.3f  ratio %.5f"
              % (margin, variable, level, total, estimate, total / estimate))
    header = ["margin", "variable", "level", "total"]
    write_csv(os.path.join(HERE, "margins.csv"), header, out)
    tight = [
        [m, v, lv, t * TIGHT_FACTOR if v == TIGHT_VARIABLE else t] for m, v, lv, t in out
    ]
    write_csv(os.path.join(HERE, "margins_tight.csv"), header, tight)
    summary = {
        "frame_services": len(frame),
        "survey_services": len(survey),
        "survey_sum_design_weight": sum(r["design_weight"] for r in survey),
        "rows": report,
        "tight": {"variable": TIGHT_VARIABLE, "factor": TIGHT_FACTOR},
    }
    with open(os.path.join(HERE, "frame_totals.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")
    print("margins.csv, margins_tight.csv, frame_totals.json written")


if __name__ == "__main__":
    main()
