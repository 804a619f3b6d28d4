//! `dyntag bench search`: semantic search through the search index against the exact scan
//! and against FAISS HNSW (`benches/anchor_search.py`) with the same graph parameters, on
//! the same synthetic library of 512-d unit vectors: keyframes of shots of scenes of topics
//! (or, with `--flat`, the hard case of vectors around centres with noise as large as the
//! centres), queries drawn from the same topics. Prints the index's build speed, top-10 latency (median,
//! p95) and recall@10 against the exact answer, for both.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::Arc;
use std::time::Instant;

use dyntag_core::Modality;
use dyntag_core::model::dataset::encoding::Encoding;
use dyntag_core::scoring::ann::{CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH};
use dyntag_core::scoring::nearest::{CANDIDATES, nearest_with};
use dyntag_core::service::import::{ImportOptions, NoProgress, Source, import_encoded};
use dyntag_core::service::index::index_dataset;
use dyntag_core::store::random::Random;

use super::BENCH_MODEL;
use super::scoring::{normal, parse_anchor, tempdir_for, write_vectors};
use crate::cli::Global;
use crate::error::{AppError, Result};

const DIM: usize = 512;
/// Rows per cluster of the synthetic library.
const CLUSTER_ROWS: usize = 1000;

pub(super) struct Args<'a> {
    pub rows: usize,
    pub queries: usize,
    pub encoding: Encoding,
    pub flat: bool,
    pub candidates: Vec<usize>,
    pub work: Option<PathBuf>,
    pub anchor: &'a Path,
    pub python: &'a str,
}

/// A synthetic video library: topics, scenes of a topic, shots of a scene and keyframes of
/// a shot, each level a normal perturbation of the one above (spreads 1, 0.8, 0.5, 0.3 per
/// component before the final normalisation), so that a keyframe's nearest neighbours are
/// the other keyframes of its shot and scene, as in a real library. `flat` instead draws
/// every vector around one of rows/1000 centres with noise as large as the centre (spread
/// 1, 1): neighbours then differ little in distance, the hard case for any graph index.
struct Library {
    topics: Vec<Vec<f32>>,
    rng: Random,
    flat: bool,
}

/// Keyframes per shot, shots per scene, scenes per topic.
const SHOT: usize = 8;
const SCENE: usize = 6;
const TOPIC: usize = 20;

impl Library {
    fn new(rows: usize, seed: u64, flat: bool) -> Self {
        let mut rng = Random::seeded(seed);
        let per = if flat {
            CLUSTER_ROWS
        } else {
            SHOT * SCENE * TOPIC
        };
        let topics = (0..(rows / per).max(10))
            .map(|_| (0..DIM).map(|_| normal(&mut rng)).collect())
            .collect();
        Self { topics, rng, flat }
    }

    fn around(&mut self, v: &[f32], spread: f32) -> Vec<f32> {
        v.iter()
            .map(|x| x + spread * normal(&mut self.rng))
            .collect()
    }

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    /// The keyframes of one shot (one vector in the flat library).
    fn shot(&mut self) -> Vec<Vec<f32>> {
        let t = (self.rng.next_u64() % self.topics.len() as u64) as usize;
        let topic = self.topics[t].clone();
        if self.flat {
            return vec![Self::unit(self.around(&topic, 1.0))];
        }
        let scene = self.around(&topic, 0.8);
        let shot = self.around(&scene, 0.5);
        (0..SHOT)
            .map(|_| Self::unit(self.around(&shot, 0.3)))
            .collect()
    }

    /// `n` vectors, shot after shot.
    fn vectors(&mut self, n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * DIM);
        while out.len() < n * DIM {
            for v in self.shot() {
                if out.len() < n * DIM {
                    out.extend(v);
                }
            }
        }
        out
    }

    /// Writes `rows` vectors (ids `img00000000`, …) to a Parquet file; keeps none.
    fn write(&mut self, path: &Path, rows: usize) -> Result<()> {
        write_vectors(path, rows, DIM, |n| self.vectors(n))
    }
}

/// Median and 95th percentile of `ms`.
fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

