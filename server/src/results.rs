//! Typed job results as Arrow record batches, the same for the CLI (written as Parquet)
//! and for Flight (streamed): the baseline's `services`, `departements` and `users`, and
//! the cost drivers (`drivers`, `user_cells`); the calibration's `parameters`, `services`,
//! `departements`, the impact tables (`impact`, `users`, `out_of_pocket`), `groups` and
//! `design`; a comparison's `candidates`, `parameters` and `services`. Column names follow the data contract (DATA.md). What the tables hold is
//! computed in the library (`dotation_solver::job`); here it only takes its columns.

use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, RecordBatch, StringArray, UInt8Array,
    UInt32Array, UInt64Array,
};
use arrow::datatypes::{Field, Schema};
use dotation_core::Dataset;
use dotation_core::aggregate::{D, Drivers, PCH_BANDS, VISIT_DRIVERS};
use dotation_core::baseline::Baseline;
use dotation_core::tables::{Code, Microdata};
use dotation_solver::calibrate::Calibration;
use dotation_solver::formula::Design;
use dotation_solver::job::{
    BaselineJob, CalibrationJob, CandidateRow, CompareJob, JobResult, OutOfPocketGroups,
    ScenarioRow, ServicesImpact, SweepJob, UsersImpact, WeightsJob,
};

use crate::error::ServerError;

/// A job's result tables, in order, by name.
pub fn tables(
    data: &Dataset,
    result: &JobResult,
) -> Result<Vec<(String, RecordBatch)>, ServerError> {
    match result {
        JobResult::Baseline(b) => baseline_tables(data, b),
        JobResult::Calibration(c) => calibration_tables(&data.micro, c),
        JobResult::Compare(c) => compare_tables(&data.micro, c),
        JobResult::Sweep(s) => sweep_tables(s),
        JobResult::Weights(w) => weights_tables(data, w),
        JobResult::Apply(a) => calibration_tables(&data.micro, &a.job),
    }
}

/// `weights` (every service's design weight, calibrated weight and g) and `margins`
/// (every margin's target, the design weights' estimate, the achieved total and the
/// relative residual) of calibrated weights.
pub fn weights_tables(
    data: &Dataset,
    job: &WeightsJob,
) -> Result<Vec<(String, RecordBatch)>, ServerError> {
    let c = &job.calibration;
    let weights = batch(vec![
        (
            "service_id",
            strs(data.micro.services.id.iter().map(String::as_str)),
        ),
        ("design_weight", f64s(c.design.iter().copied())),
        ("weight", f64s(c.weights.iter().copied())),
        ("g", f64s(c.g.iter().copied())),
    ])?;
    let rows = &job.margins.rows;
    let margins = batch(vec![
        ("margin", strs(rows.iter().map(|r| r.margin.as_str()))),
        ("variable", strs(rows.iter().map(|r| r.variable.as_str()))),
        (
            "level",
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.level.as_deref()),
            )),
        ),
        ("total", f64s(c.totals.iter().copied())),
        ("design_estimate", f64s(c.design_estimates.iter().copied())),
        ("achieved", f64s(c.achieved.iter().copied())),
        ("residual", f64s(c.residuals().into_iter())),
    ])?;
    Ok(vec![
        ("weights".into(), weights),
        ("margins".into(), margins),
    ])
}

