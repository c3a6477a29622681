//! Files in and out: the input tables read from Parquet, CSV or Arrow IPC — the small
//! ones whole, the visits streamed in batches, decoded in parallel and folded into
//! drivers as they come ([`validate_tables`]); result tables written as Parquet, never
//! half-written (each file goes to a temporary name and is renamed into place only once
//! every file of the result is complete).
//!
//! CSV files are read with every column as text: types are checked by validation, which
//! then reports *every* unreadable value with its row, instead of the reader stopping at
//! the first. Empty CSV fields are nulls.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use dotation_core::Dataset;
use dotation_core::schema::{ColumnType, TableKind};
use dotation_core::validate::{
    PreparedVisits, RawDataset, Report, Source, ValidateOptions, VisitCheck, check_frame, validate,
};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use rayon::prelude::*;

use crate::error::ServerError;

/// File formats of input tables, by extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.parquet`
    Parquet,
    /// `.csv`
    Csv,
    /// `.arrow`, `.ipc`, `.feather` (Arrow IPC file format).
    Ipc,
}

/// Extensions tried for each table, in order.
pub const EXTENSIONS: &[(&str, Format)] = &[
    ("parquet", Format::Parquet),
    ("csv", Format::Csv),
    ("arrow", Format::Ipc),
    ("ipc", Format::Ipc),
    ("feather", Format::Ipc),
];

impl Format {
    /// The format of a file by its extension, in any case (see [`EXTENSIONS`]).
    pub fn of_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|(_, f)| *f)
    }
}

/// Rows per batch when reading.
const READ_BATCH_ROWS: usize = 1 << 16;

/// One table's file, and how it is named in messages.
#[derive(Clone, Debug)]
pub struct TableFile {
    /// The table.
    pub table: TableKind,
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// The file as validation messages name it.
    pub label: String,
}

impl TableFile {
    /// A file named in messages by its path.
    pub fn new(table: TableKind, path: PathBuf, format: Format) -> TableFile {
        TableFile {
            table,
            label: path.display().to_string(),
            path,
            format,
        }
    }
}

/// Where a dataset's tables are: files (read in batches, the visits streamed), or record
/// batches already in memory (the embedded survey).
#[derive(Debug)]
pub enum Tables {
    /// One file per table; `visits` may be absent (census data).
    Files(Vec<TableFile>),
    /// Batches in memory.
    Memory(RawDataset),
}

/// Finds the file of `table` in `dir`: exactly one of `TABLE.parquet`, `.csv`, `.arrow`…
pub fn find_table(dir: &Path, table: TableKind) -> Result<(PathBuf, Format), ServerError> {
    find_table_opt(dir, table)?.ok_or_else(|| ServerError::MissingTable {
        dir: dir.to_path_buf(),
        table: table.name(),
    })
}

/// Like [`find_table`], `None` when the folder has no file for the table.
pub fn find_table_opt(
    dir: &Path,
    table: TableKind,
) -> Result<Option<(PathBuf, Format)>, ServerError> {
    let found: Vec<(PathBuf, Format)> = EXTENSIONS
        .iter()
        .map(|(ext, f)| (dir.join(format!("{}.{ext}", table.name())), *f))
        .filter(|(p, _)| p.is_file())
        .collect();
    match found.len() {
        0 | 1 => Ok(found.into_iter().next()),
        _ => Err(ServerError::AmbiguousTable {
            dir: dir.to_path_buf(),
            table: table.name(),
            files: found.iter().map(|(p, _)| p.display().to_string()).collect(),
        }),
    }
}

/// The table files of a dataset folder: départements, services and users are required,
/// visits optional.
pub fn dataset_files(dir: &Path) -> Result<Vec<TableFile>, ServerError> {
    if !dir.is_dir() {
        return Err(ServerError::NotADirectory(dir.to_path_buf()));
    }
    let mut files = Vec::new();
    for table in TableKind::ALL {
        let found = if table == TableKind::Visits {
            find_table_opt(dir, table)?
        } else {
            Some(find_table(dir, table)?)
        };
        if let Some((path, format)) = found {
            files.push(TableFile::new(table, path, format));
        }
    }
    Ok(files)
}

