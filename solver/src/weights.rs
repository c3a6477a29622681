//! Calibration of survey weights to known population totals (*calage sur marges*,
//! Deville & Särndal 1992; R `survey::calibrate`, INSEE's CALMAR): the weights
//! `w_s = d_s · g_s` closest to the design weights `d_s` — in the distance of the chosen
//! method — whose weighted sums of the auxiliary variables `x_s` equal the totals `T`.
//!
//! `g_s = F(x_s · λ)` with `F` the method's calibration function, and `λ` the root of
//! `Σ_s d_s F(x_s · λ) x_s = T`, found by Newton's method as R's `grake` does:
//! `λ ← λ + H⁺ (T − Σ d F x)` with `H = Σ d F'(x·λ) x xᵀ` and `H⁺` its pseudo-inverse
//! (redundant margins, such as two categorical margins that both sum to the number of
//! services, are allowed when their totals agree), halving the step while a weight is not
//! finite. The methods:
//!
//! | method | `F(u)` | `g` |
//! |---|---|---|
//! | `linear` (GREG) | `1 + u` | any sign |
//! | `truncated` | `1 + u` clamped to `[L, U]` | in `[L, U]` |
//! | `raking` | `exp(u)`, clamped to `[L, U]` when bounds are given | `> 0` |
//! | `logit` | `(L(U−1) + U(1−L) e^{Au}) / (U−1 + (1−L) e^{Au})`, `A = (U−L)/((1−L)(U−1))` | in `(L, U)` |
//!
//! Before iterating, the feasibility check: each margin alone (the totals g within the
//! method's range can reach), then a linear program (some g within the range reaching
//! every total at once, the least total relative violation otherwise); when no g can, the
//! calibration is refused naming the margins that cannot hold. The auxiliary variables are mostly indicators of
//! categories, so each service's row is kept sparse: an iteration costs
//! `Σ_s nnz(x_s)²`, not `n p²`.
//!
//! The variance of an estimator computed with calibrated weights shrinks by what the
//! margins explain: [`residualize`] replaces each service's weighted
//! influence `w_s a_s` by `w_s (a_s − x_s B)`, `B` the design-weighted regression of the
//! influences on the auxiliary variables — R `survey`'s linearisation of a calibrated
//! design.

use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus, ZeroConeT,
};
use dotation_core::tables::CalibratedWeights;
use faer::{Mat, Side};
use serde::{Deserialize, Serialize};

/// The calibration function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// `g = 1 + x·λ` (the GREG estimator's weights; may be negative).
    #[default]
    Linear,
    /// The linear method with every `g` clamped to the bounds.
    Truncated,
    /// `g = exp(x·λ)` (iterative proportional fitting for categorical margins).
    Raking,
    /// The logit method: `g` strictly within the bounds, which it requires.
    Logit,
}

impl Method {
    /// The method's name in specs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Method::Linear => "linear",
            Method::Truncated => "truncated",
            Method::Raking => "raking",
            Method::Logit => "logit",
        }
    }
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "linear" => Ok(Method::Linear),
            "truncated" => Ok(Method::Truncated),
            "raking" => Ok(Method::Raking),
            "logit" => Ok(Method::Logit),
            _ => Err(format!(
                "unknown method {s:?}: linear, truncated, raking or logit"
            )),
        }
    }
}

/// How to calibrate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// The calibration function.
    pub method: Method,
    /// Bounds `(L, U)` of the g-weights, `L < 1 < U` (required by `truncated` and
    /// `logit`, optional for `raking`, refused for `linear`).
    pub bounds: Option<(f64, f64)>,
    /// Newton iterations at most.
    pub max_iterations: usize,
    /// Convergence: every total reproduced to this relative error.
    pub tolerance: f64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            method: Method::Linear,
            bounds: None,
            max_iterations: 100,
            tolerance: 1e-12,
        }
    }
}

