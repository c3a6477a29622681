//! The Flight service: every RPC checks the caller, maps the request onto datasets, jobs
//! and results, and maps errors to statuses through `From<ServerError> for Status`.
//!
//! Names on the wire:
//! - descriptor path `["datasets", NAME, TABLE]`: an uploaded table — `departements`,
//!   `services`, `users`, `visits` or `margins` (`DoPut`, `GetFlightInfo`, `GetSchema`);
//!   ticket `datasets/NAME/TABLE`;
//! - descriptor command `JOB_ID` (or path `["jobs", JOB_ID]`): a job (`PollFlightInfo`,
//!   `GetFlightInfo` once done, `CancelFlightInfo`); a command that is not a job id is a
//!   job spec, submitted by `PollFlightInfo`;
//! - descriptor path `["jobs", JOB_ID, TABLE]`: a result table; ticket `jobs/JOB_ID/TABLE`;
//! - actions `submit` (body: the spec), `status`, `cancel` (body: the job id), `jobs`,
//!   `datasets`, `report` (body: `{"job": ID, "lang": "fr"}`; the answer is the job's
//!   HTML report), and the standard `CancelFlightInfo`.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::Schema;
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightService;
use arrow_flight::{
    Action, ActionType, BasicAuth, CancelFlightInfoRequest, CancelFlightInfoResult, CancelStatus,
    Criteria, Empty, FlightData, FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest,
    HandshakeResponse, PollInfo, PutResult, SchemaAsIpc, SchemaResult, Ticket,
};
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};
use prost::Message;
use tonic::{Request, Response, Status, Streaming};

use super::auth::{Authenticator, Credentials, authorization};
use super::config::Limits;
use super::datasets::{self, Uploads, check_name, table_kind};
use super::queue::{CancelOutcome, Queue};
use super::store::{self, JobRecord, JobState, Store, TableInfo};
use crate::error::ServerError;
use crate::faults;
use crate::{io, jobs};
use dotation_report::Lang;
use dotation_solver::spec::{JobKind, JobSpec};

type RpcStream<T> = BoxStream<'static, Result<T, Status>>;

/// The actions: each has a name, a description and one arm in [`Service::action`];
/// `ListActions` lists [`ActionKind::ALL`] and dispatch finds the name there, so the two
/// cannot diverge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ActionKind {
    Submit,
    Status,
    Cancel,
    Jobs,
    Datasets,
    Report,
    CancelFlightInfo,
}

impl ActionKind {
    const ALL: [ActionKind; 7] = [
        ActionKind::Submit,
        ActionKind::Status,
        ActionKind::Cancel,
        ActionKind::Jobs,
        ActionKind::Datasets,
        ActionKind::Report,
        ActionKind::CancelFlightInfo,
    ];

    fn name(self) -> &'static str {
        match self {
            ActionKind::Submit => "submit",
            ActionKind::Status => "status",
            ActionKind::Cancel => "cancel",
            ActionKind::Jobs => "jobs",
            ActionKind::Datasets => "datasets",
            ActionKind::Report => "report",
            ActionKind::CancelFlightInfo => "CancelFlightInfo",
        }
    }

    fn description(self) -> &'static str {
        match self {
            ActionKind::Submit => {
                "Submit a job: the body is the job spec (TOML or JSON). Returns the job's status as JSON."
            }
            ActionKind::Status => {
                "A job's status as JSON (state, progress, error, tables): the body is the job id."
            }
            ActionKind::Cancel => {
                "Cancel a job: the body is the job id. Returns the job's status as JSON."
            }
            ActionKind::Jobs => {
                "Your most recent jobs' statuses, as a JSON list, oldest first: 100 by default; the body {\"limit\": N} asks for up to 10000."
            }
            ActionKind::Datasets => {
                "Your datasets, as JSON: tables present, rows, whether complete."
            }
            ActionKind::Report => {
                "A finished job's report, one self-contained HTML page (UTF-8): the body is {\"job\": ID, \"lang\": \"fr\" or \"en\"} (lang defaults to fr)."
            }
            ActionKind::CancelFlightInfo => {
                "Cancel the job of a FlightInfo (standard Flight action)."
            }
        }
    }

    fn from_name(name: &str) -> Result<ActionKind, ServerError> {
        ActionKind::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| {
                ServerError::BadRequest(format!("unknown action {name:?}: ListActions lists them"))
            })
    }
}

/// The Flight service: handles to the shared state, cloned into the blocking tasks that
/// do a request's work (the catalogue, files, spec parsing) off the async runtime.
#[derive(Clone, Debug)]
pub struct Service {
    store: Arc<Store>,
    queue: Arc<Queue>,
    auth: Arc<Authenticator>,
    uploads: Arc<Uploads>,
    limits: Limits,
}

