//! A sweep (`kind = "sweep"`): one formula calibrated under many policy settings — budget
//! changes, transition limits, the baseline's floor tariff, participation options, a
//! mixte formula's hourly rate, neutrality scopes, funded allowances — one row per
//! scenario: its parameters, totals, winners and losers, each guarantee's violations,
//! feasible or the conflict named (an infeasible scenario is a row, not a failed job).
//!
//! The data are aggregated once. Scenarios that share the baseline and the formula share
//! one design and one out-of-pocket table; within them, each scenario is a refit from the
//! design, never from the microdata. Where the fit is a least-squares fit under
//! neutrality equalities only (no guarantee imposed, no floor or cap per hour), the
//! parameters are affine in the budget change's factor `f` — the equalities' right-hand
//! side is `f·ΣwF0 − Σw·a` — so two fits (`f = 1` and `f = 2`) give every budget's
//! parameters exactly, and each scenario costs one pass over the services. Users whose
//! out-of-pocket rises are counted from thresholds on each service's funding ratio
//! ([`RisingUsers`]), not by revisiting every user. Scenarios run in parallel, their
//! rows kept in the spec's order: the same bits on any number of threads.

use std::collections::BTreeMap;

use dotation_core::Dataset;
use dotation_core::out_of_pocket::OutOfPocket;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{JobContext, calibration_options, design_of, prepare_baseline};
use crate::calibrate::{Calibration, Geography, calibrate};
use crate::error::JobError;
use crate::formula::{Design, funded_mask};
use crate::guarantees::{self, GuaranteeInput, RisingUsers, ServiceRequirements};
use crate::neutrality::{Compensated, NeutralityScope, compensated_sum, relative_gap, residuals};
use crate::spec::{JobSpec, Loss, Method, Scenario, Scope};

/// What a sweep computes.
#[derive(Clone, Debug)]
pub struct SweepJob {
    /// Every scenario's parameters, long: `(scenario index, name, estimate)`.
    pub parameters: Vec<(usize, String, f64)>,
    /// The summary, with one row per scenario in the spec's order.
    pub summary: SweepSummary,
}

/// One scenario's line of a sweep (`scenarios` table).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ScenarioRow {
    /// Position in the sweep.
    pub index: usize,
    /// Its name (given, or its settings).
    pub name: String,
    /// The budget change in % (absent: none).
    pub budget_change_percent: Option<f64>,
    /// The budget change in € (absent: none).
    pub budget_change_euros: Option<f64>,
    /// The transition limit ℓ.
    pub transition_limit: f64,
    /// The baseline's floor tariff, €/h (absent: the year's).
    pub floor: Option<f64>,
    /// The participation option.
    pub participation: String,
    /// A mixte formula's fixed hourly rate, €/h.
    pub mixte_rate: Option<f64>,
    /// The neutrality scope.
    pub scope: String,
    /// The funded allowances, `+`-separated.
    pub funded: String,
    /// Whether the calibration was computed.
    pub feasible: bool,
    /// Why not: the conflict between guarantees, or what prevents the fit.
    pub conflict: Option<String>,
    /// Whether the scenario was refitted from two budget fits (`true`) or calibrated.
    pub refit: bool,
    /// Parameters of the design.
    pub parameters: usize,
    /// Weighted baseline of the funded allowances, €.
    pub formula_baseline_total: f64,
    /// What the formula must pay: that baseline changed by the budget change, €.
    pub target_total: f64,
    /// Weighted funding the formula pays, €.
    pub formula_funding_total: Option<f64>,
    /// Weighted whole baseline (the hours carried by the hour included), €.
    pub baseline_total: f64,
    /// Weighted whole funding, €.
    pub funding_total: Option<f64>,
    /// The largest relative neutrality gap against the target.
    pub neutrality_residual: Option<f64>,
    /// Weighted R² against cost.
    pub r2: Option<f64>,
    /// Weighted RMSE against cost, €.
    pub rmse: Option<f64>,
    /// Weighted share of services gaining more than 5 %.
    pub winners_5pct: Option<f64>,
    /// Weighted share of services losing more than 5 %.
    pub losers_5pct: Option<f64>,
    /// The formula's funding over the cost it is calibrated on (weighted totals).
    pub coverage: Option<f64>,
    /// Users whose out-of-pocket rises.
    pub out_of_pocket_rising: Option<usize>,
    /// Their weighted share of the users with an out-of-pocket.
    pub out_of_pocket_rising_share: Option<f64>,
    /// NHAS services whose funding falls.
    pub nhas_price_violations: Option<usize>,
    /// HAS services funded below cost.
    pub has_cover_violations: Option<usize>,
    /// Services losing more than the transition limit.
    pub transition_violations: Option<usize>,
}