impl Settings {
    /// Checks that the bounds fit the method.
    pub fn check(&self) -> Result<(), WeightsError> {
        match (self.method, self.bounds) {
            (Method::Linear, Some(_)) => Err(WeightsError::Settings(
                "the linear method has no bounds: use method = \"truncated\" for linear calibration with bounds".into(),
            )),
            (Method::Truncated | Method::Logit, None) => Err(WeightsError::Settings(format!(
                "the {} method needs bounds (L, U) with L < 1 < U",
                self.method.name()
            ))),
            (_, Some((l, u))) if !(l.is_finite() && u.is_finite() && (0.0..1.0).contains(&l) && u > 1.0) => {
                Err(WeightsError::Settings(format!(
                    "bounds ({l}, {u}): they must satisfy 0 ≤ L < 1 < U (finite)"
                )))
            }
            _ if !(self.tolerance > 0.0 && self.max_iterations > 0) => Err(WeightsError::Settings(
                "the tolerance must be > 0 and the iterations at least 1".into(),
            )),
            _ => Ok(()),
        }
    }

    /// The range of g the method allows, for the feasibility check (`None`: unbounded).
    fn range(&self) -> (Option<f64>, Option<f64>) {
        match (self.method, self.bounds) {
            (Method::Linear, _) => (None, None),
            (Method::Raking, None) => (Some(0.0), None),
            (_, Some((l, u))) => (Some(l), Some(u)),
            (_, None) => (None, None),
        }
    }

    /// `(g, dg/du)` at `u`.
    fn calibration_function(&self, u: f64) -> (f64, f64) {
        let clamp = |g: f64, d: f64| match self.bounds {
            Some((l, _)) if g <= l => (l, 0.0),
            Some((_, h)) if g >= h => (h, 0.0),
            _ => (g, d),
        };
        match self.method {
            Method::Linear => (1.0 + u, 1.0),
            Method::Truncated => clamp(1.0 + u, 1.0),
            Method::Raking => {
                let e = u.exp();
                clamp(e, e)
            }
            Method::Logit => {
                let (l, h) = self.bounds.expect("checked: logit has bounds");
                let a = (h - l) / ((1.0 - l) * (h - 1.0));
                let (c, e) = (h - 1.0, 1.0 - l);
                // F = (l c + h e E) / (c + e E), E = exp(a u); written in E or 1/E so that
                // neither overflows.
                let au = a * u;
                if au <= 0.0 {
                    let big_e = au.exp();
                    let den = c + e * big_e;
                    (
                        (l * c + h * e * big_e) / den,
                        a * big_e * c * e * (h - l) / (den * den),
                    )
                } else {
                    let inv = (-au).exp();
                    let den = c * inv + e;
                    (
                        (l * c * inv + h * e) / den,
                        a * inv * c * e * (h - l) / (den * den),
                    )
                }
            }
        }
    }
}

/// Why weights could not be calibrated.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[non_exhaustive]
pub enum WeightsError {
    /// The method and bounds do not fit together.
    #[error("weights: {0}")]
    Settings(String),
    /// No g-weights within the method's range reach the totals.
    #[error("weights: no g-weights {range} reproduce every margin; these cannot hold: {}", describe(.margins))]
    Infeasible {
        /// The range of g, in words.
        range: String,
        /// The margins that cannot hold, with the closest reachable total.
        margins: Vec<Unreachable>,
    },
    /// Newton's iteration did not reach the tolerance.
    #[error("weights: the {method} calibration did not converge in {iterations} iterations; largest relative misfits: {}", describe(.margins))]
    NotConverged {
        /// The method.
        method: &'static str,
        /// Iterations done.
        iterations: usize,
        /// The margins furthest from their totals.
        margins: Vec<Unreachable>,
    },
    /// The problem's dimensions do not agree.
    #[error("weights: {0}")]
    Shape(String),
    /// A numerical failure (an eigendecomposition or a linear program).
    #[error("weights: {0}")]
    Numerical(String),
}

/// A margin that cannot be reproduced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Unreachable {
    /// The margin's label.
    pub margin: String,
    /// Its target total.
    pub total: f64,
    /// The closest total reached.
    pub reached: f64,
    /// `(reached − total) / |total|`.
    pub relative: f64,
}

