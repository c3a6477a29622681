//! Least squares under equalities and inequalities: the calibration with guarantees
//! (a service's funding at least its cost, at least `(1 − ℓ)` of its baseline, within the
//! range that keeps its users' out-of-pocket) is the quadratic program
//!
//! ```text
//! min Σ w (y − xθ)²   subject to   A θ = b  (neutrality),   G θ ≤ h  (guarantees)
//! ```
//!
//! from the sufficient statistics. Few guarantees bind in practice, so a working-set
//! method on the parameters' space comes first (each step one exact KKT solve; it stops at
//! a point satisfying the KKT conditions, hence the optimum). When it cannot finish
//! (dependent binding rows, too many changes), clarabel's interior-point method solves
//! the rescaled problem (unit diagonal of `X'WX`, right-hand sides of order one) and the
//! solution is polished: the inequalities the interior point found binding (primal slack below the
//! dual) join the equalities, and the KKT system is solved exactly ([`crate::wls::solve`]);
//! the polished point is kept when it satisfies every inequality and the multipliers of the
//! binding ones have the right sign (a few active-set corrections are tried), so neutrality
//! and binding guarantees hold to rounding. Standard errors then treat the binding
//! guarantees as equalities.
//!
//! When no parameter satisfies everything, [`least_violation`] finds the funding closest to
//! feasibility — neutrality kept exact, `min Σ tᵢ` over slacks `tᵢ ≥ 0` added to every
//! inequality, each measured as a share of its service's baseline — and the constraints
//! still violated there are named, with how far each is from holding.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettings, DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT,
    SolverStatus, SupportedConeT, ZeroConeT,
};

use crate::error::{Conflict, SolverError};
use crate::wls::{Equalities, Estimate, Moments, kkt_point, solve};

/// Linear inequalities `G θ ≤ h`, each with a name, a family and a scale (€) in which its
/// violation is reported.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Inequalities {
    /// Rows, p × k row-major.
    pub g: Vec<f64>,
    /// Right-hand sides.
    pub h: Vec<f64>,
    /// What each row guarantees, e.g. `has_cover[S0042]`.
    pub label: Vec<String>,
    /// The guarantee each row belongs to, e.g. `has_cover`.
    pub family: Vec<&'static str>,
    /// The amount (€) a violation is measured against (the service's baseline).
    pub scale: Vec<f64>,
}

impl Inequalities {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.h.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }

    /// Adds the row `g θ ≤ h`.
    pub fn push(&mut self, g: &[f64], h: f64, label: String, family: &'static str, scale: f64) {
        self.g.extend_from_slice(g);
        self.h.push(h);
        self.label.push(label);
        self.family.push(family);
        self.scale.push(scale);
    }

    fn row(&self, i: usize, k: usize) -> &[f64] {
        &self.g[i * k..(i + 1) * k]
    }

    /// `h − G θ` of row `i` (negative when violated).
    pub fn slack(&self, i: usize, theta: &[f64]) -> f64 {
        let k = theta.len();
        self.h[i]
            - self
                .row(i, k)
                .iter()
                .zip(theta)
                .map(|(a, b)| a * b)
                .sum::<f64>()
    }

    /// Whether row `i` holds at `theta`, to `tol` relative to its terms.
    fn holds(&self, i: usize, theta: &[f64], tol: f64) -> bool {
        self.holds_with(i, theta, self.slack(i, theta), tol)
    }

    /// [`Self::holds`] with the row's slack already computed.
    fn holds_with(&self, i: usize, theta: &[f64], slack: f64, tol: f64) -> bool {
        if slack >= 0.0 {
            return true;
        }
        let k = theta.len();
        let size = self
            .row(i, k)
            .iter()
            .zip(theta)
            .fold(self.h[i].abs(), |m, (a, b)| m.max((a * b).abs()));
        slack >= -tol * size.max(f64::MIN_POSITIVE)
    }
}

