//! `dyntag ingest`: import files into a dataset (one commit per run; re-running skips
//! what was imported before).

use std::path::PathBuf;

use dyntag_core::model::dataset::encoding::Encoding;
use dyntag_core::service::import::{self, Source};

use super::Global;
use super::progress::LineProgress;
use crate::error::{AppError, Result};
use crate::ingest::{MediaOptions, discover, ingest};

/// Arguments of `dyntag ingest`.
#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// The dataset to import into (created if missing).
    #[arg(long)]
    pub dataset: String,
    /// Parquet of images/keyframes with precomputed embeddings (needs --model).
    #[arg(long)]
    pub keyframes: Vec<PathBuf>,
    /// The id of the model that made the embeddings of --keyframes / of --transcripts
    /// files that carry an `embedding` column.
    #[arg(long)]
    pub model: Option<String>,
    /// Shots (CSV or Parquet).
    #[arg(long)]
    pub shots: Vec<PathBuf>,
    /// Transcript segments (CSV/Parquet), or WebVTT/SRT files (one video each).
    #[arg(long)]
    pub transcripts: Vec<PathBuf>,
    /// User metadata keyed by coactive_video_id or coactive_image_id (CSV or Parquet).
    #[arg(long)]
    pub metadata: Vec<PathBuf>,
    /// Videos (coactive_video_id, path, duration_ms).
    #[arg(long)]
    pub videos: Vec<PathBuf>,
    /// Media files or folders (searched recursively), recognised by extension: images
    /// (jpg, png, webp, gif, bmp) and videos (mp4, mov, mkv, webm, ...) are decoded and
    /// embedded with the model's vision tower; a .vtt/.srt beside a video is its transcript;
    /// .csv/.parquet files are metadata keyed by id or by file name (`path` column).
    pub paths: Vec<PathBuf>,
    /// Seconds between keyframes inside a long shot (every shot gets at least one).
    #[arg(long, default_value_t = 5.0)]
    pub keyframe_interval: f64,
    /// Shot-cut threshold of the content detector (mean HSV change, 0-255; PySceneDetect's
    /// default 27).
    #[arg(long, default_value_t = 27.0)]
    pub shot_threshold: f64,
    /// How to store the embeddings of a modality this ingest creates: float32, float16,
    /// or int8 (with a scale per vector). A dataset keeps the encoding it has; change it
    /// with `dyntag dataset encode`.
    #[arg(long, value_parser = parse_encoding)]
    pub embedding_encoding: Option<Encoding>,
    /// Leave the new rows out of the search index (an index of millions of rows takes
    /// minutes to build): searches scan them exactly until the next ingest that indexes,
    /// or `dyntag dataset index`.
    #[arg(long)]
    pub no_index: bool,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_encoding(s: &str) -> std::result::Result<Encoding, String> {
    Encoding::parse(s).map_err(|e| e.to_string())
}

/// Runs `dyntag ingest`.
pub async fn run(global: &Global, args: IngestArgs) -> Result<()> {
    let mut sources = Vec::new();
    for path in args.keyframes {
        let model = args.model.clone().ok_or_else(|| {
            AppError::Usage(
                "--keyframes needs --model <id of the model that made the embeddings>".into(),
            )
        })?;
        sources.push(Source::Keyframes { path, model });
    }
    sources.extend(args.shots.into_iter().map(|path| Source::Shots { path }));
    sources.extend(
        args.transcripts
            .into_iter()
            .map(|path| Source::Transcripts {
                path,
                model: args.model.clone(),
            }),
    );
    sources.extend(
        args.metadata
            .into_iter()
            .map(|path| Source::Metadata { path }),
    );
    sources.extend(args.videos.into_iter().map(|path| Source::Videos { path }));
    let found = discover(&args.paths)
        .map_err(|e| AppError::Input(format!("cannot read the paths to ingest: {e}")))?;
    if sources.is_empty() && args.paths.is_empty() {
        return Err(AppError::Usage("nothing to import: give media files or folders, or files with --keyframes, --shots, --transcripts, --metadata, --videos".into()));
    }
    let catalog = global.open().await?;
    let progress = LineProgress::new(args.quiet);
    let options = import::ImportOptions {
        encoding: args.embedding_encoding,
        defer_index: args.no_index,
    };
    let mut outcomes = Vec::new();
    if !sources.is_empty() {
        outcomes =
            import::import_encoded(&catalog, &args.dataset, &sources, &options, &progress).await?;
    }
    let mut opts = MediaOptions::new(&args.dataset);
    opts.model = args.model.clone();
    opts.import = options;
    opts.video.keyframe_interval_ms = (args.keyframe_interval * 1000.0).round().max(1.0) as i64;
    opts.video.detector.threshold = args.shot_threshold;
    let report = ingest(&catalog, &opts, found, &progress).await?;
    outcomes.extend(report.outcomes);
    for o in &outcomes {
        match &o.skipped {
            Some(why) => println!("skipped {} {}: {why}", o.kind, o.source),
            None => println!("imported {} rows of {} from {}", o.rows, o.kind, o.source),
        }
    }
    for (path, why) in &report.failed {
        println!("FAILED {}: {why}", path.display());
    }
    let snapshot = catalog.snapshot();
    let m = snapshot.dataset(&args.dataset)?;
    println!(
        "dataset '{}': {} images/keyframes, {} shots, {} transcript segments, {} videos",
        m.name,
        m.rows(dyntag_core::model::dataset::TableKind::Images),
        m.rows(dyntag_core::model::dataset::TableKind::Shots),
        m.rows(dyntag_core::model::dataset::TableKind::Transcripts),
        m.rows(dyntag_core::model::dataset::TableKind::Videos)
    );
    if !report.failed.is_empty() {
        return Err(AppError::Incomplete(format!(
            "{} file(s) could not be ingested and were skipped (listed above); everything else was imported",
            report.failed.len()
        )));
    }
    Ok(())
}
