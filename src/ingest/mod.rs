//! Ingesting media files: images and videos decoded from their pixels, embedded with a
//! model's vision tower, with transcript sidecars and metadata.
//!
//! Images are committed in chunks and each video in a commit of its own, so an interrupted
//! run keeps what it finished and shows nothing half-done; a re-run skips every file whose
//! bytes were ingested before. A file that cannot be read is reported with its reason and
//! skipped; the rest goes on.

mod discover;
mod images;
mod videos;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dyntag_core::service::import::ImportOptions;
use dyntag_core::service::import::{self, MediaAsset, Outcome, Progress, Source};
use dyntag_core::{Catalog, CatalogError};
use dyntag_models::VisionEncoder;

pub use discover::{Discovered, discover};
pub use videos::VideoOptions;

use crate::error::{AppError, Result};

/// How to ingest.
#[derive(Debug, Clone)]
pub struct MediaOptions {
    pub dataset: String,
    /// The model whose vision tower embeds pixels. Default: the registry's default model.
    pub model: Option<String>,
    pub video: VideoOptions,
    /// Longest side of stored thumbnails.
    pub thumbnail_side: u32,
    /// Images per commit.
    pub images_per_commit: usize,
    /// How the embeddings of a modality this ingest creates are stored, and whether the
    /// new rows are indexed for search now.
    pub import: ImportOptions,
}

impl MediaOptions {
    /// Defaults for `dataset`.
    pub fn new(dataset: &str) -> Self {
        Self {
            dataset: dataset.to_string(),
            model: None,
            video: VideoOptions::default(),
            thumbnail_side: 320,
            images_per_commit: 256,
            import: ImportOptions::default(),
        }
    }
}

/// A file that could not be ingested, and why.
pub type Failed = (PathBuf, String);

/// What an ingest run did.
#[derive(Debug, Default)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
    /// Files skipped because they could not be read, with the reason.
    pub failed: Vec<Failed>,
}

/// A file to ingest: path, SHA-256 of its bytes, and the asset id it gets (its stem).
#[derive(Debug, Clone)]
pub(crate) struct Pending {
    pub path: PathBuf,
    pub sha256: String,
    pub id: String,
}

/// Ingests what `discover` found.
pub async fn ingest(
    catalog: &Arc<Catalog>,
    opts: &MediaOptions,
    found: Discovered,
    progress: &dyn Progress,
) -> Result<Report> {
    let mut report = Report {
        failed: found.unsupported.clone(),
        ..Report::default()
    };
    let needs_pixels = !found.images.is_empty() || !found.videos.is_empty();
    let (model_id, vision) = if needs_pixels {
        let id = opts
            .model
            .clone()
            .unwrap_or_else(|| catalog.models().default_id().to_string());
        let model = catalog.models().get(&id).map_err(CatalogError::from)?;
        (id, Some(model.vision().map_err(CatalogError::from)?))
    } else {
        (String::new(), None)
    };
    if !found.videos.is_empty() {
        dyntag_media::require_ffmpeg().map_err(|e| AppError::Environment(e.to_string()))?;
    }

    let mut seen_ids = std::collections::HashSet::new();
    let images = pending(
        catalog,
        &opts.dataset,
        "image",
        &found.images,
        &mut seen_ids,
        &mut report,
    )?;
    let videos: Vec<(PathBuf, Option<PathBuf>)> = found.videos.clone();
    let video_paths: Vec<PathBuf> = videos.iter().map(|(v, _)| v.clone()).collect();
    let pending_videos = pending(
        catalog,
        &opts.dataset,
        "video",
        &video_paths,
        &mut seen_ids,
        &mut report,
    )?;

    if let Some(vision) = &vision {
        ingest_images(
            catalog,
            opts,
            &model_id,
            vision,
            images,
            progress,
            &mut report,
        )
        .await?;
        progress.begin("videos", Some(pending_videos.len() as u64));
        for p in pending_videos {
            let sidecar = videos
                .iter()
                .find(|(v, _)| *v == p.path)
                .and_then(|(_, s)| s.clone());
            let vision = Arc::clone(vision);
            let vopts = opts.video.clone();
            let thumb = opts.thumbnail_side;
            let path = p.path.clone();
            let made = tokio::task::spawn_blocking(move || {
                videos::process(&vision, &vopts, thumb, p, sidecar)
            })
            .await
            .map_err(|e| AppError::Internal(format!("video worker failed: {e}")))?;
            match made {
                Ok(asset) => commit(catalog, opts, &model_id, vec![asset], &mut report).await?,
                Err(reason) => report.failed.push((path, reason)),
            }
            progress.advance(1);
        }
        progress.end();
    }

    for t in &found.transcripts {
        let source = Source::Transcripts {
            path: t.clone(),
            model: None,
        };
        one_file(catalog, opts, source, t, progress, &mut report).await?;
    }
    for m in &found.metadata {
        let source = Source::Metadata { path: m.clone() };
        one_file(catalog, opts, source, m, progress, &mut report).await?;
    }
    Ok(report)
}

