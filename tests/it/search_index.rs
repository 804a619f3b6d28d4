//! The search index: every ingest indexes its rows (HNSW segments on the object store,
//! merged as a binary counter), a search through it finds the exact scan's top 10 at
//! recall ≥ 0.95 with the same scores (the candidates are re-ranked from the data files),
//! and stays right after a second ingest, a deferred one, `dataset index`, a conversion to
//! float16, and with a segment gone from the store (its rows are scanned instead). "Find
//! similar" (`similar_items`) and the `'exact'` option work from SQL.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, FixedSizeListArray, RecordBatch, StringArray};
use datafusion::arrow::datatypes::Float32Type;
use datafusion::parquet::arrow::ArrowWriter;
use dyntag::engine::Engine;
use dyntag_core::Catalog;
use dyntag_core::Modality;
use dyntag_core::model::dataset::encoding::Encoding;
use dyntag_core::scoring::nearest::{Nearest, nearest};
use dyntag_core::service::import::{
    ImportOptions, NoProgress, Source, encode_dataset, import_encoded,
};
use dyntag_core::service::index::index_dataset;
use dyntag_models::DEFAULT_MODEL_ID;

use crate::common;
use crate::util::{run, run_err, strings};

const DATASET: &str = "library";

/// A small generator: xorshift, uniform in [-0.5, 0.5).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    v
}

/// Clustered unit vectors, like keyframes of scenes: `rows` around `centers` centres.
struct Library {
    centers: Vec<Vec<f32>>,
    rng: Rng,
    dim: usize,
}

impl Library {
    fn new(dim: usize, centers: usize) -> Self {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let centers = (0..centers)
            .map(|_| (0..dim).map(|_| rng.next()).collect())
            .collect();
        Self { centers, rng, dim }
    }

    fn near(&mut self, c: usize) -> Vec<f32> {
        let center = &self.centers[c % self.centers.len()];
        unit(center.iter().map(|x| x + 0.8 * self.rng.next()).collect())
    }

    /// Writes `rows` keyframes `{prefix}{i}` to a Parquet file; returns their vectors.
    fn write(&mut self, path: &std::path::Path, prefix: &str, rows: usize) -> Vec<Vec<f32>> {
        let vectors: Vec<Vec<f32>> = (0..rows).map(|i| self.near(i * 7 + prefix.len())).collect();
        let ids: Vec<String> = (0..rows).map(|i| format!("{prefix}{i}")).collect();
        let embedding = FixedSizeListArray::from_iter_primitive::<Float32Type, _, _>(
            vectors.iter().map(|v| Some(v.iter().map(|x| Some(*x)))),
            self.dim as i32,
        );
        let batch = RecordBatch::try_from_iter(vec![
            (
                "coactive_image_id",
                Arc::new(StringArray::from(ids)) as ArrayRef,
            ),
            ("embedding", Arc::new(embedding) as ArrayRef),
        ])
        .unwrap();
        let mut w =
            ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None)
                .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        vectors
    }
}

async fn ingest(catalog: &Catalog, path: &std::path::Path, defer_index: bool) {
    import_encoded(
        catalog,
        DATASET,
        &[Source::Keyframes {
            path: path.to_path_buf(),
            model: DEFAULT_MODEL_ID.into(),
        }],
        &ImportOptions {
            encoding: None,
            defer_index,
        },
        &NoProgress,
    )
    .await
    .unwrap();
}

async fn search(catalog: &Catalog, q: &[f32], exact: bool) -> Nearest {
    let snapshot = catalog.snapshot();
    let manifest = snapshot.dataset(DATASET).unwrap();
    nearest(catalog, manifest, Modality::Visual, q, 10, exact, None)
        .await
        .unwrap()
}

