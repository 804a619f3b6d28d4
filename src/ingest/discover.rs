//! Which files of the given paths are images, videos, transcripts and metadata.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dyntag_core::service::import::{IMAGE_EXTENSIONS, VIDEO_EXTENSIONS};

/// The files found under the paths given to `dyntag ingest`.
#[derive(Debug, Default)]
pub struct Discovered {
    pub images: Vec<PathBuf>,
    /// Videos with their WebVTT/SRT sidecar (same stem, same folder), if any.
    pub videos: Vec<(PathBuf, Option<PathBuf>)>,
    /// Transcripts without a video beside them (their video id is their stem).
    pub transcripts: Vec<PathBuf>,
    /// CSV/Parquet metadata keyed by id or by file name.
    pub metadata: Vec<PathBuf>,
    /// Files of no kind ingestion reads, with the reason.
    pub unsupported: Vec<(PathBuf, String)>,
}

fn ext(p: &Path) -> String {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Walks `paths` (files, or folders searched recursively; hidden files are ignored) in
/// sorted order.
pub fn discover(paths: &[PathBuf]) -> std::io::Result<Discovered> {
    let mut files = Vec::new();
    for p in paths {
        walk(p, &mut files, true)?;
    }
    files.sort();
    files.dedup();
    let mut subtitles: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut out = Discovered::default();
    for f in files {
        let e = ext(&f);
        if IMAGE_EXTENSIONS.contains(&e.as_str()) {
            out.images.push(f);
        } else if VIDEO_EXTENSIONS.contains(&e.as_str()) {
            out.videos.push((f, None));
        } else if e == "vtt" || e == "srt" {
            subtitles.insert(f.with_extension(""), f);
        } else if e == "csv" || e == "parquet" {
            out.metadata.push(f);
        } else {
            let reason = format!(
                "unsupported file type '.{e}' (images: {}; videos: {}; transcripts: vtt, srt; metadata: csv, parquet)",
                IMAGE_EXTENSIONS.join(", "),
                VIDEO_EXTENSIONS.join(", ")
            );
            out.unsupported.push((f, reason));
        }
    }
    for (video, sidecar) in &mut out.videos {
        *sidecar = subtitles.remove(&video.with_extension(""));
    }
    out.transcripts = subtitles.into_values().collect();
    Ok(out)
}

fn walk(p: &Path, out: &mut Vec<PathBuf>, given: bool) -> std::io::Result<()> {
    let hidden = p
        .file_name()
        .is_some_and(|n| n.to_string_lossy().starts_with('.'));
    if hidden && !given {
        return Ok(());
    }
    let meta = std::fs::metadata(p)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(p)? {
            walk(&entry?.path(), out, false)?;
        }
    } else {
        out.push(p.to_path_buf());
    }
    Ok(())
}
