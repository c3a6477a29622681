"""Reference vectors for the calibration solvers (DOMAIN.md section 5).

Writes one JSON file per vector in this folder:

    wls_small.json         weighted least squares, nonrobust / HC0 / HC1 covariances
    wls_clustered.json     weighted least squares, cluster-robust covariances (CR1, CR0)
    kkt_national.json      WLS with one budget-neutrality equality (national)
    kkt_departements.json  WLS with one budget-neutrality equality per departement
    point_values.json      national relative weights, then one point value per departement
    huber.json             Huber M-estimate (statsmodels RLM), default fit and fixed point
    median.json            least absolute deviation (median) regression, exact vertex
    qp_guarantees.json     WLS under neutrality and guarantee inequalities (active set, exact
                           solution checked for KKT), and guarantees that cannot all hold

Every input is generated from a fixed numpy seed and written out in full. Inputs are
integers or short decimals (cents, two-decimal weights) so that any JSON reader recovers
exactly the doubles used here. Besides the library answer, each linear problem is solved
once more in exact rational arithmetic (fractions.Fraction on the exact binary values of
the inputs); the "checks" block of each file gives the relative differences found.

Run: .venv/bin/python make_vectors.py   (see README.md)
"""

import json
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import scipy
import scipy.optimize as so
import scipy.stats as st
import statsmodels
import statsmodels.api as sm

HERE = Path(__file__).resolve().parent
VERSIONS = {
    "python": sys.version.split()[0],
    "numpy": np.__version__,
    "scipy": scipy.__version__,
    "statsmodels": statsmodels.__version__,
}
SUMMARY = []  # (file, check, value) printed at the end


# --------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------

def fl(a):
    """numpy -> plain Python floats / lists (json writes them with repr: round-trip exact)."""
    a = np.asarray(a, dtype=float)
    return a.tolist()


def cents(a):
    return np.round(np.asarray(a, dtype=float), 2)


def to_frac(a):
    a = np.asarray(a, dtype=float)
    if a.ndim == 0:
        return Fraction(float(a))
    return [to_frac(r) for r in a]


def frac_solve(A, b):
    """Solve A x = b exactly (Gauss-Jordan with pivoting on non-zero entries)."""
    n = len(A)
    M = [list(A[i]) + [b[i]] for i in range(n)]
    for c in range(n):
        p = next(r for r in range(c, n) if M[r][c] != 0)
        M[c], M[p] = M[p], M[c]
        piv = M[c][c]
        M[c] = [v / piv for v in M[c]]
        for r in range(n):
            if r != c and M[r][c] != 0:
                f = M[r][c]
                M[r] = [vr - f * vc for vr, vc in zip(M[r], M[c])]
    return [M[i][n] for i in range(n)]


def frac_inv(A):
    n = len(A)
    cols = [frac_solve(A, [Fraction(int(i == j)) for i in range(n)]) for j in range(n)]
    return [[cols[j][i] for j in range(n)] for i in range(n)]


def frac_matmul(A, B):
    return [[sum(A[i][t] * B[t][j] for t in range(len(B))) for j in range(len(B[0]))]
            for i in range(len(A))]


def frac_xtwx(X, w):
    n, k = len(X), len(X[0])
    return [[sum(w[i] * X[i][a] * X[i][b] for i in range(n)) for b in range(k)] for a in range(k)]


def frac_xtwy(X, w, y):
    n, k = len(X), len(X[0])
    return [sum(w[i] * X[i][a] * y[i] for i in range(n)) for a in range(k)]


def frac_wls(X, y, w):
    """Exact WLS solution of the normal equations X'WX b = X'Wy."""
    return frac_solve(frac_xtwx(X, w), frac_xtwy(X, w, y))


def frac_resid(X, y, b):
    return [y[i] - sum(X[i][j] * b[j] for j in range(len(b))) for i in range(len(y))]


def frac_sandwich(bread, scores_list):
    """bread * (sum_s s s') * bread for a list of score vectors s."""
    k = len(bread)
    meat = [[sum(s[a] * s[b] for s in scores_list) for b in range(k)] for a in range(k)]
    return frac_matmul(frac_matmul(bread, meat), bread)


def to_float(a):
    if isinstance(a, list):
        return [to_float(v) for v in a]
    return float(a)


def rel_elem(a, exact):
    """max_i |a_i - e_i| / |e_i| (elementwise relative, e_i != 0), computed exactly."""
    a = np.ravel(np.asarray(a, dtype=float))
    e = _flat(exact)
    return float(max(abs(Fraction(float(x)) - y) / abs(y) for x, y in zip(a, e)))


def rel_norm(a, exact):
    """max_i |a_i - e_i| / max_i |e_i| (normwise relative), computed exactly."""
    a = np.ravel(np.asarray(a, dtype=float))
    e = _flat(exact)
    den = max(abs(y) for y in e)
    return float(max(abs(Fraction(float(x)) - y) for x, y in zip(a, e)) / den)


def _flat(e):
    if isinstance(e, list):
        out = []
        for v in e:
            out.extend(_flat(v))
        return out
    return [e]


def rel_np(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b) / np.abs(b)))


def check(name, file, value, limit=1e-10):
    SUMMARY.append((file, name, value))
    if not value <= limit:
        print(f"WARNING {file}: {name} = {value:.3e} > {limit:.0e}")
    return value


def lstsq_sqrtw(X, y, w):
    sw = np.sqrt(w)
    return np.linalg.lstsq(sw[:, None] * X, sw * y, rcond=None)[0]


def conditioning(X, w):
    sw = np.sqrt(w)
    A = sw[:, None] * X
    As = A / np.linalg.norm(A, axis=0)
    return {
        "cond_sqrtW_X": float(np.linalg.cond(A)),
        "cond_sqrtW_X_columns_scaled_to_unit_norm": float(np.linalg.cond(As)),
    }


def write(name, obj):
    obj["generator"] = {"script": "make_vectors.py", "versions": VERSIONS}
    path = HERE / name
    with open(path, "w") as f:
        json.dump(obj, f, indent=1, allow_nan=False)
        f.write("\n")
    # round-trip: the doubles read back are the ones used
    back = json.loads(path.read_text())
    for key, val in obj["inputs"].items():
        if isinstance(val, list) and val and not isinstance(_flat(val)[0], str):
            assert np.array_equal(np.asarray(back["inputs"][key], dtype=float),
                                  np.asarray(val, dtype=float)), (name, key)
    print(f"wrote {name}")


# --------------------------------------------------------------------------------------
# synthetic services (DOMAIN.md sections 4 and 7 orders of magnitude)
# --------------------------------------------------------------------------------------

# EUR per user-month by group, and a fixed part per service (socle)
COST = {"socle": 85_000.0, "gir12": 1_450.0, "gir34": 820.0, "gir56": 360.0,
        "pch": 1_900.0, "travel_h": 31.0}


def user_months(rng, n, lo, hi):
    return np.round(rng.uniform(lo, hi, n))


def noisy_cost(rng, mean, rel_sd=0.06):
    """cost with heteroskedastic noise, sd proportional to sqrt(size), rounded to cents."""
    sd = rel_sd * np.sqrt(mean * 60_000.0)
    return cents(mean + rng.normal(0.0, 1.0, mean.shape) * sd)


def design_weights(rng, n):
    return cents(rng.uniform(1.0, 40.0, n))


def baseline(rng, hours, rate):
    """F0 = hours x hourly rate + a small dotation complementaire, rounded to cents."""
    dc = np.round(rng.uniform(0.0, 3.0, hours.shape), 2) * hours
    return cents(hours * rate + dc)


# --------------------------------------------------------------------------------------
# 1 and 2: WLS with robust covariances
# --------------------------------------------------------------------------------------

def wls_exact_all(X, y, w, groups=None):
    Xf, yf, wf = to_frac(X), to_frac(y), to_frac(w)
    n, k = len(Xf), len(Xf[0])
    b = frac_wls(Xf, yf, wf)
    r = frac_resid(Xf, yf, b)
    bread = frac_inv(frac_xtwx(Xf, wf))
    scores = [[wf[i] * r[i] * Xf[i][j] for j in range(k)] for i in range(n)]
    hc0 = frac_sandwich(bread, scores)
    out = {"params": b, "resid": r, "bread": bread, "HC0": hc0,
           "HC1": [[v * Fraction(n, n - k) for v in row] for row in hc0]}
    ssr = sum(wf[i] * r[i] ** 2 for i in range(n))
    out["ssr"] = ssr
    out["scale"] = ssr / (n - k)
    out["nonrobust"] = [[v * out["scale"] for v in row] for row in bread]
    ybar = sum(wf[i] * yf[i] for i in range(n)) / sum(wf)
    out["r2_centered"] = 1 - ssr / sum(wf[i] * (yf[i] - ybar) ** 2 for i in range(n))
    out["r2_uncentered"] = 1 - ssr / sum(wf[i] * yf[i] ** 2 for i in range(n))
    if groups is not None:
        labels = sorted(set(groups))
        G = len(labels)
        gs = [[sum(scores[i][j] for i in range(n) if groups[i] == g) for j in range(k)]
              for g in labels]
        cr0 = frac_sandwich(bread, gs)
        corr = Fraction(G, G - 1) * Fraction(n - 1, n - k)
        out["CR0"] = cr0
        out["CR1"] = [[v * corr for v in row] for row in cr0]
    return out


