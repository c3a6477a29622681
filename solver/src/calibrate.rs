//! Calibration of a design: the parameters that best match the services' costs, under
//! budget neutrality, with their uncertainty and the quality of the fit.
//!
//! Neutrality is either exact linear equalities in the fit (`Σ_{s∈scope} w_s F_s(θ) =
//! Σ_{s∈scope} w_s F0_s`, one per scope, through the KKT system — [`Method::Kkt`]) or, as
//! for hospital tariffs, an unconstrained fit of relative weights followed by one point
//! value per scope found by Brent's method ([`Method::PointValues`], the only one that
//! handles floors and caps). The loss is least squares, Huber's, or absolute deviations.
//! Standard errors are sandwich estimates (HC or clustered, whose bread is the KKT
//! inverse), or a bootstrap by service for the median.
//!
//! Everything is sequential or reduced in a fixed order: same inputs, same bits.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use statrs::distribution::{ContinuousCDF, Normal};

use crate::error::{CalibrationError, SolverError};
use crate::formula::{Design, dot};
use crate::neutrality::{Compensated, NeutralityScope, compensated_sum, residuals};
use crate::point_value::point_value;
use crate::qp::{Inequalities, solve_constrained, with_rows};
use crate::robust::{HuberConfig, huber, median_fit};
use crate::spec::{Cluster, Loss, Method, Scope, StdErrors};
use crate::survey::{ReplicateMethod, Replicates, Strata, quantile, stratified_meat};
use crate::wls::{CovarianceKind, Equalities, Moments, covariance, solve};
use dotation_core::tables::SurveyDesign;
use faer::linalg::solvers::Solve;

/// Options of a calibration (from the spec).
#[derive(Clone, Debug)]
pub struct Options {
    /// Neutrality scope.
    pub scope: Scope,
    /// KKT equalities or point values.
    pub method: Method,
    /// Loss.
    pub loss: Loss,
    /// Huber's constant.
    pub huber_t: f64,
    /// Standard errors.
    pub std_errors: StdErrors,
    /// Clusters.
    pub cluster: Cluster,
    /// Interval level.
    pub confidence: f64,
    /// Bootstrap replicates (median loss).
    pub bootstrap: usize,
    /// Bootstrap seed.
    pub seed: u64,
    /// Replicate variances centred on the full-sample estimate (R's
    /// `survey.replicates.mse`).
    pub mse: bool,
    /// Whether to compute standard errors at all (cross-validation folds need only the
    /// estimates).
    pub with_errors: bool,
    /// Funding floor, € per funded hour (point values only).
    pub floor_per_hour: Option<f64>,
    /// Funding cap, € per funded hour (point values only).
    pub cap_per_hour: Option<f64>,
    /// Guarantees as inequalities of the parameters (KKT method only), from
    /// [`crate::guarantees::constraints`].
    pub constraints: Inequalities,
}

/// The services' place in the country.
#[derive(Clone, Copy, Debug)]
pub struct Geography<'a> {
    /// Survey weights of the services (neutrality, totals, metrics).
    pub weights: &'a [f64],
    /// Regression weights (survey weights, possibly over a variance model).
    pub regression_weights: &'a [f64],
    /// Département index of every service.
    pub departement: &'a [u32],
    /// Département codes, by index.
    pub codes: &'a [String],
    /// The survey design the services were drawn by (`None`: one stratum, no fpc), for
    /// design-based standard errors.
    pub design: Option<&'a SurveyDesign>,
}

/// Quality of the fit and who gains, weighted by the survey weights.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Metrics {
    /// Weighted R² of cost on funding: `1 − Σw(C − F)² / Σw(C − C̄)²`.
    pub r2: f64,
    /// `√(Σw(C − F)² / Σw)`, €.
    pub rmse: f64,
    /// `Σw|C − F|/C / Σw` over services with a positive cost.
    pub mape: f64,
    /// Weighted share of services funded within ±10 % of their cost.
    pub within_10pct: f64,
    /// Weighted share of services gaining more than 5 % versus baseline.
    pub winners_5pct: f64,
    /// Weighted share of services losing more than 5 % versus baseline.
    pub losers_5pct: f64,
    /// Sampled services gaining more than 5 %.
    pub winners_5pct_services: usize,
    /// Sampled services losing more than 5 %.
    pub losers_5pct_services: usize,
}

/// How the fit went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FitInfo {
    /// Iterations (Huber reweightings, LP iterations), 0 for least squares.
    pub iterations: usize,
    /// Whether an iterative fit converged (always true for least squares).
    pub converged: bool,
    /// Huber's scale, €.
    pub scale: Option<f64>,
    /// Multipliers of the neutrality equalities.
    pub lambda: Vec<f64>,
    /// Bootstrap replicates that failed (median loss), left out of the standard errors.
    pub failed_replicates: usize,
    /// Guarantee constraints binding at the solution, by label.
    pub binding: Vec<String>,
    /// Whether the constrained solution was polished to the exact KKT point (true without
    /// guarantee constraints).
    pub polished: bool,
}

/// A calibrated formula.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Calibration {
    /// Parameter names (the design's, plus `point_value` for a national point value).
    pub names: Vec<String>,
    /// Units.
    pub units: Vec<String>,
    /// Estimates.
    pub estimate: Vec<f64>,
    /// Standard errors (`None` where none is defined).
    pub std_error: Vec<Option<f64>>,
    /// Lower ends of the intervals.
    pub ci_low: Vec<Option<f64>>,
    /// Upper ends.
    pub ci_high: Vec<Option<f64>>,
    /// Funding of every service, €/year.
    pub funding: Vec<f64>,
    /// Point value of every département (point-value method), by index.
    pub point_values: Vec<Option<f64>>,
    /// Standard error of every département's point value (design-based errors only).
    pub point_value_std_error: Vec<Option<f64>>,
    /// Lower end of every département's point-value interval.
    pub point_value_ci_low: Vec<Option<f64>>,
    /// Upper end.
    pub point_value_ci_high: Vec<Option<f64>>,
    /// Relative neutrality gap of every département, by index (`None` without services).
    pub departement_residuals: Vec<Option<f64>>,
    /// The largest relative gap over the neutrality scopes (the national gap when the
    /// scope is `none`).
    pub neutrality_residual: f64,
    /// Fit quality and gains.
    pub metrics: Metrics,
    /// Iterations, convergence, multipliers.
    pub info: FitInfo,
}

