//! `dyntag bench zero-shot`: top-1 accuracy of a model's image tower on the sample library's
//! held-out Openclipart images, each tagged with its category name, against chance.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dyntag_core::{CatalogError, sample_data_dir};
use dyntag_models::Rgba;
use rayon::prelude::*;

use crate::cli::Global;
use crate::error::{AppError, Result};

/// `(image file, category)` of the sample library, from `truth/labels.csv`.
pub fn categories() -> Result<Vec<(PathBuf, String)>> {
    let sample = sample_data_dir();
    let labels = sample.join("truth/labels.csv");
    let text = std::fs::read_to_string(&labels)
        .map_err(|e| AppError::io(format!("reading {}", labels.display()), e))?;
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() == 3 && f[2] == "1" {
            out.push((sample.join("library/images").join(f[0]), f[1].to_string()));
        }
    }
    Ok(out)
}

/// The sample library's images with their categories, each image's embedding (same order),
/// and the category names sorted.
pub type Embedded = (Vec<(PathBuf, String)>, Vec<Vec<f32>>, Vec<String>);

/// The sample library's images embedded by `model`: see [`Embedded`].
pub fn embedded_categories(model: &std::sync::Arc<dyntag_models::Model>) -> Result<Embedded> {
    let items = categories()?;
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
    let rows = (0..items.len()).map(|i| emb.row(i).to_vec()).collect();
    let names = items
        .iter()
        .map(|(_, c)| c.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    Ok((items, rows, names))
}

pub(super) async fn run(global: &Global, model: Option<String>) -> Result<()> {
    let catalog = global.open().await?;
    let id = model.unwrap_or_else(|| catalog.models().default_id().to_string());
    let model = catalog.models().get(&id).map_err(CatalogError::from)?;
    let vision = model.vision().map_err(CatalogError::from)?;
    let text = model.text().map_err(CatalogError::from)?;
    let items = categories()?;
    if items.is_empty() {
        return Err(AppError::Input(
            "truth/labels.csv of the sample data lists no image with its category".into(),
        ));
    }
    let names: Vec<String> = items
        .iter()
        .map(|(_, c)| c.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let images: Vec<Rgba> = items
        .par_iter()
        .map(|(p, _)| Rgba::open(p).map_err(AppError::Input))
        .collect::<Result<_>>()?;
    let img = vision.embed(&images).map_err(CatalogError::from)?;
    let tags = text.embed(&names).map_err(CatalogError::from)?;
    let mut per: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut correct = 0;
    for (i, (_, truth)) in items.iter().enumerate() {
        let dot =
            |t: usize| -> f32 { img.row(i).iter().zip(tags.row(t)).map(|(x, y)| x * y).sum() };
        // names is not empty: every item has a category
        let best = (1..names.len()).fold(0, |b, t| if dot(t) > dot(b) { t } else { b });
        let e = per.entry(truth.as_str()).or_default();
        e.1 += 1;
        if names[best] == *truth {
            correct += 1;
            e.0 += 1;
        }
    }
    for (c, (ok, n)) in &per {
        println!("{c:<12} {ok:>3}/{n:<3}");
    }
    println!(
        "zero-shot top-1 model={id} images={} categories={} accuracy={:.3} chance={:.3}",
        items.len(),
        names.len(),
        correct as f64 / items.len() as f64,
        1.0 / names.len() as f64
    );
    Ok(())
}