def numpy_sandwich(X, w, r, groups=None):
    bread = np.linalg.inv(X.T @ (w[:, None] * X))
    scores = (w * r)[:, None] * X
    if groups is not None:
        labels = np.unique(groups)
        scores = np.array([scores[groups == g].sum(axis=0) for g in labels])
    return bread @ (scores.T @ scores) @ bread


def vec_wls_small():
    name = "wls_small.json"
    rng = np.random.default_rng(20260101)
    n = 24
    um12 = user_months(rng, n, 100, 2000)
    um34 = user_months(rng, n, 200, 5000)
    um56 = user_months(rng, n, 100, 3000)
    X = np.column_stack([np.ones(n), um12, um34, um56])
    mean = COST["socle"] + COST["gir12"] * um12 + COST["gir34"] * um34 + COST["gir56"] * um56
    y = noisy_cost(rng, mean)
    w = design_weights(rng, n)

    mod = sm.WLS(y, X, weights=w)
    r_nr = mod.fit()
    r_hc0 = mod.fit(cov_type="HC0")
    r_hc1 = mod.fit(cov_type="HC1")
    ex = wls_exact_all(X, y, w)
    b_lstsq = lstsq_sqrtw(X, y, w)

    z_norm = st.norm.ppf(0.975)
    t_q = st.t.ppf(0.975, n - X.shape[1])
    assert not r_hc0.use_t and not r_hc1.use_t and r_nr.use_t
    for r, q in ((r_nr, t_q), (r_hc0, z_norm), (r_hc1, z_norm)):
        ci = r.conf_int()
        assert np.allclose(ci[:, 0], r.params - q * r.bse, rtol=1e-13, atol=0)

    checks = {
        "params_statsmodels_vs_exact_rel": check("params sm vs exact", name, rel_elem(r_nr.params, ex["params"])),
        "params_lstsq_vs_statsmodels_rel": check("params lstsq vs sm", name, rel_np(b_lstsq, r_nr.params)),
        "params_lstsq_vs_exact_rel": check("params lstsq vs exact", name, rel_elem(b_lstsq, ex["params"])),
        "resid_statsmodels_vs_exact_normwise_rel": check("resid vs exact (normwise)", name, rel_norm(r_nr.resid, ex["resid"])),
        "cov_nonrobust_vs_exact_rel": check("cov nonrobust vs exact", name, rel_elem(r_nr.cov_params(), ex["nonrobust"])),
        "cov_HC0_vs_exact_rel": check("cov HC0 vs exact", name, rel_elem(r_hc0.cov_params(), ex["HC0"])),
        "cov_HC1_vs_exact_rel": check("cov HC1 vs exact", name, rel_elem(r_hc1.cov_params(), ex["HC1"])),
        "cov_HC0_numpy_sandwich_vs_exact_rel": check("cov HC0 numpy sandwich vs exact", name,
                                                     rel_elem(numpy_sandwich(X, w, r_nr.resid), ex["HC0"])),
        "rsquared_vs_exact_rel": check("rsquared vs exact", name, rel_elem([r_nr.rsquared], [ex["r2_centered"]])),
        **conditioning(X, w),
    }
    write(name, {
        "description": "Weighted least squares beta = argmin sum_i w_i (y_i - x_i beta)^2 "
                       "(statsmodels WLS(y, X, weights=w)), with nonrobust, HC0 and HC1 covariances.",
        "conventions": {
            "resid": "y - X beta (unweighted residuals, statsmodels .resid)",
            "ssr": "sum_i w_i resid_i^2",
            "scale": "ssr / (n - k)",
            "rsquared": "statsmodels .rsquared; X has a constant column so it is the centered one",
            "rsquared_centered": "1 - ssr / sum_i w_i (y_i - ybar_w)^2, ybar_w = sum w y / sum w",
            "rsquared_uncentered": "1 - ssr / sum_i w_i y_i^2",
            "rsquared_adj": "1 - (n - 1) / (n - k) (1 - rsquared)",
            "cov_nonrobust": "scale (X'WX)^-1",
            "cov_HC0": "(X'WX)^-1 [sum_i w_i^2 resid_i^2 x_i x_i'] (X'WX)^-1",
            "cov_HC1": "n / (n - k) cov_HC0",
            "se": "sqrt(diag(cov))",
            "conf_int_95": "params -/+ q se; q = t(n-k) 0.975 quantile for nonrobust, "
                           "standard normal 0.975 quantile for HC0 and HC1 (statsmodels use_t=False)",
        },
        "inputs": {"columns": ["socle (1)", "user_months_gir12", "user_months_gir34", "user_months_gir56"],
                   "X": fl(X), "y": fl(y), "w": fl(w)},
        "expected": {
            "n": n, "k": X.shape[1],
            "params": fl(r_nr.params),
            "resid": fl(r_nr.resid),
            "fittedvalues": fl(r_nr.fittedvalues),
            "ssr": float(r_nr.ssr),
            "scale": float(r_nr.scale),
            "rsquared": float(r_nr.rsquared),
            "rsquared_centered": float(ex["r2_centered"]),
            "rsquared_uncentered": float(ex["r2_uncentered"]),
            "rsquared_adj": float(r_nr.rsquared_adj),
            "cov_nonrobust": fl(r_nr.cov_params()),
            "se_nonrobust": fl(r_nr.bse),
            "cov_HC0": fl(r_hc0.cov_params()),
            "se_HC0": fl(r_hc0.bse),
            "cov_HC1": fl(r_hc1.cov_params()),
            "se_HC1": fl(r_hc1.bse),
            "quantile_t_0975_df_n_minus_k": float(t_q),
            "quantile_normal_0975": float(z_norm),
            "conf_int_95_nonrobust": fl(r_nr.conf_int()),
            "conf_int_95_HC0": fl(r_hc0.conf_int()),
            "conf_int_95_HC1": fl(r_hc1.conf_int()),
        },
        "checks": checks,
    })


