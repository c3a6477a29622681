//! Weighted least squares under exact linear equality constraints — the core of every
//! calibration: `min Σ w_i (y_i − x_i θ)²` subject to `A θ = b` (budget neutrality,
//! national or one row per département), solved through the KKT system, not a penalty.
//!
//! The data enter once, as sufficient statistics ([`Moments`]: `X'WX`, `X'Wy`, …), so a
//! refit under other constraints never rescans the rows. Uncertainty comes from sandwich
//! covariances ([`covariance`]) whose bread is the top-left block `G` of the inverse KKT
//! matrix — `(X'WX)⁻¹` without constraints, `Z (Z'X'WXZ)⁻¹ Z'` (Z a basis of `ker A`)
//! with them — and whose meat is heteroskedasticity-robust (HC0, HC1) or clustered by
//! service (CR0, CR1), with statsmodels' conventions (`tests/reference/calibration`).

use faer::prelude::*;

use crate::error::SolverError;

/// Sufficient statistics of a weighted regression of `y` on `k` columns.
#[derive(Clone, Debug, PartialEq)]
pub struct Moments {
    /// Number of parameters.
    pub k: usize,
    /// Number of rows.
    pub n: usize,
    /// `X'WX`, k × k row-major.
    pub xtwx: Vec<f64>,
    /// `X'Wy`.
    pub xtwy: Vec<f64>,
    /// `y'Wy`.
    pub ytwy: f64,
    /// `Σ w`.
    pub sw: f64,
    /// `Σ w y`.
    pub swy: f64,
}

impl Moments {
    /// Accumulates the moments of rows `x` (n × k row-major), `y` and weights `w`, in row
    /// order.
    pub fn from_rows(x: &[f64], y: &[f64], w: &[f64], k: usize) -> Moments {
        let n = y.len();
        assert_eq!(x.len(), n * k, "x must be n × k");
        assert_eq!(w.len(), n, "one weight per row");
        let mut m = Moments {
            k,
            n,
            xtwx: vec![0.0; k * k],
            xtwy: vec![0.0; k],
            ytwy: 0.0,
            sw: 0.0,
            swy: 0.0,
        };
        for i in 0..n {
            let xi = &x[i * k..(i + 1) * k];
            let wi = w[i];
            for a in 0..k {
                let wxa = wi * xi[a];
                m.xtwy[a] += wxa * y[i];
                for b in a..k {
                    m.xtwx[a * k + b] += wxa * xi[b];
                }
            }
            m.ytwy += wi * y[i] * y[i];
            m.sw += wi;
            m.swy += wi * y[i];
        }
        for a in 0..k {
            for b in 0..a {
                m.xtwx[a * k + b] = m.xtwx[b * k + a];
            }
        }
        m
    }
}

/// Linear equality constraints `A θ = b`, `A` m × k row-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Equalities {
    /// Constraint rows, m × k row-major.
    pub a: Vec<f64>,
    /// Right-hand sides.
    pub b: Vec<f64>,
}

impl Equalities {
    /// Number of constraints.
    pub fn len(&self) -> usize {
        self.b.len()
    }
    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.b.is_empty()
    }
}

/// The solution of a constrained weighted least-squares problem.
#[derive(Clone, Debug, PartialEq)]
pub struct Estimate {
    /// Parameters.
    pub theta: Vec<f64>,
    /// Multipliers of the constraints, for the Lagrangian `Σ w (y − xθ)² + λ'(Aθ − b)`:
    /// `λ = −∂(optimal objective)/∂b`.
    pub lambda: Vec<f64>,
    /// `G`, the top-left k × k block of the inverse of `[[X'WX, A'], [A, 0]]`: the bread
    /// of sandwich covariances.
    pub bread: Vec<f64>,
    /// `A θ − b`, as achieved.
    pub constraint_residual: Vec<f64>,
}

