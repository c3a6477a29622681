//! Reports at the edge: a job's HTML report (`dotation_report`) from what the job just
//! computed (`--report FILE` of `baseline` and `calibrate`), from a result folder
//! (`dotation report --results DIR`, and the Flight server's stored results, which are
//! such folders), or, for a calibration whose guarantees cannot hold, from the solver's
//! diagnosis. Report files are written atomically, like every result.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use dotation_core::VERSION;
use dotation_report::{Lang, Tables};
use dotation_solver::job::{Provenance, Summary};
use dotation_solver::spec::JobSpec;
use dotation_solver::{CalibrationError, SolverError};

use crate::data::LoadedData;
use crate::error::ServerError;
use crate::io::{self, Format, Output};
use crate::jobs::{self, JobOutput};

/// The report of a job that just ran.
pub fn from_output(job: &JobOutput, lang: Lang) -> Result<String, ServerError> {
    let summary: Summary = serde_json::from_value(job.summary.clone())
        .map_err(|e| ServerError::Internal(format!("a job's summary does not read back: {e}")))?;
    let wanted = dotation_report::tables_read(&summary.job);
    let tables = Tables::new(
        job.tables
            .iter()
            .filter(|(name, _)| wanted.contains(&name.as_str()))
            .cloned()
            .collect(),
    );
    Ok(dotation_report::render(&summary, &tables, lang)?)
}

/// The report of a result folder: its `summary.json` and the Parquet tables the job
/// kind's report reads.
pub fn from_dir(dir: &Path, lang: Lang) -> Result<String, ServerError> {
    let summary = read_summary(dir)?;
    let mut tables = Vec::new();
    for name in dotation_report::tables_read(&summary.job) {
        let file = dir.join(format!("{name}.parquet"));
        // A table the job did not write (census data have no drivers) is left out: the
        // report says which one it misses, if it needs it.
        if !file.exists() {
            continue;
        }
        tables.push((name.to_string(), read_whole(&file)?));
    }
    Ok(dotation_report::render(
        &summary,
        &Tables::new(tables),
        lang,
    )?)
}

/// A result folder's `summary.json`.
pub fn read_summary(dir: &Path) -> Result<Summary, ServerError> {
    let path = dir.join("summary.json");
    let text = std::fs::read_to_string(&path).map_err(|source| ServerError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| ServerError::Read {
        path,
        message: format!("not the summary.json of a job: {e}"),
    })
}

/// A Parquet file as one batch.
pub fn read_whole(path: &Path) -> Result<RecordBatch, ServerError> {
    let batches =
        io::open_batches(path, Format::Parquet)?.collect::<Result<Vec<RecordBatch>, _>>()?;
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => {
            return Err(ServerError::Read {
                path: path.to_path_buf(),
                message: "no record batch".into(),
            });
        }
    };
    Ok(arrow::compute::concat_batches(&schema, &batches)?)
}

/// The conflict report of a calibration that failed because the guarantees it was asked
/// to keep cannot hold together; `None` for any other failure.
pub fn infeasible(
    spec: &JobSpec,
    data: &LoadedData,
    error: &ServerError,
    lang: Lang,
) -> Result<Option<String>, ServerError> {
    let ServerError::Calibration(CalibrationError::Solver(e @ SolverError::Infeasible { .. })) =
        error
    else {
        return Ok(None);
    };
    let provenance = Provenance {
        spec_hash: jobs::spec_hash(spec),
        data: data.description.clone(),
        data_hash: data.hash.clone(),
        version: VERSION.to_string(),
    };
    Ok(dotation_report::render_infeasible(
        spec,
        &provenance,
        e,
        lang,
    )?)
}

/// Writes a report to `path`, atomically (complete or absent).
pub fn write(path: &Path, html: &str) -> Result<(), ServerError> {
    let name = path.file_name().ok_or_else(|| ServerError::Io {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out = Output::new(&dir)?;
    out.text(&name.to_string_lossy(), html)?;
    out.commit()?;
    Ok(())
}