/// What a descriptor or ticket names.
#[derive(Debug)]
enum Target {
    /// An uploaded table.
    DatasetTable(String, dotation_core::schema::TableKind),
    /// A job.
    Job(String),
    /// A result table of a job.
    JobTable(String, String),
}

fn is_job_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_path(parts: &[&str]) -> Result<Target, ServerError> {
    match parts {
        ["datasets", name, table] => {
            check_name("dataset", name)?;
            Ok(Target::DatasetTable(name.to_string(), table_kind(table)?))
        }
        ["jobs", id] if is_job_id(id) => Ok(Target::Job(id.to_string())),
        ["jobs", id, table] if is_job_id(id) => {
            check_name("table", table)?;
            Ok(Target::JobTable(id.to_string(), table.to_string()))
        }
        _ => Err(ServerError::BadRequest(format!(
            "unknown path {parts:?}: expected [\"datasets\", NAME, TABLE], [\"jobs\", JOB_ID] or [\"jobs\", JOB_ID, TABLE]"
        ))),
    }
}

fn ticket_of(target: &Target) -> Ticket {
    match target {
        Target::DatasetTable(name, table) => {
            Ticket::new(format!("datasets/{name}/{}", table.name()))
        }
        Target::JobTable(id, table) => Ticket::new(format!("jobs/{id}/{table}")),
        Target::Job(id) => Ticket::new(format!("jobs/{id}")),
    }
}

fn descriptor_of(target: &Target) -> FlightDescriptor {
    match target {
        Target::DatasetTable(name, table) => {
            FlightDescriptor::new_path(vec!["datasets".into(), name.clone(), table.name().into()])
        }
        Target::JobTable(id, table) => {
            FlightDescriptor::new_path(vec!["jobs".into(), id.clone(), table.clone()])
        }
        Target::Job(id) => FlightDescriptor::new_cmd(id.clone()),
    }
}

fn json_body(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON of plain values")
}

fn random_id() -> String {
    let mut bytes = [0u8; 16];
    argon2::password_hash::rand_core::RngCore::fill_bytes(
        &mut argon2::password_hash::rand_core::OsRng,
        &mut bytes,
    );
    hex::encode(bytes)
}

/// Record batches of an upload decoded ahead of the thread that checks and stores them.
const UPLOAD_BATCHES_IN_FLIGHT: usize = 4;

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ServerError> + Send + 'static,
) -> Result<T, ServerError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ServerError::Internal(format!("a blocking task failed: {e}")))?
}

impl Service {
    /// A service over a store and its queue.
    pub fn new(
        store: Arc<Store>,
        queue: Arc<Queue>,
        auth: Arc<Authenticator>,
        limits: Limits,
    ) -> Service {
        Service {
            store,
            queue,
            auth,
            uploads: Arc::new(Uploads::default()),
            limits,
        }
    }

    fn user<T>(&self, request: &Request<T>) -> Result<String, ServerError> {
        self.auth.user(request.metadata())
    }

    fn target(descriptor: &FlightDescriptor) -> Result<Target, ServerError> {
        if !descriptor.path.is_empty() {
            let parts: Vec<&str> = descriptor.path.iter().map(String::as_str).collect();
            return parse_path(&parts);
        }
        let cmd = std::str::from_utf8(&descriptor.cmd)
            .map_err(|_| ServerError::BadRequest("the command is not UTF-8 text".into()))?;
        if is_job_id(cmd.trim()) {
            Ok(Target::Job(cmd.trim().to_string()))
        } else {
            Err(ServerError::BadRequest(
                "the command is not a job id (32 hex digits)".into(),
            ))
        }
    }

    fn ticket_target(ticket: &Ticket) -> Result<Target, ServerError> {
        let text = std::str::from_utf8(&ticket.ticket)
            .map_err(|_| ServerError::BadRequest("the ticket is not UTF-8 text".into()))?;
        let parts: Vec<&str> = text.split('/').collect();
        match parse_path(&parts)? {
            Target::Job(_) => Err(ServerError::BadRequest(
                "a ticket names a table: jobs/JOB_ID/TABLE or datasets/NAME/TABLE".into(),
            )),
            t => Ok(t),
        }
    }

    /// A job of the caller (NotFound for other users' jobs: their existence is not told).
    fn own_job(&self, user: &str, id: &str) -> Result<JobRecord, ServerError> {
        match self.store.job(id)? {
            Some(j) if j.owner == user => Ok(j),
            _ => Err(ServerError::NotFound(format!("no job {id}"))),
        }
    }