/// Validates a dataset: the small tables read whole, the visits streamed through the
/// core's [`VisitCheck`] with parallel decoding (Parquet row groups, or batches read
/// ahead), folded into drivers as they come. `progress` receives the visits rows done.
pub fn validate_tables(
    tables: &Tables,
    options: &ValidateOptions,
    progress: &dyn Fn(u64),
) -> Result<Result<Dataset, Report>, ServerError> {
    match tables {
        Tables::Memory(raw) => Ok(validate(raw, options)),
        Tables::Files(files) => {
            let file_of = |t: TableKind| files.iter().find(|f| f.table == t);
            let mut frame_sources = Vec::new();
            for t in [
                TableKind::Departements,
                TableKind::Services,
                TableKind::Users,
            ] {
                let f = file_of(t).ok_or_else(|| {
                    ServerError::BadRequest(format!("the dataset has no {} table", t.name()))
                })?;
                frame_sources.push(read_table_as(&f.path, f.format, &f.label)?);
            }
            let frame = check_frame(
                &frame_sources[0],
                &frame_sources[1],
                &frame_sources[2],
                options,
            );
            drop(frame_sources);
            let visits = match file_of(TableKind::Visits) {
                Some(f) => {
                    let mut check = frame.check_visits(f.label.clone());
                    stream_visits(f, &mut check, progress)?;
                    Some(check.finish())
                }
                None => None,
            };
            Ok(frame.finish(visits))
        }
    }
}

/// Record batches decoded at once per worker thread, ahead of the ordered fold.
const READ_AHEAD_PER_THREAD: usize = 2;

/// Streams a visits file through `check`: batches are decoded and prepared in parallel
/// (a Parquet file by row groups, other formats by batches read ahead), then absorbed in
/// row order. At most a few row groups are held at a time.
pub fn stream_visits(
    file: &TableFile,
    check: &mut VisitCheck<'_>,
    progress: &dyn Fn(u64),
) -> Result<(), ServerError> {
    let ahead = (rayon::current_num_threads() * READ_AHEAD_PER_THREAD).max(2);
    let read = |e: String| ServerError::Read {
        path: file.path.clone(),
        message: e,
    };
    match file.format {
        Format::Parquet => {
            let parquet = guarded(&file.path, || {
                ParquetTable::open(&file.path, TableKind::Visits)
            })?;
            let groups = parquet.metadata.metadata().num_row_groups();
            let mut row1 = Vec::with_capacity(groups);
            let mut next = check.next_row();
            for g in 0..groups {
                row1.push(next);
                next += parquet.metadata.metadata().row_group(g).num_rows() as u64;
            }
            for wave in (0..groups).collect::<Vec<_>>().chunks(ahead) {
                let check_ref: &VisitCheck<'_> = check;
                let prepared: Vec<Result<Vec<PreparedVisits>, ServerError>> = wave
                    .par_iter()
                    .map(|&g| {
                        let mut row = row1[g];
                        let mut out = Vec::new();
                        let batches = guarded(&file.path, || parquet.row_group(g))?;
                        for batch in Guarded::new(batches) {
                            let batch = batch.map_err(read)?.map_err(|e| read(e.to_string()))?;
                            out.push(check_ref.prepare(&batch, row));
                            row += batch.num_rows() as u64;
                        }
                        Ok(out)
                    })
                    .collect();
                for group in prepared {
                    for p in group? {
                        check.absorb(p);
                    }
                }
                progress(check.next_row() - 1);
            }
        }
        Format::Ipc | Format::Csv => {
            check_batches(
                open_batches(&file.path, file.format)?,
                check,
                progress,
                |_| Ok(()),
            )?;
        }
    }
    Ok(())
}