/// `Φ⁻¹(p)`, the standard normal quantile (statrs: `√2 · erfc⁻¹(2p)`, within 1e-15 of
/// scipy's `norm.ppf` at the levels intervals use).
pub fn normal_quantile(p: f64) -> f64 {
    assert!(p > 0.0 && p < 1.0, "a probability strictly between 0 and 1");
    Normal::standard().inverse_cdf(p)
}

/// The neutrality scopes of the services: one (national) or one per département holding
/// services. Returns, per scope, its member services and its name.
fn scopes(scope: Scope, geo: &Geography<'_>, n: usize) -> Vec<(String, Vec<usize>)> {
    match scope {
        Scope::None => Vec::new(),
        Scope::National => vec![("national".into(), (0..n).collect())],
        Scope::Departement => {
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); geo.codes.len()];
            for s in 0..n {
                members[geo.departement[s] as usize].push(s);
            }
            members
                .into_iter()
                .enumerate()
                .filter(|(_, m)| !m.is_empty())
                .map(|(d, m)| (geo.codes[d].clone(), m))
                .collect()
        }
    }
}

/// The neutrality equalities `Σ_{s∈scope} w x_s θ = Σ_{s∈scope} w (F0_s − a_s)`.
fn equalities(
    design: &Design,
    geo: &Geography<'_>,
    scopes: &[(String, Vec<usize>)],
) -> Result<Equalities, CalibrationError> {
    let k = design.k;
    if scopes.len() > k {
        return Err(SolverError::NeutralityImpossible {
            scope: "every département".into(),
            reason: format!(
                "{} département budgets to hold with {} parameters: exact equalities need at least as many parameters as budgets; set calibration.method = \"point_values\" (one point value per département) or neutrality.scope = \"national\"",
                scopes.len(),
                k
            ),
        }
        .into());
    }
    let mut eq = Equalities::default();
    for (name, members) in scopes {
        let row: Vec<f64> = (0..k)
            .map(|j| {
                compensated_sum(members.len(), |i| {
                    let s = members[i];
                    geo.weights[s] * design.x[s * k + j]
                })
            })
            .collect();
        let b = compensated_sum(members.len(), |i| {
            let s = members[i];
            geo.weights[s] * (design.target[s] - design.offset[s])
        });
        if row.iter().all(|&v| v == 0.0) && b != 0.0 {
            return Err(SolverError::NeutralityImpossible {
                scope: name.clone(),
                reason: format!(
                    "its services have no driver of the formula (every column is zero) but a budget of {b:.2} €: add a parameter that reaches them"
                ),
            }
            .into());
        }
        eq.a.extend(row);
        eq.b.push(b);
    }
    Ok(eq)
}

/// Names the parameters of a `NotIdentified` error, or turns dependent equalities into a
/// neutrality error.
fn name_error(
    e: SolverError,
    design: &Design,
    scopes: &[(String, Vec<usize>)],
) -> CalibrationError {
    match e {
        SolverError::NotIdentified {
            parameters,
            condition,
        } if parameters.is_empty() => SolverError::NeutralityImpossible {
            scope: scopes
                .iter()
                .map(|(n, _)| n.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            reason: format!(
                "the budget equalities are linearly dependent (condition number {condition:.3e}): these budgets cannot all be held by this formula; use calibration.method = \"point_values\" or a national scope"
            ),
        }
        .into(),
        SolverError::NotIdentified {
            parameters,
            condition,
        } => {
            let zero: Vec<usize> = parameters
                .iter()
                .copied()
                .filter(|&j| (0..design.n).all(|s| design.x[s * design.k + j] == 0.0))
                .collect();
            let reason = if zero.is_empty() {
                "their columns are collinear in the sample (one is a combination of the others)"
                    .to_string()
            } else {
                "no sampled service has any of their driver".to_string()
            };
            CalibrationError::NotIdentified {
                parameters: parameters.iter().map(|&j| design.names[j].clone()).collect(),
                reason,
                condition,
            }
        }
        other => other.into(),
    }
}

/// An unconstrained or constrained fit of the design with the loss: θ, standard errors
/// (k), fit info.
struct Fit {
    theta: Vec<f64>,
    se: Vec<Option<f64>>,
    info: FitInfo,
    /// What the linearisation of the estimating equations reads (least squares and
    /// Huber, once polished).
    linear: Option<Linear>,
}

/// The estimating equations at the solution: `Σ rw_s x_s ψ_s = ½ B'λ` with the Hessian
/// weights `hw` (`rw`, or Huber's inliers) and the binding rows `B` (neutrality first).
struct Linear {
    hw: Vec<f64>,
    psi: Vec<f64>,
    binding: Equalities,
}

fn covariance_kind<'a>(o: &Options, clusters: &'a [u32]) -> CovarianceKind<'a> {
    match o.std_errors {
        StdErrors::Hc0 => CovarianceKind::Hc0,
        StdErrors::Hc1 => CovarianceKind::Hc1,
        StdErrors::Cr0 => CovarianceKind::Cr0(clusters),
        StdErrors::Cr1 => CovarianceKind::Cr1(clusters),
        StdErrors::Design | StdErrors::Jackknife | StdErrors::Bootstrap => {
            unreachable!("design-based errors are not a sandwich of the model")
        }
    }
}

fn std_errors_of(cov: &[f64], k: usize) -> Vec<Option<f64>> {
    (0..k)
        .map(|j| {
            let v = cov[j * k + j];
            (v >= 0.0 && v.is_finite()).then(|| v.sqrt())
        })
        .collect()
}

/// What one fit reads.
struct FitInput<'a> {
    design: &'a Design,
    /// Regression weights.
    rw: &'a [f64],
    /// Neutrality equalities.
    eq: &'a Equalities,
    /// Cluster of every service.
    clusters: &'a [u32],
    /// Members of every scope (for the bootstrap's equalities).
    scopes: &'a [(String, Vec<usize>)],
    /// Survey weights.
    survey_w: &'a [f64],
    /// Guarantee constraints.
    ineq: &'a Inequalities,
}

/// Labels of some inequalities.
fn labels(ineq: &Inequalities, rows: &[usize]) -> Vec<String> {
    rows.iter().map(|&i| ineq.label[i].clone()).collect()
}

