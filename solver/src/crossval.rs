//! Cross-validation by service: which formula predicts the cost of services it was not
//! fitted on. The services are split into `K` folds, stratified (each stratum's services
//! shuffled — ChaCha8, stream `h` of the seed — then dealt in turn, continuing where the
//! previous stratum stopped, so every fold holds its share of every stratum) and seeded.
//! Each fold is predicted by the formula calibrated on the others, with neutrality
//! re-imposed on those training services (their own weighted baseline); the out-of-fold
//! funding of every service then gives the out-of-sample RMSE, MAPE and share within
//! ±10 % of cost, weighted by the survey weights ([`crate::calibrate::metrics`]).
//! Guarantee constraints are not imposed in the folds (they bind services, and a fold
//! lacks some): the out-of-sample error measures the formula and its loss.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::calibrate::{Geography, Options, calibrate, metrics};
use crate::error::CalibrationError;
use crate::formula::{Design, dot};
use crate::qp::Inequalities;
use crate::spec::Method;

/// Out-of-sample fit of a formula.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    /// Folds.
    pub folds: usize,
    /// Seed of the folds.
    pub seed: u64,
    /// `√(Σw(C − F̂)² / Σw)`, €, F̂ the out-of-fold funding.
    pub rmse: f64,
    /// `Σw|C − F̂|/C / Σw` over services with a positive cost.
    pub mape: f64,
    /// Weighted share of services whose out-of-fold funding is within ±10 % of cost.
    pub within_10pct: f64,
    /// Weighted out-of-sample R² of cost on the out-of-fold funding.
    pub r2: f64,
}

/// The fold of every service: `folds` stratified folds of `stratum` (one stratum index per
/// service), seeded.
pub fn stratified_folds(stratum: &[u32], folds: usize, seed: u64) -> Vec<u32> {
    let strata = stratum.iter().max().map_or(0, |&h| h as usize + 1);
    let mut members = vec![Vec::new(); strata];
    for (s, &h) in stratum.iter().enumerate() {
        members[h as usize].push(s);
    }
    let mut fold = vec![0u32; stratum.len()];
    let mut next = 0usize;
    for (h, m) in members.iter_mut().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        rng.set_stream(h as u64);
        for i in (1..m.len()).rev() {
            let j = rng.random_range(0..=i);
            m.swap(i, j);
        }
        for &s in m.iter() {
            fold[s] = (next % folds) as u32;
            next += 1;
        }
    }
    fold
}

/// The rows `rows` of a design.
fn subset(d: &Design, rows: &[usize]) -> Design {
    let pick = |v: &[f64]| rows.iter().map(|&s| v[s]).collect::<Vec<_>>();
    Design {
        names: d.names.clone(),
        units: d.units.clone(),
        n: rows.len(),
        k: d.k,
        x: rows.iter().flat_map(|&s| d.row(s).to_vec()).collect(),
        offset: pick(&d.offset),
        cost: pick(&d.cost),
        baseline: pick(&d.baseline),
        carried: pick(&d.carried),
        target: pick(&d.target),
        hours: pick(&d.hours),
        groups: d.groups.clone(),
    }
}

/// Cross-validates the calibration of `design` with options `o` (its guarantee
/// constraints left out) over `folds` stratified folds. Folds run in parallel; each is
/// deterministic, so the result has the same bits on any number of threads.
pub fn cross_validate(
    design: &Design,
    geo: &Geography<'_>,
    stratum: &[u32],
    o: &Options,
    folds: usize,
    seed: u64,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<CrossValidation, CalibrationError> {
    let n = design.n;
    let fold = stratified_folds(stratum, folds, seed);
    let mut fold_options = o.clone();
    fold_options.constraints = Inequalities::default();
    fold_options.with_errors = false;
    let predictions: Vec<Result<Vec<(usize, f64)>, CalibrationError>> = (0..folds)
        .into_par_iter()
        .map(|f| {
            if cancelled() {
                return Err(CalibrationError::Cancelled);
            }
            let train: Vec<usize> = (0..n).filter(|&s| fold[s] != f as u32).collect();
            let test: Vec<usize> = (0..n).filter(|&s| fold[s] == f as u32).collect();
            let d = subset(design, &train);
            let pick = |v: &[f64]| train.iter().map(|&s| v[s]).collect::<Vec<_>>();
            let (w, rw) = (pick(geo.weights), pick(geo.regression_weights));
            let dep: Vec<u32> = train.iter().map(|&s| geo.departement[s]).collect();
            let g = Geography {
                weights: &w,
                regression_weights: &rw,
                departement: &dep,
                codes: geo.codes,
                design: None,
            };
            let c = calibrate(&d, &g, &fold_options, cancelled)?;
            // The national point value of the training services, for a held-out service
            // whose département has none.
            let pooled = pooled_point_value(&c, &d, &g);
            Ok(test
                .iter()
                .map(|&s| {
                    let rel = dot(design.row(s), &c.estimate[..design.k]);
                    let f = match o.method {
                        Method::Kkt => design.offset[s] + rel,
                        Method::PointValues => {
                            let pv = c.point_values[geo.departement[s] as usize].unwrap_or(pooled);
                            crate::calibrate::clamp_funding(
                                design.offset[s] + pv * rel,
                                design.hours[s],
                                o,
                            )
                        }
                    };
                    (s, f)
                })
                .collect())
        })
        .collect();
    let mut funding = vec![0.0; n];
    for p in predictions {
        for (s, f) in p? {
            funding[s] = f;
        }
    }
    let m = metrics(
        &design.cost,
        &funding,
        &design.baseline,
        &design.carried,
        geo.weights,
    );
    Ok(CrossValidation {
        folds,
        seed,
        rmse: m.rmse,
        mape: m.mape,
        within_10pct: m.within_10pct,
        r2: m.r2,
    })
}

/// `Σ w F / Σ w x θ` over the training services: the one point value that would restore
/// their pooled budget (1 without point values).
fn pooled_point_value(c: &crate::calibrate::Calibration, d: &Design, g: &Geography<'_>) -> f64 {
    let (mut num, mut den) = (0.0, 0.0);
    for s in 0..d.n {
        num += g.weights[s] * (c.funding[s] - d.offset[s]);
        den += g.weights[s] * dot(d.row(s), &c.estimate[..d.k]);
    }
    if den != 0.0 { num / den } else { 1.0 }
}

#[cfg(test)]
mod tests {
    use super::stratified_folds;

    #[test]
    fn folds_split_every_stratum_evenly_and_follow_the_seed() {
        let stratum: Vec<u32> = (0..103).map(|i| (i % 7) as u32).collect();
        let f = stratified_folds(&stratum, 10, 5);
        for h in 0..7u32 {
            let mut count = [0usize; 10];
            for (s, &fold) in f.iter().enumerate() {
                if stratum[s] == h {
                    count[fold as usize] += 1;
                }
            }
            let (lo, hi) = (count.iter().min().unwrap(), count.iter().max().unwrap());
            assert!(hi - lo <= 1, "stratum {h}: {count:?}");
        }
        let mut total = [0usize; 10];
        f.iter().for_each(|&x| total[x as usize] += 1);
        assert!(total.iter().all(|&c| c == 10 || c == 11), "{total:?}");
        assert_eq!(f, stratified_folds(&stratum, 10, 5));
        assert_ne!(f, stratified_folds(&stratum, 10, 6));
    }
}
