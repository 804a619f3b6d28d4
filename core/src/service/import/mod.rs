//! Importing into a dataset: precomputed keyframe/image embeddings, shots, transcripts
//! (CSV/Parquet, or WebVTT/SRT embedded with a text model) and user metadata.
//!
//! One call is one commit: every source is validated and written to new files, then a
//! single manifest revision makes them visible. A failed import commits nothing (its
//! files are removed) and an import of a file already imported is skipped, so running
//! the same import twice changes nothing.
//!
//! ```no_run
//! # async fn demo(catalog: std::sync::Arc<dyntag_core::Catalog>) -> dyntag_core::Result<()> {
//! use dyntag_core::service::import::{NoProgress, Source, import};
//! let report = import(&catalog, "news", &[
//!     Source::Transcripts { path: "episode1.vtt".into(), model: None },
//!     Source::Metadata { path: "episodes.csv".into() },
//! ], &NoProgress).await?;
//! # Ok(()) }
//! ```

mod embedding;
mod encode;
mod images;
mod media;
mod metadata;
mod segments;
pub mod subtitles;
mod videos;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::SchemaRef;
use object_store::path::Path;

use crate::model::Modality;
use crate::model::dataset::encoding::{Encoding, encode_batch, memory_dim, stored_schema};
use crate::model::dataset::{
    DataFile, DatasetManifest, ImportRecord, TableKind, manifest_log, new_file_path, now,
    validate_name,
};
use crate::service::Catalog;
use crate::store::parquet::{RollingWriter, read_columns};
use crate::{CatalogError, Result};

pub use encode::encode_dataset;
pub use media::{
    IMAGE_EXTENSIONS, MediaAsset, MediaImage, MediaShot, MediaVideo, VIDEO_EXTENSIONS,
    import_media, thumbnail_path,
};

/// Rows per data file: files are the unit of parallel and resident scans.
pub const FILE_ROWS: usize = 65_536;

/// What to import.
#[derive(Debug, Clone)]
pub enum Source {
    /// Images/keyframes with precomputed embeddings (Parquet), made by model `model`.
    Keyframes { path: PathBuf, model: String },
    /// Shots (CSV or Parquet).
    Shots { path: PathBuf },
    /// Transcript segments: CSV/Parquet (`coactive_video_id`, `segment_id`,
    /// `start_time_ms`, `end_time_ms`, `text`, optional `embedding` made by `model`), or a
    /// WebVTT/SRT file of one video (its id is the file stem).
    Transcripts {
        path: PathBuf,
        model: Option<String>,
    },
    /// User metadata keyed by `coactive_video_id` or `coactive_image_id` (CSV or Parquet).
    Metadata { path: PathBuf },
    /// Videos (`coactive_video_id`, optional `path`, `duration_ms`).
    Videos { path: PathBuf },
}

impl Source {
    fn kind(&self) -> &'static str {
        match self {
            Self::Keyframes { .. } => "keyframes",
            Self::Shots { .. } => "shots",
            Self::Transcripts { .. } => "transcripts",
            Self::Metadata { .. } => "metadata",
            Self::Videos { .. } => "videos",
        }
    }

    fn path(&self) -> &std::path::Path {
        match self {
            Self::Keyframes { path, .. }
            | Self::Shots { path }
            | Self::Transcripts { path, .. }
            | Self::Metadata { path }
            | Self::Videos { path } => path,
        }
    }
}

/// What happened to one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub kind: &'static str,
    pub source: String,
    pub rows: u64,
    /// Set when the file had been imported before (and nothing was done).
    pub skipped: Option<String>,
}

impl Outcome {
    /// A file skipped because the same bytes were imported before (`prev`).
    pub fn already_imported(kind: &'static str, source: String, prev: &ImportRecord) -> Self {
        Self {
            kind,
            source,
            rows: prev.rows,
            skipped: Some(format!(
                "already imported as {} on {}",
                prev.source, prev.at
            )),
        }
    }
}

pub use crate::store::progress::{NoProgress, Progress};

