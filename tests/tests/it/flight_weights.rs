//! Survey weights and applied calibrations over Flight: a dataset's `margins` table
//! uploaded with `DoPut` and checked against its services and users, a `weights` job
//! giving the library's weights bit for bit, a new margins upload giving a new result
//! key, an `apply` job naming a finished calibration by its job id, and both across a
//! restart.

use std::path::PathBuf;
use std::sync::OnceLock;

use arrow::array::{Array, Float64Array, RecordBatch};
use arrow_flight::error::FlightError;
use arrow_flight::{FlightClient, FlightDescriptor};
use dotation_core::validate::{Source, ValidateOptions, check_margins};
use dotation_datasets::{Survey, SurveyConfig};
use dotation_server::flight::config::TokenConfig;
use dotation_server::flight::{Config, Server};
use dotation_server::io::{Format, read_table_as};
use dotation_solver::job::calibrate_dataset;
use dotation_solver::spec::WeightsSpec;
use dotation_solver::weights::Method;
use dotation_tests::flight_client::{action, connect_with_token, fetch, put, submit, wait};
use tonic::Code;

use crate::flight::{login, serve};
use crate::formulas::survey_dataset;

/// The embedded survey's tables, as a modeller would upload them.
fn survey() -> &'static Survey {
    static SURVEY: OnceLock<Survey> = OnceLock::new();
    SURVEY.get_or_init(|| dotation_datasets::survey(&SurveyConfig::default()).expect("generates"))
}

fn margins_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("reference/weights/margins.csv")
}

/// The reference margins (the national frame's totals) as read from their CSV file.
fn margins_source() -> Source {
    read_table_as(&margins_path(), Format::Csv, "margins.csv").expect("readable")
}

/// A margins CSV text as record batches, the way a file is read and uploaded.
fn margins_of(text: &str) -> Vec<RecordBatch> {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("margins.csv");
    std::fs::write(&path, text).expect("written");
    read_table_as(&path, Format::Csv, "margins.csv")
        .expect("readable")
        .batches
}

/// Uploads the survey's départements, services and users (no visits: the weights and the
/// calibrations here need none).
async fn upload_frame(client: &mut FlightClient, dataset: &str) {
    let s = survey();
    for (table, batches) in [
        ("departements", vec![s.departements.clone()]),
        ("services", vec![s.services.clone()]),
        ("users", s.users.clone()),
    ] {
        put(client, dataset, table, batches)
            .await
            .unwrap_or_else(|e| panic!("upload of {table}: {e}"));
    }
}

fn status_of(e: &FlightError) -> (Code, String) {
    match e {
        FlightError::Tonic(s) => (s.code(), s.message().to_string()),
        other => panic!("expected a status, got {other}"),
    }
}

fn f64_column(batch: &RecordBatch, name: &str) -> Vec<f64> {
    let c = batch
        .column_by_name(name)
        .unwrap_or_else(|| panic!("a column {name}"));
    let c = c
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap_or_else(|| panic!("{name} is f64"));
    assert_eq!(c.null_count(), 0, "{name} has no null");
    c.values().to_vec()
}

