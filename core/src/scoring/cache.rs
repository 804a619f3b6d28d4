//! The resident table cache: decoded Arrow batches of the embedding tables, kept in memory
//! within a byte budget.
//!
//! Which files stay is decided by how often they are asked for (counts that halve now and
//! then, so that a library's new hot set takes over): a file read while the cache is full
//! replaces resident files only if it has been asked for more often than they have, least
//! recently used first among equals; otherwise it is read and not kept. So a table larger
//! than the budget, scanned again and again, keeps the same files resident and reads only
//! the rest at each scan — where least-recently-used eviction would throw out each file just
//! before the scan comes back to it, and read the whole table every time.
//!
//! Embedding columns are fixed-size lists in Parquet, whose decoding costs far more than
//! the scoring itself; like an in-memory database table, a file is decoded once and then
//! served from memory. Data files are immutable (every write makes a new file), so a
//! cached file is never stale. A file larger than the whole budget is streamed instead.
//!
//! The cache also keeps per-row values *derived* from a cached batch's embeddings (the
//! background log-sum-exp of a model, which every tag of a modality shares), so that a
//! query scoring one tag does one dot product per row. A function that receives an
//! embedding array finds its cached batch by the address of the array's values: the cache
//! holds that memory, so while the batch is registered no other array can live there.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::OnceCell;

use crate::model::dataset::DataFile;
use crate::model::dataset::encoding::decode_batch;
use crate::model::dataset::schema::col;
use crate::model::dataset::vectors::{Vectors, vectors};
use crate::store::Store;
use crate::{CatalogError, Result};

/// Rows per cached batch of a file holding embeddings (2 KiB a row at 512 float32s).
pub const BATCH_ROWS: usize = 8192;
/// Rows per cached batch of a file without embeddings (a score table: ~70 bytes a row).
/// Larger batches cost a plan nothing and let Flight send their columns without copying
/// them into frames (`src/server/flight/stream.rs`).
pub const NARROW_BATCH_ROWS: usize = 1 << 16;

/// Rows per batch for a file of `schema`: [`BATCH_ROWS`] when it holds embeddings (by
/// name, or any column of vectors or bytes).
fn batch_rows(schema: &Schema) -> usize {
    let wide = schema.column_with_name(col::EMBEDDING).is_some()
        || schema.fields().iter().any(|f| {
            matches!(
                f.data_type(),
                DataType::FixedSizeList(..)
                    | DataType::FixedSizeBinary(_)
                    | DataType::List(_)
                    | DataType::LargeList(_)
                    | DataType::Binary
                    | DataType::LargeBinary
                    | DataType::BinaryView
                    | DataType::Struct(_)
            )
        });
    if wide { BATCH_ROWS } else { NARROW_BATCH_ROWS }
}

/// Derived per-row values: key → one array per batch.
type Derived = HashMap<String, Vec<Option<Arc<[f32]>>>>;

/// A decoded file and the values derived from it.
#[derive(Debug)]
pub struct Loaded {
    /// The file's batches.
    pub batches: Arc<Vec<RecordBatch>>,
    derived: Mutex<Derived>,
}

#[derive(Debug)]
struct Entry {
    cell: Arc<OnceCell<Arc<Loaded>>>,
    bytes: usize,
    last_use: u64,
}

/// Where a cached batch's embedding values live in memory.
#[derive(Debug, Clone)]
struct Region {
    end: usize,
    dim: usize,
    /// Bytes per value.
    width: usize,
    batch: usize,
    file: String,
    loaded: Weak<Loaded>,
}

/// Counts of requests halve after this many requests per file counted (at least
/// [`MIN_AGING`]).
const AGING_PER_FILE: u64 = 8;
const MIN_AGING: u64 = 1024;

