//! Design-based uncertainty: the survey drew services by stratum (`services.stratum`,
//! with the stratum's population `services.fpc`), and its statisticians expect the
//! variances R's `survey` package gives for `svydesign(ids = ~1, strata =, weights =,
//! fpc =)`:
//!
//! - **linearisation** ([`stratified_meat`]): the variance of a total `Σ_s z_s` of
//!   per-service influence values is `Σ_h (1 − f_h) n_h/(n_h − 1) Σ_{s∈h} (z_s − z̄_h)
//!   (z_s − z̄_h)'`, `f_h = n_h / N_h` (1 − f_h = 1 without fpc) — `svyrecvar` for a
//!   one-stage stratified design;
//! - **replicates** ([`Replicates`]): the estimate recomputed with replicate weights
//!   `w_s m_rs`, the variance `Σ_r c_r (θ_r − θ̄)(θ_r − θ̄)'` (θ̄ the replicates' mean, or
//!   the full-sample estimate with `mse`, as R's `survey.replicates.mse`):
//!   - the stratified jackknife (JKn): replicate `r` deletes service `r` and rescales the
//!     others of its stratum by `n_h/(n_h − 1)`; `c_r = (1 − f_h)(n_h − 1)/n_h`;
//!   - Preston's rescaled bootstrap (one stage; R's `mrbbootstrap`): in every stratum,
//!     `m_h = ⌊n_h/2⌋` services drawn without replacement, `m_s = 1 − λ_h + λ_h (n_h/m_h)
//!     δ_s` with `λ_h = √(m_h (1 − f_h)/(n_h − m_h))`; `c_r = 1/B`. Replicate `r` draws
//!     from ChaCha8 stream `r` of the seed: the same bits on any number of threads.
//!
//! Replicates never rescan rows: every per-service statistic the estimate needs is a
//! column of `V` (n × L), and the replicates' totals `M V` (R × L) come at once —
//! from the strata's sums for the jackknife (`T − S_h + n_h/(n_h − 1)(S_h − v_r)`), and
//! as one matrix product by blocks of replicates for the bootstrap.

use faer::{Accum, Mat, Par};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use dotation_core::tables::SurveyDesign;

use crate::error::SolverError;

/// The strata of a design as the estimators read them.
#[derive(Clone, Debug)]
pub struct Strata {
    /// Stratum of every service.
    pub stratum: Vec<u32>,
    /// Services of every stratum, in service order.
    pub members: Vec<Vec<usize>>,
    /// `1 − f_h` of every stratum.
    pub keep: Vec<f64>,
    /// Names of the strata.
    pub names: Vec<String>,
}

impl Strata {
    /// The strata of a design; refuses a stratum of one service that is not the whole
    /// of its population (its variance cannot be estimated).
    pub fn new(design: &SurveyDesign) -> Result<Strata, SolverError> {
        let mut members = vec![Vec::new(); design.len()];
        for (s, &h) in design.stratum.iter().enumerate() {
            members[h as usize].push(s);
        }
        let keep: Vec<f64> = design.fpc_factors().iter().map(|f| f.max(0.0)).collect();
        for (h, m) in members.iter().enumerate() {
            if m.len() == 1 && keep[h] > 0.0 {
                return Err(SolverError::LonelyStratum {
                    stratum: design.strata[h].clone(),
                });
            }
        }
        Ok(Strata {
            stratum: design.stratum.clone(),
            members,
            keep,
            names: design.strata.clone(),
        })
    }

    /// One stratum, no fpc: the services taken as drawn with replacement.
    pub fn unstratified(n: usize) -> Strata {
        Strata {
            stratum: vec![0; n],
            members: vec![(0..n).collect()],
            keep: vec![1.0],
            names: vec!["all".into()],
        }
    }

    /// Number of services.
    pub fn services(&self) -> usize {
        self.stratum.len()
    }
}

