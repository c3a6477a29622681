//! The apply job: a finished calibration's parameters carried to another dataset — the
//! national frame, next year's data, census data without visit logs — with its funding
//! of every service, neutrality re-established there by one point value per scope (or
//! the residual reported as is), every guarantee and the impact tables.

use dotation_core::Dataset;
use dotation_core::out_of_pocket::OutOfPocket;
use serde::{Deserialize, Serialize};

use super::{
    CalibrationJob, CalibrationSummary, Fitted, JobContext, calibration_options, design_of, finish,
    prepare_baseline,
};
use crate::calibrate::{Geography, apply_parameters};
use crate::error::{JobError, SpecError};
use crate::formula::funded_mask;
use crate::spec::{ApplyNeutrality, JobKind, JobSpec};

/// One parameter of the calibration applied, as its `parameters` table holds it.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceParameter {
    /// Name.
    pub name: String,
    /// Estimate.
    pub estimate: f64,
    /// Standard error.
    pub std_error: Option<f64>,
    /// Interval.
    pub ci_low: Option<f64>,
    /// Interval.
    pub ci_high: Option<f64>,
}

/// A finished calibration, as an apply job reads it (a result folder on the command line,
/// a job's stored results on the server).
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedCalibration {
    /// Where it comes from (a folder, a job id), for the summary.
    pub source: String,
    /// Its spec (from its `summary.json`).
    pub spec: JobSpec,
    /// Its parameters.
    pub parameters: Vec<SourceParameter>,
    /// Its point value of every département (`departements` table), by code.
    pub point_values: Vec<(String, f64)>,
    /// SHA-256 of its spec and data, from its provenance.
    pub spec_hash: String,
    /// The data it was calibrated on, in words.
    pub data: String,
}

/// A calibration applied: the same tables as a calibration, and what applying did.
#[derive(Clone, Debug)]
pub struct ApplyJob {
    /// Funding, guarantees and impact on the target.
    pub job: CalibrationJob,
    /// The summary.
    pub summary: ApplySummary,
}

/// `summary.json` of an apply job: a calibration's summary on the target, with the source
/// and the neutrality re-established.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplySummary {
    /// The calibration's figures on the target.
    #[serde(flatten)]
    pub calibration: CalibrationSummary,
    /// The calibration applied.
    pub source: String,
    /// Its spec hash.
    pub source_spec_hash: String,
    /// The data it was calibrated on.
    pub source_data: String,
    /// `point_value` or `none`.
    pub applied_neutrality: String,
    /// The largest relative budget gap of the parameters as calibrated, before any point
    /// value of the target (`null` when the source has no point value for some scope of
    /// the target, e.g. a département the survey did not sample).
    pub residual_as_calibrated: Option<f64>,
    /// The point value of every neutrality scope on the target, by scope: a factor on the
    /// formula's funding for an exact (KKT) fit (1 = the funding as calibrated), the
    /// formula's own point value for the point-value method.
    pub point_values: Vec<ScopeValue>,
    /// Parameters of the source the target's design does not use (a group absent from
    /// the target).
    pub unused_parameters: Vec<String>,
}

/// A scope's point value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScopeValue {
    /// `national` or a département's code.
    pub scope: String,
    /// The value.
    pub value: f64,
}