/// The figures of a sweep (`summary.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepSummary {
    /// Scenarios.
    pub scenarios: usize,
    /// Scenarios computed.
    pub feasible: usize,
    /// Scenarios refitted from two budget fits.
    pub refitted: usize,
    /// Designs built (distinct baselines and formulas).
    pub designs: usize,
    /// The largest neutrality residual of the feasible scenarios.
    pub max_neutrality_residual: Option<f64>,
    /// Services in the data.
    pub services: usize,
    /// One row per scenario (also the `scenarios` table).
    pub rows: Vec<ScenarioRow>,
    /// The spec run.
    pub spec: JobSpec,
}

/// What every scenario of one design shares.
struct Shared<'a> {
    design: &'a Design,
    geo: &'a Geography<'a>,
    gi: GuaranteeInput<'a>,
    rising: [Option<RisingUsers>; 3],
    /// `Σ w F0` over the services (what a budget change's factor applies to).
    formula_baseline: f64,
    /// `Σ w K`: the hours carried by the hour.
    carried: f64,
    /// `Σ w`, `Σ w C` and `Σ w (C − C̄)²` of the services' costs.
    weight: f64,
    cost: f64,
    spread: f64,
    /// What each service-level guarantee requires of each service.
    requirements: ServiceRequirements,
}

/// Runs a sweep.
pub(super) fn run_sweep(
    spec: &JobSpec,
    data: &Dataset,
    ctx: &JobContext,
) -> Result<SweepJob, JobError> {
    let sweep = spec.sweep.clone().unwrap_or_default();
    let scenarios = sweep.scenarios()?;
    let specs: Vec<JobSpec> = scenarios.iter().map(|s| s.apply(spec)).collect();
    // Scenarios sharing a design: the same baseline and formula, in order of appearance.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
    for (i, s) in specs.iter().enumerate() {
        let key = serde_json::to_string(&(&s.baseline, &s.formula, &s.calibration.variance))
            .expect("a spec serialises");
        let g = *by_key.entry(key).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let mut rows: Vec<Option<ScenarioRow>> = vec![None; scenarios.len()];
    let mut parameters: Vec<Vec<(String, f64)>> = vec![Vec::new(); scenarios.len()];
    let count = groups.len() as f64;
    for (g, members) in groups.iter().enumerate() {
        let part = ctx.part(
            0.5 + 0.45 * g as f64 / count,
            0.5 + 0.45 * (g + 1) as f64 / count,
        );
        let out = group(&scenarios, &specs, members, data, &part)?;
        for (i, row, params) in out {
            rows[i] = Some(row);
            parameters[i] = params;
        }
    }
    ctx.step(0.95)?;
    let rows: Vec<ScenarioRow> = rows
        .into_iter()
        .map(|r| r.expect("every scenario has a row"))
        .collect();
    let parameters = parameters
        .into_iter()
        .enumerate()
        .flat_map(|(i, p)| p.into_iter().map(move |(n, v)| (i, n, v)))
        .collect();
    let summary = SweepSummary {
        scenarios: rows.len(),
        feasible: rows.iter().filter(|r| r.feasible).count(),
        refitted: rows.iter().filter(|r| r.refit).count(),
        designs: groups.len(),
        max_neutrality_residual: rows
            .iter()
            .filter_map(|r| r.neutrality_residual)
            .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r)))),
        services: data.micro.services.len(),
        rows,
        spec: spec.clone(),
    };
    Ok(SweepJob {
        parameters,
        summary,
    })
}

