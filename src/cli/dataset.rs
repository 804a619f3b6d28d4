//! `dyntag dataset`: what a dataset stores — `show` (its tables, models, encodings and search
//! index), `encode` (store its embeddings as float32, float16 or int8, in place, as one
//! commit) and `index` (index for search the rows ingested with `--no-index`).

use clap::{Args, Subcommand};
use dyntag_core::Modality;
use dyntag_core::model::dataset::TableKind;
use dyntag_core::model::dataset::encoding::Encoding;
use dyntag_core::service::import::encode_dataset;
use dyntag_core::service::index::index_dataset;

use super::Global;
use super::progress::LineProgress;
use crate::error::{AppError, Result};

#[derive(Debug, Args)]
pub struct DatasetArgs {
    #[command(subcommand)]
    pub action: DatasetAction,
}

#[derive(Debug, Subcommand)]
pub enum DatasetAction {
    /// Print a dataset's rows, stored bytes, models, embedding encodings and search index.
    Show { name: String },
    /// Index for search the rows no index segment covers yet (those ingested with
    /// `--no-index`), as one commit; searches scan them exactly until then.
    Index {
        name: String,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
    },
    /// Rewrite a dataset's embeddings in another encoding (one commit: queries running
    /// meanwhile see the old files or the new ones, whole).
    Encode {
        name: String,
        /// float32, float16 or int8 (a float32 scale per vector).
        #[arg(long)]
        to: String,
        /// Only this modality (visual or transcript); both when omitted.
        #[arg(long)]
        modality: Option<String>,
        /// No progress lines.
        #[arg(long, short)]
        quiet: bool,
    },
}

pub async fn run(global: &Global, args: DatasetArgs) -> Result<()> {
    let catalog = global.open().await?;
    match args.action {
        DatasetAction::Show { name } => {
            let snapshot = catalog.snapshot();
            let m = snapshot.dataset(&name)?;
            println!("dataset '{}'", m.name);
            for (kind, files) in &m.tables {
                let rows: u64 = files.iter().map(|f| f.rows).sum();
                let bytes: u64 = files.iter().map(|f| f.bytes).sum();
                println!(
                    "  {:<15} {rows:>10} rows {:>6} files {:>12} bytes",
                    kind.dir_name(),
                    files.len(),
                    bytes
                );
            }
            for (modality, model) in &m.models {
                let stored = match model.encoding {
                    Some(e) => e.as_str(),
                    None => "float32 (list layout of earlier versions)",
                };
                println!(
                    "  {modality} embeddings: model '{}', dimension {}, stored as {stored}",
                    model.id, model.dimension
                );
                let segments = m.index_segments(*modality);
                println!(
                    "  {modality} search index: {} of {} rows in {} segments, {} bytes",
                    m.indexed_rows(*modality),
                    m.rows(TableKind::of(*modality)),
                    segments.len(),
                    segments.iter().map(|s| s.bytes).sum::<u64>()
                );
            }
            if !m.retired.is_empty() {
                println!(
                    "  replaced files kept for readers of earlier revisions: {} (since {}; the first commit {} s after removes them)",
                    m.retired.len(),
                    m.retired_at.as_deref().unwrap_or("an earlier version"),
                    global.keep_replaced_secs
                );
            }
            Ok(())
        }
        DatasetAction::Index { name, quiet } => {
            let progress = LineProgress::new(quiet);
            let outcomes = index_dataset(&catalog, &name, &progress).await?;
            if outcomes.is_empty() {
                println!("dataset '{name}': every row is indexed; nothing to do");
            }
            for o in outcomes {
                println!(
                    "dataset '{name}': {} rows added to the {}",
                    o.rows, o.source
                );
            }
            Ok(())
        }
        DatasetAction::Encode {
            name,
            to,
            modality,
            quiet,
        } => {
            let to = Encoding::parse(&to)?;
            let modality = modality.as_deref().map(Modality::parse).transpose()?;
            let progress = LineProgress::new(quiet);
            let outcomes = encode_dataset(&catalog, &name, modality, to, &progress).await?;
            if outcomes.is_empty() {
                println!("dataset '{name}': embeddings already stored as {to}; nothing to do");
            }
            for o in outcomes {
                println!("dataset '{name}': {} rows of {}", o.rows, o.source);
            }
            Ok::<(), AppError>(())
        }
    }
}
