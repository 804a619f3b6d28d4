//! `dyntag bench scoring` writes N synthetic unit embeddings to a Parquet file, imports it
//! into a dataset, and prints:
//! - rows/s of `SELECT count(*) FROM coactive_table_adv WHERE dt_score(embedding, 'g', 't') > 0.5`
//!   (best of 3 after a first, cold run; in a child process whose peak RSS is reported
//!   against the bytes of the embeddings);
//! - scores/s of scoring all embeddings against a 50-tag group (compute only);
//! - the anchors on the same Parquet file, and the ratios against them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::Instant;

use datafusion::arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::file::properties::WriterProperties;
use dyntag_core::Modality;
use dyntag_core::model::dataset::TableKind;
use dyntag_core::scoring::scan::embeddings;
use dyntag_core::service::import::{self, NoProgress, Source};
use dyntag_core::store::random::Random;

use crate::cli::Global;
use crate::engine::Engine;
use crate::error::{AppError, Result};

/// The model of the benchmark's synthetic embeddings (shipped in sample-data/models).
pub const BENCH_MODEL: &str = "bench-hashbow-512";
pub(super) const QUERY: &str =
    "SELECT count(*) FROM coactive_table_adv WHERE dt_score(embedding, 'g', 't') > 0.5";

pub(super) async fn query(
    global: &Global,
    dataset: &str,
    sql: &str,
    repeat: usize,
    cluster: Option<String>,
) -> Result<()> {
    let engine = Engine::with_options(
        global.open().await?,
        Some(dataset),
        crate::engine::EngineOptions {
            cluster,
            ..Default::default()
        },
    )?;
    let mut times = Vec::new();
    let mut answer = String::new();
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let a = engine.execute(sql).await?;
        times.push(t.elapsed().as_secs_f64());
        answer = datafusion::arrow::util::pretty::pretty_format_batches(&a.batches)?
            .to_string()
            .lines()
            .nth(3)
            .unwrap_or("")
            .to_string();
    }
    let best = times
        .iter()
        .skip(1)
        .copied()
        .fold(f64::INFINITY, f64::min)
        .min(if times.len() == 1 {
            times[0]
        } else {
            f64::INFINITY
        });
    println!(
        "{}",
        serde_json::json!({"first_seconds": times[0], "best_seconds": best, "runs": times, "answer": answer.trim(), "peak_rss": super::peak_rss_of_self()})
    );
    Ok(())
}

/// Roughly normal (the sum of four uniforms, centred), from the project's one seeded
/// generator, for reproducible synthetic data.
pub(super) fn normal(rng: &mut Random) -> f32 {
    (0..4)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
        .sum::<f32>()
        - 2.0
}

pub(super) fn write_embeddings(path: &Path, rows: usize, dim: usize) -> Result<()> {
    write_embeddings_from(path, 0, rows, dim)
}

/// [`write_embeddings`] of the rows `first..first + rows` (ids from `img<first>`, values
/// from a generator seeded by `first`).
pub(super) fn write_embeddings_from(
    path: &Path,
    first: usize,
    rows: usize,
    dim: usize,
) -> Result<()> {
    let mut rng = Random::seeded(0x9E37_79B9_7F4A_7C15 ^ first as u64);
    write_vectors_from(path, first, rows, dim, |n| {
        let mut values = Vec::with_capacity(n * dim);
        for _ in 0..n {
            let v: Vec<f32> = (0..dim).map(|_| normal(&mut rng)).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            values.extend(v.into_iter().map(|x| x / norm));
        }
        values
    })
}

/// Writes `rows` embeddings (ids `img00000000`, …) to a Parquet file, `next(n)` giving the
/// next `n` rows' values, row-major.
pub(super) fn write_vectors(
    path: &Path,
    rows: usize,
    dim: usize,
    next: impl FnMut(usize) -> Vec<f32>,
) -> Result<()> {
    write_vectors_from(path, 0, rows, dim, next)
}

