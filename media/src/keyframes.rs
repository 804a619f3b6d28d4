//! Keyframes: at least one per shot (its middle), and one per `interval` inside long shots,
//! extracted in one decoding pass.

use std::path::Path;

use crate::ffmpeg::RawFrames;
use crate::shots::{analysis_fps, cfr_filter};
use crate::{Result, Shot, ShotDetector, VideoInfo};

/// A keyframe to extract: which shot, which (constant-rate) frame, and when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Planned {
    pub index: usize,
    pub shot: usize,
    pub frame: u64,
    pub time_ms: i64,
}

/// An extracted keyframe: RGB pixels.
#[derive(Debug, Clone)]
pub struct Keyframe {
    pub planned: Planned,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// Plans keyframes: a shot of duration `d` gets `max(1, ceil(d / interval_ms))` keyframes at
/// the middles of that many equal parts.
pub fn plan(shots: &[Shot], interval_ms: i64) -> Vec<Planned> {
    let mut out = Vec::new();
    for s in shots {
        let frames = (s.end_frame - s.start_frame).max(1);
        let d = (s.end_ms - s.start_ms).max(1);
        let n = ((d + interval_ms.max(1) - 1) / interval_ms.max(1)).max(1) as u64;
        let n = n.min(frames);
        for k in 0..n {
            let frame = s.start_frame + ((2 * k + 1) * frames) / (2 * n);
            out.push(Planned {
                index: out.len(),
                shot: s.index,
                frame,
                time_ms: s.start_ms + ((frame - s.start_frame) as i64 * d) / frames as i64,
            });
        }
    }
    out
}

/// Extracts the planned keyframes, fitted within `max_side` pixels (aspect kept).
pub fn extract(
    path: &Path,
    info: &VideoInfo,
    planned: &[Planned],
    max_side: u32,
) -> Result<Vec<Keyframe>> {
    let fps = analysis_fps(info, ShotDetector::default().max_fps);
    let scale = (max_side as f64 / info.width.max(info.height) as f64).min(1.0);
    let w = (((info.width as f64 * scale).round() as u32).max(2)) & !1;
    let h = (((info.height as f64 * scale).round() as u32).max(2)) & !1;
    let mut out = Vec::with_capacity(planned.len());
    // select= takes one expression; keep each under a few thousand characters.
    for chunk in planned.chunks(200) {
        let select = chunk
            .iter()
            .map(|p| format!("eq(n\\,{})", p.frame))
            .collect::<Vec<_>>()
            .join("+");
        let filters = format!(
            "{},select='{select}',scale={w}:{h}:flags=area",
            cfr_filter(fps)
        );
        let mut frames = RawFrames::spawn(path, &filters, w, h)?;
        let mut buf = Vec::new();
        for p in chunk {
            if !frames.next_into(&mut buf)? {
                return Err(crate::MediaError::unreadable(
                    path,
                    format!("keyframe at frame {} could not be decoded", p.frame),
                ));
            }
            out.push(Keyframe {
                planned: *p,
                width: w,
                height: h,
                rgb: std::mem::take(&mut buf),
            });
        }
        frames.finish()?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shot(index: usize, a: u64, b: u64) -> Shot {
        Shot {
            index,
            start_frame: a,
            end_frame: b,
            start_ms: a as i64 * 100,
            end_ms: b as i64 * 100,
        }
    }

    #[test]
    fn one_per_short_shot_more_in_long_ones_all_inside() {
        let shots = [shot(0, 0, 20), shot(1, 20, 130)];
        let p = plan(&shots, 5_000);
        assert_eq!(p.iter().filter(|k| k.shot == 0).count(), 1);
        assert_eq!(p.iter().filter(|k| k.shot == 1).count(), 3);
        for k in &p {
            let s = shots[k.shot];
            assert!(k.frame >= s.start_frame && k.frame < s.end_frame);
        }
        assert_eq!(p[0].frame, 10);
    }
}
