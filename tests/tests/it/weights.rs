//! Survey weights calibrated to known totals, against R's `survey::calibrate`
//! (`tests/reference/weights/`: the embedded survey's services, the national frame's
//! totals in `margins.csv`): linear, raking, logit and truncated weights at 1e-8, bounds
//! that cannot hold refused naming the margins R's analysis names, the linearised errors
//! of a fit under calibrated weights as R computes them for a calibrated design; weights
//! in a spec, the margins' validation, and the survey's estimate of the frame's baseline.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use dotation_core::Dataset;
use dotation_core::baseline::{BaselineOptions, baseline};
use dotation_core::validate::{Source, ValidateOptions, check_margins};
use dotation_datasets::{Scale, SurveyConfig};
use dotation_server::data::embedded;
use dotation_server::error::ServerError;
use dotation_server::jobs::{JobContext, run_spec};
use dotation_solver::job::{JobResult, WeightsJob, calibrate_dataset};
use dotation_solver::spec::{JobSpec, Scope, StdErrors, WeightsSpec};
use dotation_solver::weights::{Method, WeightsError};

use crate::close;
use crate::design_errors::{example, fit, options};
use crate::formulas::survey_dataset;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reference/weights")
}

fn csv_rows(name: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(dir().join(name)).expect("a reference file");
    let mut lines = text.lines();
    let split = |l: &str| {
        l.split(',')
            .map(|f| f.trim_matches('"').to_string())
            .collect()
    };
    let header = split(lines.next().expect("a header"));
    (header, lines.map(split).collect())
}

/// A margins file of the reference folder, checked against the embedded survey.
fn with_margins(data: &Dataset, file: &str) -> Dataset {
    let path = dir().join(file);
    let source = dotation_server::io::read_table_as(
        &path,
        dotation_server::io::Format::Csv,
        &path.display().to_string(),
    )
    .expect("readable");
    let margins =
        check_margins(&source, &data.micro, &ValidateOptions::default()).expect("valid margins");
    let mut d = data.clone();
    d.margins = Some(margins);
    d
}

fn spec(method: Method, bounds: Option<[f64; 2]>) -> WeightsSpec {
    WeightsSpec {
        method,
        bounds,
        max_iterations: 100,
        tolerance: 1e-12,
    }
}

/// The four methods with the reference's bounds.
const METHODS: [(&str, Method, Option<[f64; 2]>); 4] = [
    ("linear", Method::Linear, None),
    ("raking", Method::Raking, None),
    ("logit", Method::Logit, Some([0.4, 1.5])),
    ("truncated", Method::Truncated, Some([0.4, 1.6])),
];

fn calibrated(method: Method, bounds: Option<[f64; 2]>) -> WeightsJob {
    let data = with_margins(&survey_dataset(), "margins.csv");
    calibrate_dataset(&spec(method, bounds), &data).expect("calibrates")
}

#[test]
fn weights_match_r_survey_calibrate() {
    let (header, rows) = csv_rows("weights_reference.csv");
    let col = |c: &str| header.iter().position(|h| h == c).expect("a column");
    let data = survey_dataset();
    let ids = &data.micro.services.id;
    assert_eq!(rows.len(), ids.len());
    for (name, method, bounds) in METHODS {
        let job = calibrated(method, bounds);
        let c = &job.calibration;
        for (s, row) in rows.iter().enumerate() {
            assert_eq!(row[col("service_id")], ids[s], "services in the same order");
            let r: f64 = row[col(name)].parse().expect("a number");
            assert!(
                close(c.weights[s], r, 1e-8),
                "{name}: {} weight {} against R's {r}",
                ids[s],
                c.weights[s]
            );
        }
        assert!(
            c.largest_residual() <= 1e-12,
            "{name}: {}",
            c.largest_residual()
        );
        if let Some([l, u]) = bounds {
            assert!(c.g.iter().all(|&g| g >= l - 1e-15 && g <= u + 1e-15));
        }
        // Against the totals the margins file gives, independently of the solver's own
        // bookkeeping.
        let totals: Vec<f64> = job.margins.rows.iter().map(|r| r.total).collect();
        let p = totals.len();
        for j in 0..p {
            let achieved: f64 = (0..ids.len())
                .map(|s| c.weights[s] * job.auxiliary[s * p + j])
                .sum();
            assert!(close(achieved, totals[j], 1e-10), "{name} margin {j}");
        }
    }
}