/// Applies `source` to `data` as `spec` (`kind = "apply"`) asks.
pub fn run_apply(
    spec: &JobSpec,
    source: &AppliedCalibration,
    data: &Dataset,
    ctx: &JobContext,
) -> Result<ApplyJob, JobError> {
    let apply = spec.apply.clone().unwrap_or_default();
    if !matches!(source.spec.kind, JobKind::Calibrate) {
        return Err(SpecError::Inconsistent {
            key: "apply.source".into(),
            message: format!(
                "{} is not a calibration (its kind is {:?}): apply the result of a calibrate job",
                source.source, source.spec.kind
            ),
        }
        .into());
    }
    // The source's formula, baseline, neutrality and guarantees (reported, not imposed:
    // the parameters are given), on the target's data and weights.
    let mut target = source.spec.clone();
    target.data = spec.data.clone();
    target.year = spec.year;
    target.weights = None;
    target.cross_validation = None;
    target.guarantees.constrain.clear();
    target.guarantees.order.clear();
    let baseline = prepare_baseline(&target, data, ctx)?;
    let m = &data.micro;
    let (design, regression_weights) = design_of(&target, data, &baseline)?;
    let funded = funded_mask(&target.formula)?;
    ctx.step(0.7)?;
    let mut theta = Vec::with_capacity(design.k);
    let mut intervals = Vec::with_capacity(design.k);
    let mut missing = Vec::new();
    for name in &design.names {
        match source.parameters.iter().find(|p| &p.name == name) {
            Some(p) => {
                theta.push(p.estimate);
                intervals.push((p.std_error, p.ci_low, p.ci_high));
            }
            None => missing.push(name.clone()),
        }
    }
    if !missing.is_empty() {
        return Err(SpecError::Data {
            key: "apply.source".into(),
            message: format!(
                "the formula on these data has parameters the calibration {} did not estimate: {} (a group or driver with services here and none in the data calibrated on)",
                source.source,
                missing.join(", ")
            ),
        }
        .into());
    }
    let unused_parameters: Vec<String> = source
        .parameters
        .iter()
        .filter(|p| p.name != "point_value" && !design.names.contains(&p.name))
        .map(|p| p.name.clone())
        .collect();
    let national_value = source
        .parameters
        .iter()
        .find(|p| p.name == "point_value")
        .map(|p| p.estimate);
    let source_values = |scope: &str| -> Option<f64> {
        if scope == "national" {
            return national_value;
        }
        source
            .point_values
            .iter()
            .find(|(code, _)| code == scope)
            .map(|(_, v)| *v)
    };
    let geo = Geography {
        weights: &m.services.design_weight,
        regression_weights: &regression_weights,
        departement: &m.services.departement,
        codes: &m.departements.code,
        design: Some(&m.services.design),
    };
    let options = calibration_options(&target);
    let restore = apply.neutrality == ApplyNeutrality::PointValue;
    let (calibration, residual_as_calibrated) = apply_parameters(
        &design,
        &geo,
        &options,
        &theta,
        &intervals,
        &source_values,
        restore,
    )
    .map_err(JobError::Calibration)?;
    let point_values = scope_values(&target, m, &calibration);
    let mut oop = OutOfPocket::new(m, &data.drivers, &baseline)?;
    oop.restrict_to(funded);
    oop.set_resources_only_gir4(target.guarantees.resources_only_gir4);
    ctx.step(0.9)?;
    let job = finish(
        &target,
        data,
        Fitted {
            baseline,
            design,
            regression_weights,
            calibration,
            rows: 0,
        },
        &oop,
        ctx,
    )?;
    let summary = ApplySummary {
        calibration: job.summary.clone(),
        source: source.source.clone(),
        source_spec_hash: source.spec_hash.clone(),
        source_data: source.data.clone(),
        applied_neutrality: match apply.neutrality {
            ApplyNeutrality::PointValue => "point_value".into(),
            ApplyNeutrality::None => "none".into(),
        },
        residual_as_calibrated,
        point_values,
        unused_parameters,
    };
    Ok(ApplyJob { job, summary })
}

/// The point value of every scope, as the calibration holds them by département.
fn scope_values(
    spec: &JobSpec,
    m: &dotation_core::tables::Microdata,
    c: &crate::calibrate::Calibration,
) -> Vec<ScopeValue> {
    use crate::spec::Scope;
    match spec.neutrality.scope {
        Scope::None => Vec::new(),
        Scope::National => c
            .point_values
            .iter()
            .flatten()
            .next()
            .map(|&value| {
                vec![ScopeValue {
                    scope: "national".into(),
                    value,
                }]
            })
            .unwrap_or_default(),
        Scope::Departement => c
            .point_values
            .iter()
            .zip(&m.departements.code)
            .filter_map(|(v, code)| {
                v.map(|value| ScopeValue {
                    scope: code.clone(),
                    value,
                })
            })
            .collect(),
    }
}