/// `scenarios` (one row per scenario: its settings, feasibility, totals, winners and
/// losers, each guarantee's violations) and `parameters` (long: one row per scenario and
/// parameter) of a sweep.
fn sweep_tables(job: &SweepJob) -> Result<Vec<(String, RecordBatch)>, ServerError> {
    let rows = &job.summary.rows;
    let text = |f: &dyn Fn(&ScenarioRow) -> &str| strs(rows.iter().map(f));
    let num = |f: &dyn Fn(&ScenarioRow) -> Option<f64>| opt_f64s(rows.iter().map(f));
    let count = |f: &dyn Fn(&ScenarioRow) -> Option<usize>| -> ArrayRef {
        Arc::new(UInt64Array::from_iter(
            rows.iter().map(|r| f(r).map(|v| v as u64)),
        ))
    };
    let flag = |f: &dyn Fn(&ScenarioRow) -> bool| -> ArrayRef {
        Arc::new(BooleanArray::from(rows.iter().map(f).collect::<Vec<_>>()))
    };
    let scenarios = batch(vec![
        ("scenario", count(&|r| Some(r.index))),
        ("name", text(&|r| &r.name)),
        ("budget_change_percent", num(&|r| r.budget_change_percent)),
        ("budget_change_euros", num(&|r| r.budget_change_euros)),
        ("transition_limit", num(&|r| Some(r.transition_limit))),
        ("floor", num(&|r| r.floor)),
        ("participation", text(&|r| &r.participation)),
        ("mixte_rate", num(&|r| r.mixte_rate)),
        ("neutrality_scope", text(&|r| &r.scope)),
        ("funded", text(&|r| &r.funded)),
        ("feasible", flag(&|r| r.feasible)),
        (
            "conflict",
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.conflict.as_deref()),
            )),
        ),
        ("refit", flag(&|r| r.refit)),
        ("parameters", count(&|r| Some(r.parameters))),
        (
            "formula_baseline_total",
            num(&|r| Some(r.formula_baseline_total)),
        ),
        ("target_total", num(&|r| Some(r.target_total))),
        ("formula_funding_total", num(&|r| r.formula_funding_total)),
        ("baseline_total", num(&|r| Some(r.baseline_total))),
        ("funding_total", num(&|r| r.funding_total)),
        ("neutrality_residual", num(&|r| r.neutrality_residual)),
        ("r2", num(&|r| r.r2)),
        ("rmse", num(&|r| r.rmse)),
        ("winners_5pct", num(&|r| r.winners_5pct)),
        ("losers_5pct", num(&|r| r.losers_5pct)),
        ("coverage", num(&|r| r.coverage)),
        ("out_of_pocket_rising", count(&|r| r.out_of_pocket_rising)),
        (
            "out_of_pocket_rising_share",
            num(&|r| r.out_of_pocket_rising_share),
        ),
        ("nhas_price_violations", count(&|r| r.nhas_price_violations)),
        ("has_cover_violations", count(&|r| r.has_cover_violations)),
        ("transition_violations", count(&|r| r.transition_violations)),
    ])?;
    let p = &job.parameters;
    let parameters = batch(vec![
        (
            "scenario",
            Arc::new(UInt64Array::from_iter_values(p.iter().map(|x| x.0 as u64))) as ArrayRef,
        ),
        ("parameter", strs(p.iter().map(|x| x.1.as_str()))),
        ("estimate", f64s(p.iter().map(|x| x.2))),
    ])?;
    Ok(vec![
        ("scenarios".to_string(), scenarios),
        ("parameters".to_string(), parameters),
    ])
}

