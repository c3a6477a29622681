//! Datasets uploaded through `DoPut`: one table at a time, validated by the core's
//! `validate` with the same messages as the command line, and the loading of a job's data.
//!
//! A table is checked against the tables already stored: while the dataset is incomplete,
//! only the problems of the tables present and that do not need an absent table count
//! (references to absent tables are checked when the set is complete); the upload that
//! completes the set is checked together with the others. A table with problems is not
//! stored, so a complete dataset — départements, services, users, and visits when there
//! are any — is always valid as a whole. Stored visits are streamed from their blob when
//! another table is checked against them, never loaded whole.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arrow::array::RecordBatch;
use dotation_core::CoreError;
use dotation_core::schema::TableKind;
use dotation_core::validate::{Report, Source, ValidateOptions, check_frame};
use dotation_datasets::SurveyConfig;

use super::store::{JobRecord, Store};
use crate::data::{self, LoadedData};
use crate::error::ServerError;
use crate::io::{self, Format, TableFile, Tables};

/// Rules that relate a table to another one.
const CROSS_TABLE_RULES: [&str; 3] = [
    "unknown_reference",
    "user_of_other_service",
    "plan_above_ceiling",
];

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

/// The table kind named in a descriptor.
pub fn table_kind(name: &str) -> Result<TableKind, ServerError> {
    TableKind::ALL
        .into_iter()
        .find(|t| t.name() == name)
        .ok_or_else(|| {
            ServerError::BadRequest(format!(
                "unknown table {name:?}: a dataset holds departements, services, users and visits"
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
}

/// The tables every dataset needs; visits are optional (census data have none).
const FRAME_TABLES: [TableKind; 3] = [
    TableKind::Departements,
    TableKind::Services,
    TableKind::Users,
];

/// A dataset: its owner and its name.
type DatasetKey = (String, String);

/// Uploads, one dataset at a time (two uploads to the same dataset are checked and
/// stored one after the other, so that each is checked against the other's result).
#[derive(Debug, Default)]
pub struct Uploads {
    locks: Mutex<HashMap<DatasetKey, Arc<Mutex<()>>>>,
}

impl Uploads {
    /// Validates and stores one table (a blocking call). `batches` arrive as the upload
    /// decodes them: the small tables are gathered and checked together with the stored
    /// ones; visits are checked and folded batch by batch while they are written to their
    /// blob, never held whole.
    pub fn put(
        &self,
        store: &Store,
        owner: &str,
        dataset: &str,
        table: TableKind,
        batches: &mut dyn Iterator<Item = Result<RecordBatch, ServerError>>,
    ) -> Result<PutSummary, ServerError> {
        let lock = Arc::clone(
            self.locks
                .lock()
                .expect("uploads lock")
                .entry((owner.to_string(), dataset.to_string()))
                .or_default(),
        );
        let _guard = lock.lock().expect("dataset lock");
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
        let mut frame_sources = Vec::new();
        for t in FRAME_TABLES {
            let batches = if t == table {
                small.clone()
            } else if let Some(blob) = stored_blob(t) {
                present.push(t);
                store.read_blob(&blob)?
            } else {
                Vec::new()
            };
            frame_sources.push(Source::new(source_label(dataset, t), batches));
        }
        let options = ValidateOptions::default();
        let frame = check_frame(
            &frame_sources[0],
            &frame_sources[1],
            &frame_sources[2],
            &options,
        );
        drop(frame_sources);
        // The visits checked against the frame: the uploaded ones (written to their blob as
        // they come), or those stored.
        let mut blob_writer = None;
        let mut visit_rows: i64 = 0;
        let visits = if let Some(batches) = visits.as_mut() {
            let mut check = frame.check_visits(source_label(dataset, table));
            for b in batches {
                let b = b?;
                if blob_writer.is_none() {
                    blob_writer = Some(store.blob_writer(b.schema())?);
                }
                check.push(&b);
                blob_writer.as_mut().expect("opened").write(&b)?;
                visit_rows += b.num_rows() as i64;
            }
            Some(check.finish())
        } else if let Some(blob) = stored_blob(TableKind::Visits) {
            present.push(TableKind::Visits);
            let file = TableFile {
                table: TableKind::Visits,
                path: store.blob_path(&blob),
                format: Format::Parquet,
                label: source_label(dataset, TableKind::Visits),
            };
            let mut check = frame.check_visits(file.label.clone());
            io::stream_visits(&file, &mut check, &|_| {})?;
            Some(check.finish())
        } else {
            None
        };
        let complete = FRAME_TABLES.iter().all(|t| present.contains(t));
        if let Err(report) = frame.finish(visits) {
            let report = if complete {
                report
            } else {
                relevant(report, &present)
            };
            if !report.is_empty() {
                return Err(CoreError::Invalid(Box::new(report)).into());
            }
        }
        let (rows, blob) = match blob_writer {
            Some(w) => (visit_rows, w.finish()?),
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
        })
    }
}

/// The problems that count while some tables are absent: those of the tables present,
/// except the rules that need another table.
fn relevant(report: Report, present: &[TableKind]) -> Report {
    let keep =
        |t: &TableKind, rule: &str| present.contains(t) && !CROSS_TABLE_RULES.contains(&rule);
    Report {
        problems: report
            .problems
            .into_iter()
            .filter(|p| keep(&p.table, p.rule.id()))
            .collect(),
        counts: report
            .counts
            .into_iter()
            .filter(|((t, _, rule), _)| keep(t, rule))
            .collect(),
    }
}

/// The data of a dataset ready for a job: the blobs of its tables in table order (`None`
/// for absent visits), or an error saying what is missing.
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
    Ok(TableKind::ALL
        .into_iter()
        .map(|t| {
            stored
                .iter()
                .find(|(k, _, _)| *k == t)
                .map(|(_, blob, _)| blob.clone())
        })
        .collect())
}

/// The data a job was submitted with: its blobs (read as files, the visits streamed), or
/// the embedded survey.
pub fn load_for_job(store: &Store, job: &JobRecord) -> Result<LoadedData, ServerError> {
    match (&job.dataset, &job.blobs) {
        (Some(name), Some(blobs)) => {
            let files = TableKind::ALL
                .into_iter()
                .zip(blobs)
                .filter(|(_, blob)| !blob.is_empty())
                .map(|(t, blob)| TableFile {
                    table: t,
                    path: store.blob_path(blob),
                    format: Format::Parquet,
                    label: source_label(name, t),
                })
                .collect();
            Ok(LoadedData {
                tables: Tables::Files(files),
                description: format!("dataset {name}"),
                hash: job.data_hash.clone(),
            })
        }
        _ => data::embedded(&SurveyConfig::default()),
    }
}

/// The hash of the embedded survey, as jobs on it record it.
pub fn embedded_hash() -> String {
    data::embedded_hash(&SurveyConfig::default())
}