    /// The Parquet file behind a table target, checked against the caller.
    fn table_file(&self, user: &str, target: &Target) -> Result<std::path::PathBuf, ServerError> {
        match target {
            Target::DatasetTable(name, table) => {
                let stored = self.store.dataset_tables(user, name)?;
                let (_, blob, _) = stored.iter().find(|(k, _, _)| k == table).ok_or_else(|| {
                    ServerError::NotFound(format!("no table {} in dataset {name:?}", table.name()))
                })?;
                Ok(self.store.blob_file(blob).0)
            }
            Target::JobTable(id, table) => {
                let job = self.own_job(user, id)?;
                let tables = self.finished_tables(&job)?;
                if !tables.contains(table) {
                    return Err(ServerError::NotFound(format!(
                        "job {id} has no table {table:?} (its tables: {})",
                        tables.join(", ")
                    )));
                }
                Ok(self.store.result_path(&job.key, table))
            }
            Target::Job(_) => Err(ServerError::BadRequest(
                "a job is not a table: name one of its tables".into(),
            )),
        }
    }

    /// The result tables of a job, or why there are none.
    fn finished_tables(&self, job: &JobRecord) -> Result<Vec<String>, ServerError> {
        match job.state {
            JobState::Done => self.store.result_tables(&job.key)?.ok_or_else(|| {
                ServerError::Internal(format!("job {} is done but its result is missing", job.id))
            }),
            JobState::Failed => Err(job_failure(job)),
            JobState::Cancelled => Err(ServerError::Cancelled),
            JobState::Queued | JobState::Running => Err(ServerError::FailedPrecondition(format!(
                "job {} is {}: poll it until it is done",
                job.id,
                job.state.name()
            ))),
        }
    }

    fn table_flight_info(
        &self,
        target: &Target,
        info: &TableInfo,
    ) -> Result<FlightInfo, ServerError> {
        Ok(FlightInfo::new()
            .try_with_schema(&info.schema)?
            .with_descriptor(descriptor_of(target))
            .with_endpoint(FlightEndpoint::new().with_ticket(ticket_of(target)))
            .with_total_records(info.rows)
            .with_total_bytes(info.bytes))
    }

    /// A job's FlightInfo: one endpoint per result table once done (the endpoint's
    /// `app_metadata` is the table's name).
    fn job_flight_info(&self, job: &JobRecord) -> Result<FlightInfo, ServerError> {
        let mut info = FlightInfo::new().with_descriptor(FlightDescriptor::new_cmd(job.id.clone()));
        if job.state == JobState::Done {
            for table in self.finished_tables(job)? {
                let target = Target::JobTable(job.id.clone(), table.clone());
                info = info.with_endpoint(
                    FlightEndpoint::new()
                        .with_ticket(ticket_of(&target))
                        .with_app_metadata(table),
                );
            }
        }
        Ok(info.with_app_metadata(serde_json::to_vec(&self.status_json(job)?).expect("JSON")))
    }

    fn status_json(&self, job: &JobRecord) -> Result<serde_json::Value, ServerError> {
        // Progress lives in memory while a job is queued or running.
        let progress = match job.state {
            JobState::Done => 1.0,
            _ => self.queue.progress(&job.id).unwrap_or(0.0),
        };
        let tables = if job.state == JobState::Done {
            self.store.result_tables(&job.key)?.unwrap_or_default()
        } else {
            Vec::new()
        };
        let code = job
            .code
            .as_ref()
            .and_then(|c| c.parse::<i32>().ok())
            .map(|c| format!("{:?}", tonic::Code::from(c)));
        Ok(serde_json::json!({
            "id": job.id,
            "state": job.state.name(),
            "progress": progress,
            "error": job.error,
            "code": code,
            "dataset": job.dataset.clone().unwrap_or_else(|| "embedded".into()),
            "tables": tables,
            "result_key": job.key,
            "submitted": job.seq,
            // Every finished job has a report (the `report` action).
            "report": job.state == JobState::Done,
        }))
    }

    /// The `report` action's body: the job and the language (French by default).
    fn report_request(body: &[u8]) -> Result<(String, Lang), ServerError> {
        let v: serde_json::Value = serde_json::from_slice(body).map_err(|e| {
            ServerError::BadRequest(format!(
                "the body is not JSON ({e}): expected {{\"job\": ID, \"lang\": \"fr\"}}"
            ))
        })?;
        let id = v
            .get("job")
            .and_then(serde_json::Value::as_str)
            .filter(|id| is_job_id(id))
            .ok_or_else(|| {
                ServerError::BadRequest("job: the job's id (32 hex digits) is required".into())
            })?;
        let lang = match v.get("lang") {
            None | Some(serde_json::Value::Null) => Lang::Fr,
            Some(serde_json::Value::String(l)) => l.parse()?,
            Some(other) => {
                return Err(ServerError::BadRequest(format!(
                    "lang: \"fr\" or \"en\", not {other}"
                )));
            }
        };
        Ok((id.to_string(), lang))
    }

