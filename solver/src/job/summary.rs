//! A job's summary (`summary.json`): what was run, on what, and the headline figures —
//! the national totals, the fit's quality, the guarantees, the constraints. Its shape is a
//! contract read by clients (tests, notebooks, peer scripts): keys are the field names
//! below, the job kind is the `command` key, and the provenance's keys sit beside the
//! job's.
//!
//! Numbers that can be undefined (a weighted R² without variance) are written as `null`
//! and read back as NaN.

use dotation_core::aggregate::Drivers;
use dotation_core::baseline::{Baseline, Totals};
use dotation_core::tables::Microdata;
use serde::{Deserialize, Deserializer, Serialize};

use crate::calibrate::Calibration;
use crate::crossval::CrossValidation;
use crate::formula::Design;
use crate::guarantees::Report;
use crate::job::law::LawReport;
use crate::neutrality::compensated_sum;
use crate::spec::{JobSpec, Method, Order};

/// `summary.json`: the job's figures and where they come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// The job's figures, by kind.
    #[serde(flatten)]
    pub job: JobSummary,
    /// The spec, data and program that produced them.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// The survey weights the job calibrated first (a spec with `[weights]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<super::WeightsSummary>,
}

/// Where a result comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// SHA-256 of the spec's canonical JSON.
    pub spec_hash: String,
    /// The data, in words.
    pub data: String,
    /// SHA-256 of the data.
    pub data_hash: String,
    /// dotation's version.
    pub version: String,
}

/// The figures of a job, by kind (the `command` key).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum JobSummary {
    /// `dotation baseline`.
    Baseline(BaselineSummary),
    /// `dotation calibrate`.
    Calibrate(Box<CalibrationSummary>),
    /// `dotation compare`.
    Compare(Box<super::CompareSummary>),
    /// `dotation sweep`.
    Sweep(Box<super::SweepSummary>),
    /// `dotation weights`.
    Weights(Box<super::WeightsSummary>),
    /// `dotation apply`.
    Apply(Box<super::ApplySummary>),
}

/// Reads `null` as NaN (an undefined figure).
fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

/// The summary of a baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineSummary {
    /// The data's year.
    pub year: i32,
    /// The floor tariff, €/h.
    pub floor: f64,
    /// The MTP used, €/month.
    pub mtp: Option<f64>,
    /// Services in the data.
    pub services: usize,
    /// Users in the data.
    pub users: usize,
    /// Visits (`None` without a visits table).
    pub visits: Option<u64>,
    /// Weeks of visits observed.
    pub weeks_observed: f64,
    /// Services with APA hours but no APA user (participation counted as zero).
    pub services_without_apa_users: usize,
    /// Weighted national totals.
    pub national: BaselineTotals,
}

impl BaselineSummary {
    /// The summary of `b`, the baseline of `micro`.
    pub fn new(micro: &Microdata, drivers: &Drivers, b: &Baseline) -> BaselineSummary {
        BaselineSummary {
            year: micro.year,
            floor: b.rules.floor,
            mtp: b.rules.mtp,
            services: micro.services.len(),
            users: micro.users.len(),
            visits: drivers.visits,
            weeks_observed: drivers.weeks,
            services_without_apa_users: b.services_without_apa_users,
            national: BaselineTotals::from(&b.national),
        }
    }
}

/// Weighted totals of a baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineTotals {
    /// Σ weights: the services represented.
    #[serde(deserialize_with = "nan_if_null")]
    pub services: f64,
    /// Hours funded, h/year.
    #[serde(deserialize_with = "nan_if_null")]
    pub hours_funded: f64,
    /// Baseline funding, €/year.
    #[serde(deserialize_with = "nan_if_null")]
    pub baseline_funding: f64,
    /// Users' legal participation, €/year.
    #[serde(deserialize_with = "nan_if_null")]
    pub user_participation: f64,
    /// Public cost, €/year.
    #[serde(deserialize_with = "nan_if_null")]
    pub public_cost: f64,
    /// The services' cost, €/year.
    #[serde(deserialize_with = "nan_if_null")]
    pub cost_total: f64,
}

