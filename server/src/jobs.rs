//! Jobs at the edge: a job spec (TOML or JSON) on loaded data → named result tables and
//! `summary.json`, for the command line and the Flight server alike, so that the CLI's
//! files and Flight's streams hold the same tables.
//!
//! What a job computes is defined in the library (`dotation_solver::job`); here a job is
//! parsed, its data validated (the first half of its progress), the library run, and its
//! typed results turned into Arrow tables (`results`) and its summary, with the
//! provenance (spec hash, data and its hash, version), into JSON.

use arrow::array::RecordBatch;
use dotation_core::VERSION;
use dotation_core::validate::ValidateOptions;
use dotation_solver::job::{self, AppliedCalibration, JobOutcome, JobResult, Provenance, Summary};
use dotation_solver::spec::JobSpec;
use sha2::{Digest, Sha256};

pub use dotation_solver::job::JobContext;

use crate::data::LoadedData;
use crate::error::ServerError;
use crate::results;

/// The result of a job.
#[derive(Debug)]
pub struct JobOutput {
    /// Result tables, in order, by name (`parameters`, `services`, `departements`, …).
    pub tables: Vec<(String, RecordBatch)>,
    /// `summary.json`: the [`Summary`] as JSON (keys in alphabetical order).
    pub summary: serde_json::Value,
    /// The typed results the tables and the summary were made from.
    pub result: JobResult,
}

/// Parses a spec text (JSON when it starts with `{`, TOML otherwise).
pub fn parse_spec(spec_text: &str) -> Result<JobSpec, ServerError> {
    Ok(JobSpec::parse(spec_text)?)
}

/// Which dataset a spec names: `None` for the embedded survey.
pub fn dataset_of(spec: &JobSpec) -> Option<String> {
    spec.data.clone().filter(|d| d != "embedded")
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

/// Runs a parsed spec on loaded data: validation, the library's job, tables and summary.
pub fn run_spec(
    spec: &JobSpec,
    data: &LoadedData,
    ctx: &JobContext,
) -> Result<JobOutput, ServerError> {
    run_spec_with(spec, data, None, ctx)
}

/// [`run_spec`] with the calibration an apply job applies.
pub fn run_spec_with(
    spec: &JobSpec,
    data: &LoadedData,
    source: Option<&AppliedCalibration>,
    ctx: &JobContext,
) -> Result<JobOutput, ServerError> {
    ctx.step(0.0)?;
    let options = ValidateOptions {
        mtp_override: spec.baseline.mtp,
        ..ValidateOptions::default()
    };
    let dataset = data.validate(&options, &|_| {})?;
    job::check_year(spec, &dataset.micro, &data.description)?;
    let outcome = job::run(spec, &dataset, source, ctx)?;
    let mut tables = results::tables(outcome.data(&dataset), &outcome.result)?;
    if let Some(w) = &outcome.weights {
        tables.extend(results::weights_tables(outcome.data(&dataset), w)?);
    }
    let JobOutcome {
        result, weights, ..
    } = outcome;
    let summary = Summary {
        weights: weights.map(|w| w.summary),
        job: result.summary(),
        provenance: Provenance {
            spec_hash: spec_hash(spec),
            data: data.description.clone(),
            data_hash: data.hash.clone(),
            version: VERSION.to_string(),
        },
    };
    let summary = serde_json::to_value(&summary).expect("JSON of plain values");
    ctx.step(1.0)?;
    Ok(JobOutput {
        tables,
        summary,
        result,
    })
}