#[test]
fn bounds_that_cannot_hold_are_refused_naming_the_margins() {
    let data = survey_dataset();
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir().join("weights_reference.json")).expect("the reference"),
    )
    .expect("JSON");
    for case in reference["infeasible"].as_array().expect("cases") {
        let file = case["margins"].as_str().expect("a file");
        let b = &case["bounds"];
        let bounds = [b[0].as_f64().expect("L"), b[1].as_f64().expect("U")];
        let d = with_margins(&data, file);
        let err =
            calibrate_dataset(&spec(Method::Truncated, Some(bounds)), &d).expect_err("infeasible");
        let dotation_solver::JobError::Weights(WeightsError::Infeasible { margins, .. }) = &err
        else {
            panic!("{err}")
        };
        let mut named: Vec<String> = margins.iter().map(|m| m.margin.clone()).collect();
        named.sort();
        let mut expected: Vec<String> = case["rows_out_of_reach"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|r| {
                let (margin, variable, level) = (
                    r["margin"].as_str().unwrap_or_default(),
                    r["variable"].as_str().unwrap_or_default(),
                    r["level"].as_str().unwrap_or_default(),
                );
                if !level.is_empty() {
                    format!("{margin}[{variable}={level}]")
                } else if margin == variable {
                    margin.to_string()
                } else {
                    format!("{margin}[{variable}]")
                }
            })
            .collect();
        expected.sort();
        assert_eq!(named, expected, "{file} in {bounds:?}: {err}");
        // The closest reachable total is the end of R's reachable range.
        for r in case["rows_out_of_reach"].as_array().expect("rows") {
            let total = r["total"].as_f64().expect("a total");
            let reach = if total < r["reachable_low"].as_f64().expect("low") {
                r["reachable_low"].as_f64().expect("low")
            } else {
                r["reachable_high"].as_f64().expect("high")
            };
            assert!(
                margins
                    .iter()
                    .any(|m| m.total == total && close(m.reached, reach, 1e-9)),
                "{file}: {total} reaches {reach}: {err}"
            );
        }
    }
    // Margins that hold one by one but not together: the linear program names them.
    let d = with_margins(&data, "margins.csv");
    let err =
        calibrate_dataset(&spec(Method::Raking, Some([0.97, 1.03])), &d).expect_err("infeasible");
    assert!(err.to_string().contains("cannot hold"), "{err}");
}

#[test]
fn linearised_errors_under_calibrated_weights_match_r_survey() {
    let (_, rows) = csv_rows("calibrated_design_reference.csv");
    let mut r: HashMap<String, Vec<f64>> = HashMap::new();
    for f in rows {
        r.entry(f[0].clone())
            .or_default()
            .push(f[2].parse().expect("a number"));
    }
    let job = calibrated(Method::Raking, None);
    let mut ex = example("survey");
    for (s, w) in job.calibration.weights.iter().enumerate() {
        assert!(close(*w, r["weight_cal"][s], 1e-8), "service {s}");
    }
    ex.weights = job.calibration.weights.clone();
    for (tag, scope) in [("free", Scope::None), ("nat", Scope::National)] {
        // Without the calibration's adjustment: R's plain design with the same weights.
        let plain = fit(&ex, &options(scope, StdErrors::Design));
        let mut cal = ex.survey.clone();
        cal.calibration = Some(Arc::new(job.calibrated()));
        let ex_cal = crate::design_errors::Example {
            survey: cal,
            design: ex.design.clone(),
            weights: ex.weights.clone(),
            departement: ex.departement.clone(),
            codes: ex.codes.clone(),
        };
        let adjusted = fit(&ex_cal, &options(scope, StdErrors::Design));
        for j in 0..ex.design.k {
            let theta = r[&format!("theta_{tag}")][j];
            assert!(close(adjusted.estimate[j], theta, 1e-9), "{tag} θ{j}");
            let se = adjusted.std_error[j].expect("an error");
            let want = r[&format!("se_lin_{tag}")][j];
            assert!(
                close(se, want, 1e-8),
                "{tag} se{j}: {se} against R's {want}"
            );
            let se_plain = plain.std_error[j].expect("an error");
            let want_plain = r[&format!("se_lin_{tag}_uncal")][j];
            assert!(
                close(se_plain, want_plain, 1e-8),
                "{tag} uncalibrated se{j}: {se_plain} against R's {want_plain}"
            );
        }
    }
}