/// The solution of a least-squares problem under equalities and inequalities.
#[derive(Clone, Debug, PartialEq)]
pub struct Constrained {
    /// The estimate: θ, and — when polished — the multipliers and bread of the equalities
    /// followed by the binding inequalities.
    pub estimate: Estimate,
    /// Inequalities binding at the solution (indices).
    pub active: Vec<usize>,
    /// Whether the exact KKT polish succeeded (otherwise θ is the interior point's,
    /// projected on the equalities, and `estimate.bread` is empty).
    pub polished: bool,
    /// Interior-point iterations.
    pub iterations: u32,
}

/// Feasibility tolerance of the polish, relative to each row's terms.
const FEASIBILITY: f64 = 1e-9;

/// Working-set changes allowed per parameter before the interior point takes over.
const ACTIVE_SET_STEPS: usize = 4;

/// Active-set corrections tried by the polish.
const POLISH_ROUNDS: usize = 8;

/// The equalities with some inequality rows appended as equalities (the binding
/// guarantees, for standard errors that hold them fixed).
pub fn with_rows(eq: &Equalities, ineq: &Inequalities, rows: &[usize], k: usize) -> Equalities {
    let mut e = eq.clone();
    for &i in rows {
        e.a.extend_from_slice(ineq.row(i, k));
        e.b.push(ineq.h[i]);
    }
    e
}

/// Solves `min Σ w (y − xθ)²` from the moments under `eq` and `ineq`.
pub fn solve_constrained(
    m: &Moments,
    eq: &Equalities,
    ineq: &Inequalities,
) -> Result<Constrained, SolverError> {
    // The equalities alone must identify every parameter, as without guarantees: the
    // error names the parameters the data cannot determine.
    let free = solve(m, eq)?;
    if ineq.is_empty() || (0..ineq.len()).all(|i| ineq.holds(i, &free.theta, 0.0)) {
        return Ok(Constrained {
            estimate: free,
            active: Vec::new(),
            polished: true,
            iterations: 0,
        });
    }
    // A row without coefficients bounds nothing the parameters move: violated, it cannot
    // hold whatever they are (a service the formula does not reach, asked to get more
    // than its fixed part).
    let k = m.k;
    if (0..ineq.len()).any(|i| ineq.row(i, k).iter().all(|&g| g == 0.0) && ineq.h[i] < 0.0) {
        return Err(least_violation(eq, ineq, k)?);
    }
    if let Some(done) = active_set(m, eq, ineq, free) {
        return Ok(done);
    }
    interior_point(m, eq, ineq)
}

/// The interior-point path: clarabel on the rescaled program, then the polish.
fn interior_point(
    m: &Moments,
    eq: &Equalities,
    ineq: &Inequalities,
) -> Result<Constrained, SolverError> {
    let k = m.k;
    let scaling = Scaling::new(m);
    let problem = scaling.problem(m, eq, ineq);
    let mut solver = problem.solver()?;
    solver.solve();
    let status = solver.solution.status;
    if matches!(
        status,
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible
    ) {
        return Err(least_violation(eq, ineq, k)?);
    }
    if !matches!(status, SolverStatus::Solved | SolverStatus::AlmostSolved) {
        // An infeasible program the interior point failed to certify is still named.
        return Err(match least_violation(eq, ineq, k)? {
            e @ SolverError::Infeasible { violated, .. } if violated > 0 => e,
            _ => SolverError::Numerical("the constrained fit's quadratic program did not converge"),
        });
    }
    let iterations = solver.solution.iterations;
    let ipm = scaling.theta(&solver.solution.x);
    let m_eq = eq.len();
    let mut active: Vec<usize> = (0..ineq.len())
        .filter(|&i| solver.solution.s[m_eq + i] <= solver.solution.z[m_eq + i])
        .collect();
    for _ in 0..POLISH_ROUNDS {
        // Two guarantees on the same service binding together are one equality.
        active = distinct_rows(ineq, &active, &ipm, k);
        let Ok(e) = solve(m, &with_rows(eq, ineq, &active, k)) else {
            break;
        };
        let violated: Vec<usize> = (0..ineq.len())
            .filter(|&i| !ineq.holds(i, &e.theta, FEASIBILITY))
            .collect();
        // Multipliers of `g θ − h = 0` rows: a binding `≤` row needs λ ≥ 0.
        let scale = e.lambda.iter().fold(0.0f64, |a, l| a.max(l.abs()));
        let wrong: Vec<usize> = active
            .iter()
            .enumerate()
            .filter(|&(j, _)| e.lambda[m_eq + j] < -1e-9 * scale)
            .map(|(_, &i)| i)
            .collect();
        if violated.is_empty() && wrong.is_empty() {
            return Ok(Constrained {
                estimate: e,
                active,
                polished: true,
                iterations,
            });
        }
        active.retain(|i| !wrong.contains(i));
        for i in violated {
            if !active.contains(&i) {
                active.push(i);
            }
        }
        active.sort_unstable();
    }
    // The interior point, moved onto the equalities.
    let theta = project(&ipm, eq, k)?;
    let active = (0..ineq.len())
        .filter(|&i| solver.solution.s[m_eq + i] <= solver.solution.z[m_eq + i])
        .collect();
    let constraint_residual = (0..m_eq)
        .map(|c| (0..k).map(|j| eq.a[c * k + j] * theta[j]).sum::<f64>() - eq.b[c])
        .collect();
    Ok(Constrained {
        estimate: Estimate {
            theta,
            lambda: Vec::new(),
            bread: Vec::new(),
            constraint_residual,
        },
        active,
        polished: false,
        iterations,
    })
}

