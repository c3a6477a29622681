//! A comparison (`kind = "compare"`): several formulas calibrated on the same validated
//! data — the data aggregated once, each candidate's design built from the same drivers —
//! each cross-validated, side by side in one table a modeller can take to a steering
//! committee: parameters, in-sample and out-of-sample fit, the neutrality residual,
//! winners and losers, each guarantee's violations, and the conflict when a candidate's
//! guarantees cannot hold (a row, not a failed job).

use dotation_core::Dataset;
use serde::{Deserialize, Serialize};

use super::{CalibrationJob, JobContext, calibration_options, design_of, prepare_baseline};
use crate::calibrate::Geography;
use crate::crossval::{CrossValidation, cross_validate};
use crate::error::JobError;
use crate::spec::{CrossValidationSpec, JobSpec};

/// What a comparison computes.
#[derive(Clone, Debug)]
pub struct CompareJob {
    /// Every candidate, in the spec's order.
    pub candidates: Vec<CandidateOutcome>,
    /// The summary.
    pub summary: CompareSummary,
}

/// One candidate of a comparison.
#[derive(Clone, Debug)]
pub struct CandidateOutcome {
    /// The candidate's calibration spec.
    pub spec: JobSpec,
    /// Its calibration, or why it could not be computed.
    pub result: Result<CalibrationJob, String>,
    /// Its row of the comparison.
    pub row: CandidateRow,
}

/// One candidate's line of the comparison (`candidates` table, `summary.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CandidateRow {
    /// The candidate's name.
    pub name: String,
    /// Formula kind.
    pub formula: String,
    /// Loss.
    pub loss: String,
    /// Neutrality method.
    pub method: String,
    /// Neutrality scope.
    pub neutrality_scope: String,
    /// Whether the calibration was computed (its guarantees hold together).
    pub feasible: bool,
    /// Why not: the conflict between guarantees, or what prevents the fit.
    pub conflict: Option<String>,
    /// Parameters of the design.
    pub parameters: usize,
    /// Weighted in-sample R².
    pub r2: Option<f64>,
    /// In-sample RMSE, €.
    pub rmse: Option<f64>,
    /// In-sample MAPE.
    pub mape: Option<f64>,
    /// In-sample share within ±10 % of cost.
    pub within_10pct: Option<f64>,
    /// Cross-validated RMSE, €.
    pub cv_rmse: Option<f64>,
    /// Cross-validated MAPE.
    pub cv_mape: Option<f64>,
    /// Cross-validated share within ±10 % of cost.
    pub cv_within_10pct: Option<f64>,
    /// Cross-validated R².
    pub cv_r2: Option<f64>,
    /// The largest relative neutrality gap.
    pub neutrality_residual: Option<f64>,
    /// Weighted national funding, €.
    pub funding_total: Option<f64>,
    /// Weighted share of services gaining more than 5 %.
    pub winners_5pct: Option<f64>,
    /// Weighted share of services losing more than 5 %.
    pub losers_5pct: Option<f64>,
    /// Users whose out-of-pocket rises.
    pub out_of_pocket_rising: Option<usize>,
    /// NHAS services whose funding falls.
    pub nhas_price_violations: Option<usize>,
    /// HAS services funded below cost.
    pub has_cover_violations: Option<usize>,
    /// Services losing more than the transition limit.
    pub transition_violations: Option<usize>,
}

/// The summary of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompareSummary {
    /// One row per candidate.
    pub candidates: Vec<CandidateRow>,
    /// The candidate with the lowest cross-validated RMSE.
    pub best_cross_validated: Option<String>,
    /// Folds of the cross-validation.
    pub folds: usize,
    /// Seed of the folds.
    pub seed: u64,
    /// Services in the data.
    pub services: usize,
    /// The spec run.
    pub spec: JobSpec,
}