#[test]
fn a_spec_with_weights_runs_on_the_calibrated_weights() {
    let s = embedded(&SurveyConfig::default())
        .expect("generates")
        .with_margins(&dir().join("margins.csv"))
        .expect("a margins file");
    let spec =
        JobSpec::parse("[weights]\nmethod = \"raking\"\n[calibration]\nstd_errors = \"design\"\n")
            .expect("a spec");
    let out = run_spec(&spec, &s, &JobContext::detached()).expect("runs");
    let raking = calibrated(Method::Raking, None);
    let JobResult::Calibration(c) = &out.result else {
        panic!("a calibration")
    };
    assert!(c.calibration.neutrality_residual <= 1e-9);
    let names: Vec<&str> = out.tables.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.contains(&"weights") && names.contains(&"margins"),
        "{names:?}"
    );
    let services = &out
        .tables
        .iter()
        .find(|(n, _)| n == "services")
        .expect("services")
        .1;
    let w = services
        .column_by_name("weight")
        .expect("a weight column")
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .expect("f64");
    for (s, want) in raking.calibration.weights.iter().enumerate() {
        assert_eq!(
            w.value(s),
            *want,
            "the services' weight is the calibrated weight"
        );
    }
    assert_eq!(out.summary["weights"]["method"], "raking");
    // Neutrality holds under the calibrated weights: Σ w funding = Σ w target.
    let f = &c.calibration.funding;
    let t = &c.design.target;
    let (a, b): (f64, f64) = (0..f.len())
        .map(|s| {
            (
                raking.calibration.weights[s] * f[s],
                raking.calibration.weights[s] * t[s],
            )
        })
        .fold((0.0, 0.0), |(x, y), (p, q)| (x + p, y + q));
    assert!(((a - b) / b).abs() <= 1e-9);
    // Replicate errors would need every replicate recalibrated: refused by name.
    let e = JobSpec::parse(
        "[weights]\nmethod = \"raking\"\n[calibration]\nstd_errors = \"jackknife\"\n",
    )
    .expect_err("refused");
    assert!(e.to_string().contains("calibration.std_errors"), "{e}");
    // Without margins, a spec with weights says where to give them.
    let e = run_spec(
        &JobSpec::parse("kind = \"weights\"\n[weights]\nmethod = \"linear\"\n").expect("a spec"),
        &embedded(&SurveyConfig::default()).expect("generates"),
        &JobContext::detached(),
    )
    .expect_err("no margins");
    assert!(e.to_string().contains("no margins table"), "{e}");
}