#[derive(Debug, Default)]
struct State {
    entries: HashMap<String, Entry>,
    used: usize,
    clock: u64,
    /// How often each file was asked for, resident or not (halved every so often).
    asked: HashMap<String, u32>,
    /// Requests since the counts last halved.
    since_aging: u64,
    /// Start address of each cached batch's embedding values → the batch.
    regions: BTreeMap<usize, Region>,
    /// What each file loaded so far decoded to (admission counts that, once known, rather
    /// than the stored bytes).
    decoded: HashMap<String, usize>,
}

/// Decoded files by path, within a byte budget.
#[derive(Debug)]
pub struct TableCache {
    budget: usize,
    state: Mutex<State>,
}

impl TableCache {
    /// A cache holding at most `budget` bytes of decoded batches.
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            state: Mutex::new(State::default()),
        }
    }

    /// Whether a file can be held at all: its decoded size once it has been loaded, its
    /// stored size until then (a file loaded once and found larger than the budget is
    /// streamed afterwards).
    pub fn fits(&self, file: &DataFile) -> bool {
        self.lock().need(file) <= self.budget
    }

    /// The batches of `path` if the cache holds them now (without loading or counting a
    /// request).
    pub fn peek(&self, path: &str) -> Option<Arc<Vec<RecordBatch>>> {
        let st = self.lock();
        let loaded = st.entries.get(path)?.cell.get()?;
        Some(Arc::clone(&loaded.batches))
    }

    /// Lets go of files the current revision no longer names (those a conversion replaced),
    /// and of how often they were asked for, so that their successors take their place at
    /// once. A reader of the revision before that asks for one again loads it again.
    pub fn forget<'a>(&self, paths: impl IntoIterator<Item = &'a str>) {
        let mut st = self.lock();
        for p in paths {
            st.evict(p);
            st.asked.remove(p);
            st.decoded.remove(p);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The decoded batches of `file`, loading them on first use. Concurrent callers of
    /// the same file share one load. Returns `None` if the file exceeds the budget.
    pub async fn get(
        &self,
        store: &Store,
        file: &DataFile,
    ) -> Result<Option<Arc<Vec<RecordBatch>>>> {
        Ok(self
            .get_loaded(store, file)
            .await?
            .map(|l| Arc::clone(&l.batches)))
    }

    async fn get_loaded(&self, store: &Store, file: &DataFile) -> Result<Option<Arc<Loaded>>> {
        if !self.fits(file) {
            return Ok(None);
        }
        let cell = {
            let mut st = self.lock();
            st.clock += 1;
            let clock = st.clock;
            let asked = st.ask(&file.path);
            if let Some(e) = st.entries.get_mut(&file.path) {
                e.last_use = clock;
                Arc::clone(&e.cell)
            } else {
                let need = st.need(file);
                if st.used + need > self.budget {
                    let Some(victims) = st.victims(need, self.budget, asked) else {
                        return Ok(None);
                    };
                    for v in victims {
                        st.evict(&v);
                    }
                }
                let cell = Arc::new(OnceCell::new());
                st.used += need;
                st.entries.insert(
                    file.path.clone(),
                    Entry {
                        cell: Arc::clone(&cell),
                        bytes: need,
                        last_use: clock,
                    },
                );
                cell
            }
        };
        let loaded = cell
            .get_or_try_init(|| async {
                let batches = read_file(store, file).await?;
                let held = batches.iter().map(RecordBatch::get_array_memory_size).sum();
                let loaded = Arc::new(Loaded {
                    derived: Mutex::new(HashMap::new()),
                    batches: Arc::new(batches),
                });
                self.register(&file.path, &loaded);
                self.settle(&file.path, held);
                Ok::<_, CatalogError>(loaded)
            })
            .await;
        match loaded {
            Ok(l) => Ok(Some(Arc::clone(l))),
            Err(e) => {
                self.lock().evict(&file.path);
                Err(e)
            }
        }
    }

    /// Counts what the decoded batches of `path` hold against the budget, in place of the
    /// stored size its admission reserved (the two differ: a score file's strings decode
    /// to several times their compressed bytes). Idle files asked for less often make
    /// room; if they cannot, the file is served this once and not kept.
    fn settle(&self, path: &str, held: usize) {
        let mut st = self.lock();
        st.decoded.insert(path.to_string(), held);
        let Some(reserved) = st.entries.get(path).map(|e| e.bytes) else {
            // Let go of while it loaded (`forget`).
            st.regions.retain(|_, r| r.file != path);
            return;
        };
        st.used = st.used - reserved + held;
        if let Some(e) = st.entries.get_mut(path) {
            e.bytes = held;
        }
        if st.used <= self.budget {
            return;
        }
        let asked = st.asked.get(path).copied().unwrap_or(0);
        match st.victims(0, self.budget, asked) {
            Some(victims) => victims.iter().for_each(|v| st.evict(v)),
            None => st.evict(path),
        }
    }

    fn register(&self, path: &str, loaded: &Arc<Loaded>) {
        let mut st = self.lock();
        for (i, b) in loaded.batches.iter().enumerate() {
            let Some((values, dim)) = b
                .column_by_name(col::EMBEDDING)
                .and_then(|c| vectors(c.as_ref()))
            else {
                continue;
            };
            let rows = values.rows(dim);
            if rows == 0 {
                continue;
            }
            let (start, width) = values.address();
            st.regions.insert(
                start,
                Region {
                    end: start + rows * dim * width,
                    dim,
                    width,
                    batch: i,
                    file: path.to_string(),
                    loaded: Arc::downgrade(loaded),
                },
            );
        }
    }

    /// Per-row values derived from the embeddings `values` (`dim` per row), computed once
    /// per cached batch and `key` by `compute` (given the whole batch's embeddings, it
    /// returns one value per row). `None` if `values` is not in a cached batch.
    pub fn derived(
        &self,
        values: &Vectors<'_>,
        dim: usize,
        key: &str,
        compute: impl FnOnce(&Vectors<'_>) -> Vec<f32>,
    ) -> Option<Vec<f32>> {
        let rows = values.rows(dim);
        if rows == 0 || dim == 0 {
            return None;
        }
        let (start, width) = values.address();
        let end = start + rows * dim * width;
        let region = {
            let st = self.lock();
            let (&region_start, region) = st.regions.range(..=start).next_back()?;
            if end > region.end
                || region.dim != dim
                || region.width != width
                || !(start - region_start).is_multiple_of(width * dim)
            {
                return None;
            }
            (region_start, region.clone())
        };
        let (region_start, region) = region;
        let loaded = region.loaded.upgrade()?;
        let first_row = (start - region_start) / (width * dim);
        let cached = {
            let derived = loaded.derived.lock().unwrap_or_else(|p| p.into_inner());
            derived
                .get(key)
                .and_then(|v| v.get(region.batch).cloned().flatten())
        };
        let all = match cached {
            Some(v) => v,
            None => {
                let batch = loaded.batches.get(region.batch)?;
                let (all, _) = vectors(batch.column_by_name(col::EMBEDDING)?.as_ref())?;
                let computed: Arc<[f32]> = compute(&all).into();
                let mut derived = loaded.derived.lock().unwrap_or_else(|p| p.into_inner());
                let slot = derived
                    .entry(key.to_string())
                    .or_insert_with(|| vec![None; loaded.batches.len()]);
                slot[region.batch] = Some(Arc::clone(&computed));
                computed
            }
        };
        all.get(first_row..first_row + rows).map(<[f32]>::to_vec)
    }
}

impl State {
    /// The bytes `file` will hold in memory, as far as known.
    fn need(&self, file: &DataFile) -> usize {
        self.decoded
            .get(&file.path)
            .copied()
            .unwrap_or(file.bytes as usize)
    }

    /// Counts a request for `path`; its count.
    fn ask(&mut self, path: &str) -> u32 {
        self.since_aging += 1;
        let period = (self.asked.len() as u64 * AGING_PER_FILE).max(MIN_AGING);
        if self.since_aging >= period {
            self.since_aging = 0;
            self.asked.retain(|_, n| {
                *n /= 2;
                *n > 0
            });
        }
        let n = self.asked.entry(path.to_string()).or_insert(0);
        *n = n.saturating_add(1);
        *n
    }

    /// The resident files to evict so that `need` more bytes fit in `budget` for a file
    /// asked for `asked` times: idle files asked for less often, the least often and then
    /// the least recently used first; `None` if those do not free enough.
    fn victims(&self, need: usize, budget: usize, asked: u32) -> Option<Vec<String>> {
        let mut idle: Vec<(u32, u64, &String, usize)> = self
            .entries
            .iter()
            .filter(|(_, e)| Arc::strong_count(&e.cell) == 1)
            .map(|(k, e)| {
                (
                    self.asked.get(k).copied().unwrap_or(0),
                    e.last_use,
                    k,
                    e.bytes,
                )
            })
            .filter(|(n, ..)| *n < asked)
            .collect();
        idle.sort();
        let mut used = self.used;
        let mut out = Vec::new();
        for (_, _, k, bytes) in idle {
            if used + need <= budget {
                break;
            }
            used -= bytes;
            out.push(k.clone());
        }
        (used + need <= budget).then_some(out)
    }

    fn evict(&mut self, path: &str) {
        if let Some(e) = self.entries.remove(path) {
            self.used -= e.bytes;
        }
        self.regions.retain(|_, r| r.file != path);
    }
}

/// Reads a whole Parquet file of the store into batches (of [`BATCH_ROWS`] rows when it
/// holds embeddings, else [`NARROW_BATCH_ROWS`]), embeddings in their in-memory form.
#[tracing::instrument(level = "debug", skip(store), fields(path = %file.path))]
pub async fn read_file(store: &Store, file: &DataFile) -> Result<Vec<RecordBatch>> {
    stream_file(store, file).await?.try_collect().await
}

/// The batches of a Parquet file of the store as they are decoded (sized as by
/// [`read_file`], a row group at a time in memory), embeddings in their in-memory form.
pub async fn stream_file(
    store: &Store,
    file: &DataFile,
) -> Result<BoxStream<'static, Result<RecordBatch>>> {
    let path = file.path.clone();
    let reader = crate::store::parquet::StoreReader::new(store, file);
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| CatalogError::engine(format!("reading {path}"), e))?;
    let rows = batch_rows(builder.schema());
    let stream = builder
        .with_batch_size(rows)
        .build()
        .map_err(|e| CatalogError::engine(format!("reading {path}"), e))?;
    Ok(stream
        .map(move |b| {
            b.map_err(|e| CatalogError::engine(format!("reading {path}"), e))
                .and_then(decode_batch)
        })
        .boxed())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Array, ArrayRef, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use object_store::memory::InMemory;
    use object_store::path::Path;

    use super::*;
    use crate::model::dataset::encoding::{Encoding, encode_batch};
    use crate::store::parquet::{FileWriter, with_sizes};

    #[tokio::test]
    async fn decoded_files_hold_about_their_stored_bytes() {
        let store = Store::from_object_store(Arc::new(InMemory::new()), "memory");
        let dim = 512;
        let rows = 65_536;
        for e in Encoding::ALL {
            let values: Vec<f32> = (0..rows * dim).map(|i| (i % 97) as f32 / 97.0).collect();
            let list = datafusion::arrow::array::FixedSizeListArray::new(
                Arc::new(Field::new("item", DataType::Float32, false)),
                dim as i32,
                Arc::new(datafusion::arrow::array::Float32Array::from(values)),
                None,
            );
            let memory = Arc::new(Schema::new(vec![
                Field::new("coactive_image_id", DataType::Utf8, false),
                Field::new(col::EMBEDDING, list.data_type().clone(), false),
            ]));
            let batch = RecordBatch::try_new(
                memory,
                vec![
                    Arc::new(StringArray::from_iter_values(
                        (0..rows).map(|i| format!("img{i:08}")),
                    )) as ArrayRef,
                    Arc::new(list),
                ],
            )
            .unwrap();
            let stored = encode_batch(&batch, Some(e)).unwrap();
            let mut w = FileWriter::create(
                &store,
                Path::from(format!("t/{e}.parquet")),
                stored.schema(),
                rows,
            )
            .unwrap();
            w.write(&stored).await.unwrap();
            let file = with_sizes(&store, vec![w.finish().await.unwrap()])
                .await
                .unwrap()
                .remove(0);
            let held = decoded_bytes(&store, &file).await;
            // The cache admits a file it has not loaded yet by its stored bytes: for an
            // embedding file, what its decoded batches hold must be about that.
            let ratio = held as f64 / file.bytes as f64;
            assert!(
                (0.95..1.1).contains(&ratio),
                "{e}: stored {} bytes, decoded batches hold {held} ({ratio:.2}x)",
                file.bytes
            );
        }
    }

    #[tokio::test]
    async fn score_files_are_read_in_larger_batches_than_embedding_files() {
        let store = Store::from_object_store(Arc::new(InMemory::new()), "memory");
        // Writes `batch` as one file and reads it back: the rows of each batch read.
        let batch_sizes = |name: String, batch: RecordBatch| {
            let store = store.clone();
            async move {
                let mut w =
                    FileWriter::create(&store, Path::from(name), batch.schema(), 1 << 17).unwrap();
                w.write(&batch).await.unwrap();
                let file = with_sizes(&store, vec![w.finish().await.unwrap()])
                    .await
                    .unwrap()
                    .remove(0);
                read_file(&store, &file)
                    .await
                    .unwrap()
                    .iter()
                    .map(RecordBatch::num_rows)
                    .collect::<Vec<usize>>()
            }
        };
        let rows = 100_000;
        let scores = RecordBatch::try_from_iter(vec![
            (
                "coactive_image_id",
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|i| format!("img{i}")),
                )) as ArrayRef,
            ),
            (
                "score",
                Arc::new(datafusion::arrow::array::Float64Array::from_iter_values(
                    (0..rows).map(|i| i as f64 / rows as f64),
                )),
            ),
        ])
        .unwrap();
        assert_eq!(
            batch_sizes("t/scores.parquet".into(), scores).await,
            [NARROW_BATCH_ROWS, rows - NARROW_BATCH_ROWS]
        );

        // Embeddings in memory's form and in each stored one.
        let (rows, dim) = (10_000, 16);
        let list = datafusion::arrow::array::FixedSizeListArray::new(
            Arc::new(Field::new("item", DataType::Float32, false)),
            dim as i32,
            Arc::new(datafusion::arrow::array::Float32Array::from(vec![
                0.25;
                rows * dim
            ])),
            None,
        );
        let embeddings =
            RecordBatch::try_from_iter(vec![(col::EMBEDDING, Arc::new(list) as ArrayRef)]).unwrap();
        let mut forms = vec![("memory", embeddings.clone())];
        for e in Encoding::ALL {
            forms.push((e.as_str(), encode_batch(&embeddings, Some(e)).unwrap()));
        }
        for (form, batch) in forms {
            assert_eq!(
                batch_sizes(format!("t/embeddings-{form}.parquet"), batch).await,
                [BATCH_ROWS, rows - BATCH_ROWS],
                "{form}"
            );
        }
    }

    /// What the decoded batches of `file` hold in memory.
    async fn decoded_bytes(store: &Store, file: &DataFile) -> usize {
        read_file(store, file)
            .await
            .unwrap()
            .iter()
            .map(RecordBatch::get_array_memory_size)
            .sum()
    }

    async fn small_file(store: &Store, name: &str) -> DataFile {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("id", DataType::Utf8, false)])),
            vec![Arc::new(StringArray::from(vec![name; 100])) as ArrayRef],
        )
        .unwrap();
        let mut w = FileWriter::create(
            store,
            Path::from(format!("t/{name}.parquet")),
            batch.schema(),
            100,
        )
        .unwrap();
        w.write(&batch).await.unwrap();
        with_sizes(store, vec![w.finish().await.unwrap()])
            .await
            .unwrap()
            .remove(0)
    }

    fn resident(cache: &TableCache) -> Vec<String> {
        let mut v: Vec<String> = cache.lock().entries.keys().cloned().collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn a_file_is_counted_at_what_its_decoded_batches_hold() {
        // Score files: ids and tag names repeat, so their strings decode to many times the
        // compressed bytes admission reserved.
        let store = Store::from_object_store(Arc::new(InMemory::new()), "memory");
        let file = small_file(&store, "repeated-tag-name-of-some-length").await;
        let held = decoded_bytes(&store, &file).await;
        assert!(
            held > 2 * file.bytes as usize,
            "held {held}, stored {}",
            file.bytes
        );
        // Room for the stored bytes but not the decoded ones: served, not kept.
        let cache = TableCache::new(held - 1);
        assert!(cache.fits(&file));
        assert!(cache.get(&store, &file).await.unwrap().is_some());
        assert!(resident(&cache).is_empty());
        assert_eq!(cache.lock().used, 0);
        // Known now to be larger than the budget: streamed by the caller from then on.
        assert!(!cache.fits(&file));
        assert!(cache.get(&store, &file).await.unwrap().is_none());
        // Room for both: kept, and counted at its decoded size.
        let cache = TableCache::new(held);
        assert!(cache.get(&store, &file).await.unwrap().is_some());
        assert_eq!(resident(&cache).len(), 1);
        assert_eq!(cache.lock().used, held);
    }

    #[tokio::test]
    async fn repeated_scans_of_a_table_over_the_budget_keep_the_same_files() {
        let store = Store::from_object_store(Arc::new(InMemory::new()), "memory");
        let mut files = Vec::new();
        for name in ["a", "b", "c", "d", "e"] {
            files.push(small_file(&store, name).await);
        }
        // What one file's decoded batches hold (the cache counts that, not stored bytes).
        let mut sizes = Vec::new();
        for f in &files {
            sizes.push(decoded_bytes(&store, f).await);
        }
        let size = sizes[0];
        assert!(sizes.iter().all(|s| *s == size), "{sizes:?}");
        // Room for three of the five files.
        let cache = TableCache::new(3 * size + size / 2);
        let mut kept_per_scan = Vec::new();
        for _ in 0..4 {
            for f in &files {
                cache.get(&store, f).await.unwrap();
            }
            kept_per_scan.push(resident(&cache));
            assert!(cache.lock().used <= 3 * size + size / 2);
        }
        assert_eq!(
            resident(&cache),
            vec!["t/a.parquet", "t/b.parquet", "t/c.parquet"],
            "the first files stay; least recently used eviction would have kept the last"
        );
        assert_eq!(
            kept_per_scan,
            vec![resident(&cache); 4],
            "the same three files held by the cache at each scan (loaded at the first)"
        );

        // A new hot set takes over once asked for more often than the old one.
        let mut hot = Vec::new();
        for name in ["x", "y", "z"] {
            hot.push(small_file(&store, name).await);
        }
        for _ in 0..6 {
            for f in &hot {
                cache.get(&store, f).await.unwrap();
            }
        }
        assert_eq!(
            resident(&cache),
            vec!["t/x.parquet", "t/y.parquet", "t/z.parquet"]
        );
    }
}