/// Streams batches through `check` as they come: read ahead in waves of a few batches per
/// thread, prepared in parallel, absorbed in row order. `each` sees every batch, in order,
/// as soon as it is read (an upload writes it to its blob there, while the wave is
/// checked). Holds at most one wave.
pub fn check_batches<E>(
    mut batches: impl Iterator<Item = Result<RecordBatch, E>>,
    check: &mut VisitCheck<'_>,
    progress: &dyn Fn(u64),
    mut each: impl FnMut(&RecordBatch) -> Result<(), E>,
) -> Result<(), E> {
    let ahead = (rayon::current_num_threads() * READ_AHEAD_PER_THREAD).max(2);
    loop {
        let mut wave = Vec::with_capacity(ahead);
        for b in batches.by_ref().take(ahead) {
            let b = b?;
            each(&b)?;
            wave.push(b);
        }
        if wave.is_empty() {
            return Ok(());
        }
        let mut row1 = Vec::with_capacity(wave.len());
        let mut next = check.next_row();
        for b in &wave {
            row1.push(next);
            next += b.num_rows() as u64;
        }
        let check_ref: &VisitCheck<'_> = check;
        let prepared: Vec<PreparedVisits> = wave
            .par_iter()
            .zip(row1)
            .map(|(b, r)| check_ref.prepare(b, r))
            .collect();
        for p in prepared {
            check.absorb(p);
        }
        progress(check.next_row() - 1);
    }
}

/// A Parquet file opened for reading by row groups: its metadata read once, only the
/// contract's columns decoded, and the text columns of the visits read as dictionaries so
/// that each distinct key is resolved once.
struct ParquetTable {
    path: PathBuf,
    metadata: ArrowReaderMetadata,
    projection: ProjectionMask,
}

impl ParquetTable {
    fn open(path: &Path, table: TableKind) -> Result<ParquetTable, ServerError> {
        let read = |e: parquet::errors::ParquetError| ServerError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let file = File::open(path).map_err(|e| ServerError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        let plain = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(read)?;
        let schema = plain.schema();
        let is_text = |t: &DataType| matches!(t, DataType::Utf8 | DataType::LargeUtf8);
        let hinted: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                let contract = table.column(f.name());
                match contract {
                    Some(c) if c.ty == ColumnType::Text && is_text(f.data_type()) => {
                        f.as_ref().clone().with_data_type(DataType::Dictionary(
                            Box::new(DataType::Int32),
                            Box::new(f.data_type().clone()),
                        ))
                    }
                    _ => f.as_ref().clone(),
                }
            })
            .collect();
        let hinted = Arc::new(Schema::new_with_metadata(hinted, schema.metadata().clone()));
        // A hint the reader refuses (nested or unusual types) falls back to the plain schema.
        let metadata = ArrowReaderMetadata::try_new(
            Arc::clone(plain.metadata()),
            ArrowReaderOptions::new().with_schema(hinted),
        )
        .unwrap_or(plain);
        let roots: Vec<usize> = metadata
            .schema()
            .fields()
            .iter()
            .enumerate()
            .filter(|(_, f)| table.column(f.name()).is_some())
            .map(|(i, _)| i)
            .collect();
        let projection =
            ProjectionMask::roots(metadata.metadata().file_metadata().schema_descr(), roots);
        Ok(ParquetTable {
            path: path.to_path_buf(),
            metadata,
            projection,
        })
    }

    /// A reader of one row group.
    fn row_group(&self, g: usize) -> Result<ParquetRecordBatchReader, ServerError> {
        let file = File::open(&self.path).map_err(|e| ServerError::Io {
            path: self.path.clone(),
            source: e,
        })?;
        ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.metadata.clone())
            .with_projection(self.projection.clone())
            .with_row_groups(vec![g])
            .with_batch_size(READ_BATCH_ROWS)
            .build()
            .map_err(|e| ServerError::Read {
                path: self.path.clone(),
                message: e.to_string(),
            })
    }
}

