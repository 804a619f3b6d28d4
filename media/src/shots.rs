//! Shot detection: a content-change detector on downscaled frames, in the manner of
//! PySceneDetect's `ContentDetector` and `AdaptiveDetector`.
//!
//! Every frame is converted to HSV (OpenCV's 8-bit scale: H in 0..180, S and V in 0..256);
//! the score of a frame is the mean, over H, S and V, of the mean absolute difference of
//! that channel from the previous frame. A cut is placed before a frame when the current shot
//! has lasted at least `min_shot_ms` (default 500 ms) and either
//! - its score is at least `threshold` (default 27, PySceneDetect's `ContentDetector`
//!   default), or
//! - its score is at least `min_adaptive_score` (default 10) and at least `adaptive_ratio`
//!   (default 3) times the mean score of the `window` (default 2) frames on each side
//!   (PySceneDetect's `AdaptiveDetector` rule; its minimum score is 15, ours is lower because
//!   the ratio test already keeps motion out): a jump that stands out from the motion around
//!   it, which catches cuts between similar-looking shots (e.g. drawings on pale backdrops).
//!
//! A fade or a slow zoom changes little per frame and is not a cut.

use std::path::Path;

use crate::ffmpeg::RawFrames;
use crate::{Result, VideoInfo};

/// One shot: frames `[start_frame, end_frame)` and their times.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shot {
    pub index: usize,
    pub start_frame: u64,
    pub end_frame: u64,
    pub start_ms: i64,
    pub end_ms: i64,
}

/// The detector's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShotDetector {
    /// Score at or above which a cut is placed.
    pub threshold: f64,
    /// A lower score is a cut when it is this many times its neighbours' mean score...
    pub adaptive_ratio: f64,
    /// ...and at least this high.
    pub min_adaptive_score: f64,
    /// Neighbours on each side for the adaptive rule.
    pub window: usize,
    /// Shortest shot.
    pub min_shot_ms: i64,
    /// Width of the analysed frames (height follows the aspect ratio).
    pub analysis_width: u32,
    /// Frames per second analysed (videos faster than this are sampled down).
    pub max_fps: f64,
}

impl Default for ShotDetector {
    fn default() -> Self {
        Self {
            threshold: 27.0,
            adaptive_ratio: 3.0,
            min_adaptive_score: 10.0,
            window: 2,
            min_shot_ms: 500,
            analysis_width: 96,
            max_fps: 30.0,
        }
    }
}

/// The frame rate frames are analysed and numbered at.
pub(crate) fn analysis_fps(info: &VideoInfo, max_fps: f64) -> f64 {
    info.fps.min(max_fps)
}

/// The filter that turns the video into constant-rate frames numbered as shots count them.
pub(crate) fn cfr_filter(fps: f64) -> String {
    format!("fps={fps:.6}")
}

pub(crate) fn frame_ms(frame: u64, fps: f64) -> i64 {
    (frame as f64 * 1000.0 / fps).round() as i64
}

impl ShotDetector {
    /// Finds the shots of a video; the last shot ends at the video's duration.
    pub fn detect(&self, path: &Path, info: &VideoInfo) -> Result<Vec<Shot>> {
        let fps = analysis_fps(info, self.max_fps);
        let w = self.analysis_width.max(8) & !1;
        let h = ((w as f64 * info.height as f64 / info.width as f64).round() as u32).max(8) & !1;
        let filters = format!("{},scale={w}:{h}:flags=area", cfr_filter(fps));
        let mut frames = RawFrames::spawn(path, &filters, w, h)?;
        let min_frames = ((self.min_shot_ms as f64 / 1000.0) * fps).ceil().max(1.0) as u64;
        let mut buf = Vec::new();
        let mut prev: Option<Vec<[u8; 3]>> = None;
        // scores[i]: the change from frame i - 1 to frame i (0 for the first frame)
        let mut scores = Vec::new();
        while frames.next_into(&mut buf)? {
            let hsv: Vec<[u8; 3]> = buf.chunks_exact(3).map(rgb_to_hsv).collect();
            scores.push(prev.as_ref().map_or(0.0, |p| content_score(p, &hsv)));
            prev = Some(hsv);
        }
        let n = scores.len() as u64;
        let cuts = self.cuts(&scores, min_frames);
        if n == 0 {
            return Err(crate::MediaError::unreadable(
                path,
                "no frames could be decoded",
            ));
        }
        let end_ms = info.duration_ms.max(frame_ms(n, fps));
        Ok(cuts
            .iter()
            .enumerate()
            .map(|(i, &start)| {
                let end = cuts.get(i + 1).copied().unwrap_or(n);
                Shot {
                    index: i,
                    start_frame: start,
                    end_frame: end,
                    start_ms: frame_ms(start, fps),
                    end_ms: if i + 1 == cuts.len() {
                        end_ms
                    } else {
                        frame_ms(end, fps)
                    },
                }
            })
            .collect())
    }

