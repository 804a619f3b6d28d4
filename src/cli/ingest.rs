//! `dyntag ingest`: import files into a dataset (one commit per run; re-running skips
//! what was imported before).

use std::path::PathBuf;

use dyntag_catalog::import::{self, Source};

use super::Global;
use super::progress::LineProgress;
use crate::error::{AppError, Result};

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
    /// Files recognised by extension: .vtt/.srt transcripts.
    pub paths: Vec<PathBuf>,
    /// No progress lines.
    #[arg(long, short)]
    pub quiet: bool,
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
    for path in args.paths {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "vtt" | "srt" => sources.push(Source::Transcripts { path, model: None }),
            _ => {
                return Err(AppError::Usage(format!(
                    "{}: say what it is with --keyframes, --shots, --transcripts, --metadata or --videos",
                    path.display()
                )));
            }
        }
    }
    if sources.is_empty() {
        return Err(AppError::Usage("nothing to import: give files with --keyframes, --shots, --transcripts, --metadata, --videos".into()));
    }
    let catalog = global.open().await?;
    let progress = LineProgress::new(args.quiet);
    let outcomes = import::import(&catalog, &args.dataset, &sources, &progress).await?;
    for o in &outcomes {
        match &o.skipped {
            Some(why) => println!("skipped {} {}: {why}", o.kind, o.source),
            None => println!("imported {} rows of {} from {}", o.rows, o.kind, o.source),
        }
    }
    let snapshot = catalog.snapshot();
    let m = snapshot.dataset(&args.dataset)?;
    println!(
        "dataset '{}': {} images/keyframes, {} shots, {} transcript segments, {} videos",
        m.name,
        m.rows(dyntag_catalog::dataset::TableKind::Images),
        m.rows(dyntag_catalog::dataset::TableKind::Shots),
        m.rows(dyntag_catalog::dataset::TableKind::Transcripts),
        m.rows(dyntag_catalog::dataset::TableKind::Videos)
    );
    Ok(())
}