/// The state of one import: the manifest being built and the files written so far.
pub(crate) struct Staging<'a> {
    catalog: &'a Catalog,
    manifest: DatasetManifest,
    written: Vec<Path>,
    /// Files a revision before the staged one stopped naming (data files a conversion
    /// rewrote, search index segments a merge replaced) whose grace is over, removed after
    /// the commit (`DatasetManifest::take_retired`).
    retired: Vec<Path>,
    /// Video ids referenced by new rows, with the latest time seen in each.
    video_refs: BTreeMap<String, i64>,
    /// Videos given by a listing: path and duration.
    listed: BTreeMap<String, (Option<String>, Option<i64>)>,
    ids: HashMap<TableKind, HashSet<String>>,
    /// What the caller asked for.
    options: ImportOptions,
}

/// How an import stores what it brings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportOptions {
    /// The encoding of the embeddings of a modality the import creates (float32 when
    /// `None`); a modality the dataset has keeps its encoding, and asking for another is
    /// refused.
    pub encoding: Option<Encoding>,
    /// Leave the new rows out of the search index: searches scan them exactly until the
    /// next import that indexes, or `dyntag dataset index`.
    pub defer_index: bool,
}

impl<'a> Staging<'a> {
    fn dataset(&self) -> &str {
        &self.manifest.name
    }

    /// The manifest as staged so far.
    pub(crate) fn manifest(&self) -> &DatasetManifest {
        &self.manifest
    }

    /// Brings the search index of every modality up to date with the staged rows.
    pub(crate) async fn index(&mut self, progress: &dyn Progress) -> Result<u64> {
        crate::service::index::update_indexes(
            self.catalog,
            &mut self.manifest,
            &mut self.written,
            progress,
        )
        .await
    }

    /// How `modality`'s embeddings are stored: as the dataset stores them already, or as
    /// asked (float32 by default) when this import brings the first ones.
    fn encoding(&self, modality: Modality) -> Result<Option<Encoding>> {
        match (self.manifest.models.get(&modality), self.options.encoding) {
            (Some(m), Some(asked)) if m.numeric() != asked => Err(CatalogError::State(format!(
                "dataset '{}' stores its {modality} embeddings as {}, not {asked}; convert it first with `dyntag dataset encode {} --to {asked}`",
                self.dataset(),
                m.numeric(),
                self.dataset()
            ))),
            (Some(m), _) => Ok(m.encoding),
            (None, asked) => Ok(Some(asked.unwrap_or_default())),
        }
    }

    /// The keys already stored in a table (loaded once per import).
    async fn existing_ids(&mut self, kind: TableKind) -> Result<&mut HashSet<String>> {
        if !self.ids.contains_key(&kind) {
            let columns: &[&str] = match kind {
                TableKind::Images => &["coactive_image_id"],
                TableKind::Shots => &["coactive_video_id", "shot_id"],
                TableKind::Transcripts => &["coactive_video_id", "segment_id"],
                _ => &[],
            };
            let mut set = HashSet::new();
            for file in self.manifest.files(kind).to_vec() {
                for batch in read_columns(self.catalog.store(), &file, columns).await? {
                    let cols: Vec<_> = (0..columns.len())
                        .map(|i| batch.column(i).as_string::<i32>().clone())
                        .collect();
                    for r in 0..batch.num_rows() {
                        set.insert(key(cols.iter().map(|c| c.value(r))));
                    }
                }
            }
            self.ids.insert(kind, set);
        }
        Ok(self.ids.get_mut(&kind).expect("inserted"))
    }

    fn note_video(&mut self, video: &str, time_ms: Option<i64>) {
        let t = self.video_refs.entry(video.to_string()).or_insert(0);
        if let Some(ms) = time_ms {
            *t = (*t).max(ms);
        }
    }

    /// A writer of new files of `kind`, `FILE_ROWS` rows each.
    /// A writer of new files of `kind`; `schema` is the in-memory schema of its batches,
    /// whose embeddings (if any) are written in the modality's encoding.
    fn writer(&self, kind: TableKind, schema: SchemaRef) -> Result<TableWriter> {
        let encoding = match kind {
            TableKind::Images => self.encoding(Modality::Visual)?,
            TableKind::Transcripts => self.encoding(Modality::Transcript)?,
            _ => None,
        };
        Ok(self.writer_encoded(kind, schema, encoding))
    }

