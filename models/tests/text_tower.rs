//! The text tower of the shipped default model against Python's ONNX Runtime.

use std::path::PathBuf;

use dyntag_models::{DEFAULT_MODEL_ID, ModelRegistry};

fn registry() -> ModelRegistry {
    let root = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("../sample-data/models");
    ModelRegistry::new(vec![root]).expect("sample models")
}

#[derive(serde::Deserialize)]
struct Reference {
    sentences: Vec<String>,
    embeddings: Vec<Vec<f32>>,
}

#[test]
fn matches_python_onnx_runtime() {
    let reg = registry();
    assert_eq!(reg.default_id(), DEFAULT_MODEL_ID);
    let model = reg.get(DEFAULT_MODEL_ID).unwrap();
    let path = model.dir().join("reference_embeddings.json");
    let reference: Reference =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let text = model.text().unwrap();
    assert_eq!(text.dim(), 384);
    let got = text.embed(&reference.sentences).unwrap();
    assert_eq!(got.len(), reference.sentences.len());
    for (i, want) in reference.embeddings.iter().enumerate() {
        let diff = got
            .row(i)
            .iter()
            .zip(want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff <= 1e-4, "sentence {i}: max abs diff {diff}");
    }
}

#[test]
fn related_text_is_closer_and_cache_agrees() {
    let reg = registry();
    let text = reg.get(DEFAULT_MODEL_ID).unwrap().text().unwrap();
    let e = text
        .embed(&[
            "a dog runs in the park",
            "a puppy playing outside",
            "interest rates rose",
        ])
        .unwrap();
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    assert!(dot(e.row(0), e.row(1)) > dot(e.row(0), e.row(2)) + 0.2);
    let norm = dot(e.row(2), e.row(2)).sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    let cached = text.embed_cached("a dog runs in the park").unwrap();
    let again = text
        .embed_many_cached(&["a dog runs in the park", "new text"])
        .unwrap();
    assert_eq!(&cached[..], &again[0][..]);
    let diff = cached
        .iter()
        .zip(e.row(0))
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(diff < 1e-5, "batched and single runs differ by {diff}");
}

#[test]
fn unknown_model_lists_known_ones() {
    let err = registry().get("nope").unwrap_err().to_string();
    assert!(
        err.contains("unknown model 'nope'") && err.contains(DEFAULT_MODEL_ID),
        "{err}"
    );
}
