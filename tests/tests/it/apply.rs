//! A calibration applied to other data, as a user runs it on the command line: to its own
//! data it reproduces its funding bit for bit (point value 1 to 1e-12 when neutrality is
//! re-established); to the national frame without visits (census data) every service is
//! funded and every budget holds to 1e-9, per département too; a formula the target
//! cannot feed is refused naming what is missing. The weights command writes its tables.

use clap::Parser;
use dotation_server::cli::{Cli, run};

use crate::close;

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["dotation", "--quiet"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).expect("valid arguments")
}

fn column(path: &std::path::Path, name: &str) -> Vec<f64> {
    crate::parquet_f64(path, name)
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect()
}

fn summary(dir: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).expect("written"))
        .expect("JSON")
}

fn path(d: &tempfile::TempDir) -> &str {
    d.path().to_str().expect("utf-8")
}

#[test]
fn applied_to_its_own_data_a_calibration_funds_every_service_as_it_did() {
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("job.toml");
    std::fs::write(
        &spec,
        "[formula]\nkind = \"forfait\"\ngroups = [\"allowance\", \"gir_band\"]\n[neutrality]\nscope = \"departement\"\n[calibration]\nmethod = \"point_values\"\n",
    )
    .expect("written");
    for spec in [None, Some(spec.to_str().expect("utf-8"))] {
        let cal = tempfile::tempdir().expect("tmp");
        let mut args = vec!["calibrate", "--out", path(&cal)];
        if let Some(s) = spec {
            args.extend(["--spec", s]);
        }
        run(&cli(&args)).expect("calibrates");
        let funding = column(&cal.path().join("services.parquet"), "funding");
        let as_is = tempfile::tempdir().expect("tmp");
        run(&cli(&[
            "apply",
            "--calibration",
            path(&cal),
            "--neutrality",
            "none",
            "--out",
            path(&as_is),
        ]))
        .expect("applies");
        assert_eq!(
            column(&as_is.path().join("services.parquet"), "funding"),
            funding,
            "the same funding, bit for bit"
        );
        let restored = tempfile::tempdir().expect("tmp");
        run(&cli(&[
            "apply",
            "--calibration",
            path(&cal),
            "--out",
            path(&restored),
        ]))
        .expect("applies");
        let again = column(&restored.path().join("services.parquet"), "funding");
        for (a, b) in again.iter().zip(&funding) {
            assert!(close(*a, *b, 1e-12), "{a} against {b}");
        }
        let s = summary(restored.path());
        assert_eq!(s["command"], "apply");
        // The calibration's own point values (per département), or a factor of 1 on an
        // exact fit's funding.
        let codes = dotation_server::io::read_table_as(
            &cal.path().join("departements.parquet"),
            dotation_server::io::Format::Parquet,
            "departements",
        )
        .expect("readable");
        let source_values = column(&cal.path().join("departements.parquet"), "point_value");
        let code_of: Vec<String> = codes
            .batches
            .iter()
            .flat_map(|b| {
                let a = arrow::compute::cast(
                    b.column_by_name("departement").expect("codes"),
                    &arrow::datatypes::DataType::Utf8,
                )
                .expect("text");
                a.as_any()
                    .downcast_ref::<arrow::array::StringArray>()
                    .expect("text")
                    .iter()
                    .map(|v| v.unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
            })
            .collect();
        let values = s["point_values"].as_array().expect("point values");
        assert!(!values.is_empty());
        for v in values {
            let value = v["value"].as_f64().expect("a value");
            let want = match v["scope"].as_str().expect("a scope") {
                "national" => 1.0,
                code => source_values[code_of.iter().position(|c| c == code).expect("known")],
            };
            assert!(close(value, want, 1e-12), "{v} against {want}");
        }
    }
}

#[test]
fn applied_to_the_national_frame_without_visits_every_budget_holds() {
    let frame = tempfile::tempdir().expect("tmp");
    run(&cli(&[
        "generate",
        "--scale",
        "national",
        "--no-visits",
        "--out",
        path(&frame),
    ]))
    .expect("generates");
    assert!(!frame.path().join("visits.parquet").exists());
    for (spec, scope) in [
        ("", "national"),
        (
            "[neutrality]\nscope = \"departement\"\n[calibration]\nmethod = \"point_values\"\n",
            "departement",
        ),
    ] {
        let cal = tempfile::tempdir().expect("tmp");
        let spec_file = cal.path().join("job.toml");
        std::fs::write(&spec_file, spec).expect("written");
        let out = tempfile::tempdir().expect("tmp");
        run(&cli(&[
            "calibrate",
            "--spec",
            spec_file.to_str().expect("utf-8"),
            "--out",
            path(&out),
        ]))
        .expect("calibrates");
        let applied = tempfile::tempdir().expect("tmp");
        run(&cli(&[
            "apply",
            "--calibration",
            path(&out),
            "--data",
            path(&frame),
            "--out",
            path(&applied),
        ]))
        .expect("applies to census data");
        let s = summary(applied.path());
        assert_eq!(s["services"], 6314);
        assert_eq!(s["neutrality_scope"], scope);
        assert!(
            s["neutrality_residual"].as_f64().expect("a number") <= 1e-9,
            "{s}"
        );
        // Against the tables, independently of the summary: Σ funding = Σ baseline target
        // (weights are 1 on a census).
        let funding = column(&applied.path().join("services.parquet"), "funding");
        assert_eq!(funding.len(), 6314);
        assert!(funding.iter().all(|f| f.is_finite()));
        let d = applied.path().join("departements.parquet");
        let (base, fund) = (column(&d, "baseline_total"), column(&d, "funding_total"));
        let (b, f): (f64, f64) = (base.iter().sum(), fund.iter().sum());
        assert!(close(b, f, 1e-9), "{b} against {f}");
        if scope == "departement" {
            for (b, f) in base.iter().zip(&fund) {
                assert!(close(*b, *f, 1e-9), "{b} against {f}");
            }
        }
        // As calibrated, the survey's parameters do not balance the frame's budget exactly
        // (and the survey has no point value for the départements it did not sample).
        match s["residual_as_calibrated"].as_f64() {
            Some(r) => assert!(r > 1e-6, "{r}"),
            None => assert_eq!(scope, "departement"),
        }
    }
}

#[test]
fn a_visit_driver_on_census_data_is_refused_and_a_baseline_is_not_a_calibration() {
    let frame = tempfile::tempdir().expect("tmp");
    run(&cli(&["generate", "--no-visits", "--out", path(&frame)])).expect("generates");
    let tmp = tempfile::tempdir().expect("tmp");
    let spec = tmp.path().join("job.toml");
    std::fs::write(
        &spec,
        "[formula]\nkind = \"globale\"\ndrivers = [\"hours_weekday\", \"users\"]\n",
    )
    .expect("written");
    let cal = tempfile::tempdir().expect("tmp");
    run(&cli(&[
        "calibrate",
        "--spec",
        spec.to_str().expect("utf-8"),
        "--out",
        path(&cal),
    ]))
    .expect("calibrates on the survey with visits");
    let out = tempfile::tempdir().expect("tmp");
    let e = run(&cli(&[
        "apply",
        "--calibration",
        path(&cal),
        "--data",
        path(&frame),
        "--out",
        path(&out),
    ]))
    .expect_err("no visits");
    assert!(e.to_string().contains("hours_weekday"), "{e}");
    assert_eq!(e.exit_code(), 2);
    assert!(
        !out.path().join("services.parquet").exists(),
        "nothing written"
    );
    let base = tempfile::tempdir().expect("tmp");
    run(&cli(&["baseline", "--out", path(&base)])).expect("a baseline");
    let e = run(&cli(&[
        "apply",
        "--calibration",
        path(&base),
        "--out",
        path(&out),
    ]))
    .expect_err("not a calibration");
    assert!(
        e.to_string().contains("not the result of a calibration"),
        "{e}"
    );
}

#[test]
fn the_weights_command_writes_weights_margins_and_a_report() {
    let out = tempfile::tempdir().expect("tmp");
    let margins = concat!(env!("CARGO_MANIFEST_DIR"), "/reference/weights/margins.csv");
    let report = out.path().join("report.html");
    run(&cli(&[
        "weights",
        "--margins",
        margins,
        "--method",
        "logit",
        "--bounds",
        "0.4,1.5",
        "--out",
        path(&out),
        "--report",
        report.to_str().expect("utf-8"),
    ]))
    .expect("calibrates");
    let g = column(&out.path().join("weights.parquet"), "g");
    assert_eq!(g.len(), 437);
    assert!(g.iter().all(|&g| g > 0.4 && g < 1.5));
    let residual = column(&out.path().join("margins.parquet"), "residual");
    assert_eq!(residual.len(), 13);
    assert!(residual.iter().all(|r| r.abs() <= 1e-12));
    let s = summary(out.path());
    assert_eq!(s["command"], "weights");
    assert_eq!(s["method"], "logit");
    assert!(s["largest_residual"].as_f64().expect("a number") <= 1e-12);
    let html = std::fs::read_to_string(&report).expect("a report");
    assert!(html.contains("data-field=\"largest_residual\""));
    // Bounds the method does not take are refused before anything runs.
    let e = run(&cli(&[
        "weights",
        "--margins",
        margins,
        "--method",
        "linear",
        "--bounds",
        "0.5,2",
        "--out",
        path(&out),
    ]))
    .expect_err("linear has no bounds");
    assert!(e.to_string().contains("truncated"), "{e}");
}