/// Solves `min Σ w (y − xθ)²` subject to `A θ = b` from the moments, through the KKT
/// system `[[2 X'WX, A'], [A, 0]] [θ; λ] = [2 X'Wy; b]`.
///
/// Fails with [`SolverError::NotIdentified`] when the KKT matrix is singular: some
/// parameter is not determined by the data and the constraints.
pub fn solve(m: &Moments, eq: &Equalities) -> Result<Estimate, SolverError> {
    let k = m.k;
    let r = eq.len();
    assert_eq!(eq.a.len(), r * k, "A must be m × k");
    let dim = k + r;
    let (kkt, rhs) = kkt_system(m, eq);
    check_identified(&kkt, k)?;
    let lu = kkt.full_piv_lu();
    let sol = lu.solve(&rhs);
    let theta: Vec<f64> = (0..k).map(|i| sol[(i, 0)]).collect();
    let lambda: Vec<f64> = (0..r).map(|i| sol[(k + i, 0)]).collect();
    // G = top-left block of [[H, A'], [A, 0]]⁻¹ = 2 × that of the scaled system's inverse.
    let unit = Mat::from_fn(dim, k, |i, j| if i == j { 1.0 } else { 0.0 });
    let inv = lu.solve(&unit);
    let bread: Vec<f64> = (0..k * k).map(|p| 2.0 * inv[(p / k, p % k)]).collect();
    let constraint_residual = (0..r)
        .map(|c| (0..k).map(|j| eq.a[c * k + j] * theta[j]).sum::<f64>() - eq.b[c])
        .collect();
    Ok(Estimate {
        theta,
        lambda,
        bread,
        constraint_residual,
    })
}

/// The KKT system `[[2 X'WX, A'], [A, 0]]` and its right-hand side `[2 X'Wy; b]`.
fn kkt_system(m: &Moments, eq: &Equalities) -> (Mat<f64>, Mat<f64>) {
    let k = m.k;
    let dim = k + eq.len();
    let kkt = Mat::from_fn(dim, dim, |i, j| match (i < k, j < k) {
        (true, true) => 2.0 * m.xtwx[i * k + j],
        (true, false) => eq.a[(j - k) * k + i],
        (false, true) => eq.a[(i - k) * k + j],
        (false, false) => 0.0,
    });
    let rhs = Mat::from_fn(
        dim,
        1,
        |i, _| {
            if i < k { 2.0 * m.xtwy[i] } else { eq.b[i - k] }
        },
    );
    (kkt, rhs)
}

/// θ and the multipliers of `min Σ w (y − xθ)²` subject to `A θ = b`: the KKT system of
/// [`solve`] alone, without the identification check or the bread (the working-set
/// method's inner steps; its final point goes through [`solve`]). `None` when the system is
/// singular or the solution not finite.
pub fn kkt_point(m: &Moments, eq: &Equalities) -> Option<(Vec<f64>, Vec<f64>)> {
    let k = m.k;
    let r = eq.len();
    let dim = k + r;
    let (kkt, rhs) = kkt_system(m, eq);
    let sol = kkt.full_piv_lu().solve(&rhs);
    let v: Vec<f64> = (0..dim).map(|i| sol[(i, 0)]).collect();
    if !v.iter().all(|x| x.is_finite()) {
        return None;
    }
    // A singular system gives a finite but wrong point: check it solves the system.
    let scale = (0..dim)
        .fold(0.0f64, |a, i| a.max(rhs[(i, 0)].abs()))
        .max(1.0);
    let residual = (0..dim).fold(0.0f64, |a, i| {
        let row: f64 = (0..dim).map(|j| kkt[(i, j)] * v[j]).sum();
        a.max((row - rhs[(i, 0)]).abs())
    });
    if residual > 1e-8 * scale {
        return None;
    }
    let lambda = v[k..].to_vec();
    let mut theta = v;
    theta.truncate(k);
    Some((theta, lambda))
}

/// Refuses a KKT matrix whose smallest singular value is negligible against its largest
/// (after scaling rows and columns to unit norm, so units do not matter).
fn check_identified(kkt: &Mat<f64>, k: usize) -> Result<(), SolverError> {
    let dim = kkt.nrows();
    let norms: Vec<f64> = (0..dim)
        .map(|i| {
            (0..dim)
                .map(|j| kkt[(i, j)] * kkt[(i, j)])
                .sum::<f64>()
                .sqrt()
        })
        .collect();
    if let Some(i) = norms.iter().position(|&x| x == 0.0) {
        return Err(SolverError::NotIdentified {
            parameters: if i < k { vec![i] } else { Vec::new() },
            condition: f64::INFINITY,
        });
    }
    let scaled = Mat::from_fn(dim, dim, |i, j| {
        kkt[(i, j)] / (norms[i].sqrt() * norms[j].sqrt())
    });
    let sv = scaled
        .singular_values()
        .map_err(|_| SolverError::Numerical("singular value decomposition did not converge"))?;
    let condition = sv[0] / sv[dim - 1];
    if condition.is_nan() || condition >= 1e12 {
        // The parameters most involved in the null direction.
        let svd = scaled
            .svd()
            .map_err(|_| SolverError::Numerical("singular value decomposition did not converge"))?;
        let v = svd.V();
        let last = dim - 1;
        let mut parameters: Vec<usize> = (0..k).filter(|&j| v[(j, last)].abs() > 1e-6).collect();
        parameters.sort_unstable();
        return Err(SolverError::NotIdentified {
            parameters,
            condition,
        });
    }
    Ok(())
}

