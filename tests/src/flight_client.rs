//! A Flight client's calls as the tests make them: upload a table or a fixture, run an
//! action, submit a job and wait for it, fetch a result table (its streamed schema checked
//! against the announced one).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::compute::concat_batches;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::{Action, FlightClient, FlightDescriptor, PollInfo};
use dotation_core::schema::TableKind;
use futures::TryStreamExt;

use crate::fixtures::Fixture;

/// A client of the server at `addr` (host:port, plain HTTP/2), carrying a bearer token.
pub async fn connect_with_token(addr: &str, token: &str) -> Result<FlightClient, String> {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut client = FlightClient::new(channel);
    client
        .add_header("authorization", &format!("Bearer {token}"))
        .map_err(|e| e.to_string())?;
    Ok(client)
}

/// Uploads one table of a dataset; returns the server's summary.
pub async fn put(
    client: &mut FlightClient,
    dataset: &str,
    table: &str,
    batches: Vec<RecordBatch>,
) -> Result<serde_json::Value, FlightError> {
    let descriptor =
        FlightDescriptor::new_path(vec!["datasets".into(), dataset.into(), table.into()]);
    let data = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(descriptor))
        .build(futures::stream::iter(batches.into_iter().map(Ok)));
    let results: Vec<_> = client.do_put(data).await?.try_collect().await?;
    Ok(serde_json::from_slice(&results[0].app_metadata).expect("JSON summary"))
}

/// Uploads the four tables of a fixture.
pub async fn upload_fixture(client: &mut FlightClient, dataset: &str, f: &Fixture) {
    for t in TableKind::ALL {
        put(client, dataset, t.name(), vec![f.table(t).batch()])
            .await
            .unwrap_or_else(|e| panic!("upload of {}: {e}", t.name()));
    }
}

/// Runs an action; returns its JSON result.
pub async fn action(
    client: &mut FlightClient,
    kind: &str,
    body: &str,
) -> Result<serde_json::Value, FlightError> {
    let mut results = client
        .do_action(Action::new(kind, body.to_string()))
        .await?;
    let first = results.try_next().await?.expect("one result");
    Ok(serde_json::from_slice(&first).expect("JSON"))
}

/// Submits a spec; returns the job's id.
pub async fn submit(client: &mut FlightClient, spec: &str) -> Result<String, FlightError> {
    let status = action(client, "submit", spec).await?;
    Ok(status["id"].as_str().expect("an id").to_string())
}

/// Polls a job until it is finished (the bound only keeps a broken server from hanging
/// the test suite).
pub async fn wait(client: &mut FlightClient, id: &str) -> Result<PollInfo, FlightError> {
    for _ in 0..6000 {
        let poll = client
            .poll_flight_info(FlightDescriptor::new_cmd(id.to_string()))
            .await?;
        let progress = poll.progress.expect("progress");
        assert!((0.0..=1.0).contains(&progress), "progress {progress}");
        if poll.flight_descriptor.is_none() {
            assert_eq!(progress, 1.0);
            return Ok(poll);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("job {id} did not finish");
}

/// A result table of a finished job.
pub async fn fetch(client: &mut FlightClient, id: &str, table: &str) -> RecordBatch {
    let descriptor = FlightDescriptor::new_path(vec!["jobs".into(), id.into(), table.into()]);
    let info = client
        .get_flight_info(descriptor)
        .await
        .unwrap_or_else(|e| panic!("info of {table}: {e}"));
    let announced = info.clone().try_decode_schema().expect("a schema");
    let ticket = info.endpoint[0].ticket.clone().expect("a ticket");
    let stream = client.do_get(ticket).await.expect("do_get");
    let batches: Vec<RecordBatch> = stream.try_collect().await.expect("batches");
    let schema = Arc::new(announced);
    for b in &batches {
        assert_eq!(b.schema(), schema, "{table}: streamed schema ≠ announced");
    }
    let all = concat_batches(&schema, &batches).expect("concat");
    assert_eq!(all.num_rows() as i64, info.total_records, "{table} rows");
    all
}