/// The rows of `rows` with distinct coefficients: of rows with the same `G` row (bit for
/// bit), the one with the smallest slack at `theta` (the first on ties).
fn distinct_rows(ineq: &Inequalities, rows: &[usize], theta: &[f64], k: usize) -> Vec<usize> {
    let mut kept: Vec<usize> = Vec::with_capacity(rows.len());
    for &i in rows {
        let same = kept.iter().position(|&j| same_row(ineq, i, j, k));
        match same {
            Some(p) if ineq.slack(i, theta) < ineq.slack(kept[p], theta) => kept[p] = i,
            Some(_) => {}
            None => kept.push(i),
        }
    }
    kept.sort_unstable();
    kept
}

/// Whether rows `i` and `j` have the same coefficients, bit for bit.
fn same_row(ineq: &Inequalities, i: usize, j: usize, k: usize) -> bool {
    ineq.row(i, k)
        .iter()
        .zip(ineq.row(j, k))
        .all(|(a, b)| a.to_bits() == b.to_bits())
}

/// The working-set method on the parameters' space, from the fit under the equalities:
/// while some multiplier of the working set is negative, drop the most negative; else add
/// the most violated inequality (relative to its scale; replacing a working row of the
/// same service); each step one exact KKT solve of `k + m + |working set|` unknowns from
/// the moments. When it stops, every inequality holds and every working multiplier is
/// non-negative: the KKT conditions of the convex program, so the point is the optimum.
/// `None` (the interior point takes over) when a solve fails (dependent rows) or after
/// [`ACTIVE_SET_STEPS`] per parameter.
fn active_set(
    m: &Moments,
    eq: &Equalities,
    ineq: &Inequalities,
    free: Estimate,
) -> Option<Constrained> {
    let k = m.k;
    let m_eq = eq.len();
    let p = ineq.len();
    let mut active: Vec<usize> = Vec::new();
    let (mut theta, mut lambda) = (free.theta, free.lambda);
    for step in 0..ACTIVE_SET_STEPS * (k + 1) {
        let size = lambda.iter().fold(0.0f64, |a, l| a.max(l.abs()));
        let negative = (0..active.len())
            .filter(|&j| lambda[m_eq + j] < -1e-9 * size)
            .min_by(|&a, &b| lambda[m_eq + a].total_cmp(&lambda[m_eq + b]));
        if let Some(j) = negative {
            active.remove(j);
        } else {
            // The most violated row, relative to its scale (ties: the first).
            let mut worst: Option<(usize, f64)> = None;
            for i in 0..p {
                let sl = ineq.slack(i, &theta);
                if !ineq.holds_with(i, &theta, sl, FEASIBILITY) {
                    let v = -sl / ineq.scale[i].abs().max(1.0);
                    if worst.is_none_or(|(_, w)| v > w) {
                        worst = Some((i, v));
                    }
                }
            }
            let Some((i, _)) = worst else {
                active.sort_unstable();
                let estimate = solve(m, &with_rows(eq, ineq, &active, k)).ok()?;
                return Some(Constrained {
                    estimate,
                    active,
                    polished: true,
                    iterations: step as u32,
                });
            };
            match active.iter().position(|&j| same_row(ineq, i, j, k)) {
                Some(q) => active[q] = i,
                None => active.push(i),
            }
        }
        (theta, lambda) = kkt_point(m, &with_rows(eq, ineq, &active, k))?;
    }
    None
}