def vec_wls_clustered():
    name = "wls_clustered.json"
    rng = np.random.default_rng(20260102)
    G, T = 12, 4  # 12 services observed over 4 years: rows are service-years, clusters services
    n = G * T
    groups = np.repeat(np.arange(1, G + 1), T)
    size = rng.uniform(0.3, 2.0, G)[groups - 1]  # a service keeps its size over the years
    um12 = np.round(size * rng.uniform(300, 1200, n))
    um34 = np.round(size * rng.uniform(800, 3000, n))
    um56 = np.round(size * rng.uniform(200, 1500, n))
    X = np.column_stack([np.ones(n), um12, um34, um56])
    effect = rng.normal(0.0, 0.08, G)[groups - 1]  # service effect: correlated within cluster
    mean = COST["socle"] + COST["gir12"] * um12 + COST["gir34"] * um34 + COST["gir56"] * um56
    y = noisy_cost(rng, mean * (1.0 + effect), rel_sd=0.04)
    w = design_weights(rng, G)[groups - 1]  # the design weight is the service's

    mod = sm.WLS(y, X, weights=w)
    r_nr = mod.fit()
    r_cl = mod.fit(cov_type="cluster", cov_kwds={"groups": groups})
    r_cl0 = mod.fit(cov_type="cluster", cov_kwds={"groups": groups, "use_correction": False})
    ex = wls_exact_all(X, y, w, groups=list(groups))
    k = X.shape[1]
    corr = G / (G - 1) * (n - 1) / (n - k)
    cr0_np = numpy_sandwich(X, w, r_nr.resid, groups)
    z_norm = st.norm.ppf(0.975)
    t_g = st.t.ppf(0.975, G - 1)
    assert not r_cl.use_t and r_cl.df_resid_inference == G - 1
    ci = r_cl.conf_int()
    assert np.allclose(ci[:, 1], r_cl.params + z_norm * r_cl.bse, rtol=1e-13, atol=0)
    se_cr0 = np.sqrt(np.diag(cr0_np))

    checks = {
        "params_statsmodels_vs_exact_rel": check("params sm vs exact", name, rel_elem(r_cl.params, ex["params"])),
        "params_lstsq_vs_statsmodels_rel": check("params lstsq vs sm", name, rel_np(lstsq_sqrtw(X, y, w), r_cl.params)),
        "cov_CR1_statsmodels_vs_exact_rel": check("cov CR1 sm vs exact", name, rel_elem(r_cl.cov_params(), ex["CR1"])),
        "cov_CR0_numpy_vs_exact_rel": check("cov CR0 numpy vs exact", name, rel_elem(cr0_np, ex["CR0"])),
        "cov_CR0_statsmodels_use_correction_false_vs_numpy_rel": check(
            "cov CR0 sm(use_correction=False) vs numpy", name, rel_np(r_cl0.cov_params(), cr0_np)),
        **conditioning(X, w),
    }
    write(name, {
        "description": "Same model as wls_small (WLS of cost on a socle and user-months by GIR band) on "
                       "service-year rows, with cluster-robust covariances by service "
                       "(statsmodels fit(cov_type='cluster', cov_kwds={'groups': cluster})).",
        "conventions": {
            "scores": "s_i = w_i resid_i x_i; cluster sums S_g = sum_{i in g} s_i",
            "cov_CR0": "(X'WX)^-1 [sum_g S_g S_g'] (X'WX)^-1 (no small-sample correction; numpy)",
            "cov_CR1": "G/(G-1) (N-1)/(N-K) cov_CR0 (statsmodels default use_correction=True)",
            "small_sample_factor": "G/(G-1) * (N-1)/(N-K)",
            "conf_int_95_CR1": "statsmodels conf_int(): params -/+ z se_CR1 with z the standard normal "
                               "0.975 quantile (use_t is False for cov_type='cluster' unless asked; "
                               "statsmodels stores df_resid_inference = G-1 but does not use it then)",
            "conf_int_95_CR1_t_G_minus_1": "alternative: params -/+ t(G-1) 0.975 quantile * se_CR1 "
                                           "(what fit(..., use_t=True) gives)",
            "conf_int_95_CR0": "params -/+ z se_CR0, z standard normal 0.975 quantile",
        },
        "inputs": {"columns": ["socle (1)", "user_months_gir12", "user_months_gir34", "user_months_gir56"],
                   "X": fl(X), "y": fl(y), "w": fl(w), "cluster": groups.tolist()},
        "expected": {
            "n": n, "k": k, "G": G,
            "params": fl(r_cl.params),
            "resid": fl(r_cl.resid),
            "cov_nonrobust": fl(r_nr.cov_params()),
            "se_nonrobust": fl(r_nr.bse),
            "small_sample_factor": corr,
            "cov_CR1": fl(r_cl.cov_params()),
            "se_CR1": fl(r_cl.bse),
            "cov_CR0": fl(cr0_np),
            "se_CR0": fl(se_cr0),
            "quantile_normal_0975": float(z_norm),
            "quantile_t_0975_df_G_minus_1": float(t_g),
            "conf_int_95_CR1": fl(ci),
            "conf_int_95_CR1_t_G_minus_1": fl(np.column_stack([r_cl.params - t_g * r_cl.bse,
                                                             r_cl.params + t_g * r_cl.bse])),
            "conf_int_95_CR0": fl(np.column_stack([r_cl.params - z_norm * se_cr0,
                                                  r_cl.params + z_norm * se_cr0])),
        },
        "checks": checks,
    })


# --------------------------------------------------------------------------------------
# 3 and 4: equality-constrained WLS (budget neutrality), KKT system
# --------------------------------------------------------------------------------------

def kkt_solve(X, y, w, C, d):
    k, m = X.shape[1], C.shape[0]
    K = np.zeros((k + m, k + m))
    K[:k, :k] = 2.0 * X.T @ (w[:, None] * X)
    K[:k, k:] = C.T
    K[k:, :k] = C
    rhs = np.concatenate([2.0 * X.T @ (w * y), d])
    sol = np.linalg.solve(K, rhs)
    return sol[:k], sol[k:], K


def kkt_exact(X, y, w, C, d):
    Xf, yf, wf, Cf, df = to_frac(X), to_frac(y), to_frac(w), to_frac(C), to_frac(d)
    return _kkt_exact_frac(Xf, yf, wf, Cf, df, with_lambda=True)


def _kkt_exact_frac(Xf, yf, wf, Cf, df, with_lambda=False):
    k, m = len(Xf[0]), len(Cf)
    A = frac_xtwx(Xf, wf)
    b = frac_xtwy(Xf, wf, yf)
    K = [[2 * A[i][j] for j in range(k)] + [Cf[r][i] for r in range(m)] for i in range(k)]
    K += [list(Cf[r]) + [Fraction(0)] * m for r in range(m)]
    sol = frac_solve(K, [2 * v for v in b] + list(df))
    return (sol[:k], sol[k:]) if with_lambda else sol[:k]


def scipy_eq_qp(X, y, w, C, d, method, rounds=1):
    """Same problem through scipy.optimize.minimize on a rescaled copy: beta = |sqrt(W) y| D z,
    D_j = 1 / |sqrt(W) X_j|, objective q(z) = |b - A z|^2 / 2 with A = sqrt(W) X D,
    b = sqrt(W) y / |sqrt(W) y|; constraint rows normalised. Round r > 1 restarts from the
    previous solution z_r with the objective written around it,
    q(z) - q(z_r) = g_r'(z - z_r) + (z - z_r)' A'A (z - z_r) / 2, g_r = -A'(b - A z_r),
    so that function values near the optimum are not swamped by rounding."""
    sw = np.sqrt(w)
    nb = np.linalg.norm(sw * y)
    D = 1.0 / np.linalg.norm(sw[:, None] * X, axis=0)
    A = (sw[:, None] * X) * D
    b = sw * y / nb
    H = A.T @ A
    Cz = C * D
    R = 1.0 / np.linalg.norm(Cz, axis=1)
    Cn, dn = Cz * R[:, None], d * R / nb
    z = np.zeros(X.shape[1])
    for _ in range(rounds):
        zk = z.copy()
        gk = -A.T @ (b - A @ zk)

        def f(z, zk=zk, gk=gk):
            s = z - zk
            return gk @ s + 0.5 * s @ H @ s

        def jac(z, zk=zk, gk=gk):
            return gk + H @ (z - zk)

        if method == "trust-constr":
            res = so.minimize(f, zk, jac=jac, hess=lambda z: H, method="trust-constr",
                              constraints=[so.LinearConstraint(Cn, dn, dn)],
                              options={"gtol": 1e-15, "xtol": 1e-16, "maxiter": 5000})
        else:
            res = so.minimize(f, zk, jac=jac, method="SLSQP",
                              constraints=[{"type": "eq", "fun": lambda z: Cn @ z - dn, "jac": lambda z: Cn}],
                              options={"ftol": 1e-16, "maxiter": 1000})
        z = res.x
    # scipy: grad q + Cn' v = 0  =>  grad_beta f + C' (2 |sqrt(W) y| R v) = 0 (same sign as ours)
    lam = 2.0 * nb * R * res.v[0] if method == "trust-constr" else None
    return nb * D * z, lam, res


def nullspace_solve(X, y, w, C, d):
    """Direct check: beta = beta_p + N t, C beta_p = d (minimum norm), N = null_space(C),
    t = lstsq(sqrt(W) X N, sqrt(W) (y - X beta_p))."""
    import scipy.linalg as sl
    bp = sl.lstsq(C, d)[0]
    N = sl.null_space(C)
    sw = np.sqrt(w)
    t = sl.lstsq(sw[:, None] * X @ N, sw * (y - X @ bp))[0]
    return bp + N @ t


