//! Parquet on the store. Writing is streamed (multipart upload, atomic on completion), with
//! settings suited to each column (no dictionary or statistics for embeddings); reading
//! fetches only the byte ranges the reader asks for.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions;
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::errors::ParquetError;
use datafusion::parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};
use futures::future::BoxFuture;
use futures::{FutureExt, TryStreamExt};
use object_store::buffered::BufWriter;
use object_store::{ObjectStore, ObjectStoreExt};

use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::{
    AsyncArrowWriter, ParquetRecordBatchStreamBuilder, ProjectionMask,
};
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use object_store::path::Path;

use super::Store;
use crate::{CatalogError, Result};

/// A Parquet file on the store, as manifests list it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DataFile {
    /// Path relative to the data root.
    pub path: String,
    /// Number of rows.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// Writes one Parquet file; nothing is visible at `path` until [`FileWriter::finish`].
pub struct FileWriter {
    path: Path,
    writer: AsyncArrowWriter<BufWriter>,
    rows: u64,
}

impl FileWriter {
    /// Starts a file of `schema` at `path`, with row groups of `row_group_rows`.
    pub fn create(
        store: &Store,
        path: Path,
        schema: SchemaRef,
        row_group_rows: usize,
    ) -> Result<Self> {
        let mut props = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_max_row_group_row_count(Some(row_group_rows));
        for f in schema.fields() {
            if matches!(
                f.data_type(),
                DataType::FixedSizeList(..) | DataType::List(_)
            ) {
                let col = ColumnPath::new(vec![f.name().clone(), "list".into(), "item".into()]);
                let col_fsl =
                    ColumnPath::new(vec![f.name().clone(), "list".into(), "element".into()]);
                for c in [col, col_fsl] {
                    props = props
                        .set_column_dictionary_enabled(c.clone(), false)
                        .set_column_compression(c.clone(), Compression::UNCOMPRESSED)
                        .set_column_statistics_enabled(c, EnabledStatistics::None);
                }
            }
            // Encoded embeddings (see `encoding.rs`): incompressible, and never filtered on.
            if matches!(f.data_type(), DataType::FixedSizeBinary(_)) {
                let c = ColumnPath::new(vec![f.name().clone()]);
                props = props
                    .set_column_dictionary_enabled(c.clone(), false)
                    .set_column_compression(c.clone(), Compression::UNCOMPRESSED)
                    .set_column_statistics_enabled(c, EnabledStatistics::None);
            }
        }
        let object = BufWriter::new(store.object_store(), path.clone());
        let writer = AsyncArrowWriter::try_new(object, schema, Some(props.build()))
            .map_err(|e| CatalogError::engine(format!("writing {path}"), e))?;
        Ok(Self {
            path,
            writer,
            rows: 0,
        })
    }

    /// Appends a batch.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        self.rows += batch.num_rows() as u64;
        self.writer
            .write(batch)
            .await
            .map_err(|e| CatalogError::engine(format!("writing {}", self.path), e))
    }

    /// Rows written so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Completes the file and returns its manifest entry.
    pub async fn finish(self) -> Result<DataFile> {
        let path = self.path;
        self.writer
            .close()
            .await
            .map_err(|e| CatalogError::engine(format!("writing {path}"), e))?;
        Ok(DataFile {
            path: path.to_string(),
            rows: self.rows,
            bytes: 0,
        })
    }
}

/// Fills in the sizes of freshly written files (object stores report them on `head`).
pub async fn with_sizes(store: &Store, files: Vec<DataFile>) -> Result<Vec<DataFile>> {
    let os: Arc<dyn ObjectStore> = store.object_store();
    let mut out = Vec::with_capacity(files.len());
    for mut f in files {
        let path = Path::from(f.path.as_str());
        let meta = os.head(&path).await.map_err(|e| CatalogError::Storage {
            path: f.path.clone(),
            source: e,
        })?;
        f.bytes = meta.size;
        out.push(f);
    }
    Ok(out)
}

