//! Datasets uploaded through `DoPut`: one table at a time, validated by the core's
//! `validate` with the same messages as the command line, and the loading of a job's data.
//!
//! A table is checked against the tables already stored: while the dataset is incomplete,
//! only the problems of the tables present and that do not need an absent table count
//! (references to absent tables are checked when the set is complete); the upload that
//! completes the set is checked together with the others. A table with problems is not
//! stored, so a complete dataset — départements, services, users, and visits and margins
//! when there are any — is always valid as a whole. Stored visits are streamed from their
//! blob when another table is checked against them, never loaded whole.
//!
//! The `margins` table (the totals survey weights are calibrated to) is checked against
//! the services and users it totals: at its upload when the three frame tables are
//! stored, else by the upload that completes them; an upload of a frame table is checked
//! against the stored margins too.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use arrow::array::RecordBatch;
use dotation_core::CoreError;
use dotation_core::schema::TableKind;
use dotation_core::tables::Microdata;
use dotation_core::validate::{
    Frame, Report, Source, ValidateOptions, VisitCheck, check_frame, check_margins,
};
use dotation_datasets::SurveyConfig;

use super::store::{BlobWriter, JOB_TABLES, JobRecord, Store};
use crate::data::{self, LoadedData};
use crate::error::ServerError;
use crate::io::{self, Tables};

/// The table a cross-table rule needs besides the one it is reported on: a reference
/// (by its column), the owner of a visit's user, the year of the APA ceilings. `None` for
/// the rules of one table.
fn other_table(column: &str, rule: &str) -> Option<TableKind> {
    match (rule, column) {
        ("unknown_reference", "departement") => Some(TableKind::Departements),
        ("unknown_reference", "service_id") => Some(TableKind::Services),
        ("unknown_reference", "user_id") | ("user_of_other_service", _) => Some(TableKind::Users),
        ("plan_above_ceiling", _) => Some(TableKind::Departements),
        _ => None,
    }
}

/// How a table's name appears in validation messages.
pub fn source_label(dataset: &str, table: TableKind) -> String {
    format!("datasets/{dataset}/{}", table.name())
}

/// Checks a dataset or table name: letters, digits, `-`, `_`, `.`; 1–64 characters.
pub fn check_name(what: &str, name: &str) -> Result<(), ServerError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(ServerError::BadRequest(format!(
            "{what} {name:?}: use 1 to 64 letters, digits, '-', '_' or '.'"
        )))
    }
}

/// The table kind named in a descriptor: one of the four tables, or `margins`
/// ([`JOB_TABLES`]).
pub fn table_kind(name: &str) -> Result<TableKind, ServerError> {
    let kind = TableKind::from_name(name).filter(|t| JOB_TABLES.contains(t));
    kind.ok_or_else(|| {
        ServerError::BadRequest(format!(
            "unknown table {name:?}: a dataset holds departements, services, users and visits, and margins (the totals its survey weights are calibrated to)"
        ))
    })
}

/// What an accepted upload did.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PutSummary {
    /// The dataset.
    pub dataset: String,
    /// The table.
    pub table: String,
    /// Rows stored.
    pub rows: i64,
    /// Tables still missing before the dataset can be used (visits are optional).
    pub missing: Vec<String>,
    /// Whether départements, services and users are present (and valid together, with
    /// the visits if there are any): jobs can run.
    pub complete: bool,
    /// Whether the dataset has visits (formulas on visit drivers need them).
    pub visits: bool,
    /// Whether the dataset has margins (its survey weights can be calibrated).
    pub margins: bool,
    /// What the upload could not check yet, and when it will be.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The tables every dataset needs; visits are optional (census data have none).
pub const FRAME_TABLES: [TableKind; 3] = [
    TableKind::Departements,
    TableKind::Services,
    TableKind::Users,
];

/// A dataset: its owner and its name.
type DatasetKey = (String, String);

/// Uploads, one dataset at a time (two uploads to the same dataset are checked and
/// stored one after the other, so that each is checked against the other's result).
///
/// The lock of a dataset lives while uploads to it run or wait, so the map holds only the
/// datasets being uploaded to. The frame (départements, services, users, checked) of the
/// last upload is kept, so that the visits uploaded after the users are checked against it
/// without reading and checking the three tables again — one frame for the server, of
/// the size of one dataset's users.
#[derive(Debug, Default)]
pub struct Uploads {
    locks: Mutex<HashMap<DatasetKey, Arc<Mutex<()>>>>,
    last_frame: Mutex<Option<CheckedFrame>>,
}

/// A valid frame, and the blobs it was checked from.
#[derive(Debug)]
struct CheckedFrame {
    dataset: DatasetKey,
    blobs: Vec<String>,
    frame: Arc<Frame>,
}