/// `candidates` (one row per formula), `parameters` and `services` (long: one row per
/// candidate and parameter, per candidate and service) of a comparison.
fn compare_tables(
    m: &Microdata,
    job: &CompareJob,
) -> Result<Vec<(String, RecordBatch)>, ServerError> {
    let rows: Vec<&CandidateRow> = job.candidates.iter().map(|c| &c.row).collect();
    let text = |f: &dyn Fn(&CandidateRow) -> &str| strs(rows.iter().map(|r| f(r)));
    let num = |f: &dyn Fn(&CandidateRow) -> Option<f64>| opt_f64s(rows.iter().map(|r| f(r)));
    let count = |f: &dyn Fn(&CandidateRow) -> Option<usize>| -> ArrayRef {
        Arc::new(UInt64Array::from_iter(
            rows.iter().map(|r| f(r).map(|v| v as u64)),
        ))
    };
    let candidates = batch(vec![
        ("candidate", text(&|r| &r.name)),
        ("formula", text(&|r| &r.formula)),
        ("loss", text(&|r| &r.loss)),
        ("method", text(&|r| &r.method)),
        ("neutrality_scope", text(&|r| &r.neutrality_scope)),
        (
            "feasible",
            Arc::new(BooleanArray::from(
                rows.iter().map(|r| r.feasible).collect::<Vec<_>>(),
            )),
        ),
        (
            "conflict",
            Arc::new(StringArray::from_iter(
                rows.iter().map(|r| r.conflict.as_deref()),
            )),
        ),
        ("parameters", count(&|r| Some(r.parameters))),
        ("r2", num(&|r| r.r2)),
        ("rmse", num(&|r| r.rmse)),
        ("mape", num(&|r| r.mape)),
        ("within_10pct", num(&|r| r.within_10pct)),
        ("cv_r2", num(&|r| r.cv_r2)),
        ("cv_rmse", num(&|r| r.cv_rmse)),
        ("cv_mape", num(&|r| r.cv_mape)),
        ("cv_within_10pct", num(&|r| r.cv_within_10pct)),
        ("neutrality_residual", num(&|r| r.neutrality_residual)),
        ("funding_total", num(&|r| r.funding_total)),
        ("winners_5pct", num(&|r| r.winners_5pct)),
        ("losers_5pct", num(&|r| r.losers_5pct)),
        ("out_of_pocket_rising", count(&|r| r.out_of_pocket_rising)),
        ("nhas_price_violations", count(&|r| r.nhas_price_violations)),
        ("has_cover_violations", count(&|r| r.has_cover_violations)),
        ("transition_violations", count(&|r| r.transition_violations)),
    ])?;
    let fitted: Vec<(&str, &CalibrationJob)> = job
        .candidates
        .iter()
        .filter_map(|c| c.result.as_ref().ok().map(|j| (c.row.name.as_str(), j)))
        .collect();
    let mut name = Vec::new();
    let mut params = Vec::new();
    for (n, j) in &fitted {
        let p = parameters(&j.calibration)?;
        name.extend(std::iter::repeat_n(*n, p.num_rows()));
        params.push(p);
    }
    let parameters = if params.is_empty() {
        parameters(&Calibration::default())?
    } else {
        arrow::compute::concat_batches(&params[0].schema(), &params)
            .map_err(|e| ServerError::Internal(e.to_string()))?
    };
    let mut columns = vec![("candidate", strs(name.iter().copied()))];
    let schema = parameters.schema();
    for (f, c) in schema.fields().iter().zip(parameters.columns()) {
        columns.push((f.name().as_str(), Arc::clone(c)));
    }
    let parameters = batch(columns)?;
    let n = m.services.len();
    let services = batch(vec![
        (
            "candidate",
            strs(fitted.iter().flat_map(|(c, _)| std::iter::repeat_n(*c, n))),
        ),
        (
            "service_id",
            strs(
                fitted
                    .iter()
                    .flat_map(|_| m.services.id.iter().map(String::as_str)),
            ),
        ),
        (
            "baseline",
            f64s(
                fitted
                    .iter()
                    .flat_map(|(_, j)| j.design.baseline.iter().copied()),
            ),
        ),
        (
            "funding",
            f64s(
                fitted
                    .iter()
                    .flat_map(|(_, j)| j.calibration.funding.iter().copied()),
            ),
        ),
        (
            "cost",
            f64s(
                fitted
                    .iter()
                    .flat_map(|(_, j)| j.design.cost.iter().copied()),
            ),
        ),
    ])?;
    Ok(vec![
        ("candidates".into(), candidates),
        ("parameters".into(), parameters),
        ("services".into(), services),
    ])
}

fn baseline_tables(
    data: &Dataset,
    job: &BaselineJob,
) -> Result<Vec<(String, RecordBatch)>, ServerError> {
    let (m, b, d) = (&data.micro, &job.baseline, &data.drivers);
    let mut tables = vec![
        ("services".into(), baseline_services(m, b)?),
        ("departements".into(), baseline_departements(m, b)?),
        ("users".into(), baseline_users(m, b)?),
    ];
    // Visit drivers exist only where there are visits.
    if d.has_visits() {
        tables.push(("drivers".into(), service_drivers(m, d)?));
    }
    tables.push(("user_cells".into(), user_cells(m, d)?));
    Ok(tables)
}

