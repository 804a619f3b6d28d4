//! `dyntag dataset`: what a dataset stores — `show` (its tables, models and encodings) and
//! `encode` (store its embeddings as float32, float16 or int8, in place, as one commit).

use clap::{Args, Subcommand};
use dyntag_core::Modality;
use dyntag_core::model::dataset::encoding::Encoding;
use dyntag_core::service::import::encode_dataset;

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
    /// Print a dataset's rows, stored bytes, models and embedding encodings.
    Show { name: String },
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
