//! Reading import files (CSV or Parquet) as Arrow batches, and turning their columns into
//! the types a dataset stores, with errors that name the file, row and column.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, new_null_array};
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::csv::ReaderBuilder as CsvReaderBuilder;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::{
    ArrowReaderOptions, ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use datafusion::parquet::file::reader::ChunkReader;
use sha2::{Digest, Sha256};

use crate::{CatalogError, Result};

/// Rows per batch read from an import file.
pub const READ_BATCH: usize = 8192;

/// Batches of a Parquet file a user gave (an import file, a labels file), with every
/// failure — a corrupt footer, schema or page — as a message, never a panic: the embedded
/// Arrow schema (`ARROW:schema`) is not decoded (the Parquet schema says enough, and a
/// corrupt one makes the IPC decoder panic), and a panic of the decoder on a corrupt page
/// ends the batches with an error.
pub fn user_parquet<T: ChunkReader + 'static>(
    input: T,
    batch_size: usize,
) -> std::result::Result<(SchemaRef, UserBatches), String> {
    let options = ArrowReaderOptions::new().with_skip_arrow_metadata(true);
    let opened = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(input, options)
            .map_err(|e| e.to_string())?;
        let schema = Arc::clone(builder.schema());
        let reader = builder
            .with_batch_size(batch_size)
            .build()
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((schema, reader))
    }))
    .unwrap_or_else(|_| Err("its metadata is corrupt".into()))?;
    Ok((
        opened.0,
        UserBatches {
            reader: Some(opened.1),
        },
    ))
}

/// The batches of [`user_parquet`].
pub struct UserBatches {
    reader: Option<ParquetRecordBatchReader>,
}

impl Iterator for UserBatches {
    type Item = std::result::Result<RecordBatch, String>;

    fn next(&mut self) -> Option<Self::Item> {
        let reader = self.reader.as_mut()?;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.next())) {
            Ok(Some(Ok(b))) => Some(Ok(b)),
            Ok(Some(Err(e))) => {
                self.reader = None;
                Some(Err(e.to_string()))
            }
            Ok(None) => None,
            Err(_) => {
                self.reader = None;
                Some(Err("a data page is corrupt".into()))
            }
        }
    }
}

/// The format of an import file, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Parquet,
    WebVtt,
    Srt,
}

impl Format {
    /// The format of `path`, or an error naming the supported extensions.
    pub fn of(path: &Path) -> Result<Self> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(Self::Csv),
            "parquet" | "pq" => Ok(Self::Parquet),
            "vtt" => Ok(Self::WebVtt),
            "srt" => Ok(Self::Srt),
            _ => Err(CatalogError::Import {
                file: display(path),
                message: "unsupported file type (use .csv, .parquet, .vtt or .srt)".into(),
            }),
        }
    }
}

/// The file name shown in messages.
pub fn display(path: &Path) -> String {
    path.display().to_string()
}

