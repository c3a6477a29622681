//! Malformed input, generated: the spec parser, the table readers (Parquet, Arrow IPC,
//! CSV: valid files truncated and with bytes changed) and the Flight surface (descriptors,
//! tickets, actions) never panic; each bad input is refused with a message, and the
//! server keeps serving. Property tests on stable Rust (proptest), a few hundred cases.

use arrow::array::RecordBatch;
use arrow_flight::{Action, FlightClient, FlightDescriptor, Ticket};
use clap::Parser;
use dotation_core::schema::TableKind;
use dotation_server::cli::{Cli, run};
use dotation_solver::spec::JobSpec;
use dotation_tests::fixtures::Fixture;
use futures::TryStreamExt;
use proptest::prelude::*;
use tonic::Code;

/// A valid spec, every section used, to mutate.
const SPEC: &str = r#"kind = "calibrate"
data = "hand"

[formula]
kind = "forfait"
groups = ["allowance", "gir_band"]
unit = "user_month"

[neutrality]
scope = "national"

[guarantees]
transition_limit = 0.25
"#;

/// Byte edits of a text: (where, as a share of the length; what: 0 deletes a character,
/// 1 inserts `c`, 2 replaces with `c`).
fn mutate(text: &str, edits: &[(f64, u8, char)]) -> String {
    let mut chars: Vec<char> = text.chars().collect();
    for &(at, what, c) in edits {
        let i = ((at * chars.len() as f64) as usize).min(chars.len());
        match what % 3 {
            0 if i < chars.len() => {
                chars.remove(i);
            }
            1 => chars.insert(i, c),
            _ if i < chars.len() => chars[i] = c,
            _ => chars.push(c),
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_spec_parser_refuses_malformed_specs_with_a_message(
        edits in proptest::collection::vec((0.0..1.0f64, any::<u8>(), any::<char>()), 0..6),
        json in any::<bool>(),
    ) {
        let text = if json {
            let spec = JobSpec::parse(SPEC).expect("valid");
            mutate(&serde_json::to_string(&spec).expect("JSON"), &edits)
        } else {
            mutate(SPEC, &edits)
        };
        match JobSpec::parse(&text) {
            Ok(spec) => {
                // What parses re-serialises and parses to the same spec.
                let again = JobSpec::parse(&spec.canonical_json()).expect("canonical form");
                prop_assert_eq!(again.canonical_json(), spec.canonical_json());
            }
            Err(e) => prop_assert!(!e.to_string().trim().is_empty()),
        }
    }

    #[test]
    fn arbitrary_text_is_never_a_panic_for_the_spec_parser(text in "\\PC{0,200}") {
        let _ = JobSpec::parse(&text);
    }
}

/// The hand example's users table in each format.
fn encoded(format: usize, batch: &RecordBatch, csv: &str) -> (&'static str, Vec<u8>) {
    match format {
        0 => {
            let mut out = Vec::new();
            let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None)
                .expect("writer");
            w.write(batch).expect("write");
            w.close().expect("close");
            ("parquet", out)
        }
        1 => {
            let mut out = Vec::new();
            let mut w =
                arrow::ipc::writer::FileWriter::try_new(&mut out, &batch.schema()).expect("writer");
            w.write(batch).expect("write");
            w.finish().expect("finish");
            drop(w);
            ("arrow", out)
        }
        _ => ("csv", csv.as_bytes().to_vec()),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn corrupted_table_files_are_refused_naming_the_file(
        format in 0..3usize,
        table in 0..4usize,
        cut in 0.0..1.0f64,
        flips in proptest::collection::vec((0.0..1.0f64, any::<u8>()), 0..6),
    ) {
        corrupted_file_is_refused(format, table, cut, &flips)?;
    }
}

/// A buffer offset corrupted in an Arrow IPC file made arrow's reader panic (found by the
/// property test above).
#[test]
fn an_ipc_file_with_a_corrupted_buffer_offset_is_refused() {
    corrupted_file_is_refused(1, 2, 0.9037905854145994, &[(0.3061898499590698, 1)])
        .expect("refused without a panic");
}

/// Writes table `table` of the hand example in `format`, with bytes flipped and the file
/// cut, and checks that `validate` refuses it naming the file, without a panic.
fn corrupted_file_is_refused(
    format: usize,
    table: usize,
    cut: f64,
    flips: &[(f64, u8)],
) -> Result<(), TestCaseError> {
    {
        let f = Fixture::hand_example();
        let dir = tempfile::tempdir().expect("tmp");
        f.write_csv(dir.path());
        let kind = TableKind::ALL[table];
        let text = f.table(kind);
        let (ext, mut bytes) = encoded(format, &text.batch(), &text.csv());
        for (at, b) in flips {
            let i = ((at * bytes.len() as f64) as usize).min(bytes.len() - 1);
            bytes[i] ^= b;
        }
        bytes.truncate(((cut * 1.2).min(1.0) * bytes.len() as f64) as usize);
        std::fs::remove_file(dir.path().join(format!("{}.csv", kind.name()))).expect("rm");
        let path = dir.path().join(format!("{}.{ext}", kind.name()));
        std::fs::write(&path, &bytes).expect("write");
        let d = dir.path().to_str().expect("utf-8");
        let cli = Cli::try_parse_from(["dotation", "--quiet", "validate", d]).expect("args");
        let outcome = std::panic::catch_unwind(|| run(&cli));
        prop_assert!(outcome.is_ok(), "reading {} panicked", path.display());
        if let Err(e) = outcome.expect("no panic") {
            let message = e.to_string();
            prop_assert!(
                message.contains(kind.name()),
                "the message names the table's file: {}",
                message
            );
        }
    }
    Ok(())
}

/// One request of the Flight surface, malformed.
#[derive(Clone, Debug)]
enum Request {
    Info(Vec<String>),
    Command(Vec<u8>),
    Get(Vec<u8>),
    Action(String, Vec<u8>),
}

fn request() -> impl Strategy<Value = Request> {
    let part = prop_oneof![
        Just("datasets".to_string()),
        Just("jobs".to_string()),
        Just("visits".to_string()),
        Just("0123456789abcdef0123456789abcdef".to_string()),
        "\\PC{0,40}",
    ];
    let action = prop_oneof![
        Just("submit".to_string()),
        Just("status".to_string()),
        Just("cancel".to_string()),
        Just("report".to_string()),
        Just("CancelFlightInfo".to_string()),
        "\\PC{0,20}",
    ];
    prop_oneof![
        proptest::collection::vec(part.clone(), 0..5).prop_map(Request::Info),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Request::Command),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Request::Get),
        proptest::collection::vec(part, 0..4).prop_map(|p| Request::Get(p.join("/").into_bytes())),
        (action, proptest::collection::vec(any::<u8>(), 0..128))
            .prop_map(|(a, b)| Request::Action(a, b)),
    ]
}

