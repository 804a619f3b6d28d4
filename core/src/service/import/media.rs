//! Importing media that ingestion decoded and embedded: images, a video's keyframes, shots
//! and transcript sidecar, and their JPEG thumbnails (stored beside the dataset's tables at
//! [`thumbnail_path`]). Like every import, one call is one commit; a file imported before
//! (same bytes) is skipped.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use object_store::path::Path;

use super::{ImportOptions, Outcome, Progress, Staging, commit, open_staging, segments};
use crate::model::Modality;
use crate::model::dataset::encoding::Encoding;
use crate::model::dataset::schema::{embedding_field, table_schema};
use crate::model::dataset::{EmbeddingModel, ImportRecord, TableKind, dataset_dir, now};
use crate::service::Catalog;
use crate::service::import::embedding::unit_array;
use crate::store::input::display;
use crate::{CatalogError, Result};

/// File extensions ingested as still images.
pub const IMAGE_EXTENSIONS: [&str; 6] = ["jpg", "jpeg", "png", "webp", "gif", "bmp"];
/// File extensions ingested as videos.
pub const VIDEO_EXTENSIONS: [&str; 8] = ["mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "ts"];

/// An image, or a keyframe of a video, with its embedding and thumbnail.
#[derive(Debug, Clone)]
pub struct MediaImage {
    pub id: String,
    pub video: Option<String>,
    pub keyframe_index: Option<i32>,
    pub keyframe_time_ms: Option<i64>,
    pub shot_id: Option<String>,
    /// The media file it comes from.
    pub path: String,
    pub width: i32,
    pub height: i32,
    pub embedding: Vec<f32>,
    /// A JPEG, stored at [`thumbnail_path`].
    pub thumbnail: Option<Vec<u8>>,
}

/// A shot of a video.
#[derive(Debug, Clone)]
pub struct MediaShot {
    pub shot_id: String,
    pub index: i32,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// A video row.
#[derive(Debug, Clone)]
pub struct MediaVideo {
    pub id: String,
    pub path: String,
    pub duration_ms: i64,
}

/// One media file, decoded and embedded.
#[derive(Debug, Clone)]
pub struct MediaAsset {
    /// The media file.
    pub source: PathBuf,
    /// SHA-256 of its bytes (the key of idempotent re-imports).
    pub sha256: String,
    pub video: Option<MediaVideo>,
    pub shots: Vec<MediaShot>,
    pub images: Vec<MediaImage>,
    /// A WebVTT/SRT transcript of the video, embedded with the default text model.
    pub transcript: Option<PathBuf>,
}

impl MediaAsset {
    fn kind(&self) -> &'static str {
        if self.video.is_some() {
            "video"
        } else {
            "image"
        }
    }
}

/// Where the thumbnail of an image or keyframe is stored.
pub fn thumbnail_path(dataset: &str, image_id: &str) -> Path {
    dataset_dir(dataset)
        .join("thumbnails")
        .join(format!("{image_id}.jpg"))
}

/// Imports decoded media whose visual embeddings come from `model` as one commit.
pub async fn import_media(
    catalog: &Catalog,
    dataset: &str,
    model: &str,
    assets: &[MediaAsset],
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    let (revision, mut st) = open_staging(catalog, dataset, options).await?;
    let staged = stage(&mut st, model, assets, progress).await;
    commit(revision, st, staged, progress).await
}

async fn stage(
    st: &mut Staging<'_>,
    model: &str,
    assets: &[MediaAsset],
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    let dataset = st.dataset().to_string();
    if let Some(k) = st.manifest.models.get(&Modality::Visual)
        && k.id != model
    {
        return Err(CatalogError::Invalid(format!(
            "dataset '{dataset}' holds visual embeddings of model '{}', not '{model}' (one model per modality)",
            k.id
        )));
    }
    let mut existing = st.existing_ids(TableKind::Images).await?.clone();
    let mut outcomes = Vec::new();
    let mut images: Vec<&MediaImage> = Vec::new();
    let mut shots: Vec<(&str, &MediaShot)> = Vec::new();
    let mut dim = st
        .manifest
        .models
        .get(&Modality::Visual)
        .map(|m| m.dimension);
    for asset in assets {
        let name = display(&asset.source);
        if let Some(prev) = st.manifest.imported(asset.kind(), &asset.sha256) {
            outcomes.push(Outcome::already_imported(asset.kind(), name, prev));
            continue;
        }
        for img in &asset.images {
            if !existing.insert(img.id.clone()) {
                return Err(CatalogError::Import {
                    file: name,
                    message: format!(
                        "image id '{}' already exists in dataset '{dataset}'",
                        img.id
                    ),
                });
            }
            match dim {
                Some(d) if d != img.embedding.len() => {
                    return Err(CatalogError::Import {
                        file: name,
                        message: format!(
                            "embedding of '{}' has dimension {}, the dataset's visual embeddings have {d}",
                            img.id,
                            img.embedding.len()
                        ),
                    });
                }
                _ => dim = Some(img.embedding.len()),
            }
            if let Some(jpeg) = &img.thumbnail {
                let path = thumbnail_path(&dataset, &img.id);
                st.written.push(path.clone());
                st.catalog
                    .store()
                    .put(&path, Bytes::from(jpeg.clone()))
                    .await?;
            }
            if let Some(v) = &img.video {
                st.note_video(v, img.keyframe_time_ms);
            }
            images.push(img);
        }
        let mut rows = asset.images.len() as u64;
        if let Some(v) = &asset.video {
            st.listed
                .insert(v.id.clone(), (Some(v.path.clone()), Some(v.duration_ms)));
            shots.extend(asset.shots.iter().map(|s| (v.id.as_str(), s)));
            rows += asset.shots.len() as u64;
        }
        if let Some(vtt) = &asset.transcript {
            rows += segments::import_transcripts(st, vtt, None, progress).await?;
        }
        st.manifest.imports.push(ImportRecord {
            kind: asset.kind().to_string(),
            source: name.clone(),
            sha256: asset.sha256.clone(),
            rows,
            at: now(),
        });
        outcomes.push(Outcome {
            kind: asset.kind(),
            source: name,
            rows,
            skipped: None,
        });
    }
    if let Some(d) = dim
        && !images.is_empty()
    {
        write_images(st, model, d, &images).await?;
        st.manifest.models.insert(
            Modality::Visual,
            EmbeddingModel {
                id: model.to_string(),
                dimension: d,
                encoding: st.encoding(Modality::Visual)?,
            },
        );
    }
    if !shots.is_empty() {
        write_shots(st, &shots).await?;
    }
    super::videos::rewrite(st).await?;
    Ok(outcomes)
}

async fn write_images(
    st: &mut Staging<'_>,
    model: &str,
    dim: usize,
    images: &[&MediaImage],
) -> Result<()> {
    let schema = table_schema(
        TableKind::Images,
        Some(embedding_field(
            model,
            Modality::Visual.as_str(),
            dim,
            Encoding::Float32,
        )),
    );
    let mut values = Vec::with_capacity(images.len() * dim);
    for i in images {
        values.extend_from_slice(&i.embedding);
    }
    let embedding = unit_array(values, dim);
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from_iter_values(images.iter().map(|i| &i.id))) as ArrayRef,
            Arc::new(StringArray::from_iter(
                images.iter().map(|i| i.video.as_deref()),
            )),
            Arc::new(Int32Array::from_iter(
                images.iter().map(|i| i.keyframe_index),
            )),
            Arc::new(Int64Array::from_iter(
                images.iter().map(|i| i.keyframe_time_ms),
            )),
            Arc::new(StringArray::from_iter(
                images.iter().map(|i| i.shot_id.as_deref()),
            )),
            Arc::new(StringArray::from_iter_values(
                images.iter().map(|i| &i.path),
            )),
            Arc::new(Int32Array::from_iter_values(images.iter().map(|i| i.width))),
            Arc::new(Int32Array::from_iter_values(
                images.iter().map(|i| i.height),
            )),
            Arc::new(embedding),
        ],
    )
    .map_err(|e| CatalogError::engine("images", e))?;
    let mut w = st.writer(TableKind::Images, schema)?;
    st.write(&mut w, &batch).await?;
    st.finish(w).await?;
    Ok(())
}

async fn write_shots(st: &mut Staging<'_>, shots: &[(&str, &MediaShot)]) -> Result<()> {
    let schema = table_schema(TableKind::Shots, None);
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            Arc::new(StringArray::from_iter_values(shots.iter().map(|(v, _)| *v))) as ArrayRef,
            Arc::new(StringArray::from_iter_values(
                shots.iter().map(|(_, s)| &s.shot_id),
            )),
            Arc::new(Int32Array::from_iter_values(
                shots.iter().map(|(_, s)| s.index),
            )),
            Arc::new(Int64Array::from_iter_values(
                shots.iter().map(|(_, s)| s.start_ms),
            )),
            Arc::new(Int64Array::from_iter_values(
                shots.iter().map(|(_, s)| s.end_ms),
            )),
        ],
    )
    .map_err(|e| CatalogError::engine("shots", e))?;
    for (v, s) in shots {
        st.note_video(v, Some(s.end_ms));
    }
    let mut w = st.writer(TableKind::Shots, schema)?;
    st.write(&mut w, &batch).await?;
    st.finish(w).await?;
    Ok(())
}
