//! `dyntag bench pixels`: images/s of the image ingest path (decode + preprocess + ONNX
//! Runtime) against Python's ONNX Runtime wheel on the same model and image files in the same
//! run (`benches/anchor_vision.py`), and video ingest speed as multiples of real time.

use std::path::Path;
use std::process::Command as Process;
use std::time::Instant;

use dyntag_core::{CatalogError, sample_data_dir};
use dyntag_models::Rgba;
use rayon::prelude::*;

use crate::cli::Global;
use crate::error::{AppError, Result};
use crate::ingest::{MediaOptions, discover, ingest};

pub(super) async fn run(global: &Global, n: usize, anchor: &Path, python: &str) -> Result<()> {
    let catalog = global.open().await?;
    let model = catalog
        .models()
        .get(catalog.models().default_id())
        .map_err(CatalogError::from)?;
    let vision = model.vision().map_err(CatalogError::from)?;
    let images: Vec<_> = super::zero_shot::categories()?
        .into_iter()
        .map(|(p, _)| p)
        .collect();
    if images.is_empty() || n == 0 {
        return Err(AppError::Usage(
            "no images to embed: --images must be positive and truth/labels.csv must list the sample images".into(),
        ));
    }
    let files: Vec<&Path> = images.iter().cycle().take(n).map(|p| p.as_path()).collect();
    let work = tempfile::tempdir().map_err(|e| AppError::io("temporary folder", e))?;
    let list = work.path().join("images.txt");
    let listing: String = files.iter().map(|p| format!("{}\n", p.display())).collect();
    std::fs::write(&list, listing).map_err(|e| AppError::io("writing the image list", e))?;

    // dyntag: decode in parallel, preprocess and embed in the tower's batches.
    let _ = vision.embed(&[Rgba::open(files[0]).map_err(AppError::Input)?]);
    let started = Instant::now();
    for chunk in files.chunks(256) {
        let decoded: Vec<Rgba> = chunk
            .par_iter()
            .map(|p| Rgba::open(p).map_err(AppError::Input))
            .collect::<Result<_>>()?;
        vision.embed(&decoded).map_err(CatalogError::from)?;
    }
    let ours = n as f64 / started.elapsed().as_secs_f64();
    println!("dyntag_images  images={n} images_per_s={ours:.1}");

    eprintln!("running the anchor ({python} {})", anchor.display());
    let out = Process::new(python)
        .arg(anchor)
        .arg(model.dir())
        .arg(&list)
        .output()
        .map_err(|e| AppError::io(format!("running {python} {}", anchor.display()), e))?;
    if !out.status.success() {
        return Err(AppError::Environment(format!(
            "the anchor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    let theirs: f64 = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("images_per_s="))
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::Environment(format!("unexpected anchor output: {text}")))?;

    // Videos: the whole ingest path (probe, shots, keyframes, embeddings, thumbnails, commit).
    let videos = sample_data_dir().join("library/videos");
    let found = discover(std::slice::from_ref(&videos))
        .map_err(|e| AppError::io(format!("reading {}", videos.display()), e))?;
    let mut seconds = 0.0;
    for (v, _) in &found.videos {
        seconds += dyntag_media::probe(v)
            .map_err(|e| AppError::Environment(e.to_string()))?
            .duration_ms as f64
            / 1000.0;
    }
    let count = found.videos.len();
    let vglobal = Global {
        data: work.path().join("data").display().to_string(),
        ..global.clone()
    };
    let vcatalog = vglobal.open().await?;
    let started = Instant::now();
    let report = ingest(
        &vcatalog,
        &MediaOptions::new("bench"),
        found,
        &dyntag_core::service::import::NoProgress,
    )
    .await?;
    let took = started.elapsed().as_secs_f64();
    if let Some((p, why)) = report.failed.first() {
        return Err(AppError::Input(format!("{}: {why}", p.display())));
    }
    println!(
        "dyntag_videos  videos={count} video_seconds={seconds:.1} seconds={took:.2} times_real_time={:.1}",
        seconds / took
    );
    println!();
    println!(
        "ratio images_vs_python_onnxruntime = {:.2}  (target >= 1.0)",
        ours / theirs
    );
    println!("video ingest = {:.1}x real time", seconds / took);
    Ok(())
}
