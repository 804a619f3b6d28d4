//! `dyntag bench zero-shot`: top-1 accuracy of image towers on two labelled sets, each image
//! tagged with its category's name: the sample library's held-out Openclipart drawings
//! (`truth/labels.csv`) and the photograph set (`photos/labels.csv`), against chance, for the
//! model asked for and the previous default tower (`sample-data/models/drawings-cnn`) side
//! by side.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray};
use datafusion::arrow::datatypes::DataType;
use dyntag_core::store::input::{InputFile, column};
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

/// `(image file, category)` of the photograph set, from `photos/labels.csv`.
pub fn photographs() -> Result<Vec<(PathBuf, String)>> {
    labelled(&sample_data_dir().join("photos/labels.csv"))
}

/// `(image file, category)` of a labels file with `file` and `category` columns (others are
/// ignored), read by the importer's CSV reader; files are named relative to its folder.
fn labelled(labels: &Path) -> Result<Vec<(PathBuf, String)>> {
    let dir = labels.parent().unwrap_or(Path::new("."));
    let mut input = InputFile::open(labels)?;
    input.require(&["file", "category"])?;
    let mut out = Vec::new();
    while let Some(batch) = input.next_batch() {
        let (first, batch) = batch?;
        let text = |name| -> Result<ArrayRef> {
            Ok(
                column(&input.name, &batch, first, name, &DataType::Utf8, true)?
                    .expect("required above"),
            )
        };
        let (files, categories) = (text("file")?, text("category")?);
        for (f, c) in files
            .as_string::<i32>()
            .iter()
            .zip(categories.as_string::<i32>())
        {
            if let (Some(f), Some(c)) = (f, c) {
                out.push((dir.join(f), c.to_string()));
            }
        }
    }
    Ok(out)
}

fn read(path: &Path) -> Result<String> {
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

fn decode(items: &[(PathBuf, String)]) -> Result<Vec<Rgba>> {
    items
        .par_iter()
        .map(|(p, _)| Rgba::open(p).map_err(AppError::Input))
        .collect()
}

fn embed_images(model: &Model, images: &[Rgba]) -> Result<Vec<Vec<f32>>> {
    eprintln!("embedding {} images with '{}'", images.len(), model.id());
    let emb = model
        .vision()
        .map_err(CatalogError::from)?
        .embed(images)
        .map_err(CatalogError::from)?;
    Ok((0..images.len()).map(|i| emb.row(i).to_vec()).collect())
}

/// The sample library's images with their categories, each image's embedding (same order),
/// and the category names sorted.
pub type Embedded = (Vec<(PathBuf, String)>, Vec<Vec<f32>>, Vec<String>);

/// The sample library's images embedded by `model`: see [`Embedded`].
pub fn embedded_categories(model: &Arc<Model>) -> Result<Embedded> {
    let items = categories()?;
    let rows = embed_images(model, &decode(&items)?)?;
    let names = names(&items);
    Ok((items, rows, names))
}

/// Correct answers of one model on one set, in all and per category (`(correct, images)`).
struct Score {
    correct: usize,
    per: BTreeMap<String, (usize, usize)>,
}

/// Each image's best-matching category name (cosine similarity) against its true one.
fn score(
    model: &Model,
    images: &[Rgba],
    items: &[(PathBuf, String)],
    names: &[String],
) -> Result<Score> {
    let img = embed_images(model, images)?;
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
        let images = decode(items)?;
        let scores: Vec<Score> = models
            .iter()
            .map(|m| score(m, &images, items, &names))
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
    use super::labelled;

    #[test]
    fn labels_files_keep_quoted_commas_and_name_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        let labels = dir.path().join("labels.csv");
        std::fs::write(
            &labels,
            "file,category,author\r\na.jpg,light bulb,\"Amada44; https://x, y\"\r\nb.jpg,cup,\"say \"\"hi\"\"\"\r\n",
        )
        .unwrap();
        let got = labelled(&labels).unwrap();
        assert_eq!(
            got,
            [
                (dir.path().join("a.jpg"), "light bulb".to_string()),
                (dir.path().join("b.jpg"), "cup".to_string())
            ]
        );
        std::fs::write(&labels, "file,category\na.jpg,\n").unwrap();
        let err = labelled(&labels).unwrap_err().to_string();
        assert!(
            err.contains("row 1, column 'category': missing value"),
            "{err}"
        );
        std::fs::write(&labels, "file,kind\na.jpg,cup\n").unwrap();
        let err = labelled(&labels).unwrap_err().to_string();
        assert!(err.contains("missing required column 'category'"), "{err}");
    }
}