impl Uploads {
    /// Validates and stores one table (a blocking call). `batches` arrive as the upload
    /// decodes them: the small tables are gathered and checked together with the stored
    /// ones; visits are checked batch by batch while they are written to their blob,
    /// never held whole.
    pub fn put(
        &self,
        store: &Store,
        owner: &str,
        dataset: &str,
        table: TableKind,
        batches: &mut dyn Iterator<Item = Result<RecordBatch, ServerError>>,
    ) -> Result<PutSummary, ServerError> {
        let key = (owner.to_string(), dataset.to_string());
        let lock = Arc::clone(self.locks.lock().entry(key.clone()).or_default());
        let outcome = {
            let _guard = lock.lock();
            self.put_locked(store, &key, table, batches)
        };
        // No one else holds or waits for the lock (clones are made under the map's lock):
        // the entry goes.
        let mut locks = self.locks.lock();
        if Arc::strong_count(&lock) == 2 {
            locks.remove(&key);
        }
        outcome
    }

    fn put_locked(
        &self,
        store: &Store,
        key: &DatasetKey,
        table: TableKind,
        batches: &mut dyn Iterator<Item = Result<RecordBatch, ServerError>>,
    ) -> Result<PutSummary, ServerError> {
        if table == TableKind::Margins {
            return put_margins(store, key, batches);
        }
        let (owner, dataset) = (key.0.as_str(), key.1.as_str());
        let (small, mut visits) = if table == TableKind::Visits {
            (Vec::new(), Some(batches))
        } else {
            (batches.collect::<Result<Vec<_>, _>>()?, None)
        };
        let stored = store.dataset_tables(owner, dataset)?;
        let stored_blob = |t: TableKind| {
            stored
                .iter()
                .find(|(k, _, _)| *k == t)
                .map(|(_, blob, _)| blob.clone())
        };
        let mut present = vec![table];
        present.extend(
            TableKind::ALL
                .into_iter()
                .filter(|&t| t != table && t != TableKind::Visits && stored_blob(t).is_some()),
        );
        let stored_frame_blobs: Option<Vec<String>> =
            FRAME_TABLES.into_iter().map(stored_blob).collect();
        let cached = match (&*self.last_frame.lock(), &stored_frame_blobs) {
            (Some(c), Some(blobs))
                if table == TableKind::Visits && c.dataset == *key && c.blobs == *blobs =>
            {
                Some(Arc::clone(&c.frame))
            }
            _ => None,
        };
        let frame = match cached {
            Some(frame) => frame,
            None => {
                let sources = frame_sources(store, dataset, table, &small, &stored_blob)?;
                let options = ValidateOptions::default();
                Arc::new(check_frame(&sources[0], &sources[1], &sources[2], &options))
            }
        };
        // The visits checked against the frame: the uploaded ones (written to their blob as
        // they come), or those stored.
        let mut blob_writer = None;
        let visits = if let Some(batches) = visits.as_mut() {
            let mut check = frame.check_visits_only(source_label(dataset, table));
            let (checked, written) = write_while_checking(store, batches, &mut check);
            // A write error (a full disk) stops the check: it is the reason to report.
            blob_writer = written?;
            checked?;
            Some(check.finish())
        } else if let Some(blob) = stored_blob(TableKind::Visits) {
            present.push(TableKind::Visits);
            let file = store.blob_table(
                &blob,
                TableKind::Visits,
                source_label(dataset, TableKind::Visits),
            );
            let mut check = frame.check_visits_only(file.label.clone());
            io::stream_visits(&file, &mut check, &|_| {})?;
            Some(check.finish())
        } else {
            None
        };
        let complete = FRAME_TABLES.iter().all(|t| present.contains(t));
        if let Err(report) = frame.report(visits) {
            let report = if complete {
                report
            } else {
                relevant(report, &present)
            };
            if !report.is_empty() {
                return Err(CoreError::Invalid(Box::new(report)).into());
            }
        }
        // The stored margins total the services and users: checked against a new frame
        // table as soon as the three are there (visits change nothing they total).
        let stored_margins = stored_blob(TableKind::Margins);
        if complete
            && table != TableKind::Visits
            && let Some(margins) = &stored_margins
        {
            let micro = microdata(&frame_sources(store, dataset, table, &small, &stored_blob)?)?;
            let source = Source::new(
                source_label(dataset, TableKind::Margins),
                store.read_blob(margins)?,
            );
            check_margins(&source, &micro, &ValidateOptions::default())
                .map_err(|report| CoreError::Invalid(Box::new(report)))?;
        }
        let (rows, blob) = match blob_writer {
            Some(w) => (w.rows() as i64, w.finish()?),
            None => {
                let schema = small.first().map(RecordBatch::schema).ok_or_else(|| {
                    ServerError::BadRequest("the upload holds no record batch".into())
                })?;
                (
                    small.iter().map(|b| b.num_rows() as i64).sum(),
                    store.write_blob(schema, &small)?,
                )
            }
        };
        store.put_table(owner, dataset, table, &blob, rows)?;
        if frame.is_valid() {
            let blobs = FRAME_TABLES
                .into_iter()
                .map(|t| {
                    if t == table {
                        Some(blob.clone())
                    } else {
                        stored_blob(t)
                    }
                })
                .collect::<Option<Vec<_>>>();
            if let Some(blobs) = blobs {
                *self.last_frame.lock() = Some(CheckedFrame {
                    dataset: key.clone(),
                    blobs,
                    frame,
                });
            }
        }
        let missing = FRAME_TABLES
            .into_iter()
            .filter(|t| !present.contains(t))
            .map(|t| t.name().to_string())
            .collect();
        Ok(PutSummary {
            dataset: dataset.to_string(),
            table: table.name().to_string(),
            rows,
            missing,
            complete,
            visits: present.contains(&TableKind::Visits),
            margins: stored_margins.is_some(),
            note: None,
        })
    }
}