fn describe(m: &[Unreachable]) -> String {
    m.iter()
        .map(|u| {
            format!(
                "{} (target {}, closest reachable {}, {:+.2} %)",
                u.margin,
                significant(u.total),
                significant(u.reached),
                100.0 * u.relative
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A number to 7 significant digits, without an exponent for everyday magnitudes.
fn significant(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let digits = (6 - x.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let s = format!("{x:.digits$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The calibration problem: `n` services, `p` auxiliary variables.
#[derive(Clone, Copy, Debug)]
pub struct Problem<'a> {
    /// Auxiliary variables, `n × p` row-major.
    pub x: &'a [f64],
    /// Design weights `d`, `n`.
    pub design: &'a [f64],
    /// Population totals `T`, `p`.
    pub totals: &'a [f64],
    /// The margins' labels, `p`, for messages.
    pub labels: &'a [String],
}

/// Calibrated weights.
#[derive(Clone, Debug, PartialEq)]
pub struct WeightCalibration {
    /// The settings used.
    pub settings: Settings,
    /// g-weights (`weight / design weight`), `n`.
    pub g: Vec<f64>,
    /// Calibrated weights `d · g`, `n`.
    pub weights: Vec<f64>,
    /// Design weights, `n`.
    pub design: Vec<f64>,
    /// The totals, `p`.
    pub totals: Vec<f64>,
    /// Σ w x achieved, `p`.
    pub achieved: Vec<f64>,
    /// Σ d x (the design weights' estimates), `p`.
    pub design_estimates: Vec<f64>,
    /// Newton iterations.
    pub iterations: usize,
}

impl WeightCalibration {
    /// `(achieved − total) / |total|` of every margin (the absolute difference for a
    /// total of 0).
    pub fn residuals(&self) -> Vec<f64> {
        self.achieved
            .iter()
            .zip(&self.totals)
            .map(|(a, t)| relative(*a, *t))
            .collect()
    }

    /// The largest |relative residual|.
    pub fn largest_residual(&self) -> f64 {
        self.residuals().iter().fold(0.0f64, |m, r| m.max(r.abs()))
    }

    /// Number of auxiliary variables.
    pub fn margins(&self) -> usize {
        self.totals.len()
    }
}

/// Replaces the weighted influence values `phi` (`n × q`, row-major: service `s`'s
/// influence on `q` estimates, already multiplied by its calibrated weight) by their
/// residuals from the auxiliary variables, as R `survey` linearises an estimator of a
/// calibrated design: `phi_s ← phi_s − w_s x_sᵀ B`, with
/// `B = (Σ d x xᵀ)⁺ Σ x phi_sᵀ / g_s` (`p × q`).
pub fn residualize(c: &CalibratedWeights, phi: &mut [f64], q: usize) {
    let p = c.margins;
    let n = c.g.len();
    debug_assert_eq!(phi.len(), n * q);
    let scale = rms_scale(&c.auxiliary, &c.design_weight, p);
    let rows = SparseRows::new(&c.auxiliary, n, p, &scale);
    let mut h = vec![0.0; p * p];
    let mut rhs = vec![0.0; p * q];
    for s in 0..n {
        let (idx, val) = rows.row(s);
        accumulate_lower(&mut h, p, idx, val, c.design_weight[s]);
        let g = c.g[s];
        for (&j, &v) in idx.iter().zip(val) {
            for k in 0..q {
                rhs[j * q + k] += v * phi[s * q + k] / g;
            }
        }
    }
    mirror(&mut h, p);
    let pinv = pseudo_inverse(&h, p);
    let mut b = vec![0.0; p * q];
    for i in 0..p {
        for j in 0..p {
            let a = pinv[i * p + j];
            if a != 0.0 {
                for k in 0..q {
                    b[i * q + k] += a * rhs[j * q + k];
                }
            }
        }
    }
    for s in 0..n {
        let (idx, val) = rows.row(s);
        let w = c.design_weight[s] * c.g[s];
        for k in 0..q {
            let fit: f64 = idx.iter().zip(val).map(|(&j, &v)| v * b[j * q + k]).sum();
            phi[s * q + k] -= w * fit;
        }
    }
}

/// Every column's root mean square under the weights `d` (1 for a column of zeros): the
/// scale that makes the auxiliary variables comparable.
fn rms_scale(x: &[f64], d: &[f64], p: usize) -> Vec<f64> {
    let n = d.len();
    let dsum: f64 = d.iter().sum();
    (0..p)
        .map(|j| {
            let ss: f64 = (0..n).map(|s| d[s] * x[s * p + j].powi(2)).sum();
            let rms = (ss / dsum).sqrt();
            if rms > 0.0 && rms.is_finite() {
                rms
            } else {
                1.0
            }
        })
        .collect()
}

fn relative(achieved: f64, total: f64) -> f64 {
    if total != 0.0 {
        (achieved - total) / total.abs()
    } else {
        achieved
    }
}

/// Services' auxiliary rows with their nonzero entries only.
#[derive(Clone, Debug, PartialEq)]
struct SparseRows {
    p: usize,
    start: Vec<usize>,
    index: Vec<usize>,
    value: Vec<f64>,
}

impl SparseRows {
    fn new(x: &[f64], n: usize, p: usize, scale: &[f64]) -> SparseRows {
        let mut rows = SparseRows {
            p,
            start: Vec::with_capacity(n + 1),
            index: Vec::new(),
            value: Vec::new(),
        };
        rows.start.push(0);
        for s in 0..n {
            for j in 0..p {
                let v = x[s * p + j];
                if v != 0.0 {
                    rows.index.push(j);
                    rows.value.push(v / scale[j]);
                }
            }
            rows.start.push(rows.index.len());
        }
        rows
    }

    fn row(&self, s: usize) -> (&[usize], &[f64]) {
        let r = self.start[s]..self.start[s + 1];
        (&self.index[r.clone()], &self.value[r])
    }
}

/// The Moore–Penrose pseudo-inverse of a symmetric positive semi-definite `p × p` matrix
/// (row-major), eigenvalues below `1e-11 ×` the largest taken as zero.
fn pseudo_inverse(h: &[f64], p: usize) -> Vec<f64> {
    let m = Mat::from_fn(p, p, |i, j| h[i * p + j]);
    let mut out = vec![0.0; p * p];
    let Ok(evd) = m.self_adjoint_eigen(Side::Lower) else {
        return out;
    };
    let (u, s) = (evd.U(), evd.S().column_vector());
    let largest = (0..p).map(|k| s[k].abs()).fold(0.0f64, f64::max);
    for k in 0..p {
        if s[k] > 1e-11 * largest && s[k] > 0.0 {
            let inv = 1.0 / s[k];
            for i in 0..p {
                let a = u[(i, k)] * inv;
                for j in 0..p {
                    out[i * p + j] += a * u[(j, k)];
                }
            }
        }
    }
    out
}

/// Calibrates the design weights to the totals.
pub fn calibrate_weights(
    problem: &Problem<'_>,
    settings: &Settings,
) -> Result<WeightCalibration, WeightsError> {
    settings.check()?;
    let n = problem.design.len();
    let p = problem.totals.len();
    if problem.x.len() != n * p || problem.labels.len() != p {
        return Err(WeightsError::Shape(format!(
            "{} auxiliary values for {n} services and {p} margins",
            problem.x.len()
        )));
    }
    if p == 0 {
        return Err(WeightsError::Settings(
            "the margins table has no row".into(),
        ));
    }
    // Columns scaled to a root-mean-square of 1 under the design weights: the same
    // weights, a better-conditioned Newton system and a meaningful eigenvalue cut.
    let scale = rms_scale(problem.x, problem.design, p);
    let rows = SparseRows::new(problem.x, n, p, &scale);
    let totals: Vec<f64> = (0..p).map(|j| problem.totals[j] / scale[j]).collect();
    let design_estimates = weighted_totals(&rows, problem.design, &vec![1.0; n]);

    feasibility(&rows, problem, settings, &totals, &scale)?;

    let mut lambda = vec![0.0; p];
    let mut u = vec![0.0; n];
    let mut g = vec![0.0; n];
    let mut deriv = vec![0.0; n];
    let evaluate = |lambda: &[f64], u: &mut [f64], g: &mut [f64], deriv: &mut [f64]| {
        for s in 0..n {
            let (idx, val) = rows.row(s);
            u[s] = idx.iter().zip(val).map(|(&j, &v)| v * lambda[j]).sum();
            (g[s], deriv[s]) = settings.calibration_function(u[s]);
        }
        g.iter().chain(deriv.iter()).all(|v| v.is_finite())
    };
    evaluate(&lambda, &mut u, &mut g, &mut deriv);
    let mut iterations = 0;
    loop {
        let achieved = weighted_totals(&rows, problem.design, &g);
        let misfit: Vec<f64> = (0..p).map(|j| totals[j] - achieved[j]).collect();
        let worst = (0..p)
            .map(|j| misfit[j].abs() / totals[j].abs().max(f64::MIN_POSITIVE))
            .fold(0.0f64, f64::max);
        if worst <= settings.tolerance {
            break;
        }
        if iterations >= settings.max_iterations {
            return Err(WeightsError::NotConverged {
                method: settings.method.name(),
                iterations,
                margins: furthest(problem, &achieved, &scale),
            });
        }
        iterations += 1;
        let mut h = vec![0.0; p * p];
        for s in 0..n {
            let c = problem.design[s] * deriv[s];
            if c != 0.0 {
                let (idx, val) = rows.row(s);
                accumulate_lower(&mut h, p, idx, val, c);
            }
        }
        mirror(&mut h, p);
        let pinv = pseudo_inverse(&h, p);
        let mut step: Vec<f64> = (0..p)
            .map(|i| (0..p).map(|k| pinv[i * p + k] * misfit[k]).sum())
            .collect();
        let mut next: Vec<f64> = lambda.iter().zip(&step).map(|(l, d)| l + d).collect();
        let mut halvings = 0;
        while !evaluate(&next, &mut u, &mut g, &mut deriv) {
            halvings += 1;
            if halvings > 60 {
                return Err(WeightsError::Numerical(
                    "the weights overflowed whatever the step".into(),
                ));
            }
            step.iter_mut().for_each(|d| *d /= 2.0);
            next = lambda.iter().zip(&step).map(|(l, d)| l + d).collect();
        }
        lambda = next;
    }
    let weights: Vec<f64> = (0..n).map(|s| problem.design[s] * g[s]).collect();
    let achieved = weighted_totals(&rows, problem.design, &g);
    Ok(WeightCalibration {
        settings: *settings,
        g,
        weights,
        design: problem.design.to_vec(),
        totals: problem.totals.to_vec(),
        achieved: (0..p).map(|j| achieved[j] * scale[j]).collect(),
        design_estimates: (0..p).map(|j| design_estimates[j] * scale[j]).collect(),
        iterations,
    })
}

/// `Σ_s d_s g_s x_s` in the scaled variables, in service order.
fn weighted_totals(rows: &SparseRows, d: &[f64], g: &[f64]) -> Vec<f64> {
    let mut t = vec![0.0; rows.p];
    for s in 0..d.len() {
        let (idx, val) = rows.row(s);
        let w = d[s] * g[s];
        for (&j, &v) in idx.iter().zip(val) {
            t[j] += w * v;
        }
    }
    t
}

fn accumulate_lower(h: &mut [f64], p: usize, idx: &[usize], val: &[f64], c: f64) {
    for (a, (&i, &vi)) in idx.iter().zip(val).enumerate() {
        let ci = c * vi;
        for (&j, &vj) in idx[..=a].iter().zip(&val[..=a]) {
            h[i * p + j] += ci * vj;
        }
    }
}

fn mirror(h: &mut [f64], p: usize) {
    for i in 0..p {
        for j in 0..i {
            h[j * p + i] = h[i * p + j];
        }
    }
}

/// The margins furthest from their totals (at most 12), largest first.
fn furthest(problem: &Problem<'_>, achieved: &[f64], scale: &[f64]) -> Vec<Unreachable> {
    let mut out: Vec<Unreachable> = (0..problem.totals.len())
        .map(|j| {
            let reached = achieved[j] * scale[j];
            Unreachable {
                margin: problem.labels[j].clone(),
                total: problem.totals[j],
                reached,
                relative: relative(reached, problem.totals[j]),
            }
        })
        .filter(|u| u.relative.abs() > 0.0)
        .collect();
    out.sort_by(|a, b| b.relative.abs().total_cmp(&a.relative.abs()));
    out.truncate(12);
    out
}

/// Relative violation above which a margin is said not to hold in the feasibility check.
const INFEASIBLE: f64 = 1e-7;

/// The linear program run before iterating: the least total relative violation
/// `min Σ (t⁺ + t⁻)` over g within the method's range, with
/// `(Σ d g x_j − T_j) / |T_j| = t⁺_j − t⁻_j`. A positive optimum means no g-weights in
/// that range reach the totals: the margins with a violation are named, with the
/// closest total they can reach.
fn feasibility(
    rows: &SparseRows,
    problem: &Problem<'_>,
    settings: &Settings,
    totals: &[f64],
    scale: &[f64],
) -> Result<(), WeightsError> {
    let n = problem.design.len();
    let p = rows.p;
    let (lo, hi) = settings.range();
    let range = match (lo, hi) {
        (Some(l), Some(h)) => format!("in [{l}, {h}]"),
        (Some(l), None) => format!("≥ {l}"),
        _ => "of any value".into(),
    };
    // Each margin alone: the totals g within the range can reach, Σ d g x_j over g.
    // One pass over the services' nonzero values.
    let (mut low, mut high) = (vec![0.0f64; p], vec![0.0f64; p]);
    for s in 0..n {
        let (idx, val) = rows.row(s);
        for (&j, &x) in idx.iter().zip(val) {
            let dx = problem.design[s] * x;
            let (a, b) = (
                lo.map_or(f64::NEG_INFINITY, |l| l * dx),
                hi.map_or(f64::INFINITY, |h| h * dx),
            );
            let (a, b) = if dx >= 0.0 { (a, b) } else { (b, a) };
            low[j] += a;
            high[j] += b;
        }
    }
    let mut alone: Vec<Unreachable> = Vec::new();
    for j in 0..p {
        let (low, high) = (low[j], high[j]);
        let t = totals[j];
        let slack = 1e-9 * t.abs().max(f64::MIN_POSITIVE);
        let reached = if t < low - slack {
            low
        } else if t > high + slack {
            high
        } else {
            continue;
        };
        let reached = reached * scale[j];
        alone.push(Unreachable {
            margin: problem.labels[j].clone(),
            total: problem.totals[j],
            reached,
            relative: relative(reached, problem.totals[j]),
        });
    }
    if !alone.is_empty() {
        return Err(WeightsError::Infeasible {
            range,
            margins: alone,
        });
    }
    // Together: the linear program.
    let norm: Vec<f64> = (0..p)
        .map(|j| {
            if totals[j] != 0.0 {
                totals[j].abs()
            } else {
                1.0
            }
        })
        .collect();
    // Variables: g (n), t⁺ (p), t⁻ (p). Columns of the equality block by service.
    let (mut r, mut c, mut v) = (Vec::new(), Vec::new(), Vec::new());
    for s in 0..n {
        let (idx, val) = rows.row(s);
        for (&j, &x) in idx.iter().zip(val) {
            r.push(j);
            c.push(s);
            v.push(problem.design[s] * x / norm[j]);
        }
    }
    let mut b: Vec<f64> = (0..p).map(|j| totals[j] / norm[j]).collect();
    for j in 0..p {
        r.push(j);
        c.push(n + j);
        v.push(1.0);
        r.push(j);
        c.push(n + p + j);
        v.push(-1.0);
    }
    let mut row = p;
    // Nonnegative cone rows: −t ≤ 0, then the bounds of g.
    for k in 0..2 * p {
        r.push(row);
        c.push(n + k);
        v.push(-1.0);
        b.push(0.0);
        row += 1;
    }
    for s in 0..n {
        if let Some(l) = lo {
            r.push(row);
            c.push(s);
            v.push(-1.0);
            b.push(-l);
            row += 1;
        }
        if let Some(h) = hi {
            r.push(row);
            c.push(s);
            v.push(1.0);
            b.push(h);
            row += 1;
        }
    }
    let vars = n + 2 * p;
    let a = CscMatrix::new_from_triplets(row, vars, r, c, v);
    let q: Vec<f64> = (0..vars).map(|k| if k < n { 0.0 } else { 1.0 }).collect();
    let cones = [ZeroConeT(p), NonnegativeConeT(row - p)];
    let lp_settings = DefaultSettingsBuilder::default()
        .verbose(false)
        .build()
        .map_err(|e| WeightsError::Numerical(format!("linear program settings: {e}")))?;
    let mut solver = DefaultSolver::new(
        &CscMatrix::zeros((vars, vars)),
        &q,
        &a,
        &b,
        &cones,
        lp_settings,
    )
    .map_err(|e| WeightsError::Numerical(format!("linear program: {e:?}")))?;
    solver.solve();
    match solver.solution.status {
        SolverStatus::Solved | SolverStatus::AlmostSolved => {}
        status => {
            return Err(WeightsError::Numerical(format!(
                "the feasibility program ended {status:?}"
            )));
        }
    }
    let x = &solver.solution.x;
    let mut margins: Vec<Unreachable> = (0..p)
        .filter_map(|j| {
            let gap = x[n + j] - x[n + p + j];
            (gap.abs() > INFEASIBLE).then(|| {
                let reached = (totals[j] - gap * norm[j]) * scale[j];
                Unreachable {
                    margin: problem.labels[j].clone(),
                    total: problem.totals[j],
                    reached,
                    relative: relative(reached, problem.totals[j]),
                }
            })
        })
        .collect();
    if margins.is_empty() {
        return Ok(());
    }
    margins.sort_by(|a, b| b.relative.abs().total_cmp(&a.relative.abs()));
    Err(WeightsError::Infeasible { range, margins })
}

/// Quantiles of the g-weights (type 7, as R's default), for summaries.
pub fn g_quantiles(g: &[f64], probs: &[f64]) -> Vec<f64> {
    let mut v: Vec<f64> = g.to_vec();
    v.sort_by(f64::total_cmp);
    probs
        .iter()
        .map(|&q| {
            if v.is_empty() {
                return f64::NAN;
            }
            let h = (v.len() - 1) as f64 * q;
            let lo = h.floor() as usize;
            let hi = h.ceil() as usize;
            v[lo] + (h - lo as f64) * (v[hi] - v[lo])
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(p: usize) -> Vec<String> {
        (0..p).map(|j| format!("m{j}")).collect()
    }

    /// Post-stratification: one categorical margin, every method gives g = N_h / N̂_h.
    #[test]
    fn one_categorical_margin_is_post_stratification() {
        let x = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let d = [2.0, 3.0, 1.0, 4.0, 5.0];
        let t = [12.0, 6.0];
        for (method, bounds) in [
            (Method::Linear, None),
            (Method::Raking, None),
            (Method::Truncated, Some((0.1, 3.0))),
            (Method::Logit, Some((0.1, 3.0))),
        ] {
            let settings = Settings {
                method,
                bounds,
                ..Settings::default()
            };
            let labels = labels(2);
            let problem = Problem {
                x: &x,
                design: &d,
                totals: &t,
                labels: &labels,
            };
            let c = calibrate_weights(&problem, &settings).unwrap();
            // Category 0: services 0, 1 (d = 2 + 3 = 5 → 12); category 1: 2, 3, 4 (10 → 6).
            for s in 0..2 {
                assert!((c.g[s] - 12.0 / 5.0).abs() < 1e-12, "{method:?} {}", c.g[s]);
            }
            for s in 2..5 {
                assert!((c.g[s] - 0.6).abs() < 1e-12, "{method:?} {}", c.g[s]);
            }
            assert!(c.largest_residual() < 1e-13);
        }
    }

    #[test]
    fn bounds_that_cannot_hold_name_the_margin() {
        let x = [1.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0];
        let d = [2.0, 3.0, 1.0, 4.0, 5.0];
        let t = [12.0, 6.0];
        let settings = Settings {
            method: Method::Truncated,
            bounds: Some((0.5, 2.0)),
            ..Settings::default()
        };
        let labels = labels(2);
        let problem = Problem {
            x: &x,
            design: &d,
            totals: &t,
            labels: &labels,
        };
        let err = calibrate_weights(&problem, &settings).unwrap_err();
        let WeightsError::Infeasible { margins, .. } = err else {
            panic!("{err}")
        };
        assert_eq!(margins.len(), 1);
        assert_eq!(margins[0].margin, "m0");
        // At most 2 × 5 = 10 for a target of 12.
        assert!((margins[0].reached - 10.0).abs() < 1e-6, "{margins:?}");
    }

    #[test]
    fn residualizing_removes_what_the_margins_explain() {
        // Influence equal to a combination of the auxiliary variables leaves nothing.
        let x = [1.0, 2.0, 1.0, 5.0, 1.0, 3.0, 1.0, 7.0];
        let d = [1.0, 2.0, 1.5, 1.0];
        let t = [6.0, 25.0];
        let labels = labels(2);
        let problem = Problem {
            x: &x,
            design: &d,
            totals: &t,
            labels: &labels,
        };
        let c = calibrate_weights(&problem, &Settings::default()).unwrap();
        let mut phi: Vec<f64> = (0..4)
            .map(|s| c.weights[s] * (3.0 * x[2 * s] - 0.5 * x[2 * s + 1]))
            .collect();
        let calibrated = CalibratedWeights {
            design_weight: d.to_vec(),
            g: c.g.clone(),
            auxiliary: x.to_vec(),
            margins: 2,
        };
        residualize(&calibrated, &mut phi, 1);
        assert!(phi.iter().all(|v| v.abs() < 1e-12), "{phi:?}");
    }
}