    /// The first frame of every shot, given the frame scores.
    pub fn cuts(&self, scores: &[f64], min_frames: u64) -> Vec<u64> {
        let mut cuts = vec![0u64];
        for (i, &score) in scores.iter().enumerate().skip(1) {
            let last = *cuts.last().expect("starts with 0");
            if (i as u64) - last < min_frames {
                continue;
            }
            let lo = i.saturating_sub(self.window).max(1);
            let hi = (i + self.window).min(scores.len() - 1);
            let neighbours: Vec<f64> = (lo..=hi).filter(|&j| j != i).map(|j| scores[j]).collect();
            let mean = neighbours.iter().sum::<f64>() / neighbours.len().max(1) as f64;
            let adaptive =
                score >= self.min_adaptive_score && score >= self.adaptive_ratio * mean.max(1e-6);
            if score >= self.threshold || adaptive {
                cuts.push(i as u64);
            }
        }
        cuts
    }
}

/// The mean over H, S, V of the mean absolute difference between two frames.
pub(crate) fn content_score(a: &[[u8; 3]], b: &[[u8; 3]]) -> f64 {
    let mut sums = [0u64; 3];
    for (p, q) in a.iter().zip(b) {
        for c in 0..3 {
            sums[c] += p[c].abs_diff(q[c]) as u64;
        }
    }
    let n = a.len().max(1) as f64;
    sums.iter().map(|s| *s as f64 / n).sum::<f64>() / 3.0
}

/// OpenCV's 8-bit RGB → HSV: H in 0..180 (degrees / 2), S and V in 0..=255.
pub(crate) fn rgb_to_hsv(p: &[u8]) -> [u8; 3] {
    let (r, g, b) = (p[0] as f32, p[1] as f32, p[2] as f32);
    let v = r.max(g).max(b);
    let min = r.min(g).min(b);
    let delta = v - min;
    let s = if v > 0.0 { 255.0 * delta / v } else { 0.0 };
    let mut h = if delta == 0.0 {
        0.0
    } else if v == r {
        60.0 * (g - b) / delta
    } else if v == g {
        120.0 + 60.0 * (b - r) / delta
    } else {
        240.0 + 60.0 * (r - g) / delta
    };
    if h < 0.0 {
        h += 360.0;
    }
    [(h / 2.0).round().min(179.0) as u8, s.round() as u8, v as u8]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hsv_matches_opencv_on_primaries() {
        assert_eq!(rgb_to_hsv(&[255, 0, 0]), [0, 255, 255]);
        assert_eq!(rgb_to_hsv(&[0, 255, 0]), [60, 255, 255]);
        assert_eq!(rgb_to_hsv(&[0, 0, 255]), [120, 255, 255]);
        assert_eq!(rgb_to_hsv(&[255, 255, 255]), [0, 0, 255]);
        assert_eq!(rgb_to_hsv(&[0, 0, 0]), [0, 0, 0]);
    }

    #[test]
    fn adaptive_rule_finds_a_modest_jump_among_still_frames_but_not_in_motion() {
        let d = ShotDetector::default();
        let mut still = vec![0.2; 40];
        still[20] = 12.0; // below 27, but stands out
        assert_eq!(d.cuts(&still, 5), vec![0, 20]);
        let mut moving = vec![12.0; 40];
        moving[20] = 20.0; // a bigger jump inside fast motion is not a cut
        assert_eq!(d.cuts(&moving, 5), vec![0]);
        let mut hard = vec![25.0; 40];
        hard[10] = 30.0; // above the threshold: a cut whatever the motion
        assert_eq!(d.cuts(&hard, 5), vec![0, 10]);
    }

    #[test]
    fn identical_frames_score_zero_and_black_to_white_is_high() {
        let black = vec![[0u8, 0, 0]; 16];
        let white = vec![rgb_to_hsv(&[255, 255, 255]); 16];
        assert_eq!(content_score(&black, &black), 0.0);
        assert!((content_score(&black, &white) - 85.0).abs() < 1e-9);
    }
}