async fn result_key(client: &mut FlightClient, spec: &str) -> (String, String) {
    let status = action(client, "submit", spec).await.expect("submits");
    (
        status["id"].as_str().expect("an id").to_string(),
        status["result_key"].as_str().expect("a key").to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weights_job_on_uploaded_margins_gives_the_librarys_weights() {
    let (_data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    upload_frame(&mut alice, "survey").await;
    let baseline = "kind = \"baseline\"\ndata = \"survey\"\n";
    let (_, before) = result_key(&mut alice, baseline).await;

    let summary = put(&mut alice, "survey", "margins", margins_source().batches)
        .await
        .expect("valid margins are stored");
    assert_eq!(summary["table"], "margins", "{summary}");
    assert_eq!(summary["rows"], 13, "{summary}");
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["margins"], true, "{summary}");
    assert!(summary.get("note").is_none(), "checked at once: {summary}");
    // The margins are the dataset's data: every job's key changes with them.
    let (_, after) = result_key(&mut alice, baseline).await;
    assert_ne!(before, after);

    // The stored table is listed and served like the others.
    let datasets = action(&mut alice, "datasets", "").await.expect("datasets");
    assert_eq!(datasets[0]["tables"]["margins"], 13, "{datasets}");
    assert_eq!(datasets[0]["complete"], true, "{datasets}");
    let info = alice
        .get_flight_info(FlightDescriptor::new_path(vec![
            "datasets".into(),
            "survey".into(),
            "margins".into(),
        ]))
        .await
        .expect("the margins' info");
    assert_eq!(info.total_records, 13);

    let spec = "kind = \"weights\"\ndata = \"survey\"\n[weights]\nmethod = \"raking\"\n";
    let (id, key) = result_key(&mut alice, spec).await;
    wait(&mut alice, &id).await.expect("done");
    let weights = fetch(&mut alice, &id, "weights").await;

    // The library's weights on the same survey and margins.
    let mut data = survey_dataset();
    data.margins = Some(
        check_margins(&margins_source(), &data.micro, &ValidateOptions::default())
            .expect("valid margins"),
    );
    let reference = calibrate_dataset(
        &WeightsSpec {
            method: Method::Raking,
            bounds: None,
            max_iterations: 100,
            tolerance: 1e-12,
        },
        &data,
    )
    .expect("calibrates");
    let got = f64_column(&weights, "weight");
    assert_eq!(got.len(), reference.calibration.weights.len());
    for (s, (a, b)) in got.iter().zip(&reference.calibration.weights).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "service {s}: {a} ≠ {b}");
    }
    let margins = fetch(&mut alice, &id, "margins").await;
    assert_eq!(margins.num_rows(), 13);

    // Other margins, another result: the users' total left out.
    let text = std::fs::read_to_string(margins_path()).expect("margins");
    let fewer: String = text
        .lines()
        .filter(|l| !l.starts_with("users,users,"))
        .map(|l| format!("{l}\n"))
        .collect();
    let summary = put(&mut alice, "survey", "margins", margins_of(&fewer))
        .await
        .expect("stored");
    assert_eq!(summary["rows"], 12, "{summary}");
    let (again, other_key) = result_key(&mut alice, spec).await;
    assert_ne!(other_key, key, "new margins, new result");
    wait(&mut alice, &again).await.expect("done");
    assert_eq!(fetch(&mut alice, &again, "margins").await.num_rows(), 12);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn margins_that_do_not_fit_the_dataset_are_refused_naming_row_and_column() {
    let (_data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    upload_frame(&mut alice, "survey").await;
    let bad = "margin,variable,level,total\n\
               regime,habilitated,true,2877\n\
               colour,colour,red,10\n";
    let e = put(&mut alice, "survey", "margins", margins_of(bad))
        .await
        .expect_err("refused");
    let (code, message) = status_of(&e);
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert!(
        message.contains("datasets/survey/margins")
            && message.contains("row 2, column variable, value \"colour\""),
        "{message}"
    );
    let datasets = action(&mut alice, "datasets", "").await.expect("datasets");
    assert!(
        datasets[0]["tables"].get("margins").is_none(),
        "not stored: {datasets}"
    );
    // A table that is not a dataset's is still refused.
    let e = put(&mut alice, "survey", "weights", margins_of(bad))
        .await
        .expect_err("unknown table");
    assert_eq!(status_of(&e).0, Code::InvalidArgument);

    // Before the services and users are stored, margins wait for them: the upload that
    // completes the frame checks them, and is refused when they do not fit.
    let s = survey();
    put(
        &mut alice,
        "early",
        "departements",
        vec![s.departements.clone()],
    )
    .await
    .expect("stored");
    put(&mut alice, "early", "services", vec![s.services.clone()])
        .await
        .expect("stored");
    let summary = put(&mut alice, "early", "margins", margins_of(bad))
        .await
        .expect("stored, not checked yet");
    assert_eq!(summary["complete"], false, "{summary}");
    assert!(
        summary["note"]
            .as_str()
            .is_some_and(|n| n.contains("not checked yet")),
        "{summary}"
    );
    let e = put(&mut alice, "early", "users", s.users.clone())
        .await
        .expect_err("the stored margins do not fit");
    let (code, message) = status_of(&e);
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert!(
        message.contains("datasets/early/margins") && message.contains("row 2, column variable"),
        "{message}"
    );
    put(&mut alice, "early", "margins", margins_source().batches)
        .await
        .expect("stored");
    let summary = put(&mut alice, "early", "users", s.users.clone())
        .await
        .expect("the margins fit");
    assert_eq!(summary["complete"], true, "{summary}");
    assert_eq!(summary["margins"], true, "{summary}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_job_applies_a_finished_calibration_by_its_id() {
    let (_data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    let mut bob = login(&server, "bob").await;
    upload_frame(&mut alice, "survey").await;

    let calibration = submit(&mut alice, "data = \"survey\"\n")
        .await
        .expect("submits");
    wait(&mut alice, &calibration).await.expect("done");
    let apply = |source: &str| {
        format!(
            "kind = \"apply\"\ndata = \"survey\"\n[apply]\nsource = \"{source}\"\nneutrality = \"none\"\n"
        )
    };
    let (id, key) = result_key(&mut alice, &apply(&calibration)).await;
    wait(&mut alice, &id).await.expect("done");
    // The calibration's own parameters on its own data: its funding, exactly.
    let calibrated = f64_column(
        &fetch(&mut alice, &calibration, "services").await,
        "funding",
    );
    let applied = f64_column(&fetch(&mut alice, &id, "services").await, "funding");
    assert_eq!(applied.len(), calibrated.len());
    for (s, (a, b)) in applied.iter().zip(&calibrated).enumerate() {
        assert_eq!(a.to_bits(), b.to_bits(), "service {s}: {a} ≠ {b}");
    }
    let summary = fetch(&mut alice, &id, "summary").await;
    let summary = summary
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .expect("text")
        .value(0)
        .to_string();
    assert!(summary.contains(&format!("job {calibration}")), "{summary}");
    // The same apply again is served from its result.
    let again = action(&mut alice, "submit", &apply(&calibration))
        .await
        .expect("submits");
    assert_eq!(again["state"], "done");
    assert_eq!(again["result_key"], key.as_str());

    // Another calibration: another source, another result.
    let other = submit(
        &mut alice,
        "data = \"survey\"\n[formula]\nregimes = \"separate\"\n",
    )
    .await
    .expect("submits");
    wait(&mut alice, &other).await.expect("done");
    let (other_apply, other_key) = result_key(&mut alice, &apply(&other)).await;
    assert_ne!(other_key, key);
    wait(&mut alice, &other_apply).await.expect("done");

    // Another user's job is not found; a job that is not a calibration is refused; one
    // not finished is not applied yet.
    upload_frame(&mut bob, "survey").await;
    let e = action(&mut bob, "submit", &apply(&calibration))
        .await
        .expect_err("not bob's");
    assert_eq!(status_of(&e).0, Code::NotFound, "{}", status_of(&e).1);
    let baseline = submit(&mut alice, "kind = \"baseline\"\ndata = \"survey\"\n")
        .await
        .expect("submits");
    wait(&mut alice, &baseline).await.expect("done");
    let e = action(&mut alice, "submit", &apply(&baseline))
        .await
        .expect_err("a baseline");
    let (code, message) = status_of(&e);
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert!(message.contains("not a calibration"), "{message}");
    server.queue().set_paused(true);
    let queued = submit(
        &mut alice,
        "data = \"survey\"\n[formula]\nregimes = \"separate\"\n[neutrality]\nscope = \"departement\"\n",
    )
    .await
    .expect("submits");
    let e = action(&mut alice, "submit", &apply(&queued))
        .await
        .expect_err("not done");
    let (code, message) = status_of(&e);
    assert_eq!(code, Code::FailedPrecondition, "{message}");
    assert!(message.contains("queued"), "{message}");
    server.queue().set_paused(false);
    // Without a source, the server says what to give.
    let e = action(
        &mut alice,
        "submit",
        "kind = \"apply\"\ndata = \"survey\"\n[apply]\nneutrality = \"none\"\n",
    )
    .await
    .expect_err("no source");
    let (code, message) = status_of(&e);
    assert_eq!(code, Code::InvalidArgument, "{message}");
    assert!(message.contains("apply.source"), "{message}");
    server.shutdown().await;
}

/// The static token of this module's restarted servers.
const TOKEN: &str = "flight-weights-token";

fn config(data_dir: &std::path::Path) -> Config {
    use sha2::Digest;
    let mut c = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    c.auth.tokens = vec![TokenConfig {
        user: "dora".into(),
        sha256: hex::encode(sha2::Sha256::digest(TOKEN.as_bytes())),
    }];
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_apply_jobs_and_jobs_recorded_with_four_blobs_run_after_a_restart() {
    let data_dir = tempfile::tempdir().expect("tmp");
    let (calibration, apply_id, baseline_id) = {
        let server = Server::start(config(data_dir.path()))
            .await
            .expect("starts");
        let mut dora = connect_with_token(&server.addr().to_string(), TOKEN)
            .await
            .expect("connects");
        upload_frame(&mut dora, "survey").await;
        let calibration = submit(&mut dora, "data = \"survey\"\n")
            .await
            .expect("submits");
        wait(&mut dora, &calibration).await.expect("done");
        server.queue().set_paused(true);
        let apply = submit(
            &mut dora,
            &format!(
                "kind = \"apply\"\ndata = \"survey\"\n[apply]\nsource = \"{calibration}\"\nneutrality = \"none\"\n"
            ),
        )
        .await
        .expect("submits");
        let baseline = submit(&mut dora, "kind = \"baseline\"\ndata = \"survey\"\n")
            .await
            .expect("submits");
        server.shutdown().await;
        (calibration, apply, baseline)
    };
    // The baseline's record as versions without margins wrote it: four blobs.
    {
        let db = rusqlite::Connection::open(data_dir.path().join("catalogue.sqlite"))
            .expect("catalogue");
        let blobs: String = db
            .query_row(
                "SELECT blobs FROM jobs WHERE id = ?1",
                [&baseline_id],
                |r| r.get(0),
            )
            .expect("a job");
        let parts: Vec<&str> = blobs.split(',').collect();
        assert_eq!(parts.len(), 5, "{blobs}");
        assert_eq!(parts[4], "", "no margins");
        db.execute(
            "UPDATE jobs SET blobs = ?1 WHERE id = ?2",
            [&parts[..4].join(","), &baseline_id],
        )
        .expect("updated");
    }

    let server = Server::start(config(data_dir.path()))
        .await
        .expect("restarts");
    let mut dora = connect_with_token(&server.addr().to_string(), TOKEN)
        .await
        .expect("connects");
    wait(&mut dora, &apply_id).await.expect("the apply job ran");
    wait(&mut dora, &baseline_id)
        .await
        .expect("the four-blob job ran");
    let calibrated = f64_column(&fetch(&mut dora, &calibration, "services").await, "funding");
    let applied = f64_column(&fetch(&mut dora, &apply_id, "services").await, "funding");
    assert_eq!(applied, calibrated);
    assert!(fetch(&mut dora, &baseline_id, "services").await.num_rows() > 0);
    server.shutdown().await;
}