fn calibration_tables(
    m: &Microdata,
    job: &CalibrationJob,
) -> Result<Vec<(String, RecordBatch)>, ServerError> {
    let (design, cal) = (&job.design, &job.calibration);
    let mut tables = vec![
        ("parameters".into(), parameters(cal)?),
        ("services".into(), calibrated_services(m, design, cal)?),
        (
            "departements".into(),
            calibrated_departements(m, design, cal)?,
        ),
        ("impact".into(), services_impact(&job.impact)?),
        ("users".into(), users(m, &job.users)?),
        ("out_of_pocket".into(), out_of_pocket(&job.out_of_pocket)?),
    ];
    if !design.groups.is_empty() {
        tables.push(("groups".into(), groups(design)?));
    }
    if job.summary.spec.outputs.design {
        tables.push((
            "design".into(),
            self::design(m, design, &job.regression_weights)?,
        ));
    }
    Ok(tables)
}

/// Builds a batch from named columns (all nullable flags taken from the arrays).
pub fn batch(columns: Vec<(&str, ArrayRef)>) -> Result<RecordBatch, ServerError> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), a.null_count() > 0))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

fn f64s(v: impl IntoIterator<Item = f64>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(v))
}

fn strs<'a>(v: impl IntoIterator<Item = &'a str>) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(v))
}

/// `services` of `dotation baseline`.
pub fn baseline_services(m: &Microdata, b: &Baseline) -> Result<RecordBatch, ServerError> {
    let s = &m.services;
    let dept = |i: usize| m.departements.code[s.departement[i] as usize].as_str();
    batch(vec![
        ("service_id", strs(s.id.iter().map(String::as_str))),
        ("departement", strs((0..s.len()).map(dept))),
        (
            "habilitated",
            Arc::new(BooleanArray::from(s.habilitated.clone())),
        ),
        ("weight", f64s(s.design_weight.iter().copied())),
        (
            "hours_funded",
            f64s(b.services.hours_funded.iter().copied()),
        ),
        ("rate", f64s(b.services.rate.iter().copied())),
        (
            "rate_social_aid",
            f64s(b.services.rate_social_aid.iter().copied()),
        ),
        ("baseline_funding", f64s(b.services.funding.iter().copied())),
        (
            "user_participation",
            f64s(b.services.user_participation.iter().copied()),
        ),
        ("public_cost", f64s(b.services.public_cost.iter().copied())),
        ("cost_total", f64s(s.cost_total.iter().copied())),
    ])
}

/// `departements` of `dotation baseline`: weighted totals.
pub fn baseline_departements(m: &Microdata, b: &Baseline) -> Result<RecordBatch, ServerError> {
    let t = &b.departements;
    batch(vec![
        (
            "departement",
            strs(m.departements.code.iter().map(String::as_str)),
        ),
        ("name", strs(m.departements.name.iter().map(String::as_str))),
        ("services", f64s(t.iter().map(|x| x.services))),
        ("hours_funded", f64s(t.iter().map(|x| x.hours_funded))),
        ("baseline_funding", f64s(t.iter().map(|x| x.funding))),
        (
            "user_participation",
            f64s(t.iter().map(|x| x.user_participation)),
        ),
        ("public_cost", f64s(t.iter().map(|x| x.public_cost))),
        ("cost_total", f64s(t.iter().map(|x| x.cost_total))),
    ])
}

/// `users` of `dotation baseline`.
pub fn baseline_users(m: &Microdata, b: &Baseline) -> Result<RecordBatch, ServerError> {
    let u = &m.users;
    batch(vec![
        ("user_id", strs(u.id.iter().map(String::as_str))),
        (
            "service_id",
            strs(
                u.service
                    .iter()
                    .map(|&s| m.services.id[s as usize].as_str()),
            ),
        ),
        ("allowance", strs(u.allowance.iter().map(|a| a.code()))),
        (
            "gir",
            Arc::new(Int32Array::from_iter(
                u.gir.iter().map(|&g| (g > 0).then_some(i32::from(g))),
            )),
        ),
        (
            "participation_month",
            f64s(b.users.participation_month.iter().copied()),
        ),
        (
            "oop_per_hour",
            Arc::new(Float64Array::from(b.users.oop_per_hour.clone())),
        ),
    ])
}

