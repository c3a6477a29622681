//! Jobs: what the CLI and the Flight server run — a spec text → result tables.
//!
//! A job spec is TOML or JSON text (JSON when it starts with `{`). Two keys are common to
//! every kind: `kind` says what to compute, `data` names the dataset (absent or
//! `"embedded"`: the embedded synthetic survey). The server only needs [`dataset_of`] to
//! find the data and [`run`] to compute; both the CLI's `baseline` command and the
//! `baseline` job share [`baseline`], so the tables are the same bits on both surfaces.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arrow::array::RecordBatch;
use dotation_core::aggregate::Drivers;
use dotation_core::baseline::{Baseline, BaselineOptions, Totals};
use dotation_core::tables::Microdata;
use dotation_core::validate::{ValidateOptions, validate};
use dotation_core::{CoreError, VERSION};
use serde::Deserialize;

use crate::data::LoadedData;
use crate::error::ServerError;
use crate::results;

/// What a job gives back.
#[derive(Debug)]
pub struct JobOutput {
    /// Result tables, in order, by name ("services", "departements", ...).
    pub tables: Vec<(String, RecordBatch)>,
    /// summary.json
    pub summary: serde_json::Value,
}

/// How a running job reports progress and learns that it should stop.
#[derive(Clone)]
pub struct JobContext {
    /// Called with the fraction done, 0..1, increasing.
    pub progress: Arc<dyn Fn(f64) + Send + Sync>,
    /// Set by whoever wants the job to stop; the job then returns
    /// [`ServerError::Cancelled`] at its next check.
    pub cancel: Arc<AtomicBool>,
}

impl JobContext {
    /// A context that reports nowhere and is never cancelled (the command line's).
    pub fn detached() -> JobContext {
        JobContext {
            progress: Arc::new(|_| {}),
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Reports `fraction` done, then fails with [`ServerError::Cancelled`] if the job
    /// was asked to stop. Jobs call it between their stages.
    pub fn checkpoint(&self, fraction: f64) -> Result<(), ServerError> {
        (self.progress)(fraction);
        if self.cancel.load(Ordering::Relaxed) {
            return Err(ServerError::Cancelled);
        }
        Ok(())
    }
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("cancel", &self.cancel.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Parses a spec into a JSON value: JSON when the text starts with `{`, TOML otherwise.
fn parse(spec_text: &str) -> Result<serde_json::Value, ServerError> {
    let trimmed = spec_text.trim_start();
    if trimmed.starts_with('{') {
        serde_json::from_str(trimmed).map_err(|e| ServerError::Spec(format!("JSON: {e}")))
    } else {
        let value: toml::Table =
            toml::from_str(spec_text).map_err(|e| ServerError::Spec(format!("TOML: {e}")))?;
        serde_json::to_value(value).map_err(|e| ServerError::Spec(e.to_string()))
    }
}

/// Which dataset a spec names: None = the embedded survey. Errors on unparsable spec.
pub fn dataset_of(spec_text: &str) -> Result<Option<String>, ServerError> {
    let spec = parse(spec_text)?;
    let Some(obj) = spec.as_object() else {
        return Err(ServerError::Spec(
            "a job spec is a table of keys (kind, data, ...)".into(),
        ));
    };
    match obj.get("data") {
        None => Ok(None),
        Some(serde_json::Value::String(s)) if s == "embedded" => Ok(None),
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(Some(s.clone())),
        Some(other) => Err(ServerError::Spec(format!(
            "data = {other}: expected the name of an uploaded dataset, or \"embedded\""
        ))),
    }
}

/// The spec of a `baseline` job.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BaselineSpec {
    #[allow(dead_code)]
    kind: String,
    #[allow(dead_code)]
    data: Option<String>,
    /// MTP of the data's year when dotation does not know it (€/month).
    mtp: Option<f64>,
    /// Replaces the year's national floor tariff (€/h).
    floor: Option<f64>,
}

/// Runs a spec on loaded data (crate::data::LoadedData). Returns ServerError::Cancelled when ctx.cancel is set.
pub fn run(spec_text: &str, data: LoadedData, ctx: &JobContext) -> Result<JobOutput, ServerError> {
    let spec = parse(spec_text)?;
    let kind = spec.get("kind").and_then(serde_json::Value::as_str);
    match kind {
        Some("baseline") => {
            let spec: BaselineSpec = serde_json::from_value(spec)
                .map_err(|e| ServerError::Spec(format!("baseline job: {e}")))?;
            let options = BaselineOptions {
                mtp: spec.mtp,
                floor: spec.floor,
            };
            Ok(baseline(&data, &options, ctx)?.output)
        }
        Some(other) => Err(ServerError::UnknownJobKind(other.to_string())),
        None => Err(ServerError::Spec(
            "the spec has no kind (for example kind = \"baseline\")".into(),
        )),
    }
}

/// A computed baseline: the job's output, and the typed results the command line prints.
#[derive(Debug)]
pub struct BaselineRun {
    /// The result tables and summary.
    pub output: JobOutput,
    /// The validated microdata.
    pub micro: Microdata,
    /// The baseline.
    pub baseline: Baseline,
}

/// Today's hourly funding: validate, aggregate the drivers once, compute the baseline and
/// build the tables `services`, `departements`, `users`, `drivers`, `user_cells`.
pub fn baseline(
    data: &LoadedData,
    options: &BaselineOptions,
    ctx: &JobContext,
) -> Result<BaselineRun, ServerError> {
    ctx.checkpoint(0.0)?;
    let validate_options = ValidateOptions {
        mtp_override: options.mtp,
        ..ValidateOptions::default()
    };
    let m = validate(&data.raw, &validate_options).map_err(|r| CoreError::Invalid(Box::new(r)))?;
    ctx.checkpoint(0.4)?;
    let drivers = Drivers::compute(&m);
    ctx.checkpoint(0.7)?;
    let b = baseline_core(&m, &drivers, options)?;
    ctx.checkpoint(0.8)?;
    let tables = vec![
        ("services".to_string(), results::baseline_services(&m, &b)?),
        (
            "departements".to_string(),
            results::baseline_departements(&m, &b)?,
        ),
        ("users".to_string(), results::baseline_users(&m, &b)?),
        (
            "drivers".to_string(),
            results::service_drivers(&m, &drivers)?,
        ),
        ("user_cells".to_string(), results::user_cells(&m, &drivers)?),
    ];
    let summary = serde_json::json!({
        "command": "baseline",
        "year": m.year,
        "floor": b.rules.floor,
        "mtp": b.rules.mtp,
        "data": data.description,
        "data_hash": data.hash,
        "version": VERSION,
        "services": m.services.len(),
        "users": m.users.len(),
        "visits": m.visits.len(),
        "weeks_observed": drivers.weeks,
        "services_without_apa_users": b.services_without_apa_users,
        "national": totals_json(&b.national),
    });
    ctx.checkpoint(1.0)?;
    Ok(BaselineRun {
        output: JobOutput { tables, summary },
        micro: m,
        baseline: b,
    })
}

fn baseline_core(
    m: &Microdata,
    drivers: &Drivers,
    options: &BaselineOptions,
) -> Result<Baseline, ServerError> {
    Ok(dotation_core::baseline::baseline(m, drivers, options)?)
}

fn totals_json(t: &Totals) -> serde_json::Value {
    serde_json::json!({
        "services": t.services,
        "hours_funded": t.hours_funded,
        "baseline_funding": t.funding,
        "user_participation": t.user_participation,
        "public_cost": t.public_cost,
        "cost_total": t.cost_total,
    })
}