    /// A writer of new files of `kind` whose embeddings are stored in `encoding`.
    fn writer_encoded(
        &self,
        kind: TableKind,
        schema: SchemaRef,
        encoding: Option<Encoding>,
    ) -> TableWriter {
        let dataset = self.dataset().to_string();
        let dim = schema
            .field_with_name(crate::model::dataset::schema::col::EMBEDDING)
            .ok()
            .and_then(|f| memory_dim(f.data_type()))
            .unwrap_or(0);
        let files = RollingWriter::new(
            self.catalog.store(),
            stored_schema(&schema, dim, encoding),
            FILE_ROWS,
            FILE_ROWS,
            move |_| new_file_path(&dataset, kind),
        );
        TableWriter {
            kind,
            files,
            encoding,
        }
    }

    /// Appends `batch` (in memory) to `w`, noting the files it opens (removed if the import
    /// fails).
    async fn write(&mut self, w: &mut TableWriter, batch: &RecordBatch) -> Result<()> {
        let stored = encode_batch(batch, w.encoding)?;
        let written = w.files.write(&stored).await;
        self.written.extend(w.files.take_opened());
        written
    }

    async fn finish(&mut self, w: TableWriter) -> Result<Vec<DataFile>> {
        let kind = w.kind;
        let files = w.files.finish().await?;
        self.manifest
            .tables
            .entry(kind)
            .or_default()
            .extend(files.iter().cloned());
        Ok(files)
    }
}

/// New files of one table of the dataset being imported.
pub(crate) struct TableWriter {
    kind: TableKind,
    files: RollingWriter,
    encoding: Option<Encoding>,
}

/// Joins key parts with a separator that cannot appear in ids read from text files.
pub(crate) fn key<'s>(parts: impl Iterator<Item = &'s str>) -> String {
    parts.collect::<Vec<_>>().join("\u{1f}")
}

/// Imports `sources` into `dataset` (created if it does not exist) as one commit.
pub async fn import(
    catalog: &Catalog,
    dataset: &str,
    sources: &[Source],
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    import_encoded(
        catalog,
        dataset,
        sources,
        &ImportOptions::default(),
        progress,
    )
    .await
}

/// [`import`], storing the embeddings of a modality the import creates in `encoding`
/// (float32 when `None`; a modality the dataset has keeps its encoding, and asking for
/// another is an error).
pub async fn import_encoded(
    catalog: &Catalog,
    dataset: &str,
    sources: &[Source],
    options: &ImportOptions,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    let (revision, mut st) = open_staging(catalog, dataset, options).await?;
    let staged = stage_all(&mut st, sources, progress).await;
    commit(revision, st, staged, progress).await
}

/// The dataset's latest manifest revision and a staging over it.
pub(crate) async fn open_staging<'a>(
    catalog: &'a Catalog,
    dataset: &str,
    options: &ImportOptions,
) -> Result<(u64, Staging<'a>)> {
    validate_name(dataset)?;
    if dataset == crate::model::dataset::SYSTEM_SCHEMA {
        return Err(CatalogError::Invalid(format!(
            "'{dataset}' is reserved for the catalog tables"
        )));
    }
    let (revision, manifest) = match manifest_log(dataset)
        .latest::<DatasetManifest>(catalog.store())
        .await?
    {
        Some((rev, m)) => (rev, m),
        None => (0, DatasetManifest::new(dataset)),
    };
    let mut manifest = manifest;
    let retired = manifest
        .take_retired(chrono::Utc::now(), catalog.keep_replaced_secs())
        .into_iter()
        .map(Path::from)
        .collect();
    Ok((
        revision,
        Staging {
            catalog,
            manifest,
            written: Vec::new(),
            retired,
            video_refs: BTreeMap::new(),
            listed: BTreeMap::new(),
            ids: HashMap::new(),
            options: *options,
        },
    ))
}

