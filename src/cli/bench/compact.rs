//! `dyntag bench compact`: what storing embeddings as float16 or int8 costs and gains.
//!
//! 1. Accuracy, against float32: on the sample library's drawings with its 20 category
//!    tags, and on synthetic unit vectors with a 50-tag group — the largest absolute score
//!    difference, and per tag the overlap of the 100 highest-scored items.
//! 2. Speed and memory on N synthetic 512-d unit vectors (ten million by default), each
//!    encoding imported into a dataset of its own and queried in a child process whose cache
//!    budget is `--budget-mb`: the cold first query and the warm `dt_score` filter (rows/s),
//!    a 50-tag group's scores/s, the child's peak memory — against numpy float32 gemv and
//!    sgemm and DuckDB on the same Parquet file (`benches/anchor_compact.py`).

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::Instant;

use dyntag_core::Modality;
use dyntag_core::model::dataset::TableKind;
use dyntag_core::model::dataset::encoding::{Encoding, decode_array, encode_values};
use dyntag_core::model::dataset::vectors::vectors;
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality, VersionTag};
use dyntag_core::scoring::head::{CompiledHeads, compile};
use dyntag_core::scoring::scan::{batches, embeddings};
use dyntag_core::service::import::{ImportOptions, NoProgress, Source, import_encoded};
use dyntag_core::store::random::Random;
use dyntag_core::{Catalog, CatalogError};

use super::peak_rss_of_self;
use super::scoring::{
    BENCH_MODEL, QUERY, child, normal, parse_anchor, tempdir_for, write_embeddings,
};
use super::zero_shot::embedded_categories;
use crate::cli::Global;
use crate::error::{AppError, Result};

const DIM: usize = 512;

/// The benchmark's settings.
pub(super) struct Args<'a> {
    pub rows: usize,
    pub tags: usize,
    pub accuracy_rows: usize,
    pub budget_mb: usize,
    pub encodings: Vec<Encoding>,
    pub work: Option<PathBuf>,
    pub anchor: &'a Path,
    pub python: &'a str,
}

pub(super) async fn run(global: &Global, args: Args<'_>) -> Result<()> {
    accuracy(global, args.accuracy_rows, args.tags).await?;
    speed(global, &args).await
}

/// Scores of `values` (row-major) stored as `encoding`, read back, by `heads`.
fn scores_as(heads: &CompiledHeads, values: &[f32], dim: usize, encoding: Encoding) -> Vec<f32> {
    let stored = decode_array(&encode_values(values, dim, encoding), dim, encoding);
    let (v, _) = vectors(stored.as_ref()).expect("an embedding array");
    let mut out = vec![0f32; v.rows(dim) * heads.tags.len()];
    heads.scorer.score_vectors_parallel(&v, &mut out);
    out
}

/// Largest |Δscore|, and the mean and least overlap of the top 100 per tag.
fn compare(base: &[f32], got: &[f32], tags: usize) -> (f32, f64, f64) {
    let worst = base
        .iter()
        .zip(got)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let rows = base.len() / tags.max(1);
    let k = 100.min(rows);
    let top = |s: &[f32], t: usize| {
        let mut idx: Vec<usize> = (0..rows).collect();
        idx.sort_by(|&a, &b| s[b * tags + t].total_cmp(&s[a * tags + t]));
        idx.truncate(k);
        idx.into_iter().collect::<std::collections::HashSet<_>>()
    };
    let overlaps: Vec<f64> = (0..tags)
        .map(|t| top(base, t).intersection(&top(got, t)).count() as f64 / k as f64)
        .collect();
    let mean = overlaps.iter().sum::<f64>() / overlaps.len().max(1) as f64;
    let least = overlaps.iter().copied().fold(1.0, f64::min);
    (worst, mean, least)
}

/// The scores of every tag, each scored alone as `dt_score` scores it (row-major `rows ×
/// tags`).
fn scores_one_by_one(
    model: &Arc<dyntag_models::Model>,
    tags: &[VersionTag],
    values: &[f32],
    dim: usize,
    encoding: Encoding,
) -> Result<Vec<f32>> {
    let rows = values.len() / dim;
    let mut out = vec![0f32; rows * tags.len()];
    for (t, tag) in tags.iter().enumerate() {
        let heads = compile(model, Modality::Visual, std::slice::from_ref(tag))?;
        for (r, s) in scores_as(&heads, values, dim, encoding)
            .into_iter()
            .enumerate()
        {
            out[r * tags.len() + t] = s;
        }
    }
    Ok(out)
}

