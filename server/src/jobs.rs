//! Jobs: what the command line and the Flight server run — a job spec (TOML or JSON) on a
//! dataset → named result tables and a summary. One definition for both surfaces, so the
//! CLI's files and Flight's streams hold the same tables.
//!
//! A job goes: parse and check the spec → validate the data → aggregate the drivers →
//! baseline → (calibrate: build the formula's design → fit) → result tables. Cancellation
//! is checked between stages and between bootstrap replicates; progress is reported after
//! each stage.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::RecordBatch;
use dotation_core::aggregate::Drivers;
use dotation_core::baseline::{BaselineOptions, baseline};
use dotation_core::out_of_pocket::OutOfPocket;
use dotation_core::tables::Microdata;
use dotation_core::validate::ValidateOptions;
use dotation_core::{Dataset, VERSION};
use dotation_solver::calibrate::{Geography, Options, calibrate};
use dotation_solver::formula::{DesignInput, ServiceDrivers, build_from, regression_weights_from};
use dotation_solver::guarantees::{self, GuaranteeInput};
use dotation_solver::spec::{JobKind, JobSpec};
use sha2::{Digest, Sha256};

use crate::data::LoadedData;
use crate::error::ServerError;
use crate::{impact, results};

/// The result of a job.
#[derive(Debug)]
pub struct JobOutput {
    /// Result tables, in order, by name (`parameters`, `services`, `departements`, …).
    pub tables: Vec<(String, RecordBatch)>,
    /// `summary.json`.
    pub summary: serde_json::Value,
}

