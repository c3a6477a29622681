//! The server's data directory: uploaded tables, results and the job catalogue, so that a
//! restart loses nothing.
//!
//! ```text
//! DATA_DIR/catalogue.sqlite      datasets' tables, jobs, results (SQLite, WAL)
//! DATA_DIR/blobs/HASH.arrow      one uploaded table (Arrow IPC file), named by the hash
//!                                of its bytes (`.parquet` blobs of earlier versions are
//!                                still read)
//! DATA_DIR/results/KEY/          one result: TABLE.parquet…, summary.json
//! ```
//!
//! Uploaded tables are immutable blobs: a dataset maps each of its tables (the four of the
//! contract and its `margins`) to a blob, and a job records the blobs it was submitted
//! with, so re-uploading a table never changes the data of a job already submitted.
//! Results are content-addressed: `KEY` is the SHA-256 of the spec text and of the data's
//! hash (and, for an apply job, of its source calibration's key), so the same spec on the
//! same data is computed once. A result directory is written under a temporary name and
//! renamed into place whole. The file `lock` is held locked while a server uses the
//! directory.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use dotation_core::schema::TableKind;
use parking_lot::{Mutex, MutexGuard};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::error::ServerError;
use crate::io::{self, Format, Output, TableFile};
use crate::jobs::JobOutput;

/// Where a job is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for a worker.
    Queued,
    /// Being computed.
    Running,
    /// Finished: its result tables can be fetched.
    Done,
    /// Stopped by an error (the message says which).
    Failed,
    /// Stopped by its owner.
    Cancelled,
}

impl JobState {
    /// The name used in the catalogue and in status messages.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    fn parse(s: &str) -> JobState {
        match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "cancelled" => JobState::Cancelled,
            _ => JobState::Failed,
        }
    }

    /// Whether the job will not change any more.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

/// One job, as the catalogue holds it.
#[derive(Clone, Debug)]
pub struct JobRecord {
    /// Random identifier (32 hex digits).
    pub id: String,
    /// The user who submitted it.
    pub owner: String,
    /// The spec text, as submitted.
    pub spec: String,
    /// The dataset named by the spec (`None`: the embedded survey).
    pub dataset: Option<String>,
    /// The blobs of the dataset's tables at submission: the four of
    /// [`TableKind::ALL`] in table order, then the margins (an empty name for a table the
    /// dataset does not have: visits of census data, margins). Jobs recorded before
    /// margins existed have four.
    pub blobs: Option<Vec<String>>,
    /// Hash of the data.
    pub data_hash: String,
    /// Result key: SHA-256 of the spec text and the data hash ([`result_key`]; an apply
    /// job's with its source's key, [`result_key_with_source`]).
    pub key: String,
    /// Where it is.
    pub state: JobState,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// The gRPC status code name of the failure (`InvalidArgument`, …).
    pub code: Option<String>,
    /// How many times a server stop interrupted it.
    pub attempts: u32,
    /// Submission order.
    pub seq: i64,
}

/// A stored table: its schema and row count, read from the file's footer.
#[derive(Clone, Debug)]
pub struct TableInfo {
    /// The Arrow schema, exactly as streamed by `DoGet`.
    pub schema: SchemaRef,
    /// Rows.
    pub rows: i64,
    /// Bytes of the file.
    pub bytes: i64,
}

/// The data directory and its catalogue.
#[derive(Debug)]
pub struct Store {
    dir: PathBuf,
    db: Mutex<Connection>,
    /// Held locked while the store is open: one server per data directory.
    _lock: std::fs::File,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS dataset_tables (
    owner TEXT NOT NULL, dataset TEXT NOT NULL, tbl TEXT NOT NULL,
    blob TEXT NOT NULL, rows INTEGER NOT NULL,
    PRIMARY KEY (owner, dataset, tbl));
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE, owner TEXT NOT NULL, spec TEXT NOT NULL,
    dataset TEXT, blobs TEXT, data_hash TEXT NOT NULL, key TEXT NOT NULL,
    state TEXT NOT NULL, error TEXT, code TEXT, attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner);
