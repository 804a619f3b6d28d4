//! The vision tower and its preprocessing against an independent reference: numpy (float64)
//! preprocessing of the same image and Python's ONNX Runtime on the same model
//! (`tests/fixtures/vision_reference.py`).

use std::path::{Path, PathBuf};
use std::process::Command;

use dyntag_models::preprocess::Preprocess;
use dyntag_models::{DEFAULT_MODEL_ID, ModelRegistry, Rgba};

fn root() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("..")
}

fn python() -> String {
    std::env::var("DYNTAG_PYTHON")
        .unwrap_or_else(|_| root().join(".venv/bin/python").display().to_string())
}

/// A 97×61 image with colour gradients, a sharp edge and partly transparent pixels.
fn test_image(dir: &Path) -> PathBuf {
    let img = image::RgbaImage::from_fn(97, 61, |x, y| {
        let edge = if x > 40 && y < 30 { 255 } else { 0 };
        let alpha = if x < 10 { (x * 25) as u8 } else { 255 };
        image::Rgba([(x * 2) as u8, (y * 4) as u8, edge, alpha])
    });
    let path = dir.join("test.png");
    img.save(&path).unwrap();
    path
}

#[derive(serde::Deserialize)]
struct Reference {
    pixel_max_abs_diff: f64,
    pil_8bit_max_abs_diff: f64,
    shape: Vec<usize>,
    #[serde(default)]
    embedding: Vec<f32>,
}

fn reference(
    model_dir: &str,
    config: &Path,
    image: &Path,
    pixels: &[f32],
    dir: &Path,
) -> Reference {
    let px = dir.join("pixels.f32");
    let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_le_bytes()).collect();
    std::fs::write(&px, bytes).unwrap();
    let out = dir.join("reference.json");
    let status = Command::new(python())
        .arg(root().join("tests/fixtures/vision_reference.py"))
        .args([
            model_dir.as_ref(),
            config.as_os_str(),
            image.as_os_str(),
            px.as_os_str(),
            out.as_os_str(),
        ])
        .status()
        .expect("python runs (scripts/setup makes .venv)");
    assert!(status.success(), "reference script failed");
    serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap()
}

#[test]
fn preprocessing_and_embeddings_match_numpy_and_python_onnx_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let image = test_image(dir.path());
    let registry = ModelRegistry::new(vec![root().join("sample-data/models")]).unwrap();
    let model = registry.get(DEFAULT_MODEL_ID).unwrap();
    let vision = model
        .vision()
        .expect("the default model has a vision tower");
    let img = Rgba::open(&image).unwrap();
    let (pixels, shape) = vision.pixel_values(std::slice::from_ref(&img)).unwrap();
    let config = model.dir().join("preprocessor_config.json");
    let r = reference(
        &model.dir().display().to_string(),
        &config,
        &image,
        &pixels,
        dir.path(),
    );
    assert_eq!(r.shape, shape.to_vec());
    assert!(
        r.pixel_max_abs_diff <= 1e-4,
        "pixels differ by {}",
        r.pixel_max_abs_diff
    );
    assert!(
        r.pil_8bit_max_abs_diff <= 1.5,
        "Pillow's 8-bit resize differs by {}",
        r.pil_8bit_max_abs_diff
    );
    let got = vision.embed(&[img]).unwrap();
    assert_eq!(got.dim(), r.embedding.len());
    let diff = got
        .row(0)
        .iter()
        .zip(&r.embedding)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff <= 1e-4, "embedding max abs diff {diff}");
}

#[test]
fn siglip_and_clip_style_configs_match_numpy() {
    let dir = tempfile::tempdir().unwrap();
    let image = test_image(dir.path());
    let img = Rgba::open(&image).unwrap();
    let configs = [
        // SigLIP: exact size, bicubic, no crop, mean/std 0.5
        r#"{"do_resize": true, "size": {"height": 40, "width": 50}, "resample": 3,
            "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}"#,
        // CLIP: shortest edge, bicubic, centre crop, CLIP's constants; upsampling
        r#"{"do_resize": true, "size": {"shortest_edge": 80}, "resample": 3,
            "do_center_crop": true, "crop_size": {"height": 72, "width": 72},
            "do_rescale": true, "rescale_factor": 0.00392156862745098, "do_normalize": true,
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711]}"#,
        // older integer sizes, bilinear, shrinking
        r#"{"size": 24, "crop_size": 20, "resample": 2,
            "image_mean": [0.1, 0.2, 0.3], "image_std": [0.9, 0.8, 0.7]}"#,
    ];
    for (i, text) in configs.iter().enumerate() {
        let config = dir.path().join(format!("config{i}.json"));
        std::fs::write(&config, text).unwrap();
        let p = Preprocess::load("test", &config).unwrap();
        let (h, w) = p.output_size(img.width, img.height);
        let mut pixels = vec![0f32; 3 * (h * w) as usize];
        p.apply(&img.pixels, img.width, img.height, &mut pixels);
        let r = reference("-", &config, &image, &pixels, dir.path());
        assert_eq!(r.shape, vec![1, 3, h as usize, w as usize], "config {i}");
        assert!(
            r.pixel_max_abs_diff <= 1e-4,
            "config {i}: pixels differ by {}",
            r.pixel_max_abs_diff
        );
        assert!(
            r.pil_8bit_max_abs_diff <= 1.5,
            "config {i}: Pillow differs by {}",
            r.pil_8bit_max_abs_diff
        );
    }
}

#[test]
fn bad_images_and_configs_are_named() {
    let err = Rgba::decode(b"not an image", "x.png").unwrap_err();
    assert!(err.starts_with("x.png: cannot decode image"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("preprocessor_config.json");
    std::fs::write(&config, r#"{"size": {"longest": 3}}"#).unwrap();
    let err = Preprocess::load("m", &config).unwrap_err().to_string();
    assert!(
        err.contains("preprocessor_config.json") && err.contains("shortest_edge"),
        "{err}"
    );
}
