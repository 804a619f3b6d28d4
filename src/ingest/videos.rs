//! Videos: probe, detect shots, extract keyframes, embed and thumbnail them.

use std::path::PathBuf;

use dyntag_core::service::import::{MediaAsset, MediaImage, MediaShot, MediaVideo};
use dyntag_media::{ShotDetector, keyframes, probe};
use dyntag_models::{Rgba, VisionEncoder};
use rayon::prelude::*;

use super::Pending;

/// Shot and keyframe settings.
#[derive(Debug, Clone)]
pub struct VideoOptions {
    pub detector: ShotDetector,
    /// A shot longer than this gets a keyframe per this much time.
    pub keyframe_interval_ms: i64,
    /// Longest side of extracted keyframes (embedded and thumbnailed from this size).
    pub keyframe_side: u32,
}

impl Default for VideoOptions {
    fn default() -> Self {
        Self {
            detector: ShotDetector::default(),
            keyframe_interval_ms: 5_000,
            keyframe_side: 384,
        }
    }
}

/// Decodes one video into its rows; an unreadable video comes back as its reason.
pub(crate) fn process(
    vision: &VisionEncoder,
    opts: &VideoOptions,
    thumbnail_side: u32,
    p: Pending,
    sidecar: Option<PathBuf>,
) -> Result<MediaAsset, String> {
    let reason = |e: dyntag_media::MediaError| match e {
        dyntag_media::MediaError::Unreadable { reason, .. } => reason,
        other => other.to_string(),
    };
    let info = probe(&p.path).map_err(reason)?;
    let shots = opts.detector.detect(&p.path, &info).map_err(reason)?;
    let plan = keyframes::plan(&shots, opts.keyframe_interval_ms);
    let frames = keyframes::extract(&p.path, &info, &plan, opts.keyframe_side).map_err(reason)?;
    let pixels: Vec<Rgba> = frames
        .par_iter()
        .map(|k| Rgba::from_rgb(k.width, k.height, &k.rgb))
        .collect();
    let embeddings = vision.embed(&pixels).map_err(|e| e.to_string())?;
    let video = p.id.clone();
    let shot_id = |i: usize| format!("{video}-s{i:04}");
    let path = p.path.display().to_string();
    let images = frames
        .par_iter()
        .enumerate()
        .map(|(i, k)| MediaImage {
            id: format!("{video}-kf{:04}", k.planned.index),
            video: Some(video.clone()),
            keyframe_index: Some(k.planned.index as i32),
            keyframe_time_ms: Some(k.planned.time_ms),
            shot_id: Some(shot_id(k.planned.shot)),
            path: path.clone(),
            width: k.width as i32,
            height: k.height as i32,
            embedding: embeddings.row(i).to_vec(),
            thumbnail: fitted_jpeg(&k.rgb, k.width, k.height, thumbnail_side),
        })
        .collect();
    Ok(MediaAsset {
        source: p.path.clone(),
        sha256: p.sha256,
        video: Some(MediaVideo {
            id: video.clone(),
            path,
            duration_ms: info.duration_ms,
        }),
        shots: shots
            .iter()
            .map(|s| MediaShot {
                shot_id: shot_id(s.index),
                index: s.index as i32,
                start_ms: s.start_ms,
                end_ms: s.end_ms,
            })
            .collect(),
        images,
        transcript: sidecar,
    })
}

fn fitted_jpeg(rgb: &[u8], w: u32, h: u32, side: u32) -> Option<Vec<u8>> {
    if w.max(h) <= side {
        return dyntag_media::thumbnail::jpeg(rgb, w, h).ok();
    }
    let rgba = Rgba::from_rgb(w, h, rgb);
    dyntag_media::thumbnail::jpeg_fitted(&rgba.pixels, w, h, side).ok()
}
