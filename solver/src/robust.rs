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
use crate::wls::{Equalities, Estimate, Moments, solve};

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
/// `eq`.
pub fn huber(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    k: usize,
    eq: &Equalities,
    config: &HuberConfig,
) -> Result<HuberFit, SolverError> {
    let n = y.len();
    let mut estimate = solve(&Moments::from_rows(x, y, w, k), eq)?;
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
        let next = solve(&Moments::from_rows(x, y, &uw, k), eq)?;
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
}

/// Weighted least absolute deviations of `y` on rows `x` (n × k) under `eq`.
pub fn median_fit(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    k: usize,
    eq: &Equalities,
) -> Result<MedianFit, SolverError> {
    let n = y.len();
    let m = eq.len();
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
    for i in 0..2 * n {
        ri.push(n + m + i);
        ci.push(k + i);
        vi.push(-1.0);
        rhs.push(0.0);
    }
    let a = CscMatrix::new_from_triplets(n + m + 2 * n, nv, ri, ci, vi);
    let p = CscMatrix::zeros((nv, nv));
    let cones = [ZeroConeT(n + m), NonnegativeConeT(2 * n)];
    let settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .max_iter(400)
        .tol_gap_abs(1e-11)
        .tol_gap_rel(1e-11)
        .tol_feas(1e-11)
        .build()
        .map_err(|_| SolverError::Numerical("invalid settings of the LP solver"))?;
    let mut solver = DefaultSolver::new(&p, &q, &a, &rhs, &cones, settings)
        .map_err(|_| SolverError::Numerical("the median fit's linear program is malformed"))?;
    solver.solve();
    let status = solver.solution.status;
    if !matches!(status, SolverStatus::Solved | SolverStatus::AlmostSolved) {
        return Err(match status {
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
    };
    // The vertex: the k − m rows of smallest |residual| fit exactly, with the equalities.
    if k > m && n >= k - m {
        let r = residuals(x, y, &ipm);
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&i, &j| r[i].abs().total_cmp(&r[j].abs()).then(i.cmp(&j)));
        let basis = &order[..k - m];
        let mat = Mat::from_fn(k, k, |i, j| {
            if i < k - m {
                x[basis[i] * k + j]
            } else {
                eq.a[(i - (k - m)) * k + j]
            }
        });
        let b = Mat::from_fn(k, 1, |i, _| {
            if i < k - m {
                y[basis[i]]
            } else {
                eq.b[i - (k - m)]
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
            if eq_ok && obj <= ipm_objective * (1.0 + 1e-9) {
                fit.theta = theta;
                fit.objective = obj;
                fit.vertex = true;
            }
        }
    }
    Ok(fit)
}
