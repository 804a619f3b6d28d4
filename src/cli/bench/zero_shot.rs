//! `dyntag bench zero-shot`: top-1 accuracy of image towers on two labelled sets, each image
//! tagged with its category's name: the sample library's held-out Openclipart drawings
//! (`truth/labels.csv`) and the photograph set (`photos/labels.csv`), against chance, for the
//! model asked for and the previous default tower (`sample-data/models/drawings-cnn`) side
//! by side.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;

use dyntag_core::{CatalogError, sample_data_dir};
use dyntag_models::{Model, Rgba};
use rayon::prelude::*;

use crate::cli::Global;
use crate::error::{AppError, Result};

/// The id of the previous default image tower, compared against in every run.
pub const PREVIOUS_MODEL: &str = "dyntag-drawings-cnn";

/// `(image file, category)` of the sample library's drawings (`library/images`), from
/// `truth/labels.csv`; the library's photographs (`library/photos`) are left out, since the
/// photograph set holds them.
pub fn categories() -> Result<Vec<(PathBuf, String)>> {
    let sample = sample_data_dir();
    let labels = sample.join("truth/labels.csv");
    let text = read(&labels)?;
    let drawings = sample.join("library/images");
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() == 3 && f[2] == "1" && drawings.join(f[0]).is_file() {
            out.push((drawings.join(f[0]), f[1].to_string()));
        }
    }
    Ok(out)
}

/// `(image file, category)` of the photograph set, from `photos/labels.csv` (`file,category,…`).
pub fn photographs() -> Result<Vec<(PathBuf, String)>> {
    let dir = sample_data_dir().join("photos");
    let labels = dir.join("labels.csv");
    let text = read(&labels)?;
    let mut lines = text.lines();
    let header = fields(lines.next().unwrap_or_default());
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| AppError::Input(format!("{} has no column '{name}'", labels.display())))
    };
    let (file, category) = (column("file")?, column("category")?);
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        let f = fields(line);
        match (f.get(file), f.get(category)) {
            (Some(p), Some(c)) if !p.is_empty() && !c.is_empty() => {
                out.push((dir.join(p), c.to_string()))
            }
            _ => {
                return Err(AppError::Input(format!(
                    "{} line {}: no file or category",
                    labels.display(),
                    n + 2
                )));
            }
        }
    }
    Ok(out)
}

/// The fields of one CSV line: a field in double quotes may hold commas, and `""` inside it
/// stands for a quote.
fn fields(line: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        let field = out.last_mut().expect("one field at least");
        match c {
            '"' if quoted && chars.next_if_eq(&'"').is_some() => field.push('"'),
            '"' => quoted = !quoted,
            ',' if !quoted => out.push(String::new()),
            _ => field.push(c),
        }
    }
    out
}

fn read(path: &std::path::Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| AppError::io(format!("reading {}", path.display()), e))
}

/// The category names of `items`, sorted and distinct.
fn names(items: &[(PathBuf, String)]) -> Vec<String> {
    items
        .iter()
        .map(|(_, c)| c.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn embed_images(model: &Model, items: &[(PathBuf, String)]) -> Result<Vec<Vec<f32>>> {
    let images: Vec<Rgba> = items
        .par_iter()
        .map(|(p, _)| Rgba::open(p).map_err(AppError::Input))
        .collect::<Result<_>>()?;
    eprintln!("embedding {} images with '{}'", images.len(), model.id());
    let emb = model
        .vision()
        .map_err(CatalogError::from)?
        .embed(&images)
        .map_err(CatalogError::from)?;
    Ok((0..items.len()).map(|i| emb.row(i).to_vec()).collect())
}

/// The sample library's images with their categories, each image's embedding (same order),
/// and the category names sorted.
pub type Embedded = (Vec<(PathBuf, String)>, Vec<Vec<f32>>, Vec<String>);

/// The sample library's images embedded by `model`: see [`Embedded`].
pub fn embedded_categories(model: &Arc<Model>) -> Result<Embedded> {
    let items = categories()?;
    let rows = embed_images(model, &items)?;
    let names = names(&items);
    Ok((items, rows, names))
}

/// Correct answers of one model on one set, in all and per category (`(correct, images)`).
struct Score {
    correct: usize,
    per: BTreeMap<String, (usize, usize)>,
}

/// Each image's best-matching category name (cosine similarity) against its true one.
fn score(model: &Model, items: &[(PathBuf, String)], names: &[String]) -> Result<Score> {
    let img = embed_images(model, items)?;
    let tags = model
        .text()
        .map_err(CatalogError::from)?
        .embed(names)
        .map_err(CatalogError::from)?;
    let mut per: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut correct = 0;
    for (row, (_, truth)) in img.iter().zip(items) {
        let dot = |t: usize| -> f32 { row.iter().zip(tags.row(t)).map(|(x, y)| x * y).sum() };
        // names is not empty: every item has a category
        let best = (1..names.len()).fold(0, |b, t| if dot(t) > dot(b) { t } else { b });
        let e = per.entry(truth.clone()).or_default();
        e.1 += 1;
        if names[best] == *truth {
            correct += 1;
            e.0 += 1;
        }
    }
    Ok(Score { correct, per })
}

pub(super) async fn run(global: &Global, model: Option<String>) -> Result<()> {
    let catalog = global.open().await?;
    let id = model.unwrap_or_else(|| catalog.models().default_id().to_string());
    let mut models = vec![catalog.models().get(&id).map_err(CatalogError::from)?];
    if id != PREVIOUS_MODEL {
        match catalog.models().get(PREVIOUS_MODEL) {
            Ok(previous) => models.push(previous),
            Err(e) => eprintln!("not comparing against the previous default tower: {e}"),
        }
    }
    let sets = [
        ("drawings", "the sample library", categories()?),
        ("photographs", "the photograph set", photographs()?),
    ];
    let mut summary = Vec::new();
    for (set, what, items) in &sets {
        if items.is_empty() {
            return Err(AppError::Input(format!(
                "{what} lists no image with its category"
            )));
        }
        let names = names(items);
        let scores: Vec<Score> = models
            .iter()
            .map(|m| score(m, items, &names))
            .collect::<Result<_>>()?;
        println!("{what}: {} images, {} categories", items.len(), names.len());
        let header: String = models.iter().map(|m| format!(" {:>22}", m.id())).collect();
        println!("  {:<14}{header}", "category");
        for name in &names {
            let cells: String = scores
                .iter()
                .map(|s| {
                    let (ok, n) = s.per.get(name).copied().unwrap_or_default();
                    format!(" {:>22}", format!("{ok}/{n}"))
                })
                .collect();
            println!("  {name:<14}{cells}");
        }
        for (m, s) in models.iter().zip(&scores) {
            summary.push(format!(
                "zero-shot top-1 set={set} model={} images={} categories={} accuracy={:.3} chance={:.3}",
                m.id(),
                items.len(),
                names.len(),
                s.correct as f64 / items.len() as f64,
                1.0 / names.len() as f64
            ));
        }
    }
    for line in summary {
        println!("{line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::fields;

    #[test]
    fn quoted_fields_keep_their_commas_and_quotes() {
        assert_eq!(
            fields("a.jpg,light bulb,\"Amada44; https://x, y\",\"say \"\"hi\"\"\"\r"),
            ["a.jpg", "light bulb", "Amada44; https://x, y", "say \"hi\""]
        );
        assert_eq!(fields(""), [""]);
    }
}
