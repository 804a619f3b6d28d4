//! Answers as HTTP bodies, chosen by the `Accept` header and streamed batch by batch: JSON
//! (an object with the columns and the rows), NDJSON (one object per row), CSV, an Arrow
//! IPC stream, or a Parquet file (row groups sent as they fill, the footer last).

use axum::body::{Body, Bytes};
use axum::http::HeaderMap;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::compute::concat_batches;
use datafusion::arrow::csv::WriterBuilder as CsvWriterBuilder;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::arrow::json::LineDelimitedWriter;
use datafusion::parquet::arrow::ArrowWriter;
use futures::StreamExt;

use super::super::BatchStream;
use super::super::errors::ServeError;

/// A response format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    NdJson,
    Csv,
    Arrow,
    Parquet,
}

pub const ARROW_STREAM: &str = "application/vnd.apache.arrow.stream";
pub const PARQUET: &str = "application/vnd.apache.parquet";

impl Format {
    /// The format the `Accept` header asks for (JSON when it does not say).
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ServeError> {
        let Some(accept) = headers.get("accept").and_then(|v| v.to_str().ok()) else {
            return Ok(Self::Json);
        };
        for part in accept.split(',') {
            let mime = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match mime.as_str() {
                "application/json" | "*/*" | "application/*" => return Ok(Self::Json),
                "application/x-ndjson" | "application/jsonl" => return Ok(Self::NdJson),
                "text/csv" | "text/*" => return Ok(Self::Csv),
                ARROW_STREAM | "application/vnd.apache.arrow" => return Ok(Self::Arrow),
                PARQUET | "application/x-parquet" => return Ok(Self::Parquet),
                _ => {}
            }
        }
        Err(ServeError::invalid(format!(
            "cannot answer in '{accept}': accept application/json, application/x-ndjson, text/csv, {ARROW_STREAM} or {PARQUET}"
        )))
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::NdJson => "application/x-ndjson",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Arrow => ARROW_STREAM,
            Self::Parquet => PARQUET,
        }
    }
}

enum Encoder {
    Json { first_row: bool, rows: usize },
    NdJson,
    Csv { header: bool },
    Arrow(Box<StreamWriter<Vec<u8>>>),
    Parquet(Box<ArrowWriter<Vec<u8>>>),
}

/// A Parquet row group is sent once it holds this many bytes.
const PARQUET_ROW_GROUP_BYTES: usize = 32 << 20;

fn parquet_error(e: datafusion::parquet::errors::ParquetError) -> ServeError {
    use datafusion::parquet::errors::ParquetError;
    match e {
        ParquetError::NYI(m) | ParquetError::ArrowError(m) => {
            ServeError::invalid(format!("this answer cannot be written as Parquet: {m}"))
        }
        e => ServeError::internal(format!("encoding Parquet: {e}")),
    }
}

impl Encoder {
    fn new(format: Format, schema: &SchemaRef) -> Result<(Self, Vec<u8>), ServeError> {
        Ok(match format {
            Format::Json => {
                let columns: Vec<_> = schema
                    .fields()
                    .iter()
                    .map(|f| serde_json::json!({ "name": f.name(), "type": f.data_type().to_string() }))
                    .collect();
                let head = format!(
                    "{{\"columns\":{},\"rows\":[",
                    serde_json::Value::Array(columns)
                );
                (
                    Self::Json {
                        first_row: true,
                        rows: 0,
                    },
                    head.into_bytes(),
                )
            }
            Format::NdJson => (Self::NdJson, Vec::new()),
            Format::Csv => (Self::Csv { header: true }, Vec::new()),
            Format::Arrow => {
                let mut w = StreamWriter::try_new(Vec::new(), schema)?;
                let head = std::mem::take(w.get_mut());
                (Self::Arrow(Box::new(w)), head)
            }
            Format::Parquet => {
                let mut w = ArrowWriter::try_new(Vec::new(), schema.clone(), None)
                    .map_err(parquet_error)?;
                let head = std::mem::take(w.inner_mut());
                (Self::Parquet(Box::new(w)), head)
            }
        })
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, ServeError> {
        match self {
            Self::Json { first_row, rows } => {
                let lines = ndjson(batch)?;
                let mut out = Vec::with_capacity(lines.len() + 8);
                for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    if !*first_row {
                        out.push(b',');
                    }
                    *first_row = false;
                    out.extend_from_slice(line);
                }
                *rows += batch.num_rows();
                Ok(out)
            }
            Self::NdJson => ndjson(batch),
            Self::Csv { header } => {
                let mut w = CsvWriterBuilder::new()
                    .with_header(*header)
                    .build(Vec::new());
                w.write(batch)?;
                *header = false;
                Ok(w.into_inner())
            }
            Self::Arrow(w) => {
                w.write(batch)?;
                Ok(std::mem::take(w.get_mut()))
            }
            Self::Parquet(w) => {
                w.write(batch).map_err(parquet_error)?;
                if w.in_progress_size() >= PARQUET_ROW_GROUP_BYTES {
                    w.flush().map_err(parquet_error)?;
                }
                Ok(std::mem::take(w.inner_mut()))
            }
        }
    }

    fn finish(&mut self) -> Result<Vec<u8>, ServeError> {
        match self {
            Self::Json { rows, .. } => Ok(format!("],\"row_count\":{rows}}}").into_bytes()),
            Self::NdJson | Self::Csv { .. } => Ok(Vec::new()),
            Self::Arrow(w) => {
                w.finish()?;
                Ok(std::mem::take(w.get_mut()))
            }
            Self::Parquet(w) => {
                w.finish().map_err(parquet_error)?;
                Ok(std::mem::take(w.inner_mut()))
            }
        }
    }