/// Writes batches into Parquet files of at most `file_rows` rows each, opening the next
/// file (named by `name(index)`) when one is full: the one writer of every table stored as
/// several files (imported tables, `dt_` score tables).
pub struct RollingWriter {
    store: Store,
    schema: SchemaRef,
    file_rows: usize,
    row_group_rows: usize,
    name: Box<dyn FnMut(usize) -> Path + Send + Sync>,
    current: Option<FileWriter>,
    files: Vec<DataFile>,
    opened: Vec<Path>,
}

impl RollingWriter {
    /// A writer of `schema` into files of `file_rows` rows (row groups of
    /// `row_group_rows`), the `i`-th at `name(i)`.
    pub fn new(
        store: &Store,
        schema: SchemaRef,
        file_rows: usize,
        row_group_rows: usize,
        name: impl FnMut(usize) -> Path + Send + Sync + 'static,
    ) -> Self {
        Self {
            store: store.clone(),
            schema,
            file_rows: file_rows.max(1),
            row_group_rows,
            name: Box::new(name),
            current: None,
            files: Vec::new(),
            opened: Vec::new(),
        }
    }

    /// The schema of the files.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The paths of the files opened since the last call, finished or not: what a failed
    /// write leaves behind, for the caller to clean up.
    pub fn take_opened(&mut self) -> Vec<Path> {
        std::mem::take(&mut self.opened)
    }

    /// Appends `batch`, splitting it where a file fills up.
    pub async fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let mut offset = 0;
        while offset < batch.num_rows() {
            let mut w = match self.current.take() {
                Some(w) => w,
                None => {
                    let path = (self.name)(self.files.len());
                    self.opened.push(path.clone());
                    FileWriter::create(
                        &self.store,
                        path,
                        Arc::clone(&self.schema),
                        self.row_group_rows,
                    )?
                }
            };
            let n = (self.file_rows - w.rows() as usize).min(batch.num_rows() - offset);
            w.write(&batch.slice(offset, n)).await?;
            offset += n;
            if w.rows() as usize >= self.file_rows {
                self.files.push(w.finish().await?);
            } else {
                self.current = Some(w);
            }
        }
        Ok(())
    }

    /// Closes the last file and returns them all, with their sizes.
    pub async fn finish(mut self) -> Result<Vec<DataFile>> {
        if let Some(w) = self.current.take()
            && w.rows() > 0
        {
            self.files.push(w.finish().await?);
        }
        with_sizes(&self.store, self.files).await
    }
}

/// Reads the named columns of a stored file.
pub async fn read_columns(
    store: &Store,
    file: &DataFile,
    columns: &[&str],
) -> Result<Vec<RecordBatch>> {
    let path = Path::from(file.path.as_str());
    let ctx = |e| CatalogError::engine(format!("reading {path}"), e);
    let reader = StoreReader::new(store, file);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(ctx)?;
    let schema = builder.schema().clone();
    let indices: Vec<usize> = columns
        .iter()
        .map(|c| schema.index_of(c).map_err(|e| ctx(e.into())))
        .collect::<Result<_>>()?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), indices);
    builder
        .with_projection(mask)
        .build()
        .map_err(ctx)?
        .try_collect()
        .await
        .map_err(ctx)
}

/// Writes `batches` as one file (used for small tables rewritten whole).
pub async fn write_file(
    store: &Store,
    path: Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> Result<DataFile> {
    let mut w = FileWriter::create(store, path, Arc::clone(&schema), 1 << 20)?;
    for b in batches {
        w.write(b).await?;
    }
    let f = w.finish().await?;
    Ok(with_sizes(store, vec![f]).await?.remove(0))
}

/// An [`AsyncFileReader`] over a file of the store whose size is known (from a manifest).
#[derive(Debug, Clone)]
pub struct StoreReader {
    store: Arc<dyn ObjectStore>,
    path: Path,
    size: u64,
}

impl StoreReader {
    /// A reader of `file` (path relative to the data root).
    pub fn new(store: &Store, file: &DataFile) -> Self {
        Self {
            store: store.object_store(),
            path: Path::from(file.path.as_str()),
            size: file.bytes,
        }
    }
}

fn parquet_err(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(
        &mut self,
        range: Range<u64>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Bytes>> {
        async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(parquet_err)
        }
        .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<Range<u64>>,
    ) -> BoxFuture<'_, datafusion::parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(parquet_err)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, datafusion::parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}
