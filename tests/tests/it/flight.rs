//! The Arrow Flight server, as a notebook uses it: a server bound to `127.0.0.1:0` with a
//! temporary data directory, real gRPC clients (arrow-flight's `FlightClient`), uploads,
//! jobs, polling, cancellation, fetching, users and restarts.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow_flight::error::FlightError;
use arrow_flight::{
    BasicAuth, CancelFlightInfoRequest, CancelStatus, FlightClient, FlightDescriptor, Ticket,
};
use dotation_core::schema::TableKind;
use dotation_server::faults::{self, Fault, Point};
use dotation_server::flight::config::{TokenConfig, UserConfig};
use dotation_server::flight::{Config, Server};
use dotation_tests::fixtures::Fixture;
use dotation_tests::flight_client::{action, fetch, put, submit, upload_fixture, wait};
use futures::TryStreamExt;
use prost::Message;
use tonic::Code;

/// The static token of the user `carol` (the configuration holds its SHA-256).
const CAROL_TOKEN: &str = "carol-static-token-for-tests";

fn password_hashes() -> &'static [(String, String)] {
    static HASHES: std::sync::OnceLock<Vec<(String, String)>> = std::sync::OnceLock::new();
    HASHES.get_or_init(|| {
        ["alice", "bob"]
            .iter()
            .map(|u| {
                let hash = dotation_server::flight::auth::hash_password(&format!("{u}-password"))
                    .expect("hash");
                (u.to_string(), hash)
            })
            .collect()
    })
}

fn config(data_dir: &Path) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: data_dir.to_path_buf(),
        ..Config::default()
    };
    c.auth.users = password_hashes()
        .iter()
        .map(|(name, hash)| UserConfig {
            name: name.clone(),
            password_hash: hash.clone(),
        })
        .collect();
    c.auth.tokens = vec![TokenConfig {
        user: "carol".into(),
        sha256: sha256_hex(CAROL_TOKEN),
    }];
    c
}

fn sha256_hex(s: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(s.as_bytes()))
}

async fn channel(server: &Server) -> tonic::transport::Channel {
    tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr()))
        .expect("endpoint")
        .connect()
        .await
        .expect("connects")
}

/// A client without credentials.
async fn anonymous(server: &Server) -> FlightClient {
    FlightClient::new(channel(server).await)
}

/// A client logged in through `Handshake` (a BasicAuth payload), carrying its bearer token.
/// A server on a fresh data directory (kept as long as the returned guard).
pub(crate) async fn serve() -> (tempfile::TempDir, Server) {
    let data_dir = tempfile::tempdir().expect("tmp");
    let server = Server::start(config(data_dir.path()))
        .await
        .expect("starts");
    (data_dir, server)
}

pub(crate) async fn login(server: &Server, user: &str) -> FlightClient {
    let mut client = anonymous(server).await;
    let payload = BasicAuth {
        username: user.into(),
        password: format!("{user}-password"),
    }
    .encode_to_vec();
    let token = client.handshake(payload).await.expect("logs in");
    let token = String::from_utf8(token.to_vec()).expect("text token");
    client
        .add_header("authorization", &format!("Bearer {token}"))
        .expect("header");
    client
}

fn code(e: &FlightError) -> Code {
    match e {
        FlightError::Tonic(s) => s.code(),
        other => panic!("expected a status, got {other}"),
    }
}

fn message(e: &FlightError) -> String {
    match e {
        FlightError::Tonic(s) => s.message().to_string(),
        other => other.to_string(),
    }
}

fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).expect("file");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet");
    let schema = reader.schema().clone();
    let batches: Vec<_> = reader
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches");
    concat_batches(&schema, &batches).expect("concat")
}

fn read_parquet_batches(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).expect("file");
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader")
        .collect::<Result<_, _>>()
        .expect("batches")
}

