//! Changing how a dataset stores its embeddings, in place: every file of a modality's table
//! is rewritten in the new encoding, and one manifest revision swaps the new files in.
//! Readers see the old files or the new ones, whole, and a failed or killed conversion
//! leaves only unreferenced files behind. The old files are removed by the first of the
//! dataset's later commits once the catalog's `keep_replaced_secs` (an hour by default) is
//! over (`DatasetManifest::retire`): a reader of the revision before may still read them.

use super::{ImportOptions, Outcome, Progress, commit, open_staging};
use crate::model::Modality;
use crate::model::dataset::TableKind;
use crate::model::dataset::encoding::Encoding;
use crate::scoring::cache::read_file;
use crate::service::Catalog;
use crate::{CatalogError, Result};

/// Re-encodes the embeddings of `modality` (every modality when `None`) of `dataset` as
/// `to`, as one commit. Returns one outcome per modality rewritten (none when every one
/// was stored so already).
pub async fn encode_dataset(
    catalog: &Catalog,
    dataset: &str,
    modality: Option<Modality>,
    to: Encoding,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    // Only how the rows are stored changes: the index segments cover the same rows in
    // the same order, and rows left out of the index (`--no-index`) stay out (indexing
    // millions of them is `dyntag dataset index`'s long job, not a conversion's).
    let options = ImportOptions {
        defer_index: true,
        ..Default::default()
    };
    let (revision, mut st) = open_staging(catalog, dataset, &options).await?;
    if revision == 0 {
        return Err(CatalogError::NotFound {
            kind: "dataset",
            name: dataset.to_string(),
            hint: String::new(),
        });
    }
    if let Some(m) = modality
        && !st.manifest.models.contains_key(&m)
    {
        return Err(CatalogError::State(format!(
            "dataset '{dataset}' has no {m} embeddings"
        )));
    }
    let todo: Vec<Modality> = st
        .manifest
        .models
        .iter()
        .filter(|(m, e)| modality.is_none_or(|want| want == **m) && e.encoding != Some(to))
        .map(|(m, _)| *m)
        .collect();
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    let replaced: Vec<String> = todo
        .iter()
        .flat_map(|m| st.manifest.files(TableKind::of(*m)))
        .map(|f| f.path.clone())
        .collect();
    let staged = async {
        let mut outcomes = Vec::new();
        for m in todo {
            let kind = TableKind::of(m);
            let files = st.manifest.files(kind).to_vec();
            let rows: u64 = files.iter().map(|f| f.rows).sum();
            progress.begin(&format!("storing {m} embeddings as {to}"), Some(rows));
            let mut writer = None;
            for file in &files {
                for batch in read_file(catalog.store(), file).await? {
                    if writer.is_none() {
                        writer = Some(st.writer_encoded(kind, batch.schema(), Some(to)));
                    }
                    let w = writer.as_mut().expect("opened above");
                    st.write(w, &batch).await?;
                    progress.advance(batch.num_rows() as u64);
                }
            }
            progress.end();
            st.manifest.tables.insert(kind, Vec::new());
            // Readers of the revision before may still read the old files: a later commit
            // removes them.
            st.manifest.retire(files.iter().map(|f| f.path.clone()));
            if let Some(w) = writer {
                st.finish(w).await?;
            }
            if let Some(model) = st.manifest.models.get_mut(&m) {
                model.encoding = Some(to);
            }
            outcomes.push(Outcome {
                kind: "encoding",
                source: format!("{m} embeddings as {to}"),
                rows,
                skipped: None,
            });
        }
        Ok(outcomes)
    }
    .await;
    let outcomes = commit(revision, st, staged, progress).await?;
    catalog
        .table_cache()
        .forget(replaced.iter().map(String::as_str));
    Ok(outcomes)
}
