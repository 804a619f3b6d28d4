//! Still images: decoded in parallel, embedded in batches, thumbnailed.

use dyntag_core::service::import::{MediaAsset, MediaImage};
use dyntag_models::{Rgba, VisionEncoder};
use rayon::prelude::*;

use super::{Failed, Pending};
use crate::error::Result;

/// Decodes, embeds and thumbnails a chunk of images. Undecodable files come back in the
/// second list with their reason.
pub(crate) fn process(
    vision: &VisionEncoder,
    files: Vec<Pending>,
    thumbnail_side: u32,
) -> Result<(Vec<MediaAsset>, Vec<Failed>)> {
    let decoded: Vec<(Pending, std::result::Result<Rgba, String>)> = files
        .into_par_iter()
        .map(|p| {
            let img = Rgba::open(&p.path);
            (p, img)
        })
        .collect();
    let mut pending = Vec::new();
    let mut pixels = Vec::new();
    let mut failed = Vec::new();
    for (p, img) in decoded {
        match img {
            Ok(img) => {
                pending.push(p);
                pixels.push(img);
            }
            Err(reason) => failed.push((p.path, strip_path(&reason))),
        }
    }
    let embeddings = vision
        .embed(&pixels)
        .map_err(dyntag_core::CatalogError::from)?;
    let assets = pending
        .into_par_iter()
        .zip(pixels.into_par_iter())
        .enumerate()
        .map(|(i, (p, img))| {
            let thumbnail = dyntag_media::thumbnail::jpeg_fitted(
                &img.pixels,
                img.width,
                img.height,
                thumbnail_side,
            )
            .ok();
            MediaAsset {
                source: p.path.clone(),
                sha256: p.sha256,
                video: None,
                shots: Vec::new(),
                transcript: None,
                images: vec![MediaImage {
                    id: p.id,
                    video: None,
                    keyframe_index: None,
                    keyframe_time_ms: None,
                    shot_id: None,
                    path: p.path.display().to_string(),
                    width: img.width as i32,
                    height: img.height as i32,
                    embedding: embeddings.row(i).to_vec(),
                    thumbnail,
                }],
            }
        })
        .collect();
    Ok((assets, failed))
}

/// The reason of a decoding error without the path prefix (the report names the file).
fn strip_path(reason: &str) -> String {
    reason
        .split_once(": ")
        .map_or(reason, |(_, r)| r)
        .to_string()
}
