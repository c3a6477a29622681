//! Where a command's data comes from: a dataset folder, or the embedded synthetic survey
//! (generated in memory from a fixed seed, so a fresh clone needs no download), and the
//! writing of generated surveys to Parquet, streamed table by table.

use std::collections::BTreeMap;
use std::path::Path;

use arrow::array::RecordBatch;
use dotation_core::schema::TableKind;
use dotation_core::validate::{RawDataset, Source, ValidateOptions, check_margins};
use dotation_core::{CoreError, Dataset};
use dotation_datasets::{SurveyConfig, Table};
use indicatif::ProgressBar;
use parquet::arrow::ArrowWriter;
use sha2::{Digest, Sha256};

use crate::error::ServerError;
use crate::io::{self, Output, Tables};

/// A dataset ready for validation, with what identifies it in results.
#[derive(Debug)]
pub struct LoadedData {
    /// Its tables: files (streamed when validated) or batches in memory.
    pub tables: Tables,
    /// Where the data came from, in words.
    pub description: String,
    /// SHA-256 of the data files (or of the embedded survey's definition).
    pub hash: String,
    /// The `margins` table, when the dataset has one (its weights can then be calibrated).
    pub margins: Option<io::TableFile>,
}

/// Name of the embedded survey in messages and results.
pub fn embedded_description(config: &SurveyConfig) -> String {
    format!(
        "embedded synthetic {} (seed {}, year {}, generator {}{})",
        match config.scale {
            dotation_datasets::Scale::Survey => "survey",
            dotation_datasets::Scale::National => "national frame",
        },
        config.seed,
        config.year,
        dotation_datasets::GENERATOR_VERSION,
        if config.visits { "" } else { ", no visits" }
    )
}

/// The hash identifying the embedded survey: the generator is deterministic, so its
/// definition identifies the data (no need to generate it).
pub fn embedded_hash(config: &SurveyConfig) -> String {
    hex::encode(Sha256::digest(embedded_description(config).as_bytes()))
}

/// Finds a dataset folder's tables (nothing is read yet), or generates the embedded
/// survey when `dir` is `None`.
pub fn load(dir: Option<&Path>) -> Result<LoadedData, ServerError> {
    match dir {
        Some(dir) => Ok(LoadedData {
            tables: Tables::Files(io::dataset_files(dir)?),
            description: dir.display().to_string(),
            hash: io::hash_files(dir)?,
            margins: io::find_table_opt(dir, TableKind::Margins)?
                .map(|(path, format)| io::TableFile::new(TableKind::Margins, path, format)),
        }),
        None => embedded(&SurveyConfig::default()),
    }
}

/// The embedded survey: generated in memory, deterministic.
pub fn embedded(config: &SurveyConfig) -> Result<LoadedData, ServerError> {
    let survey = dotation_datasets::survey(config)?;
    let description = embedded_description(config);
    let file = |t: TableKind| format!("embedded survey/{}", t.name());
    let raw = RawDataset {
        departements: Source::new(file(TableKind::Departements), vec![survey.departements]),
        services: Source::new(file(TableKind::Services), vec![survey.services]),
        users: Source::new(file(TableKind::Users), survey.users),
        visits: config
            .visits
            .then(|| Source::new(file(TableKind::Visits), survey.visits)),
    };
    let hash = embedded_hash(config);
    Ok(LoadedData {
        tables: Tables::Memory(raw),
        description,
        hash,
        margins: None,
    })
}

/// Generates a survey into `dir` as Parquet, with `truth.json`; returns rows per table.
/// `progress` makes a bar for the number of services to generate.
pub fn write_generated(
    config: &SurveyConfig,
    dir: &Path,
    progress: impl FnOnce(u64) -> ProgressBar,
) -> Result<BTreeMap<&'static str, u64>, ServerError> {
    let mut out = Output::new(dir)?;
    let mut writers: BTreeMap<&'static str, ArrowWriter<std::fs::File>> = BTreeMap::new();
    let mut rows: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut failure: Option<ServerError> = None;
    let mut bar: Option<ProgressBar> = None;
    let mut progress = Some(progress);
    let truth = {
        let mut sink = |table: Table, batch: RecordBatch| {
            let name = table.name();
            let path = dir.join(format!("{name}.parquet"));
            let result = (|| -> Result<(), ServerError> {
                if !writers.contains_key(name) {
                    let w = out.parquet_writer(&format!("{name}.parquet"), batch.schema())?;
                    writers.insert(name, w);
                }
                let w = writers.get_mut(name).expect("inserted above");
                w.write(&batch).map_err(|e| ServerError::Write {
                    path: path.clone(),
                    message: e.to_string(),
                })?;
                *rows.entry(name).or_insert(0) += batch.num_rows() as u64;
                Ok(())
            })();
            result.map_err(|e| {
                let message = e.to_string();
                failure = Some(e);
                dotation_datasets::GenerateError::sink(message)
            })
        };
        let mut on_progress = |done: u64, total: u64| {
            let b = bar.get_or_insert_with(|| (progress.take().expect("called once"))(total));
            b.set_position(done);
        };
        match dotation_datasets::generate_with_progress(config, &mut sink, &mut on_progress) {
            Ok(t) => t,
            Err(e) => return Err(failure.unwrap_or(ServerError::Generate(e))),
        }
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    for (name, w) in writers {
        w.close().map_err(|e| ServerError::Write {
            path: dir.join(format!("{name}.parquet")),
            message: e.to_string(),
        })?;
    }
    let truth = serde_json::to_string_pretty(&truth).expect("the truth serialises");
    out.text("truth.json", &truth)?;
    out.commit()?;
    Ok(rows)
}

impl LoadedData {
    /// Validates the data — the visits streamed and folded into drivers — into a
    /// [`Dataset`]; a contract breach is [`CoreError::Invalid`] with every problem.
    pub fn validate(
        &self,
        options: &ValidateOptions,
        progress: &dyn Fn(u64),
    ) -> Result<Dataset, ServerError> {
        let mut dataset = io::validate_tables(&self.tables, options, progress)?
            .map_err(|r| CoreError::Invalid(Box::new(r)))?;
        if let Some(f) = &self.margins {
            let source = io::read_table_as(&f.path, f.format, &f.label)?;
            dataset.margins = Some(
                check_margins(&source, &dataset.micro, options)
                    .map_err(|r| CoreError::Invalid(Box::new(r)))?,
            );
        }
        Ok(dataset)
    }

    /// The same data with this `margins` file (replacing the folder's own), its bytes
    /// added to the data's hash.
    pub fn with_margins(mut self, path: &Path) -> Result<LoadedData, ServerError> {
        let format = io::Format::of_path(path).ok_or_else(|| ServerError::Read {
            path: path.to_path_buf(),
            message: "a margins table is a .parquet, .csv or .arrow file".into(),
        })?;
        let bytes = std::fs::read(path).map_err(|source| ServerError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut h = Sha256::new();
        h.update(self.hash.as_bytes());
        h.update(b"margins");
        h.update(&bytes);
        self.hash = hex::encode(h.finalize());
        self.margins = Some(io::TableFile::new(
            TableKind::Margins,
            path.to_path_buf(),
            format,
        ));
        Ok(self)
    }
}