/// Hashes files, drops those ingested before (reported as skipped) and gives each its id.
fn pending(
    catalog: &Catalog,
    dataset: &str,
    kind: &'static str,
    files: &[PathBuf],
    seen_ids: &mut std::collections::HashSet<String>,
    report: &mut Report,
) -> Result<Vec<Pending>> {
    let snapshot = catalog.snapshot();
    let manifest = snapshot.dataset(dataset).ok();
    let mut out = Vec::new();
    for f in files {
        let sha = match dyntag_core::store::input::sha256(f) {
            Ok(s) => s,
            Err(e) => {
                report.failed.push((f.clone(), e.to_string()));
                continue;
            }
        };
        if let Some(prev) = manifest.and_then(|m| m.imported(kind, &sha)) {
            report.outcomes.push(Outcome::already_imported(
                kind,
                dyntag_core::store::input::display(f),
                prev,
            ));
            continue;
        }
        let id = asset_id(f);
        if !seen_ids.insert(id.clone()) {
            report.failed.push((
                f.clone(),
                format!("another file of this run is also named '{id}' (an asset's id is its file name without extension)"),
            ));
            continue;
        }
        out.push(Pending {
            path: f.clone(),
            sha256: sha,
            id,
        });
    }
    Ok(out)
}

/// The id of a media file's asset: its file name without extension.
pub fn asset_id(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "asset".into())
}

async fn ingest_images(
    catalog: &Arc<Catalog>,
    opts: &MediaOptions,
    model_id: &str,
    vision: &Arc<VisionEncoder>,
    images: Vec<Pending>,
    progress: &dyn Progress,
    report: &mut Report,
) -> Result<()> {
    if images.is_empty() {
        return Ok(());
    }
    progress.begin("images", Some(images.len() as u64));
    for chunk in images.chunks(opts.images_per_commit.max(1)) {
        let n = chunk.len() as u64;
        let vision = Arc::clone(vision);
        let chunk = chunk.to_vec();
        let thumb = opts.thumbnail_side;
        let (assets, failed) =
            tokio::task::spawn_blocking(move || images::process(&vision, chunk, thumb))
                .await
                .map_err(|e| AppError::Internal(format!("image worker failed: {e}")))??;
        report.failed.extend(failed);
        commit(catalog, opts, model_id, assets, report).await?;
        progress.advance(n);
    }
    progress.end();
    Ok(())
}

/// Commits assets together; when the commit is refused because of one file (an import
/// error names it), commits them one at a time so that only the bad ones are skipped.
async fn commit(
    catalog: &Catalog,
    opts: &MediaOptions,
    model_id: &str,
    assets: Vec<MediaAsset>,
    report: &mut Report,
) -> Result<()> {
    if assets.is_empty() {
        return Ok(());
    }
    let quiet = import::NoProgress;
    match import::import_media(
        catalog,
        &opts.dataset,
        model_id,
        &assets,
        &opts.import,
        &quiet,
    )
    .await
    {
        Ok(o) => {
            report.outcomes.extend(o);
            dyntag_core::store::fault::point("after-media-commit");
        }
        Err(CatalogError::Import { .. }) if assets.len() > 1 => {
            for a in assets {
                let path = a.source.clone();
                match import::import_media(
                    catalog,
                    &opts.dataset,
                    model_id,
                    &[a],
                    &opts.import,
                    &quiet,
                )
                .await
                {
                    Ok(o) => report.outcomes.extend(o),
                    Err(e @ CatalogError::Import { .. }) => {
                        report.failed.push((path, e.to_string()))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Err(e @ CatalogError::Import { .. }) => report
            .failed
            .push((assets[0].source.clone(), e.to_string())),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

async fn one_file(
    catalog: &Catalog,
    opts: &MediaOptions,
    source: Source,
    path: &Path,
    progress: &dyn Progress,
    report: &mut Report,
) -> Result<()> {
    match import::import_encoded(catalog, &opts.dataset, &[source], &opts.import, progress).await {
        Ok(o) => report.outcomes.extend(o),
        Err(e @ (CatalogError::Import { .. } | CatalogError::Invalid(_))) => {
            report.failed.push((path.to_path_buf(), e.to_string()))
        }
        Err(e) => return Err(e.into()),
    }
    Ok(())
}