/// The batches of a file, read one after the other.
///
/// The decoders trust the offsets a file gives (a corrupted Arrow IPC file can make one
/// panic): any panic while opening or reading becomes a [`ServerError::Read`] naming the
/// file.
pub fn open_batches(
    path: &Path,
    format: Format,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch, ServerError>> + Send>, ServerError> {
    let batches = guarded(path, || open_batches_unguarded(path, format))?;
    let path = path.to_path_buf();
    Ok(Box::new(Guarded::new(batches).map(move |b| {
        b.unwrap_or_else(|message| {
            Err(ServerError::Read {
                path: path.clone(),
                message,
            })
        })
    })))
}

fn open_batches_unguarded(
    path: &Path,
    format: Format,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch, ServerError>> + Send>, ServerError> {
    let io = |e: std::io::Error| ServerError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let owned = path.to_path_buf();
    let read = move |e: arrow::error::ArrowError| ServerError::Read {
        path: owned.clone(),
        message: e.to_string(),
    };
    let file = File::open(path).map_err(io)?;
    match format {
        Format::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| ServerError::Read {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?
                .with_batch_size(READ_BATCH_ROWS)
                .build()
                .map_err(|e| ServerError::Read {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
            Ok(Box::new(reader.map(move |b| b.map_err(&read))))
        }
        Format::Ipc => {
            let mut file = file;
            let mut magic = [0u8; 6];
            let is_file_format = file.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            if is_file_format {
                let reader = arrow::ipc::reader::FileReader::try_new(BufReader::new(file), None)
                    .map_err(&read)?;
                Ok(Box::new(reader.map(move |b| b.map_err(&read))))
            } else {
                let reader = arrow::ipc::reader::StreamReader::try_new(BufReader::new(file), None)
                    .map_err(&read)?;
                Ok(Box::new(reader.map(move |b| b.map_err(&read))))
            }
        }
        Format::Csv => csv_batches(file, path),
    }
}

/// Runs `f`, which decodes `path`; a panic inside becomes a read error naming the file.
pub(crate) fn guarded<T>(
    path: &Path,
    f: impl FnOnce() -> Result<T, ServerError>,
) -> Result<T, ServerError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
        Err(ServerError::Read {
            path: path.to_path_buf(),
            message: corrupted(&panic),
        })
    })
}

/// The message of a decoder's panic.
fn corrupted(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("the decoder failed");
    format!("the file is corrupted ({what})")
}

/// An iterator of a decoder whose panics become `Err(message)` items, after which it ends.
pub(crate) struct Guarded<I> {
    inner: Option<I>,
}

impl<I> Guarded<I> {
    pub(crate) fn new(inner: I) -> Guarded<I> {
        Guarded { inner: Some(inner) }
    }
}

impl<I: Iterator> Iterator for Guarded<I> {
    type Item = Result<I::Item, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let inner = self.inner.as_mut()?;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.next())) {
            Ok(item) => item.map(Ok),
            Err(panic) => {
                self.inner = None;
                Some(Err(corrupted(&panic)))
            }
        }
    }
}

/// Reads the four tables of a dataset folder into memory (not validated yet).
pub fn read_dataset(dir: &Path) -> Result<RawDataset, ServerError> {
    let mut raw = RawDataset::default();
    for f in dataset_files(dir)? {
        *raw.get_mut(f.table) = read_table_as(&f.path, f.format, &f.label)?;
    }
    Ok(raw)
}

/// Reads one table file whole, naming it `label` in messages.
pub fn read_table_as(path: &Path, format: Format, label: &str) -> Result<Source, ServerError> {
    let batches = open_batches(path, format)?.collect::<Result<Vec<_>, _>>()?;
    Ok(Source::new(label.to_string(), batches))
}

/// A CSV file as batches of text columns (types are checked by validation, which then
/// reports every unreadable value with its row). The header is read by the same CSV
/// parser as the rows: a quoted name may hold a comma.
fn csv_batches(
    mut file: File,
    path: &Path,
) -> Result<Box<dyn Iterator<Item = Result<RecordBatch, ServerError>> + Send>, ServerError> {
    let owned = path.to_path_buf();
    let read = move |e: String| ServerError::Read {
        path: owned.clone(),
        message: e,
    };
    let (header, _) = arrow::csv::reader::Format::default()
        .with_header(true)
        .infer_schema(&mut file, Some(0))
        .map_err(|e| read(e.to_string()))?;
    if header.fields().is_empty() {
        return Err(read(
            "the file is empty: a header line naming the columns is required".into(),
        ));
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| ServerError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let fields: Vec<Field> = header
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let name = f.name().trim();
            // A byte-order mark before the first name is not part of it.
            let name = if i == 0 {
                name.trim_start_matches('\u{feff}')
            } else {
                name
            };
            Field::new(name, DataType::Utf8, true)
        })
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let null = regex::Regex::new("^$").expect("a valid regex");
    let csv = arrow::csv::ReaderBuilder::new(schema)
        .with_header(true)
        .with_null_regex(null)
        .with_batch_size(READ_BATCH_ROWS)
        .build(file)
        .map_err(|e| read(e.to_string()))?;
    // Lines are the file's, the header being line 1.
    Ok(Box::new(
        csv.map(move |b| b.map_err(|e| read(e.to_string()))),
    ))
}

