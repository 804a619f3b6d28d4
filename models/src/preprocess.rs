//! Image preprocessing as `preprocessor_config.json` says (the Hugging Face image-processor
//! layout of CLIP and SigLIP exports): convert to RGB, resize, centre-crop, rescale, normalise.
//!
//! Resizing is PIL's separable resampling (the library the configs were written against):
//! for output pixel `x` the source centre is `(x + 0.5) · scale`, the filter's support is
//! widened by `scale` when shrinking (antialiasing), and weights are normalised to sum 1.
//! It runs in `f32` on 0–255 values, without PIL's rounding to 8 bits between passes.
//! Transparent pixels are composited over white.

use std::path::Path;

use serde::Deserialize;

use crate::{ModelError, Result};

/// The preprocessing of a vision tower.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocess {
    pub resize: Resize,
    pub filter: Filter,
    /// `(height, width)` of the centre crop, if any.
    pub crop: Option<(u32, u32)>,
    pub rescale: f32,
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

/// How the image is resized before cropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// The shorter edge becomes this many pixels, the aspect ratio kept (CLIP).
    ShortestEdge(u32),
    /// Exactly `(height, width)` (SigLIP).
    Exact(u32, u32),
    None,
}

/// The resampling filter (PIL's numbering in `resample`: 2 bilinear, 3 bicubic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Bilinear,
    Bicubic,
}

impl Filter {
    fn support(self) -> f32 {
        match self {
            Self::Bilinear => 1.0,
            Self::Bicubic => 2.0,
        }
    }