async fn send(client: &mut FlightClient, r: Request) -> Result<(), tonic::Status> {
    let status = |e: arrow_flight::error::FlightError| match e {
        arrow_flight::error::FlightError::Tonic(s) => *s,
        other => tonic::Status::unknown(other.to_string()),
    };
    match r {
        Request::Info(path) => client
            .get_flight_info(FlightDescriptor::new_path(path))
            .await
            .map(|_| ())
            .map_err(status),
        Request::Command(cmd) => client
            .poll_flight_info(FlightDescriptor::new_cmd(cmd))
            .await
            .map(|_| ())
            .map_err(status),
        Request::Get(ticket) => {
            let stream = client.do_get(Ticket::new(ticket)).await.map_err(status)?;
            stream
                .try_collect::<Vec<_>>()
                .await
                .map(|_| ())
                .map_err(status)
        }
        Request::Action(kind, body) => {
            let results = client
                .do_action(Action::new(kind, body))
                .await
                .map_err(status)?;
            results
                .try_collect::<Vec<_>>()
                .await
                .map(|_| ())
                .map_err(status)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    #[test]
    fn malformed_flight_requests_get_a_clear_status_and_the_server_keeps_serving(
        requests in proptest::collection::vec(request(), 48..64),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let outcome: Result<(), TestCaseError> = rt.block_on(async {
            let (_dir, server) = crate::flight::serve().await;
            let mut client = crate::flight::login(&server, "alice").await;
            dotation_tests::flight_client::upload_fixture(&mut client, "hand", &Fixture::hand_example()).await;
            for r in requests {
                if let Err(s) = send(&mut client, r.clone()).await {
                    prop_assert!(
                        !matches!(s.code(), Code::Internal | Code::Unknown),
                        "{r:?}: {:?} {}", s.code(), s.message()
                    );
                    prop_assert!(!s.message().trim().is_empty(), "{r:?}: an empty message");
                }
            }
            // Still serving: a job runs to its result.
            let status = dotation_tests::flight_client::action(&mut client, "submit", "kind = \"baseline\"\ndata = \"hand\"")
                .await
                .expect("submits");
            let id = status["id"].as_str().expect("id").to_string();
            dotation_tests::flight_client::wait(&mut client, &id).await.expect("done");
            server.shutdown().await;
            Ok(())
        });
        outcome?;
    }
}