/// `drivers`: the visit drivers of every service, and their ratios.
pub fn service_drivers(m: &Microdata, d: &Drivers) -> Result<RecordBatch, ServerError> {
    let n = m.services.len();
    let mut cols: Vec<(&str, ArrayRef)> =
        vec![("service_id", strs(m.services.id.iter().map(String::as_str)))];
    for (j, name) in VISIT_DRIVERS.iter().enumerate() {
        cols.push((name, f64s((0..n).map(|s| d.service_visits[s * D + j]))));
    }
    cols.push((
        "users_with_visits",
        Arc::new(UInt32Array::from(d.users_with_visits.clone())),
    ));
    let ratios: Vec<_> = (0..n).map(|s| d.ratios(s)).collect();
    cols.push((
        "travel_min_per_hour",
        f64s(ratios.iter().map(|r| r.travel_min_per_hour)),
    ));
    cols.push(("km_per_hour", f64s(ratios.iter().map(|r| r.km_per_hour))));
    cols.push((
        "visits_per_user_week",
        f64s(ratios.iter().map(|r| r.visits_per_user_week)),
    ));
    cols.push((
        "double_staffed_share",
        f64s(ratios.iter().map(|r| r.double_staffed_share)),
    ));
    batch(cols)
}

/// `user_cells`: user-months per service and crossing of user attributes.
pub fn user_cells(m: &Microdata, d: &Drivers) -> Result<RecordBatch, ServerError> {
    let c = &d.user_cells;
    batch(vec![
        (
            "service_id",
            strs(c.iter().map(|x| m.services.id[x.service as usize].as_str())),
        ),
        ("allowance", strs(c.iter().map(|x| x.allowance.code()))),
        (
            "gir",
            Arc::new(Int32Array::from_iter(
                c.iter().map(|x| (x.gir > 0).then_some(i32::from(x.gir))),
            )),
        ),
        (
            "entourage",
            Arc::new(Int32Array::from_iter_values(
                c.iter().map(|x| i32::from(x.entourage)),
            )),
        ),
        ("zone", strs(c.iter().map(|x| x.zone.code()))),
        (
            "pch_band",
            strs(c.iter().map(|x| PCH_BANDS[x.pch_band as usize])),
        ),
        (
            "users",
            Arc::new(UInt32Array::from_iter_values(c.iter().map(|x| x.users))),
        ),
        ("user_months", f64s(c.iter().map(|x| x.user_months))),
    ])
}

fn opt_f64s(v: impl IntoIterator<Item = Option<f64>>) -> ArrayRef {
    Arc::new(Float64Array::from_iter(v))
}

/// `parameters` of `dotation calibrate`.
pub fn parameters(c: &Calibration) -> Result<RecordBatch, ServerError> {
    batch(vec![
        ("parameter", strs(c.names.iter().map(String::as_str))),
        ("unit", strs(c.units.iter().map(String::as_str))),
        ("estimate", f64s(c.estimate.iter().copied())),
        ("std_error", opt_f64s(c.std_error.iter().copied())),
        ("ci_low", opt_f64s(c.ci_low.iter().copied())),
        ("ci_high", opt_f64s(c.ci_high.iter().copied())),
    ])
}