/// `θ − A'(AA')⁻¹(Aθ − b)`: the nearest point satisfying the equalities.
fn project(theta: &[f64], eq: &Equalities, k: usize) -> Result<Vec<f64>, SolverError> {
    use faer::prelude::*;
    let m = eq.len();
    if m == 0 {
        return Ok(theta.to_vec());
    }
    let aat = Mat::from_fn(m, m, |i, j| {
        (0..k)
            .map(|c| eq.a[i * k + c] * eq.a[j * k + c])
            .sum::<f64>()
    });
    let r = Mat::from_fn(m, 1, |i, _| {
        (0..k).map(|c| eq.a[i * k + c] * theta[c]).sum::<f64>() - eq.b[i]
    });
    let mu = aat.full_piv_lu().solve(&r);
    let out: Vec<f64> = (0..k)
        .map(|c| theta[c] - (0..m).map(|i| eq.a[i * k + c] * mu[(i, 0)]).sum::<f64>())
        .collect();
    if out.iter().all(|v| v.is_finite()) {
        Ok(out)
    } else {
        Err(SolverError::Numerical("the equalities are degenerate"))
    }
}

/// The change of variables `θ_j = σ z_j / c_j` (`c_j = √(X'WX)_jj`, `σ` the size of
/// `X'Wy / c`) that gives the solver a problem of order one.
struct Scaling {
    col: Vec<f64>,
    sigma: f64,
}

/// A conic problem ready for clarabel.
struct Problem {
    p: CscMatrix<f64>,
    q: Vec<f64>,
    a: CscMatrix<f64>,
    b: Vec<f64>,
    cones: Vec<SupportedConeT<f64>>,
}

fn settings() -> Result<DefaultSettings<f64>, SolverError> {
    DefaultSettingsBuilder::default()
        .verbose(false)
        .max_iter(400)
        .tol_gap_abs(1e-10)
        .tol_gap_rel(1e-10)
        .tol_feas(1e-10)
        .build()
        .map_err(|_| SolverError::Numerical("invalid settings of the conic solver"))
}

impl Problem {
    fn solver(&self) -> Result<DefaultSolver<f64>, SolverError> {
        DefaultSolver::new(&self.p, &self.q, &self.a, &self.b, &self.cones, settings()?)
            .map_err(|_| SolverError::Numerical("the constrained fit's program is malformed"))
    }
}

impl Scaling {
    fn new(m: &Moments) -> Scaling {
        let k = m.k;
        let col: Vec<f64> = (0..k)
            .map(|j| {
                let d = m.xtwx[j * k + j];
                if d > 0.0 { d.sqrt() } else { 1.0 }
            })
            .collect();
        let sigma = (0..k)
            .map(|j| (m.xtwy[j] / col[j]).abs())
            .fold(0.0f64, f64::max);
        Scaling {
            col,
            sigma: if sigma > 0.0 { sigma } else { 1.0 },
        }
    }

    fn theta(&self, z: &[f64]) -> Vec<f64> {
        self.col
            .iter()
            .enumerate()
            .map(|(j, c)| self.sigma * z[j] / c)
            .collect()
    }

