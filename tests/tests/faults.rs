//! Faults across processes, in their own test binary: a server killed with SIGKILL during
//! an upload, during a job and while a result is written, then restarted on the same data
//! directory — nothing half-visible, the job runs again, its results equal a clean run's —
//! and a soak of 64 clients mixing every call, with the server's memory watched.
//!
//! The server is this very binary, run again as the test `server_process` (a no-op in a
//! normal run), so the test kills a real process holding the data directory. Everything
//! stays on loopback and is bounded in count and time.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::{FlightClient, FlightDescriptor};
use dotation_core::schema::TableKind;
use dotation_server::faults::{self, Fault, Point};
use dotation_server::flight::config::TokenConfig;
use dotation_server::flight::{Config, Server};
use dotation_tests::fixtures::Fixture;
use dotation_tests::flight_client::{
    action, connect_with_token, fetch, put, submit, upload_fixture, wait,
};
use futures::TryStreamExt;

/// Set in the server process: its data directory.
const SERVER_DIR: &str = "DOTATION_TEST_SERVER_DIR";
/// Set in the server process to hold a point for long: `run_job` or `commit_result`.
const SERVER_PAUSE: &str = "DOTATION_TEST_SERVER_PAUSE";
const TOKEN: &str = "faults-test-token";
const BASELINE: &str = "kind = \"baseline\"\ndata = \"hand\"";

fn config(dir: &Path) -> Config {
    let mut c = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: dir.to_path_buf(),
        ..Config::default()
    };
    use sha2::Digest;
    c.auth.tokens = vec![TokenConfig {
        user: "alice".into(),
        sha256: hex::encode(sha2::Sha256::digest(TOKEN.as_bytes())),
    }];
    c.limits.max_queued_jobs = 4096;
    c.limits.max_jobs_per_user = 4096;
    c
}

/// Not a test of its own: the server process the tests start and kill.
#[test]
fn server_process() {
    let Some(dir) = std::env::var_os(SERVER_DIR).map(PathBuf::from) else {
        return;
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let hold = Fault::Delay(Duration::from_secs(600));
        match std::env::var(SERVER_PAUSE).as_deref() {
            Ok("run_job") => faults::arm(&dir, Point::RunJob, hold, 1),
            Ok("commit_result") => faults::arm(&dir, Point::CommitResult, hold, 1),
            _ => {}
        }
        let server = Server::start(config(&dir)).await.expect("starts");
        let tmp = dir.with_extension("addr.tmp");
        std::fs::write(&tmp, server.addr().to_string()).expect("address");
        std::fs::rename(&tmp, dir.with_extension("addr")).expect("address");
        std::future::pending::<()>().await;
    });
}

/// A server process on a data directory.
struct ServerProcess {
    child: Child,
    addr: String,
}