/// Runs a comparison: every candidate calibrated and cross-validated on the same data.
pub(super) fn run_compare(
    spec: &JobSpec,
    data: &Dataset,
    ctx: &JobContext,
) -> Result<CompareJob, JobError> {
    let cv = spec.cross_validation.unwrap_or_default();
    let candidates = spec.candidate_specs();
    let count = candidates.len() as f64;
    let mut outcomes = Vec::with_capacity(candidates.len());
    for (i, (name, c)) in candidates.into_iter().enumerate() {
        let part = ctx.part(
            0.5 + 0.45 * i as f64 / count,
            0.5 + 0.45 * (i + 1) as f64 / count,
        );
        outcomes.push(candidate(&name, c, data, &cv, &part)?);
    }
    let best = outcomes
        .iter()
        .filter_map(|o| o.row.cv_rmse.map(|r| (r, &o.row.name)))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, n)| n.clone());
    ctx.step(0.95)?;
    let summary = CompareSummary {
        candidates: outcomes.iter().map(|o| o.row.clone()).collect(),
        best_cross_validated: best,
        folds: cv.folds,
        seed: cv.seed,
        services: data.micro.services.len(),
        spec: spec.clone(),
    };
    Ok(CompareJob {
        candidates: outcomes,
        summary,
    })
}

/// One candidate: its calibration (a failure other than cancellation is its row's
/// conflict) and its cross-validation.
fn candidate(
    name: &str,
    spec: JobSpec,
    data: &Dataset,
    cv: &CrossValidationSpec,
    ctx: &JobContext,
) -> Result<CandidateOutcome, JobError> {
    let result = match super::run_calibrate(&spec, data, ctx) {
        Ok(job) => Ok(job),
        Err(JobError::Cancelled) => return Err(JobError::Cancelled),
        Err(e) => Err(e.to_string()),
    };
    // The out-of-sample error of the formula and its loss (guarantees are not imposed in
    // the folds), computed for an infeasible candidate too.
    let baseline = prepare_baseline(&spec, data, ctx)?;
    let m = &data.micro;
    let cross = match design_of(&spec, data, &baseline) {
        Ok((design, rw)) => {
            let geo = Geography {
                weights: &m.services.design_weight,
                regression_weights: &rw,
                departement: &m.services.departement,
                codes: &m.departements.code,
                design: Some(&m.services.design),
            };
            let cancelled = || ctx.cancelled();
            let options = calibration_options(&spec);
            match cross_validate(
                &design,
                &geo,
                &m.services.design.stratum,
                &options,
                cv.folds,
                cv.seed,
                &cancelled,
            ) {
                Ok(c) => Some(c),
                Err(_) if cancelled() => return Err(JobError::Cancelled),
                Err(_) => None,
            }
        }
        Err(_) => None,
    };
    let row = row(name, &spec, &result, cross.as_ref());
    Ok(CandidateOutcome { spec, result, row })
}

fn row(
    name: &str,
    spec: &JobSpec,
    result: &Result<CalibrationJob, String>,
    cv: Option<&CrossValidation>,
) -> CandidateRow {
    let ok = result.as_ref().ok();
    let s = ok.map(|j| &j.summary);
    let g = ok.map(|j| &j.guarantees);
    CandidateRow {
        name: name.to_string(),
        formula: spec.formula.kind.name().to_string(),
        loss: format!("{:?}", spec.calibration.loss).to_lowercase(),
        method: match spec.calibration.method {
            crate::spec::Method::Kkt => "kkt".into(),
            crate::spec::Method::PointValues => "point_values".into(),
        },
        neutrality_scope: spec.neutrality.scope.name().to_string(),
        feasible: ok.is_some(),
        conflict: result.as_ref().err().cloned(),
        parameters: ok.map_or(0, |j| j.design.k),
        r2: s.map(|s| s.r2),
        rmse: s.map(|s| s.rmse),
        mape: s.map(|s| s.mape),
        within_10pct: s.map(|s| s.within_10pct),
        cv_rmse: cv.map(|c| c.rmse),
        cv_mape: cv.map(|c| c.mape),
        cv_within_10pct: cv.map(|c| c.within_10pct),
        cv_r2: cv.map(|c| c.r2),
        neutrality_residual: s.map(|s| s.neutrality_residual),
        funding_total: s.map(|s| s.national.funding_total),
        winners_5pct: s.map(|s| s.winners_5pct),
        losers_5pct: s.map(|s| s.losers_5pct),
        out_of_pocket_rising: g.map(|g| g.out_of_pocket.rising),
        nhas_price_violations: g.map(|g| g.nhas_price.violations),
        has_cover_violations: g.map(|g| g.has_cover.violations),
        transition_violations: g.map(|g| g.transition.violations),
    }
}