    /// Appends the scaled row `a θ (= or ≤) rhs` (normalised to unit largest coefficient)
    /// at row `r` of the triplets, over the first `k` variables.
    fn push_row(&self, a: &[f64], rhs: f64, r: usize, t: &mut Triplets) -> f64 {
        let scaled: Vec<f64> = a
            .iter()
            .enumerate()
            .map(|(j, v)| v * self.sigma / self.col[j])
            .collect();
        let largest = scaled.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let norm = if largest > 0.0 { largest } else { 1.0 };
        for (j, v) in scaled.iter().enumerate() {
            if *v != 0.0 {
                t.push(r, j, v / norm);
            }
        }
        t.b.push(rhs / norm);
        norm
    }

    fn problem(&self, m: &Moments, eq: &Equalities, ineq: &Inequalities) -> Problem {
        let k = m.k;
        let (mut pr, mut pc, mut pv) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..k {
            for j in i..k {
                let v = m.xtwx[i * k + j] / (self.col[i] * self.col[j]);
                if v != 0.0 {
                    pr.push(i);
                    pc.push(j);
                    pv.push(v);
                }
            }
        }
        let q = (0..k)
            .map(|j| -m.xtwy[j] / (self.col[j] * self.sigma))
            .collect();
        let mut t = Triplets::default();
        for c in 0..eq.len() {
            self.push_row(&eq.a[c * k..(c + 1) * k], eq.b[c], c, &mut t);
        }
        for i in 0..ineq.len() {
            self.push_row(ineq.row(i, k), ineq.h[i], eq.len() + i, &mut t);
        }
        let rows = eq.len() + ineq.len();
        Problem {
            p: CscMatrix::new_from_triplets(k, k, pr, pc, pv),
            q,
            a: CscMatrix::new_from_triplets(rows, k, t.r, t.c, t.v),
            b: t.b,
            cones: vec![ZeroConeT(eq.len()), NonnegativeConeT(ineq.len())],
        }
    }
}

#[derive(Default)]
struct Triplets {
    r: Vec<usize>,
    c: Vec<usize>,
    v: Vec<f64>,
    b: Vec<f64>,
}

impl Triplets {
    fn push(&mut self, r: usize, c: usize, v: f64) {
        self.r.push(r);
        self.c.push(c);
        self.v.push(v);
    }
}

/// How many conflicts an error names.
const NAMED_CONFLICTS: usize = 12;