impl From<&Totals> for BaselineTotals {
    fn from(t: &Totals) -> BaselineTotals {
        BaselineTotals {
            services: t.services,
            hours_funded: t.hours_funded,
            baseline_funding: t.funding,
            user_participation: t.user_participation,
            public_cost: t.public_cost,
            cost_total: t.cost_total,
        }
    }
}

/// The summary of a calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationSummary {
    /// The formula's name.
    pub formula: String,
    /// The loss (`wls`, `huber`, `median`).
    pub loss: String,
    /// The neutrality method (`kkt`, `point_values`).
    pub method: String,
    /// The neutrality scope's name.
    pub neutrality_scope: String,
    /// The largest relative neutrality gap achieved.
    #[serde(deserialize_with = "nan_if_null")]
    pub neutrality_residual: f64,
    /// Weighted R² of cost on funding.
    #[serde(deserialize_with = "nan_if_null")]
    pub r2: f64,
    /// Weighted root mean squared error, €.
    #[serde(deserialize_with = "nan_if_null")]
    pub rmse: f64,
    /// Weighted mean absolute percentage error.
    #[serde(deserialize_with = "nan_if_null")]
    pub mape: f64,
    /// Weighted share of services within ±10 % of their cost.
    #[serde(deserialize_with = "nan_if_null")]
    pub within_10pct: f64,
    /// Weighted share of services gaining more than 5 %.
    #[serde(deserialize_with = "nan_if_null")]
    pub winners_5pct: f64,
    /// Weighted share of services losing more than 5 %.
    #[serde(deserialize_with = "nan_if_null")]
    pub losers_5pct: f64,
    /// Sampled services gaining more than 5 %.
    pub winners_5pct_services: usize,
    /// Sampled services losing more than 5 %.
    pub losers_5pct_services: usize,
    /// Parameters of the design.
    pub parameters: usize,
    /// Services in the data.
    pub services: usize,
    /// Users in the data.
    pub users: usize,
    /// The data's year.
    pub year: i32,
    /// The floor tariff of the baseline, €/h.
    pub floor: f64,
    /// Iterations of an iterative fit.
    pub iterations: usize,
    /// Whether an iterative fit converged.
    pub converged: bool,
    /// Huber's scale, €.
    pub huber_scale: Option<f64>,
    /// Bootstrap replicates that failed.
    pub failed_bootstrap_replicates: usize,
    /// Every guarantee checked on the calibrated funding.
    pub guarantees: Report,
    /// The law's limits on the model: PCH, APA ceilings, activity in hours, the
    /// participation option in law, the budget calibrated to.
    pub law: LawReport,
    /// The guarantees asked as constraints and how they bind.
    pub constraints: ConstraintsSummary,
    /// Weighted national totals.
    pub national: CalibratedTotals,
    /// Out-of-sample fit (when the spec asks for cross-validation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
    /// The spec run.
    pub spec: JobSpec,
}