/// How the meat of a sandwich covariance is formed.
#[derive(Clone, Copy, Debug)]
pub enum CovarianceKind<'a> {
    /// Heteroskedasticity-robust, no small-sample factor.
    Hc0,
    /// HC0 × n / (n − p), p = k − m free parameters.
    Hc1,
    /// Clustered (cluster id per row), no small-sample factor.
    Cr0(&'a [u32]),
    /// CR0 × G/(G − 1) × (n − 1)/(n − p), statsmodels' default.
    Cr1(&'a [u32]),
}

/// Sandwich covariance `G M G` of an estimate, k × k row-major, from the rows `x`
/// (n × k), weights `w` and residuals `resid = y − xθ`; `constraints` = m.
pub fn covariance(
    x: &[f64],
    w: &[f64],
    resid: &[f64],
    bread: &[f64],
    k: usize,
    constraints: usize,
    kind: CovarianceKind<'_>,
) -> Vec<f64> {
    let n = resid.len();
    let p = (k - constraints) as f64;
    let score = |i: usize, out: &mut [f64]| {
        for j in 0..k {
            out[j] += w[i] * resid[i] * x[i * k + j];
        }
    };
    let mut meat = vec![0.0; k * k];
    let mut add_outer = |s: &[f64]| {
        for a in 0..k {
            for b in 0..k {
                meat[a * k + b] += s[a] * s[b];
            }
        }
    };
    let factor = match kind {
        CovarianceKind::Hc0 | CovarianceKind::Hc1 => {
            let mut s = vec![0.0; k];
            for i in 0..n {
                s.fill(0.0);
                score(i, &mut s);
                add_outer(&s);
            }
            if matches!(kind, CovarianceKind::Hc1) {
                n as f64 / (n as f64 - p)
            } else {
                1.0
            }
        }
        CovarianceKind::Cr0(cluster) | CovarianceKind::Cr1(cluster) => {
            assert_eq!(cluster.len(), n, "one cluster id per row");
            let mut order: Vec<usize> = (0..n).collect();
            order.sort_by_key(|&i| (cluster[i], i));
            let mut s = vec![0.0; k];
            let mut groups = 0usize;
            let mut i = 0;
            while i < n {
                let g = cluster[order[i]];
                s.fill(0.0);
                while i < n && cluster[order[i]] == g {
                    score(order[i], &mut s);
                    i += 1;
                }
                add_outer(&s);
                groups += 1;
            }
            if matches!(kind, CovarianceKind::Cr1(_)) {
                let g = groups as f64;
                g / (g - 1.0) * (n as f64 - 1.0) / (n as f64 - p)
            } else {
                1.0
            }
        }
    };
    sandwich(bread, &meat, k, factor)
}

/// `factor × G M G`.
fn sandwich(g: &[f64], meat: &[f64], k: usize, factor: f64) -> Vec<f64> {
    let mut gm = vec![0.0; k * k];
    for a in 0..k {
        for c in 0..k {
            gm[a * k + c] = (0..k).map(|b| g[a * k + b] * meat[b * k + c]).sum();
        }
    }
    let mut out = vec![0.0; k * k];
    for a in 0..k {
        for c in 0..k {
            out[a * k + c] = factor * (0..k).map(|b| gm[a * k + b] * g[b * k + c]).sum::<f64>();
        }
    }
    out
}

/// Residuals `y − xθ` of rows `x` (n × k).
pub fn residuals(x: &[f64], y: &[f64], theta: &[f64]) -> Vec<f64> {
    let k = theta.len();
    y.iter()
        .enumerate()
        .map(|(i, yi)| yi - (0..k).map(|j| x[i * k + j] * theta[j]).sum::<f64>())
        .collect()
}