/// Prints the accuracy of float16 and int8 on one set: the group scored at once (float32
/// products of converted blocks) and each tag alone (as `dt_score`; int8 rows then meet
/// int8-rounded tags in integer products).
fn print_accuracy(
    set: &str,
    model: &Arc<dyntag_models::Model>,
    tags: &[VersionTag],
    values: &[f32],
    dim: usize,
) -> Result<()> {
    let heads = compile(model, Modality::Visual, tags)?;
    let base = scores_as(&heads, values, dim, Encoding::Float32);
    let alone = scores_one_by_one(model, tags, values, dim, Encoding::Float32)?;
    for e in [Encoding::Float16, Encoding::Int8] {
        for (path, base, got) in [
            ("group", &base, scores_as(&heads, values, dim, e)),
            (
                "dt_score",
                &alone,
                scores_one_by_one(model, tags, values, dim, e)?,
            ),
        ] {
            let (worst, mean, least) = compare(base, &got, tags.len());
            println!(
                "accuracy {set:<24} {e:<8} {path:<8} max_abs_score_diff={worst:.2e} top100_overlap_mean={mean:.4} top100_overlap_min={least:.4}"
            );
        }
    }
    Ok(())
}

async fn accuracy(global: &Global, rows: usize, tags: usize) -> Result<()> {
    let catalog = global.open().await?;

    // The sample library's drawings and its 20 categories as tags.
    let model = catalog
        .models()
        .get(catalog.models().default_id())
        .map_err(CatalogError::from)?;
    let (_, images, names) = embedded_categories(&model)?;
    let dim = images.first().map_or(0, Vec::len);
    print_accuracy(
        &format!("sample_library({}x{})", images.len(), names.len()),
        &model,
        &text_tags(&names),
        &images.concat(),
        dim,
    )?;

    // Synthetic unit vectors and a group of `tags` tags of the benchmark model.
    let bench = catalog
        .models()
        .get(BENCH_MODEL)
        .map_err(CatalogError::from)?;
    let names: Vec<String> = (0..tags).map(|i| format!("synthetic tag {i}")).collect();
    print_accuracy(
        &format!("synthetic({rows}x{tags})"),
        &bench,
        &text_tags(&names),
        &synthetic(rows, DIM, 0xC0FFEE),
        DIM,
    )
}

fn text_tags(names: &[String]) -> Vec<VersionTag> {
    names
        .iter()
        .map(|n| VersionTag {
            name: n.clone(),
            prompts: vec![Prompt {
                text: n.clone(),
                polarity: Polarity::Positive,
                modality: PromptModality::Both,
            }],
            labels: Vec::new(),
        })
        .collect()
}

/// `rows` unit vectors of dimension `dim` from `seed`.
fn synthetic(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Random::seeded(seed);
    let mut out = Vec::with_capacity(rows * dim);
    for _ in 0..rows {
        let v: Vec<f32> = (0..dim).map(|_| normal(&mut rng)).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        out.extend(v.into_iter().map(|x| x / n));
    }
    out
}