const BASELINE_TABLES: [&str; 5] = ["services", "departements", "users", "drivers", "user_cells"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_submit_poll_fetch_gives_the_cli_tables() {
    // The generated survey, as a modeller has it: Parquet files in a folder.
    let survey = tempfile::tempdir().expect("tmp");
    let cli_out = tempfile::tempdir().expect("tmp");
    let s = survey.path().to_str().expect("utf-8");
    let o = cli_out.path().to_str().expect("utf-8");
    let cli = |args: &[&str]| {
        let mut all = vec!["dotation", "--quiet"];
        all.extend_from_slice(args);
        <dotation_server::cli::Cli as clap::Parser>::try_parse_from(all).expect("arguments")
    };
    dotation_server::cli::run(&cli(&["generate", "--out", s, "--seed", "11"])).expect("generate");
    dotation_server::cli::run(&cli(&[
        "baseline", "--data", s, "--out", o, "--floor", "24.5",
    ]))
    .expect("baseline");

    let (_data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    for (i, t) in TableKind::ALL.iter().enumerate() {
        let batches = read_parquet_batches(&survey.path().join(format!("{}.parquet", t.name())));
        let summary = put(&mut alice, "survey", t.name(), batches)
            .await
            .expect("upload");
        // Complete once départements, services and users are there; visits are optional.
        assert_eq!(summary["complete"], i >= 2, "{summary}");
        assert_eq!(summary["visits"], i == 3, "{summary}");
    }
    // The datasets are listed with their schemas and row counts.
    let listed: Vec<_> = alice
        .list_flights("")
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("infos");
    assert_eq!(listed.len(), 4);
    let users_rows = read_parquet(&survey.path().join("users.parquet")).num_rows() as i64;
    let users = listed
        .iter()
        .find(|i| i.flight_descriptor.as_ref().expect("descriptor").path[2] == "users")
        .expect("users listed");
    assert_eq!(users.total_records, users_rows);

    let spec = "kind = \"baseline\"\ndata = \"survey\"\n[baseline]\nfloor = 24.5\n";
    let id = submit(&mut alice, spec).await.expect("submits");
    let poll = wait(&mut alice, &id).await.expect("done");
    let info = poll.info.expect("info");
    let tables: Vec<String> = info
        .endpoint
        .iter()
        .map(|e| String::from_utf8(e.app_metadata.to_vec()).expect("name"))
        .collect();
    assert_eq!(
        tables,
        [&BASELINE_TABLES[..], &["summary"]].concat(),
        "endpoints name the result tables"
    );
    for table in BASELINE_TABLES {
        let fetched = fetch(&mut alice, &id, table).await;
        let expected = read_parquet(&cli_out.path().join(format!("{table}.parquet")));
        assert_eq!(fetched, expected, "{table} differs from the CLI's");
    }
    let summary = fetch(&mut alice, &id, "summary").await;
    let text = summary
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .expect("text")
        .value(0)
        .to_string();
    let got: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let cli_summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(cli_out.path().join("summary.json")).expect("summary"),
    )
    .expect("JSON");
    assert_eq!(got["national"], cli_summary["national"]);

    // The status action mirrors PollFlightInfo for clients without it.
    let status = action(&mut alice, "status", &id).await.expect("status");
    assert_eq!(status["state"], "done");
    assert_eq!(status["progress"], 1.0);
    assert_eq!(status["tables"].as_array().map(Vec::len), Some(6));

    // The same spec on the same data is served from the stored result, at once.
    let again = action(&mut alice, "submit", spec).await.expect("submits");
    assert_eq!(again["state"], "done");
    assert_eq!(again["result_key"], status["result_key"]);
    assert_ne!(again["id"], status["id"]);
    // The same spec written otherwise — JSON, or TOML with comments, blank lines and
    // keys in another order — is the same computation: served from the same result.
    for text in [
        r#"{"kind": "baseline", "data": "survey", "baseline": {"floor": 24.5}}"#,
        "# what-if: a floor of 24.50\n\n[baseline]\nfloor = 24.50   # €/h\n\n",
    ] {
        let text = if text.starts_with('#') {
            // TOML's top-level keys come before the first table.
            format!("data = \"survey\"\nkind   =   \"baseline\"\n{text}")
        } else {
            text.to_string()
        };
        let same = action(&mut alice, "submit", &text).await.expect("submits");
        assert_eq!(same["state"], "done", "{same}");
        assert_eq!(same["result_key"], status["result_key"], "{text}");
        let id2 = same["id"].as_str().expect("id");
        assert_eq!(
            fetch(&mut alice, id2, "services").await,
            fetch(&mut alice, &id, "services").await
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_cancelled_queued_or_running() {
    let (_data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    upload_fixture(&mut alice, "hand", &Fixture::hand_example()).await;

    // Held in the queue, then cancelled through the standard CancelFlightInfo.
    server.queue().set_paused(true);
    let id = submit(&mut alice, "kind = \"baseline\"\ndata = \"hand\"")
        .await
        .expect("submits");
    let poll = alice
        .poll_flight_info(FlightDescriptor::new_cmd(id.clone()))
        .await
        .expect("polls");
    assert!(poll.flight_descriptor.is_some(), "still queued");
    let info = poll.info.expect("info");
    let result = alice
        .cancel_flight_info(CancelFlightInfoRequest::new(info.clone()))
        .await
        .expect("cancels");
    assert_eq!(result.status(), CancelStatus::Cancelled);
    let status = action(&mut alice, "status", &id).await.expect("status");
    assert_eq!(status["state"], "cancelled");
    let e = alice
        .poll_flight_info(FlightDescriptor::new_cmd(id.clone()))
        .await
        .expect_err("cancelled");
    assert_eq!(code(&e), Code::Cancelled);
    // Cancelling again changes nothing.
    let result = alice
        .cancel_flight_info(CancelFlightInfoRequest::new(info))
        .await
        .expect("answers");
    assert_eq!(result.status(), CancelStatus::NotCancellable);

    // The queue goes on with the next job; DoAction("cancel") on a finished job leaves it.
    server.queue().set_paused(false);
    let id = submit(
        &mut alice,
        "kind = \"baseline\"\ndata = \"hand\"\n[baseline]\nfloor = 25",
    )
    .await
    .expect("submits");
    wait(&mut alice, &id).await.expect("done");
    let status = action(&mut alice, "cancel", &id).await.expect("answers");
    assert_eq!(status["state"], "done");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_survey_needs_no_upload_and_a_data_directory_one_server() {
    let (data_dir, server) = serve().await;
    let e = Server::start(config(data_dir.path()))
        .await
        .expect_err("a second server on the same data");
    assert!(e.to_string().contains("in use by another server"), "{e}");
    let mut bob = login(&server, "bob").await;
    // PollFlightInfo with a spec as command submits it (here, JSON on the embedded survey).
    let poll = bob
        .poll_flight_info(FlightDescriptor::new_cmd(r#"{"kind": "baseline"}"#))
        .await
        .expect("submitted");
    let descriptor = poll
        .flight_descriptor
        .or_else(|| poll.info.and_then(|i| i.flight_descriptor));
    let id = String::from_utf8(descriptor.expect("the job's descriptor").cmd.to_vec()).expect("id");
    wait(&mut bob, &id).await.expect("done");
    let summary = fetch(&mut bob, &id, "summary").await;
    let text = summary
        .column(0)
        .as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .expect("text")
        .value(0)
        .to_string();
    let summary: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    assert!(
        summary["data"]
            .as_str()
            .expect("data")
            .starts_with("embedded synthetic survey"),
        "{summary}"
    );
    assert_eq!(summary["services"], 437);
    server.shutdown().await;
}

#[test]
fn a_running_job_stops_at_its_next_checkpoint() {
    // The context is cancelled as soon as the job reports progress, as a user cancelling
    // a running job does: the job stops and returns no tables.
    let f = Fixture::hand_example();
    let data = dotation_server::data::LoadedData {
        tables: dotation_server::io::Tables::Memory(f.raw()),
        description: "hand example".into(),
        hash: "0".repeat(64),
        margins: None,
    };
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&cancel);
    let reports = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = Arc::clone(&reports);
    let ctx = dotation_server::jobs::JobContext {
        progress: Arc::new(move |p| {
            seen.lock().expect("lock").push(p);
            if p >= 0.3 {
                flag.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }),
        cancel,
    };
    let e = dotation_server::jobs::run("kind = \"baseline\"", data, &ctx).expect_err("cancelled");
    assert!(matches!(e, dotation_server::ServerError::Cancelled), "{e}");
    assert_eq!(*reports.lock().expect("lock"), vec![0.0, 0.5]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_are_authenticated_and_see_only_their_own() {
    let (_data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    upload_fixture(&mut alice, "hand", &Fixture::hand_example()).await;
    let id = submit(&mut alice, "kind = \"baseline\"\ndata = \"hand\"")
        .await
        .expect("submits");
    wait(&mut alice, &id).await.expect("done");
    let ticket = Ticket::new(format!("jobs/{id}/services"));

    // No credentials: every call is refused, DoGet included.
    let mut nobody = anonymous(&server).await;
    let e = nobody.do_get(ticket.clone()).await.expect_err("refused");
    assert_eq!(code(&e), Code::Unauthenticated);
    let e = nobody
        .list_flights("")
        .await
        .map(|_| ())
        .expect_err("refused");
    assert_eq!(code(&e), Code::Unauthenticated);
    let e = action(&mut nobody, "status", &id)
        .await
        .expect_err("refused");
    assert_eq!(code(&e), Code::Unauthenticated);
    let e = put(
        &mut nobody,
        "x",
        "services",
        vec![Fixture::hand_example().services.batch()],
    )
    .await
    .expect_err("refused");
    assert_eq!(code(&e), Code::Unauthenticated);
    let e = nobody
        .poll_flight_info(FlightDescriptor::new_cmd(id.clone()))
        .await
        .expect_err("refused");
    assert_eq!(code(&e), Code::Unauthenticated);

    // A wrong password, a made-up token.
    let mut mallory = anonymous(&server).await;
    let payload = BasicAuth {
        username: "alice".into(),
        password: "guess".into(),
    }
    .encode_to_vec();
    let e = mallory.handshake(payload).await.expect_err("refused");
    assert_eq!(code(&e), Code::Unauthenticated);
    mallory
        .add_header("authorization", "Bearer 0123456789abcdef")
        .expect("header");
    let e = mallory.do_get(ticket.clone()).await.expect_err("refused");
    assert_eq!(code(&e), Code::Unauthenticated);

    // Another user sees neither alice's job nor her dataset.
    let mut bob = login(&server, "bob").await;
    let e = bob.do_get(ticket.clone()).await.expect_err("hidden");
    assert_eq!(code(&e), Code::NotFound);
    let e = action(&mut bob, "status", &id).await.expect_err("hidden");
    assert_eq!(code(&e), Code::NotFound);
    let e = action(&mut bob, "cancel", &id).await.expect_err("hidden");
    assert_eq!(code(&e), Code::NotFound);
    let e = bob
        .get_flight_info(FlightDescriptor::new_path(vec![
            "jobs".into(),
            id.clone(),
            "services".into(),
        ]))
        .await
        .expect_err("hidden");
    assert_eq!(code(&e), Code::NotFound);
    let listed: Vec<_> = bob
        .list_flights("")
        .await
        .expect("list")
        .try_collect()
        .await
        .expect("infos");
    assert!(listed.is_empty(), "bob sees {listed:?}");
    let e = submit(&mut bob, "kind = \"baseline\"\ndata = \"hand\"")
        .await
        .expect_err("not his dataset");
    assert_eq!(code(&e), Code::NotFound);

    // A static bearer token from the configuration.
    let mut carol = anonymous(&server).await;
    carol
        .add_header("authorization", &format!("Bearer {CAROL_TOKEN}"))
        .expect("header");
    let jobs = action(&mut carol, "jobs", "").await.expect("carol's jobs");
    assert_eq!(jobs, serde_json::json!([]));

    // Alice herself fetches her table with the same ticket.
    let batches: Vec<_> = alice
        .do_get(ticket)
        .await
        .expect("do_get")
        .try_collect()
        .await
        .expect("batches");
    assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 3);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_uploads_and_specs_are_refused_without_disturbing_jobs() {
    let (_data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    let good = Fixture::hand_example();
    upload_fixture(&mut alice, "hand", &good).await;
    // A job waits in the queue while bad requests come in.
    server.queue().set_paused(true);
    let id = submit(&mut alice, "kind = \"baseline\"\ndata = \"hand\"")
        .await
        .expect("submits");

    // A bad value, with the CLI's message naming the table, row, column and value.
    let mut bad = Fixture::hand_example();
    bad.set(TableKind::Users, 1, "zone", "moon");
    let e = put(&mut alice, "bad", "users", vec![bad.users.batch()])
        .await
        .expect_err("invalid");
    assert_eq!(code(&e), Code::InvalidArgument);
    assert!(
        message(&e).contains("datasets/bad/users: table users, row 1, column zone, value \"moon\""),
        "{}",
        message(&e)
    );
    // A missing column.
    let batch = good.services.batch();
    let without = batch
        .project(&(1..batch.num_columns()).collect::<Vec<_>>())
        .expect("project");
    let e = put(&mut alice, "bad", "services", vec![without])
        .await
        .expect_err("invalid");
    assert_eq!(code(&e), Code::InvalidArgument);
    assert!(message(&e).contains("column service_id"), "{}", message(&e));
    // A reference that does not resolve, found when the set is complete: the table that
    // completes the set is refused, the others stay.
    let mut orphan = Fixture::hand_example();
    orphan.set(TableKind::Visits, 1, "user_id", "nobody");
    for t in [
        TableKind::Departements,
        TableKind::Services,
        TableKind::Users,
    ] {
        put(
            &mut alice,
            "orphan",
            t.name(),
            vec![orphan.table(t).batch()],
        )
        .await
        .expect("accepted while incomplete");
    }
    let e = put(&mut alice, "orphan", "visits", vec![orphan.visits.batch()])
        .await
        .expect_err("invalid together");
    assert_eq!(code(&e), Code::InvalidArgument);
    assert!(message(&e).contains("value \"nobody\""), "{}", message(&e));
    // Visits are optional; the frame tables are not.
    put(
        &mut alice,
        "partial",
        "departements",
        vec![orphan.departements.batch()],
    )
    .await
    .expect("accepted while incomplete");
    let e = submit(&mut alice, "kind = \"baseline\"\ndata = \"partial\"")
        .await
        .expect_err("incomplete");
    assert_eq!(code(&e), Code::FailedPrecondition);
    assert!(
        message(&e).contains("upload services, users"),
        "{}",
        message(&e)
    );
    // Unknown tables and paths.
    let e = put(&mut alice, "bad", "staff", vec![good.users.batch()])
        .await
        .expect_err("unknown table");
    assert_eq!(code(&e), Code::InvalidArgument);
    let e = put(&mut alice, "../etc", "users", vec![good.users.batch()])
        .await
        .expect_err("bad name");
    assert_eq!(code(&e), Code::InvalidArgument);
    // Bad specs.
    let e = submit(&mut alice, "kind = ").await.expect_err("not TOML");
    assert_eq!(code(&e), Code::InvalidArgument);
    let e = submit(&mut alice, "kind = \"baseline\"\ndata = \"nowhere\"")
        .await
        .expect_err("no such dataset");
    assert_eq!(code(&e), Code::NotFound);
    let e = submit(&mut alice, "kind = \"astrology\"\ndata = \"hand\"")
        .await
        .expect_err("unknown job kind");
    assert_eq!(code(&e), Code::InvalidArgument);
    // A spec that parses but cannot run on the data is accepted and fails when run.
    let unknown = submit(
        &mut alice,
        "data = \"hand\"\n[formula]\ngroups = [\"income\"]",
    )
    .await
    .expect("accepted, fails when run");

    // The waiting job was not disturbed: it runs and gives the hand example's funding.
    server.queue().set_paused(false);
    wait(&mut alice, &id).await.expect("done");
    let services = fetch(&mut alice, &id, "services").await;
    let funding = services
        .column_by_name("baseline_funding")
        .expect("column")
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .expect("f64")
        .values()
        .to_vec();
    assert_eq!(funding, vec![348_750.0, 123_000.0, 176_000.0]);
    let e = wait(&mut alice, &unknown).await.expect_err("fails");
    assert_eq!(code(&e), Code::InvalidArgument);
    assert!(
        message(&e).contains("unknown user attribute \"income\""),
        "{}",
        message(&e)
    );
    let status = action(&mut alice, "status", &unknown)
        .await
        .expect("status");
    assert_eq!(status["state"], "failed");
    assert_eq!(status["code"], "InvalidArgument");
    server.shutdown().await;
}

/// Every rule relating two tables is checked as soon as both are stored, whatever the
/// order of the uploads; only the rules whose other table is absent wait.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_checked_against_every_stored_table() {
    let (_data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    let mut bad = Fixture::hand_example();
    bad.set(TableKind::Users, 2, "service_id", "SAD-NOWHERE");

    // Services stored: a users table naming an unknown service is refused at once, with
    // its row, column and value — the dataset is not complete yet (no départements).
    put(&mut alice, "refs", "services", vec![bad.services.batch()])
        .await
        .expect("accepted alone");
    let e = put(&mut alice, "refs", "users", vec![bad.users.batch()])
        .await
        .expect_err("unknown service");
    assert_eq!(code(&e), Code::InvalidArgument);
    assert!(
        message(&e).contains(
            "datasets/refs/users: table users, row 2, column service_id, value \"SAD-NOWHERE\""
        ),
        "{}",
        message(&e)
    );
    let tables = action(&mut alice, "datasets", "").await.expect("datasets");
    assert!(
        !tables.to_string().contains("\"users\""),
        "the refused table is not stored: {tables}"
    );

    // Users first: the reference waits for the services; the upload that brings them
    // (here the one that completes the set) is refused, naming the users' row.
    put(&mut alice, "later", "users", vec![bad.users.batch()])
        .await
        .expect("the services are not there yet");
    put(
        &mut alice,
        "later",
        "departements",
        vec![bad.departements.batch()],
    )
    .await
    .expect("no rule between départements and users is broken");
    let e = put(&mut alice, "later", "services", vec![bad.services.batch()])
        .await
        .expect_err("the stored users name an unknown service");
    assert!(
        message(&e).contains("datasets/later/users: table users, row 2, column service_id"),
        "{}",
        message(&e)
    );

    // Visits whose user is unknown, with the users stored and the services absent.
    let mut orphan = Fixture::hand_example();
    orphan.set(TableKind::Visits, 3, "user_id", "nobody");
    put(&mut alice, "visits", "users", vec![orphan.users.batch()])
        .await
        .expect("accepted alone");
    let e = put(&mut alice, "visits", "visits", vec![orphan.visits.batch()])
        .await
        .expect_err("unknown user");
    assert!(
        message(&e).contains(
            "datasets/visits/visits: table visits, row 3, column user_id, value \"nobody\""
        ),
        "{}",
        message(&e)
    );

    // A census dataset (no visits) is complete.
    let good = Fixture::hand_example();
    for t in [
        TableKind::Departements,
        TableKind::Services,
        TableKind::Users,
    ] {
        put(&mut alice, "census", t.name(), vec![good.table(t).batch()])
            .await
            .expect("valid");
    }
    let listed = action(&mut alice, "datasets", "").await.expect("datasets");
    let census = listed
        .as_array()
        .and_then(|a| a.iter().find(|d| d["name"] == "census"))
        .expect("listed");
    assert_eq!(census["complete"], true, "{listed}");
    server.shutdown().await;
}

/// A panic while a request is handled answers that request with `Internal`; the requests
/// after it — of every kind, by the same client — are served (no lock is left poisoned).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_request_does_not_break_the_next_ones() {
    let (data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    faults::arm(data_dir.path(), Point::Action, Fault::Panic, 2);
    let e = action(&mut alice, "jobs", "").await.expect_err("panics");
    assert_eq!(code(&e), Code::Internal, "{}", message(&e));
    let e = submit(&mut alice, "kind = \"baseline\"")
        .await
        .expect_err("panics while submitting");
    assert_eq!(code(&e), Code::Internal, "{}", message(&e));

    upload_fixture(&mut alice, "hand", &Fixture::hand_example()).await;
    let id = submit(&mut alice, "kind = \"baseline\"\ndata = \"hand\"")
        .await
        .expect("submits");
    wait(&mut alice, &id).await.expect("done");
    let services = fetch(&mut alice, &id, "services").await;
    assert_eq!(services.num_rows(), 3);
    let jobs = action(&mut alice, "jobs", "").await.expect("lists");
    assert_eq!(jobs.as_array().map(Vec::len), Some(1), "{jobs}");
    server.shutdown().await;
}

/// The disk filling up while a result is written: the job fails naming the reason,
/// nothing of the result is left (neither listed nor on disk), the server keeps serving,
/// and the same spec submitted again is computed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_while_results_are_written_fails_the_job_cleanly() {
    let (data_dir, server) = serve().await;
    let mut alice = login(&server, "alice").await;
    upload_fixture(&mut alice, "hand", &Fixture::hand_example()).await;
    faults::arm(data_dir.path(), Point::CommitResult, Fault::DiskFull, 1);
    let spec = "kind = \"baseline\"\ndata = \"hand\"";
    let id = submit(&mut alice, spec).await.expect("submits");
    let e = wait(&mut alice, &id).await.expect_err("fails");
    assert_eq!(code(&e), Code::Internal);
    assert!(
        message(&e).contains("No space left on device"),
        "{}",
        message(&e)
    );
    let status = action(&mut alice, "status", &id).await.expect("status");
    assert_eq!(status["state"], "failed", "{status}");
    let results = std::fs::read_dir(data_dir.path().join("results")).expect("results");
    assert_eq!(results.count(), 0, "no result directory");
    let tmp = std::fs::read_dir(data_dir.path().join("tmp")).expect("tmp");
    assert_eq!(tmp.count(), 0, "nothing half-written");
    let listed = alice
        .list_flights("jobs")
        .await
        .expect("lists")
        .try_collect::<Vec<_>>()
        .await
        .expect("flights");
    assert!(listed.is_empty(), "the failed job has no table: {listed:?}");

    let again = submit(&mut alice, spec).await.expect("submits again");
    wait(&mut alice, &again)
        .await
        .expect("done once the disk has room");
    assert_eq!(fetch(&mut alice, &again, "services").await.num_rows(), 3);
    server.shutdown().await;
}

/// A data directory written by an earlier version of the results: its stored result is
/// not served for the same spec on the same data — the job is computed again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_of_another_version_are_recomputed() {
    let data_dir = tempfile::tempdir().expect("tmp");
    let spec = "kind = \"baseline\"\ndata = \"hand\"";
    let key = {
        let server = Server::start(config(data_dir.path()))
            .await
            .expect("starts");
        let mut alice = login(&server, "alice").await;
        upload_fixture(&mut alice, "hand", &Fixture::hand_example()).await;
        let id = submit(&mut alice, spec).await.expect("submits");
        wait(&mut alice, &id).await.expect("done");
        let status = action(&mut alice, "status", &id).await.expect("status");
        server.shutdown().await;
        status["result_key"].as_str().expect("key").to_string()
    };
    // What the previous version of the results left: the same result under the key that
    // version computed.
    let data_hash = {
        let db = rusqlite::Connection::open(data_dir.path().join("catalogue.sqlite"))
            .expect("catalogue");
        db.query_row("SELECT data_hash FROM jobs", [], |r| r.get::<_, String>(0))
            .expect("a job")
    };
    let canonical = dotation_solver::spec::JobSpec::parse(spec)
        .expect("spec")
        .canonical_json();
    assert_eq!(
        key,
        dotation_server::flight::store::result_key(
            dotation_core::RESULTS_VERSION,
            &canonical,
            &data_hash
        )
    );
    let old = dotation_server::flight::store::result_key(
        dotation_core::RESULTS_VERSION - 1,
        &canonical,
        &data_hash,
    );
    assert_ne!(old, key);
    let results = data_dir.path().join("results");
    std::fs::rename(results.join(&key), results.join(&old)).expect("rename");
    {
        let db = rusqlite::Connection::open(data_dir.path().join("catalogue.sqlite"))
            .expect("catalogue");
        db.execute("UPDATE results SET key = ?1", [&old])
            .expect("update");
        db.execute("UPDATE jobs SET key = ?1", [&old])
            .expect("update");
    }

    let server = Server::start(config(data_dir.path()))
        .await
        .expect("restarts");
    let mut alice = login(&server, "alice").await;
    let again = action(&mut alice, "submit", spec).await.expect("submits");
    assert_eq!(again["result_key"], key.as_str());
    assert_eq!(
        again["state"], "queued",
        "not served from the old result: {again}"
    );
    let id = again["id"].as_str().expect("id").to_string();
    wait(&mut alice, &id).await.expect("computed again");
    assert!(results.join(&key).join("services.parquet").is_file());
    assert!(
        results.join(&old).is_dir(),
        "the old result stays as it was"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_results_and_runs_unfinished_jobs() {
    let data_dir = tempfile::tempdir().expect("tmp");
    let spec =
        |floor: u32| format!("kind = \"baseline\"\ndata = \"hand\"\n[baseline]\nfloor = {floor}");
    let (done, queued, interrupted, given_up, expected) = {
        let server = Server::start(config(data_dir.path()))
            .await
            .expect("starts");
        let mut alice = login(&server, "alice").await;
        upload_fixture(&mut alice, "hand", &Fixture::hand_example()).await;
        let done = submit(&mut alice, &spec(24)).await.expect("submits");
        wait(&mut alice, &done).await.expect("done");
        let expected = fetch(&mut alice, &done, "services").await;
        server.queue().set_paused(true);
        let queued = submit(&mut alice, &spec(25)).await.expect("submits");
        let interrupted = submit(&mut alice, &spec(26)).await.expect("submits");
        let given_up = submit(&mut alice, &spec(27)).await.expect("submits");
        server.shutdown().await;
        (done, queued, interrupted, given_up, expected)
    };
    // As if the server had died while two jobs ran: one has been interrupted before, as
    // often as allowed.
    {
        let store =
            dotation_server::flight::store::Store::open(data_dir.path()).expect("catalogue");
        use dotation_server::flight::store::JobState;
        for id in [&interrupted, &given_up] {
            store
                .set_state(id, JobState::Running, None, None)
                .expect("set");
        }
        for _ in 0..2 {
            store.add_attempt(&given_up).expect("attempt");
        }
    }
    let server = Server::start(config(data_dir.path()))
        .await
        .expect("restarts");
    let mut alice = login(&server, "alice").await;
    assert_eq!(fetch(&mut alice, &done, "services").await, expected);
    for id in [&queued, &interrupted] {
        wait(&mut alice, id).await.expect("runs after the restart");
        assert_eq!(fetch(&mut alice, id, "services").await.num_rows(), 3);
    }
    let e = wait(&mut alice, &given_up).await.expect_err("given up");
    assert!(
        message(&e).contains("server stopped while the job was running"),
        "{}",
        message(&e)
    );
    let jobs = action(&mut alice, "jobs", "").await.expect("jobs");
    let states: Vec<_> = jobs
        .as_array()
        .expect("list")
        .iter()
        .map(|j| j["state"].as_str().expect("state").to_string())
        .collect();
    assert_eq!(states, ["done", "done", "done", "failed"]);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_clients_at_once_get_their_own_results() {
    let data_dir = tempfile::tempdir().expect("tmp");
    let server = Arc::new(
        Server::start(config(data_dir.path()))
            .await
            .expect("starts"),
    );
    // Expected funding of the second service (HAS, tariff below the floor) for each floor,
    // computed directly by the library.
    let expected = |floor: f64| {
        let f = Fixture::hand_example();
        let data = dotation_server::data::LoadedData {
            tables: dotation_server::io::Tables::Memory(f.raw()),
            description: "hand".into(),
            hash: String::new(),
            margins: None,
        };
        let spec = dotation_solver::spec::JobSpec {
            kind: dotation_solver::spec::JobKind::Baseline,
            baseline: dotation_solver::spec::BaselineSpec {
                mtp: None,
                floor: Some(floor),
            },
            ..Default::default()
        };
        let run = dotation_server::jobs::run_spec(
            &spec,
            &data,
            &dotation_server::jobs::JobContext::detached(),
        )
        .expect("baseline");
        run.tables[0].1.clone()
    };
    let clients = (0..32).map(|i| {
        let server = Arc::clone(&server);
        tokio::spawn(async move {
            let user = ["alice", "bob"][i % 2];
            let mut client = login(&server, user).await;
            let dataset = format!("d{i}");
            upload_fixture(&mut client, &dataset, &Fixture::hand_example()).await;
            let floor = 22.0 + i as f64 * 0.25;
            let spec =
                format!("kind = \"baseline\"\ndata = \"{dataset}\"\n[baseline]\nfloor = {floor}");
            let id = submit(&mut client, &spec).await.expect("submits");
            wait(&mut client, &id).await.expect("done");
            (floor, fetch(&mut client, &id, "services").await)
        })
    });
    let results =
        tokio::time::timeout(Duration::from_secs(300), futures::future::join_all(clients))
            .await
            .expect("the load test ends");
    for r in results {
        let (floor, services) = r.expect("client ran");
        assert_eq!(services, expected(floor), "floor {floor}");
    }
    // Each user sees exactly their 16 jobs.
    let mut alice = login(&server, "alice").await;
    let jobs = action(&mut alice, "jobs", "").await.expect("jobs");
    assert_eq!(jobs.as_array().map(Vec::len), Some(16));
    let server = Arc::into_inner(server).expect("clients are done");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_is_bounded() {
    let data_dir = tempfile::tempdir().expect("tmp");
    let mut c = config(data_dir.path());
    c.limits.max_queued_jobs = 2;
    c.limits.max_spec_bytes = 200;
    let server = Server::start(c).await.expect("starts");
    let mut alice = login(&server, "alice").await;
    upload_fixture(&mut alice, "hand", &Fixture::hand_example()).await;
    server.queue().set_paused(true);
    for floor in [24, 25] {
        submit(
            &mut alice,
            &format!("kind = \"baseline\"\ndata = \"hand\"\n[baseline]\nfloor = {floor}"),
        )
        .await
        .expect("queued");
    }
    let e = submit(
        &mut alice,
        "kind = \"baseline\"\ndata = \"hand\"\n[baseline]\nfloor = 26",
    )
    .await
    .expect_err("full");
    assert_eq!(code(&e), Code::ResourceExhausted);
    let long = format!(
        "kind = \"baseline\"\ndata = \"hand\"\n# {}",
        "x".repeat(300)
    );
    let e = submit(&mut alice, &long).await.expect_err("too long");
    assert_eq!(code(&e), Code::ResourceExhausted);
    server.queue().set_paused(false);
    server.shutdown().await;
}

#[test]
fn the_example_configuration_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../server/dotation-server.example.toml");
    let c = Config::from_file(&path).expect("parses");
    c.check().expect("valid");
    assert_eq!(c.limits.max_running_jobs, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_when_given_a_certificate() {
    let tls = Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/tls");
    let data_dir = tempfile::tempdir().expect("tmp");
    let mut c = config(data_dir.path());
    c.tls = Some(dotation_server::flight::config::TlsConfig {
        cert: tls.join("server.pem"),
        key: tls.join("server.key"),
    });
    let server = Server::start(c).await.expect("starts");
    let ca = std::fs::read(tls.join("ca.pem")).expect("CA");
    let channel = tonic::transport::Endpoint::from_shared(format!("https://{}", server.addr()))
        .expect("endpoint")
        .tls_config(
            tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(ca))
                .domain_name("localhost"),
        )
        .expect("TLS config")
        .connect()
        .await
        .expect("a TLS connection");
    let mut client = FlightClient::new(channel);
    let payload = BasicAuth {
        username: "alice".into(),
        password: "alice-password".into(),
    }
    .encode_to_vec();
    let token = client.handshake(payload).await.expect("logs in over TLS");
    client
        .add_header(
            "authorization",
            &format!(
                "Bearer {}",
                String::from_utf8(token.to_vec()).expect("text")
            ),
        )
        .expect("header");
    let jobs = action(&mut client, "jobs", "").await.expect("jobs");
    assert_eq!(jobs, serde_json::json!([]));
    // A client speaking plain text gets nothing.
    let plain = tonic::transport::Endpoint::from_shared(format!("http://{}", server.addr()))
        .expect("endpoint")
        .connect_lazy();
    assert!(FlightClient::new(plain).list_actions().await.is_err());
    server.shutdown().await;
}
