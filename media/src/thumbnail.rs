//! JPEG thumbnails of keyframes and images.

use image::codecs::jpeg::JpegEncoder;
use image::{ExtendedColorType, ImageEncoder};

/// Encodes RGB pixels as a JPEG of quality 80.
pub fn jpeg(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 80)
        .write_image(rgb, width, height, ExtendedColorType::Rgb8)
        .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Fits RGBA pixels within `max_side` (aspect kept, over white) and encodes them as JPEG.
pub fn jpeg_fitted(rgba: &[u8], width: u32, height: u32, max_side: u32) -> Result<Vec<u8>, String> {
    let img = image::RgbaImage::from_raw(width, height, rgba.to_vec())
        .ok_or_else(|| "pixel buffer does not match the image size".to_string())?;
    let scale = (max_side as f64 / width.max(height) as f64).min(1.0);
    let (w, h) = (
        ((width as f64 * scale).round() as u32).max(1),
        ((height as f64 * scale).round() as u32).max(1),
    );
    let img = if (w, h) == (width, height) {
        img
    } else {
        image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
    };
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for p in img.pixels() {
        let a = p[3] as u32;
        for c in 0..3 {
            rgb.push(((p[c] as u32 * a + 255 * (255 - a)) / 255) as u8);
        }
    }
    jpeg(&rgb, w, h)
}