impl ServerProcess {
    fn start(dir: &Path, pause: Option<&str>) -> ServerProcess {
        let addr_file = dir.with_extension("addr");
        let _ = std::fs::remove_file(&addr_file);
        let mut cmd = Command::new(std::env::current_exe().expect("this test binary"));
        cmd.args([
            "--exact",
            "server_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(SERVER_DIR, dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        if let Some(p) = pause {
            cmd.env(SERVER_PAUSE, p);
        }
        let child = cmd.spawn().expect("the server process starts");
        let t0 = Instant::now();
        while !addr_file.exists() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "the server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let addr = std::fs::read_to_string(&addr_file).expect("address");
        ServerProcess { child, addr }
    }

    /// SIGKILL: no shutdown, no destructor, no flush.
    fn kill(mut self) {
        self.child.kill().expect("killed");
        self.child.wait().expect("reaped");
    }

    /// Resident memory, from /proc.
    fn rss_bytes(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .expect("VmRSS");
        kb * 1024
    }

    async fn client(&self) -> FlightClient {
        connect_with_token(&self.addr, TOKEN)
            .await
            .expect("connects")
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Waits until `check` holds (bounded).
async fn until(what: &str, mut check: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !check() {
        assert!(t0.elapsed() < Duration::from_secs(120), "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The hand example's baseline on a clean server: what every recovered run must give.
async fn reference_services() -> RecordBatch {
    let dir = tempfile::tempdir().expect("tmp");
    let server = ServerProcess::start(&dir.path().join("data"), None);
    let mut c = server.client().await;
    upload_fixture(&mut c, "hand", &Fixture::hand_example()).await;
    let id = submit(&mut c, BASELINE).await.expect("submits");
    wait(&mut c, &id).await.expect("done");
    fetch(&mut c, &id, "services").await
}

#[test]
fn a_kill_during_an_upload_leaves_no_half_table() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        let server = ServerProcess::start(&data, None);
        let mut c = server.client().await;
        let f = Fixture::hand_example();
        for t in [
            TableKind::Departements,
            TableKind::Services,
            TableKind::Users,
        ] {
            put(&mut c, "d", t.name(), vec![f.table(t).batch()])
                .await
                .expect("stored");
        }
        // A visits upload that never ends: a batch every 10 ms.
        let batch = f.visits.batch();
        let descriptor =
            FlightDescriptor::new_path(vec!["datasets".into(), "d".into(), "visits".into()]);
        let endless = futures::stream::unfold((), move |()| {
            let b = batch.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(10)).await;
                Some((Ok(b), ()))
            }
        });
        let data_stream = FlightDataEncoderBuilder::new()
            .with_flight_descriptor(Some(descriptor))
            .build(endless);
        let mut uploader = server.client().await;
        let upload = tokio::spawn(async move {
            match uploader.do_put(data_stream).await {
                Ok(s) => s.try_collect::<Vec<_>>().await.map(|_| ()),
                Err(e) => Err(e),
            }
        });
        let tmp = data.join("tmp");
        until("the upload is being written", || {
            entries(&tmp).iter().any(|e| e.starts_with("upload"))
        })
        .await;
        server.kill();
        assert!(upload.await.expect("task").is_err(), "the upload was cut");

        let server = ServerProcess::start(&data, None);
        let mut c = server.client().await;
        let listed = action(&mut c, "datasets", "").await.expect("datasets");
        let d = &listed[0];
        assert_eq!(d["name"], "d", "{listed}");
        assert!(
            d["tables"].get("visits").is_none(),
            "no half table: {listed}"
        );
        assert_eq!(d["complete"], true, "{listed}");
        assert!(
            entries(&tmp).is_empty(),
            "tmp/ emptied: {:?}",
            entries(&tmp)
        );
        assert_eq!(
            entries(&data.join("blobs")).len(),
            3,
            "only the three stored tables"
        );
        // The dataset is usable, and the visits can be uploaded again.
        put(&mut c, "d", "visits", vec![f.visits.batch()])
            .await
            .expect("stored");
        let id = submit(&mut c, "kind = \"baseline\"\ndata = \"d\"")
            .await
            .expect("submits");
        wait(&mut c, &id).await.expect("done");
        assert_eq!(
            fetch(&mut c, &id, "services").await,
            reference_services().await
        );
    });
}

/// A job killed at `pause` (its server held there), then run again after a restart.
async fn killed_job_runs_again(pause: &str, half_written: impl Fn(&Path) -> bool) {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let server = ServerProcess::start(&data, Some(pause));
    let mut c = server.client().await;
    upload_fixture(&mut c, "hand", &Fixture::hand_example()).await;
    let id = submit(&mut c, BASELINE).await.expect("submits");
    until("the job reaches the held point", || half_written(&data)).await;
    let status = action(&mut c, "status", &id).await.expect("status");
    assert_eq!(status["state"], "running", "{status}");
    server.kill();

    let server = ServerProcess::start(&data, None);
    let mut c = server.client().await;
    wait(&mut c, &id).await.expect("run again to its end");
    let status = action(&mut c, "status", &id).await.expect("status");
    assert_eq!(status["state"], "done", "{status}");
    assert_eq!(entries(&data.join("results")).len(), 1, "one result");
    assert!(
        entries(&data.join("tmp")).is_empty(),
        "nothing half-written"
    );
    assert_eq!(
        fetch(&mut c, &id, "services").await,
        reference_services().await
    );
}

#[test]
fn a_kill_during_a_job_runs_it_again_with_the_same_results() {
    runtime().block_on(killed_job_runs_again("run_job", |data| {
        // Running: no result yet, nothing being written.
        entries(&data.join("results")).is_empty() && running(data)
    }));
}

#[test]
fn a_kill_while_a_result_is_written_leaves_nothing_half_visible() {
    runtime().block_on(killed_job_runs_again("commit_result", |data| {
        // The result's first table is written in tmp/, not yet moved into results/.
        entries(&data.join("tmp"))
            .iter()
            .any(|r| r.starts_with("result") && !entries(&data.join("tmp").join(r)).is_empty())
    }));
}

/// Whether the catalogue has a running job.
fn running(data: &Path) -> bool {
    let Ok(db) = rusqlite::Connection::open_with_flags(
        data.join("catalogue.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    ) else {
        return false;
    };
    db.query_row(
        "SELECT COUNT(*) FROM jobs WHERE state = 'running'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .is_ok_and(|n| n > 0)
}

/// One client's session: its own dataset, distinct jobs, polls, a cancel, downloads.
async fn session(server_addr: &str, i: usize, round: usize) -> Result<(), String> {
    let mut c = connect_with_token(server_addr, TOKEN).await?;
    let dataset = format!("client-{i}");
    if round == 0 {
        upload_fixture(&mut c, &dataset, &Fixture::hand_example()).await;
    }
    let mut ids = Vec::new();
    for j in 0..3 {
        let floor = 23.0 + (round * 1000 + i * 3 + j) as f64 / 1000.0;
        let spec =
            format!("kind = \"baseline\"\ndata = \"{dataset}\"\n[baseline]\nfloor = {floor}");
        ids.push(submit(&mut c, &spec).await.map_err(|e| e.to_string())?);
    }
    // A cancel: of a job waiting, running or already done — every answer is a status.
    action(&mut c, "cancel", &ids[2])
        .await
        .map_err(|e| e.to_string())?;
    for id in &ids[..2] {
        wait(&mut c, id)
            .await
            .map_err(|e| format!("job {id}: {e}"))?;
        let services = fetch(&mut c, id, "services").await;
        if services.num_rows() != 3 {
            return Err(format!("job {id}: {} services", services.num_rows()));
        }
    }
    let listed = action(&mut c, "jobs", "")
        .await
        .map_err(|e| e.to_string())?;
    if listed.as_array().map_or(0, Vec::len) > 100 {
        return Err(format!(
            "the jobs action lists more than 100 jobs: {listed}"
        ));
    }
    Ok(())
}

/// Rounds of the soak: 64 clients × 3 jobs each.
const ROUNDS: usize = 5;

#[test]
fn sixty_four_clients_mixing_every_call_get_no_server_error_and_memory_stays_flat() {
    runtime().block_on(async {
        let dir = tempfile::tempdir().expect("tmp");
        let server = ServerProcess::start(&dir.path().join("data"), None);
        let mut rss = Vec::new();
        for round in 0..ROUNDS {
            let sessions = (0..64).map(|i| {
                let addr = server.addr.clone();
                tokio::spawn(async move { session(&addr, i, round).await })
            });
            let outcomes = futures::future::join_all(sessions).await;
            let errors: Vec<String> = outcomes
                .into_iter()
                .filter_map(|o| o.expect("task").err())
                .collect();
            assert!(errors.is_empty(), "round {round}: {errors:?}");
            rss.push(server.rss_bytes());
        }
        println!("server resident memory after each round: {rss:?}");
        // After the first rounds have warmed the allocator, the caches and the catalogue,
        // the next ones (as many jobs again, each) leave the resident memory flat.
        let (warm, last) = (rss[1] as f64, rss[ROUNDS - 1] as f64);
        assert!(
            last <= warm * 1.15 + 8e6,
            "memory grows with the requests: {rss:?}"
        );
    });
}