type Outcome = (usize, ScenarioRow, Vec<(String, f64)>);

/// The scenarios of one design.
fn group(
    scenarios: &[Scenario],
    specs: &[JobSpec],
    members: &[usize],
    data: &Dataset,
    ctx: &JobContext,
) -> Result<Vec<Outcome>, JobError> {
    let first = &specs[members[0]];
    let m = &data.micro;
    let w = &m.services.design_weight;
    // The design without budget change: each scenario sets its own target.
    let mut plain = first.clone();
    plain.neutrality.budget_change = None;
    let built = prepare_baseline(&plain, data, ctx).and_then(|baseline| {
        let (design, rw) = design_of(&plain, data, &baseline)?;
        let funded = funded_mask(&plain.formula)?;
        let mut oop = OutOfPocket::new(m, &data.drivers, &baseline)?;
        oop.restrict_to(funded);
        oop.set_resources_only_gir4(plain.guarantees.resources_only_gir4);
        Ok((design, rw, oop))
    });
    let (design, rw, oop) = match built {
        Ok(b) => b,
        Err(JobError::Cancelled) => return Err(JobError::Cancelled),
        Err(e) => {
            // The whole group is infeasible: one conflict for each of its scenarios.
            let why = e.to_string();
            return Ok(members
                .iter()
                .map(|&i| {
                    (
                        i,
                        empty_row(i, &scenarios[i], &specs[i], Some(why.clone())),
                        Vec::new(),
                    )
                })
                .collect());
        }
    };
    let geo = Geography {
        weights: w,
        regression_weights: &rw,
        departement: &m.services.departement,
        codes: &m.departements.code,
        design: Some(&m.services.design),
    };
    let gi = GuaranteeInput {
        micro: m,
        design: &design,
        oop: &oop,
    };
    let mut rising: [Option<RisingUsers>; 3] = [None, None, None];
    for &i in members {
        let p = specs[i].guarantees.participation;
        if rising[p.ordinal()].is_none() {
            rising[p.ordinal()] = Some(RisingUsers::new(&gi, p));
        }
    }
    let weight = compensated_sum(design.n, |s| w[s]);
    let mean_cost = compensated_sum(design.n, |s| w[s] * design.cost[s]) / weight;
    let shared = Shared {
        design: &design,
        geo: &geo,
        gi,
        rising,
        formula_baseline: compensated_sum(design.n, |s| w[s] * design.baseline[s]),
        carried: compensated_sum(design.n, |s| w[s] * design.carried[s]),
        weight,
        cost: compensated_sum(design.n, |s| w[s] * design.cost[s]),
        // As `metrics` computes it: around the weighted mean cost.
        spread: compensated_sum(design.n, |s| w[s] * (design.cost[s] - mean_cost).powi(2)),
        requirements: ServiceRequirements::new(&gi),
    };
    // Budget-only variations of one least-squares fit under equalities: two fits each.
    let mut refits: BTreeMap<String, Result<[Calibration; 2], String>> = BTreeMap::new();
    for &i in members {
        let s = &specs[i];
        if let Some(key) = refit_key(s) {
            if refits.contains_key(&key) {
                continue;
            }
            let fits = [1.0, 2.0].map(|f| fit_at(&shared, s, f, ctx));
            let fits = match fits {
                [Ok(a), Ok(b)] => Ok([a, b]),
                [Err(JobError::Cancelled), _] | [_, Err(JobError::Cancelled)] => {
                    return Err(JobError::Cancelled);
                }
                [Err(e), _] | [_, Err(e)] => Err(e.to_string()),
            };
            refits.insert(key, fits);
        }
    }
    let outcomes: Vec<Result<Outcome, JobError>> = members
        .par_iter()
        .map(|&i| {
            if ctx.cancelled() {
                return Err(JobError::Cancelled);
            }
            let s = &specs[i];
            let factor = s
                .neutrality
                .budget_change
                .map_or(1.0, |c| c.factor(shared.formula_baseline));
            let fitted = match refit_key(s).and_then(|k| refits.get(&k)) {
                Some(Ok([a, b])) => {
                    // θ(f) = θ(1) + (f − 1)(θ(2) − θ(1)).
                    let theta: Vec<f64> = a
                        .estimate
                        .iter()
                        .zip(&b.estimate)
                        .map(|(x, y)| x + (factor - 1.0) * (y - x))
                        .collect();
                    let funding = design.funding(&theta);
                    Ok((a.names.clone(), theta, funding, true))
                }
                Some(Err(why)) => Err(why.clone()),
                None => match fit_at(&shared, s, factor, ctx) {
                    Ok(c) => Ok((c.names, c.estimate, c.funding, false)),
                    Err(JobError::Cancelled) => return Err(JobError::Cancelled),
                    Err(e) => Err(e.to_string()),
                },
            };
            Ok(match fitted {
                Ok((names, estimate, funding, refit)) => {
                    let row = row(i, &scenarios[i], s, &shared, factor, &funding, refit);
                    (i, row, names.into_iter().zip(estimate).collect())
                }
                Err(why) => (i, empty_row(i, &scenarios[i], s, Some(why)), Vec::new()),
            })
        })
        .collect();
    outcomes.into_iter().collect()
}