def kkt_vector(name, seed, n, deps, k_cols, description):
    rng = np.random.default_rng(seed)
    per = n // len(deps)  # consecutive blocks of equal size
    dep = np.array([deps[min(i // per, len(deps) - 1)] for i in range(n)])
    # departements differ in case mix and rurality (otherwise the neutrality rows are nearly
    # collinear): multipliers of (gir12, gir34, gir56, pch, travel) by departement
    profile = {"national": (1.0, 1.0, 1.0, 1.0, 1.0),
               "13": (1.0, 1.3, 1.2, 0.5, 0.4), "33": (0.5, 0.6, 0.5, 1.5, 1.0),
               "59": (1.6, 0.8, 0.4, 1.0, 0.7), "69": (0.7, 0.6, 1.0, 0.8, 2.0)}
    mult = np.array([profile[dd] for dd in dep])
    um12 = np.round(mult[:, 0] * rng.uniform(200, 1500, n))
    um34 = np.round(mult[:, 1] * rng.uniform(300, 4000, n))
    um56 = np.round(mult[:, 2] * rng.uniform(250, 2500, n))
    um_pch = np.round(mult[:, 3] * rng.uniform(200, 900, n))
    travel = np.round(mult[:, 4] * rng.uniform(1_000, 30_000, n) * 2) / 2
    cols = {"socle (1)": np.ones(n), "user_months_gir12": um12, "user_months_gir34": um34,
            "user_months_gir56": um56, "user_months_pch": um_pch, "travel_hours": travel}
    names = list(cols)[:k_cols]
    X = np.column_stack([cols[c] for c in names])
    coef = [COST["socle"], COST["gir12"], COST["gir34"], COST["gir56"], COST["pch"], COST["travel_h"]]
    mean = X @ np.array(coef[:k_cols])
    y = noisy_cost(rng, mean)
    w = design_weights(rng, n)
    # baseline: hours (about 52 h per GIR1-2 user-month, 29 per GIR3-4, 13 per GIR5-6, 68 per
    # PCH user-month) times a departemental hourly rate (26.60 to 28.90 EUR/h) plus a DC
    rate = {dd: r for dd, r in zip(deps, [27.10, 28.00, 28.90, 26.60][:len(deps)])}
    hours = 52 * um12 + 29 * um34 + 13 * um56 + (68 * um_pch if "user_months_pch" in names else 0)
    F0 = baseline(rng, hours, np.array([rate[dd] for dd in dep]))
    if "travel_hours" in names:  # travel allowance paid on top of the hourly tariff
        F0 = cents(F0 + 18.0 * travel)

    if len(deps) == 1:
        C = (w[:, None] * X).sum(axis=0)[None, :]
        d = np.array([np.sum(w * F0)])
    else:
        C = np.array([(w[dep == dd, None] * X[dep == dd]).sum(axis=0) for dd in deps])
        d = np.array([np.sum(w[dep == dd] * F0[dep == dd]) for dd in deps])
    m = C.shape[0]
    sv = np.linalg.svd(C / np.linalg.norm(C, axis=1)[:, None], compute_uv=False)
    assert np.linalg.matrix_rank(C) == m and X.shape[1] >= m + 1

    beta, lam, K = kkt_solve(X, y, w, C, d)
    ex_b, ex_l = kkt_exact(X, y, w, C, d)
    b_tc1, l_tc1, _ = scipy_eq_qp(X, y, w, C, d, "trust-constr", rounds=1)
    b_tc, l_tc, res_tc = scipy_eq_qp(X, y, w, C, d, "trust-constr", rounds=2)
    b_sq, _, res_sq = scipy_eq_qp(X, y, w, C, d, "SLSQP")
    b_ns = nullspace_solve(X, y, w, C, d)
    b_unc = sm.WLS(y, X, weights=w).fit().params
    obj = float(np.sum(w * (y - X @ beta) ** 2))
    # envelope theorem: d(optimal objective)/d(d_j) = -lambda_j (central difference, exact rationals)
    fd = []
    Xf, yf, wf = to_frac(X), to_frac(y), to_frac(w)
    for j in range(m):
        h = Fraction(float(d[j])) * Fraction(1, 10**6)
        vals = []
        for sgn in (1, -1):
            dj = [Fraction(float(v)) for v in d]
            dj[j] += sgn * h
            bj = _kkt_exact_frac(Xf, yf, wf, to_frac(C), dj)
            rj = frac_resid(Xf, yf, bj)
            vals.append(sum(wf[i] * rj[i] ** 2 for i in range(n)))
        fd.append(float(-(vals[0] - vals[1]) / (2 * h)))
    obj_unc = float(np.sum(w * (y - X @ b_unc) ** 2))
    cres = C @ beta - d
    F = X @ beta

    checks = {
        "beta_numpy_solve_vs_exact_rel": check("beta solve vs exact", name, rel_elem(beta, ex_b)),
        "lambda_numpy_solve_vs_exact_rel": check("lambda solve vs exact", name, rel_elem(lam, ex_l)),
        "beta_trust_constr_one_run_vs_numpy_rel": check("beta trust-constr (1 run) vs solve", name,
                                                        rel_np(b_tc1, beta), 1e-6),
        "lambda_trust_constr_one_run_vs_numpy_rel": check("lambda trust-constr (1 run) vs solve", name,
                                                          rel_np(l_tc1, lam), 1e-6),
        "beta_trust_constr_restarted_vs_numpy_rel": check("beta trust-constr (2 runs) vs solve", name,
                                                          rel_np(b_tc, beta), 1e-8),
        "lambda_trust_constr_restarted_vs_numpy_rel": check("lambda trust-constr (2 runs) vs solve", name,
                                                            rel_np(l_tc, lam), 1e-8),
        "beta_slsqp_vs_numpy_rel": check("beta SLSQP vs solve", name, rel_np(b_sq, beta), 1e-5),
        "lambda_vs_central_difference_of_optimal_objective_rel": check(
            "lambda vs -d(obj)/d(d) (exact central diff)", name, rel_np(fd, lam), 1e-6),
        "beta_unconstrained_lstsq_vs_statsmodels_rel": check("unconstrained lstsq vs sm", name,
                                                             rel_np(lstsq_sqrtw(X, y, w), b_unc)),
        "beta_nullspace_lstsq_vs_exact_rel": check("beta null-space lstsq vs exact", name, rel_elem(b_ns, ex_b), 1e-9),
        "trust_constr_status": int(res_tc.status), "slsqp_status": int(res_sq.status),
        "cond_kkt_matrix": float(np.linalg.cond(K)),
        "constraint_rows_normalised_singular_values": fl(sv),
        **conditioning(X, w),
    }
    write(name, {
        "description": description,
        "conventions": {
            "problem": "min_beta sum_i w_i (y_i - x_i beta)^2 subject to C beta = d",
            "C_row": "c_d = sum_{i in scope d} w_i x_i (i.e. X'w restricted to the scope)",
            "d": "d_d = sum_{i in scope d} w_i F0_i (budget neutrality: sum w F = sum w F0, F_i = x_i beta)",
            "lagrangian": "L(beta, lambda) = sum_i w_i (y_i - x_i beta)^2 + lambda' (C beta - d)",
            "kkt_system": "[[2 X'WX, C'], [C, 0]] [beta; lambda] = [2 X'W y; d], solved with numpy.linalg.solve",
            "lambda_sign": "lambda = -d(optimal objective)/d(d): lambda > 0 when raising the budget "
                           "lowers the weighted squared error; scipy trust-constr's res.v has the same "
                           "sign (grad f + J'v = 0)",
            "constraint_residual": "C beta - d computed in double from the returned beta",
        },
        "inputs": {"columns": names, "X": fl(X), "y": fl(y), "w": fl(w),
                   "departement": dep.tolist(), "F0": fl(F0),
                   "scopes": list(deps) if len(deps) > 1 else ["national"],
                   "C": fl(C), "d": fl(d)},
        "expected": {
            "n": n, "k": X.shape[1], "m": m,
            "beta": fl(beta),
            "lambda": fl(lam),
            "constraint_residual": fl(cres),
            "constraint_residual_relative": fl(np.abs(cres) / np.abs(d)),
            "funding": fl(F),
            "objective": obj,
            "beta_unconstrained": fl(b_unc),
            "objective_unconstrained": obj_unc,
        },
        "checks": checks,
    })


# --------------------------------------------------------------------------------------
# 5: national relative weights, then departemental point values
# --------------------------------------------------------------------------------------

def vec_point_values():
    name = "point_values.json"
    rng = np.random.default_rng(20260105)
    deps = ["29", "2A", "974"]
    n = 36
    dep = np.array([deps[i // 12] for i in range(n)])
    um12 = user_months(rng, n, 100, 1500)
    um34 = user_months(rng, n, 300, 4000)
    um56 = user_months(rng, n, 100, 2500)
    X = np.column_stack([um12, um34, um56])
    mean = 1_520.0 * um12 + 860.0 * um34 + 380.0 * um56
    y = noisy_cost(rng, mean)
    w = design_weights(rng, n)
    rate = {"29": 23.60, "2A": 25.40, "974": 27.10}
    hours = 52 * um12 + 28 * um34 + 12 * um56
    F0 = baseline(rng, hours, np.array([rate[dd] for dd in dep]))

    fit = sm.WLS(y, X, weights=w).fit()
    theta = fit.params
    xt = X @ theta
    pi, pi_brent, num, den = [], [], [], []
    for dd in deps:
        s = dep == dd
        a, b = np.sum(w[s] * F0[s]), np.sum(w[s] * xt[s])
        num.append(a)
        den.append(b)
        pi.append(a / b)
        root = so.brentq(lambda p: np.sum(w[s] * p * xt[s]) - a, 0.1, 10.0,
                         xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
        pi_brent.append(root)
    pi, pi_brent = np.array(pi), np.array(pi_brent)
    pi_row = np.array([pi[deps.index(dd)] for dd in dep])
    F = pi_row * xt
    neutral = np.array([np.sum(w[dep == dd] * F[dep == dd]) - num[j] for j, dd in enumerate(deps)])

    # exact: theta from the normal equations, pi_d = sum w F0 / sum w x theta
    Xf, yf, wf, F0f = to_frac(X), to_frac(y), to_frac(w), to_frac(F0)
    th_ex = frac_wls(Xf, yf, wf)
    pi_ex = []
    for dd in deps:
        idx = [i for i in range(n) if dep[i] == dd]
        a = sum(wf[i] * F0f[i] for i in idx)
        b = sum(wf[i] * sum(Xf[i][j] * th_ex[j] for j in range(3)) for i in idx)
        pi_ex.append(a / b)
    F_ex = [pi_ex[deps.index(dep[i])] * sum(Xf[i][j] * th_ex[j] for j in range(3)) for i in range(n)]

    checks = {
        "theta_statsmodels_vs_exact_rel": check("theta sm vs exact", name, rel_elem(theta, th_ex)),
        "theta_lstsq_vs_statsmodels_rel": check("theta lstsq vs sm", name, rel_np(lstsq_sqrtw(X, y, w), theta)),
        "pi_closed_form_vs_exact_rel": check("pi closed form vs exact", name, rel_elem(pi, pi_ex)),
        "pi_brentq_vs_closed_form_rel": check("pi brentq vs closed form", name, rel_np(pi_brent, pi), 1e-12),
        "funding_vs_exact_rel": check("funding vs exact", name, rel_elem(F, F_ex)),
        **conditioning(X, w),
    }
    write(name, {
        "description": "Hospital-tariff variant: national relative weights theta = unconstrained WLS of y on X "
                       "(no constant), then one point value per departement restoring its budget.",
        "conventions": {
            "theta": "statsmodels WLS(y, X, weights=w).fit().params, argmin sum_i w_i (y_i - x_i theta)^2",
            "point_value": "pi_d solves sum_{i in d} w_i pi_d (x_i theta) = sum_{i in d} w_i F0_i, "
                           "closed form pi_d = (sum_{i in d} w_i F0_i) / (sum_{i in d} w_i x_i theta); "
                           "checked with scipy.optimize.brentq on [0.1, 10]",
            "funding": "F_i = pi_{d(i)} x_i theta",
            "neutrality_residual": "sum_{i in d} w_i F_i - sum_{i in d} w_i F0_i, computed in double",
        },
        "inputs": {"columns": ["user_months_gir12", "user_months_gir34", "user_months_gir56"],
                   "X": fl(X), "y": fl(y), "w": fl(w), "departement": dep.tolist(), "F0": fl(F0),
                   "departements": deps},
        "expected": {
            "n": n, "k": 3,
            "theta": fl(theta),
            "budget_by_departement": fl(num),
            "weighted_relative_cost_by_departement": fl(den),
            "point_value": dict(zip(deps, fl(pi))),
            "point_value_brentq": dict(zip(deps, fl(pi_brent))),
            "funding": fl(F),
            "neutrality_residual": dict(zip(deps, fl(neutral))),
        },
        "checks": checks,
    })


# --------------------------------------------------------------------------------------
# 6: Huber M-estimate
# --------------------------------------------------------------------------------------

MAD_C = float(st.norm.ppf(0.75))  # statsmodels robust.scale.Gaussian constant


def mad0(r):
    return float(np.median(np.abs(r)) / MAD_C)


def huber_w(z, t):
    a = np.abs(z)
    return np.where(a <= t, 1.0, t / np.where(a <= t, 1.0, a))


def huber_rho(z, t):
    a = np.abs(z)
    return np.where(a <= t, 0.5 * z * z, a * t - 0.5 * t * t)


def irls_like_statsmodels(X, y, t, maxiter=50, tol=1e-8):
    """Re-implementation of statsmodels RLM.fit(conv='dev') defaults with numpy only."""
    n, k = X.shape

    def wls(wt):
        sw = np.sqrt(wt)
        b = np.linalg.pinv(sw[:, None] * X) @ (sw * y)
        r = y - X @ b
        var = np.sum(wt * r * r) / (n - k)
        return b, r, var

    b, r, var = wls(np.ones(n))
    s = mad0(r)
    dev = [np.inf, float(np.sum(huber_rho(r / var, t)))]
    it = 1
    while True:
        wt = huber_w(r / s, t)
        b, r, var = wls(wt)
        s = mad0(r)
        dev.append(float(np.sum(huber_rho(r / var, t))))
        it += 1
        if not (abs(dev[it] - dev[it - 1]) > tol and it < maxiter):
            break
    return b, s, it, dev, wt


def huber_fixed_point_exact(X, y, t, b_approx, s_approx):
    """Solve the fixed point (beta, s) exactly once the inlier/outlier partition and the
    order statistics giving the MAD are known:
        sum_{|r_i| <= t s} r_i x_i + sum_{|r_i| > t s} t s sign(r_i) x_i = 0
        s = (mean of the middle order statistics of |r|) / c,  c = norm.ppf(0.75) as a double
    """
    n, k = X.shape
    r = y - X @ b_approx
    inl = np.abs(r) <= t * s_approx
    order = np.argsort(np.abs(r))
    mids = [order[n // 2]] if n % 2 else [order[n // 2 - 1], order[n // 2]]
    Xf, yf = to_frac(X), to_frac(y)
    tf, cf = Fraction(t), Fraction(MAD_C)
    # unknowns (beta_0..beta_{k-1}, s); rows: k estimating equations, 1 scale equation
    A = [[Fraction(0)] * (k + 1) for _ in range(k + 1)]
    rhs = [Fraction(0)] * (k + 1)
    for i in range(n):
        for a in range(k):
            if inl[i]:  # (y_i - x_i b) x_ia
                for j in range(k):
                    A[a][j] += Xf[i][a] * Xf[i][j]
                rhs[a] += yf[i] * Xf[i][a]
            else:  # - t s sign(r_i) x_ia moved to the left
                A[a][k] -= tf * int(np.sign(r[i])) * Xf[i][a]
    # s c = mean_m sign(r_m) (y_m - x_m b)
    wm = Fraction(1, len(mids))
    for m in mids:
        sg = int(np.sign(r[m]))
        for j in range(k):
            A[k][j] += wm * sg * Xf[m][j]
        rhs[k] += wm * sg * yf[m]
    A[k][k] += cf
    sol = frac_solve(A, rhs)
    b_ex, s_ex = sol[:k], sol[k]
    # verify that the partition and the order statistics are those of the solution
    rf = frac_resid(Xf, yf, b_ex)
    for i in range(n):
        assert (abs(rf[i]) <= tf * s_ex) == bool(inl[i]), "partition changed"
    absr = sorted(abs(v) for v in rf)
    med = absr[n // 2] if n % 2 else (absr[n // 2 - 1] + absr[n // 2]) / 2
    assert med / cf == s_ex, "scale equation"
    return b_ex, s_ex, inl


def vec_huber():
    name = "huber.json"
    rng = np.random.default_rng(20260106)
    n = 40
    um12 = user_months(rng, n, 100, 2000)
    um34 = user_months(rng, n, 200, 5000)
    X = np.column_stack([np.ones(n), um12, um34])
    mean = COST["socle"] + COST["gir12"] * um12 + COST["gir34"] * um34
    y = noisy_cost(rng, mean)
    out_rows = [3, 11, 22, 35]  # gross errors: misreported costs
    factors = [3.0, 0.35, 2.4, 4.0]
    for i, f in zip(out_rows, factors):
        y[i] = cents(y[i] * f)
    t = 1.345

    model = sm.RLM(y, X, M=sm.robust.norms.HuberT(t=t))
    res = model.fit()  # defaults: maxiter=50, tol=1e-8, scale_est='mad', cov='H1', update_scale=True, conv='dev'
    iters = res.fit_history["iteration"]
    b_np, s_np, it_np, dev_np, wt_np = irls_like_statsmodels(X, y, t)
    assert it_np == iters

    # converged Huber estimate: iterate (statsmodels, coefficient criterion) to the fixed point
    res_c = model.fit(conv="coefs", tol=1e-9, maxiter=500)
    b_ex, s_ex, inl = huber_fixed_point_exact(X, y, t, res_c.params, res_c.scale)
    b_fp = np.array(to_float(b_ex))
    s_fp = float(s_ex)
    r_fp = y - X @ b_fp
    w_fp = huber_w(r_fp / s_fp, t)
    psi_eq = X.T @ (w_fp * r_fp / s_fp)  # sum psi(r/s) x
    ols = sm.OLS(y, X).fit()

    checks = {
        "statsmodels_default_vs_numpy_reimplementation_params_rel": check(
            "huber default sm vs numpy reimpl", name, rel_np(b_np, res.params)),
        "statsmodels_default_vs_numpy_reimplementation_scale_rel": check(
            "huber default scale sm vs numpy", name, rel_np([s_np], [res.scale])),
        "statsmodels_conv_coefs_vs_exact_fixed_point_params_rel": check(
            "huber sm conv=coefs vs exact fixed point", name, rel_elem(res_c.params, b_ex), 1e-8),
        "statsmodels_conv_coefs_vs_exact_fixed_point_scale_rel": check(
            "huber sm conv=coefs scale vs exact", name, rel_elem([res_c.scale], [s_ex]), 1e-8),
        "statsmodels_conv_coefs_iterations": int(res_c.fit_history["iteration"]),
        "fixed_point_estimating_equation_max_abs": float(np.max(np.abs(psi_eq))),
        "ols_lstsq_vs_statsmodels_rel": check("huber OLS start lstsq vs sm", name,
                                              rel_np(np.linalg.lstsq(X, y, rcond=None)[0], ols.params)),
        **conditioning(X, np.ones(n)),
    }
    write(name, {
        "description": "Huber M-estimate of cost on a socle and user-months (unweighted, 4 gross outliers), "
                       "statsmodels RLM(y, X, M=HuberT(t=1.345)).fit() with its defaults, and the converged "
                       "fixed point of the same iteration.",
        "conventions": {
            "norm": "HuberT(t=1.345): rho(z) = z^2/2 if |z| <= t else t|z| - t^2/2; psi(z) = clip(z, -t, t); "
                    "IRLS weight(z) = 1 if |z| <= t else t/|z|",
            "scale": "MAD around 0: s = median_i |r_i| / c, c = scipy.stats.norm.ppf(0.75) = 0.6744897501960817 "
                     "(numpy median: mean of the two middle values when n is even); no df correction",
            "fit_settings": "maxiter=50, tol=1e-8, scale_est='mad', cov='H1', update_scale=True, conv='dev', "
                            "start = OLS (pinv), start scale = MAD of OLS residuals",
            "irls": "b_1 = OLS; s_1 = MAD(r_1). For j >= 1: u = weight(r_j / s_j); b_{j+1} = WLS(y, X, u) "
                    "(pinv of sqrt(u) X); r_{j+1} = y - X b_{j+1}; s_{j+1} = MAD(r_{j+1}); "
                    "dev_{j+1} = sum_i rho(r_{j+1,i} / v_{j+1}) with v_{j+1} = sum_i u_i r_{j+1,i}^2 / (n - k) "
                    "(the WLS residual VARIANCE, not s). Stop after iteration count it = j+1 when "
                    "|dev_it - dev_{it-1}| <= tol or it >= maxiter (dev_1 computed from OLS with u = 1). "
                    "Reported params = b_it, scale = s_it.",
            "default_stops_early": "with costs in euros v is ~1e9-1e11, so dev is ~1e-12 and changes by less "
                                   "than tol after one reweighting: the default fit stops at iteration 2, "
                                   "i.e. one IRLS step from OLS, far from the Huber estimate",
            "fixed_point": "(beta, s) with beta = WLS(y, X, weight(r/s)) and s = MAD(r), equivalently "
                           "sum_i psi(r_i/s) x_i = 0 and s = median|r|/c; found by statsmodels "
                           "fit(conv='coefs', tol=1e-9, maxiter=500) then solved exactly in rational "
                           "arithmetic on its inlier/outlier partition and median order statistics "
                           "(partition verified)",
            "bse_H1": "statsmodels RLMResults.bse with cov='H1' (Huber 1981 formula), for the default fit",
        },
        "inputs": {"columns": ["socle (1)", "user_months_gir12", "user_months_gir34"],
                   "X": fl(X), "y": fl(y), "outlier_rows_0_based": out_rows, "t": t},
        "expected": {
            "n": n, "k": 3,
            "statsmodels_default": {
                "params": fl(res.params),
                "scale": float(res.scale),
                "iterations": int(iters),
                "bse_H1": fl(res.bse),
                "weights": fl(res.weights),
                "deviance_history": [None if not np.isfinite(v) else float(v)
                                     for v in res.fit_history["deviance"]],
            },
            "fixed_point": {
                "params": fl(b_fp),
                "scale": s_fp,
                "weights": fl(w_fp),
                "downweighted_rows_0_based": np.flatnonzero(~inl).tolist(),
                "statsmodels_conv_coefs_params": fl(res_c.params),
                "statsmodels_conv_coefs_scale": float(res_c.scale),
            },
            "ols_params": fl(ols.params),
            "ols_mad_scale": mad0(ols.resid),
        },
        "checks": checks,
    })


# --------------------------------------------------------------------------------------
# 7: median (LAD) regression
# --------------------------------------------------------------------------------------

def lad_lp(X, y, w):
    n, k = X.shape
    c = np.concatenate([np.zeros(k), w, w])
    A = np.hstack([X, np.eye(n), -np.eye(n)])
    bounds = [(None, None)] * k + [(0, None)] * (2 * n)
    res = so.linprog(c, A_eq=A, b_eq=y, bounds=bounds, method="highs")
    assert res.status == 0
    return res.x[:k]


def lad_vertex_exact(X, y, w, b_approx):
    """Exact LAD vertex: the k rows fitted exactly by the LP solution, solved in rationals.
    Uniqueness: no other zero residual and the dual u (X_B' u = -sum_{i not in B} w_i sign(r_i) x_i)
    has |u_j| < w_j strictly."""
    n, k = X.shape
    r = y - X @ b_approx
    B = list(np.argsort(np.abs(r) / np.max(np.abs(y)))[:k])
    Xf, yf, wf = to_frac(X), to_frac(y), to_frac(w)
    b = frac_solve([Xf[i] for i in B], [yf[i] for i in B])
    rf = frac_resid(Xf, yf, b)
    others = [i for i in range(n) if i not in B]
    assert all(rf[i] != 0 for i in others), "degenerate vertex"
    g = [sum(wf[i] * (1 if rf[i] > 0 else -1) * Xf[i][j] for i in others) for j in range(k)]
    XBt = [[Xf[B[i]][j] for i in range(k)] for j in range(k)]  # X_B'
    u = frac_solve(XBt, [-v for v in g])
    margin = min(1 - abs(u[j]) / wf[B[j]] for j in range(k))
    assert margin > 0, "LAD solution not unique"
    return b, sorted(int(i) for i in B), float(margin), to_float(u)


def vec_median():
    name = "median.json"
    rng = np.random.default_rng(20260107)
    n = 31
    um12 = user_months(rng, n, 100, 2000)
    um34 = user_months(rng, n, 200, 5000)
    X = np.column_stack([np.ones(n), um12, um34])
    mean = COST["socle"] + COST["gir12"] * um12 + COST["gir34"] * um34
    sd = 0.06 * np.sqrt(mean * 60_000.0)
    y = cents(mean + rng.standard_t(2.0, n) * sd)  # heavy tails
    w = design_weights(rng, n)
    one = np.ones(n)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        qr = sm.QuantReg(y, X).fit(q=0.5)  # defaults: max_iter=1000, p_tol=1e-6
    b_lp = lad_lp(X, y, one)
    b_ex, B, margin, u = lad_vertex_exact(X, y, one, b_lp)
    bw_lp = lad_lp(X, y, w)
    bw_ex, Bw, margin_w, _ = lad_vertex_exact(X, y, w, bw_lp)
    obj = float(sum(abs(v) for v in frac_resid(to_frac(X), to_frac(y), b_ex)))

    checks = {
        "quantreg_vs_exact_vertex_rel": check("QuantReg vs exact LAD vertex", name, rel_elem(qr.params, b_ex), 1e-8),
        "linprog_highs_vs_exact_vertex_rel": check("linprog vs exact LAD vertex", name, rel_elem(b_lp, b_ex), 1e-8),
        "weighted_linprog_highs_vs_exact_vertex_rel": check("weighted linprog vs exact", name,
                                                            rel_elem(bw_lp, bw_ex), 1e-8),
        "quantreg_iterations": int(qr.iterations),
        "uniqueness_margin": margin,
        "uniqueness_margin_weighted": margin_w,
        **conditioning(X, one),
    }
    write(name, {
        "description": "Median (least absolute deviation) regression of cost on a socle and user-months, "
                       "heavy-tailed noise: statsmodels QuantReg(y, X).fit(q=0.5), the LP with "
                       "scipy.optimize.linprog(method='highs'), and the exact vertex. Plus a weighted variant "
                       "(LP only; QuantReg has no weights).",
        "conventions": {
            "problem": "min_beta sum_i |y_i - x_i beta| (weighted: sum_i w_i |y_i - x_i beta|)",
            "params": "the exact LAD solution: the vertex through the k rows 'basis_rows_0_based' "
                      "(X_B beta = y_B solved in rational arithmetic, rounded to double); unique because "
                      "no other residual is zero and the dual u with X_B' u = -sum_{i not in B} w_i sign(r_i) x_i "
                      "satisfies |u_j| < w_j (margin = min_j 1 - |u_j|/w_j > 0)",
            "lp": "variables (beta free, e+ >= 0, e- >= 0): min w'(e+ + e-) s.t. X beta + e+ - e- = y",
            "quantreg": "statsmodels IRLS: max_iter=1000, p_tol=1e-6 (absolute change of beta), residuals "
                        "floored at 1e-6 in absolute value; it approaches the vertex but only to its tolerance",
        },
        "inputs": {"columns": ["socle (1)", "user_months_gir12", "user_months_gir34"],
                   "X": fl(X), "y": fl(y), "w": fl(w)},
        "expected": {
            "n": n, "k": 3,
            "params": fl(to_float(b_ex)),
            "basis_rows_0_based": B,
            "objective": obj,
            "dual_u": u,
            "params_quantreg": fl(qr.params),
            "params_linprog_highs": fl(b_lp),
            "weighted": {
                "params": fl(to_float(bw_ex)),
                "basis_rows_0_based": Bw,
                "params_linprog_highs": fl(bw_lp),
            },
        },
        "checks": checks,
    })


# --------------------------------------------------------------------------------------
# 8: least squares under neutrality and guarantees (inequalities): the active set
# --------------------------------------------------------------------------------------

def scipy_ineq_qp(X, y, w, A, b, G, h):
    """min sum_i w_i (y_i - x_i theta)^2 s.t. A theta = b, G theta <= h through
    scipy.optimize.minimize(method="SLSQP") on the rescaled copy of scipy_eq_qp
    (theta = |sqrt(W) y| D z, every constraint row normalised), exact gradient, from z = 0.
    Returns theta, the multipliers of the equalities and of the inequalities for the
    Lagrangian sum w (y - x theta)^2 + lambda_eq'(A theta - b) + lambda_in'(G theta - h),
    and scipy's result."""
    sw = np.sqrt(w)
    nb = np.linalg.norm(sw * y)
    D = 1.0 / np.linalg.norm(sw[:, None] * X, axis=0)
    M = (sw[:, None] * X) * D
    H = M.T @ M
    g0 = -M.T @ (sw * y / nb)
    Ra = 1.0 / np.linalg.norm(A * D, axis=1)
    An, bn = (A * D) * Ra[:, None], b * Ra / nb
    Rg = 1.0 / np.linalg.norm(G * D, axis=1)
    Gn, hn = (G * D) * Rg[:, None], h * Rg / nb
    res = so.minimize(lambda z: g0 @ z + 0.5 * z @ H @ z, np.zeros(X.shape[1]),
                      jac=lambda z: g0 + H @ z, method="SLSQP",
                      constraints=[{"type": "eq", "fun": lambda z: An @ z - bn, "jac": lambda z: An},
                                   {"type": "ineq", "fun": lambda z: hn - Gn @ z, "jac": lambda z: -Gn}],
                      options={"ftol": 1e-16, "maxiter": 1000})
    # scipy: grad f = sum mu grad c, equalities first; c_eq = An z - bn, c_in = hn - Gn z >= 0
    m = len(b)
    lam_eq = -2.0 * nb * Ra * res.multipliers[:m]
    lam_in = 2.0 * nb * Rg * res.multipliers[m:]
    return nb * D * res.x, lam_eq, lam_in, res


def qp_active_exact(X, y, w, A, b, G, h, active):
    """The problem with the rows `active` of G theta <= h turned into equalities, solved
    exactly (KKT system in rationals); returns theta, the multipliers (equalities, then the
    active rows in order) and the slacks h - G theta of every row, all exact."""
    Xf, yf, wf, Gf, hf = to_frac(X), to_frac(y), to_frac(w), to_frac(G), to_frac(h)
    C = to_frac(A) + [Gf[i] for i in active]
    d = to_frac(b) + [hf[i] for i in active]
    theta, lam = _kkt_exact_frac(Xf, yf, wf, C, d, with_lambda=True)
    slack = [hf[i] - sum(g * t for g, t in zip(Gf[i], theta)) for i in range(len(hf))]
    return theta, lam, slack


def farkas_exact(X, w, A, b, G, h):
    """Exact proof that A theta = b and G theta <= h (G = -X, one row per service) have no
    common solution: u >= 0 with G'u = -A' and u'h + b < 0. For theta with A theta = b,
    u'G theta = -b, while G theta <= h would give u'G theta <= u'h < -b. u = w, plus a
    correction on the first k rows making G'u = -A' exact (A is X'w rounded to double)."""
    Xf, wf, Af, hf = to_frac(X), to_frac(w), to_frac(A)[0], to_frac(h)
    n, k = len(Xf), len(Xf[0])
    gap = [Af[j] - sum(wf[i] * Xf[i][j] for i in range(n)) for j in range(k)]
    rows = list(range(k))
    delta = frac_solve([[Xf[i][j] for i in rows] for j in range(k)], gap)
    u = list(wf)
    for i, dl in zip(rows, delta):
        u[i] += dl
    Gf = to_frac(G)
    assert all(sum(u[i] * Gf[i][j] for i in range(n)) + Af[j] == 0 for j in range(k))
    value = sum(u[i] * hf[i] for i in range(n)) + to_frac(b)[0]
    return min(u) >= 0 and value < 0, u, value, rows


def least_violation_lp(A, b, G, h, scale):
    """min sum_i t_i s.t. A theta = b, (G_i theta - h_i) / scale_i <= t_i, t >= 0 (highs):
    the least total violation, as shares of the services' baselines (the value is unique, the
    point need not be)."""
    p, k = G.shape
    c = np.concatenate([np.zeros(k), np.ones(p)])
    A_ub = np.hstack([G / scale[:, None], -np.eye(p)])
    res = so.linprog(c, A_ub=A_ub, b_ub=h / scale, A_eq=np.hstack([A, np.zeros((len(b), p))]),
                     b_eq=b, bounds=[(None, None)] * k + [(0, None)] * p, method="highs")
    assert res.status == 0
    return float(res.fun)


def guarantee_rows(X, bounds):
    """Rows funding_s = x_s theta >= L_s written G theta <= h: G = -x_s, h = -L_s."""
    G = np.vstack([-X[s] for s, _, _, _ in bounds])
    h = np.array([-L for _, L, _, _ in bounds])
    return G, h


def vec_qp_guarantees():
    name = "qp_guarantees.json"
    rng = np.random.default_rng(20260109)
    n = 40
    um12 = user_months(rng, n, 100, 2000)
    um34 = user_months(rng, n, 200, 5000)
    um56 = user_months(rng, n, 100, 3000)
    X = np.column_stack([np.ones(n), um12, um34, um56])
    mean = COST["socle"] + COST["gir12"] * um12 + COST["gir34"] * um34 + COST["gir56"] * um56
    y = noisy_cost(rng, mean)
    w = design_weights(rng, n)
    # baseline: hours x 26.50 EUR/h + DC + a fixed allocation of 80,000 EUR; four services were
    # historically funded 8 to 18 % above that
    hours = 52 * um12 + 29 * um34 + 13 * um56
    F0 = cents(baseline(rng, hours, 26.50) + 80_000.0)
    over = np.sort(rng.choice(n, 4, replace=False))
    F0[over] = cents(F0[over] * np.round(rng.uniform(1.08, 1.18, 4), 2))
    cover = np.sort(rng.choice(n, 4, replace=False))  # services with the cover guarantee
    ids = [f"S{s + 1:02d}" for s in range(n)]
    k = X.shape[1]

    A = (w[:, None] * X).sum(axis=0)[None, :]
    b = np.array([np.sum(w * F0)])
    # case 1: transition (funding >= 90 % of baseline) for every service, cover (funding >= cost)
    # for four; (service, bound, family, label)
    low = cents(0.9 * F0)
    bounds = [(s, low[s], "transition", f"transition[{ids[s]}]: funding >= 90 % of baseline {low[s]:.2f} EUR")
              for s in range(n)]
    bounds += [(s, y[s], "has_cover", f"has_cover[{ids[s]}]: funding >= cost {y[s]:.2f} EUR") for s in cover]
    G, h = guarantee_rows(X, bounds)
    scale = np.array([F0[s] for s, _, _, _ in bounds])

    th_sq, le_sq, li_sq, res_sq = scipy_ineq_qp(X, y, w, A, b, G, h)
    assert res_sq.status == 0
    active = [int(i) for i in np.flatnonzero((h - G @ th_sq) / np.abs(h) < 1e-7)]
    th_ex, lam_ex, slack_ex = qp_active_exact(X, y, w, A, b, G, h, active)
    m = A.shape[0]
    # KKT of the inequality problem, exactly: feasibility, strict slack off the active set,
    # nonnegative multipliers on it (stationarity and complementarity hold by construction)
    feasible = all(slack_ex[i] == 0 if i in active else slack_ex[i] > 0 for i in range(len(h)))
    dual_ok = all(v > 0 for v in lam_ex[m:])
    assert feasible and dual_ok, "not the optimum"
    assert 2 <= len(active) <= 3
    assert len({bounds[i][0] for i in active}) == len(active), "two rows of one service bind"
    th_np, lam_np, _ = kkt_solve(X, y, w, np.vstack([A, G[active]]), np.concatenate([b, h[active]]))
    th_neutral = _kkt_exact_frac(to_frac(X), to_frac(y), to_frac(w), to_frac(A), to_frac(b))
    lam_sq = np.concatenate([le_sq, li_sq[active]])
    Xf, yf, wf = to_frac(X), to_frac(y), to_frac(w)

    def objective(t):
        return float(sum(wf[i] * r ** 2 for i, r in enumerate(frac_resid(Xf, yf, t))))

    theta = np.array(to_float(th_ex))
    cres = A @ theta - b
    rel_slack = [float(slack_ex[i] / abs(Fraction(float(h[i])))) for i in range(len(h))]
    inactive = [i for i in range(len(h)) if i not in active]
    lam_max = max(abs(v) for v in lam_ex)

    # case 2: every service funded at least 120 % of its baseline, with the total kept at the
    # baseline's: impossible (the weighted sum of the bounds exceeds the neutral total by 20 %)
    high = cents(1.2 * F0)
    bounds2 = [(s, high[s], "floor", f"floor[{ids[s]}]: funding >= 120 % of baseline {high[s]:.2f} EUR")
               for s in range(n)]
    G2, h2 = guarantee_rows(X, bounds2)
    scale2 = F0.copy()
    certified, u, farkas_value, farkas_rows = farkas_exact(X, w, A, b, G2, h2)
    assert certified
    _, _, _, res_sq2 = scipy_ineq_qp(X, y, w, A, b, G2, h2)
    lv = least_violation_lp(A, b, G2, h2, scale2)

    checks = {
        "binding": {
            "theta_slsqp_vs_exact_rel": check("qp theta SLSQP vs exact", name, rel_elem(th_sq, th_ex), 1e-6),
            "lambda_slsqp_vs_exact_rel": check("qp lambda SLSQP vs exact", name, rel_elem(lam_sq, lam_ex), 1e-4),
            "theta_numpy_solve_on_active_set_vs_exact_rel": check("qp theta solve (active set) vs exact", name,
                                                                  rel_elem(th_np, th_ex)),
            "lambda_numpy_solve_on_active_set_vs_exact_rel": check("qp lambda solve (active set) vs exact", name,
                                                                   rel_elem(lam_np, lam_ex)),
            "kkt_every_inequality_holds_exact": feasible,
            "kkt_active_multipliers_positive_exact": dual_ok,
            "min_relative_slack_of_inactive_rows": min(rel_slack[i] for i in inactive),
            "min_active_multiplier_over_max_abs_multiplier": float(min(lam_ex[m:]) / lam_max),
            "slsqp_status": int(res_sq.status), "slsqp_iterations": int(res_sq.nit),
        },
        "conflicting": {
            "farkas_certificate_exact": certified,
            "slsqp_success": bool(res_sq2.success),
        },
        **conditioning(X, w),
    }

    def case_inputs(bnd, G, h, scale):
        return {"G": fl(G), "h": fl(h), "service": [ids[s] for s, _, _, _ in bnd],
                "family": [f for _, _, f, _ in bnd], "label": [lb for _, _, _, lb in bnd],
                "scale": fl(scale)}

    obj = {
        "description": "Weighted least squares of cost on a socle and user-months by GIR band under national "
                       "budget neutrality (one equality) and guarantees on the services' funding "
                       "(inequalities): the active set and the exact solution; then a set of guarantees "
                       "that cannot hold with neutrality.",
        "conventions": {
            "problem": "min_theta sum_i w_i (y_i - x_i theta)^2 subject to A theta = b and G theta <= h",
            "A_b": "A = X'w (1 x k, as computed in double by numpy), b = sum_i w_i F0_i: "
                   "sum_i w_i F_i = sum_i w_i F0_i with F_i = x_i theta",
            "G_h": "one row per guarantee funding_s >= L_s, written -x_s theta <= -L_s (G row = -x_s, "
                   "h = -L_s); L_s is a cent amount",
            "binding": "transition[s]: L_s = 0.9 F0_s rounded to cents, every service (rows 0-39); "
                       "has_cover[s]: L_s = cost y_s, four services (rows 40-43)",
            "conflicting": "floor[s]: L_s = 1.2 F0_s rounded to cents, every service; with neutrality "
                          "sum w F = sum w F0 they cannot all hold",
            "scale": "the service's baseline F0_s, the amount a row's violation is measured against",
            "lagrangian": "L = sum_i w_i (y_i - x_i theta)^2 + lambda_eq'(A theta - b) "
                          "+ lambda_in'(G theta - h), lambda_in >= 0",
            "lambda": "multipliers of the equality, then of the active rows in increasing row order "
                      "(the KKT system with the active rows as equalities)",
            "active_rows_0_based": "the rows with G theta = h at the solution (found by SLSQP: "
                                   "relative slack below 1e-7), all with lambda > 0; every other row has "
                                   "a positive slack",
            "theta": "exact solution of the equality-constrained problem A theta = b, G_active theta = "
                     "h_active (rational arithmetic on the doubles of the inputs), rounded to double; "
                     "it is the optimum: primal feasible and lambda_in >= 0 verified exactly",
            "scipy": "scipy.optimize.minimize(method='SLSQP', ftol 1e-16) on a rescaled copy "
                     "(theta = |sqrt(W) y| D z, D_j = 1/|sqrt(W) X_j|, rows normalised), from z = 0; "
                     "lambda_slsqp from its multipliers in the convention above",
            "farkas": "infeasibility proved exactly: u >= 0 (u = w, corrected on rows 'rows_corrected' so "
                      "that G'u = -A' exactly) gives u'G theta = -A theta = -b for every theta with "
                      "neutrality, while G theta <= h would give u'G theta <= u'h < -b",
            "least_violation": "min sum_i t_i s.t. A theta = b, (G_i theta - h_i) / scale_i <= t_i, t >= 0 "
                               "(linprog highs): the smallest total violation as shares of the baselines",
        },
        "inputs": {
            "columns": ["socle (1)", "user_months_gir12", "user_months_gir34", "user_months_gir56"],
            "X": fl(X), "y": fl(y), "w": fl(w), "F0": fl(F0), "service": ids,
            "historically_overfunded": [ids[s] for s in over], "cover_services": [ids[s] for s in cover],
            "A": fl(A), "b": fl(b),
            "cases": {"binding": case_inputs(bounds, G, h, scale),
                      "conflicting": case_inputs(bounds2, G2, h2, scale2)},
        },
        "expected": {
            "n": n, "k": k, "m": m,
            "binding": {
                "infeasible": False,
                "theta": fl(theta),
                "lambda": fl(to_float(lam_ex)),
                "active_rows_0_based": active,
                "active_labels": [bounds[i][3] for i in active],
                "constraint_residual": fl(cres),
                "relative_slack": rel_slack,
                "funding": fl(to_float([sum(x * t for x, t in zip(row, th_ex)) for row in Xf])),
                "objective": objective(th_ex),
                "theta_slsqp": fl(th_sq),
                "lambda_slsqp": fl(lam_sq),
                "theta_neutrality_only": fl(to_float(th_neutral)),
                "objective_neutrality_only": objective(th_neutral),
            },
            "conflicting": {
                "infeasible": True,
                "farkas": {"rows_corrected": farkas_rows,
                           "u_minus_w_max_abs": float(max(abs(ui - Fraction(float(wi))) for ui, wi in zip(u, w))),
                           "u_h_plus_b": float(farkas_value),
                           "u_h_plus_b_over_b": float(farkas_value / Fraction(float(b[0])))},
                "least_violation_sum_relative": lv,
                "slsqp_status": int(res_sq2.status),
                "slsqp_message": str(res_sq2.message),
            },
        },
        "checks": checks,
    }
    write(name, obj)
    back = json.loads((HERE / name).read_text())["inputs"]["cases"]
    for case, val in obj["inputs"]["cases"].items():
        for key in ("G", "h", "scale"):
            assert np.array_equal(np.asarray(back[case][key]), np.asarray(val[key])), (name, case, key)


def main():
    vec_wls_small()
    vec_wls_clustered()
    kkt_vector("kkt_national.json", 20260103, 30, ["national"], 4,
               "Equality-constrained WLS with national budget neutrality: one equality "
               "sum_i w_i x_i beta = sum_i w_i F0_i.")
    kkt_vector("kkt_departements.json", 20260104, 44, ["13", "33", "59", "69"], 6,
               "Equality-constrained WLS with budget neutrality in each of 4 departements: "
               "for each d, sum_{i in d} w_i x_i beta = sum_{i in d} w_i F0_i.")
    vec_point_values()
    vec_huber()
    vec_median()
    vec_qp_guarantees()
    print()
    print(f"{'file':24s} {'check':45s} value")
    for f, c, v in SUMMARY:
        print(f"{f:24s} {c:45s} {v:.3e}")


if __name__ == "__main__":
    main()