CREATE TABLE IF NOT EXISTS results (
    key TEXT PRIMARY KEY, tables TEXT NOT NULL);
";

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> ServerError + '_ {
    move |e| ServerError::Io {
        path: path.to_path_buf(),
        source: e,
    }
}

impl Store {
    /// Opens (or creates) a data directory.
    pub fn open(dir: &Path) -> Result<Store, ServerError> {
        for sub in ["blobs", "results", "tmp"] {
            let p = dir.join(sub);
            std::fs::create_dir_all(&p).map_err(io_err(&p))?;
        }
        let lock_path = dir.join("lock");
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err(&lock_path))?;
        lock.try_lock().map_err(|_| {
            ServerError::Config(format!(
                "{}: the data directory is in use by another server",
                dir.display()
            ))
        })?;
        // Leftovers of an interrupted upload or result are never referenced: remove them.
        let tmp = dir.join("tmp");
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            for e in entries.flatten() {
                let p = e.path();
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
            }
        }
        let db = Connection::open(dir.join("catalogue.sqlite"))?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "NORMAL")?;
        db.execute_batch(SCHEMA)?;
        Ok(Store {
            dir: dir.to_path_buf(),
            db: Mutex::new(db),
            _lock: lock,
        })
    }

    fn db(&self) -> MutexGuard<'_, Connection> {
        self.db.lock()
    }

    /// A fresh temporary path inside the data directory (same file system as the
    /// final places, so renames are atomic).
    pub fn temp_path(&self, what: &str) -> PathBuf {
        let mut bytes = [0u8; 8];
        argon2::password_hash::rand_core::RngCore::fill_bytes(
            &mut argon2::password_hash::rand_core::OsRng,
            &mut bytes,
        );
        self.dir
            .join("tmp")
            .join(format!("{what}-{}", hex::encode(bytes)))
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of a blob and its format. Blobs are Arrow IPC files: an upload arrives as
    /// Arrow, so storing it costs a copy, and reading it back no decoding. Data
    /// directories written by earlier versions hold Parquet blobs, read as they are.
    pub fn blob_file(&self, blob: &str) -> (PathBuf, Format) {
        let dir = self.dir.join("blobs");
        let ipc = dir.join(format!("{blob}.{BLOB_EXTENSION}"));
        if !ipc.exists() {
            let parquet = dir.join(format!("{blob}.parquet"));
            if parquet.exists() {
                return (parquet, Format::Parquet);
            }
        }
        (ipc, Format::Ipc)
    }

    /// A stored blob as a table file of a job's data, named `label` in messages.
    pub fn blob_table(&self, blob: &str, table: TableKind, label: String) -> TableFile {
        let (path, format) = self.blob_file(blob);
        TableFile {
            table,
            path,
            format,
            label,
        }
    }

    /// Writes batches as a new blob; returns its name (the SHA-256 of its bytes).
    pub fn write_blob(
        &self,
        schema: SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<String, ServerError> {
        let mut w = self.blob_writer(schema)?;
        for b in batches {
            w.write(b)?;
        }
        w.finish()
    }

    /// A new blob written batch by batch (an upload streamed to disk, hashed as it is
    /// written); dropped without [`BlobWriter::finish`], it leaves nothing behind.
    pub fn blob_writer(&self, schema: SchemaRef) -> Result<BlobWriter<'_>, ServerError> {
        let tmp = self.temp_path("upload");
        let file = std::fs::File::create(&tmp).map_err(io_err(&tmp))?;
        let sink = HashingWriter {
            // Small: the IPC writer's headers and padding are gathered, a column's buffer
            // (larger) goes straight to the file, never copied into this one.
            inner: std::io::BufWriter::with_capacity(BLOB_WRITE_BUFFER, file),
            hash: blake3::Hasher::new(),
        };
        let writer = arrow::ipc::writer::FileWriter::try_new(sink, &schema).map_err(|e| {
            ServerError::Write {
                path: tmp.clone(),
                message: e.to_string(),
            }
        })?;
        Ok(BlobWriter {
            store: self,
            tmp,
            rows: 0,
            writer: Some(writer),
        })
    }

    /// Reads a blob's batches.
    pub fn read_blob(&self, blob: &str) -> Result<Vec<RecordBatch>, ServerError> {
        let (path, format) = self.blob_file(blob);
        io::open_batches(&path, format)?.collect()
    }

    /// The stored tables of a dataset: table, blob, rows; in table order, the margins
    /// last.
    pub fn dataset_tables(
        &self,
        owner: &str,
        dataset: &str,
    ) -> Result<Vec<(TableKind, String, i64)>, ServerError> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT tbl, blob, rows FROM dataset_tables WHERE owner = ?1 AND dataset = ?2",
        )?;
        let rows = st.query_map(params![owner, dataset], |r| {
            Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (t, blob, n) = row?;
            if let Some(kind) = TableKind::from_name(&t).filter(|k| JOB_TABLES.contains(k)) {
                out.push((kind, blob, n));
            }
        }
        out.sort_by_key(|(k, _, _)| JOB_TABLES.iter().position(|x| x == k));
        Ok(out)
    }

    /// Every stored table of a user's datasets: dataset, table, blob, rows.
    pub fn datasets(&self, owner: &str) -> Result<Vec<(String, String, String, i64)>, ServerError> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT dataset, tbl, blob, rows FROM dataset_tables WHERE owner = ?1 ORDER BY dataset, tbl",
        )?;
        let rows = st.query_map(params![owner], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Records a dataset's table.
    pub fn put_table(
        &self,
        owner: &str,
        dataset: &str,
        table: TableKind,
        blob: &str,
        rows: i64,
    ) -> Result<(), ServerError> {
        self.db().execute(
            "INSERT INTO dataset_tables (owner, dataset, tbl, blob, rows) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (owner, dataset, tbl) DO UPDATE SET blob = excluded.blob, rows = excluded.rows",
            params![owner, dataset, table.name(), blob, rows],
        )?;
        Ok(())
    }

    /// Adds a job; returns its submission order.
    pub fn insert_job(&self, j: &JobRecord) -> Result<i64, ServerError> {
        let db = self.db();
        db.execute(
            "INSERT INTO jobs (id, owner, spec, dataset, blobs, data_hash, key, state, error, code, attempts)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                j.id,
                j.owner,
                j.spec,
                j.dataset,
                j.blobs.as_ref().map(|b| b.join(",")),
                j.data_hash,
                j.key,
                j.state.name(),
                j.error,
                j.code,
                j.attempts
            ],
        )?;
        Ok(db.last_insert_rowid())
    }

    fn job_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<JobRecord> {
        let blobs: Option<String> = r.get("blobs")?;
        let state: String = r.get("state")?;
        Ok(JobRecord {
            id: r.get("id")?,
            owner: r.get("owner")?,
            spec: r.get("spec")?,
            dataset: r.get("dataset")?,
            blobs: blobs.map(|b| b.split(',').map(str::to_string).collect()),
            data_hash: r.get("data_hash")?,
            key: r.get("key")?,
            state: JobState::parse(&state),
            error: r.get("error")?,
            code: r.get("code")?,
            attempts: r.get("attempts")?,
            seq: r.get("seq")?,
        })
    }

    /// One job.
    pub fn job(&self, id: &str) -> Result<Option<JobRecord>, ServerError> {
        let db = self.db();
        let mut st = db.prepare_cached("SELECT * FROM jobs WHERE id = ?1")?;
        Ok(st.query_row(params![id], Self::job_from_row).optional()?)
    }

    /// A user's jobs, in submission order.
    pub fn jobs_of(&self, owner: &str) -> Result<Vec<JobRecord>, ServerError> {
        let db = self.db();
        let mut st = db.prepare_cached("SELECT * FROM jobs WHERE owner = ?1 ORDER BY seq")?;
        let rows = st.query_map(params![owner], Self::job_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// A user's `limit` most recent jobs, in submission order.
    pub fn recent_jobs_of(&self, owner: &str, limit: usize) -> Result<Vec<JobRecord>, ServerError> {
        let db = self.db();
        let mut st = db.prepare_cached(
            "SELECT * FROM (SELECT * FROM jobs WHERE owner = ?1 ORDER BY seq DESC LIMIT ?2) ORDER BY seq",
        )?;
        let rows = st.query_map(params![owner, limit as i64], Self::job_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Jobs in a state, in submission order.
    pub fn jobs_in(&self, state: JobState) -> Result<Vec<JobRecord>, ServerError> {
        let db = self.db();
        let mut st = db.prepare_cached("SELECT * FROM jobs WHERE state = ?1 ORDER BY seq")?;
        let rows = st.query_map(params![state.name()], Self::job_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Moves a job to a state.
    pub fn set_state(
        &self,
        id: &str,
        state: JobState,
        error: Option<&str>,
        code: Option<&str>,
    ) -> Result<(), ServerError> {
        self.db().execute(
            "UPDATE jobs SET state = ?2, error = ?3, code = ?4 WHERE id = ?1",
            params![id, state.name(), error, code],
        )?;
        Ok(())
    }

    /// Moves a job to a state only if it is in `from`; returns whether it moved.
    pub fn transition(&self, id: &str, from: JobState, to: JobState) -> Result<bool, ServerError> {
        let n = self.db().execute(
            "UPDATE jobs SET state = ?3 WHERE id = ?1 AND state = ?2",
            params![id, from.name(), to.name()],
        )?;
        Ok(n == 1)
    }

    /// Counts one more interruption of a job; returns the new count.
    pub fn add_attempt(&self, id: &str) -> Result<u32, ServerError> {
        let db = self.db();
        db.execute(
            "UPDATE jobs SET attempts = attempts + 1 WHERE id = ?1",
            params![id],
        )?;
        Ok(db.query_row(
            "SELECT attempts FROM jobs WHERE id = ?1",
            params![id],
            |r| r.get(0),
        )?)
    }

    /// The tables of a stored result, in order, if it exists.
    pub fn result_tables(&self, key: &str) -> Result<Option<Vec<String>>, ServerError> {
        let db = self.db();
        let mut st = db.prepare_cached("SELECT tables FROM results WHERE key = ?1")?;
        let t: Option<String> = st.query_row(params![key], |r| r.get(0)).optional()?;
        Ok(t.map(|t| t.split(',').map(str::to_string).collect()))
    }

    /// The folder of a stored result: its tables as Parquet and `summary.json`, as the
    /// command line writes them.
    pub fn result_dir(&self, key: &str) -> PathBuf {
        self.dir.join("results").join(key)
    }

    /// The file of a result table.
    pub fn result_path(&self, key: &str, table: &str) -> PathBuf {
        self.result_dir(key).join(format!("{table}.parquet"))
    }

    /// Stores a job's output under its key: every table as Parquet, `summary.json`, and
    /// the summary as a one-row table `summary` (column `summary`: the JSON text).
    pub fn commit_result(&self, key: &str, output: &JobOutput) -> Result<Vec<String>, ServerError> {
        let mut names: Vec<String> = output.tables.iter().map(|(n, _)| n.clone()).collect();
        names.push("summary".to_string());
        let final_dir = self.dir.join("results").join(key);
        if !final_dir.exists() {
            let tmp = self.temp_path("result");
            let written = (|| {
                let mut out = Output::new(&tmp)?;
                for (i, (name, table)) in output.tables.iter().enumerate() {
                    out.parquet(&format!("{name}.parquet"), table)?;
                    if i == 0 {
                        crate::faults::point(&self.dir, crate::faults::Point::CommitResult)?;
                    }
                }
                let json =
                    serde_json::to_string_pretty(&output.summary).expect("JSON of plain values");
                out.parquet("summary.parquet", &summary_table(&json)?)?;
                out.text("summary.json", &json)?;
                out.commit()
            })();
            if let Err(e) = written {
                // Nothing half-written stays: the result is absent, as if never started.
                let _ = std::fs::remove_dir_all(&tmp);
                return Err(e);
            }
            if let Err(e) = std::fs::rename(&tmp, &final_dir) {
                // Another job with the same key got there first: its result is the same.
                let _ = std::fs::remove_dir_all(&tmp);
                if !final_dir.exists() {
                    return Err(io_err(&final_dir)(e));
                }
            }
        }
        self.db().execute(
            "INSERT OR IGNORE INTO results (key, tables) VALUES (?1, ?2)",
            params![key, names.join(",")],
        )?;
        Ok(names)
    }
}

/// The one-row `summary` table: the JSON text in a column `summary`.
pub fn summary_table(json: &str) -> Result<RecordBatch, ServerError> {
    crate::results::batch(vec![(
        "summary",
        std::sync::Arc::new(arrow::array::StringArray::from(vec![json])),
    )])
}

/// Schema, rows and size of a stored table: a Parquet file (results, older blobs) or an
/// IPC blob (rows from its footer's metadata, else counted).
pub fn table_info(path: &Path) -> Result<TableInfo, ServerError> {
    io::guarded(path, || table_info_unguarded(path))
}

fn table_info_unguarded(path: &Path) -> Result<TableInfo, ServerError> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let bytes = file.metadata().map_err(io_err(path))?.len() as i64;
    let read = |message: String| ServerError::Read {
        path: path.to_path_buf(),
        message,
    };
    if Format::of_path(path) == Some(Format::Ipc) {
        let reader = arrow::ipc::reader::FileReader::try_new(std::io::BufReader::new(file), None)
            .map_err(|e| read(e.to_string()))?;
        let schema = reader.schema();
        let rows = match reader.custom_metadata().get(ROWS_METADATA_KEY) {
            Some(n) => n
                .parse()
                .map_err(|_| read(format!("{ROWS_METADATA_KEY} = {n:?} is not a row count")))?,
            None => {
                let mut n = 0i64;
                for b in reader {
                    n += b.map_err(|e| read(e.to_string()))?.num_rows() as i64;
                }
                n
            }
        };
        return Ok(TableInfo {
            schema,
            rows,
            bytes,
        });
    }
    let b = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read(e.to_string()))?;
    Ok(TableInfo {
        schema: b.schema().clone(),
        rows: b.metadata().file_metadata().num_rows(),
        bytes,
    })
}

/// The tables of a job's recorded blobs, in their order: the four of [`TableKind::ALL`],
/// then the margins.
pub const JOB_TABLES: [TableKind; 5] = [
    TableKind::Departements,
    TableKind::Services,
    TableKind::Users,
    TableKind::Visits,
    TableKind::Margins,
];

/// The hash identifying a dataset made of these blobs (in [`JOB_TABLES`] order). Absent
/// margins (an empty name, or a record of four blobs) add nothing: a dataset without
/// margins keeps the hash it had before margins existed, and a dataset with margins has
/// another.
pub fn data_hash(blobs: &[String]) -> String {
    let mut h = Sha256::new();
    for (t, b) in JOB_TABLES.iter().zip(blobs) {
        if *t == TableKind::Margins && b.is_empty() {
            continue;
        }
        h.update(t.name().as_bytes());
        h.update(b":");
        h.update(b.as_bytes());
        h.update(b"\n");
    }
    hex::encode(h.finalize())
}

/// The result key of a spec on data: SHA-256 of the results' version
/// ([`dotation_core::RESULTS_VERSION`]), the spec's canonical form (parsed and
/// re-serialised: whitespace, comments, key order and TOML or JSON do not count) and the
/// hash of the data. Results of another version have other keys: they are recomputed.
pub fn result_key(results_version: u32, canonical_spec: &str, data_hash: &str) -> String {
    result_key_with_source(results_version, canonical_spec, data_hash, None)
}

/// [`result_key`] of a job that reads another job's result: an apply job, whose `source`
/// is the result key of the calibration it applies. Two apply jobs of different sources
/// never share a result; without a source, the key is [`result_key`]'s.
pub fn result_key_with_source(
    results_version: u32,
    canonical_spec: &str,
    data_hash: &str,
    source: Option<&str>,
) -> String {
    let mut h = Sha256::new();
    h.update(format!("dotation results v{results_version}\0").as_bytes());
    h.update(canonical_spec.as_bytes());
    h.update(b"\0");
    h.update(data_hash.as_bytes());
    if let Some(source) = source {
        h.update(b"\0source\0");
        h.update(source.as_bytes());
    }
    hex::encode(h.finalize())
}

/// The extension of blobs (Arrow IPC files).
const BLOB_EXTENSION: &str = "arrow";

/// Bytes gathered before a write to a blob's file.
const BLOB_WRITE_BUFFER: usize = 64 << 10;

/// The key of a blob's row count in its IPC footer's metadata (so that a table's size is
/// told without reading its batches).
const ROWS_METADATA_KEY: &str = "dotation.rows";

/// A writer that hashes the bytes it passes on.
struct HashingWriter<W> {
    inner: W,
    hash: blake3::Hasher,
}

impl<W: std::io::Write> std::io::Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

type BlobFileWriter =
    arrow::ipc::writer::FileWriter<HashingWriter<std::io::BufWriter<std::fs::File>>>;

/// A blob being written: a temporary file renamed to its hash by [`BlobWriter::finish`].
pub struct BlobWriter<'a> {
    store: &'a Store,
    tmp: PathBuf,
    rows: u64,
    writer: Option<BlobFileWriter>,
}

impl std::fmt::Debug for BlobWriter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobWriter")
            .field("tmp", &self.tmp)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl BlobWriter<'_> {
    fn write_error(&self) -> impl Fn(arrow::error::ArrowError) -> ServerError + '_ {
        |e| ServerError::Write {
            path: self.tmp.clone(),
            message: e.to_string(),
        }
    }

    /// Appends a batch.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ServerError> {
        let w = self.writer.as_mut().expect("open until finish");
        let written = w.write(batch);
        written.map_err(self.write_error())?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the file and moves it to its content address; returns the blob's name.
    pub fn finish(mut self) -> Result<String, ServerError> {
        let mut w = self.writer.take().expect("open until finish");
        w.write_metadata(ROWS_METADATA_KEY, self.rows.to_string());
        let closed = w.finish();
        closed.map_err(self.write_error())?;
        let sink = w.into_inner().map_err(self.write_error())?;
        let file = sink
            .inner
            .into_inner()
            .map_err(|e| io_err(&self.tmp)(e.into_error()))?;
        drop(file);
        let hash = sink.hash.finalize().to_hex().to_string();
        let path = self
            .store
            .dir
            .join("blobs")
            .join(format!("{hash}.{BLOB_EXTENSION}"));
        if path.exists() {
            let _ = std::fs::remove_file(&self.tmp);
        } else {
            std::fs::rename(&self.tmp, &path).map_err(io_err(&path))?;
        }
        Ok(hash)
    }
}

