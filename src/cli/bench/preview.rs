//! `dyntag bench preview`: how fast a preview answers after a prompt edit, server-side
//! (the service call the HTTP route and `PREVIEW TAG` make): the tag's draft is re-compiled
//! and every keyframe re-scored, then the compare sample is drawn. Measured on 100,000
//! synthetic keyframes, with a prompt seen for the first time (its embedding computed) and
//! with one seen before (its embedding cached) — the target is under 150 ms — against
//! numpy doing the scoring and sampling alone on the same number of vectors.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use dyntag_core::Modality;
use dyntag_core::model::access::Principal;
use dyntag_core::model::tags::{Polarity, Prompt, PromptModality};
use dyntag_core::service::tags::{GroupEdit, PreviewRequest, TagService};

use super::scoring::synthetic_dataset;
use crate::cli::Global;
use crate::error::{AppError, Result};

const TARGET_MS: f64 = 150.0;
const DIM: usize = 512;

pub(super) async fn run(
    global: &Global,
    rows: usize,
    work: Option<PathBuf>,
    anchor: &Path,
    python: &str,
) -> Result<()> {
    let bench = synthetic_dataset(global, work, rows, None).await?;
    let catalog = Arc::clone(&bench.catalog);
    super::create_reviewed_group(&catalog, "g", "bench", &["beach".to_string()]).await?;
    let service = TagService::new(Arc::clone(&catalog), Principal::LocalAdmin);
    let request = PreviewRequest {
        group: "g".into(),
        tag: "beach".into(),
        modality: Modality::Visual,
        mode: None,
        threshold: None,
        limit: 40,
        published: false,
        seed: Some(1),
    };
    // Warm: the embeddings are read into the resident cache once, as a running server has.
    service.preview(&request).await?;
    let prompt = |text: String| Prompt {
        text,
        polarity: Polarity::Positive,
        modality: PromptModality::Visual,
    };
    let mut first = Vec::new();
    let mut cached = Vec::new();
    for i in 0..7 {
        let p = prompt(format!("sand and sea number {i}"));
        // A prompt never embedded before.
        service
            .edit(
                "g",
                &GroupEdit::AddPrompt {
                    tag: "beach".into(),
                    prompt: p.clone(),
                },
                None,
            )
            .await?;
        let t = Instant::now();
        let items = service.preview(&request).await?;
        first.push(t.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(items.num_rows(), 40.min(rows));
        // Drop it and add it again: the same text, its embedding cached.
        service
            .edit(
                "g",
                &GroupEdit::DropPrompt {
                    tag: "beach".into(),
                    prompt: p.clone(),
                },
                None,
            )
            .await?;
        service
            .edit(
                "g",
                &GroupEdit::AddPrompt {
                    tag: "beach".into(),
                    prompt: p,
                },
                None,
            )
            .await?;
        let t = Instant::now();
        service.preview(&request).await?;
        cached.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (first, cached) = (median(&mut first), median(&mut cached));
    let out = std::process::Command::new(python)
        .arg(anchor)
        .args([rows.to_string(), DIM.to_string()])
        .output()
        .map_err(|e| AppError::io(format!("running {}", anchor.display()), e))?;
    if !out.status.success() {
        return Err(AppError::Environment(format!(
            "the anchor failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let anchor_ms = serde_json::from_slice::<serde_json::Value>(&out.stdout)
        .ok()
        .and_then(|v| v["median_ms"].as_f64())
        .ok_or_else(|| AppError::Environment("the anchor printed no median_ms".into()))?;
    println!(
        "preview of {rows} keyframes ({DIM}-d) after a prompt edit, server-side, median of 7:"
    );
    println!("| measure | dyntag | numpy anchor (score + sample only) | ratio | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| prompt embedding cached | {cached:.1} ms | {anchor_ms:.1} ms | {:.2} | < {TARGET_MS} ms: {} |",
        cached / anchor_ms,
        if cached < TARGET_MS { "met" } else { "NOT met" }
    );
    println!(
        "| new prompt (embedded first) | {first:.1} ms | {anchor_ms:.1} ms | {:.2} | |",
        first / anchor_ms
    );
    Ok(())
}