pub(super) async fn run(global: &Global, args: Args<'_>) -> Result<()> {
    let work = tempdir_for(args.work.clone())?;
    let (base, queries) = (
        work.path().join("base.parquet"),
        work.path().join("queries.parquet"),
    );
    eprintln!(
        "writing {} {DIM}-d unit vectors ({} library) and {} queries from the same topics",
        args.rows,
        if args.flat { "flat" } else { "video" },
        args.queries
    );
    // The queries are keyframes of new shots of the library's topics (the same seed for the
    // topics, noise of their own).
    Library::new(args.rows, 7, args.flat).write(&base, args.rows)?;
    let mut lib = Library::new(args.rows, 7, args.flat);
    lib.rng = Random::seeded(8);
    let query_vectors: Vec<Vec<f32>> = (0..args.queries).map(|_| lib.shot().remove(0)).collect();
    write_queries(&queries, &query_vectors)?;

    let mut g = global.clone();
    g.data = work.path().join("data").to_string_lossy().into_owned();
    let catalog = g.open().await?;
    let t = Instant::now();
    import_encoded(
        &catalog,
        "bench",
        &[Source::Keyframes {
            path: base.clone(),
            model: BENCH_MODEL.into(),
        }],
        &ImportOptions {
            encoding: Some(args.encoding),
            defer_index: true,
        },
        &NoProgress,
    )
    .await?;
    eprintln!(
        "imported as {} in {:.1} s",
        args.encoding,
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    index_dataset(&catalog, "bench", &NoProgress).await?;
    let build_s = t.elapsed().as_secs_f64();
    let snapshot = catalog.snapshot();
    let manifest = snapshot.dataset("bench")?;
    let index_bytes: u64 = manifest
        .index_segments(Modality::Visual)
        .iter()
        .map(|s| s.bytes)
        .sum();

    // The first search reads the segment and the data files (the cache warms); measured
    // apart from the rest.
    let search = |q: Vec<f32>, exact: bool, candidates: usize| {
        let catalog = Arc::clone(&catalog);
        async move {
            let snapshot = catalog.snapshot();
            let manifest = snapshot.dataset("bench")?;
            let t = Instant::now();
            let found = nearest_with(
                &catalog,
                manifest,
                Modality::Visual,
                &q,
                10,
                exact,
                None,
                candidates,
            )
            .await?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            let rows: Vec<u64> = found
                .items
                .iter()
                .map(|i| i.id[3..].parse::<u64>().unwrap_or(u64::MAX))
                .collect();
            Ok::<_, AppError>((ms, rows))
        }
    };
    let (first_index_ms, _) = search(query_vectors[0].clone(), false, CANDIDATES).await?;
    let (first_exact_ms, _) = search(query_vectors[0].clone(), true, CANDIDATES).await?;
    let (mut exact_ms, mut truth) = (vec![], vec![]);
    for q in &query_vectors {
        let (ms, rows) = search(q.clone(), true, CANDIDATES).await?;
        exact_ms.push(ms);
        truth.push(rows);
    }
    let (exact_med, exact_p95) = percentiles(exact_ms);
    let mut ours = Vec::new();
    for &c in &args.candidates {
        let (mut index_ms, mut hits) = (vec![], 0usize);
        for (q, t) in query_vectors.iter().zip(&truth) {
            let (ms, rows) = search(q.clone(), false, c).await?;
            index_ms.push(ms);
            hits += rows.iter().filter(|r| t.contains(r)).count();
        }
        let (med, p95) = percentiles(index_ms);
        ours.push((c, med, p95, hits as f64 / (10 * query_vectors.len()) as f64));
    }

    let truth_path = work.path().join("truth.json");
    std::fs::write(&truth_path, serde_json::to_vec(&truth).unwrap_or_default())
        .map_err(|e| AppError::io(format!("writing {}", truth_path.display()), e))?;
    eprintln!(
        "running the anchor ({} {})",
        args.python,
        args.anchor.display()
    );
    let efs: Vec<String> = args
        .candidates
        .iter()
        .map(|c| c.max(&EXPANSION_SEARCH).to_string())
        .collect();
    let out = Process::new(args.python)
        .arg(args.anchor)
        .args([&base, &queries, &truth_path])
        .args(["--m", &CONNECTIVITY.to_string()])
        .args(["--ef-add", &EXPANSION_ADD.to_string()])
        .args(["--ef-search", &efs.join(",")])
        .args(["--encoding", args.encoding.as_str()])
        .output()
        .map_err(|e| AppError::io(format!("running {}", args.anchor.display()), e))?;
    if !out.status.success() {
        return Err(AppError::Environment(format!(
            "anchor failed (it needs numpy, pyarrow, faiss-cpu: scripts/setup installs them): {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    print!("{text}");
    let anchors = parse_anchor(&text);
    let faiss = |line: &str, k: &str| {
        anchors
            .get(line)
            .and_then(|m| m.get(k))
            .copied()
            .unwrap_or(f64::NAN)
    };

    let rows = args.rows as f64;
    println!(
        "dyntag_build rows={} build_s={build_s:.2} rows_per_s={:.1} bytes={index_bytes}",
        args.rows,
        rows / build_s
    );
    for (c, med, p95, recall) in &ours {
        println!("dyntag_candidates{c} median_ms={med:.4} p95_ms={p95:.4} recall={recall:.4}");
    }
    println!(
        "dyntag_exact rows={} median_ms={exact_med:.3} p95_ms={exact_p95:.3} first_ms={first_exact_ms:.1} (first indexed search {first_index_ms:.1} ms)",
        args.rows
    );
    println!();
    println!(
        "search over {} {DIM}-d vectors ({} library) stored as {}, HNSW M={CONNECTIVITY}, efConstruction={EXPANSION_ADD}, {} queries, top 10; exact scan median {exact_med:.1} ms:",
        args.rows,
        if args.flat { "flat" } else { "video" },
        args.encoding,
        args.queries
    );
    println!(
        "  build: {:.0} rows/s, FAISS {:.0} ({:.2}x)",
        rows / build_s,
        faiss("faiss_build", "rows_per_s"),
        rows / build_s / faiss("faiss_build", "rows_per_s")
    );
    println!(
        "  candidates (ef) | dyntag median ms | vs exact (>= 50x) | recall@10 (>= 0.95) | FAISS median ms | latency vs FAISS (<= 2x) | FAISS recall@10"
    );
    for (c, med, _, recall) in &ours {
        let ef = (*c).max(EXPANSION_SEARCH);
        let line = format!("faiss_ef{ef}");
        println!(
            "  {c:>6}{} | {med:.3} | {:.0}x | {recall:.3} | {:.3} | {:.2}x | {:.3}",
            if *c == CANDIDATES { " (default)" } else { "" },
            exact_med / med,
            faiss(&line, "median_ms"),
            med / faiss(&line, "median_ms"),
            faiss(&line, "recall")
        );
    }
    Ok(())
}

fn write_queries(path: &Path, queries: &[Vec<f32>]) -> Result<()> {
    let mut rows = queries.iter();
    write_vectors(path, queries.len(), DIM, |n| {
        rows.by_ref().take(n).flatten().copied().collect()
    })
}