/// Commits what was staged as the next manifest revision, with the search index brought up
/// to date (unless deferred), or removes its files when staging, indexing or the commit
/// failed.
pub(crate) async fn commit(
    revision: u64,
    mut st: Staging<'_>,
    staged: Result<Vec<Outcome>>,
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    let catalog = st.catalog;
    let staged = match staged {
        Ok(outcomes)
            if !st.options.defer_index
                && (revision == 0 || outcomes.iter().any(|o| o.skipped.is_none())) =>
        {
            st.index(progress).await.map(|_| outcomes)
        }
        other => other,
    };
    match staged {
        Ok(outcomes) => {
            if outcomes.iter().all(|o| o.skipped.is_some()) && revision > 0 {
                return Ok(outcomes);
            }
            let log = manifest_log(st.dataset());
            match log.commit(catalog.store(), revision, &st.manifest).await {
                Ok(_) => {
                    for p in &st.retired {
                        if let Err(e) = catalog.store().delete(p).await {
                            tracing::warn!(path = %p, "a replaced file stays behind: {e}");
                        }
                    }
                    catalog.refresh().await?;
                    Ok(outcomes)
                }
                Err(e) => {
                    cleanup(catalog, &st.written).await;
                    Err(e)
                }
            }
        }
        Err(e) => {
            cleanup(catalog, &st.written).await;
            Err(e)
        }
    }
}

async fn stage_all(
    st: &mut Staging<'_>,
    sources: &[Source],
    progress: &dyn Progress,
) -> Result<Vec<Outcome>> {
    let mut outcomes = Vec::new();
    let mut seen_hashes = HashSet::new();
    for source in sources {
        let path = source.path();
        let name = crate::store::input::display(path);
        let sha = crate::store::input::sha256(path)?;
        if let Some(prev) = st.manifest.imported(source.kind(), &sha) {
            outcomes.push(Outcome::already_imported(source.kind(), name, prev));
            continue;
        }
        if !seen_hashes.insert((source.kind(), sha.clone())) {
            outcomes.push(Outcome {
                kind: source.kind(),
                source: name,
                rows: 0,
                skipped: Some("same file given twice".into()),
            });
            continue;
        }
        let rows = match source {
            Source::Keyframes { path, model } => images::import(st, path, model, progress).await?,
            Source::Shots { path } => segments::import_shots(st, path).await?,
            Source::Transcripts { path, model } => {
                segments::import_transcripts(st, path, model.as_deref(), progress).await?
            }
            Source::Metadata { path } => metadata::import(st, path).await?,
            Source::Videos { path } => videos::import_listing(st, path).await?,
        };
        st.manifest.imports.push(ImportRecord {
            kind: source.kind().to_string(),
            source: name.clone(),
            sha256: sha,
            rows,
            at: now(),
        });
        outcomes.push(Outcome {
            kind: source.kind(),
            source: name,
            rows,
            skipped: None,
        });
    }
    videos::rewrite(st).await?;
    Ok(outcomes)
}

async fn cleanup(catalog: &Catalog, written: &[Path]) {
    for p in written {
        if let Err(e) = catalog.store().delete(p).await {
            tracing::warn!(path = %p, error = %e, "could not remove a file of a failed import");
        }
    }
}

/// Rows with the first duplicate key reported.
pub(crate) fn check_new_key(
    file: &str,
    dataset: &str,
    existing: &HashSet<String>,
    seen: &mut HashMap<String, usize>,
    key: String,
    row: usize,
    what: &str,
) -> Result<()> {
    if existing.contains(&key) {
        return Err(crate::store::input::import_err(
            file,
            format!("row {row}: {what} already exists in dataset '{dataset}'"),
        ));
    }
    if let Some(first) = seen.insert(key, row) {
        return Err(crate::store::input::import_err(
            file,
            format!("row {row}: duplicate {what} (first on row {first})"),
        ));
    }
    Ok(())
}

/// Whether any value of a string array is empty text.
pub(crate) fn first_empty(a: &dyn Array) -> Option<usize> {
    let s = a.as_string::<i32>();
    (0..s.len()).find(|&i| s.is_valid(i) && s.value(i).trim().is_empty())
}
