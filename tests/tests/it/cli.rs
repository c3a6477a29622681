//! The command line, as a user runs it: parse arguments, run, look at the files written
//! and at the exit codes.

use clap::Parser;
use dotation_server::cli::{Cli, run};
use dotation_tests::fixtures::Fixture;

fn cli(args: &[&str]) -> Cli {
    let mut all = vec!["dotation", "--quiet"];
    all.extend_from_slice(args);
    Cli::try_parse_from(all).expect("valid arguments")
}

fn read_parquet(path: &std::path::Path) -> Vec<arrow::array::RecordBatch> {
    let file = std::fs::File::open(path).expect("the file exists");
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

#[test]
fn baseline_on_csv_files_writes_the_contract_tables() {
    let data = tempfile::tempdir().expect("tmp");
    let out = tempfile::tempdir().expect("tmp");
    Fixture::hand_example().write_csv(data.path());
    let d = data.path().to_str().expect("utf-8");
    let o = out.path().to_str().expect("utf-8");
    run(&cli(&["baseline", "--data", d, "--out", o])).expect("runs");
    let services = read_parquet(&out.path().join("services.parquet"));
    let schema = services[0].schema();
    for c in [
        "service_id",
        "departement",
        "habilitated",
        "hours_funded",
        "rate",
        "baseline_funding",
        "user_participation",
        "public_cost",
        "cost_total",
    ] {
        assert!(
            schema.field_with_name(c).is_ok(),
            "services.parquet lacks {c}"
        );
    }
    let funding = services[0]
        .column_by_name("baseline_funding")
        .expect("column")
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .expect("f64")
        .values()
        .to_vec();
    assert_eq!(funding, vec![348_750.0, 123_000.0, 176_000.0]);
    let users = read_parquet(&out.path().join("users.parquet"));
    for c in ["user_id", "participation_month", "oop_per_hour"] {
        assert!(
            users[0].schema().field_with_name(c).is_ok(),
            "users.parquet lacks {c}"
        );
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.path().join("summary.json")).expect("summary"),
    )
    .expect("JSON");
    assert_eq!(summary["national"]["baseline_funding"], 1_330_500.0);
    assert_eq!(summary["data_hash"].as_str().map(str::len), Some(64));
    // Nothing temporary is left behind.
    let leftovers: Vec<_> = std::fs::read_dir(out.path())
        .expect("dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn invalid_data_exits_with_1_and_writes_nothing() {
    let data = tempfile::tempdir().expect("tmp");
    let out = tempfile::tempdir().expect("tmp");
    let mut f = Fixture::hand_example();
    f.set(dotation_core::schema::TableKind::Users, 1, "zone", "moon");
    f.write_csv(data.path());
    let d = data.path().to_str().expect("utf-8");
    let o = out.path().to_str().expect("utf-8");
    let e = run(&cli(&["baseline", "--data", d, "--out", o])).expect_err("invalid data");
    assert_eq!(e.exit_code(), 1);
    assert!(
        e.to_string()
            .contains("users.csv: table users, row 1, column zone, value \"moon\""),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(out.path()).expect("dir").count(), 0);
    let e = run(&cli(&["validate", d])).expect_err("invalid data");
    assert_eq!(e.exit_code(), 1);
}

#[test]
fn a_missing_table_exits_with_2_and_says_which() {
    let data = tempfile::tempdir().expect("tmp");
    Fixture::hand_example().write_csv(data.path());
    // Visits are optional (census data): a folder without them is valid.
    std::fs::remove_file(data.path().join("visits.csv")).expect("rm");
    let d = data.path().to_str().expect("utf-8");
    run(&cli(&["validate", d])).expect("valid without visits");
    std::fs::remove_file(data.path().join("users.csv")).expect("rm");
    let e = run(&cli(&["validate", d])).expect_err("no users");
    assert_eq!(e.exit_code(), 2);
    assert!(e.to_string().contains("no file for table users"), "{e}");
}

#[test]
fn generated_survey_round_trips_through_parquet_and_validates() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path().to_str().expect("utf-8");
    run(&cli(&["generate", "--out", d, "--seed", "7"])).expect("generates");
    for f in ["departements", "services", "users", "visits"] {
        assert!(dir.path().join(format!("{f}.parquet")).is_file(), "{f}");
    }
    let truth: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("truth.json")).expect("truth.json"),
    )
    .expect("JSON");
    assert_eq!(truth["seed"], 7);
    run(&cli(&["validate", d])).expect("the generated survey is valid");
    // Same seed, same bytes.
    let again = tempfile::tempdir().expect("tmp");
    run(&cli(&[
        "generate",
        "--out",
        again.path().to_str().expect("utf-8"),
        "--seed",
        "7",
    ]))
    .expect("generates");
    for f in ["services.parquet", "visits.parquet", "truth.json"] {
        let a = std::fs::read(dir.path().join(f)).expect("read");
        let b = std::fs::read(again.path().join(f)).expect("read");
        assert!(a == b, "{f} differs between two runs with the same seed");
    }
}