/// `services` of `dotation calibrate`: funding against baseline and cost.
pub fn calibrated_services(
    m: &Microdata,
    d: &Design,
    c: &Calibration,
) -> Result<RecordBatch, ServerError> {
    let s = &m.services;
    let n = s.len();
    let dept = |i: usize| m.departements.code[s.departement[i] as usize].as_str();
    let ratio = |a: f64, b: f64| if b != 0.0 { Some(a / b) } else { None };
    // The whole service: the formula's funding and the hours carried, against the whole
    // baseline.
    let delta = |i: usize| (c.funding[i] + d.carried[i]) - d.baseline_total(i);
    batch(vec![
        ("service_id", strs(s.id.iter().map(String::as_str))),
        ("departement", strs((0..n).map(dept))),
        (
            "habilitated",
            Arc::new(BooleanArray::from(s.habilitated.clone())),
        ),
        ("weight", f64s(s.design_weight.iter().copied())),
        ("hours_funded", f64s(d.hours.iter().copied())),
        ("baseline", f64s((0..n).map(|i| d.baseline_total(i)))),
        ("funding", f64s((0..n).map(|i| c.funding[i] + d.carried[i]))),
        ("carried", f64s(d.carried.iter().copied())),
        ("formula_baseline", f64s(d.baseline.iter().copied())),
        ("formula_funding", f64s(c.funding.iter().copied())),
        ("cost", f64s(d.cost.iter().copied())),
        ("delta", f64s((0..n).map(delta))),
        (
            "delta_pct",
            opt_f64s((0..n).map(|i| ratio(delta(i), d.baseline_total(i)).map(|r| 100.0 * r))),
        ),
        (
            "coverage",
            opt_f64s((0..n).map(|i| ratio(c.funding[i], d.cost[i]))),
        ),
    ])
}

/// `departements` of `dotation calibrate`: weighted totals, point values, residuals.
pub fn calibrated_departements(
    m: &Microdata,
    d: &Design,
    c: &Calibration,
) -> Result<RecordBatch, ServerError> {
    let nd = m.departements.len();
    let mut services = vec![0.0; nd];
    let mut baseline = vec![0.0; nd];
    let mut funding = vec![0.0; nd];
    let mut cost = vec![0.0; nd];
    for s in 0..m.services.len() {
        let i = m.services.departement[s] as usize;
        let w = m.services.design_weight[s];
        services[i] += w;
        baseline[i] += w * d.baseline_total(s);
        funding[i] += w * (c.funding[s] + d.carried[s]);
        cost[i] += w * d.cost[s];
    }
    batch(vec![
        (
            "departement",
            strs(m.departements.code.iter().map(String::as_str)),
        ),
        ("name", strs(m.departements.name.iter().map(String::as_str))),
        ("services", f64s(services)),
        ("baseline_total", f64s(baseline)),
        ("funding_total", f64s(funding)),
        ("cost_total", f64s(cost)),
        ("point_value", opt_f64s(c.point_values.iter().copied())),
        (
            "point_value_std_error",
            opt_f64s(c.point_value_std_error.iter().copied()),
        ),
        (
            "point_value_ci_low",
            opt_f64s(c.point_value_ci_low.iter().copied()),
        ),
        (
            "point_value_ci_high",
            opt_f64s(c.point_value_ci_high.iter().copied()),
        ),
        (
            "residual",
            opt_f64s(c.departement_residuals.iter().copied()),
        ),
    ])
}

/// `groups` of a forfait: users and user-months of each group in the sample.
pub fn groups(d: &Design) -> Result<RecordBatch, ServerError> {
    batch(vec![
        ("group", strs(d.groups.iter().map(|g| g.name.as_str()))),
        (
            "users",
            Arc::new(UInt64Array::from_iter_values(
                d.groups.iter().map(|g| g.users),
            )),
        ),
        ("user_months", f64s(d.groups.iter().map(|g| g.user_months))),
    ])
}

/// `design`: one row per service, one column per parameter, with cost, baseline, the
/// fixed part and the weights — what a peer needs to refit the same problem.
pub fn design(
    m: &Microdata,
    d: &Design,
    regression_weights: &[f64],
) -> Result<RecordBatch, ServerError> {
    let n = d.n;
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        ("service_id", strs(m.services.id.iter().map(String::as_str))),
        (
            "departement",
            strs((0..n).map(|s| m.departements.code[m.services.departement[s] as usize].as_str())),
        ),
        ("weight", f64s(m.services.design_weight.iter().copied())),
        (
            "regression_weight",
            f64s(regression_weights.iter().copied()),
        ),
        ("cost", f64s(d.cost.iter().copied())),
        ("baseline", f64s(d.baseline.iter().copied())),
        ("offset", f64s(d.offset.iter().copied())),
    ];
    for (j, name) in d.names.iter().enumerate() {
        cols.push((name.as_str(), f64s((0..n).map(|s| d.x[s * d.k + j]))));
    }
    batch(cols)
}