/// The key of the fits a scenario's parameters can be refitted from, or `None` when it
/// needs a calibration of its own (guarantees imposed, orders, floors or caps, a loss
/// other than least squares, point values).
fn refit_key(s: &JobSpec) -> Option<String> {
    let c = &s.calibration;
    let plain = c.loss == Loss::Wls
        && c.method == Method::Kkt
        && s.guarantees.constrain.is_empty()
        && s.guarantees.order.is_empty()
        && s.formula.floor_per_hour.is_none()
        && s.formula.cap_per_hour.is_none();
    plain.then(|| {
        serde_json::to_string(&(&s.neutrality.scope, &s.calibration)).expect("a spec serialises")
    })
}

/// The calibration of scenario `s` with its target at `factor` × the baseline.
fn fit_at(
    shared: &Shared<'_>,
    s: &JobSpec,
    factor: f64,
    ctx: &JobContext,
) -> Result<Calibration, JobError> {
    let mut design = shared.design.clone();
    design.set_target_factor(factor);
    let mut options = calibration_options(s);
    options.with_errors = false;
    let gi = GuaranteeInput {
        design: &design,
        ..shared.gi
    };
    options.constraints =
        guarantees::constraints(&gi, &s.guarantees).map_err(|e| JobError::Calibration(e.into()))?;
    let cancelled = || ctx.cancelled();
    calibrate(&design, shared.geo, &options, &cancelled).map_err(|e| {
        if cancelled() {
            JobError::Cancelled
        } else {
            JobError::Calibration(e)
        }
    })
}