/// [`write_vectors`] with ids from `img<first>`.
fn write_vectors_from(
    path: &Path,
    first: usize,
    rows: usize,
    dim: usize,
    mut next: impl FnMut(usize) -> Vec<f32>,
) -> Result<()> {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let schema = Arc::new(Schema::new(vec![
        Field::new("coactive_image_id", DataType::Utf8, false),
        Field::new(
            "embedding",
            DataType::FixedSizeList(Arc::clone(&item), dim as i32),
            false,
        ),
    ]));
    let file = std::fs::File::create(path)
        .map_err(|e| AppError::io(format!("creating {}", path.display()), e))?;
    let props = WriterProperties::builder()
        .set_dictionary_enabled(false)
        .build();
    let mut w = ArrowWriter::try_new(file, Arc::clone(&schema), Some(props))?;
    let chunk = 65_536;
    for start in (0..rows).step_by(chunk) {
        let n = chunk.min(rows - start);
        let values = next(n);
        let ids = StringArray::from_iter_values(
            (first + start..first + start + n).map(|i| format!("img{i:08}")),
        );
        let emb = FixedSizeListArray::try_new(
            Arc::clone(&item),
            dim as i32,
            Arc::new(Float32Array::from(values)),
            None,
        )?;
        w.write(&RecordBatch::try_new(
            Arc::clone(&schema),
            vec![Arc::new(ids) as ArrayRef, Arc::new(emb)],
        )?)?;
    }
    w.close()?;
    Ok(())
}

pub(super) fn parse_anchor(output: &str) -> BTreeMap<String, BTreeMap<String, f64>> {
    let mut out = BTreeMap::new();
    for line in output.lines() {
        let mut parts = line.split_whitespace();
        let Some(name) = parts.next() else { continue };
        let fields = parts
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| v.parse::<f64>().ok().map(|v| (k.to_string(), v)))
            .collect();
        out.insert(name.to_string(), fields);
    }
    out
}

