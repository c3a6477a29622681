"""Data, checks and table of the survey-weights benchmark (benches/peer/weights_bench.sh):
dotation's raking against R's survey::calibrate on the same services and margins.

    python weights_data.py prepare NATIONAL SURVEY WORK [--seed 1] [--sigma 0.3]
    python weights_data.py compare WEIGHTS.parquet R_WEIGHTS.csv
    python weights_data.py report WORK [--criterion target/criterion]

prepare, from the national frame NATIONAL (`dotation generate --scale national
--no-visits`) and the survey SURVEY (`dotation generate --no-visits`), both of the
default seed, writes into WORK:

    national/               the frame with perturbed design weights: departements.parquet
                            and users.parquet copied, services.parquet rewritten with
                            design_weight = 1 x exp(e), e ~ N(0, sigma^2) i.i.d. per
                            service (Python's random.Random(seed).gauss, in the services'
                            order), rescaled so that they sum to the frame's 6,314
                            services (the weights stay positive; their sum stays N)
    national_margins.csv    the TRUE frame's totals (before the perturbation):
                            departement*habilitated (every crossing that has a service;
                            empty crossings left out), status (3 levels), hours_apa,
                            hours_pch, users:gir=1..4, users; at least 150 rows (checked)
    national_services.csv   the model inputs of national/ for R (columns of
                            tests/reference/weights/services.csv: design variables, hours,
                            users per allowance and GIR)
    survey_margins.csv      the rows of tests/reference/weights/margins.csv
                            (status*habilitated, hours_apa, hours_pch, users:gir=1..4,
                            users), totals recomputed from NATIONAL (they equal the file's
                            for the default seed; a difference is printed)
    survey_services.csv     the model inputs of SURVEY for R (its own design weights)
    data.json               what was built: counts of rows per margin, services, weights

compare exits 1 unless dotation's calibrated weights (weights.parquet) equal R's
(service_id,weight CSV) to 1e-8 relative, service by service; it prints the largest
relative difference.

report reads WORK/times (the /usr/bin/time -v outputs of each run), WORK/r-*.json (R's
in-process timings), WORK/dotation-*/summary.json and, with --criterion DIR, the medians
of criterion's weights/raking/{national,survey} (DIR/weights/raking/CASE/new/
estimates.json), and prints the table quoted in BENCHMARKS.md (medians over the runs).

Needs pyarrow; the CSVs are written as tests/reference/weights/export.py writes them (its
functions are reused: the same aggregation of users per service, the same float format).
"""

import argparse
import importlib.util
import json
import math
import random
import re
import shutil
import statistics
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "reference" / "weights"
TOLERANCE = 1e-8
MIN_CELLS = 150