#[test]
fn margins_that_break_the_contract_are_listed_with_row_and_column() {
    let data = survey_dataset();
    let text = "margin,variable,level,total\n\
                a,status*habilitated,associatif,10\n\
                b,status,cooperative,10\n\
                c,hours_apa,true,10\n\
                d,colour,red,10\n\
                e,users:gir=7,,10\n\
                f,hours_pch,,-5\n\
                g,status,,3\n\
                h,status,public,1\n\
                h,mixed,true,1\n";
    let path = std::env::temp_dir().join(format!("margins-{}.csv", std::process::id()));
    std::fs::write(&path, text).expect("written");
    let source: Source =
        dotation_server::io::read_table_as(&path, dotation_server::io::Format::Csv, "margins.csv")
            .expect("readable");
    std::fs::remove_file(&path).ok();
    let report =
        check_margins(&source, &data.micro, &ValidateOptions::default()).expect_err("invalid");
    let found: Vec<(u64, String, &str)> = report
        .problems
        .iter()
        .map(|p| {
            (
                p.row.unwrap_or(0),
                p.column.clone().unwrap_or_default(),
                p.rule.id(),
            )
        })
        .collect();
    for want in [
        (1, "level", "conditional"),    // two columns, one level
        (2, "level", "code"),           // not a status
        (3, "level", "conditional"),    // a numeric total has no level
        (4, "variable", "code"),        // no such column
        (5, "variable", "code"),        // GIR 1–6
        (6, "total", "range"),          // ≥ 0
        (7, "level", "conditional"),    // a category needs its level
        (9, "variable", "conditional"), // one margin, two variables
    ] {
        assert!(
            found.iter().any(|(r, c, id)| (*r, c.as_str(), *id) == want),
            "{want:?} in {found:?}"
        );
    }
    assert!(report.problems.iter().all(|p| p.table.name() == "margins"));
}

/// The survey stands for the national frame: its design-weighted estimate of the frame's
/// baseline, and the estimate with weights calibrated to the frame's totals (the
/// reference margins: counts by status and regime, APA and PCH hours, users by GIR),
/// against the frame's own total. Calibration brings the estimate closer.
#[test]
fn calibrated_weights_estimate_the_frames_baseline_better() {
    let frame_config = SurveyConfig {
        scale: Scale::National,
        visits: false,
        ..SurveyConfig::default()
    };
    let frame = embedded(&frame_config)
        .expect("generates")
        .validate(&ValidateOptions::default(), &|_| {})
        .expect("a valid frame");
    let options = BaselineOptions::default();
    let total = |d: &Dataset, w: &[f64]| -> f64 {
        let b = baseline(&d.micro, &d.drivers, &options).expect("2026");
        (0..w.len()).map(|s| w[s] * b.services.funding[s]).sum()
    };
    let truth = total(&frame, &frame.micro.services.design_weight);
    // The reference margins are the frame's own totals.
    let margins = with_margins(&frame, "margins.csv")
        .margins
        .expect("margins");
    let x = margins.auxiliary(&frame.micro);
    let p = margins.len();
    for (j, m) in margins.rows.iter().enumerate() {
        let t: f64 = (0..frame.micro.services.len()).map(|s| x[s * p + j]).sum();
        assert!(
            close(t, m.total, 1e-12),
            "{}: the frame's total {t}",
            m.label()
        );
    }
    let sample = survey_dataset();
    let design = total(&sample, &sample.micro.services.design_weight);
    let raking = calibrated(Method::Raking, None);
    let calibrated = total(&sample, &raking.calibration.weights);
    let (e_design, e_cal) = (
        (design / truth - 1.0).abs(),
        (calibrated / truth - 1.0).abs(),
    );
    println!(
        "frame baseline {truth:.0} €; survey estimate with design weights {design:.0} € ({:+.2} %), with calibrated weights {calibrated:.0} € ({:+.2} %)",
        100.0 * (design / truth - 1.0),
        100.0 * (calibrated / truth - 1.0)
    );
    assert!(e_cal < e_design, "{e_cal} against {e_design}");
}

#[test]
fn a_margins_file_that_does_not_exist_is_named() {
    let e: ServerError = embedded(&SurveyConfig::default())
        .expect("generates")
        .with_margins(&dir().join("no-such-file.csv"))
        .expect_err("absent");
    assert!(matches!(e, ServerError::Io { .. }), "{e}");
    assert!(e.to_string().contains("no-such-file.csv"), "{e}");
}