    /// The HTML report of one of the caller's finished jobs, from its stored result.
    fn report(&self, user: &str, id: &str, lang: Lang) -> Result<Vec<u8>, ServerError> {
        let job = self.own_job(user, id)?;
        self.finished_tables(&job)?;
        let html = crate::report::from_dir(&self.store.result_dir(&job.key), lang)?;
        Ok(html.into_bytes())
    }

    /// Resolves a spec's data and queues it.
    fn submit(&self, user: &str, spec: String) -> Result<JobRecord, ServerError> {
        if spec.len() > self.limits.max_spec_bytes {
            return Err(ServerError::ResourceExhausted(format!(
                "the spec has {} bytes, more than the {} allowed",
                spec.len(),
                self.limits.max_spec_bytes
            )));
        }
        let parsed = jobs::parse_spec(&spec)?;
        let dataset = jobs::dataset_of(&parsed);
        let (blobs, data_hash) = match &dataset {
            None => (None, datasets::embedded_hash()),
            Some(name) => {
                check_name("dataset", name)?;
                // An absent table (visits of census data) is recorded as an empty name.
                let blobs: Vec<String> = datasets::resolve(&self.store, user, name)?
                    .into_iter()
                    .map(Option::unwrap_or_default)
                    .collect();
                let hash = store::data_hash(&blobs);
                (Some(blobs), hash)
            }
        };
        // An apply job reads a finished calibration of the caller's: its result key is
        // part of the apply job's.
        let source = match parsed.kind {
            JobKind::Apply => Some(self.apply_source(user, &parsed)?),
            _ => None,
        };
        let key = store::result_key_with_source(
            dotation_core::RESULTS_VERSION,
            &parsed.canonical_json(),
            &data_hash,
            source.as_ref().map(|s| s.key.as_str()),
        );
        self.queue.submit(JobRecord {
            id: random_id(),
            owner: user.to_string(),
            spec,
            dataset,
            blobs,
            data_hash,
            key,
            state: JobState::Queued,
            error: None,
            code: None,
            attempts: 0,
            seq: 0,
        })
    }

    /// The calibration an apply spec applies (`[apply] source`): one of the caller's jobs
    /// (another user's is `NotFound`), a calibration (`InvalidArgument` otherwise), done
    /// (`FailedPrecondition` otherwise).
    fn apply_source(&self, user: &str, spec: &JobSpec) -> Result<JobRecord, ServerError> {
        let id = spec
            .apply
            .as_ref()
            .and_then(|a| a.source.as_deref())
            .map(str::trim)
            .ok_or_else(|| {
                ServerError::BadRequest(
                    "apply.source: on the server, an apply job names the calibration it applies by its job id (source = \"JOB_ID\", one of your finished calibration jobs)".into(),
                )
            })?;
        if !is_job_id(id) {
            return Err(ServerError::BadRequest(format!(
                "apply.source: {id:?} is not a job id (32 hex digits)"
            )));
        }
        let job = self.own_job(user, id)?;
        let kind = jobs::parse_spec(&job.spec).ok().map(|s| s.kind);
        if kind != Some(JobKind::Calibrate) {
            let kind = kind
                .and_then(|k| serde_json::to_value(k).ok())
                .and_then(|k| k.as_str().map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            return Err(ServerError::BadRequest(format!(
                "apply.source: job {id} is a {kind} job, not a calibration: apply takes the id of a calibration job (kind = \"calibrate\")"
            )));
        }
        match job.state {
            JobState::Done => Ok(job),
            JobState::Queued | JobState::Running => Err(ServerError::FailedPrecondition(format!(
                "apply.source: job {id} is {}: submit the apply job once it is done",
                job.state.name()
            ))),
            JobState::Failed | JobState::Cancelled => {
                Err(ServerError::FailedPrecondition(format!(
                    "apply.source: job {id} is {}: it has no calibration to apply",
                    job.state.name()
                )))
            }
        }
    }

    fn cancel(&self, user: &str, id: &str) -> Result<CancelOutcome, ServerError> {
        self.own_job(user, id)?;
        self.queue.cancel(id)
    }

    /// How many jobs the `jobs` action lists: a bounded answer whatever the history.
    fn jobs_limit(body: &[u8]) -> Result<usize, ServerError> {
        const DEFAULT: usize = 100;
        const MAX: usize = 10_000;
        let text = std::str::from_utf8(body)
            .map_err(|_| ServerError::BadRequest("the body is not UTF-8 text".into()))?
            .trim();
        if text.is_empty() {
            return Ok(DEFAULT);
        }
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ServerError::BadRequest(format!("the body is not JSON: {e}")))?;
        match v.get("limit").map(serde_json::Value::as_u64) {
            None => Ok(DEFAULT),
            Some(Some(n)) if (1..=MAX as u64).contains(&n) => Ok(n as usize),
            Some(_) => Err(ServerError::BadRequest(format!(
                "limit: a number of jobs from 1 to {MAX}"
            ))),
        }
    }

