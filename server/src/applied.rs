//! A finished calibration read back from its result folder (the command line's
//! `--calibration DIR`, the Flight server's stored results of a job) for an apply job:
//! its spec from `summary.json`, its parameters from `parameters.parquet`, its point
//! values from `departements.parquet`.

use std::path::Path;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use dotation_solver::job::{AppliedCalibration, JobSummary, SourceParameter};

use crate::error::ServerError;

/// Reads the calibration in `dir`; `source` names it in the apply job's summary.
pub fn read(dir: &Path, source: &str) -> Result<AppliedCalibration, ServerError> {
    if !dir.is_dir() {
        return Err(ServerError::NotADirectory(dir.to_path_buf()));
    }
    let summary = crate::report::read_summary(dir)?;
    let JobSummary::Calibrate(c) = summary.job else {
        return Err(ServerError::Read {
            path: dir.join("summary.json"),
            message: "not the result of a calibration (apply takes what dotation calibrate wrote)"
                .into(),
        });
    };
    let parameters_path = dir.join("parameters.parquet");
    let p = crate::report::read_whole(&parameters_path)?;
    let names = text_column(&p, "parameter", &parameters_path)?;
    let estimate = f64_column(&p, "estimate", &parameters_path)?;
    let se = f64_column(&p, "std_error", &parameters_path)?;
    let low = f64_column(&p, "ci_low", &parameters_path)?;
    let high = f64_column(&p, "ci_high", &parameters_path)?;
    let parameters = (0..names.len())
        .map(|i| SourceParameter {
            name: names[i].clone().unwrap_or_default(),
            estimate: estimate[i].unwrap_or(f64::NAN),
            std_error: se[i],
            ci_low: low[i],
            ci_high: high[i],
        })
        .collect();
    let departements_path = dir.join("departements.parquet");
    let d = crate::report::read_whole(&departements_path)?;
    let codes = text_column(&d, "departement", &departements_path)?;
    let values = f64_column(&d, "point_value", &departements_path)?;
    let point_values = codes
        .into_iter()
        .zip(values)
        .filter_map(|(c, v)| Some((c?, v?)))
        .collect();
    Ok(AppliedCalibration {
        source: source.to_string(),
        spec: c.spec,
        parameters,
        point_values,
        spec_hash: summary.provenance.spec_hash,
        data: summary.provenance.data,
    })
}

fn column<'a>(b: &'a RecordBatch, name: &str, path: &Path) -> Result<&'a dyn Array, ServerError> {
    b.column_by_name(name)
        .map(|c| c.as_ref())
        .ok_or_else(|| ServerError::Read {
            path: path.to_path_buf(),
            message: format!("no column {name}: not a calibration's table"),
        })
}

fn text_column(
    b: &RecordBatch,
    name: &str,
    path: &Path,
) -> Result<Vec<Option<String>>, ServerError> {
    let c = column(b, name, path)?;
    let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Utf8)?;
    Ok(c.as_string::<i32>()
        .iter()
        .map(|v| v.map(str::to_string))
        .collect())
}

fn f64_column(b: &RecordBatch, name: &str, path: &Path) -> Result<Vec<Option<f64>>, ServerError> {
    let c = column(b, name, path)?;
    let c = arrow::compute::cast(c, &arrow::datatypes::DataType::Float64)?;
    Ok(c.as_primitive::<Float64Type>().iter().collect())
}