/// SHA-256 of a file's bytes, hex.
pub fn sha256(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(|e| io_err(path, e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(|e| io_err(path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

pub(crate) fn io_err(path: &Path, e: std::io::Error) -> CatalogError {
    CatalogError::Import {
        file: display(path),
        message: format!("cannot read: {e}"),
    }
}

/// A tabular import file read batch by batch. CSV columns are all read as text and parsed
/// by the importer, so that a bad value is reported with its row and column.
pub struct InputFile {
    pub name: String,
    pub schema: SchemaRef,
    batches: Box<dyn Iterator<Item = Result<RecordBatch>>>,
    /// Rows returned so far (row numbers in messages are 1-based data rows).
    pub rows_read: usize,
}

impl InputFile {
    /// Opens a CSV (with a header line) or Parquet file.
    pub fn open(path: &Path) -> Result<Self> {
        let name = display(path);
        let file = File::open(path).map_err(|e| io_err(path, e))?;
        match Format::of(path)? {
            Format::Parquet => {
                let (schema, reader) = user_parquet(file, READ_BATCH)
                    .map_err(|e| import_err(&name, format!("not a readable Parquet file: {e}")))?;
                let n = name.clone();
                Ok(Self {
                    name,
                    schema,
                    batches: Box::new(
                        reader.map(move |b| {
                            b.map_err(|e| import_err(&n, format!("cannot read: {e}")))
                        }),
                    ),
                    rows_read: 0,
                })
            }
            Format::Csv => {
                let mut header = String::new();
                let mut reader = BufReader::new(file);
                std::io::BufRead::read_line(&mut reader, &mut header)
                    .map_err(|e| io_err(path, e))?;
                let names = parse_csv_header(&header);
                if names.is_empty() || names.iter().all(|n| n.is_empty()) {
                    return Err(import_err(
                        &name,
                        "empty CSV file: a header line is required",
                    ));
                }
                let schema = Arc::new(Schema::new(
                    names
                        .iter()
                        .map(|n| Field::new(n, DataType::Utf8, true))
                        .collect::<Vec<_>>(),
                ));
                let file = File::open(path).map_err(|e| io_err(path, e))?;
                let reader = CsvReaderBuilder::new(Arc::clone(&schema))
                    .with_header(true)
                    .with_batch_size(READ_BATCH)
                    .build(file)
                    .map_err(|e| import_err(&name, format!("cannot read CSV: {e}")))?;
                let n = name.clone();
                Ok(Self {
                    name,
                    schema,
                    batches: Box::new(reader.map(move |b| {
                        b.map_err(|e| import_err(&n, format!("malformed CSV: {e}")))
                    })),
                    rows_read: 0,
                })
            }
            Format::WebVtt | Format::Srt => Err(import_err(
                &name,
                "subtitle files are transcripts: import them with --transcripts",
            )),
        }
    }

    /// Fails unless every named column exists.
    pub fn require(&self, columns: &[&str]) -> Result<()> {
        for c in columns {
            if self.schema.index_of(c).is_err() {
                return Err(import_err(
                    &self.name,
                    format!(
                        "missing required column '{c}' (columns present: {})",
                        self.schema
                            .fields()
                            .iter()
                            .map(|f| f.name().as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The next batch and the 1-based row number of its first row.
    pub fn next_batch(&mut self) -> Option<Result<(usize, RecordBatch)>> {
        let batch = self.batches.next()?;
        Some(batch.map(|b| {
            let first = self.rows_read + 1;
            self.rows_read += b.num_rows();
            (first, b)
        }))
    }
}

fn parse_csv_header(line: &str) -> Vec<String> {
    line.trim_end_matches(['\r', '\n'])
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .collect()
}

pub(crate) fn import_err(file: &str, message: impl Into<String>) -> CatalogError {
    CatalogError::Import {
        file: file.to_string(),
        message: message.into(),
    }
}

/// A column of a batch converted to a target type; `None` if the file lacks the column.
/// Failures name the file, the first bad row and the column.
pub fn column(
    file: &str,
    batch: &RecordBatch,
    first_row: usize,
    name: &str,
    to: &DataType,
    required: bool,
) -> Result<Option<ArrayRef>> {
    let Ok(idx) = batch.schema().index_of(name) else {
        return Ok(None);
    };
    let array = batch.column(idx);
    let converted = if array.data_type() == to {
        Arc::clone(array)
    } else if matches!(array.data_type(), DataType::Utf8 | DataType::LargeUtf8)
        && to == &DataType::Int64
    {
        parse_ints(file, array, first_row, name)?
    } else {
        let opts = CastOptions {
            safe: true,
            ..CastOptions::default()
        };
        let out = cast_with_options(array, to, &opts).map_err(|_| {
            import_err(
                file,
                format!("column '{name}': cannot use {} as {to}", array.data_type()),
            )
        })?;
        if let Some(bad) = (0..out.len()).find(|&i| out.is_null(i) && !array.is_null(i)) {
            return Err(import_err(
                file,
                format!(
                    "row {}, column '{name}': value cannot be read as {to}",
                    first_row + bad
                ),
            ));
        }
        out
    };
    if required && let Some(bad) = (0..converted.len()).find(|&i| converted.is_null(i)) {
        return Err(import_err(
            file,
            format!("row {}, column '{name}': missing value", first_row + bad),
        ));
    }
    Ok(Some(converted))
}

/// Parses text as integers (milliseconds, indexes), empty text as null.
fn parse_ints(file: &str, array: &ArrayRef, first_row: usize, name: &str) -> Result<ArrayRef> {
    let text = cast_with_options(array, &DataType::Utf8, &CastOptions::default())
        .map_err(|e| import_err(file, format!("column '{name}': {e}")))?;
    let text = text.as_string::<i32>();
    let mut out = Vec::with_capacity(text.len());
    for (i, v) in text.iter().enumerate() {
        out.push(match v.map(str::trim) {
            None | Some("") => None,
            Some(s) => Some(
                s.parse::<i64>()
                    .or_else(|_| s.parse::<f64>().map(|f| f.round() as i64))
                    .map_err(|_| {
                        import_err(
                            file,
                            format!(
                                "row {}, column '{name}': '{s}' is not a whole number",
                                first_row + i
                            ),
                        )
                    })?,
            ),
        });
    }
    Ok(Arc::new(Int64Array::from(out)))
}

/// A string column, or all nulls if absent.
pub fn strings_or_null(
    file: &str,
    batch: &RecordBatch,
    first: usize,
    name: &str,
) -> Result<ArrayRef> {
    Ok(column(file, batch, first, name, &DataType::Utf8, false)?
        .unwrap_or_else(|| new_null_array(&DataType::Utf8, batch.num_rows())))
}