#[test]
fn arrow_ipc_and_parquet_inputs_give_the_csv_result() {
    use dotation_core::schema::TableKind;
    use dotation_core::validate::{ValidateOptions, validate};
    let f = Fixture::hand_example();
    let expected = validate(&f.raw(), &ValidateOptions::default()).expect("valid");
    // IPC file format for two tables, Parquet for the others: mixed folders are fine.
    let dir = tempfile::tempdir().expect("tmp");
    for t in TableKind::ALL {
        let batch = f.table(t).batch();
        match t {
            TableKind::Users | TableKind::Visits => {
                let file = std::fs::File::create(dir.path().join(format!("{}.arrow", t.name())))
                    .expect("create");
                let mut w =
                    arrow::ipc::writer::FileWriter::try_new(file, &batch.schema()).expect("writer");
                w.write(&batch).expect("write");
                w.finish().expect("finish");
            }
            _ => {
                let file = std::fs::File::create(dir.path().join(format!("{}.parquet", t.name())))
                    .expect("create");
                let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), None)
                    .expect("writer");
                w.write(&batch).expect("write");
                w.close().expect("close");
            }
        }
    }
    // Read whole, and streamed from the files: the same tables and drivers.
    let raw = dotation_server::io::read_dataset(dir.path()).expect("readable");
    let got = validate(&raw, &ValidateOptions::default()).expect("valid");
    assert_eq!(got.micro, expected.micro);
    assert_eq!(got.drivers.user_visits, expected.drivers.user_visits);
    let streamed = dotation_server::data::load(Some(dir.path()))
        .expect("a folder")
        .validate(&ValidateOptions::default(), &|_| {})
        .expect("valid");
    assert_eq!(streamed.micro, expected.micro);
    assert_eq!(
        streamed.drivers.service_visits,
        expected.drivers.service_visits
    );
    assert_eq!(streamed.drivers.user_visits, expected.drivers.user_visits);
}

#[test]
fn calibrate_writes_the_contract_tables_and_the_same_bytes_twice() {
    let spec_dir = tempfile::tempdir().expect("tmp");
    let spec = spec_dir.path().join("job.toml");
    std::fs::write(
        &spec,
        "[formula]\nkind = \"forfait\"\ngroups = [\"allowance\", \"gir_band\"]\n[neutrality]\nscope = \"departement\"\n[calibration]\nmethod = \"point_values\"\n",
    )
    .expect("written");
    let s = spec.to_str().expect("utf-8");
    let (a, b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    for out in [&a, &b] {
        let o = out.path().to_str().expect("utf-8");
        run(&cli(&["calibrate", "--spec", s, "--out", o])).expect("runs");
    }
    for name in [
        "parameters.parquet",
        "services.parquet",
        "departements.parquet",
        "groups.parquet",
        "impact.parquet",
        "users.parquet",
        "out_of_pocket.parquet",
    ] {
        let x = std::fs::read(a.path().join(name)).expect("written");
        let y = std::fs::read(b.path().join(name)).expect("written");
        assert_eq!(x, y, "{name} differs between two runs");
    }
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(a.path().join("summary.json")).expect("written"),
    )
    .expect("JSON");
    assert_eq!(summary["neutrality_scope"], "departement");
    assert!(summary["neutrality_residual"].as_f64().expect("a number") <= 1e-9);
    let d = read_parquet(&a.path().join("departements.parquet"));
    let pv = d[0].column_by_name("point_value").expect("column");
    assert!(pv.null_count() < pv.len(), "point values per département");
}

#[test]
fn a_bad_spec_exits_with_2_names_the_file_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("job.toml");
    std::fs::write(
        &spec,
        "[formula]\nkind = \"forfait\"\ngroups = [\"income\"]\n",
    )
    .expect("written");
    let out = dir.path().join("out");
    let err = run(&cli(&[
        "calibrate",
        "--spec",
        spec.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]))
    .expect_err("an unknown attribute");
    assert_eq!(err.exit_code(), 2);
    let message = err.to_string();
    assert!(
        message.contains("unknown user attribute \"income\""),
        "{message}"
    );
    assert!(!out.join("parameters.parquet").exists());
    // A syntax error names the file and the line.
    std::fs::write(&spec, "[formula\nkind = 1\n").expect("written");
    let err = run(&cli(&[
        "calibrate",
        "--spec",
        spec.to_str().expect("utf-8"),
        "--out",
        out.to_str().expect("utf-8"),
    ]))
    .expect_err("not TOML");
    let message = err.to_string();
    assert!(
        message.contains("job.toml") && message.contains("line 1"),
        "{message}"
    );
}