def export_module():
    """tests/reference/weights/export.py, loaded as a module (its main is not run)."""
    spec = importlib.util.spec_from_file_location("weights_export", REFERENCE / "export.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


EXPORT = export_module()


def read_margins(path):
    rows = []
    with open(path) as f:
        header = f.readline().strip().split(",")
        if header != ["margin", "variable", "level", "total"]:
            raise SystemExit("%s: unexpected header %s" % (path, header))
        for line in f:
            margin, variable, level, total = line.rstrip("\n").split(",")
            rows.append((margin, variable, level, float(total)))
    return rows


def frame_total(frame, variable, level):
    return sum(EXPORT.value(r, variable, level) for r in frame)


def national_margins(frame):
    """(margin, variable, level) rows of the national case, ≥ MIN_CELLS of them."""
    cells = sorted({"%s*%s" % (r["departement"], EXPORT.fmt(r["habilitated"])) for r in frame})
    rows = [("departement_habilitated", "departement*habilitated", c) for c in cells]
    rows += [("status", "status", s) for s in sorted({r["status"] for r in frame})]
    rows += [("hours_apa", "hours_apa", ""), ("hours_pch", "hours_pch", "")]
    rows += [("users_gir", "users:gir=%d" % k, "") for k in (1, 2, 3, 4)]
    rows += [("users", "users", "")]
    return rows


def perturb(services_path, out_path, seed, sigma):
    """Rewrites services.parquet with design_weight x exp(N(0, sigma^2)), rescaled to the
    same sum; returns the new weights."""
    table = pq.read_table(services_path)
    i = table.schema.get_field_index("design_weight")
    d = table.column(i).to_pylist()
    rng = random.Random(seed)
    w = [x * math.exp(rng.gauss(0.0, sigma)) for x in d]
    scale = math.fsum(d) / math.fsum(w)
    w = [x * scale for x in w]
    table = table.set_column(i, table.schema.field(i), pa.array(w, pa.float64()))
    pq.write_table(table, out_path, compression="zstd")
    return w


def write_services(path, services):
    columns = EXPORT.SERVICE_COLUMNS + EXPORT.USER_COLUMNS
    EXPORT.write_csv(path, columns, [[r[c] for c in columns] for r in services])


def prepare(args):
    work = Path(args.work)
    (work / "national").mkdir(parents=True, exist_ok=True)
    for table in ("departements", "users"):
        shutil.copyfile(Path(args.national) / (table + ".parquet"),
                        work / "national" / (table + ".parquet"))
    w = perturb(Path(args.national) / "services.parquet",
                work / "national" / "services.parquet", args.seed, args.sigma)

    # The true frame (weight 1) gives the totals; the perturbed copy the model inputs.
    frame = EXPORT.load(args.national)
    rows = national_margins(frame)
    if len(rows) < MIN_CELLS:
        raise SystemExit("only %d margin rows (at least %d wanted)" % (len(rows), MIN_CELLS))
    national = [(m, v, lv, frame_total(frame, v, lv)) for m, v, lv in rows]
    header = ["margin", "variable", "level", "total"]
    EXPORT.write_csv(work / "national_margins.csv", header, [list(r) for r in national])
    perturbed = EXPORT.load(work / "national")
    write_services(work / "national_services.csv", perturbed)

    reference = read_margins(REFERENCE / "margins.csv")
    survey_rows = []
    for m, v, lv, t in reference:
        total = frame_total(frame, v, lv)
        if total != t:
            print("survey margin %s %s %s: frame total %r, margins.csv %r (the frame's is used)"
                  % (m, v, lv, total, t))
        survey_rows.append([m, v, lv, total])
    EXPORT.write_csv(work / "survey_margins.csv", header, survey_rows)
    survey = EXPORT.load(args.survey)
    write_services(work / "survey_services.csv", survey)

    def per_margin(rs):
        out = {}
        for r in rs:
            out[r[0]] = out.get(r[0], 0) + 1
        return out

    info = {
        "seed": args.seed,
        "sigma": args.sigma,
        "national": {
            "services": len(perturbed),
            "users": sum(r["users"] for r in perturbed),
            "rows": len(national),
            "rows_per_margin": per_margin(national),
            "crossings_possible": len({r["departement"] for r in frame}) * 2,
            "design_weight_sum": math.fsum(w),
            "design_weight_min": min(w),
            "design_weight_max": max(w),
            "largest_design_gap": max(
                abs(math.fsum(r["design_weight"] * EXPORT.value(r, v, lv) for r in perturbed) - t) / t
                for _, v, lv, t in national),
        },
        "survey": {
            "services": len(survey),
            "users": sum(r["users"] for r in survey),
            "rows": len(survey_rows),
            "rows_per_margin": per_margin(survey_rows),
            "design_weight_sum": math.fsum(r["design_weight"] for r in survey),
        },
    }
    with open(work / "data.json", "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    n = info["national"]
    print("national: %d services (%d users), design weights x exp(N(0, %g^2)) seed %d, "
          "in [%.4f, %.4f], sum %.6f; %d margin rows %s (of %d departement*habilitated "
          "crossings, the empty ones left out); largest design gap %.3f"
          % (n["services"], n["users"], args.sigma, args.seed, n["design_weight_min"],
             n["design_weight_max"], n["design_weight_sum"], n["rows"],
             n["rows_per_margin"], n["crossings_possible"], n["largest_design_gap"]))
    s = info["survey"]
    print("survey: %d services (%d users), %d margin rows %s"
          % (s["services"], s["users"], s["rows"], s["rows_per_margin"]))


def compare(args):
    t = pq.read_table(args.weights, columns=["service_id", "weight"]).to_pydict()
    ours = dict(zip(t["service_id"], t["weight"]))
    theirs = {}
    with open(args.r_weights) as f:
        if f.readline().strip() != "service_id,weight":
            raise SystemExit("%s: expected service_id,weight" % args.r_weights)
        for line in f:
            sid, w = line.rstrip("\n").split(",")
            theirs[sid.strip('"')] = float(w)
    if set(ours) != set(theirs):
        raise SystemExit("the services differ: %d in dotation's weights, %d in R's"
                         % (len(ours), len(theirs)))
    worst, at = 0.0, None
    for sid, w in ours.items():
        r = abs(w - theirs[sid]) / abs(theirs[sid])
        if r > worst:
            worst, at = r, sid
    print("%d weights, largest relative difference dotation / R: %.2e (service %s)"
          % (len(ours), worst, at))
    if not worst <= TOLERANCE:
        raise SystemExit("the weights differ by more than %g" % TOLERANCE)
    return worst


# /usr/bin/time -v's lines.
ELAPSED = re.compile(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)")
RSS = re.compile(r"Maximum resident set size \(kbytes\): (\d+)")


def time_file(path):
    text = Path(path).read_text()
    e, r = ELAPSED.search(text), RSS.search(text)
    if not e or not r:
        raise SystemExit("%s: not a /usr/bin/time -v output" % path)
    h, m, s = e.groups()
    return int(h or 0) * 3600 + int(m) * 60 + float(s), int(r.group(1)) / 1024.0


def runs(work, prefix):
    files = sorted((Path(work) / "times").glob(prefix + "-*.txt"))
    if not files:
        raise SystemExit("no %s runs in %s/times" % (prefix, work))
    measures = [time_file(f) for f in files]
    return statistics.median(m[0] for m in measures), max(m[1] for m in measures), len(files)


def ms(seconds):
    return "%.1f ms" % (seconds * 1e3) if seconds < 1 else "%.2f s" % seconds


def criterion_median(folder, case, bench="raking"):
    """The median time (s) of criterion's weights/BENCH/CASE, or None."""
    if not folder:
        return None
    path = Path(folder) / "weights" / bench / case / "new" / "estimates.json"
    if not path.exists():
        return None
    return json.loads(path.read_text())["median"]["point_estimate"] * 1e-9


def report(args):
    work = Path(args.work)
    data = json.loads((work / "data.json").read_text())
    lines = []
    for case in ("national", "survey"):
        summary = json.loads((work / ("dotation-" + case) / "summary.json").read_text())
        r = json.loads((work / ("r-" + case + ".json")).read_text())
        diff = json.loads((work / ("compare-" + case + ".json")).read_text())["max_relative_difference"]
        dt, drss, dn = runs(work, "dotation-" + case)
        rt, rrss, rn = runs(work, "r-" + case)
        inproc = criterion_median(args.criterion, case)
        aux = criterion_median(args.criterion, case, "auxiliary")
        rc = r["calibrate_median_s"]
        lines.append(
            "| %s: %d services, %d cells | %s (%.0f MB) | %s (%.0f MB) | %.1f× | %s | %s | %s "
            "| %d / %d | %.1e |"
            % (case, data[case]["services"], data[case]["rows"], ms(dt), drss, ms(rt), rrss,
               rt / dt, ms(inproc) if inproc else "—", ms(rc),
               "%.1f×" % (rc / inproc) if inproc else "—",
               summary["iterations"], r["iterations"], diff))
        print("%s: dotation weights %d runs, median %.4f s, peak RSS %.1f MB, %d iterations, "
              "largest residual %.2e; in process (criterion medians) %s; R calibrate() median "
              "of %d (%d calls each) %.4f s (%s); whole Rscript %d runs median %.3f s, peak "
              "%.1f MB; R: %d Newton steps, largest relative misfit %.2e; weights differ by "
              "%.2e"
              % (case, dn, dt, drss, summary["iterations"], summary["largest_residual"],
                 "%.4f s, of which the auxiliary variables %.4f s" % (inproc, aux)
                 if inproc and aux else "not run", len(r["calibrate_s"]),
                 r["calls_per_time"], rc, ", ".join("%.4f" % x for x in r["calibrate_s"]),
                 rn, rt, rrss, r["iterations"], r["largest_relative_misfit"], diff))
        print("  R in its process besides calibrate(): read the CSVs %.3f s, model matrix "
              "%.3f s, svydesign %.3f s" % (r["read_s"], r["matrix_s"], r["design_s"]))
    print()
    print("| case | dotation `weights` process (peak RSS) | Rscript process (peak RSS) "
          "| R / dotation | dotation `calibrate_dataset` in process | R `calibrate()` alone "
          "| R / dotation | Newton steps dotation / R | largest weight difference |")
    print("|---|---|---|---|---|---|---|---|---|")
    for line in lines:
        print(line)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("national")
    p.add_argument("survey")
    p.add_argument("work")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--sigma", type=float, default=0.3)
    c = sub.add_parser("compare")
    c.add_argument("weights")
    c.add_argument("r_weights")
    c.add_argument("--json", help="also write the difference to this file")
    r = sub.add_parser("report")
    r.add_argument("work")
    r.add_argument("--criterion", help="criterion's folder (target/criterion) when the "
                   "weights bench ran in this run")
    args = parser.parse_args()
    if args.command == "prepare":
        prepare(args)
    elif args.command == "compare":
        worst = compare(args)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"max_relative_difference": worst}, f)
    else:
        report(args)


if __name__ == "__main__":
    sys.exit(main())
