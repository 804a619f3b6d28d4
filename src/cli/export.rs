//! `dyntag export`: a dataset's tables for other engines (see `crate::export`).

use super::Global;
use crate::error::Result;

/// The formats `dyntag export` writes.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// Delta Lake tables under `delta/<dataset>/` of the data root.
    Delta,
}

/// Arguments of `dyntag export`.
#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// The dataset to export.
    #[arg(long)]
    pub dataset: String,
    /// The table format.
    #[arg(long, value_enum, default_value = "delta")]
    pub format: ExportFormat,
}

/// Runs `dyntag export`.
pub async fn run(global: &Global, args: ExportArgs) -> Result<()> {
    let catalog = global.open().await?;
    let ExportFormat::Delta = args.format;
    let exported = crate::export::export_delta(&catalog, &args.dataset).await?;
    let location = global.data.trim_end_matches('/');
    for e in &exported {
        let what = match e.commits.as_slice() {
            [] => "unchanged".to_string(),
            commits => commits
                .iter()
                .map(|(v, note)| format!("version {v}: {note}"))
                .collect::<Vec<_>>()
                .join("; "),
        };
        println!("{location}/{}  {what}", e.root);
    }
    Ok(())
}