async fn speed(global: &Global, args: &Args<'_>) -> Result<()> {
    let work = tempdir_for(args.work.clone())?;
    let parquet = work.path().join("embeddings.parquet");
    eprintln!(
        "writing {} synthetic {DIM}-d unit embeddings to {}",
        args.rows,
        parquet.display()
    );
    write_embeddings(&parquet, args.rows, DIM)?;

    eprintln!(
        "running the anchors ({} {})",
        args.python,
        args.anchor.display()
    );
    let anchor_out = Process::new(args.python)
        .arg(args.anchor)
        .arg(&parquet)
        .args(["--tags", &args.tags.to_string()])
        .output()
        .map_err(|e| AppError::io(format!("running {}", args.anchor.display()), e))?;
    if !anchor_out.status.success() {
        return Err(AppError::Environment(format!(
            "anchor failed (it needs numpy, pyarrow, duckdb: scripts/setup installs them): {}",
            String::from_utf8_lossy(&anchor_out.stderr)
        )));
    }
    let anchor_text = String::from_utf8_lossy(&anchor_out.stdout).into_owned();
    let anchors = parse_anchor(&anchor_text);
    let get = |name: &str, key: &str| {
        anchors
            .get(name)
            .and_then(|m| m.get(key))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let (gemv, gemm) = (
        get("numpy_gemv", "rows_per_s"),
        get("numpy_gemm", "scores_per_s"),
    );
    let (duck_cold, duck_warm) = (
        get("duckdb_cold", "seconds"),
        get("duckdb_warm", "rows_per_s"),
    );
    print!("{anchor_text}");

    let budget = (args.budget_mb as u64) << 20;
    let mut names = vec!["t".to_string()];
    names.extend((1..args.tags).map(|i| format!("tag {i}")));
    for &e in &args.encodings {
        let mut g = global.clone();
        g.data = work
            .path()
            .join(format!("data-{e}"))
            .to_string_lossy()
            .into_owned();
        let catalog = g.open().await?;
        eprintln!("importing as {e}");
        let t = Instant::now();
        import_encoded(
            &catalog,
            "bench",
            &[Source::Keyframes {
                path: parquet.clone(),
                model: BENCH_MODEL.into(),
            }],
            &ImportOptions {
                encoding: Some(e),
                defer_index: true,
            },
            &NoProgress,
        )
        .await?;
        let import_secs = t.elapsed().as_secs_f64();
        super::create_reviewed_group(&catalog, "g", "bench", &names).await?;
        let stored: u64 = catalog
            .snapshot()
            .dataset("bench")?
            .files(TableKind::Images)
            .iter()
            .map(|f| f.bytes)
            .sum();
        drop(catalog);

        let q = child(
            &g,
            Some(args.budget_mb),
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
        let group = child(
            &g,
            Some(args.budget_mb),
            &["bench", "group-scan", "--dataset", "bench", "--group", "g"],
        )?;
        let (first, best) = (
            q["first_seconds"].as_f64().unwrap_or(f64::NAN),
            q["best_seconds"].as_f64().unwrap_or(f64::NAN),
        );
        let rate = args.rows as f64 / best;
        let group_rate = group["scores_per_s"].as_f64().unwrap_or(f64::NAN);
        let rss = q["peak_rss"].as_f64().unwrap_or(f64::NAN);
        let group_rss = group["peak_rss"].as_f64().unwrap_or(f64::NAN);
        println!(
            "dyntag_{e:<8} rows={} stored_bytes={stored} import_seconds={import_secs:.1} cold_first_query_seconds={first:.3} warm_rows_per_s={rate:.3e} answer={} group_scores_per_s={group_rate:.3e} peak_rss_query={rss:.0} peak_rss_group={group_rss:.0} budget={budget}",
            args.rows, q["answer"]
        );
        println!(
            "ratio {e:<8} dt_score_vs_numpy_gemv={:.2} vs_duckdb_warm={:.2} group_vs_numpy_gemm={:.2} peak_rss_vs_budget={:.2} cold_vs_duckdb_cold={:.2}",
            rate / gemv,
            rate / duck_warm,
            group_rate / gemm,
            rss.max(group_rss) / budget as f64,
            first / duck_cold
        );
        // Room on the disk for the next encoding.
        let _ = std::fs::remove_dir_all(&g.data);
    }
    println!(
        "targets: float16 dt_score >= 1.5x numpy gemv, int8 >= 2.5x; 50 tags >= 1.0x numpy sgemm with float16; peak RSS <= 1.25x budget; cold first query <= 1.0x DuckDB's cold"
    );
    Ok(())
}

/// (Used by `compact`.) Scores every row of `dataset` against every tag of `group`, file by
/// file through the cache (or read for the scan when over budget), and prints the kernel's
/// scores/s (compute only) and this process's peak memory as JSON.
pub(super) async fn group_scan(global: &Global, dataset: &str, group: &str) -> Result<()> {
    let catalog: Arc<Catalog> = global.open().await?;
    let snapshot = catalog.snapshot();
    let definition = snapshot.definition(dataset, snapshot.group(group)?)?;
    let manifest = Arc::clone(snapshot.dataset(dataset)?);
    let model = manifest
        .models
        .get(&Modality::Visual)
        .ok_or_else(|| AppError::Usage(format!("dataset '{dataset}' has no images")))?;
    let heads = catalog.heads(&definition, Modality::Visual, &model.id, None)?;
    let t = heads.tags.len();
    let (mut compute, mut rows) = (0f64, 0usize);
    let total = Instant::now();
    let mut out = Vec::new();
    for file in manifest.files(TableKind::Images) {
        for b in batches(&catalog, file).await?.iter() {
            let (x, _) = embeddings(b)?;
            out.resize(b.num_rows() * t, 0f32);
            let s = Instant::now();
            heads.scorer.score_vectors_parallel(&x, &mut out);
            compute += s.elapsed().as_secs_f64();
            rows += b.num_rows();
        }
    }
    std::hint::black_box(&out);
    println!(
        "{}",
        serde_json::json!({
            "rows": rows,
            "tags": t,
            "compute_seconds": compute,
            "total_seconds": total.elapsed().as_secs_f64(),
            "scores_per_s": (rows * t) as f64 / compute,
            "peak_rss": peak_rss_of_self(),
        })
    );
    Ok(())
}
