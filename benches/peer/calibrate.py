"""Times statsmodels (and numpy) on dotation's national calibration bench, in the same run
as dotation, and checks that they find the same parameters.

Run by benches/peer/run_calibrate.sh (the tool: $CALIBRATE_PEER, else
target/release/calibrate_peer). The data: 6,300 services, 800,000 APA users, a
forfait on 32 groups (GIR x entourage level x rurality), weighted least squares with
standard errors clustered by service.

- end to end: from users.parquet and services.parquet, pandas builds the design (user-months
  per service and group: a groupby + pivot), statsmodels fits WLS with cluster-robust
  errors; dotation builds the design from the validated users and fits (KKT under national
  neutrality, CR1 errors);
- fit only: statsmodels (and numpy's lstsq) on dotation's design.parquet, against
  dotation's fit on its design;
- fit under guarantees: the same WLS under national neutrality and the guarantees' lower
  bounds on every service's funding (bounds.parquet: users' out-of-pocket, a 50 %
  transition limit), a quadratic program; quadprog (Goldfarb-Idnani dual active set) on
  the same design and bounds, against dotation (a working set of exact KKT solves from
  the moments; clarabel's interior point only as a fallback);
- bootstrap, B = 1,000, the services as one unstratified sample: dotation (Preston's
  replicates, per-service blocks, the refits as one matrix product) against a numpy
  refitting loop (n − 1 services drawn with replacement) and, when installed, R's survey
  (benches/peer/bootstrap.R: as.svrepdesign(type = "subbootstrap") + svyglm); standard
  errors within Monte-Carlo error of each other;
- dotation alone: a sweep of 9,999 scenarios on the national frame, the 10-fold
  cross-validation of every formula kind on the survey.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import quadprog
import statsmodels
import statsmodels.api as sm

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def median_time(f, repeats):
    times = []
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), out


def build_design(users, services):
    apa = users[users["allowance"] == "APA"]
    rur = np.where(apa["zone"].isin(["rural", "mountain"]), "rural", "urban")
    key = (
        "forfait["
        + apa["gir"].astype(str)
        + "/"
        + apa["entourage"].astype(str)
        + "/"
        + rur
        + "]"
    )
    frame = pd.DataFrame(
        {"service_id": apa["service_id"].values, "group": key.values, "m": apa["months_served"].values}
    )
    x = frame.pivot_table(index="service_id", columns="group", values="m", aggfunc="sum", fill_value=0.0)
    return x.reindex(services["service_id"]).fillna(0.0)


def fit(x, y, w):
    n = len(y)
    return sm.WLS(y, x, weights=w).fit(cov_type="cluster", cov_kwds={"groups": np.arange(n)})


def main():
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    work = target / "peer-calibrate"
    tool = os.environ.get("CALIBRATE_PEER", str(target / "release" / "calibrate_peer"))
    ours = json.loads(
        subprocess.run(
            [tool, str(work), str(repeats)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        ).stdout
    )
    users = pd.read_parquet(work / "users.parquet")
    services = pd.read_parquet(work / "services.parquet")
    design = pd.read_parquet(work / "design.parquet")
    params = pd.read_parquet(work / "parameters.parquet")
    names = list(params["parameter"])
    y = services["cost"].to_numpy()
    w = services["weight"].to_numpy()

    def end_to_end():
        x = build_design(users, services)
        return fit(x[names].to_numpy(), y, w)

    t_e2e, res = median_time(end_to_end, repeats)
    t_build, _ = median_time(lambda: build_design(users, services), repeats)
    xd = design[names].to_numpy()
    t_fit, res_fit = median_time(lambda: fit(xd, y, w), repeats)
    sw = np.sqrt(w)
    t_np, beta_np = median_time(lambda: np.linalg.lstsq(xd * sw[:, None], y * sw, rcond=None)[0], repeats)

    est = params["estimate"].to_numpy()
    se = params["std_error"].to_numpy()
    rel_params = float(np.max(np.abs(res.params - est) / np.abs(res.params)))
    rel_se = float(np.max(np.abs(res.bse - se) / np.abs(res.bse)))
    rel_fit = float(np.max(np.abs(res_fit.params - est) / np.abs(res_fit.params)))
    print(
        f"national calibration: {ours['services']} services, {ours['users']} users, "
        f"{ours['parameters']} parameters; statsmodels {statsmodels.__version__}, "
        f"numpy {np.__version__}, pandas {pd.__version__}; medians of {repeats}"
    )
    print(f"agreement with statsmodels: parameters {rel_params:.1e}, cluster SEs {rel_se:.1e} (max relative)")
    print(f"| step | dotation | peer | peer / dotation |")
    print(f"|---|---|---|---|")
    rows = [
        ("design from users (dotation: validated users; pandas: groupby + pivot)", ours["design"], t_build),
        ("fit, WLS + clustered SEs (dotation: under national neutrality, KKT)", ours["fit_neutral"], t_fit),
        ("fit without neutrality (statsmodels' problem)", ours["fit_unconstrained"], t_fit),
        ("fit, numpy lstsq (parameters only) vs dotation unconstrained", ours["fit_unconstrained"], t_np),
        ("end to end: design + fit", ours["total"], t_e2e),
    ]
    for label, a, b in rows:
        print(f"| {label} | {a * 1e3:.2f} ms | {b * 1e3:.2f} ms | {b / a:.1f} |")
    # The quadratic program: min Σ r (y − Xθ)² s.t. Σ w Xθ = Σ w (F0 − a), Xθ ≥ L − a.
    bounds = pd.read_parquet(work / "bounds.parquet")
    guaranteed = pd.read_parquet(work / "parameters_guaranteed.parquet")
    row = {sid: i for i, sid in enumerate(design["service_id"])}
    idx = bounds["service_id"].map(row).to_numpy()
    offset = design["offset"].to_numpy()
    r = design["regression_weight"].to_numpy()
    wd = design["weight"].to_numpy()
    yn = design["cost"].to_numpy() - offset

    def qp():
        g = xd.T @ (xd * r[:, None])
        a = xd.T @ (r * yn)
        c = np.vstack([wd @ xd, xd[idx]]).T
        b = np.concatenate([[wd @ (design["baseline"].to_numpy() - offset)], bounds["funding_min"].to_numpy() - offset[idx]])
        return quadprog.solve_qp(g, a, c, b, 1)

    t_qp, sol = median_time(qp, repeats)
    theta_qp = sol[0]
    rel_qp = float(np.max(np.abs(theta_qp - guaranteed["estimate"].to_numpy()) / np.abs(theta_qp)))
    active_qp = int(np.sum(sol[5] > 0)) - 1
    print(
        f"\nfit under guarantees: {ours['bound_rows']} bounds, {ours['binding']} binding "
        f"(quadprog: {active_qp}), polished {ours['polished']}; quadprog {quadprog.__version__ if hasattr(quadprog, '__version__') else ''}; "
        f"agreement with quadprog: parameters {rel_qp:.1e} (max relative)"
    )
    print(f"| step | dotation | peer | peer / dotation |")
    print(f"|---|---|---|---|")
    print(f"| guarantee bounds from users (dotation only) | {ours['bounds'] * 1e3:.2f} ms | — | — |")
    print(
        f"| the program alone, parameters only: moments from the design, neutrality, bounds "
        f"(dotation: working set + exact KKT; quadprog: dual active set) "
        f"| {ours['qp_parameters'] * 1e3:.2f} ms | {t_qp * 1e3:.2f} ms | {t_qp / ours['qp_parameters']:.1f} |"
    )
    print(
        f"| the whole fit under guarantees (dotation: + clustered SEs, metrics) vs quadprog's parameters "
        f"| {ours['fit_guaranteed'] * 1e3:.2f} ms | {t_qp * 1e3:.2f} ms | {t_qp / ours['fit_guaranteed']:.1f} |"
    )
    # Preston's bootstrap, B = 1,000, the national services as one unstratified sample:
    # numpy refits the unconstrained WLS on each replicate's weights (n − 1 services drawn
    # with replacement, weights rescaled by n / (n − 1)).
    boot = pd.read_parquet(work / "parameters_bootstrap.parquet")
    rng = np.random.default_rng(1)
    n = len(y)

    def numpy_bootstrap():
        thetas = np.empty((1000, xd.shape[1]))
        for b in range(1000):
            m = rng.multinomial(n - 1, np.full(n, 1.0 / n))
            wb = w * m * (n / (n - 1))
            thetas[b] = np.linalg.solve(xd.T @ (xd * wb[:, None]), xd.T @ (wb * y))
        return thetas.std(axis=0, ddof=1)

    t_boot, se_np = median_time(numpy_bootstrap, max(1, min(repeats, 3)))
    se_ours = boot["std_error"].to_numpy()
    ratio = se_ours / se_np
    print(
        f"\nbootstrap, B = 1,000, {n} services as one sample (no fpc): "
        f"dotation's SEs over numpy's: {ratio.min():.3f} … {ratio.max():.3f} (Monte-Carlo error ≈ 2–5 %)"
    )
    print(f"| step | dotation | peer | peer / dotation |")
    print(f"|---|---|---|---|")
    print(
        f"| 1,000 replicates (dotation: per-service blocks, the refits as one matrix product; "
        f"numpy: a refitting loop) | {ours['bootstrap_1000'] * 1e3:.1f} ms | {t_boot * 1e3:.1f} ms "
        f"| {t_boot / ours['bootstrap_1000']:.1f} |"
    )
    # R's survey: the same fit on 1,000 bootstrap replicates (benches/peer/bootstrap.R),
    # when R and its survey package are installed.
    r_line = None
    if shutil.which("Rscript") and subprocess.run(
        ["Rscript", "-e", "library(survey)"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ).returncode == 0:
        csv = work / "design.csv"
        frame = pd.DataFrame({"y": y, "w": w})
        for j in range(xd.shape[1]):
            frame[f"x{j + 1}"] = xd[:, j]
        frame.to_csv(csv, index=False)
        t0 = time.perf_counter()
        r = json.loads(
            subprocess.run(
                ["Rscript", str(HERE / "bootstrap.R"), str(csv)], check=True, stdout=subprocess.PIPE, text=True
            ).stdout
        )
        t_r = time.perf_counter() - t0
        r_ratio = se_ours / np.array(r["se"])
        r_line = (
            f"| R survey: as.svrepdesign(subbootstrap, 1,000) + svyglm (replicates {r['replicates']:.1f} s, "
            f"fit {r['fit']:.1f} s; Rscript {t_r:.1f} s in all); SEs over R's "
            f"{r_ratio.min():.3f} … {r_ratio.max():.3f} | {ours['bootstrap_1000'] * 1e3:.1f} ms "
            f"| {(r['replicates'] + r['fit']) * 1e3:.0f} ms | {(r['replicates'] + r['fit']) / ours['bootstrap_1000']:.0f} |"
        )
    print(r_line or "| R survey: not installed (apt-get install -y r-cran-survey) | — | — | — |")
    print(
        f"\nsweep of {ours['sweep_scenarios']} scenarios on the national frame (the whole job): "
        f"{ours['sweep'] * 1e3:.0f} ms; 10-fold cross-validation of the {ours['cv_kinds']} formula "
        f"kinds of the catalogue on the survey ({ours['survey_services']} services): "
        f"{ours['cv_every_kind'] * 1e3:.0f} ms"
    )
    if ratio.min() < 0.8 or ratio.max() > 1.25:
        print("WARNING: dotation's and numpy's bootstrap standard errors disagree beyond Monte-Carlo error")
        sys.exit(1)
    if rel_qp > 1e-7:
        print("WARNING: dotation and quadprog disagree beyond 1e-7")
        sys.exit(1)
    if max(rel_params, rel_se, rel_fit) > 1e-8:
        print("WARNING: dotation and statsmodels disagree beyond 1e-8")
        sys.exit(1)


main()