/// Recall@10 of the index against the exact scan over `queries`; asserts that every item
/// both found has the same score, and returns (recall, rows scanned per query by the
/// indexed search).
async fn recall(catalog: &Catalog, queries: &[Vec<f32>]) -> (f64, u64) {
    let (mut hits, mut scanned) = (0, 0);
    for q in queries {
        let exact = search(catalog, q, true).await;
        let approx = search(catalog, q, false).await;
        assert_eq!(approx.items.len(), 10);
        scanned = approx.scanned;
        let truth: HashSet<&str> = exact.items.iter().map(|i| i.id.as_str()).collect();
        for item in &approx.items {
            if truth.contains(item.id.as_str()) {
                hits += 1;
                let e = exact.items.iter().find(|e| e.id == item.id).unwrap();
                assert!(
                    (e.score - item.score).abs() < 1e-5,
                    "{}: {} exact, {} re-ranked",
                    item.id,
                    e.score,
                    item.score
                );
            }
        }
        for w in approx.items.windows(2) {
            assert!(w[0].score >= w[1].score, "best first");
        }
    }
    (hits as f64 / (10 * queries.len()) as f64, scanned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_index_finds_the_exact_top_ten_through_ingests_conversion_and_a_lost_segment() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let catalog = Catalog::open(common::config(&data)).await.unwrap();
    let dim = catalog
        .models()
        .get(DEFAULT_MODEL_ID)
        .unwrap()
        .text()
        .unwrap()
        .dim();
    let mut lib = Library::new(dim, 60);

    // First ingest: indexed at once, one segment over every row.
    let first = lib.write(&dir.path().join("a.parquet"), "a", 3000);
    ingest(&catalog, &dir.path().join("a.parquet"), false).await;
    let segments = |c: &Catalog| {
        let s = c.snapshot();
        let m = s.dataset(DATASET).unwrap();
        m.index_segments(Modality::Visual)
            .iter()
            .map(|s| (s.start, s.rows))
            .collect::<Vec<_>>()
    };
    assert_eq!(segments(&catalog), vec![(0, 3000)]);
    let queries: Vec<Vec<f32>> = (0..40).map(|i| lib.near(i * 3)).collect();
    let (r, scanned) = recall(&catalog, &queries).await;
    assert!(r >= 0.95, "recall@10 after one ingest: {r}");
    assert_eq!(scanned, 0, "every row is indexed, none scanned");
    let itself = search(&catalog, &first[17], false).await;
    assert_eq!(itself.items[0].id, "a17", "a stored row is nearest itself");

    // A second ingest adds a segment of its own (the first is larger, so no merge); the
    // new rows are found.
    let second = lib.write(&dir.path().join("b.parquet"), "b", 2000);
    ingest(&catalog, &dir.path().join("b.parquet"), false).await;
    assert_eq!(segments(&catalog), vec![(0, 3000), (3000, 2000)]);
    let (r, _) = recall(&catalog, &queries).await;
    assert!(r >= 0.95, "recall@10 after a second ingest: {r}");
    assert_eq!(search(&catalog, &second[5], false).await.items[0].id, "b5");

    // A deferred ingest leaves its rows to the exact scan, still found; `dataset index`
    // indexes them (and merges nothing larger than them).
    let third = lib.write(&dir.path().join("c.parquet"), "c", 500);
    ingest(&catalog, &dir.path().join("c.parquet"), true).await;
    assert_eq!(segments(&catalog).len(), 2);
    let (r, scanned) = recall(&catalog, &queries).await;
    assert!(r >= 0.95, "recall@10 with an unindexed tail: {r}");
    assert_eq!(scanned, 500, "only the unindexed rows are scanned");
    assert_eq!(search(&catalog, &third[9], false).await.items[0].id, "c9");
    let done = index_dataset(&catalog, DATASET, &NoProgress).await.unwrap();
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].rows, 500);
    assert_eq!(
        segments(&catalog),
        vec![(0, 3000), (3000, 2000), (5000, 500)]
    );
    // A segment no larger than the candidates asked of each (512) is scanned, not searched:
    // a graph may not reach every node of a small one.
    let (r, scanned) = recall(&catalog, &queries).await;
    assert!(r >= 0.95, "recall@10 with a small segment: {r}");
    assert_eq!(scanned, 500, "the 500-row segment is scanned whole");
    assert!(
        index_dataset(&catalog, DATASET, &NoProgress)
            .await
            .unwrap()
            .is_empty()
    );
    // One more ingest of 600 rows absorbs the 500-row segment: a binary counter.
    lib.write(&dir.path().join("d.parquet"), "d", 600);
    ingest(&catalog, &dir.path().join("d.parquet"), false).await;
    assert_eq!(
        segments(&catalog),
        vec![(0, 3000), (3000, 2000), (5000, 1100)]
    );
    let on_store = |dir: &std::path::Path| {
        std::fs::read_dir(dir.join("datasets").join(DATASET).join("index/visual"))
            .unwrap()
            .count()
    };
    assert_eq!(
        on_store(&data),
        4,
        "the merged-away segment stays for the readers of the revision before"
    );
    let (r, scanned) = recall(&catalog, &queries).await;
    assert!(r >= 0.95, "recall@10 after merging: {r}");
    assert_eq!(scanned, 0);

    // Converting the embeddings to float16 keeps the rows in order, so the index holds.
    encode_dataset(&catalog, DATASET, None, Encoding::Float16, &NoProgress)
        .await
        .unwrap();
    assert_eq!(segments(&catalog).len(), 3);
    assert_eq!(on_store(&data), 3, "the next commit removed it");
    let (r, scanned) = recall(&catalog, &queries).await;
    assert!(r >= 0.95, "recall@10 on float16: {r}");
    assert_eq!(scanned, 0);

    // SQL: find similar, and the exact option.
    let engine = Engine::new(catalog, Some(DATASET)).unwrap();
    let similar = run(&engine, "SELECT item_id FROM similar_items('a17', 5)").await;
    let ids = strings(&similar, "item_id");
    assert_eq!(ids.len(), 5);
    assert!(
        !ids.contains(&"a17".to_string()),
        "the item itself is left out"
    );
    let exact = run(
        &engine,
        "SELECT item_id FROM similar_items('a17', 5, 'visual', 'exact')",
    )
    .await;
    let overlap = strings(&exact, "item_id")
        .iter()
        .filter(|i| ids.contains(i))
        .count();
    assert!(
        overlap >= 4,
        "find similar through the index vs exact: {overlap}/5"
    );
    let err = run_err(&engine, "SELECT * FROM similar_items('nope', 5)").await;
    assert!(err.contains("item 'nope' not found"), "{err}");
    let err = run_err(
        &engine,
        "SELECT * FROM semantic_search('a dog', 5, 'visual', 'fast')",
    )
    .await;
    assert!(err.contains("unknown search method 'fast'"), "{err}");

    // A segment gone from the store: a new process scans its rows instead.
    let snapshot = engine.catalog().snapshot();
    let lost = snapshot
        .dataset(DATASET)
        .unwrap()
        .index_segments(Modality::Visual)[1]
        .path
        .clone();
    std::fs::remove_file(data.join(&lost)).unwrap();
    let reopened = Catalog::open(common::config(&data)).await.unwrap();
    let (r, scanned) = recall(&reopened, &queries).await;
    assert!(r >= 0.95, "recall@10 with a segment lost: {r}");
    assert_eq!(scanned, 2000, "the lost segment's rows are scanned");
}