/// `Σ_h (1 − f_h) n_h/(n_h − 1) Σ_{s∈h} (z_s − z̄_h)(z_s − z̄_h)'`: the design-based
/// variance of the total of the rows of `z` (n × d, row-major), d × d row-major. Strata of
/// one service add nothing ([`Strata::new`] refused those that should).
pub fn stratified_meat(z: &[f64], d: usize, strata: &Strata) -> Vec<f64> {
    let mut meat = vec![0.0; d * d];
    let mut mean = vec![0.0; d];
    let mut c = vec![0.0; d];
    for (h, members) in strata.members.iter().enumerate() {
        let nh = members.len();
        if nh < 2 || strata.keep[h] == 0.0 {
            continue;
        }
        mean.fill(0.0);
        for &s in members {
            for j in 0..d {
                mean[j] += z[s * d + j];
            }
        }
        mean.iter_mut().for_each(|m| *m /= nh as f64);
        let scale = strata.keep[h] * nh as f64 / (nh as f64 - 1.0);
        for &s in members {
            for j in 0..d {
                c[j] = z[s * d + j] - mean[j];
            }
            for a in 0..d {
                for b in 0..d {
                    meat[a * d + b] += scale * c[a] * c[b];
                }
            }
        }
    }
    meat
}

/// Which replicates.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ReplicateMethod {
    /// The stratified jackknife, one replicate per service.
    Jackknife,
    /// Preston's rescaled bootstrap.
    Bootstrap {
        /// Replicates.
        replicates: usize,
        /// Seed (replicate `r` uses ChaCha8 stream `r`).
        seed: u64,
    },
}

/// Replicate weights of a stratified design: multipliers `m_rs` of the survey and
/// regression weights, and the scale of each replicate's squared deviation.
#[derive(Clone, Debug)]
pub struct Replicates<'a> {
    strata: &'a Strata,
    method: ReplicateMethod,
}

/// Replicates per block of the bootstrap's matrix product.
const BLOCK: usize = 32;