impl CalibrationSummary {
    /// The summary of calibration `cal` of `design` under `spec`, with `rows` constraint
    /// rows, the guarantees' `report` and the law's limits `law`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        spec: &JobSpec,
        micro: &Microdata,
        baseline: &Baseline,
        design: &Design,
        cal: &Calibration,
        report: &Report,
        law: &LawReport,
        rows: usize,
    ) -> CalibrationSummary {
        let mt = &cal.metrics;
        let w = &micro.services.design_weight;
        CalibrationSummary {
            formula: spec.formula.kind.name().to_string(),
            loss: format!("{:?}", spec.calibration.loss).to_lowercase(),
            method: match spec.calibration.method {
                Method::Kkt => "kkt",
                Method::PointValues => "point_values",
            }
            .to_string(),
            neutrality_scope: spec.neutrality.scope.name().to_string(),
            neutrality_residual: cal.neutrality_residual,
            r2: mt.r2,
            rmse: mt.rmse,
            mape: mt.mape,
            within_10pct: mt.within_10pct,
            winners_5pct: mt.winners_5pct,
            losers_5pct: mt.losers_5pct,
            winners_5pct_services: mt.winners_5pct_services,
            losers_5pct_services: mt.losers_5pct_services,
            parameters: design.k,
            services: micro.services.len(),
            users: micro.users.len(),
            year: micro.year,
            floor: baseline.rules.floor,
            iterations: cal.info.iterations,
            converged: cal.info.converged,
            huber_scale: cal.info.scale,
            failed_bootstrap_replicates: cal.info.failed_replicates,
            guarantees: report.clone(),
            law: law.clone(),
            constraints: ConstraintsSummary {
                asked: spec
                    .guarantees
                    .constrain
                    .iter()
                    .map(|g| g.name().to_string())
                    .collect(),
                rows,
                binding: cal.info.binding.len(),
                binding_first: cal.info.binding.iter().take(20).cloned().collect(),
                polished: cal.info.polished,
                order: OrderCheck::all(spec, cal),
            },
            national: CalibratedTotals {
                baseline_total: weighted(w, &design.baseline) + weighted(w, &design.carried),
                funding_total: weighted(w, &cal.funding) + weighted(w, &design.carried),
                cost_total: weighted(w, &design.cost),
            },
            cross_validation: None,
            spec: spec.clone(),
        }
    }
}

/// `Σ w·v`, compensated.
fn weighted(w: &[f64], v: &[f64]) -> f64 {
    compensated_sum(v.len(), |i| w[i] * v[i])
}

/// The guarantees asked as constraints and how they bind at the solution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConstraintsSummary {
    /// The guarantees asked as constraints, by name.
    pub asked: Vec<String>,
    /// Constraint rows (one per service and guarantee, and per order).
    pub rows: usize,
    /// Rows binding at the solution.
    pub binding: usize,
    /// The first 20 binding rows, by label.
    pub binding_first: Vec<String>,
    /// Whether the solution was polished to the exact KKT point.
    pub polished: bool,
    /// Each order of `guarantees.order` at the estimates.
    pub order: Vec<OrderCheck>,
}

/// One order between two parameters at the estimates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OrderCheck {
    /// The parameter that must not be below the other.
    pub greater: String,
    /// The other.
    pub lesser: String,
    /// Its estimate (`None` when the formula has no such parameter).
    pub greater_estimate: Option<f64>,
    /// Its estimate.
    pub lesser_estimate: Option<f64>,
    /// Whether the order holds (to 1e-9 relative).
    pub holds: bool,
}

impl OrderCheck {
    /// Each order of the spec's `guarantees.order`, at `cal`'s estimates.
    fn all(spec: &JobSpec, cal: &Calibration) -> Vec<OrderCheck> {
        let value = |name: &str| {
            cal.names
                .iter()
                .position(|n| n == name)
                .map(|j| cal.estimate[j])
        };
        spec.guarantees
            .order
            .iter()
            .filter_map(|text| Order::parse(text))
            .map(|o| {
                let (g, l) = (value(&o.greater), value(&o.lesser));
                OrderCheck {
                    holds: matches!((g, l), (Some(g), Some(l)) if g >= l - 1e-9 * g.abs().max(l.abs()).max(1.0)),
                    greater: o.greater,
                    lesser: o.lesser,
                    greater_estimate: g,
                    lesser_estimate: l,
                }
            })
            .collect()
    }
}

/// Weighted national totals of a calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibratedTotals {
    /// Baseline funding of the services' APA, PCH and social-aid hours (and dotation
    /// complémentaire), €/year.
    #[serde(deserialize_with = "nan_if_null")]
    pub baseline_total: f64,
    /// Funding under the model: the formula's, plus the hours it does not fund, still paid
    /// by the hour, €/year.
    #[serde(deserialize_with = "nan_if_null")]
    pub funding_total: f64,
    /// The cost calibrated against, €/year.
    #[serde(deserialize_with = "nan_if_null")]
    pub cost_total: f64,
}