    fn body_job_id(body: &[u8]) -> Result<String, ServerError> {
        let text = std::str::from_utf8(body)
            .map_err(|_| ServerError::BadRequest("the body is not UTF-8 text".into()))?
            .trim();
        let id = if text.starts_with('{') {
            let v: serde_json::Value = serde_json::from_str(text)
                .map_err(|e| ServerError::BadRequest(format!("the body is not JSON: {e}")))?;
            v.get("id")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string()
        } else {
            text.to_string()
        };
        if is_job_id(&id) {
            Ok(id)
        } else {
            Err(ServerError::BadRequest(
                "the body must be a job id (32 hex digits)".into(),
            ))
        }
    }

    fn datasets_json(&self, user: &str) -> Result<serde_json::Value, ServerError> {
        let mut by_name: std::collections::BTreeMap<
            String,
            serde_json::Map<String, serde_json::Value>,
        > = Default::default();
        for (name, table, _, rows) in self.store.datasets(user)? {
            by_name.entry(name).or_default().insert(table, rows.into());
        }
        Ok(serde_json::Value::Array(
            by_name
                .into_iter()
                .map(|(name, tables)| {
                    // Visits are optional (census data).
                    let complete = datasets::FRAME_TABLES
                        .iter()
                        .all(|t| tables.contains_key(t.name()));
                    serde_json::json!({"name": name, "tables": tables, "complete": complete})
                })
                .collect(),
        ))
    }