/// Stores a dataset's margins (read whole: a few rows), checked against its services and
/// users when the three frame tables are stored; otherwise stored unchecked, and checked by
/// the upload that completes the frame.
fn put_margins(
    store: &Store,
    key: &DatasetKey,
    batches: &mut dyn Iterator<Item = Result<RecordBatch, ServerError>>,
) -> Result<PutSummary, ServerError> {
    let (owner, dataset) = (key.0.as_str(), key.1.as_str());
    let table = TableKind::Margins;
    let batches = batches.collect::<Result<Vec<_>, _>>()?;
    let schema = batches
        .first()
        .map(RecordBatch::schema)
        .ok_or_else(|| ServerError::BadRequest("the upload holds no record batch".into()))?;
    let stored = store.dataset_tables(owner, dataset)?;
    let stored_blob = |t: TableKind| {
        stored
            .iter()
            .find(|(k, _, _)| *k == t)
            .map(|(_, blob, _)| blob.clone())
    };
    let complete = FRAME_TABLES.iter().all(|&t| stored_blob(t).is_some());
    let source = Source::new(source_label(dataset, table), batches);
    let note = if complete {
        let micro = microdata(&frame_sources(store, dataset, table, &[], &stored_blob)?)?;
        check_margins(&source, &micro, &ValidateOptions::default())
            .map_err(|report| CoreError::Invalid(Box::new(report)))?;
        None
    } else {
        Some(
            "the margins are not checked yet: they are checked against the services and users once departements, services and users are stored (an upload that completes them is refused if the margins do not fit)"
                .to_string(),
        )
    };
    let rows = source.num_rows() as i64;
    let blob = store.write_blob(schema, &source.batches)?;
    store.put_table(owner, dataset, table, &blob, rows)?;
    Ok(PutSummary {
        dataset: dataset.to_string(),
        table: table.name().to_string(),
        rows,
        missing: FRAME_TABLES
            .into_iter()
            .filter(|&t| stored_blob(t).is_none())
            .map(|t| t.name().to_string())
            .collect(),
        complete,
        visits: stored_blob(TableKind::Visits).is_some(),
        margins: true,
        note,
    })
}

/// The three frame tables as validation sources: `table`'s from the upload (`small`), the
/// others from their stored blobs (empty when absent).
fn frame_sources(
    store: &Store,
    dataset: &str,
    table: TableKind,
    small: &[RecordBatch],
    stored_blob: &dyn Fn(TableKind) -> Option<String>,
) -> Result<Vec<Source>, ServerError> {
    let mut sources = Vec::with_capacity(FRAME_TABLES.len());
    for t in FRAME_TABLES {
        let batches = if t == table {
            small.to_vec()
        } else if let Some(blob) = stored_blob(t) {
            store.read_blob(&blob)?
        } else {
            Vec::new()
        };
        sources.push(Source::new(source_label(dataset, t), batches));
    }
    Ok(sources)
}

/// The typed services and users of valid frame tables, which margins are checked against.
fn microdata(sources: &[Source]) -> Result<Microdata, ServerError> {
    check_frame(
        &sources[0],
        &sources[1],
        &sources[2],
        &ValidateOptions::default(),
    )
    .finish(None)
    .map(|dataset| dataset.micro)
    .map_err(|report| CoreError::Invalid(Box::new(report)).into())
}

