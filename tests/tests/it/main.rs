//! The integration tests of dotation, one binary: each module tests one feature through
//! a public boundary (the core API, the CLI and Flight surfaces), with expected values from outside
//! the code under test — hand computations from the texts, peer reference vectors, or the
//! known data-generating process of the synthetic survey.

mod aggregation;
mod baseline;
mod calibration;
mod cli;
mod flight;
mod formulas;
mod guarantees;
mod legal;
mod qp;
mod rules;
mod survey;
mod validation;

/// Relative closeness, for values computed by another program.
fn close(a: f64, b: f64, rel: f64) -> bool {
    (a - b).abs() <= rel * a.abs().max(b.abs()).max(1e-300)
}