fn fit(
    input: &FitInput<'_>,
    o: &Options,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Fit, SolverError> {
    let FitInput {
        design,
        rw,
        eq,
        clusters,
        scopes,
        ..
    } = *input;
    let ineq = input.ineq;
    let y = &design.cost;
    let k = design.k;
    let x = &design.x;
    // y net of the fixed part.
    let yn: Vec<f64> = y.iter().zip(&design.offset).map(|(a, b)| a - b).collect();
    match o.loss {
        Loss::Wls => {
            let c = solve_constrained(&Moments::from_rows(x, &yn, rw, k), eq, ineq)?;
            let e = c.estimate;
            let r = crate::wls::residuals(x, &yn, &e.theta);
            let model_based = o.with_errors && !o.std_errors.is_design_based();
            let linear = c.polished.then(|| Linear {
                hw: rw.to_vec(),
                psi: r.clone(),
                binding: with_rows(eq, ineq, &c.active, k),
            });
            let se = if c.polished && model_based {
                let cov = covariance(
                    x,
                    rw,
                    &r,
                    &e.bread,
                    k,
                    eq.len() + c.active.len(),
                    covariance_kind(o, clusters),
                );
                std_errors_of(&cov, k)
            } else {
                vec![None; k]
            };
            let mut lambda = e.lambda;
            lambda.truncate(eq.len());
            Ok(Fit {
                se,
                theta: e.theta,
                linear,
                info: FitInfo {
                    iterations: c.iterations as usize,
                    converged: true,
                    scale: None,
                    lambda,
                    failed_replicates: 0,
                    binding: labels(ineq, &c.active),
                    polished: c.polished,
                },
            })
        }
        Loss::Huber => {
            let config = HuberConfig {
                t: o.huber_t,
                ..HuberConfig::default()
            };
            let h = huber(x, &yn, rw, k, eq, ineq, &config)?;
            // M-estimator sandwich: bread from Σ w ψ'(z) x x' (inliers), scores w ψ(z) s x.
            let r = crate::wls::residuals(x, &yn, &h.estimate.theta);
            let s = h.scale;
            let inlier: Vec<f64> = r
                .iter()
                .zip(rw)
                .map(|(r, w)| {
                    if s > 0.0 && (r / s).abs() > o.huber_t {
                        0.0
                    } else {
                        *w
                    }
                })
                .collect();
            let pseudo: Vec<f64> = r
                .iter()
                .map(|r| {
                    if s > 0.0 {
                        (r / s).clamp(-o.huber_t, o.huber_t) * s
                    } else {
                        *r
                    }
                })
                .collect();
            let binding_eq = with_rows(eq, ineq, &h.active, k);
            let model_based = o.with_errors && !o.std_errors.is_design_based();
            let se = match solve(&Moments::from_rows(x, &yn, &inlier, k), &binding_eq) {
                Ok(b) if model_based => {
                    let cov = covariance(
                        x,
                        rw,
                        &pseudo,
                        &b.bread,
                        k,
                        binding_eq.len(),
                        covariance_kind(o, clusters),
                    );
                    std_errors_of(&cov, k)
                }
                Ok(_) | Err(_) => vec![None; k],
            };
            Ok(Fit {
                theta: h.estimate.theta,
                se,
                linear: Some(Linear {
                    hw: inlier,
                    psi: pseudo,
                    binding: binding_eq,
                }),
                info: FitInfo {
                    iterations: h.iterations,
                    converged: h.converged,
                    scale: Some(h.scale),
                    lambda: h.estimate.lambda.into_iter().take(eq.len()).collect(),
                    failed_replicates: 0,
                    binding: labels(ineq, &h.active),
                    polished: true,
                },
            })
        }
        Loss::Median => {
            let m = median_fit(x, &yn, rw, k, eq, ineq)?;
            let mut scope_of = vec![None; design.n];
            if !eq.is_empty() {
                for (c, (_, members)) in scopes.iter().enumerate() {
                    for &s in members {
                        scope_of[s] = Some(c);
                    }
                }
            }
            let n_scopes = eq.len();
            let replicates = MedianDraws {
                yn: &yn,
                scope_of: &scope_of,
                n_scopes,
            };
            let (se, failed) = if o.std_errors.is_design_based() || !o.with_errors {
                (vec![None; k], 0)
            } else {
                bootstrap_median(input, &replicates, o, cancelled)
            };
            Ok(Fit {
                theta: m.theta,
                se,
                linear: None,
                info: FitInfo {
                    iterations: m.iterations as usize,
                    converged: true,
                    scale: None,
                    lambda: Vec::new(),
                    failed_replicates: failed,
                    binding: labels(ineq, &m.binding),
                    polished: m.vertex || ineq.is_empty(),
                },
            })
        }
    }
}

/// The scopes as the bootstrap needs them.
struct MedianDraws<'a> {
    /// Cost net of the fixed part.
    yn: &'a [f64],
    /// Scope of every service (`None` outside every scope).
    scope_of: &'a [Option<usize>],
    /// Number of scopes with an equality.
    n_scopes: usize,
}