/// The settings columns of a scenario's row, its figures empty.
fn empty_row(
    index: usize,
    scenario: &Scenario,
    s: &JobSpec,
    conflict: Option<String>,
) -> ScenarioRow {
    let change = s.neutrality.budget_change;
    ScenarioRow {
        index,
        name: scenario.label(),
        budget_change_percent: change.and_then(|c| c.percent),
        budget_change_euros: change.and_then(|c| c.euros),
        transition_limit: s.guarantees.transition_limit,
        floor: s.baseline.floor,
        participation: s.guarantees.participation.name().to_string(),
        mixte_rate: match &s.formula.hourly_rate {
            Some(crate::spec::HourlyRate::Fixed(r)) => Some(*r),
            _ => None,
        },
        scope: s.neutrality.scope.name().to_string(),
        funded: s.formula.funded.join("+"),
        feasible: conflict.is_none(),
        conflict,
        refit: false,
        parameters: 0,
        formula_baseline_total: 0.0,
        target_total: 0.0,
        formula_funding_total: None,
        baseline_total: 0.0,
        funding_total: None,
        neutrality_residual: None,
        r2: None,
        rmse: None,
        winners_5pct: None,
        losers_5pct: None,
        coverage: None,
        out_of_pocket_rising: None,
        out_of_pocket_rising_share: None,
        nhas_price_violations: None,
        has_cover_violations: None,
        transition_violations: None,
    }
}

/// A computed scenario's row: one pass over the services for the fit, the totals,
/// winners and losers and the guarantees (the sums as `metrics` makes them, each in
/// service order), one for the neutrality residual.
fn row(
    index: usize,
    scenario: &Scenario,
    s: &JobSpec,
    shared: &Shared<'_>,
    factor: f64,
    funding: &[f64],
    refit: bool,
) -> ScenarioRow {
    let d = shared.design;
    let geo = shared.geo;
    let w = geo.weights;
    let limit = s.guarantees.transition_limit;
    let [mut ssr, mut gain, mut loss, mut paid, mut target] = [Compensated::default(); 5];
    let mut violations = [0usize; 3];
    for i in 0..d.n {
        let (f, wi) = (funding[i], w[i]);
        ssr.add(wi * (d.cost[i] - f).powi(2));
        let (after, before) = (f + d.carried[i], d.baseline[i] + d.carried[i]);
        gain.add(if after > 1.05 * before { wi } else { 0.0 });
        loss.add(if after < 0.95 * before { wi } else { 0.0 });
        paid.add(wi * f);
        target.add(wi * (d.baseline[i] * factor));
        for (v, x) in violations
            .iter_mut()
            .zip(shared.requirements.violated(i, f, limit))
        {
            *v += x;
        }
    }
    let residual = match s.neutrality.scope {
        Scope::Departement => {
            let targets: Vec<f64> = d.baseline.iter().map(|b| b * factor).collect();
            residuals(
                NeutralityScope::Departement,
                funding,
                &targets,
                w,
                geo.departement,
                geo.codes.len(),
            )
            .max
        }
        // The national gap as `residuals` computes it.
        Scope::National | Scope::None => relative_gap(paid.value(), target.value()),
    };
    let (ssr, paid) = (ssr.value(), paid.value());
    let p = s.guarantees.participation;
    let (rising, rising_share) = shared.rising[p.ordinal()]
        .as_ref()
        .map_or((0, 0.0), |r| r.count(funding, &d.baseline));
    let sw = shared.weight;
    let mut out = empty_row(index, scenario, s, None);
    out.refit = refit;
    out.parameters = d.k;
    out.formula_baseline_total = shared.formula_baseline;
    out.target_total = target.value();
    out.formula_funding_total = Some(paid);
    out.baseline_total = shared.formula_baseline + shared.carried;
    out.funding_total = Some(paid + shared.carried);
    out.neutrality_residual = Some(residual);
    out.r2 = Some(if shared.spread > 0.0 {
        1.0 - ssr / shared.spread
    } else {
        0.0
    });
    out.rmse = Some((ssr / sw).sqrt());
    out.winners_5pct = Some(gain.value() / sw);
    out.losers_5pct = Some(loss.value() / sw);
    out.coverage = (shared.cost > 0.0).then(|| paid / shared.cost);
    out.out_of_pocket_rising = Some(rising);
    out.out_of_pocket_rising_share = Some(rising_share);
    out.nhas_price_violations = Some(violations[0]);
    out.has_cover_violations = Some(violations[1]);
    out.transition_violations = Some(violations[2]);
    out
}