impl Drop for BlobWriter<'_> {
    fn drop(&mut self) {
        if self.writer.is_some() {
            self.writer = None;
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, RecordBatch, StringArray};

    use super::*;

    fn batch(ids: &[&str], x: &[f64]) -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(StringArray::from(ids.to_vec())) as arrow::array::ArrayRef,
            ),
            ("x", Arc::new(Float64Array::from(x.to_vec())) as _),
        ])
        .expect("batch")
    }

    #[test]
    fn blobs_are_ipc_files_named_by_their_content_and_old_parquet_blobs_still_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let (a, b) = (batch(&["a", "b"], &[1.0, 2.0]), batch(&["c"], &[3.5]));

        let blob = store
            .write_blob(a.schema(), &[a.clone(), b.clone()])
            .expect("written");
        let (path, format) = store.blob_file(&blob);
        assert_eq!(format, Format::Ipc);
        assert_eq!(path.extension().and_then(|e| e.to_str()), Some("arrow"));
        // The name is the BLAKE3 of the file's bytes.
        let bytes = std::fs::read(&path).expect("blob");
        assert_eq!(blob, blake3::hash(&bytes).to_hex().to_string());
        assert_eq!(
            store.read_blob(&blob).expect("read"),
            vec![a.clone(), b.clone()]
        );
        let info = table_info(&path).expect("info");
        assert_eq!((info.rows, info.bytes), (3, bytes.len() as i64));
        // The same batches give the same blob; nothing is left in tmp/.
        assert_eq!(
            store
                .write_blob(a.schema(), &[a.clone(), b.clone()])
                .expect("again"),
            blob
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp"))
                .expect("tmp")
                .count(),
            0
        );

        // A Parquet blob written by an earlier version of the store.
        let old = "0".repeat(64);
        let file = std::fs::File::create(dir.path().join("blobs").join(format!("{old}.parquet")))
            .expect("create");
        let mut w = parquet::arrow::ArrowWriter::try_new(file, a.schema(), None).expect("writer");
        w.write(&a).expect("write");
        w.close().expect("close");
        assert_eq!(store.blob_file(&old).1, Format::Parquet);
        assert_eq!(store.read_blob(&old).expect("read"), vec![a]);
    }

    #[test]
    fn margins_are_listed_last_and_change_the_data_hash_only_when_present() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        for (t, blob) in [
            (TableKind::Margins, "m"),
            (TableKind::Users, "u"),
            (TableKind::Departements, "d"),
            (TableKind::Services, "s"),
        ] {
            store.put_table("alice", "x", t, blob, 1).expect("stored");
        }
        let kinds: Vec<TableKind> = store
            .dataset_tables("alice", "x")
            .expect("listed")
            .into_iter()
            .map(|(k, _, _)| k)
            .collect();
        assert_eq!(
            kinds,
            [
                TableKind::Departements,
                TableKind::Services,
                TableKind::Users,
                TableKind::Margins
            ]
        );

        let four: Vec<String> = ["d", "s", "u", ""].map(String::from).to_vec();
        let mut five = four.clone();
        five.push(String::new());
        // A record written before margins existed and one without margins: one hash, so
        // the results stored for it keep their keys.
        assert_eq!(data_hash(&four), data_hash(&five));
        five[4] = "m".into();
        assert_ne!(data_hash(&four), data_hash(&five));
        let mut other = five.clone();
        other[4] = "n".into();
        assert_ne!(data_hash(&five), data_hash(&other));

        let key = result_key(1, "{}", "h");
        assert_eq!(result_key_with_source(1, "{}", "h", None), key);
        let a = result_key_with_source(1, "{}", "h", Some("a"));
        let b = result_key_with_source(1, "{}", "h", Some("b"));
        assert!(a != key && b != key && a != b);
    }

    #[test]
    fn a_blob_dropped_before_finish_leaves_nothing() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let a = batch(&["a"], &[1.0]);
        let mut w = store.blob_writer(a.schema()).expect("writer");
        w.write(&a).expect("write");
        drop(w);
        assert_eq!(
            std::fs::read_dir(dir.path().join("tmp"))
                .expect("tmp")
                .count(),
            0
        );
        assert_eq!(
            std::fs::read_dir(dir.path().join("blobs"))
                .expect("blobs")
                .count(),
            0
        );
    }
}