impl<'a> Replicates<'a> {
    /// The replicates of `method` over `strata`.
    pub fn new(strata: &'a Strata, method: ReplicateMethod) -> Replicates<'a> {
        Replicates { strata, method }
    }

    /// Number of replicates.
    pub fn len(&self) -> usize {
        match self.method {
            ReplicateMethod::Jackknife => self.strata.services(),
            ReplicateMethod::Bootstrap { replicates, .. } => replicates,
        }
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether intervals are the replicates' percentiles (the bootstrap) rather than
    /// normal.
    pub fn percentile_intervals(&self) -> bool {
        matches!(self.method, ReplicateMethod::Bootstrap { .. })
    }

    /// `c_r`, the weight of replicate `r`'s squared deviation.
    pub fn scale(&self, r: usize) -> f64 {
        match self.method {
            ReplicateMethod::Jackknife => {
                let h = self.strata.stratum[r] as usize;
                let nh = self.strata.members[h].len() as f64;
                if nh < 2.0 {
                    0.0
                } else {
                    self.strata.keep[h] * (nh - 1.0) / nh
                }
            }
            ReplicateMethod::Bootstrap { replicates, .. } => 1.0 / replicates as f64,
        }
    }

    /// The multipliers of replicate `r`, one per service, into `out`.
    pub fn multipliers(&self, r: usize, out: &mut [f64]) {
        match self.method {
            ReplicateMethod::Jackknife => {
                out.fill(1.0);
                let h = self.strata.stratum[r] as usize;
                let members = &self.strata.members[h];
                let nh = members.len();
                if nh < 2 {
                    return;
                }
                for &s in members {
                    out[s] = nh as f64 / (nh as f64 - 1.0);
                }
                out[r] = 0.0;
            }
            ReplicateMethod::Bootstrap { seed, .. } => {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                rng.set_stream(r as u64);
                let mut order: Vec<usize> = Vec::new();
                for (h, members) in self.strata.members.iter().enumerate() {
                    let nh = members.len();
                    let mh = nh / 2;
                    if mh == 0 {
                        for &s in members {
                            out[s] = 1.0;
                        }
                        continue;
                    }
                    let lambda = (mh as f64 * self.strata.keep[h] / (nh - mh) as f64).sqrt();
                    let (out_w, in_w) =
                        (1.0 - lambda, 1.0 - lambda + lambda * nh as f64 / mh as f64);
                    // The first m_h of a partial Fisher–Yates shuffle are drawn.
                    order.clear();
                    order.extend_from_slice(members);
                    for i in 0..mh {
                        let j = rng.random_range(i..nh);
                        order.swap(i, j);
                    }
                    for (i, &s) in order.iter().enumerate() {
                        out[s] = if i < mh { in_w } else { out_w };
                    }
                }
            }
        }
    }

    /// `Σ_s m_rs v_s` for every replicate: `v` is n × `width` row-major, the result
    /// R × `width` row-major. Bit-identical whatever the number of threads.
    pub fn totals(&self, v: &[f64], width: usize) -> Vec<f64> {
        let n = self.strata.services();
        assert_eq!(v.len(), n * width, "v must be n × width");
        match self.method {
            ReplicateMethod::Jackknife => {
                let mut by_stratum = vec![0.0; self.strata.members.len() * width];
                for (h, members) in self.strata.members.iter().enumerate() {
                    let sum = &mut by_stratum[h * width..(h + 1) * width];
                    for &s in members {
                        for (a, b) in sum.iter_mut().zip(&v[s * width..(s + 1) * width]) {
                            *a += b;
                        }
                    }
                }
                let mut total = vec![0.0; width];
                for h in 0..self.strata.members.len() {
                    for (a, b) in total
                        .iter_mut()
                        .zip(&by_stratum[h * width..(h + 1) * width])
                    {
                        *a += b;
                    }
                }
                let mut out = vec![0.0; n * width];
                out.par_chunks_mut(width).enumerate().for_each(|(r, row)| {
                    let h = self.strata.stratum[r] as usize;
                    let nh = self.strata.members[h].len();
                    let sh = &by_stratum[h * width..(h + 1) * width];
                    let vr = &v[r * width..(r + 1) * width];
                    for j in 0..width {
                        row[j] = if nh < 2 {
                            total[j]
                        } else {
                            let c = nh as f64 / (nh as f64 - 1.0);
                            total[j] - sh[j] + c * (sh[j] - vr[j])
                        };
                    }
                });
                out
            }
            ReplicateMethod::Bootstrap { replicates, .. } => {
                let vm = Mat::from_fn(n, width, |i, j| v[i * width + j]);
                let mut out = vec![0.0; replicates * width];
                out.par_chunks_mut(BLOCK * width)
                    .enumerate()
                    .for_each(|(block, rows)| {
                        let r0 = block * BLOCK;
                        let count = rows.len() / width;
                        let mut m = Mat::<f64>::zeros(count, n);
                        let mut buf = vec![0.0; n];
                        for i in 0..count {
                            self.multipliers(r0 + i, &mut buf);
                            for (s, &x) in buf.iter().enumerate() {
                                m[(i, s)] = x;
                            }
                        }
                        let mut prod = Mat::<f64>::zeros(count, width);
                        faer::linalg::matmul::matmul(
                            prod.as_mut(),
                            Accum::Replace,
                            m.as_ref(),
                            vm.as_ref(),
                            1.0,
                            Par::Seq,
                        );
                        for i in 0..count {
                            for j in 0..width {
                                rows[i * width + j] = prod[(i, j)];
                            }
                        }
                    });
                out
            }
        }
    }

    /// The replicate covariance `Σ_r c_r (θ_r − θ̄)(θ_r − θ̄)'` of estimates of `p`
    /// values (`None`: a replicate whose fit failed, left out, the bootstrap's scale then
    /// `1/B` over those that succeeded), p × p row-major. θ̄ is the replicates' mean, or
    /// `full` when `mse`.
    pub fn covariance(&self, estimates: &[Option<Vec<f64>>], full: &[f64], mse: bool) -> Vec<f64> {
        let p = full.len();
        let ok: Vec<(usize, &Vec<f64>)> = estimates
            .iter()
            .enumerate()
            .filter_map(|(r, e)| e.as_ref().map(|e| (r, e)))
            .collect();
        let mut cov = vec![0.0; p * p];
        if ok.is_empty() {
            return vec![f64::NAN; p * p];
        }
        let centre: Vec<f64> = if mse {
            full.to_vec()
        } else {
            (0..p)
                .map(|j| ok.iter().map(|(_, e)| e[j]).sum::<f64>() / ok.len() as f64)
                .collect()
        };
        let rescale = match self.method {
            ReplicateMethod::Bootstrap { .. } => self.len() as f64 / ok.len() as f64,
            ReplicateMethod::Jackknife => 1.0,
        };
        for &(r, e) in &ok {
            let c = self.scale(r) * rescale;
            for a in 0..p {
                for b in 0..p {
                    cov[a * p + b] += c * (e[a] - centre[a]) * (e[b] - centre[b]);
                }
            }
        }
        cov
    }
}

/// The `q` quantile of `values` (sorted in place), interpolated linearly between order
/// statistics (numpy's default, R's type 7).
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n - 1) as f64 * q;
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    values[lo] + (h - lo as f64) * (values[hi] - values[lo])
}