/// How a running job reports progress and learns it was cancelled.
#[derive(Clone)]
pub struct JobContext {
    /// Called with the share done, 0 to 1.
    pub progress: Arc<dyn Fn(f64) + Send + Sync>,
    /// Set to stop the job.
    pub cancel: Arc<AtomicBool>,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("cancel", &self.cancel.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl JobContext {
    /// A context that reports nowhere and is never cancelled.
    pub fn detached() -> JobContext {
        JobContext {
            progress: Arc::new(|_| {}),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    fn step(&self, done: f64) -> Result<(), ServerError> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ServerError::Cancelled);
        }
        (self.progress)(done);
        Ok(())
    }
}

/// Parses a spec text (JSON when it starts with `{`, TOML otherwise).
pub fn parse_spec(spec_text: &str) -> Result<JobSpec, ServerError> {
    Ok(JobSpec::parse(spec_text)?)
}

/// Which dataset a spec names: `None` for the embedded survey.
pub fn dataset_of(spec_text: &str) -> Result<Option<String>, ServerError> {
    let spec = parse_spec(spec_text)?;
    Ok(spec.data.filter(|d| d != "embedded"))
}

/// SHA-256 of a spec's canonical JSON: two texts meaning the same spec hash the same.
pub fn spec_hash(spec: &JobSpec) -> String {
    hex::encode(Sha256::digest(spec.canonical_json().as_bytes()))
}

/// Runs a spec text on loaded data.
pub fn run(spec_text: &str, data: LoadedData, ctx: &JobContext) -> Result<JobOutput, ServerError> {
    let spec = parse_spec(spec_text)?;
    run_spec(&spec, &data, ctx)
}

/// What every job computes first: the validated data, drivers and baseline.
struct Prepared {
    micro: Microdata,
    drivers: Drivers,
    baseline: dotation_core::baseline::Baseline,
}

fn prepare(spec: &JobSpec, data: &LoadedData, ctx: &JobContext) -> Result<Prepared, ServerError> {
    ctx.step(0.0)?;
    let options = ValidateOptions {
        mtp_override: spec.baseline.mtp,
        ..ValidateOptions::default()
    };
    let Dataset { micro, drivers } = data.validate(&options, &|_| {})?;
    if let Some(year) = spec.year
        && year != micro.year
    {
        return Err(ServerError::Spec(dotation_solver::SpecError::Data {
            key: "year".into(),
            message: format!(
                "the spec asks for {year} but the data ({}) are of {}: change year or the data",
                data.description, micro.year
            ),
        }));
    }
    ctx.step(0.5)?;
    let options = BaselineOptions {
        mtp: spec.baseline.mtp,
        floor: spec.baseline.floor,
    };
    let baseline = baseline(&micro, &drivers, &options)?;
    ctx.step(0.6)?;
    Ok(Prepared {
        micro,
        drivers,
        baseline,
    })
}

/// Runs a parsed spec on loaded data.
pub fn run_spec(
    spec: &JobSpec,
    data: &LoadedData,
    ctx: &JobContext,
) -> Result<JobOutput, ServerError> {
    let p = prepare(spec, data, ctx)?;
    let out = match spec.kind {
        JobKind::Baseline => baseline_output(spec, data, &p)?,
        JobKind::Calibrate => calibrate_output(spec, data, &p, ctx)?,
    };
    ctx.step(1.0)?;
    Ok(out)
}

fn provenance(spec: &JobSpec, data: &LoadedData) -> serde_json::Value {
    serde_json::json!({
        "spec_hash": spec_hash(spec),
        "data": data.description,
        "data_hash": data.hash,
        "version": VERSION,
    })
}

fn merge(mut a: serde_json::Value, b: serde_json::Value) -> serde_json::Value {
    if let (Some(a), serde_json::Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

fn baseline_output(
    spec: &JobSpec,
    data: &LoadedData,
    p: &Prepared,
) -> Result<JobOutput, ServerError> {
    let (m, b, d) = (&p.micro, &p.baseline, &p.drivers);
    let mut tables = vec![
        ("services".into(), results::baseline_services(m, b)?),
        ("departements".into(), results::baseline_departements(m, b)?),
        ("users".into(), results::baseline_users(m, b)?),
    ];
    // Visit drivers exist only where there are visits.
    if d.has_visits() {
        tables.push(("drivers".into(), results::service_drivers(m, d)?));
    }
    tables.push(("user_cells".into(), results::user_cells(m, d)?));
    let summary = merge(
        serde_json::json!({
            "command": "baseline",
            "year": m.year,
            "floor": b.rules.floor,
            "mtp": b.rules.mtp,
            "services": m.services.len(),
            "users": m.users.len(),
            "visits": d.visits,
            "weeks_observed": d.weeks,
            "services_without_apa_users": b.services_without_apa_users,
            "national": results::totals_json(&b.national),
        }),
        provenance(spec, data),
    );
    Ok(JobOutput { tables, summary })
}

/// The options of a calibration, from the spec.
pub fn calibration_options(spec: &JobSpec) -> Options {
    let c = &spec.calibration;
    Options {
        scope: spec.neutrality.scope,
        method: c.method,
        loss: c.loss,
        huber_t: c.huber_t,
        std_errors: c.std_errors,
        cluster: c.cluster,
        confidence: c.confidence,
        bootstrap: c.bootstrap,
        seed: c.seed,
        floor_per_hour: spec.formula.floor_per_hour,
        cap_per_hour: spec.formula.cap_per_hour,
        constraints: Default::default(),
    }
}

fn calibrate_output(
    spec: &JobSpec,
    data: &LoadedData,
    p: &Prepared,
    ctx: &JobContext,
) -> Result<JobOutput, ServerError> {
    let m = &p.micro;
    let input = DesignInput {
        micro: m,
        drivers: &p.drivers,
        baseline: &p.baseline,
    };
    let drivers = ServiceDrivers::compute(&input, &spec.formula)?;
    let design = build_from(&input, &spec.formula, &drivers)?;
    let rw = regression_weights_from(&input, &drivers, spec.calibration.variance.as_ref())?;
    ctx.step(0.7)?;
    let geo = Geography {
        weights: &m.services.design_weight,
        regression_weights: &rw,
        departement: &m.services.departement,
        codes: &m.departements.code,
    };
    let oop = OutOfPocket::new(m, &p.drivers, &p.baseline)?;
    let gi = GuaranteeInput {
        micro: m,
        design: &design,
        oop: &oop,
    };
    let mut options = calibration_options(spec);
    options.constraints = guarantees::constraints(&gi, &spec.guarantees)
        .map_err(|e| ServerError::Calibration(e.into()))?;
    let constraints = options.constraints.len();
    let cancel = ctx.cancel.clone();
    let cancelled = move || cancel.load(Ordering::Relaxed);
    let cal = calibrate(&design, &geo, &options, &cancelled).map_err(|e| {
        if cancelled() {
            ServerError::Cancelled
        } else {
            ServerError::Calibration(e)
        }
    })?;
    ctx.step(0.9)?;
    let after = oop.after_by_option(&cal.funding, &design.baseline);
    let chosen = spec.guarantees.participation.ordinal();
    let report = guarantees::report(&gi, &spec.guarantees, &cal.funding, &after);
    ctx.step(0.95)?;
    let mut tables = vec![
        ("parameters".into(), results::parameters(&cal)?),
        (
            "services".into(),
            results::calibrated_services(m, &design, &cal)?,
        ),
        (
            "departements".into(),
            results::calibrated_departements(m, &design, &cal)?,
        ),
    ];
    tables.push((
        "impact".into(),
        impact::services_impact(m, &design, &cal.funding)?,
    ));
    tables.push(("users".into(), impact::users(m, &oop, &after, chosen)?));
    tables.push((
        "out_of_pocket".into(),
        impact::out_of_pocket(m, &oop, &after[chosen])?,
    ));
    if !design.groups.is_empty() {
        tables.push(("groups".into(), results::groups(&design)?));
    }
    if spec.outputs.design {
        tables.push(("design".into(), results::design(m, &design, &rw)?));
    }
    let mt = &cal.metrics;
    let summary = merge(
        serde_json::json!({
            "command": "calibrate",
            "formula": spec.formula.kind.name(),
            "loss": format!("{:?}", spec.calibration.loss).to_lowercase(),
            "method": match spec.calibration.method {
                dotation_solver::spec::Method::Kkt => "kkt",
                dotation_solver::spec::Method::PointValues => "point_values",
            },
            "neutrality_scope": spec.neutrality.scope.name(),
            "neutrality_residual": cal.neutrality_residual,
            "r2": mt.r2,
            "rmse": mt.rmse,
            "mape": mt.mape,
            "within_10pct": mt.within_10pct,
            "winners_5pct": mt.winners_5pct,
            "losers_5pct": mt.losers_5pct,
            "winners_5pct_services": mt.winners_5pct_services,
            "losers_5pct_services": mt.losers_5pct_services,
            "parameters": design.k,
            "services": m.services.len(),
            "users": m.users.len(),
            "year": m.year,
            "floor": p.baseline.rules.floor,
            "iterations": cal.info.iterations,
            "converged": cal.info.converged,
            "huber_scale": cal.info.scale,
            "failed_bootstrap_replicates": cal.info.failed_replicates,
            "guarantees": report,
            "constraints": {
                "asked": spec.guarantees.constrain.iter().map(|g| g.name()).collect::<Vec<_>>(),
                "rows": constraints,
                "binding": cal.info.binding.len(),
                "binding_first": cal.info.binding.iter().take(20).collect::<Vec<_>>(),
                "polished": cal.info.polished,
                "order": order_report(spec, &cal),
            },
            "national": {
                "baseline_total": weighted(&m.services.design_weight, &design.baseline),
                "funding_total": weighted(&m.services.design_weight, &cal.funding),
                "cost_total": weighted(&m.services.design_weight, &design.cost),
            },
            "spec": spec,
        }),
        provenance(spec, data),
    );
    Ok(JobOutput { tables, summary })
}

/// Each order of `guarantees.order` at the estimates: the two values and whether it holds.
fn order_report(
    spec: &JobSpec,
    cal: &dotation_solver::calibrate::Calibration,
) -> serde_json::Value {
    let value = |name: &str| {
        cal.names
            .iter()
            .position(|n| n == name)
            .map(|j| cal.estimate[j])
    };
    spec.guarantees
        .order
        .iter()
        .filter_map(|text| dotation_solver::spec::Order::parse(text))
        .map(|o| {
            let (g, l) = (value(&o.greater), value(&o.lesser));
            serde_json::json!({
                "greater": o.greater,
                "lesser": o.lesser,
                "greater_estimate": g,
                "lesser_estimate": l,
                "holds": matches!((g, l), (Some(g), Some(l)) if g >= l - 1e-9 * g.abs().max(l.abs()).max(1.0)),
            })
        })
        .collect()
}

fn weighted(w: &[f64], v: &[f64]) -> f64 {
    dotation_solver::neutrality::compensated_sum(v.len(), |i| w[i] * v[i])
}