    fn weight(self, x: f32) -> f32 {
        let x = x.abs();
        match self {
            Self::Bilinear => (1.0 - x).max(0.0),
            Self::Bicubic => {
                const A: f32 = -0.5;
                if x < 1.0 {
                    ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
                } else if x < 2.0 {
                    (((x - 5.0) * x + 8.0) * x - 4.0) * A
                } else {
                    0.0
                }
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SizeSpec {
    Int(u32),
    Map {
        #[serde(default)]
        shortest_edge: Option<u32>,
        #[serde(default)]
        height: Option<u32>,
        #[serde(default)]
        width: Option<u32>,
    },
}

#[derive(Deserialize)]
struct Config {
    #[serde(default = "yes")]
    do_resize: bool,
    #[serde(default)]
    size: Option<SizeSpec>,
    #[serde(default)]
    resample: Option<u32>,
    #[serde(default)]
    do_center_crop: Option<bool>,
    #[serde(default)]
    crop_size: Option<SizeSpec>,
    #[serde(default = "yes")]
    do_rescale: bool,
    #[serde(default)]
    rescale_factor: Option<f32>,
    #[serde(default = "yes")]
    do_normalize: bool,
    #[serde(default)]
    image_mean: Option<Vec<f32>>,
    #[serde(default)]
    image_std: Option<Vec<f32>>,
}

fn yes() -> bool {
    true
}

/// CLIP's normalisation constants, the default of CLIPImageProcessor.
const CLIP_MEAN: [f32; 3] = [0.481_454_66, 0.457_827_5, 0.408_210_73];
const CLIP_STD: [f32; 3] = [0.268_629_54, 0.261_302_6, 0.275_777_1];

impl Preprocess {
    /// Reads `preprocessor_config.json` of a model directory.
    pub fn load(model: &str, path: &Path) -> Result<Self> {
        let invalid = |message: String| ModelError::InvalidConfig {
            model: model.to_string(),
            path: path.to_path_buf(),
            message,
        };
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let c: Config = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let resize = if !c.do_resize {
            Resize::None
        } else {
            match c.size {
                Some(SizeSpec::Int(s)) => Resize::ShortestEdge(s),
                Some(SizeSpec::Map {
                    shortest_edge: Some(s),
                    ..
                }) => Resize::ShortestEdge(s),
                Some(SizeSpec::Map {
                    height: Some(h),
                    width: Some(w),
                    ..
                }) => Resize::Exact(h, w),
                _ => {
                    return Err(invalid(
                        "\"size\" needs shortest_edge or height and width".into(),
                    ));
                }
            }
        };
        let filter = match c.resample.unwrap_or(3) {
            2 => Filter::Bilinear,
            3 => Filter::Bicubic,
            other => {
                return Err(invalid(format!(
                    "resample {other} is not supported (2 bilinear, 3 bicubic)"
                )));
            }
        };
        let crop = match (
            c.do_center_crop.unwrap_or(c.crop_size.is_some()),
            c.crop_size,
        ) {
            (false, _) => None,
            (true, Some(SizeSpec::Int(s))) => Some((s, s)),
            (
                true,
                Some(SizeSpec::Map {
                    height: Some(h),
                    width: Some(w),
                    ..
                }),
            ) => Some((h, w)),
            (true, _) => return Err(invalid("\"crop_size\" needs height and width".into())),
        };
        let three = |v: Option<Vec<f32>>, default: [f32; 3], what: &str| -> Result<[f32; 3]> {
            match v {
                None => Ok(default),
                Some(v) if v.len() == 3 => Ok([v[0], v[1], v[2]]),
                Some(v) => Err(invalid(format!(
                    "{what} has {} values, expected 3",
                    v.len()
                ))),
            }
        };
        let (mean, std) = if c.do_normalize {
            (
                three(c.image_mean, CLIP_MEAN, "image_mean")?,
                three(c.image_std, CLIP_STD, "image_std")?,
            )
        } else {
            ([0.0; 3], [1.0; 3])
        };
        if std.contains(&0.0) {
            return Err(invalid("image_std has a zero".into()));
        }
        Ok(Self {
            resize,
            filter,
            crop,
            rescale: if c.do_rescale {
                c.rescale_factor.unwrap_or(1.0 / 255.0)
            } else {
                1.0
            },
            mean,
            std,
        })
    }

    /// The `(height, width)` of the tensor this produces for a `width × height` image.
    pub fn output_size(&self, width: u32, height: u32) -> (u32, u32) {
        let (h, w) = self.resized_size(width, height);
        self.crop.unwrap_or((h, w))
    }

    fn resized_size(&self, width: u32, height: u32) -> (u32, u32) {
        match self.resize {
            Resize::None => (height, width),
            Resize::Exact(h, w) => (h, w),
            Resize::ShortestEdge(s) => {
                let (short, long) = (width.min(height), width.max(height));
                let long_out = ((s as u64 * long as u64) / short.max(1) as u64) as u32;
                if width <= height {
                    (long_out, s)
                } else {
                    (s, long_out)
                }
            }
        }
    }

    /// Preprocesses an RGBA image (row-major, 4 bytes a pixel) into `out`, a CHW tensor of
    /// `3 × h × w` floats where `(h, w)` is [`Self::output_size`].
    pub fn apply(&self, rgba: &[u8], width: u32, height: u32, out: &mut [f32]) {
        let (w0, h0) = (width as usize, height as usize);
        // RGBA over white, as 0..255 floats, interleaved RGB.
        let mut rgb = Vec::with_capacity(w0 * h0 * 3);
        for px in rgba.chunks_exact(4) {
            let a = px[3] as f32 / 255.0;
            for c in &px[..3] {
                rgb.push(*c as f32 * a + 255.0 * (1.0 - a));
            }
        }
        let (rh, rw) = self.resized_size(width, height);
        let (rh, rw) = (rh as usize, rw as usize);
        let resized = if (rh, rw) == (h0, w0) {
            rgb
        } else {
            let horizontal = resample_rows(&rgb, w0, h0, rw, self.filter);
            resample_cols(&horizontal, rw, h0, rh, self.filter)
        };
        let (ch, cw) = self
            .crop
            .map_or((rh, rw), |(h, w)| (h as usize, w as usize));
        // Hugging Face's center_crop: top = (height - crop_h) // 2 (pads when smaller).
        let top = (rh as isize - ch as isize) / 2;
        let left = (rw as isize - cw as isize) / 2;
        let plane = ch * cw;
        assert_eq!(out.len(), 3 * plane, "output buffer size");
        for y in 0..ch {
            let sy = y as isize + top;
            for x in 0..cw {
                let sx = x as isize + left;
                for c in 0..3 {
                    let v = if sy >= 0 && sx >= 0 && (sy as usize) < rh && (sx as usize) < rw {
                        resized[(sy as usize * rw + sx as usize) * 3 + c]
                    } else {
                        0.0
                    };
                    out[c * plane + y * cw + x] = (v * self.rescale - self.mean[c]) / self.std[c];
                }
            }
        }
    }
}

/// The taps of one output coordinate: first source index and normalised weights.
fn taps(in_size: usize, out_size: usize, filter: Filter) -> Vec<(usize, Vec<f32>)> {
    let scale = in_size as f64 / out_size as f64;
    let filterscale = scale.max(1.0);
    let support = filter.support() as f64 * filterscale;
    (0..out_size)
        .map(|x| {
            let center = (x as f64 + 0.5) * scale;
            let lo = ((center - support + 0.5).floor().max(0.0)) as usize;
            let hi = ((center + support + 0.5).floor() as usize).min(in_size);
            let mut w: Vec<f32> = (lo..hi)
                .map(|i| filter.weight(((i as f64 - center + 0.5) / filterscale) as f32))
                .collect();
            let sum: f32 = w.iter().sum();
            if sum != 0.0 {
                w.iter_mut().for_each(|v| *v /= sum);
            }
            (lo, w)
        })
        .collect()
}

fn resample_rows(src: &[f32], w: usize, h: usize, out_w: usize, filter: Filter) -> Vec<f32> {
    let taps = taps(w, out_w, filter);
    let mut out = vec![0.0; out_w * h * 3];
    for y in 0..h {
        let row = &src[y * w * 3..(y + 1) * w * 3];
        for (x, (lo, ws)) in taps.iter().enumerate() {
            let mut acc = [0.0f32; 3];
            for (k, wt) in ws.iter().enumerate() {
                let p = &row[(lo + k) * 3..(lo + k) * 3 + 3];
                acc[0] += p[0] * wt;
                acc[1] += p[1] * wt;
                acc[2] += p[2] * wt;
            }
            out[(y * out_w + x) * 3..(y * out_w + x) * 3 + 3].copy_from_slice(&acc);
        }
    }
    out
}

fn resample_cols(src: &[f32], w: usize, h: usize, out_h: usize, filter: Filter) -> Vec<f32> {
    let taps = taps(h, out_h, filter);
    let mut out = vec![0.0; w * out_h * 3];
    for (y, (lo, ws)) in taps.iter().enumerate() {
        let dst = &mut out[y * w * 3..(y + 1) * w * 3];
        for (k, wt) in ws.iter().enumerate() {
            let row = &src[(lo + k) * w * 3..(lo + k + 1) * w * 3];
            for (d, s) in dst.iter_mut().zip(row) {
                *d += s * wt;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pre(resize: Resize, crop: Option<(u32, u32)>) -> Preprocess {
        Preprocess {
            resize,
            filter: Filter::Bilinear,
            crop,
            rescale: 1.0 / 255.0,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    #[test]
    fn shortest_edge_keeps_aspect_and_crop_centres() {
        let p = pre(Resize::ShortestEdge(64), Some((64, 64)));
        assert_eq!(p.resized_size(320, 240), (64, 85));
        assert_eq!(p.output_size(320, 240), (64, 64));
        assert_eq!(p.resized_size(100, 400), (256, 64));
    }

    #[test]
    fn a_flat_image_stays_flat_and_alpha_goes_white() {
        let p = pre(Resize::Exact(8, 8), None);
        let mut rgba = vec![0u8; 20 * 10 * 4];
        for px in rgba.chunks_exact_mut(4) {
            px.copy_from_slice(&[51, 102, 153, 255]);
        }
        let mut out = vec![0.0; 3 * 64];
        p.apply(&rgba, 20, 10, &mut out);
        for (c, v) in [0.2f32, 0.4, 0.6].iter().enumerate() {
            assert!(
                out[c * 64..(c + 1) * 64]
                    .iter()
                    .all(|x| (x - v).abs() < 1e-5)
            );
        }
        let clear = vec![0u8; 4 * 4 * 4];
        let mut out = vec![0.0; 3 * 64];
        p.apply(&clear, 4, 4, &mut out);
        assert!(
            out.iter().all(|x| (x - 1.0).abs() < 1e-5),
            "transparent is white"
        );
    }

    #[test]
    fn weights_sum_to_one() {
        for f in [Filter::Bilinear, Filter::Bicubic] {
            for (i, o) in [(100, 7), (7, 100), (64, 64)] {
                for (_, w) in taps(i, o, f) {
                    assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                }
            }
        }
    }
}