/// Batches written to their blob, in order, on a thread of their own (the copy to disk and
/// the hash), while they are checked here in waves: the visits of an upload are checked
/// and stored at once, never held whole. Returns the check's outcome and the blob, not
/// yet named (named only when the whole dataset is valid).
fn write_while_checking<'s>(
    store: &'s Store,
    batches: &mut dyn Iterator<Item = Result<RecordBatch, ServerError>>,
    check: &mut VisitCheck<'_>,
) -> (
    Result<(), ServerError>,
    Result<Option<BlobWriter<'s>>, ServerError>,
) {
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<RecordBatch>(WRITE_AHEAD_BATCHES);
        let writer = std::thread::Builder::new()
            .name("dotation-blob".into())
            .spawn_scoped(scope, move || {
                let mut blob: Option<BlobWriter<'s>> = None;
                for b in rx {
                    match blob.as_mut() {
                        Some(w) => w.write(&b)?,
                        None => {
                            let mut w = store.blob_writer(b.schema())?;
                            w.write(&b)?;
                            blob = Some(w);
                        }
                    }
                }
                Ok(blob)
            })
            .expect("a thread for the upload's writer");
        let checked = io::check_batches(batches, check, &|_| {}, |b| {
            tx.send(b.clone())
                .map_err(|_| ServerError::Internal("the upload's writer stopped".into()))
        });
        drop(tx);
        let written = writer
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (checked, written)
    })
}

/// Batches queued for the blob's writer thread ahead of it: enough to keep it busy while
/// a wave is checked, few so that an upload's memory does not depend on which of the two
/// is ahead.
const WRITE_AHEAD_BATCHES: usize = 2;

/// The problems that count while some tables are absent: those of the tables present,
/// and among them, those of the rules relating two tables when both are present (a users
/// table naming an unknown service is refused as soon as the services are stored). Only
/// the rules whose other table is absent wait.
fn relevant(report: Report, present: &[TableKind]) -> Report {
    let keep = |t: &TableKind, column: &str, rule: &str| {
        present.contains(t) && other_table(column, rule).is_none_or(|o| present.contains(&o))
    };
    Report {
        problems: report
            .problems
            .into_iter()
            .filter(|p| keep(&p.table, p.column.as_deref().unwrap_or(""), p.rule.id()))
            .collect(),
        counts: report
            .counts
            .into_iter()
            .filter(|((t, column, rule), _)| keep(t, column, rule))
            .collect(),
    }
}

/// The data of a dataset ready for a job: the blobs of its tables in
/// [`JOB_TABLES`] order (`None` for absent visits or margins), or an error saying what is
/// missing.
pub fn resolve(
    store: &Store,
    owner: &str,
    dataset: &str,
) -> Result<Vec<Option<String>>, ServerError> {
    let stored = store.dataset_tables(owner, dataset)?;
    if stored.is_empty() {
        return Err(ServerError::NotFound(format!(
            "no dataset {dataset:?}: upload its tables with DoPut to [\"datasets\", \"{dataset}\", TABLE]"
        )));
    }
    let missing: Vec<&str> = FRAME_TABLES
        .into_iter()
        .filter(|t| !stored.iter().any(|(k, _, _)| k == t))
        .map(TableKind::name)
        .collect();
    if !missing.is_empty() {
        return Err(ServerError::FailedPrecondition(format!(
            "dataset {dataset:?} is incomplete: upload {}",
            missing.join(", ")
        )));
    }
    Ok(JOB_TABLES
        .into_iter()
        .map(|t| {
            stored
                .iter()
                .find(|(k, _, _)| *k == t)
                .map(|(_, blob, _)| blob.clone())
        })
        .collect())
}

/// The data a job was submitted with: its blobs (read as files, the visits streamed; the
/// margins, when recorded, beside them), or the embedded survey. A record of four blobs
/// (written before margins existed) has no margins.
pub fn load_for_job(store: &Store, job: &JobRecord) -> Result<LoadedData, ServerError> {
    match (&job.dataset, &job.blobs) {
        (Some(name), Some(blobs)) => {
            let mut files = Vec::new();
            let mut margins = None;
            for (t, blob) in JOB_TABLES.into_iter().zip(blobs) {
                if blob.is_empty() {
                    continue;
                }
                let file = store.blob_table(blob, t, source_label(name, t));
                if t == TableKind::Margins {
                    margins = Some(file);
                } else {
                    files.push(file);
                }
            }
            Ok(LoadedData {
                tables: Tables::Files(files),
                description: format!("dataset {name}"),
                hash: job.data_hash.clone(),
                margins,
            })
        }
        _ => data::embedded(&SurveyConfig::default()),
    }
}

/// The hash of the embedded survey, as jobs on it record it.
pub fn embedded_hash() -> String {
    data::embedded_hash(&SurveyConfig::default())
}