/// `impact` of `dotation calibrate`: services' gains and losses by group.
pub fn services_impact(t: &ServicesImpact) -> Result<RecordBatch, ServerError> {
    let f = |v: &[f64]| f64s(v.iter().copied());
    batch(vec![
        ("dimension", strs(t.dimension.iter().copied())),
        ("group", strs(t.group.iter().map(String::as_str))),
        ("services", Arc::new(UInt64Array::from(t.services.clone()))),
        ("weight", f(&t.weight)),
        ("baseline_total", f(&t.baseline_total)),
        ("funding_total", f(&t.funding_total)),
        ("cost_total", f(&t.cost_total)),
        ("delta_total", f(&t.delta_total)),
        ("delta_pct", f(&t.delta_pct)),
        ("mean_delta_pct", f(&t.mean_delta_pct)),
        ("min_delta_pct", f(&t.min_delta_pct)),
        ("max_delta_pct", f(&t.max_delta_pct)),
        ("winners_5pct", f(&t.winners_5pct)),
        ("losers_5pct", f(&t.losers_5pct)),
        ("coverage_before", f(&t.coverage_before)),
        ("coverage_after", f(&t.coverage_after)),
    ])
}

/// `users` of `dotation calibrate`: every user's out-of-pocket per billed hour before and
/// after, under the spec's participation option and under each option.
pub fn users(m: &Microdata, t: &UsersImpact) -> Result<RecordBatch, ServerError> {
    let us = &m.users;
    let opt = |v: &[Option<f64>]| -> ArrayRef { Arc::new(Float64Array::from(v.to_vec())) };
    let mut columns: Vec<(&str, ArrayRef)> = vec![
        ("user_id", strs(us.id.iter().map(String::as_str))),
        (
            "service_id",
            strs(t.service.iter().map(|&s| m.services.id[s].as_str())),
        ),
        ("allowance", strs(us.allowance.iter().map(|a| a.code()))),
        (
            "gir",
            Arc::new(UInt8Array::from_iter(
                us.gir.iter().map(|&g| (g > 0).then_some(g)),
            )),
        ),
        (
            "resource_band",
            strs(t.resource_band.iter().map(|b| b.name())),
        ),
        (
            "billed_hours_month",
            f64s(t.billed_hours_month.iter().copied()),
        ),
        ("oop_before", opt(&t.oop_before)),
        ("oop_after", opt(&t.oop_after)),
        ("oop_change", opt(&t.oop_change)),
        ("rises", Arc::new(BooleanArray::from(t.rises.clone()))),
    ];
    const BY_OPTION: [&str; 3] = [
        "oop_after_unchanged",
        "oop_after_accepted_plan",
        "oop_after_resources_only",
    ];
    for (name, values) in BY_OPTION.into_iter().zip(&t.oop_after_by_option) {
        columns.push((name, opt(values)));
    }
    batch(columns)
}

/// `out_of_pocket` of `dotation calibrate`: users by GIR, resource band and regime.
pub fn out_of_pocket(t: &OutOfPocketGroups) -> Result<RecordBatch, ServerError> {
    let f = |v: &[f64]| f64s(v.iter().copied());
    batch(vec![
        ("dimension", strs(t.dimension.iter().copied())),
        ("group", strs(t.group.iter().map(String::as_str))),
        ("users", Arc::new(UInt64Array::from(t.users.clone()))),
        ("weight", f(&t.weight)),
        ("oop_before", f(&t.oop_before)),
        ("oop_after", f(&t.oop_after)),
        ("oop_change", f(&t.oop_change)),
        ("rising", Arc::new(UInt64Array::from(t.rising.clone()))),
        ("rising_share", f(&t.rising_share)),
        ("max_change", f(&t.max_change)),
    ])
}
