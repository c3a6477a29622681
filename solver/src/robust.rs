//! Robust and median losses, under the same exact equalities as weighted least squares.
//!
//! - [`huber`]: Huber's M-estimate by iteratively reweighted least squares. Each step is a
//!   KKT solve ([`crate::wls::solve`]) with weights `w_i u(r_i / s)`, `u(z) = min(1, t/|z|)`,
//!   and the scale `s` is the median absolute residual over 0.6745 (MAD about zero,
//!   statsmodels' convention). Iterated to the fixed point — not stopped after one step
//!   as statsmodels' default deviance rule does with costs in euros (see
//!   `tests/reference/calibration/README.md`).
//! - [`median`]: least absolute deviations `min Σ w_i |y_i − x_i θ|` subject to `Aθ = b`,
//!   a linear program solved by clarabel's interior-point method on a rescaled problem,
//!   then moved to the exact vertex: the `k − m` rows of smallest residual, with the
//!   equalities, determine θ; that solution is kept when its objective is not worse.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT,
};
use faer::prelude::*;

use crate::error::SolverError;
use crate::qp::{Inequalities, solve_constrained};
use crate::wls::{Equalities, Estimate, Moments};

/// `Φ⁻¹(3/4)`: the MAD of a standard normal.
pub const MAD_NORMAL: f64 = 0.674_489_750_196_081_7;

/// Median of a slice (the mean of the two middle values for an even length).
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// A Huber fit.
#[derive(Clone, Debug, PartialEq)]
pub struct HuberFit {
    /// The last weighted KKT solve: θ, multipliers, bread.
    pub estimate: Estimate,
    /// The scale `s` (MAD of the residuals about zero).
    pub scale: f64,
    /// IRLS weights `u(r/s)` of the last step.
    pub robustness_weights: Vec<f64>,
    /// Iterations (KKT solves after the starting least-squares fit).
    pub iterations: usize,
    /// Whether the parameters stopped moving (relative change ≤ `tol`).
    pub converged: bool,
    /// Inequalities binding at the last step.
    pub active: Vec<usize>,
}

/// Options of the Huber fit.
#[derive(Clone, Copy, Debug)]
pub struct HuberConfig {
    /// Tuning constant, in scales.
    pub t: f64,
    /// Largest number of reweighting steps.
    pub max_iter: usize,
    /// Relative change of θ (in max norm) below which the fit has converged.
    pub tol: f64,
}

impl Default for HuberConfig {
    fn default() -> Self {
        HuberConfig {
            t: 1.345,
            max_iter: 500,
            tol: 1e-13,
        }
    }
}

/// Residuals `y − xθ`.
fn residuals(x: &[f64], y: &[f64], theta: &[f64]) -> Vec<f64> {
    crate::wls::residuals(x, y, theta)
}

/// Huber's M-estimate of `y` on rows `x` (n × k) with observation weights `w`, under
/// `eq` and `ineq` (each reweighted step a constrained least-squares fit: its fixed point
/// satisfies the optimality conditions of the constrained Huber problem at that scale).
pub fn huber(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    k: usize,
    eq: &Equalities,
    ineq: &Inequalities,
    config: &HuberConfig,
) -> Result<HuberFit, SolverError> {
    let n = y.len();
    let first = solve_constrained(&Moments::from_rows(x, y, w, k), eq, ineq)?;
    let mut estimate = first.estimate;
    let mut active = first.active;
    let mut u = vec![1.0; n];
    let mut scale = 0.0;
    let mut iterations = 0;
    let mut converged = false;
    while iterations < config.max_iter {
        let r = residuals(x, y, &estimate.theta);
        scale = median(&r.iter().map(|v| v.abs()).collect::<Vec<_>>()) / MAD_NORMAL;
        if scale <= 0.0 {
            // More than half the rows fit exactly: least squares on them is the answer.
            converged = true;
            break;
        }
        for i in 0..n {
            let z = (r[i] / scale).abs();
            u[i] = if z <= config.t { 1.0 } else { config.t / z };
        }
        let uw: Vec<f64> = w.iter().zip(&u).map(|(a, b)| a * b).collect();
        let step = solve_constrained(&Moments::from_rows(x, y, &uw, k), eq, ineq)?;
        let next = step.estimate;
        active = step.active;
        iterations += 1;
        let size = next.theta.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let change = next
            .theta
            .iter()
            .zip(&estimate.theta)
            .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
        estimate = next;
        if change <= config.tol * size.max(f64::MIN_POSITIVE) {
            converged = true;
            break;
        }
    }
    Ok(HuberFit {
        estimate,
        scale,
        robustness_weights: u,
        iterations,
        converged,
        active,
    })
}

