//! Choosing a formula: cross-validation and the comparison of candidates on the embedded
//! survey. The cost data-generating process (truth.json) prices users by allowance × GIR
//! band × entourage: a forfait on those groups must predict held-out services better
//! than an over-parameterised one, even where the latter fits the sample better.

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, UInt64Type};
use clap::Parser;
use dotation_server::cli::{Cli, run};
use dotation_server::jobs::{JobContext, run_spec};
use dotation_solver::job::JobResult;
use dotation_solver::spec::JobSpec;

use crate::formulas::survey;

const TRUE_GROUPS: &str = r#"
[[candidates]]
name = "true groups"
formula = { kind = "forfait", groups = ["allowance", "gir_band", "entourage"] }

[[candidates]]
name = "over-parameterised"
formula = { kind = "forfait", groups = ["allowance", "gir", "entourage_level", "zone"] }
"#;

fn compare(text: &str) -> dotation_solver::job::CompareJob {
    let spec = JobSpec::parse(&format!("kind = \"compare\"\n{text}")).expect("a spec");
    let out = run_spec(&spec, &survey().data, &JobContext::detached()).expect("runs");
    match out.result {
        JobResult::Compare(c) => *c,
        _ => panic!("a comparison"),
    }
}

#[test]
fn the_true_groups_predict_held_out_services_better_than_an_over_parameterised_forfait() {
    let c = compare(TRUE_GROUPS);
    let (truth, over) = (&c.summary.candidates[0], &c.summary.candidates[1]);
    assert!(over.feasible, "{:?}", over.conflict);
    eprintln!(
        "true groups: {} parameters, R² {:.4}, CV RMSE {:.0}; over-parameterised: {} parameters, R² {:.4}, CV RMSE {:.0}",
        truth.parameters,
        truth.r2.unwrap(),
        truth.cv_rmse.unwrap(),
        over.parameters,
        over.r2.unwrap(),
        over.cv_rmse.unwrap()
    );
    assert!(over.parameters > 3 * truth.parameters);
    assert!(
        truth.cv_rmse.unwrap() < over.cv_rmse.unwrap(),
        "the true groups' out-of-sample error is the lower"
    );
    assert_eq!(
        c.summary.best_cross_validated.as_deref(),
        Some("true groups")
    );
    for row in &c.summary.candidates {
        assert!(row.feasible);
        assert!(row.neutrality_residual.unwrap() <= 1e-9);
        // Out-of-sample error is never below the in-sample one for least squares.
        assert!(row.cv_rmse.unwrap() >= row.rmse.unwrap());
    }
}

#[test]
fn cross_validation_gives_the_same_bits_on_one_and_two_threads() {
    let text = "[cross_validation]\nfolds = 5\nseed = 11\n";
    let run_with = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .expect("a pool")
            .install(|| {
                let spec = JobSpec::parse(text).expect("a spec");
                match run_spec(&spec, &survey().data, &JobContext::detached())
                    .expect("runs")
                    .result
                {
                    JobResult::Calibration(c) => c.summary.cross_validation.expect("cv"),
                    _ => panic!("a calibration"),
                }
            })
    };
    let (one, two) = (run_with(1), run_with(2));
    assert_eq!(one, two);
    assert_eq!(one.folds, 5);
}

#[test]
fn an_infeasible_candidate_is_a_row_with_its_conflict_and_the_cli_writes_the_table() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = dir.path().join("forfait.toml");
    let b = dir.path().join("strict.toml");
    std::fs::write(&a, "").expect("write");
    // No loss at all for any service, with the default forfait: cannot hold.
    std::fs::write(
        &b,
        "[guarantees]\nconstrain = [\"transition\", \"has_cover\"]\ntransition_limit = 0.0\n",
    )
    .expect("write");
    let out = dir.path().join("out");
    let args = [
        "dotation",
        "--quiet",
        "compare",
        "--spec",
        a.to_str().unwrap(),
        "--spec",
        b.to_str().unwrap(),
        "--folds",
        "4",
        "--out",
        out.to_str().unwrap(),
    ];
    run(&Cli::try_parse_from(args).expect("args")).expect("runs");
    let file = std::fs::File::open(out.join("candidates.parquet")).expect("written");
    let batch = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
        .next()
        .expect("a batch")
        .expect("read");
    let names = batch
        .column_by_name("candidate")
        .unwrap()
        .as_string::<i32>();
    assert_eq!(names.value(0), "forfait");
    assert_eq!(names.value(1), "strict");
    let feasible = batch.column_by_name("feasible").unwrap().as_boolean();
    assert!(feasible.value(0));
    assert!(!feasible.value(1));
    let conflict = batch.column_by_name("conflict").unwrap().as_string::<i32>();
    assert!(conflict.is_null(0));
    assert!(
        conflict.value(1).contains("guarantees cannot all hold"),
        "{}",
        conflict.value(1)
    );
    // The infeasible candidate is still cross-validated (its formula, without guarantees).
    let cv = batch
        .column_by_name("cv_rmse")
        .unwrap()
        .as_primitive::<Float64Type>();
    assert!(cv.is_valid(0) && cv.is_valid(1));
    let params = batch
        .column_by_name("parameters")
        .unwrap()
        .as_primitive::<UInt64Type>();
    assert!(params.value(0) > 0);
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).expect("summary"))
            .expect("JSON");
    assert_eq!(summary["command"], "compare");
    assert_eq!(summary["folds"], 4);
}

#[test]
fn comparison_specs_that_cannot_run_say_what_to_change() {
    let e = JobSpec::parse("kind = \"compare\"")
        .unwrap_err()
        .to_string();
    assert!(e.contains("candidates"), "{e}");
    let e = JobSpec::parse("[[candidates]]\nname = \"a\"")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("kind = \\\"compare\\\"") || e.contains("kind = \"compare\""),
        "{e}"
    );
    let e = JobSpec::parse(
        "kind = \"compare\"\n[[candidates]]\nname = \"a\"\n[[candidates]]\nname = \"a\"",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("names two candidates"), "{e}");
    let e = JobSpec::parse(
        "kind = \"compare\"\n[[candidates]]\nname = \"bad\"\ncalibration = { loss = \"median\", std_errors = \"design\" }",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("candidates[0] (bad).calibration.std_errors"),
        "{e}"
    );
    let e = JobSpec::parse("[cross_validation]\nfolds = 1")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cross_validation.folds"), "{e}");
}
