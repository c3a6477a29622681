//! National scale in bounded memory, checked at survey scale: visits streamed from files
//! (Parquet row groups decoded in parallel, IPC batches read ahead) give the same bits as
//! the whole table in one batch, whatever the batch sizes and threads; a validation error
//! in a late batch names its row in the whole file; a dataset without visits (census data)
//! serves a forfait with the full data's parameters, and a spec that needs visits on it is
//! refused naming the driver.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use arrow::array::{AsArray, Float64Array, RecordBatch};
use arrow::datatypes::Float64Type;
use dotation_core::Dataset;
use dotation_core::schema::TableKind;
use dotation_core::validate::{RawDataset, Source, ValidateOptions, validate};
use dotation_datasets::SurveyConfig;
use dotation_server::data::{LoadedData, embedded, load};
use dotation_server::io::Tables;
use dotation_server::jobs::{JobContext, run_spec};
use dotation_solver::spec::JobSpec;
use dotation_tests::fixtures::Fixture;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

/// The embedded survey's tables, generated once.
fn survey() -> &'static RawDataset {
    static RAW: OnceLock<RawDataset> = OnceLock::new();
    RAW.get_or_init(|| {
        match embedded(&SurveyConfig::default())
            .expect("generates")
            .tables
        {
            Tables::Memory(raw) => raw,
            Tables::Files(_) => unreachable!("the embedded survey is in memory"),
        }
    })
}

fn pool(threads: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .expect("a thread pool")
}

/// The batches of `source` re-cut into batches of `rows` rows (one batch: `usize::MAX`).
fn rebatch(source: &Source, rows: usize) -> Source {
    let whole = arrow::compute::concat_batches(&source.batches[0].schema(), &source.batches)
        .expect("one schema");
    let mut batches = Vec::new();
    let mut off = 0;
    while off < whole.num_rows() {
        let len = rows.min(whole.num_rows() - off);
        batches.push(whole.slice(off, len));
        off += len;
    }
    Source::new(source.file.clone(), batches)
}

fn with_visits(raw: &RawDataset, visits: Option<Source>) -> RawDataset {
    RawDataset {
        visits,
        ..raw.clone()
    }
}

/// Writes the tables of `raw` as Parquet into `dir`, the visits in row groups of
/// `group_rows` rows.
fn write_parquet(raw: &RawDataset, dir: &Path, group_rows: usize) {
    for t in TableKind::ALL {
        let Some(src) = raw.get(t) else { continue };
        let file = std::fs::File::create(dir.join(format!("{}.parquet", t.name()))).expect("file");
        let props = WriterProperties::builder()
            .set_max_row_group_row_count(Some(group_rows))
            .build();
        let mut w =
            ArrowWriter::try_new(file, src.batches[0].schema(), Some(props)).expect("writer");
        for b in &src.batches {
            w.write(b).expect("write");
        }
        w.close().expect("close");
    }
}