    /// What to send when the query fails after the response started: JSON formats end
    /// with the error; CSV and Arrow abort the body (the client sees a broken transfer).
    fn error(&mut self, e: &ServeError) -> Option<Vec<u8>> {
        let err = serde_json::json!({ "code": e.code.name(), "message": e.message });
        match self {
            Self::Json { .. } => Some(format!("],\"error\":{err}}}").into_bytes()),
            Self::NdJson => Some(format!("{}\n", serde_json::json!({ "error": err })).into_bytes()),
            _ => None,
        }
    }
}

fn ndjson(batch: &RecordBatch) -> Result<Vec<u8>, ServeError> {
    let mut w = LineDelimitedWriter::new(Vec::new());
    w.write(batch)?;
    w.finish()?;
    Ok(w.into_inner())
}

/// The refusal of a JSON answer past the row limit.
pub fn too_many_rows(max: usize) -> String {
    format!(
        "the answer has more than {max} rows, the most a JSON answer holds (--max-json-rows); ask for \
         application/x-ndjson, text/csv or {ARROW_STREAM} (Accept header), or add a LIMIT"
    )
}

/// Rows a coalesced batch holds (about; batches of half as many or more pass as they are).
const COALESCE_ROWS: usize = 8192;

/// `batches` with the small ones that are ready together joined (into about
/// [`COALESCE_ROWS`] rows): a join or a LIMIT can yield thousands of batches of a few rows,
/// each costing a message header and, in a browser, a pass of the reader. The first batch
/// passes alone, and what is buffered leaves as soon as the next batch is not ready yet, so
/// rows are never held back waiting; at most [`COALESCE_ROWS`] rows are buffered.
fn coalesce(mut batches: BatchStream, schema: SchemaRef) -> BatchStream {
    use std::task::Poll;
    let mut buffer: Vec<RecordBatch> = Vec::new();
    let mut rows = 0;
    let mut first = true;
    let mut held_error: Option<ServeError> = None;
    let mut ended = false;
    Box::pin(futures::stream::poll_fn(move |cx| {
        let flush = |buffer: &mut Vec<RecordBatch>, rows: &mut usize| {
            *rows = 0;
            let joined = if buffer.len() == 1 {
                Ok(buffer.pop().expect("one batch"))
            } else {
                concat_batches(&schema, buffer.iter()).map_err(ServeError::from)
            };
            buffer.clear();
            Poll::Ready(Some(joined))
        };
        if let Some(e) = held_error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        loop {
            if ended {
                return if buffer.is_empty() {
                    Poll::Ready(None)
                } else {
                    flush(&mut buffer, &mut rows)
                };
            }
            match batches.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(b))) => {
                    if std::mem::take(&mut first)
                        || (buffer.is_empty() && b.num_rows() >= COALESCE_ROWS / 2)
                    {
                        return Poll::Ready(Some(Ok(b)));
                    }
                    rows += b.num_rows();
                    buffer.push(b);
                    if rows >= COALESCE_ROWS {
                        return flush(&mut buffer, &mut rows);
                    }
                }
                Poll::Ready(Some(Err(e))) => {
                    if buffer.is_empty() {
                        return Poll::Ready(Some(Err(e)));
                    }
                    held_error = Some(e);
                    return flush(&mut buffer, &mut rows);
                }
                Poll::Ready(None) => ended = true,
                Poll::Pending if buffer.is_empty() => return Poll::Pending,
                Poll::Pending => return flush(&mut buffer, &mut rows),
            }
        }
    }))
}

/// A body that encodes `batches` as they arrive. A JSON answer (one document) stops with an
/// error after `max_json_rows` rows; the streaming formats have no such limit.
pub fn body(
    format: Format,
    schema: SchemaRef,
    batches: BatchStream,
    max_json_rows: usize,
) -> Result<Body, ServeError> {
    let (encoder, head) = Encoder::new(format, &schema)?;
    let batches = coalesce(batches, schema.clone());
    struct State {
        encoder: Encoder,
        batches: BatchStream,
        head: Option<Vec<u8>>,
        done: bool,
        rows: usize,
        max_rows: usize,
    }
    let state = State {
        encoder,
        batches,
        head: Some(head),
        done: false,
        rows: 0,
        max_rows: if format == Format::Json {
            max_json_rows
        } else {
            usize::MAX
        },
    };
    let stream = futures::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        let mut chunk = s.head.take().unwrap_or_default();
        match s.batches.next().await {
            Some(Ok(batch)) if s.rows + batch.num_rows() > s.max_rows => {
                // Ends the document with the error; dropping the batches cancels the query.
                s.done = true;
                let e = ServeError::new(
                    super::super::errors::Code::ResourceExhausted,
                    too_many_rows(s.max_rows),
                );
                s.batches = Box::pin(futures::stream::empty());
                if let Some(tail) = s.encoder.error(&e) {
                    chunk.extend(tail);
                }
            }
            Some(Ok(batch)) => match s.encoder.batch(&batch) {
                Ok(bytes) => {
                    s.rows += batch.num_rows();
                    chunk.extend(bytes)
                }
                Err(e) => return Some((Err(e), State { done: true, ..s })),
            },
            Some(Err(e)) => {
                s.done = true;
                return match s.encoder.error(&e) {
                    Some(tail) => {
                        chunk.extend(tail);
                        Some((Ok(Bytes::from(chunk)), s))
                    }
                    None => Some((Err(e), s)),
                };
            }
            None => {
                s.done = true;
                match s.encoder.finish() {
                    Ok(tail) => chunk.extend(tail),
                    Err(e) => return Some((Err(e), s)),
                }
            }
        }
        Some((Ok(Bytes::from(chunk)), s))
    });
    Ok(Body::from_stream(stream))
}