/// A least-absolute-deviations fit.
#[derive(Clone, Debug, PartialEq)]
pub struct MedianFit {
    /// Parameters.
    pub theta: Vec<f64>,
    /// `Σ w |y − xθ|`.
    pub objective: f64,
    /// Interior-point iterations.
    pub iterations: u32,
    /// Whether the exact vertex replaced the interior-point solution.
    pub vertex: bool,
    /// Inequalities binding at the solution.
    pub binding: Vec<usize>,
}

/// Weighted least absolute deviations of `y` on rows `x` (n × k) under `eq`.
pub fn median_fit(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    k: usize,
    eq: &Equalities,
    ineq: &Inequalities,
) -> Result<MedianFit, SolverError> {
    let n = y.len();
    let m = eq.len();
    let p = ineq.len();
    // Rescale: columns of x and y to unit max, so the solver's tolerances mean the same
    // whatever the units.
    let col_scale: Vec<f64> = (0..k)
        .map(|j| {
            let s = (0..n).fold(0.0f64, |a, i| a.max(x[i * k + j].abs()));
            if s > 0.0 { s } else { 1.0 }
        })
        .collect();
    let y_scale = y
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    let w_scale = w
        .iter()
        .fold(0.0f64, |a, v| a.max(v.abs()))
        .max(f64::MIN_POSITIVE);
    // Variables: z (k, θ_j = z_j y_scale / col_scale_j), e⁺ (n), e⁻ (n).
    let nv = k + 2 * n;
    let mut q = vec![0.0; nv];
    for i in 0..n {
        q[k + i] = w[i] / w_scale;
        q[k + n + i] = w[i] / w_scale;
    }
    // Rows: n fit equalities, m neutrality equalities (zero cone); 2n signs (nonnegative).
    let (mut ri, mut ci, mut vi) = (Vec::new(), Vec::new(), Vec::new());
    let mut rhs = Vec::with_capacity(2 * n + n + m);
    for i in 0..n {
        for j in 0..k {
            let v = x[i * k + j] / col_scale[j];
            if v != 0.0 {
                ri.push(i);
                ci.push(j);
                vi.push(v);
            }
        }
        ri.push(i);
        ci.push(k + i);
        vi.push(1.0);
        ri.push(i);
        ci.push(k + n + i);
        vi.push(-1.0);
        rhs.push(y[i] / y_scale);
    }
    for c in 0..m {
        let row_scale = (0..k)
            .map(|j| (eq.a[c * k + j] * y_scale / col_scale[j]).abs())
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE);
        for j in 0..k {
            let v = eq.a[c * k + j] * y_scale / col_scale[j] / row_scale;
            if v != 0.0 {
                ri.push(n + c);
                ci.push(j);
                vi.push(v);
            }
        }
        rhs.push(eq.b[c] / row_scale);
    }
    // Guarantees: G θ ≤ h, rows scaled like the equalities.
    for c in 0..p {
        let g = &ineq.g[c * k..(c + 1) * k];
        let row_scale = (0..k)
            .map(|j| (g[j] * y_scale / col_scale[j]).abs())
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE);
        for j in 0..k {
            let v = g[j] * y_scale / col_scale[j] / row_scale;
            if v != 0.0 {
                ri.push(n + m + c);
                ci.push(j);
                vi.push(v);
            }
        }
        rhs.push(ineq.h[c] / row_scale);
    }
    for i in 0..2 * n {
        ri.push(n + m + p + i);
        ci.push(k + i);
        vi.push(-1.0);
        rhs.push(0.0);
    }
    let a = CscMatrix::new_from_triplets(n + m + p + 2 * n, nv, ri, ci, vi);
    let quad = CscMatrix::zeros((nv, nv));
    let cones = [ZeroConeT(n + m), NonnegativeConeT(p + 2 * n)];
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .max_iter(400)
        .tol_gap_abs(1e-11)
        .tol_gap_rel(1e-11)
        .tol_feas(1e-11)
        .build()
        .map_err(|_| SolverError::Numerical("invalid settings of the LP solver"))?;
    let mut solver = DefaultSolver::new(&quad, &q, &a, &rhs, &cones, settings)
        .map_err(|_| SolverError::Numerical("the median fit's linear program is malformed"))?;
    solver.solve();
    let status = solver.solution.status;
    if !matches!(status, SolverStatus::Solved | SolverStatus::AlmostSolved) {
        return Err(match status {
            SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible if p > 0 => {
                crate::qp::least_violation(eq, ineq, k)?
            }
            SolverStatus::PrimalInfeasible | SolverStatus::AlmostPrimalInfeasible => {
                SolverError::NeutralityImpossible {
                    scope: "the median fit".into(),
                    reason: "no parameters satisfy the neutrality equalities".into(),
                }
            }
            _ => SolverError::Numerical("the median fit's linear program did not converge"),
        });
    }
    let ipm: Vec<f64> = (0..k)
        .map(|j| solver.solution.x[j] * y_scale / col_scale[j])
        .collect();
    let objective = |theta: &[f64]| -> f64 {
        residuals(x, y, theta)
            .iter()
            .zip(w)
            .map(|(r, w)| w * r.abs())
            .sum()
    };
    let ipm_objective = objective(&ipm);
    let mut fit = MedianFit {
        theta: ipm.clone(),
        objective: ipm_objective,
        iterations: solver.solution.iterations,
        vertex: false,
        binding: Vec::new(),
    };
    // The vertex: the equalities, the binding guarantees, and the rows of smallest
    // |residual| (as many as the parameters left free) fit exactly.
    let binding: Vec<usize> = (0..p)
        .filter(|&c| solver.solution.s[n + m + c] <= solver.solution.z[n + m + c])
        .collect();
    fit.binding = binding.clone();
    let fixed = m + binding.len();
    if k > fixed && n >= k - fixed {
        let free = k - fixed;
        let r = residuals(x, y, &ipm);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| r[i].abs().total_cmp(&r[j].abs()).then(i.cmp(&j)));
        let basis = &order[..free];
        let mat = Mat::from_fn(k, k, |i, j| {
            if i < free {
                x[basis[i] * k + j]
            } else if i < free + m {
                eq.a[(i - free) * k + j]
            } else {
                ineq.g[binding[i - free - m] * k + j]
            }
        });
        let b = Mat::from_fn(k, 1, |i, _| {
            if i < free {
                y[basis[i]]
            } else if i < free + m {
                eq.b[i - free]
            } else {
                ineq.h[binding[i - free - m]]
            }
        });
        let lu = mat.full_piv_lu();
        let sol = lu.solve(&b);
        let theta: Vec<f64> = (0..k).map(|j| sol[(j, 0)]).collect();
        if theta.iter().all(|v| v.is_finite()) {
            let obj = objective(&theta);
            let eq_ok = (0..m).all(|c| {
                let lhs: f64 = (0..k).map(|j| eq.a[c * k + j] * theta[j]).sum();
                (lhs - eq.b[c]).abs() <= 1e-9 * eq.b[c].abs().max(1.0)
            });
            let ineq_ok = (0..p).all(|c| {
                let size = ineq.g[c * k..(c + 1) * k]
                    .iter()
                    .zip(&theta)
                    .fold(ineq.h[c].abs(), |a, (g, t)| a.max((g * t).abs()));
                ineq.slack(c, &theta) >= -1e-9 * size.max(f64::MIN_POSITIVE)
            });
            if eq_ok && ineq_ok && obj <= ipm_objective * (1.0 + 1e-9) {
                fit.theta = theta;
                fit.objective = obj;
                fit.vertex = true;
            }
        }
    }
    Ok(fit)
}