fn same_bits(a: &[f64], b: &[f64]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn assert_same_drivers(a: &Dataset, b: &Dataset, what: &str) {
    assert_eq!(a.micro, b.micro, "{what}: tables");
    assert_eq!(a.drivers.visits, b.drivers.visits, "{what}: visits");
    assert!(
        same_bits(&a.drivers.service_visits, &b.drivers.service_visits),
        "{what}: service drivers differ"
    );
    assert!(
        same_bits(&a.drivers.user_visits, &b.drivers.user_visits),
        "{what}: user drivers differ"
    );
    assert_eq!(
        a.drivers.weeks.to_bits(),
        b.drivers.weeks.to_bits(),
        "{what}"
    );
    assert_eq!(
        a.drivers.users_with_visits, b.drivers.users_with_visits,
        "{what}"
    );
}

#[test]
fn streamed_drivers_are_bit_identical_to_the_whole_table() {
    let raw = survey();
    let visits = raw.visits.as_ref().expect("visits");
    let whole = with_visits(raw, Some(rebatch(visits, usize::MAX)));
    assert_eq!(whole.visits.as_ref().expect("visits").batches.len(), 1);
    let reference = pool(1)
        .install(|| validate(&whole, &ValidateOptions::default()))
        .expect("valid");
    // In memory: batches of prime sizes, across the aggregation's chunk boundaries.
    for (rows, threads) in [(7_919, 2), (65_537, 1), (1_000_003, 2)] {
        let split = with_visits(raw, Some(rebatch(visits, rows)));
        let got = pool(threads)
            .install(|| validate(&split, &ValidateOptions::default()))
            .expect("valid");
        assert_same_drivers(&reference, &got, &format!("batches of {rows} rows"));
    }
    // From Parquet files: row groups decoded in parallel, dictionary-encoded keys.
    for (group_rows, threads) in [(99_991, 1), (99_991, 2), (1 << 21, 2)] {
        let dir = tempfile::tempdir().expect("tmp");
        write_parquet(raw, dir.path(), group_rows);
        let got = pool(threads)
            .install(|| {
                load(Some(dir.path()))
                    .expect("a folder")
                    .validate(&ValidateOptions::default(), &|_| {})
            })
            .expect("valid");
        assert_same_drivers(
            &reference,
            &got,
            &format!("Parquet row groups of {group_rows}, {threads} threads"),
        );
    }
}

#[test]
fn a_few_rows_per_batch_on_a_small_dataset() {
    let raw = Fixture::hand_example().raw();
    let visits = raw.visits.as_ref().expect("visits");
    let reference = validate(&raw, &ValidateOptions::default()).expect("valid");
    for rows in [1, 2, 3] {
        let split = with_visits(&raw, Some(rebatch(visits, rows)));
        let got = validate(&split, &ValidateOptions::default()).expect("valid");
        assert_same_drivers(&reference, &got, &format!("batches of {rows} rows"));
    }
}

/// The default calibration's parameters table, run on `data`.
fn parameters(data: &LoadedData, threads: usize) -> RecordBatch {
    let out = pool(threads)
        .install(|| run_spec(&JobSpec::default(), data, &JobContext::detached()))
        .expect("the default calibration runs");
    out.tables
        .into_iter()
        .find(|(n, _)| n == "parameters")
        .expect("a parameters table")
        .1
}

#[test]
fn streamed_calibration_is_bit_identical_to_the_whole_table() {
    let raw = survey();
    let visits = raw.visits.as_ref().expect("visits");
    let whole = LoadedData {
        tables: Tables::Memory(with_visits(raw, Some(rebatch(visits, usize::MAX)))),
        description: "whole".into(),
        hash: "whole".into(),
        margins: None,
    };
    let reference = parameters(&whole, 1);
    let dir = tempfile::tempdir().expect("tmp");
    write_parquet(raw, dir.path(), 7_919);
    let files = load(Some(dir.path())).expect("a folder");
    let got = parameters(&files, 2);
    assert_eq!(
        reference, got,
        "parameters from files in row groups of 7,919"
    );
}

/// `batch` with `column` (a float column) set to `value` at row `row`.
fn set_float(batch: &RecordBatch, column: &str, row: usize, value: f64) -> RecordBatch {
    let i = batch.schema().index_of(column).expect("a column");
    let mut values: Vec<f64> = batch
        .column(i)
        .as_primitive::<Float64Type>()
        .values()
        .to_vec();
    values[row] = value;
    let mut columns = batch.columns().to_vec();
    columns[i] = Arc::new(Float64Array::from(values));
    RecordBatch::try_new(batch.schema(), columns).expect("same schema")
}

#[test]
fn a_validation_error_in_a_late_batch_names_its_row_in_the_whole_file() {
    let raw = survey();
    let visits = raw.visits.as_ref().expect("visits");
    let n = visits.num_rows();
    let bad = n - 1_234; // 0-based, in the last batches
    let mut cut = rebatch(visits, 50_000);
    let (b, r) = (bad / 50_000, bad % 50_000);
    cut.batches[b] = set_float(&cut.batches[b], "duration_min", r, -5.0);
    let broken = with_visits(raw, Some(cut));
    let check = |report: dotation_core::validate::Report, what: &str| {
        assert_eq!(report.total(), 1, "{what}: {report}");
        let p = &report.problems[0];
        assert_eq!(p.table, TableKind::Visits, "{what}");
        assert_eq!(p.row, Some(bad as u64 + 1), "{what}: {p}");
        assert_eq!(p.column.as_deref(), Some("duration_min"), "{what}");
        assert_eq!(p.value.as_deref(), Some("-5"), "{what}");
    };
    check(
        validate(&broken, &ValidateOptions::default()).expect_err("invalid"),
        "in memory",
    );
    // The same through files: Parquet row groups of 30,011 rows, and Arrow IPC batches.
    let dir = tempfile::tempdir().expect("tmp");
    write_parquet(&broken, dir.path(), 30_011);
    let e = load(Some(dir.path()))
        .expect("a folder")
        .validate(&ValidateOptions::default(), &|_| {})
        .expect_err("invalid");
    match e {
        dotation_server::ServerError::Core(dotation_core::CoreError::Invalid(r)) => {
            check(*r, "Parquet")
        }
        other => panic!("expected a validation report, got {other}"),
    }
    std::fs::remove_file(dir.path().join("visits.parquet")).expect("rm");
    let file = std::fs::File::create(dir.path().join("visits.arrow")).expect("file");
    let src = broken.visits.as_ref().expect("visits");
    let mut w =
        arrow::ipc::writer::FileWriter::try_new(file, &src.batches[0].schema()).expect("writer");
    for b in &src.batches {
        w.write(b).expect("write");
    }
    w.finish().expect("finish");
    let e = load(Some(dir.path()))
        .expect("a folder")
        .validate(&ValidateOptions::default(), &|_| {})
        .expect_err("invalid");
    match e {
        dotation_server::ServerError::Core(dotation_core::CoreError::Invalid(r)) => {
            check(*r, "IPC")
        }
        other => panic!("expected a validation report, got {other}"),
    }
}

#[test]
fn a_census_folder_calibrates_a_forfait_with_the_full_datas_parameters() {
    let raw = survey();
    let full = tempfile::tempdir().expect("tmp");
    write_parquet(raw, full.path(), 1 << 20);
    let census = tempfile::tempdir().expect("tmp");
    write_parquet(&with_visits(raw, None), census.path(), 1 << 20);
    assert!(!census.path().join("visits.parquet").exists());

    let a = parameters(&load(Some(full.path())).expect("a folder"), 2);
    let b = parameters(&load(Some(census.path())).expect("a folder"), 2);
    assert_eq!(a.num_rows(), b.num_rows());
    let (ea, eb) = (
        a.column(2).as_primitive::<Float64Type>(),
        b.column(2).as_primitive::<Float64Type>(),
    );
    for i in 0..a.num_rows() {
        assert_eq!(
            ea.value(i).to_bits(),
            eb.value(i).to_bits(),
            "{}",
            a.column(0).as_string::<i32>().value(i)
        );
    }
    // The baseline runs too, without the visit drivers table.
    let spec = JobSpec::parse("kind = \"baseline\"").expect("a spec");
    let out = run_spec(
        &spec,
        &load(Some(census.path())).expect("a folder"),
        &JobContext::detached(),
    )
    .expect("a baseline without visits");
    assert!(out.tables.iter().all(|(n, _)| n != "drivers"));
    assert!(out.summary["visits"].is_null());
}

#[test]
fn a_spec_that_needs_visits_is_refused_on_a_census_folder_naming_the_driver() {
    let census = tempfile::tempdir().expect("tmp");
    write_parquet(&with_visits(survey(), None), census.path(), 1 << 20);
    let data = load(Some(census.path())).expect("a folder");
    for (spec, driver) in [
        (
            "[formula]\nkind = \"globale\"\ndrivers = [\"hours_funded\", \"travel_km\"]",
            "travel_km",
        ),
        (
            "[formula]\nkind = \"forfait\"\ngroups = [\"allowance\", \"weekend_evening\"]",
            "weekend_evening",
        ),
    ] {
        let spec = JobSpec::parse(spec).expect("a spec");
        let e = run_spec(&spec, &data, &JobContext::detached()).expect_err("refused");
        let message = e.to_string();
        assert!(
            message.contains(driver) && message.contains("no visits"),
            "{message}"
        );
        assert_eq!(e.exit_code(), 2, "{message}");
    }
}