/// BLAKE3 of the dataset's files, in table order, as hex: identifies the data a result
/// was computed from (a SIMD hash of several GB/s: a national folder is hashed in a
/// fraction of a second).
pub fn hash_files(dir: &Path) -> Result<String, ServerError> {
    let mut h = blake3::Hasher::new();
    let margins = find_table_opt(dir, TableKind::Margins)?
        .map(|(path, format)| TableFile::new(TableKind::Margins, path, format));
    for f in dataset_files(dir)?.into_iter().chain(margins) {
        let (table, path) = (f.table, f.path);
        let file = File::open(&path).map_err(|e| ServerError::Io {
            path: path.clone(),
            source: e,
        })?;
        h.update(table.name().as_bytes());
        h.update_reader(file).map_err(|e| ServerError::Io {
            path: path.clone(),
            source: e,
        })?;
    }
    Ok(h.finalize().to_hex().to_string())
}

/// Parquet writer properties of result tables: zstd, no wall-clock metadata, so the same
/// result gives the same bytes.
pub fn writer_properties() -> WriterProperties {
    WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(3).expect("a valid level"),
        ))
        .set_created_by(format!("dotation {}", dotation_core::VERSION))
        .build()
}

/// A set of output files written to temporary names and renamed into place together by
/// [`Output::commit`]; dropped without commit, it removes what it wrote.
#[derive(Debug)]
pub struct Output {
    dir: PathBuf,
    pending: Vec<(PathBuf, PathBuf)>,
    committed: bool,
}

impl Output {
    /// Prepares `dir` (created if needed).
    pub fn new(dir: &Path) -> Result<Output, ServerError> {
        std::fs::create_dir_all(dir).map_err(|e| ServerError::Io {
            path: dir.to_path_buf(),
            source: e,
        })?;
        Ok(Output {
            dir: dir.to_path_buf(),
            pending: Vec::new(),
            committed: false,
        })
    }

    fn temp_path(&mut self, name: &str) -> PathBuf {
        let final_path = self.dir.join(name);
        let tmp = self
            .dir
            .join(format!(".{name}.partial-{}", std::process::id()));
        self.pending.push((tmp.clone(), final_path));
        tmp
    }

    /// Opens a streaming Parquet writer for `name`.
    pub fn parquet_writer(
        &mut self,
        name: &str,
        schema: SchemaRef,
    ) -> Result<ArrowWriter<File>, ServerError> {
        let path = self.temp_path(name);
        let file = File::create(&path).map_err(|e| ServerError::Io {
            path: path.clone(),
            source: e,
        })?;
        ArrowWriter::try_new(file, schema, Some(writer_properties())).map_err(|e| {
            ServerError::Write {
                path,
                message: e.to_string(),
            }
        })
    }

    /// Writes one batch as a Parquet file `name`.
    pub fn parquet(&mut self, name: &str, batch: &RecordBatch) -> Result<(), ServerError> {
        let path = self.dir.join(name);
        let mut w = self.parquet_writer(name, batch.schema())?;
        let write = |e: parquet::errors::ParquetError| ServerError::Write {
            path: path.clone(),
            message: e.to_string(),
        };
        w.write(batch).map_err(write)?;
        w.close().map_err(write)?;
        Ok(())
    }

    /// Writes a text file `name` (JSON summaries, truth files).
    pub fn text(&mut self, name: &str, text: &str) -> Result<(), ServerError> {
        let path = self.temp_path(name);
        std::fs::write(&path, text).map_err(|e| ServerError::Io { path, source: e })
    }

    /// Renames every file into place.
    pub fn commit(mut self) -> Result<Vec<PathBuf>, ServerError> {
        let mut done = Vec::new();
        for (tmp, final_path) in std::mem::take(&mut self.pending) {
            std::fs::rename(&tmp, &final_path).map_err(|e| ServerError::Io {
                path: final_path.clone(),
                source: e,
            })?;
            done.push(final_path);
        }
        self.committed = true;
        Ok(done)
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if !self.committed {
            for (tmp, _) in &self.pending {
                let _ = std::fs::remove_file(tmp);
            }
        }
    }
}
