//! The integration tests of dotation, one binary: each module tests one feature through
//! a public boundary (the core API, the CLI and Flight surfaces), with expected values from outside
//! the code under test — hand computations from the texts, peer reference vectors, or the
//! known data-generating process of the synthetic survey.

mod aggregation;
mod apply;
mod baseline;
mod calibration;
mod cli;
mod compare;
mod design_errors;
mod fidelity;
mod flight;
mod flight_weights;
mod formulas;
mod fuzz;
mod guarantees;
mod layers;
mod legal;
mod qp;
mod report;
mod rules;
mod streaming;
mod survey;
mod sweep;
mod validation;
mod weights;

/// A numeric column of a Parquet result file, as f64 (nulls as `None`).
fn parquet_f64(path: &std::path::Path, column: &str) -> Vec<Option<f64>> {
    let file = std::fs::File::open(path).expect("the file exists");
    let batches: Vec<arrow::array::RecordBatch> =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .expect("parquet")
            .build()
            .expect("reader")
            .collect::<Result<_, _>>()
            .expect("batches");
    batches
        .iter()
        .flat_map(|b| {
            let a = b
                .column_by_name(column)
                .unwrap_or_else(|| panic!("no column {column}"));
            let a = arrow::compute::cast(a, &arrow::datatypes::DataType::Float64).expect("numbers");
            a.as_any()
                .downcast_ref::<arrow::array::Float64Array>()
                .expect("f64")
                .iter()
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Relative closeness, for values computed by another program.
fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}

/// A reference vector of `tests/reference/calibration/` (`make_vectors.py`).
fn reference_vector(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/reference/calibration/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("a reference file")).expect("JSON")
}

/// Every number of a (nested) JSON array, in order.
fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("an array")
        .iter()
        .flat_map(|x| match x {
            serde_json::Value::Array(_) => floats(x),
            _ => vec![x.as_f64().expect("a number")],
        })
        .collect()
}
