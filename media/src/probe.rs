//! `ffprobe`: a video's duration, frame size and frame rate.

use std::path::Path;
use std::process::Command;

use serde::Deserialize;

use crate::{MediaError, Result};

/// What ingestion needs to know of a video.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    pub duration_ms: i64,
    pub width: u32,
    pub height: u32,
    /// Frames per second (the stream's average rate).
    pub fps: f64,
    pub has_audio: bool,
}

#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    streams: Vec<Stream>,
    format: Option<Format>,
}

#[derive(Deserialize)]
struct Stream {
    codec_type: Option<String>,
    width: Option<u32>,
    height: Option<u32>,
    avg_frame_rate: Option<String>,
    r_frame_rate: Option<String>,
    duration: Option<String>,
    #[serde(default)]
    disposition: Disposition,
}

#[derive(Deserialize, Default)]
struct Disposition {
    #[serde(default)]
    attached_pic: i32,
}

#[derive(Deserialize)]
struct Format {
    duration: Option<String>,
}

fn rate(r: &Option<String>) -> Option<f64> {
    let r = r.as_deref()?;
    let (n, d) = r.split_once('/').unwrap_or((r, "1"));
    let (n, d): (f64, f64) = (n.parse().ok()?, d.parse().ok()?);
    (n > 0.0 && d > 0.0).then_some(n / d)
}

/// Probes a video file.
pub fn probe(path: &Path) -> Result<VideoInfo> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => MediaError::MissingProgram { program: "ffprobe" },
            _ => MediaError::unreadable(path, format!("cannot run ffprobe: {e}")),
        })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr);
        let first = msg.lines().last().unwrap_or("").trim().to_string();
        let first = first.rsplit(": ").next().unwrap_or(&first).to_string();
        return Err(MediaError::unreadable(
            path,
            format!("not a readable video ({first})"),
        ));
    }
    let p: Probe = serde_json::from_slice(&out.stdout)
        .map_err(|e| MediaError::unreadable(path, format!("unexpected ffprobe output: {e}")))?;
    let video = p
        .streams
        .iter()
        .find(|s| s.codec_type.as_deref() == Some("video") && s.disposition.attached_pic == 0)
        .ok_or_else(|| MediaError::unreadable(path, "has no video stream"))?;
    let (width, height) = match (video.width, video.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => (w, h),
        _ => {
            return Err(MediaError::unreadable(
                path,
                "video stream has no frame size",
            ));
        }
    };
    let fps = rate(&video.avg_frame_rate)
        .or_else(|| rate(&video.r_frame_rate))
        .ok_or_else(|| MediaError::unreadable(path, "video stream has no frame rate"))?;
    let seconds = video
        .duration
        .as_deref()
        .or(p.format.as_ref().and_then(|f| f.duration.as_deref()))
        .and_then(|d| d.parse::<f64>().ok())
        .filter(|d| *d > 0.0)
        .ok_or_else(|| MediaError::unreadable(path, "has no duration"))?;
    Ok(VideoInfo {
        duration_ms: (seconds * 1000.0).round() as i64,
        width,
        height,
        fps,
        has_audio: p
            .streams
            .iter()
            .any(|s| s.codec_type.as_deref() == Some("audio")),
    })
}