/// The square roots of a covariance's diagonal (`None` where negative or not finite).
pub fn std_errors(cov: &[f64], p: usize) -> Vec<Option<f64>> {
    (0..p)
        .map(|j| {
            let v = cov[j * p + j];
            (v >= 0.0 && v.is_finite()).then(|| v.sqrt())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn design(strata: &[u32], population: Option<Vec<f64>>) -> SurveyDesign {
        let h = strata.iter().max().map_or(0, |&m| m as usize + 1);
        SurveyDesign {
            stratum: strata.to_vec(),
            strata: (0..h).map(|i| format!("h{i}")).collect(),
            population,
            calibration: None,
        }
    }

    #[test]
    fn the_jackknife_totals_are_those_of_its_multipliers() {
        let d = design(&[0, 0, 0, 1, 1, 0, 1], Some(vec![10.0, 5.0]));
        let strata = Strata::new(&d).expect("strata");
        let rep = Replicates::new(&strata, ReplicateMethod::Jackknife);
        let v: Vec<f64> = (0..14).map(|i| (i as f64 * 0.7).sin()).collect();
        let fast = rep.totals(&v, 2);
        let mut m = vec![0.0; 7];
        for r in 0..rep.len() {
            rep.multipliers(r, &mut m);
            for j in 0..2 {
                let direct: f64 = (0..7).map(|s| m[s] * v[s * 2 + j]).sum();
                assert!((fast[r * 2 + j] - direct).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn bootstrap_multipliers_keep_each_stratum_total_on_average_and_are_seeded() {
        let d = design(&[0, 0, 0, 0, 1, 1, 1, 1, 1], Some(vec![8.0, 40.0]));
        let strata = Strata::new(&d).expect("strata");
        let rep = Replicates::new(
            &strata,
            ReplicateMethod::Bootstrap {
                replicates: 4000,
                seed: 7,
            },
        );
        let mut m = vec![0.0; 9];
        let mut mean = [0.0; 9];
        for r in 0..rep.len() {
            rep.multipliers(r, &mut m);
            // Σ_{s∈h} m_s = n_h exactly: (n_h − m_h)(1 − λ) + m_h(1 − λ + λ n_h/m_h).
            assert!((m[..4].iter().sum::<f64>() - 4.0).abs() < 1e-12);
            assert!((m[4..].iter().sum::<f64>() - 5.0).abs() < 1e-12);
            for s in 0..9 {
                mean[s] += m[s] / rep.len() as f64;
            }
        }
        assert!(mean.iter().all(|x| (x - 1.0).abs() < 0.05), "{mean:?}");
        let mut again = vec![0.0; 9];
        rep.multipliers(17, &mut m);
        rep.multipliers(17, &mut again);
        assert_eq!(m, again);
    }

    #[test]
    fn a_stratum_of_one_service_is_refused_unless_it_is_the_whole_population() {
        let lonely = design(&[0, 0, 1], None);
        assert!(matches!(
            Strata::new(&lonely),
            Err(SolverError::LonelyStratum { stratum }) if stratum == "h1"
        ));
        let certain = design(&[0, 0, 1], Some(vec![9.0, 1.0]));
        assert!(Strata::new(&certain).is_ok());
    }

    #[test]
    fn the_stratified_meat_of_a_total_is_the_textbook_variance() {
        // Var(Σ w y) for a stratified SRS: Σ_h N_h² (1 − f_h) s_h² / n_h, with z = w y.
        let y = [3.0, 5.0, 10.0, 1.0, 2.0];
        let d = design(&[0, 0, 0, 1, 1], Some(vec![30.0, 4.0]));
        let w = [10.0, 10.0, 10.0, 2.0, 2.0];
        let z: Vec<f64> = y.iter().zip(&w).map(|(a, b)| a * b).collect();
        let meat = stratified_meat(&z, 1, &Strata::new(&d).expect("strata"));
        let s0 = {
            let m = 6.0;
            ((3.0f64 - m).powi(2) + (5.0f64 - m).powi(2) + (10.0f64 - m).powi(2)) / 2.0
        };
        let s1 = ((1.0f64 - 1.5).powi(2) + (2.0f64 - 1.5).powi(2)) / 1.0;
        let expected = 900.0 * (1.0 - 0.1) * s0 / 3.0 + 16.0 * 0.5 * s1 / 2.0;
        assert!((meat[0] - expected).abs() < 1e-9 * expected);
    }
}
