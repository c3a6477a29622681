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
