//! Keeping a dataset's search index up to date: every import (and `dyntag dataset index`)
//! builds one HNSW segment over the rows of each modality that no segment covers yet, and
//! merges it with the segments before it while they are no larger (a binary counter: a
//! table of n rows has O(log n) segments, and each row is indexed again O(log n) times).
//! Segments are written before the manifest revision that names them, like data files, so
//! readers see the old index or the new one.

use std::sync::Arc;

use object_store::path::Path;

use super::import::{Outcome, Progress, commit, open_staging};
use crate::model::Modality;
use crate::model::dataset::{DatasetManifest, IndexSegment, TableKind, new_index_path};
use crate::scoring::Resources;
use crate::scoring::ann::AnnIndex;
use crate::scoring::cache::read_file;
use crate::scoring::scan::embeddings;
use crate::service::Catalog;
use crate::{CatalogError, Result};

/// Builds the missing index segments of every modality of `manifest` (see the module
/// documentation), noting the files written in `written` (removed if the commit fails)
/// and the segments a merge replaced in the manifest's `retired` (removed by a
/// later commit). Returns the rows indexed.
pub(crate) async fn update_indexes(
    catalog: &Resources,
    manifest: &mut DatasetManifest,
    written: &mut Vec<Path>,
    progress: &dyn Progress,
) -> Result<u64> {
    let mut indexed = 0;
    let modalities: Vec<Modality> = manifest.models.keys().copied().collect();
    for m in modalities {
        let total = manifest.rows(TableKind::of(m));
        let mut segments = manifest.index_segments(m).to_vec();
        if segments.last().is_some_and(|s| s.end() > total) {
            // The table lost rows (it never does today): the index starts again.
            let gone: Vec<String> = segments.drain(..).map(|s| s.path).collect();
            manifest.retire(gone);
            manifest.indexes.insert(m, Vec::new());
        }
        let mut start = segments.last().map_or(0, IndexSegment::end);
        if start == total {
            continue;
        }
        while let Some(last) = segments.last() {
            if last.rows > total - start {
                break;
            }
            start = last.start;
            let gone = segments.pop().map(|s| s.path);
            manifest.retire(gone);
        }
        let segment = build_segment(catalog, manifest, m, start, total, written, progress).await?;
        indexed += segment.rows;
        segments.push(segment);
        manifest.indexes.insert(m, segments);
    }
    Ok(indexed)
}

/// One segment over rows `start..end` of `modality`, read from the data files.
async fn build_segment(
    catalog: &Resources,
    manifest: &DatasetManifest,
    modality: Modality,
    start: u64,
    end: u64,
    written: &mut Vec<Path>,
    progress: &dyn Progress,
) -> Result<IndexSegment> {
    let dim = manifest
        .models
        .get(&modality)
        .map(|m| m.dimension)
        .ok_or_else(|| {
            CatalogError::Internal(format!(
                "dataset '{}' has no {modality} model to index",
                manifest.name
            ))
        })?;
    progress.begin(
        &format!("indexing {modality} embeddings for search"),
        Some(end - start),
    );
    let mut index: Option<Arc<AnnIndex>> = None;
    let mut offset = 0u64;
    for file in manifest.files(TableKind::of(modality)) {
        let file_end = offset + file.rows;
        if file_end <= start {
            offset = file_end;
            continue;
        }
        for batch in read_file(catalog.store(), file).await? {
            let rows = batch.num_rows() as u64;
            let (lo, hi) = (start.max(offset), end.min(offset + rows));
            if lo < hi {
                let batch_offset = offset;
                let idx = match &index {
                    Some(i) => Arc::clone(i),
                    None => {
                        let (values, _) = embeddings(&batch)?;
                        let created =
                            Arc::new(AnnIndex::new(dim, &values, (end - start) as usize)?);
                        index = Some(Arc::clone(&created));
                        created
                    }
                };
                tokio::task::spawn_blocking(move || {
                    let (values, d) = embeddings(&batch)?;
                    if d != dim {
                        return Err(CatalogError::State(format!(
                            "embeddings of dimension {d} in a {modality} table of dimension {dim}"
                        )));
                    }
                    let slice = values.slice((lo - batch_offset) as usize, (hi - lo) as usize, dim);
                    idx.add(lo, &slice).map_err(|e| {
                        CatalogError::State(format!(
                            "indexing {modality} rows {lo}..{hi} for search: {e}"
                        ))
                    })
                })
                .await
                .map_err(|e| CatalogError::Internal(format!("indexing task: {e}")))??;
                progress.advance(hi - lo);
            }
            offset += rows;
        }
        if offset >= end {
            break;
        }
    }
    progress.end();
    let index = index.ok_or_else(|| {
        CatalogError::Internal(format!(
            "dataset '{}' has no {modality} rows {start}..{end} to index",
            manifest.name
        ))
    })?;
    let path = new_index_path(&manifest.name, modality);
    let local = tempfile_path();
    let save = {
        let local = local.clone();
        tokio::task::spawn_blocking(move || index.save(&local))
            .await
            .unwrap_or_else(|e| {
                Err(CatalogError::Internal(format!(
                    "saving the search index: {e}"
                )))
            })
    };
    let uploaded = match save {
        Ok(()) => {
            written.push(path.clone());
            catalog.store().put_file(&path, &local).await
        }
        Err(e) => Err(e),
    };
    let _ = std::fs::remove_file(&local);
    Ok(IndexSegment {
        path: path.to_string(),
        start,
        rows: end - start,
        bytes: uploaded?,
    })
}

/// A fresh local file for a segment on its way to the object store.
fn tempfile_path() -> std::path::PathBuf {
    std::env::temp_dir().join(format!("dyntag-index-{}.usearch", uuid::Uuid::new_v4()))
}

/// `dyntag dataset index`: indexes the rows of `dataset` that no segment covers yet (rows
/// imported with the index off), as one commit. Returns one outcome per modality indexed.
pub async fn index_dataset(
    catalog: &Catalog,
    dataset: &str,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    let (revision, mut st) = open_staging(catalog, dataset, &Default::default()).await?;
    if revision == 0 {
        return Err(CatalogError::not_found("dataset", dataset));
    }
    let before: Vec<(Modality, u64)> = Modality::ALL
        .iter()
        .map(|m| (*m, st.manifest().indexed_rows(*m)))
        .collect();
    let staged = st.index(progress).await.map(|_| {
        before
            .iter()
            .filter(|(m, rows)| st.manifest().indexed_rows(*m) != *rows)
            .map(|(m, rows)| Outcome {
                kind: "index",
                source: format!("{m} search index"),
                rows: st.manifest().indexed_rows(*m) - rows,
                skipped: None,
            })
            .collect::<Vec<_>>()
    });
    let staged = match staged {
        Ok(v) if v.is_empty() => return Ok(v),
        other => other,
    };
    commit(revision, st, staged, progress).await
}
