//! Files in and out: the four input tables read from Parquet, CSV or Arrow IPC; result
//! tables written as Parquet, never half-written (each file goes to a temporary name and
//! is renamed into place only once every file of the result is complete).
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
use dotation_core::schema::TableKind;
use dotation_core::validate::{RawDataset, Source};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;
use sha2::{Digest, Sha256};

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

/// Rows per batch when reading.
const READ_BATCH_ROWS: usize = 1 << 16;

/// Finds the file of `table` in `dir`: exactly one of `TABLE.parquet`, `.csv`, `.arrow`…
pub fn find_table(dir: &Path, table: TableKind) -> Result<(PathBuf, Format), ServerError> {
    let found: Vec<(PathBuf, Format)> = EXTENSIONS
        .iter()
        .map(|(ext, f)| (dir.join(format!("{}.{ext}", table.name())), *f))
        .filter(|(p, _)| p.is_file())
        .collect();
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one file")),
        0 => Err(ServerError::MissingTable {
            dir: dir.to_path_buf(),
            table: table.name(),
        }),
        _ => Err(ServerError::AmbiguousTable {
            dir: dir.to_path_buf(),
            table: table.name(),
            files: found.iter().map(|(p, _)| p.display().to_string()).collect(),
        }),
    }
}

/// Reads the four tables of a dataset folder (not validated yet).
pub fn read_dataset(dir: &Path) -> Result<RawDataset, ServerError> {
    if !dir.is_dir() {
        return Err(ServerError::NotADirectory(dir.to_path_buf()));
    }
    let mut raw = RawDataset::default();
    for table in TableKind::ALL {
        let (path, format) = find_table(dir, table)?;
        *raw.get_mut(table) = read_table(&path, format, table)?;
    }
    Ok(raw)
}

/// Reads one table file.
pub fn read_table(path: &Path, format: Format, table: TableKind) -> Result<Source, ServerError> {
    let io = |e: std::io::Error| ServerError::Io {
        path: path.to_path_buf(),
        source: e,
    };
    let read = |e: String| ServerError::Read {
        path: path.to_path_buf(),
        message: e,
    };
    let file = File::open(path).map_err(io)?;
    let batches = match format {
        Format::Parquet => {
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(|e| read(e.to_string()))?
                .with_batch_size(READ_BATCH_ROWS)
                .build()
                .map_err(|e| read(e.to_string()))?;
            reader
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| read(e.to_string()))?
        }
        Format::Ipc => {
            let mut file = file;
            let mut magic = [0u8; 6];
            let is_file_format = file.read_exact(&mut magic).is_ok() && &magic == b"ARROW1";
            file.seek(SeekFrom::Start(0)).map_err(io)?;
            if is_file_format {
                let reader = arrow::ipc::reader::FileReader::try_new(BufReader::new(file), None)
                    .map_err(|e| read(e.to_string()))?;
                reader
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| read(e.to_string()))?
            } else {
                let reader = arrow::ipc::reader::StreamReader::try_new(BufReader::new(file), None)
                    .map_err(|e| read(e.to_string()))?;
                reader
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| read(e.to_string()))?
            }
        }
        Format::Csv => read_csv(file, path)?,
    };
    let _ = table;
    Ok(Source::new(path.display().to_string(), batches))
}

fn read_csv(file: File, path: &Path) -> Result<Vec<RecordBatch>, ServerError> {
    let read = |e: String| ServerError::Read {
        path: path.to_path_buf(),
        message: e,
    };
    let mut reader = BufReader::new(file);
    let mut header = String::new();
    std::io::BufRead::read_line(&mut reader, &mut header).map_err(|e| ServerError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let header = header
        .trim_end_matches(['\r', '\n'])
        .trim_start_matches('\u{feff}');
    if header.is_empty() {
        return Err(read(
            "the file is empty: a header line naming the columns is required".into(),
        ));
    }
    let fields: Vec<Field> = header
        .split(',')
        .map(|name| Field::new(name.trim().trim_matches('"'), DataType::Utf8, true))
        .collect();
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    let null = regex::Regex::new("^$").expect("a valid regex");
    let csv = arrow::csv::ReaderBuilder::new(schema)
        .with_header(false)
        .with_null_regex(null)
        .with_batch_size(READ_BATCH_ROWS)
        .build(reader)
        .map_err(|e| read(e.to_string()))?;
    csv.collect::<Result<Vec<_>, _>>().map_err(|e| {
        read(format!(
            "{e} (line numbers count from the line after the header)"
        ))
    })
}

/// SHA-256 of the dataset's files, in table order, as hex: identifies the data a result
/// was computed from.
pub fn hash_files(dir: &Path) -> Result<String, ServerError> {
    let mut h = Sha256::new();
    for table in TableKind::ALL {
        let (path, _) = find_table(dir, table)?;
        let mut f = File::open(&path).map_err(|e| ServerError::Io {
            path: path.clone(),
            source: e,
        })?;
        h.update(table.name().as_bytes());
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = f.read(&mut buf).map_err(|e| ServerError::Io {
                path: path.clone(),
                source: e,
            })?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex::encode(h.finalize()))
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