pub(super) async fn scoring(
    global: &Global,
    rows: usize,
    tags: usize,
    work: Option<PathBuf>,
    anchor: &Path,
    python: &str,
) -> Result<()> {
    let bench = synthetic_dataset(global, work, rows, None).await?;
    let (g, catalog, parquet, import_secs) = (
        bench.global.clone(),
        Arc::clone(&bench.catalog),
        bench.parquet.clone(),
        bench.import_secs,
    );
    let dim = DIM;
    let mut names = vec!["t".to_string()];
    names.extend((1..tags).map(|i| format!("tag {i}")));
    super::create_reviewed_group(&catalog, "g", "bench", &names).await?;

    // 1. The SQL query, in a child process so that its peak memory is its own.
    let q = child(
        &g,
        None,
        &[
            "bench",
            "query",
            "--dataset",
            "bench",
            "--repeat",
            "4",
            "--sql",
            QUERY,
        ],
    )?;
    let peak_rss = q["peak_rss"].as_u64().unwrap_or(0);
    let best = q["best_seconds"].as_f64().unwrap_or(f64::NAN);
    let first = q["first_seconds"].as_f64().unwrap_or(f64::NAN);
    let emb_bytes = (rows * dim * 4) as f64;

    // 2. The 50-tag group, compute only, over the decoded embeddings.
    let snapshot = catalog.snapshot();
    let definition = snapshot.definition("bench", snapshot.group("g")?)?;
    let heads = catalog.heads(&definition, Modality::Visual, BENCH_MODEL, None)?;
    let manifest = Arc::clone(snapshot.dataset("bench")?);
    let mut batches = Vec::new();
    for f in manifest.files(TableKind::Images) {
        let b = catalog
            .table_cache()
            .get(catalog.store(), f)
            .await?
            .ok_or_else(|| AppError::Usage("cache too small for the benchmark".into()))?;
        batches.extend(b.iter().cloned());
    }
    let mut group_best = f64::INFINITY;
    let mut out_buf = vec![0f32; 8192 * tags];
    for _ in 0..3 {
        let t = Instant::now();
        for b in &batches {
            let (x, _) = embeddings(b)?;
            let out = &mut out_buf[..b.num_rows() * tags];
            heads.scorer.score_vectors_parallel(&x, out);
        }
        group_best = group_best.min(t.elapsed().as_secs_f64());
    }
    std::hint::black_box(&out_buf);

    // 3. The anchors, on the same Parquet file.
    eprintln!("running the anchors ({} {})", python, anchor.display());
    let anchor_out = Process::new(python)
        .arg(anchor)
        .arg(&parquet)
        .args(["--tags", &tags.to_string()])
        .output()
        .map_err(|e| AppError::io(format!("running {python} {}", anchor.display()), e))?;
    if !anchor_out.status.success() {
        return Err(AppError::Environment(format!(
            "anchor failed (it needs numpy, pyarrow, duckdb: scripts/setup installs them): {}",
            String::from_utf8_lossy(&anchor_out.stderr)
        )));
    }
    let anchors = parse_anchor(&String::from_utf8_lossy(&anchor_out.stdout));
    let get = |name: &str, key: &str| {
        anchors
            .get(name)
            .and_then(|m| m.get(key))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let gemv = get("numpy_gemv", "rows_per_s");
    let gemm = get("numpy_gemm", "scores_per_s");
    let duck = get("duckdb_sql", "rows_per_s");
    let sql_rate = rows as f64 / best;
    let group_rate = (rows * tags) as f64 / group_best;

    println!(
        "import               rows={rows} seconds={import_secs:.3} rows_per_s={:.3e}",
        rows as f64 / import_secs
    );
    println!(
        "dyntag_sql_dt_score  rows={rows} seconds={best:.4} rows_per_s={sql_rate:.3e} first_run_seconds={first:.3} answer={}",
        q["answer"]
    );
    println!(
        "dyntag_group_scoring rows={rows} tags={tags} seconds={group_best:.4} scores_per_s={group_rate:.3e}"
    );
    print!("{}", String::from_utf8_lossy(&anchor_out.stdout));
    println!("peak_rss_of_query_process bytes={peak_rss} embedding_bytes={emb_bytes:.0}");
    println!();
    println!(
        "ratio sql_vs_numpy_gemv   = {:.2}  (target >= 0.7)",
        sql_rate / gemv
    );
    println!(
        "ratio sql_vs_duckdb       = {:.2}  (target >= 5)",
        sql_rate / duck
    );
    println!(
        "ratio group_vs_numpy_gemm = {:.2}  (target >= 0.8)",
        group_rate / gemm
    );
    println!(
        "ratio peak_rss_vs_embeddings = {:.2}  (target < 1.5)",
        peak_rss as f64 / emb_bytes
    );
    Ok(())
}

/// Runs `dyntag --data … [--cache-mb …] ARGS` (a benchmark's child, so that its peak
/// memory is its own) and reads the JSON line it prints.
pub(super) fn child(
    g: &Global,
    budget_mb: Option<usize>,
    args: &[&str],
) -> Result<serde_json::Value> {
    let exe = std::env::current_exe().map_err(|e| AppError::io("locating dyntag", e))?;
    let mut cmd = Process::new(exe);
    cmd.args(["--data", &g.data]);
    if let Some(mb) = budget_mb {
        cmd.args(["--cache-mb", &mb.to_string()]);
    }
    let out = cmd
        .args(args)
        .env("RUST_LOG", "warn")
        .output()
        .map_err(|e| AppError::io("running a benchmark child", e))?;
    if !out.status.success() {
        return Err(AppError::Environment(format!(
            "benchmark child {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| AppError::Environment(format!("benchmark child printed no figures: {e}")))
}

/// Dimension of the synthetic embeddings.
const DIM: usize = 512;

/// The synthetic dataset `bench` of the benchmarks: `rows` unit embeddings of the bench model
/// written to a Parquet file and imported, in a working folder.
pub(super) struct SyntheticDataset {
    /// Held so that a temporary folder lives as long as the dataset.
    pub _work: Work,
    pub global: Global,
    pub catalog: Arc<dyntag_core::Catalog>,
    pub parquet: PathBuf,
    pub import_secs: f64,
}

/// (`encoding`: how the dataset stores them; `None`, float32.)
pub(super) async fn synthetic_dataset(
    global: &Global,
    work: Option<PathBuf>,
    rows: usize,
    encoding: Option<dyntag_core::model::dataset::encoding::Encoding>,
) -> Result<SyntheticDataset> {
    synthetic_dataset_in_chunks(global, work, rows, encoding, None).await
}

/// [`synthetic_dataset`], written and imported `chunk` rows at a time when given, each
/// chunk's Parquet file removed once imported (then `parquet` names no file): ten million
/// float32 rows are 20 GB of source beside the dataset otherwise.
pub(super) async fn synthetic_dataset_in_chunks(
    global: &Global,
    work: Option<PathBuf>,
    rows: usize,
    encoding: Option<dyntag_core::model::dataset::encoding::Encoding>,
    chunk: Option<usize>,
) -> Result<SyntheticDataset> {
    let work = tempdir_for(work)?;
    let dir = work.path().to_path_buf();
    let parquet = dir.join("embeddings.parquet");
    let mut g = global.clone();
    g.data = dir.join("data").to_string_lossy().into_owned();
    let catalog = g.open().await?;
    let chunk = chunk.unwrap_or(rows).max(1);
    let mut import_secs = 0.0;
    for first in (0..rows).step_by(chunk) {
        let n = chunk.min(rows - first);
        let source = if n == rows {
            parquet.clone()
        } else {
            dir.join(format!("embeddings-{first:09}.parquet"))
        };
        eprintln!(
            "writing {n} synthetic {DIM}-d unit embeddings to {}",
            source.display()
        );
        write_embeddings_from(&source, first, n, DIM)?;
        eprintln!("importing them into dataset 'bench'");
        let t = Instant::now();
        // Deferred: these benchmarks do not search, and a million rows take minutes to index.
        import::import_encoded(
            &catalog,
            "bench",
            &[Source::Keyframes {
                path: source.clone(),
                model: BENCH_MODEL.into(),
            }],
            &import::ImportOptions {
                encoding,
                defer_index: true,
            },
            &NoProgress,
        )
        .await?;
        import_secs += t.elapsed().as_secs_f64();
        if source != parquet {
            std::fs::remove_file(&source)
                .map_err(|e| AppError::io(format!("removing {}", source.display()), e))?;
        }
    }
    Ok(SyntheticDataset {
        _work: work,
        global: g,
        catalog,
        parquet,
        import_secs,
    })
}

/// A working folder: the given one (kept), or a temporary one (removed on drop).
pub(super) enum Work {
    Kept(PathBuf),
    Temp(tempfile::TempDir),
}

impl Work {
    pub(super) fn path(&self) -> &Path {
        match self {
            Self::Kept(p) => p,
            Self::Temp(t) => t.path(),
        }
    }
}

pub(super) fn tempdir_for(work: Option<PathBuf>) -> Result<Work> {
    match work {
        Some(p) => {
            if p.exists() {
                std::fs::remove_dir_all(&p)
                    .map_err(|e| AppError::io(format!("clearing {}", p.display()), e))?;
            }
            std::fs::create_dir_all(&p)
                .map_err(|e| AppError::io(format!("creating {}", p.display()), e))?;
            Ok(Work::Kept(p))
        }
        None => {
            Ok(Work::Temp(tempfile::tempdir().map_err(|e| {
                AppError::io("creating a temporary folder", e)
            })?))
        }
    }
}