    async fn handshake_impl(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<RpcStream<HandshakeResponse>>, ServerError> {
        let (user, password) = match authorization(request.metadata())? {
            Some(Credentials::Basic(u, p)) => (u, p),
            Some(Credentials::Bearer(token)) => {
                // A valid token is echoed back: clients may handshake with a static token.
                self.auth.bearer(&token)?;
                return Ok(handshake_response(token));
            }
            None => {
                let mut stream = request.into_inner();
                let first = stream
                    .message()
                    .await
                    .map_err(|s| ServerError::BadRequest(s.message().to_string()))?
                    .ok_or_else(|| {
                        ServerError::Unauthenticated(
                            "Handshake needs credentials: an `authorization: Basic …` header or a BasicAuth payload".into(),
                        )
                    })?;
                let basic = BasicAuth::decode(first.payload).map_err(|_| {
                    ServerError::Unauthenticated(
                        "the Handshake payload is not a BasicAuth message".into(),
                    )
                })?;
                (basic.username, basic.password)
            }
        };
        let auth = Arc::clone(&self.auth);
        let token = blocking(move || auth.login(&user, &password)).await?;
        Ok(handshake_response(token))
    }

    async fn do_put_impl(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Result<Response<RpcStream<PutResult>>, ServerError> {
        let user = self.user(&request)?;
        let mut stream = request.into_inner();
        let first = stream
            .message()
            .await
            .map_err(|s| ServerError::BadRequest(s.message().to_string()))?
            .ok_or_else(|| ServerError::BadRequest("empty DoPut".into()))?;
        let descriptor = first.flight_descriptor.clone().ok_or_else(|| {
            ServerError::BadRequest("DoPut needs a descriptor: [\"datasets\", NAME, TABLE]".into())
        })?;
        let Target::DatasetTable(dataset, table) = Self::target(&descriptor)? else {
            return Err(ServerError::BadRequest(
                "DoPut stores a dataset table: [\"datasets\", NAME, TABLE]".into(),
            ));
        };
        let limit = self.limits.max_upload_bytes;
        let mut received: u64 = 0;
        let counted = stream::once(async move { Ok(first) })
            .chain(stream)
            .map(move |m| {
                let m = m?;
                received += (m.data_header.len() + m.data_body.len()) as u64;
                if received > limit {
                    return Err(Status::resource_exhausted(format!(
                        "the upload exceeds {limit} bytes (limits.max_upload_bytes)"
                    )));
                }
                Ok(m)
            })
            .map_err(|s| FlightError::Tonic(Box::new(s)));
        let mut decoder = FlightRecordBatchStream::new_from_flight_data(counted);
        // Batches go to a blocking thread as they are decoded (a few in flight): it checks
        // and stores them, so an upload is never held whole in memory.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<RecordBatch, ServerError>>(
            UPLOAD_BATCHES_IN_FLIGHT,
        );
        let (store, uploads) = (Arc::clone(&self.store), Arc::clone(&self.uploads));
        let consumer = blocking(move || {
            let mut batches = std::iter::from_fn(|| rx.blocking_recv());
            uploads.put(&store, &user, &dataset, table, &mut batches)
        });
        let producer = async move {
            loop {
                match decoder.try_next().await {
                    Ok(Some(b)) => {
                        if tx.send(Ok(b)).await.is_err() {
                            // The consumer stopped (it failed): its error is the answer.
                            break;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let _ = tx.send(Err(upload_error(e))).await;
                        break;
                    }
                }
            }
        };
        let ((), summary) = tokio::join!(producer, consumer);
        let summary = summary?;
        let body = serde_json::to_vec(&summary).expect("JSON of plain values");
        Ok(Response::new(
            stream::iter([Ok(PutResult {
                app_metadata: body.into(),
            })])
            .boxed(),
        ))
    }

    async fn do_get_impl(
        &self,
        request: Request<Ticket>,
    ) -> Result<Response<RpcStream<FlightData>>, ServerError> {
        let user = self.user(&request)?;
        let target = Self::ticket_target(request.get_ref())?;
        let this = self.clone();
        let (schema, reader) = blocking(move || {
            let path = this.table_file(&user, &target)?;
            let schema = store::table_info(&path)?.schema;
            let format = io::Format::of_path(&path).unwrap_or(io::Format::Parquet);
            Ok((schema, io::open_batches(&path, format)?))
        })
        .await?;
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        // Reading (Parquet decoding, IPC copies) is blocking work: a blocking thread feeds
        // the stream, a few batches ahead of the network.
        tokio::task::spawn_blocking(move || {
            for batch in reader {
                let item = batch.map_err(|e| FlightError::ExternalError(Box::new(e)));
                if tx.blocking_send(item).is_err() {
                    break;
                }
            }
        });
        let batches = tokio_stream::wrappers::ReceiverStream::new(rx);
        let encoded = FlightDataEncoderBuilder::new()
            .with_schema(schema)
            .with_max_flight_data_size(self.limits.max_flight_data_bytes)
            .build(batches)
            .map_err(Status::from);
        Ok(Response::new(encoded.boxed()))
    }

    async fn do_action_impl(
        &self,
        request: Request<Action>,
    ) -> Result<Response<RpcStream<arrow_flight::Result>>, ServerError> {
        let user = self.user(&request)?;
        let action = request.into_inner();
        let kind = ActionKind::from_name(&action.r#type)?;
        let this = self.clone();
        let body = blocking(move || this.action(kind, &user, &action.body)).await?;
        Ok(Response::new(
            stream::iter([Ok(arrow_flight::Result::new(body))]).boxed(),
        ))
    }

    /// Runs an action (a blocking call): the body of its one result.
    fn action(&self, kind: ActionKind, user: &str, body: &[u8]) -> Result<Vec<u8>, ServerError> {
        faults::point(self.store.dir(), faults::Point::Action)?;
        Ok(match kind {
            ActionKind::Submit => {
                let spec = String::from_utf8(body.to_vec())
                    .map_err(|_| ServerError::BadRequest("the spec is not UTF-8 text".into()))?;
                let job = self.submit(user, spec)?;
                json_body(&self.status_json(&job)?)
            }
            ActionKind::Status => {
                let id = Self::body_job_id(body)?;
                json_body(&self.status_json(&self.own_job(user, &id)?)?)
            }
            ActionKind::Cancel => {
                let id = Self::body_job_id(body)?;
                self.cancel(user, &id)?;
                json_body(&self.status_json(&self.own_job(user, &id)?)?)
            }
            ActionKind::Jobs => {
                let jobs = self.store.recent_jobs_of(user, Self::jobs_limit(body)?)?;
                let list = jobs
                    .iter()
                    .map(|j| self.status_json(j))
                    .collect::<Result<Vec<_>, _>>()?;
                json_body(&serde_json::Value::Array(list))
            }
            ActionKind::Datasets => json_body(&self.datasets_json(user)?),
            ActionKind::Report => {
                let (id, lang) = Self::report_request(body)?;
                self.report(user, &id, lang)?
            }
            ActionKind::CancelFlightInfo => {
                let req = CancelFlightInfoRequest::decode(body).map_err(|e| {
                    ServerError::BadRequest(format!("not a CancelFlightInfoRequest: {e}"))
                })?;
                let descriptor = req.info.and_then(|i| i.flight_descriptor).ok_or_else(|| {
                    ServerError::BadRequest("the FlightInfo has no descriptor".into())
                })?;
                let Target::Job(id) = Self::target(&descriptor)? else {
                    return Err(ServerError::BadRequest("only jobs can be cancelled".into()));
                };
                let status = match self.cancel(user, &id)? {
                    CancelOutcome::Cancelled => CancelStatus::Cancelled,
                    CancelOutcome::AlreadyFinal(_) => CancelStatus::NotCancellable,
                };
                CancelFlightInfoResult::new(status).encode_to_vec()
            }
        })
    }

    fn list_flights_impl(
        &self,
        user: &str,
        criteria: &str,
    ) -> Result<Vec<FlightInfo>, ServerError> {
        let mut infos = Vec::new();
        if criteria.is_empty() || criteria == "datasets" {
            for (name, table, blob, _) in self.store.datasets(user)? {
                let target = Target::DatasetTable(name, table_kind(&table)?);
                let info = store::table_info(&self.store.blob_file(&blob).0)?;
                infos.push(self.table_flight_info(&target, &info)?);
            }
        }
        if criteria.is_empty() || criteria == "jobs" {
            for job in self.store.jobs_of(user)? {
                if job.state != JobState::Done {
                    continue;
                }
                for table in self.finished_tables(&job)? {
                    let info = store::table_info(&self.store.result_path(&job.key, &table))?;
                    let target = Target::JobTable(job.id.clone(), table);
                    infos.push(self.table_flight_info(&target, &info)?);
                }
            }
        }
        Ok(infos)
    }

    fn flight_info_impl(
        &self,
        user: &str,
        descriptor: &FlightDescriptor,
    ) -> Result<FlightInfo, ServerError> {
        match Self::target(descriptor)? {
            Target::Job(id) => {
                let job = self.own_job(user, &id)?;
                self.finished_tables(&job)?;
                self.job_flight_info(&job)
            }
            target => {
                let info = store::table_info(&self.table_file(user, &target)?)?;
                self.table_flight_info(&target, &info)
            }
        }
    }

    fn poll_impl(
        &self,
        user: &str,
        descriptor: &FlightDescriptor,
    ) -> Result<PollInfo, ServerError> {
        let job = match Self::target(descriptor) {
            Ok(Target::Job(id)) => self.own_job(user, &id)?,
            Ok(_) => {
                return Err(ServerError::BadRequest(
                    "PollFlightInfo takes a job (command: the job id) or a job spec".into(),
                ));
            }
            // A command that is not a job id is a spec: submit it.
            Err(_) if descriptor.path.is_empty() => {
                let spec = String::from_utf8(descriptor.cmd.to_vec())
                    .map_err(|_| ServerError::BadRequest("the spec is not UTF-8 text".into()))?;
                self.submit(user, spec)?
            }
            Err(e) => return Err(e),
        };
        match job.state {
            JobState::Failed => Err(job_failure(&job)),
            JobState::Cancelled => Err(ServerError::Cancelled),
            JobState::Done => Ok(PollInfo::new()
                .with_info(self.job_flight_info(&job)?)
                .try_with_progress(1.0)?),
            JobState::Queued | JobState::Running => Ok(PollInfo::new()
                .with_info(self.job_flight_info(&job)?)
                .with_descriptor(FlightDescriptor::new_cmd(job.id.clone()))
                .try_with_progress(self.queue.progress(&job.id).unwrap_or(0.0).min(0.999))?),
        }
    }
}

/// The error a failed job reports, with the status code it failed with.
fn job_failure(job: &JobRecord) -> ServerError {
    let message = format!(
        "job {} failed: {}",
        job.id,
        job.error.as_deref().unwrap_or("no message")
    );
    let code = job
        .code
        .as_ref()
        .and_then(|c| c.parse::<i32>().ok())
        .map(tonic::Code::from)
        .unwrap_or(tonic::Code::Internal);
    match code {
        tonic::Code::InvalidArgument => ServerError::BadRequest(message),
        tonic::Code::FailedPrecondition | tonic::Code::Aborted => {
            ServerError::FailedPrecondition(message)
        }
        tonic::Code::NotFound => ServerError::NotFound(message),
        tonic::Code::ResourceExhausted => ServerError::ResourceExhausted(message),
        _ => ServerError::Internal(message),
    }
}

fn upload_error(e: FlightError) -> ServerError {
    match e {
        FlightError::Tonic(s) if s.code() == tonic::Code::ResourceExhausted => {
            ServerError::ResourceExhausted(s.message().to_string())
        }
        FlightError::Tonic(s) => {
            ServerError::BadRequest(format!("reading the upload: {}", s.message()))
        }
        other => ServerError::BadRequest(format!("the upload is not an Arrow stream: {other}")),
    }
}

fn handshake_response(token: String) -> Response<RpcStream<HandshakeResponse>> {
    let header = format!("Bearer {token}");
    let mut response = Response::new(
        stream::iter([Ok(HandshakeResponse {
            protocol_version: 0,
            payload: token.into(),
        })])
        .boxed(),
    );
    if let Ok(value) = header.parse() {
        response.metadata_mut().insert("authorization", value);
    }
    response
}

fn schema_result(schema: &Schema) -> Result<SchemaResult, ServerError> {
    let options = IpcWriteOptions::default();
    Ok(SchemaAsIpc::new(schema, &options).try_into()?)
}

type Rpc<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl FlightService for Service {
    type HandshakeStream = RpcStream<HandshakeResponse>;
    type ListFlightsStream = RpcStream<FlightInfo>;
    type DoGetStream = RpcStream<FlightData>;
    type DoPutStream = RpcStream<PutResult>;
    type DoExchangeStream = RpcStream<FlightData>;
    type DoActionStream = RpcStream<arrow_flight::Result>;
    type ListActionsStream = RpcStream<ActionType>;

    async fn handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Rpc<Self::HandshakeStream> {
        Ok(self.handshake_impl(request).await?)
    }

    async fn list_flights(&self, request: Request<Criteria>) -> Rpc<Self::ListFlightsStream> {
        let user = self.user(&request)?;
        let criteria = String::from_utf8_lossy(&request.get_ref().expression).to_string();
        let this = self.clone();
        let infos = blocking(move || this.list_flights_impl(&user, criteria.trim())).await?;
        Ok(Response::new(
            stream::iter(infos.into_iter().map(Ok)).boxed(),
        ))
    }

    async fn get_flight_info(&self, request: Request<FlightDescriptor>) -> Rpc<FlightInfo> {
        let user = self.user(&request)?;
        let (this, descriptor) = (self.clone(), request.into_inner());
        let info = blocking(move || this.flight_info_impl(&user, &descriptor)).await?;
        Ok(Response::new(info))
    }

    async fn poll_flight_info(&self, request: Request<FlightDescriptor>) -> Rpc<PollInfo> {
        let user = self.user(&request)?;
        let (this, descriptor) = (self.clone(), request.into_inner());
        let info = blocking(move || this.poll_impl(&user, &descriptor)).await?;
        Ok(Response::new(info))
    }

    async fn get_schema(&self, request: Request<FlightDescriptor>) -> Rpc<SchemaResult> {
        let user = self.user(&request)?;
        let target = Self::target(request.get_ref())?;
        let this = self.clone();
        let info = blocking(move || store::table_info(&this.table_file(&user, &target)?)).await?;
        Ok(Response::new(schema_result(&info.schema)?))
    }

    async fn do_get(&self, request: Request<Ticket>) -> Rpc<Self::DoGetStream> {
        Ok(self.do_get_impl(request).await?)
    }

    async fn do_put(&self, request: Request<Streaming<FlightData>>) -> Rpc<Self::DoPutStream> {
        Ok(self.do_put_impl(request).await?)
    }

    async fn do_exchange(
        &self,
        request: Request<Streaming<FlightData>>,
    ) -> Rpc<Self::DoExchangeStream> {
        self.user(&request)?;
        Err(Status::unimplemented(
            "DoExchange is not offered: upload with DoPut, fetch with DoGet",
        ))
    }

    async fn do_action(&self, request: Request<Action>) -> Rpc<Self::DoActionStream> {
        Ok(self.do_action_impl(request).await?)
    }

    async fn list_actions(&self, request: Request<Empty>) -> Rpc<Self::ListActionsStream> {
        self.user(&request)?;
        let actions = ActionKind::ALL.into_iter().map(|a| {
            Ok(ActionType {
                r#type: a.name().to_string(),
                description: a.description().to_string(),
            })
        });
        Ok(Response::new(stream::iter(actions).boxed()))
    }
}