/// Standard errors of the median fit by a bootstrap by service: replicate `r` draws `n`
/// services with replacement (ChaCha8, stream `r` of the seed), recomputes each
/// neutrality equality from the drawn services (`Σ w x_s θ = Σ w (F0_s − a_s)` over the
/// draws of the scope), and refits; the standard error is the replicates' standard
/// deviation. Replicates run in parallel and are combined in replicate order.
fn bootstrap_median(
    input: &FitInput<'_>,
    r: &MedianDraws<'_>,
    o: &Options,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> (Vec<Option<f64>>, usize) {
    let (design, rw, survey_w) = (input.design, input.rw, input.survey_w);
    let (yn, scope_of, n_scopes) = (r.yn, r.scope_of, r.n_scopes);
    let n = design.n;
    let k = design.k;
    let replicates: Vec<Option<Vec<f64>>> = (0..o.bootstrap)
        .into_par_iter()
        .map(|rep| {
            if cancelled() {
                return None;
            }
            let mut rng = ChaCha8Rng::seed_from_u64(o.seed);
            rng.set_stream(rep as u64);
            let draw: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
            let x: Vec<f64> = draw.iter().flat_map(|&s| design.row(s).to_vec()).collect();
            let y: Vec<f64> = draw.iter().map(|&s| yn[s]).collect();
            let w: Vec<f64> = draw.iter().map(|&s| rw[s]).collect();
            let mut eq = Equalities {
                a: vec![0.0; n_scopes * k],
                b: vec![0.0; n_scopes],
            };
            for &s in &draw {
                if let Some(c) = scope_of[s] {
                    for j in 0..k {
                        eq.a[c * k + j] += survey_w[s] * design.x[s * k + j];
                    }
                    eq.b[c] += survey_w[s] * (design.target[s] - design.offset[s]);
                }
            }
            median_fit(&x, &y, &w, k, &eq, &o.constraints)
                .ok()
                .map(|f| f.theta)
        })
        .collect();
    let ok: Vec<&Vec<f64>> = replicates.iter().flatten().collect();
    let failed = replicates.len() - ok.len();
    if ok.len() < 2 {
        return (vec![None; k], failed);
    }
    let b = ok.len() as f64;
    let se = (0..k)
        .map(|j| {
            let mean = ok.iter().map(|t| t[j]).sum::<f64>() / b;
            let var = ok.iter().map(|t| (t[j] - mean).powi(2)).sum::<f64>() / (b - 1.0);
            Some(var.sqrt())
        })
        .collect();
    (se, failed)
}

/// Clamps funding between the floor and the cap per funded hour.
pub(crate) fn clamp_funding(f: f64, hours: f64, o: &Options) -> f64 {
    let mut v = f;
    if let Some(c) = o.cap_per_hour {
        v = v.min(c * hours);
    }
    if let Some(fl) = o.floor_per_hour {
        v = v.max(fl * hours);
    }
    v
}

/// Calibrates a design. `cancelled` is polled between replicates.
pub fn calibrate(
    design: &Design,
    geo: &Geography<'_>,
    o: &Options,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<Calibration, CalibrationError> {
    let n = design.n;
    let k = design.k;
    if k == 0 {
        return Err(CalibrationError::Spec(crate::error::SpecError::Empty {
            key: "formula".into(),
            message: "the formula has no parameter to calibrate".into(),
        }));
    }
    let scopes = scopes(o.scope, geo, n);
    let clusters: Vec<u32> = match o.cluster {
        Cluster::Service => (0..n as u32).collect(),
        Cluster::Departement => geo.departement.to_vec(),
    };
    let mut names = design.names.clone();
    let mut units = design.units.clone();
    let mut point_values = vec![None; geo.codes.len()];
    let eq = match o.method {
        Method::Kkt => equalities(design, geo, &scopes)?,
        Method::PointValues => {
            if !o.constraints.is_empty() {
                return Err(CalibrationError::Spec(
                    crate::error::SpecError::Inconsistent {
                        key: "guarantees.constrain".into(),
                        message: "guarantee constraints need calibration.method = \"kkt\"".into(),
                    },
                ));
            }
            Equalities::default()
        }
    };
    let none = Inequalities::default();
    let input = FitInput {
        design,
        rw: geo.regression_weights,
        eq: &eq,
        clusters: &clusters,
        scopes: if o.method == Method::Kkt {
            &scopes
        } else {
            &[]
        },
        survey_w: geo.weights,
        ineq: if o.method == Method::Kkt {
            &o.constraints
        } else {
            &none
        },
    };
    let scopes_of_fit: &[(String, Vec<usize>)] = if o.method == Method::Kkt {
        &scopes
    } else {
        &[]
    };
    let f = fit(&input, o, cancelled).map_err(|e| name_error(e, design, scopes_of_fit))?;
    // One point value per scope (point-value method only).
    let (funding, scope_values) = match o.method {
        Method::Kkt => (design.funding(&f.theta), Vec::new()),
        Method::PointValues => {
            let relative: Vec<f64> = (0..n).map(|s| dot(design.row(s), &f.theta)).collect();
            let (values, funding) = restore_budgets(design, geo.weights, &relative, &scopes, o)?;
            (funding, values)
        }
    };
    if o.method == Method::PointValues {
        for ((_, members), &pv) in scopes.iter().zip(&scope_values) {
            match o.scope {
                Scope::National => point_values.iter_mut().for_each(|p| *p = Some(pv)),
                _ => point_values[geo.departement[members[0]] as usize] = Some(pv),
            }
        }
        if o.scope == Scope::National {
            names.push("point_value".into());
            units.push("× relative weights".into());
        }
    }
    let Fit {
        theta,
        mut se,
        mut info,
        linear,
    } = f;
    let mut estimate = theta.clone();
    if names.len() > estimate.len() {
        estimate.push(scope_values.first().copied().unwrap_or(1.0));
        se.push(None);
    }
    let (mut ci_low, mut ci_high) = normal_intervals(&estimate, &se, o.confidence);
    let mut pv_se = vec![None; geo.codes.len()];
    let mut pv_low = vec![None; geo.codes.len()];
    let mut pv_high = vec![None; geo.codes.len()];
    if o.with_errors && o.std_errors.is_design_based() {
        let strata = match geo.design {
            Some(d) => Strata::new(d)?,
            None => Strata::unstratified(n),
        };
        let fitted = Fitted {
            theta: &theta,
            scope_values: &scope_values,
            funding: &funding,
        };
        let errors = design_errors(
            design,
            geo,
            o,
            &scopes,
            &strata,
            &fitted,
            linear.as_ref(),
            cancelled,
        )?;
        info.failed_replicates = errors.failed;
        // θ, then the point value of every scope.
        se[..k].copy_from_slice(&errors.se[..k]);
        ci_low[..k].copy_from_slice(&errors.low[..k]);
        ci_high[..k].copy_from_slice(&errors.high[..k]);
        for (c, (_, members)) in scopes.iter().enumerate().take(scope_values.len()) {
            let (e, l, h) = (errors.se[k + c], errors.low[k + c], errors.high[k + c]);
            match o.scope {
                Scope::National => {
                    se[k] = e;
                    ci_low[k] = l;
                    ci_high[k] = h;
                    pv_se.iter_mut().for_each(|p| *p = e);
                    pv_low.iter_mut().for_each(|p| *p = l);
                    pv_high.iter_mut().for_each(|p| *p = h);
                }
                _ => {
                    let d = geo.departement[members[0]] as usize;
                    (pv_se[d], pv_low[d], pv_high[d]) = (e, l, h);
                }
            }
        }
    }
    let (departement_residuals, neutrality_residual, metrics) = achieved(design, geo, o, &funding);
    Ok(Calibration {
        names,
        units,
        estimate,
        std_error: se,
        ci_low,
        ci_high,
        funding,
        point_values,
        point_value_std_error: pv_se,
        point_value_ci_low: pv_low,
        point_value_ci_high: pv_high,
        departement_residuals,
        neutrality_residual,
        metrics,
        info,
    })
}

/// What `funding` achieves: the neutrality gaps (below) and the fit's metrics.
fn achieved(
    design: &Design,
    geo: &Geography<'_>,
    o: &Options,
    funding: &[f64],
) -> (Vec<Option<f64>>, f64, Metrics) {
    let (departements, largest) = achieved_neutrality(design, geo, o, funding);
    let metrics = metrics(
        &design.cost,
        funding,
        &design.baseline,
        &design.carried,
        geo.weights,
    );
    (departements, largest, metrics)
}

/// The relative neutrality gap of every département with services, and the largest over
/// the scopes of `o` (the national gap when the scope is `none`), of `funding`.
fn achieved_neutrality(
    design: &Design,
    geo: &Geography<'_>,
    o: &Options,
    funding: &[f64],
) -> (Vec<Option<f64>>, f64) {
    let dep = residuals(
        NeutralityScope::Departement,
        funding,
        &design.target,
        geo.weights,
        geo.departement,
        geo.codes.len(),
    );
    let mut has_services = vec![false; geo.codes.len()];
    for &d in geo.departement {
        has_services[d as usize] = true;
    }
    let departement_residuals = dep
        .per_scope
        .iter()
        .zip(&has_services)
        .map(|(r, h)| h.then_some(*r))
        .collect();
    let neutrality_residual = match o.scope {
        Scope::Departement => dep.max,
        Scope::National | Scope::None => {
            residuals(
                NeutralityScope::National,
                funding,
                &design.target,
                geo.weights,
                geo.departement,
                geo.codes.len(),
            )
            .max
        }
    };
    (departement_residuals, neutrality_residual)
}

/// Parameters calibrated elsewhere applied to `design` (another dataset's services):
/// the funding `offset + x θ` — scaled by the source's point value of each scope for
/// the point-value method (`source_values`, by scope of `o`, `None` where the source
/// had none) — or, with `restore`, by one point value per scope that restores its budget
/// on these data. Returns the calibration (estimates and intervals as given; the point
/// values used; the residual achieved) and the largest relative gap of the parameters as
/// calibrated, before any point value of these data (`None` when the source has no point
/// value for some scope of these data).
#[allow(clippy::too_many_arguments)]
pub fn apply_parameters(
    design: &Design,
    geo: &Geography<'_>,
    o: &Options,
    theta: &[f64],
    intervals: &[(Option<f64>, Option<f64>, Option<f64>)],
    source_values: &dyn Fn(&str) -> Option<f64>,
    restore: bool,
) -> Result<(Calibration, Option<f64>), CalibrationError> {
    let n = design.n;
    let k = design.k;
    assert_eq!(theta.len(), k, "one value per design column");
    let scopes = scopes(o.scope, geo, n);
    let relative: Vec<f64> = (0..n).map(|s| dot(design.row(s), theta)).collect();
    // The parameters as calibrated (the point-value method: with the source's point value
    // of every scope; `None` when the source has none for a scope of these data).
    let as_is: Option<(Vec<f64>, Vec<f64>)> = match o.method {
        Method::Kkt => Some((design.funding(theta), Vec::new())),
        Method::PointValues if scopes.is_empty() => Some((design.funding(theta), Vec::new())),
        Method::PointValues => {
            let mut funding = vec![0.0; n];
            let mut used = Vec::with_capacity(scopes.len());
            let mut complete = true;
            for (name, members) in &scopes {
                let Some(pv) = source_values(name) else {
                    complete = false;
                    break;
                };
                for &s in members {
                    funding[s] =
                        clamp_funding(design.offset[s] + pv * relative[s], design.hours[s], o);
                }
                used.push(pv);
            }
            complete.then_some((funding, used))
        }
    };
    let residual_as_is = as_is
        .as_ref()
        .map(|(f, _)| achieved_neutrality(design, geo, o, f).1);
    let (funding, values) = if restore && !scopes.is_empty() {
        let (values, funding) = restore_budgets(design, geo.weights, &relative, &scopes, o)?;
        (funding, values)
    } else {
        as_is.ok_or_else(|| SolverError::NeutralityImpossible {
            scope: "apply".into(),
            reason: "the source calibration has no point value for some scope of these data: apply it with neutrality = \"point_value\" to compute them here".into(),
        })?
    };
    let mut names = design.names.clone();
    let mut units = design.units.clone();
    let mut estimate = theta.to_vec();
    let mut std_error: Vec<Option<f64>> = intervals.iter().map(|i| i.0).collect();
    let mut ci_low: Vec<Option<f64>> = intervals.iter().map(|i| i.1).collect();
    let mut ci_high: Vec<Option<f64>> = intervals.iter().map(|i| i.2).collect();
    let mut point_values = vec![None; geo.codes.len()];
    for ((_, members), &pv) in scopes.iter().zip(&values) {
        match o.scope {
            Scope::National => point_values.iter_mut().for_each(|p| *p = Some(pv)),
            _ => point_values[geo.departement[members[0]] as usize] = Some(pv),
        }
    }
    if o.scope == Scope::National && !values.is_empty() {
        names.push("point_value".into());
        units.push(match o.method {
            Method::PointValues => "× relative weights".into(),
            Method::Kkt => "× the formula's funding".into(),
        });
        estimate.push(values[0]);
        std_error.push(None);
        ci_low.push(None);
        ci_high.push(None);
    }
    let (departement_residuals, neutrality_residual, metrics) = achieved(design, geo, o, &funding);
    let none = vec![None; geo.codes.len()];
    Ok((
        Calibration {
            names,
            units,
            estimate,
            std_error,
            ci_low,
            ci_high,
            funding,
            point_values,
            point_value_std_error: none.clone(),
            point_value_ci_low: none.clone(),
            point_value_ci_high: none,
            departement_residuals,
            neutrality_residual,
            metrics,
            info: FitInfo {
                converged: true,
                polished: true,
                ..FitInfo::default()
            },
        },
        residual_as_is,
    ))
}

/// One point value per scope restoring its budget under the survey weights `w`, the
/// relative funding `relative` (x θ) scaled by it, clamped to the floor and cap: the
/// values, by scope, and the funding of every service.
fn restore_budgets(
    design: &Design,
    w: &[f64],
    relative: &[f64],
    scopes: &[(String, Vec<usize>)],
    o: &Options,
) -> Result<(Vec<f64>, Vec<f64>), SolverError> {
    let mut funding = vec![0.0; design.n];
    let mut values = Vec::with_capacity(scopes.len());
    for (name, members) in scopes {
        let budget = |pi: f64| {
            compensated_sum(members.len(), |i| {
                let s = members[i];
                w[s] * clamp_funding(design.offset[s] + pi * relative[s], design.hours[s], o)
            })
        };
        let target = compensated_sum(members.len(), |i| w[members[i]] * design.target[members[i]]);
        let pv = point_value(name, budget, target)?;
        for &s in members {
            funding[s] = clamp_funding(
                design.offset[s] + pv.value * relative[s],
                design.hours[s],
                o,
            );
        }
        values.push(pv.value);
    }
    Ok((values, funding))
}

/// The full-sample fit the design-based errors are about.
struct Fitted<'a> {
    theta: &'a [f64],
    /// The point value of every scope (point-value method).
    scope_values: &'a [f64],
    funding: &'a [f64],
}

/// Design-based standard errors and intervals of θ followed by the scopes' point values.
struct DesignErrors {
    se: Vec<Option<f64>>,
    low: Vec<Option<f64>>,
    high: Vec<Option<f64>>,
    /// Replicates whose fit failed, left out.
    failed: usize,
}

#[allow(clippy::too_many_arguments)]
fn design_errors(
    design: &Design,
    geo: &Geography<'_>,
    o: &Options,
    scopes: &[(String, Vec<usize>)],
    strata: &Strata,
    fitted: &Fitted<'_>,
    linear: Option<&Linear>,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Result<DesignErrors, CalibrationError> {
    let full: Vec<f64> = fitted
        .theta
        .iter()
        .chain(fitted.scope_values)
        .copied()
        .collect();
    let p = full.len();
    let method = match o.std_errors {
        StdErrors::Design => {
            let Some(linear) = linear else {
                // An unpolished constrained fit has no exact KKT point to linearise.
                return Ok(DesignErrors {
                    se: vec![None; p],
                    low: vec![None; p],
                    high: vec![None; p],
                    failed: 0,
                });
            };
            let mut phi = influence(design, geo, o, scopes, fitted, linear)?;
            // Weights calibrated to margins: what the margins explain is not sampling
            // error (R `survey`'s linearisation of a calibrated design).
            if let Some(calibrated) = geo.design.and_then(|d| d.calibration.as_deref()) {
                crate::weights::residualize(calibrated, &mut phi, p);
            }
            let cov = stratified_meat(&phi, p, strata);
            let se = crate::survey::std_errors(&cov, p);
            let (low, high) = normal_intervals(&full, &se, o.confidence);
            return Ok(DesignErrors {
                se,
                low,
                high,
                failed: 0,
            });
        }
        StdErrors::Jackknife => ReplicateMethod::Jackknife,
        StdErrors::Bootstrap => ReplicateMethod::Bootstrap {
            replicates: o.bootstrap,
            seed: o.seed,
        },
        _ => unreachable!("model-based errors come with the fit"),
    };
    let reps = Replicates::new(strata, method);
    let estimates = replicate_estimates(design, geo, o, scopes, &reps, cancelled);
    if cancelled() {
        return Err(CalibrationError::Cancelled);
    }
    let failed = estimates.iter().filter(|e| e.is_none()).count();
    let cov = reps.covariance(&estimates, &full, o.mse);
    let se = crate::survey::std_errors(&cov, p);
    let (low, high) = if reps.percentile_intervals() {
        let alpha = (1.0 - o.confidence) / 2.0;
        let mut low = Vec::with_capacity(p);
        let mut high = Vec::with_capacity(p);
        for j in 0..p {
            let mut v: Vec<f64> = estimates.iter().flatten().map(|e| e[j]).collect();
            if v.len() < 2 {
                low.push(None);
                high.push(None);
            } else {
                low.push(Some(quantile(&mut v, alpha)));
                high.push(Some(quantile(&mut v, 1.0 - alpha)));
            }
        }
        (low, high)
    } else {
        normal_intervals(&full, &se, o.confidence)
    };
    Ok(DesignErrors {
        se,
        low,
        high,
        failed,
    })
}

/// Per-service influence values (n × p, row-major) of θ and the scopes' point values:
/// the linearisation of the estimating equations `Σ_s U_s(θ, λ) = 0`,
/// `U_s = [rw_s x_s ψ_s − ½ w_s x_s c_s'λ ; w_s c_s (x_s θ − b_s)]` (c_s the neutrality
/// scope of `s`, b_s its baseline net of the fixed part; binding guarantees are fixed
/// rows), whose Jacobian is the KKT matrix `K = [[2H, B'], [B, 0]]`: `φ_s = K⁻¹ [2 rw_s x_s
/// ψ_s − w_s x_s c_s'λ ; −w_s c_s (x_s θ − b_s) ; 0]`, θ's rows kept. A point value π_c
/// solving `Σ_{s∈c} w_s (F_s(π, θ) − F0_s) = 0` adds `−[w_s (F_s − F0_s) + π_c g_c'φ_θ,s] /
/// D_c`, `D_c = Σ w_t x_t θ` and `g_c = Σ w_t x_t` over the scope's unclamped services.
fn influence(
    design: &Design,
    geo: &Geography<'_>,
    o: &Options,
    scopes: &[(String, Vec<usize>)],
    fitted: &Fitted<'_>,
    linear: &Linear,
) -> Result<Vec<f64>, SolverError> {
    let (n, k) = (design.n, design.k);
    let b = &linear.binding;
    let mb = b.len();
    let dim = k + mb;
    let theta = fitted.theta;
    let yn: Vec<f64> = design
        .cost
        .iter()
        .zip(&design.offset)
        .map(|(a, c)| a - c)
        .collect();
    let h = Moments::from_rows(&design.x, &yn, &linear.hw, k).xtwx;
    let kkt = faer::Mat::from_fn(dim, dim, |i, j| match (i < k, j < k) {
        (true, true) => 2.0 * h[i * k + j],
        (true, false) => b.a[(j - k) * k + i],
        (false, true) => b.a[(i - k) * k + j],
        (false, false) => 0.0,
    });
    let unit = faer::Mat::from_fn(dim, dim, |i, j| if i == j { 1.0 } else { 0.0 });
    let inv = kkt.full_piv_lu().solve(&unit);
    if !(0..dim).all(|i| (0..dim).all(|j| inv[(i, j)].is_finite())) {
        return Err(SolverError::Numerical(
            "the KKT matrix of the fit is singular",
        ));
    }
    // The neutrality rows come first among the binding rows, one per scope (KKT method).
    let neutrality_rows = if o.method == Method::Kkt {
        scopes.len()
    } else {
        0
    };
    let mut scope_of = vec![None; n];
    for (c, (_, members)) in scopes.iter().enumerate() {
        for &s in members {
            scope_of[s] = Some(c);
        }
    }
    // λ from the stationarity `B'λ = 2 Σ rw x ψ`, by least squares on the binding rows.
    let mut g = vec![0.0; k];
    for s in 0..n {
        let c = 2.0 * geo.regression_weights[s] * linear.psi[s];
        for (gj, xj) in g.iter_mut().zip(design.row(s)) {
            *gj += c * xj;
        }
    }
    let lambda: Vec<f64> = if mb == 0 {
        Vec::new()
    } else {
        let bbt = faer::Mat::from_fn(mb, mb, |i, j| {
            (0..k).map(|l| b.a[i * k + l] * b.a[j * k + l]).sum::<f64>()
        });
        let bg = faer::Mat::from_fn(mb, 1, |i, _| {
            (0..k).map(|l| b.a[i * k + l] * g[l]).sum::<f64>()
        });
        let sol = bbt.full_piv_lu().solve(&bg);
        (0..mb).map(|i| sol[(i, 0)]).collect()
    };
    let p = k + fitted.scope_values.len();
    let mut phi = vec![0.0; n * p];
    phi.par_chunks_mut(p).enumerate().for_each(|(s, out)| {
        let x = design.row(s);
        let w = geo.weights[s];
        let mut u = vec![0.0; dim];
        let shadow = match scope_of[s] {
            Some(c) if c < neutrality_rows => lambda[c],
            _ => 0.0,
        };
        for j in 0..k {
            u[j] = 2.0 * geo.regression_weights[s] * x[j] * linear.psi[s] - w * x[j] * shadow;
        }
        if let Some(c) = scope_of[s]
            && c < neutrality_rows
        {
            let bs = design.target[s] - design.offset[s];
            u[k + c] = -w * (dot(x, theta) - bs);
        }
        for (j, o) in out.iter_mut().enumerate().take(k) {
            *o = (0..dim).map(|l| inv[(j, l)] * u[l]).sum();
        }
    });
    // Point values.
    for (c, (_, members)) in scopes.iter().enumerate().take(fitted.scope_values.len()) {
        let pv = fitted.scope_values[c];
        let mut d = 0.0;
        let mut gc = vec![0.0; k];
        for &t in members {
            let rel = dot(design.row(t), theta);
            let free = design.offset[t] + pv * rel;
            if clamp_funding(free, design.hours[t], o) == free {
                d += geo.weights[t] * rel;
                for (a, xj) in gc.iter_mut().zip(design.row(t)) {
                    *a += geo.weights[t] * xj;
                }
            }
        }
        if d == 0.0 {
            return Err(SolverError::Numerical(
                "a point value with every service clamped",
            ));
        }
        let in_scope = |s: usize| scope_of[s] == Some(c);
        for s in 0..n {
            let own = if in_scope(s) {
                geo.weights[s] * (fitted.funding[s] - design.target[s])
            } else {
                0.0
            };
            let row = &phi[s * p..s * p + k];
            let through_theta = pv * dot(&gc, row);
            phi[s * p + k + c] = -(own + through_theta) / d;
        }
    }
    Ok(phi)
}

/// The estimate (θ, then the scopes' point values) of every replicate; `None` for a
/// replicate whose fit failed. Least squares reads the replicates' moments from one
/// product of the replicate weights with per-service statistics; the other losses refit
/// the service rows under the replicate's weights.
fn replicate_estimates(
    design: &Design,
    geo: &Geography<'_>,
    o: &Options,
    scopes: &[(String, Vec<usize>)],
    reps: &Replicates<'_>,
    cancelled: &(dyn Fn() -> bool + Sync),
) -> Vec<Option<Vec<f64>>> {
    let (n, k) = (design.n, design.k);
    let yn: Vec<f64> = design
        .cost
        .iter()
        .zip(&design.offset)
        .map(|(a, c)| a - c)
        .collect();
    let kkt = o.method == Method::Kkt;
    let ineq = if kkt {
        o.constraints.clone()
    } else {
        Inequalities::default()
    };
    let point_values = |theta: &[f64], m: &[f64]| -> Option<Vec<f64>> {
        let mut out = theta.to_vec();
        if !kkt {
            let w: Vec<f64> = geo.weights.iter().zip(m).map(|(a, b)| a * b).collect();
            let relative: Vec<f64> = (0..n).map(|s| dot(design.row(s), theta)).collect();
            let (values, _) = restore_budgets(design, &w, &relative, scopes, o).ok()?;
            out.extend(values);
        }
        Some(out)
    };
    if o.loss == Loss::Wls {
        // Per service: rw [x x' (upper triangle), x y, y², 1, y], then per scope w [x, b].
        let tri = k * (k + 1) / 2;
        let base = tri + k + 3;
        let eq_scopes = if kkt { scopes.len() } else { 0 };
        let width = base + eq_scopes * (k + 1);
        let mut scope_of = vec![None; n];
        for (c, (_, members)) in scopes.iter().enumerate() {
            for &s in members {
                scope_of[s] = Some(c);
            }
        }
        let mut v = vec![0.0; n * width];
        v.par_chunks_mut(width).enumerate().for_each(|(s, row)| {
            let x = design.row(s);
            let rw = geo.regression_weights[s];
            let mut i = 0;
            for a in 0..k {
                for b in a..k {
                    row[i] = rw * x[a] * x[b];
                    i += 1;
                }
            }
            for a in 0..k {
                row[tri + a] = rw * x[a] * yn[s];
            }
            row[tri + k] = rw * yn[s] * yn[s];
            row[tri + k + 1] = rw;
            row[tri + k + 2] = rw * yn[s];
            if let Some(c) = scope_of[s]
                && c < eq_scopes
            {
                let w = geo.weights[s];
                let at = base + c * (k + 1);
                for a in 0..k {
                    row[at + a] = w * x[a];
                }
                row[at + k] = w * (design.target[s] - design.offset[s]);
            }
        });
        let totals = reps.totals(&v, width);
        return (0..reps.len())
            .into_par_iter()
            .map(|r| {
                if cancelled() {
                    return None;
                }
                let t = &totals[r * width..(r + 1) * width];
                let mut m = Moments {
                    k,
                    n,
                    xtwx: vec![0.0; k * k],
                    xtwy: t[tri..tri + k].to_vec(),
                    ytwy: t[tri + k],
                    sw: t[tri + k + 1],
                    swy: t[tri + k + 2],
                };
                let mut i = 0;
                for a in 0..k {
                    for b in a..k {
                        m.xtwx[a * k + b] = t[i];
                        m.xtwx[b * k + a] = t[i];
                        i += 1;
                    }
                }
                let mut eq = Equalities::default();
                for c in 0..eq_scopes {
                    let at = base + c * (k + 1);
                    eq.a.extend_from_slice(&t[at..at + k]);
                    eq.b.push(t[at + k]);
                }
                let theta = solve_constrained(&m, &eq, &ineq).ok()?.estimate.theta;
                if kkt {
                    return Some(theta);
                }
                let mut mult = vec![0.0; n];
                reps.multipliers(r, &mut mult);
                point_values(&theta, &mult)
            })
            .collect();
    }
    (0..reps.len())
        .into_par_iter()
        .map(|r| {
            if cancelled() {
                return None;
            }
            let mut mult = vec![0.0; n];
            reps.multipliers(r, &mut mult);
            let rw: Vec<f64> = geo
                .regression_weights
                .iter()
                .zip(&mult)
                .map(|(a, b)| a * b)
                .collect();
            let w: Vec<f64> = geo.weights.iter().zip(&mult).map(|(a, b)| a * b).collect();
            let eq = if kkt {
                let g = Geography {
                    weights: &w,
                    ..*geo
                };
                equalities(design, &g, scopes).ok()?
            } else {
                Equalities::default()
            };
            let theta = match o.loss {
                Loss::Huber => {
                    let config = HuberConfig {
                        t: o.huber_t,
                        ..HuberConfig::default()
                    };
                    huber(&design.x, &yn, &rw, k, &eq, &ineq, &config)
                        .ok()?
                        .estimate
                        .theta
                }
                Loss::Median => median_fit(&design.x, &yn, &rw, k, &eq, &ineq).ok()?.theta,
                Loss::Wls => unreachable!("least squares reads the replicates' moments"),
            };
            point_values(&theta, &mult)
        })
        .collect()
}

/// Two-sided normal intervals at level `confidence`: `estimate ∓ z · se`, `z` the
/// standard normal quantile of `1 − (1 − confidence) / 2`; `None` where there is no
/// standard error. Returns the lower and the upper ends.
pub fn normal_intervals(
    estimate: &[f64],
    se: &[Option<f64>],
    confidence: f64,
) -> (Vec<Option<f64>>, Vec<Option<f64>>) {
    let q = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let end = |sign: f64| {
        estimate
            .iter()
            .zip(se)
            .map(|(e, s)| s.map(|s| e + sign * q * s))
            .collect()
    };
    (end(-1.0), end(1.0))
}

/// Fit quality (the formula's funding against the cost it is calibrated on) and gains (a
/// service's whole funding — the formula's and the hours `carried` by the hour — against
/// its whole baseline).
pub fn metrics(
    cost: &[f64],
    funding: &[f64],
    baseline: &[f64],
    carried: &[f64],
    w: &[f64],
) -> Metrics {
    let n = cost.len();
    // One pass for every sum that needs the funding (each sum's terms in service order,
    // so the same bits as a pass per sum), one for the spread of costs around their mean.
    let [
        mut sw,
        mut wc,
        mut ssr,
        mut positive,
        mut ape,
        mut within,
        mut gain,
        mut loss,
    ] = [Compensated::default(); 8];
    let (mut gains, mut losses) = (0, 0);
    for s in 0..n {
        let (c, f, ws) = (cost[s], funding[s], w[s]);
        sw.add(ws);
        wc.add(ws * c);
        ssr.add(ws * (c - f).powi(2));
        let pos = c > 0.0;
        positive.add(if pos { ws } else { 0.0 });
        ape.add(if pos { ws * (c - f).abs() / c } else { 0.0 });
        within.add(if (f - c).abs() <= 0.1 * c.abs() {
            ws
        } else {
            0.0
        });
        let (after, before) = (f + carried[s], baseline[s] + carried[s]);
        let (g, l) = (after > 1.05 * before, after < 0.95 * before);
        gain.add(if g { ws } else { 0.0 });
        loss.add(if l { ws } else { 0.0 });
        gains += usize::from(g);
        losses += usize::from(l);
    }
    let sw = sw.value();
    if sw <= 0.0 {
        return Metrics::default();
    }
    let mean = wc.value() / sw;
    let sst = compensated_sum(n, |s| w[s] * (cost[s] - mean).powi(2));
    let (ssr, positive) = (ssr.value(), positive.value());
    Metrics {
        r2: if sst > 0.0 { 1.0 - ssr / sst } else { 0.0 },
        rmse: (ssr / sw).sqrt(),
        mape: if positive > 0.0 {
            ape.value() / positive
        } else {
            0.0
        },
        within_10pct: within.value() / sw,
        winners_5pct: gain.value() / sw,
        losers_5pct: loss.value() / sw,
        winners_5pct_services: gains,
        losers_5pct_services: losses,
    }
}

#[cfg(test)]
mod tests {
    use super::normal_quantile;

    #[test]
    fn normal_quantiles_match_scipy() {
        // scipy.stats.norm.ppf.
        assert!((normal_quantile(0.975) - 1.959963984540054).abs() < 1e-14);
        assert!((normal_quantile(0.995) - 2.5758293035489004).abs() < 1e-14);
        assert!((normal_quantile(0.75) - 0.6744897501960817).abs() < 1e-14);
        assert!((normal_quantile(0.001) + 3.090232306167813).abs() < 1e-14);
    }
}