/// The constraints that cannot hold together: the least total relative violation with the
/// equalities exact, `min Σ tᵢ` s.t. `A θ = b`, `(Gᵢ θ − hᵢ) / scaleᵢ ≤ tᵢ`, `t ≥ 0`.
/// Returns the error to report (an infeasible set of guarantees, or impossible equalities).
pub fn least_violation(
    eq: &Equalities,
    ineq: &Inequalities,
    k: usize,
) -> Result<SolverError, SolverError> {
    let p = ineq.len();
    let m_eq = eq.len();
    // Variables: θ (k, scaled per column by its largest coefficient in the relative
    // violation rows, where θ meets the t of unit coefficients), t (p). The equalities
    // (whose coefficients are sums over services, orders of magnitude larger) are then
    // normalised row by row: scaling the columns by them would leave the violation rows
    // with coefficients near the solver's tolerance, and a point far from the optimum.
    let col: Vec<f64> = (0..k)
        .map(|j| {
            let mut s = 0.0f64;
            for i in 0..p {
                s = s.max((ineq.g[i * k + j] / ineq.scale[i].abs().max(1.0)).abs());
            }
            if s == 0.0 {
                for c in 0..m_eq {
                    s = s.max(eq.a[c * k + j].abs());
                }
            }
            if s > 0.0 { s } else { 1.0 }
        })
        .collect();
    let mut t = Triplets::default();
    for c in 0..m_eq {
        let norm = (0..k)
            .map(|j| (eq.a[c * k + j] / col[j]).abs())
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE);
        for j in 0..k {
            let v = eq.a[c * k + j] / col[j] / norm;
            if v != 0.0 {
                t.push(c, j, v);
            }
        }
        t.b.push(eq.b[c] / norm);
    }
    for i in 0..p {
        let s = ineq.scale[i].abs().max(1.0);
        let r = m_eq + i;
        for j in 0..k {
            let v = ineq.g[i * k + j] / s / col[j];
            if v != 0.0 {
                t.push(r, j, v);
            }
        }
        t.push(r, k + i, -1.0);
        t.b.push(ineq.h[i] / s);
    }
    for i in 0..p {
        t.push(m_eq + p + i, k + i, -1.0);
        t.b.push(0.0);
    }
    let q: Vec<f64> = (0..k).map(|_| 0.0).chain((0..p).map(|_| 1.0)).collect();
    let problem = Problem {
        p: CscMatrix::zeros((k + p, k + p)),
        q,
        a: CscMatrix::new_from_triplets(m_eq + 2 * p, k + p, t.r, t.c, t.v),
        b: t.b,
        cones: vec![ZeroConeT(m_eq), NonnegativeConeT(2 * p)],
    };
    let mut solver = problem.solver()?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {}
        SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
            return Ok(SolverError::NeutralityImpossible {
                scope: "the neutrality scopes".into(),
                reason: "no parameters satisfy the neutrality equalities".into(),
            });
        }
        _ => {
            return Err(SolverError::Numerical(
                "the least-violation program did not converge",
            ));
        }
    }
    let theta: Vec<f64> = (0..k).map(|j| solver.solution.x[j] / col[j]).collect();
    let mut conflicts: Vec<Conflict> = (0..p)
        .filter_map(|i| {
            let gap = -ineq.slack(i, &theta);
            let s = ineq.scale[i].abs().max(1.0);
            (gap > 1e-7 * s).then(|| Conflict {
                constraint: ineq.label[i].clone(),
                family: ineq.family[i].to_string(),
                gap,
                relative: gap / s,
            })
        })
        .collect();
    conflicts.sort_by(|a, b| {
        b.relative
            .total_cmp(&a.relative)
            .then(a.constraint.cmp(&b.constraint))
    });
    let mut families: Vec<(String, usize)> = Vec::new();
    for c in &conflicts {
        match families.iter_mut().find(|(f, _)| *f == c.family) {
            Some((_, n)) => *n += 1,
            None => families.push((c.family.clone(), 1)),
        }
    }
    families.sort();
    let violated = conflicts.len();
    let total_relative = conflicts.iter().map(|c| c.relative).sum();
    let binding: Vec<String> = {
        let mut fam: Vec<String> = (0..p)
            .filter(|&i| ineq.slack(i, &theta) <= 1e-7 * ineq.scale[i].abs().max(1.0))
            .map(|i| ineq.family[i].to_string())
            .collect();
        fam.sort();
        fam.dedup();
        fam
    };
    conflicts.truncate(NAMED_CONFLICTS);
    Ok(SolverError::Infeasible {
        violated,
        total_relative,
        families,
        binding,
        conflicts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Moments of y = (1, 2, 3, 10) on an intercept and x = (0, 1, 2, 3), unit weights.
    fn line() -> Moments {
        let x = [1.0, 0.0, 1.0, 1.0, 1.0, 2.0, 1.0, 3.0];
        let y = [1.0, 2.0, 3.0, 10.0];
        Moments::from_rows(&x, &y, &[1.0; 4], 2)
    }

    #[test]
    fn a_slack_inequality_leaves_least_squares_alone() {
        let m = line();
        let free = solve(&m, &Equalities::default()).unwrap();
        let mut ineq = Inequalities::default();
        ineq.push(&[0.0, 1.0], 100.0, "slope ≤ 100".into(), "test", 1.0);
        let c = solve_constrained(&m, &Equalities::default(), &ineq).unwrap();
        assert!(c.polished);
        assert!(c.active.is_empty());
        for j in 0..2 {
            assert!((c.estimate.theta[j] - free.theta[j]).abs() < 1e-12);
        }
    }

    #[test]
    fn a_binding_inequality_gives_the_restricted_fit() {
        // Unconstrained slope 2.8; with slope ≤ 1 the fit is the intercept-only fit of
        // y − x: mean(1, 1, 1, 7) = 2.5, slope 1.
        let m = line();
        let mut ineq = Inequalities::default();
        ineq.push(&[0.0, 1.0], 1.0, "slope ≤ 1".into(), "test", 1.0);
        let c = solve_constrained(&m, &Equalities::default(), &ineq).unwrap();
        assert!(c.polished);
        assert_eq!(c.active, vec![0]);
        assert!(
            (c.estimate.theta[0] - 2.5).abs() < 1e-12,
            "{:?}",
            c.estimate
        );
        assert!((c.estimate.theta[1] - 1.0).abs() < 1e-12);
    }

    #[test]
    fn the_working_set_and_the_interior_point_agree() {
        let m = line();
        let eq = Equalities {
            a: vec![1.0, 1.0],
            b: vec![4.0],
        };
        let mut ineq = Inequalities::default();
        ineq.push(&[0.0, 1.0], 1.0, "slope ≤ 1".into(), "test", 1.0);
        ineq.push(&[-1.0, 0.0], -0.5, "intercept ≥ 0.5".into(), "test", 1.0);
        ineq.push(&[0.0, 1.0], 1.5, "slope ≤ 1.5".into(), "test", 1.0);
        let free = solve(&m, &eq).unwrap();
        let a = active_set(&m, &eq, &ineq, free).expect("finishes");
        let b = interior_point(&m, &eq, &ineq).unwrap();
        assert!(a.polished && b.polished);
        assert_eq!(a.active, b.active);
        for j in 0..2 {
            assert!((a.estimate.theta[j] - b.estimate.theta[j]).abs() < 1e-12);
        }
        // Intercept + slope = 4 with slope ≤ 1: slope 1, intercept 3.
        assert!(
            (a.estimate.theta[0] - 3.0).abs() < 1e-12,
            "{:?}",
            a.estimate
        );
    }

    #[test]
    fn a_violated_row_without_coefficients_is_named_at_once() {
        let m = line();
        let mut ineq = Inequalities::default();
        ineq.push(&[0.0, 0.0], 0.0, "0 ≤ 0".into(), "test", 1.0);
        ineq.push(&[0.0, 0.0], -2.0, "0 ≤ −2".into(), "test", 1.0);
        let err = solve_constrained(&m, &Equalities::default(), &ineq).unwrap_err();
        let SolverError::Infeasible { conflicts, .. } = &err else {
            panic!("{err}")
        };
        assert_eq!(conflicts.len(), 1);
        assert_eq!(conflicts[0].constraint, "0 ≤ −2");
        assert!((conflicts[0].gap - 2.0).abs() < 1e-9);
    }

    #[test]
    fn conflicting_inequalities_are_named_with_their_gap() {
        // Neutrality: intercept + slope = 10; guarantees intercept ≤ 2 and slope ≤ 3: at
        // best one of them misses by 5 in total (relative to scale 1).
        let m = line();
        let eq = Equalities {
            a: vec![1.0, 1.0],
            b: vec![10.0],
        };
        let mut ineq = Inequalities::default();
        ineq.push(&[1.0, 0.0], 2.0, "intercept ≤ 2".into(), "a", 1.0);
        ineq.push(&[0.0, 1.0], 3.0, "slope ≤ 3".into(), "b", 1.0);
        let err = solve_constrained(&m, &eq, &ineq).unwrap_err();
        let SolverError::Infeasible { conflicts, .. } = &err else {
            panic!("{err}")
        };
        let total: f64 = conflicts.iter().map(|c| c.gap).sum();
        assert!((total - 5.0).abs() < 1e-6, "{conflicts:?}");
        assert!(err.to_string().contains("cannot all hold"), "{err}");
    }
}
