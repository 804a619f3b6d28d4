//! `dyntag export`: a dataset's tables for engines outside dyntag. With `--format delta`,
//! each becomes a Delta Lake table under the data root:
//!
//! ```text
//! delta/<dataset>/dt_<group>_<visual|transcript|shot|video>/   one commit per version of
//!                                                              the group scored on the dataset
//! delta/<dataset>/coactive_<table|videos|shots|transcripts>/   one commit per revision of
//!                                                              the dataset exported
//! ```
//!
//! A `dt_` table gets a commit per version of the group scored on the dataset (its
//! `commitInfo.dyntag.group_version` and `userMetadata` name it), and another when the
//! version it holds was scored again or its thresholds changed (`threshold_decision` is
//! computed from the thresholds saved when the export runs): time travel by Delta version
//! reads the scores of that commit. Running the export again adds commits for what changed
//! since, and nothing else.

pub mod delta;

use std::sync::Arc;

use serde_json::json;

use crate::engine::Engine;
use crate::error::{AppError, Result};
use delta::DeltaTable;
use dyntag_core::Catalog;
use dyntag_core::model::applications::ScoreTable;

/// The asset tables exported (their embeddings left out).
const ASSET_TABLES: [&str; 4] = [
    "coactive_table",
    "coactive_videos",
    "coactive_shots",
    "coactive_transcripts",
];

/// One table's export: its folder and the commits it gained.
#[derive(Debug)]
pub struct Exported {
    pub table: String,
    pub root: String,
    /// (Delta version, what it holds) of each new commit.
    pub commits: Vec<(u64, String)>,
}

/// Writes `dataset`'s tables as Delta tables under `delta/<dataset>/` of the data root.
pub async fn export_delta(catalog: &Arc<Catalog>, dataset: &str) -> Result<Vec<Exported>> {
    let snapshot = catalog.refresh().await?;
    let manifest = snapshot
        .datasets
        .get(dataset)
        .ok_or_else(|| AppError::Usage(format!("dataset '{dataset}' not found")))?;
    let revision = manifest.revision;
    let engine = Engine::new(Arc::clone(catalog), Some(dataset))?;
    let store = catalog.store().clone();
    let mut out = Vec::new();

    for ((ds, slug), app) in snapshot.applications.iter() {
        if ds != dataset || app.doc.removed {
            continue;
        }
        let mut scored: Vec<(u32, String)> = app
            .doc
            .run
            .iter()
            .chain(app.doc.history.iter())
            .map(|r| (r.version, r.id.clone()))
            .collect();
        scored.sort_unstable();
        let current = app.doc.run.as_ref().map(|r| r.version);
        // `threshold_decision` is computed from the thresholds saved when the export runs:
        // a change of them (or a new scoring run of the version) is a new commit too.
        let thresholds = snapshot.groups.get(slug).map_or_else(String::new, |g| {
            g.doc
                .tags
                .iter()
                .map(|t| format!("{}={}", t.name, t.threshold))
                .collect::<Vec<_>>()
                .join(";")
        });
        for kind in ScoreTable::ALL {
            let table = format!("dt_{slug}_{}", kind.suffix());
            let root = format!("delta/{dataset}/{table}");
            let delta = DeltaTable::new(store.clone(), root.clone());
            let mut last_commit = delta.commits().await?.pop();
            let last = last_commit.as_ref().map(|c| {
                (
                    c.dyntag
                        .get("group_version")
                        .and_then(|v| v.as_u64())
                        .unwrap_or(0),
                    c.dyntag
                        .get("state")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string(),
                )
            });
            let mut added = Vec::new();
            for (v, run_id) in &scored {
                let state = format!("run {run_id}; thresholds {thresholds}");
                let fresh = match &last {
                    None => true,
                    Some((done, _)) if u64::from(*v) > *done => true,
                    // The version last exported, scored again or with other thresholds.
                    Some((done, was)) => {
                        u64::from(*v) == *done && Some(*v) == current && *was != state
                    }
                };
                if !fresh {
                    continue;
                }
                let rows = engine
                    .stream(&format!(
                        "SELECT * FROM dt_version('{slug}', '{}', {v})",
                        kind.suffix()
                    ))
                    .await?;
                let note = format!("{table}: version {v} of tag group '{slug}'");
                let commit = delta
                    .overwrite(
                        last_commit.as_ref(),
                        rows,
                        json!({"dataset": dataset, "group": slug, "group_version": v,
                               "table": table, "state": state}),
                        &note,
                    )
                    .await?;
                added.push((commit.version, note));
                last_commit = Some(commit);
            }
            out.push(Exported {
                table,
                root,
                commits: added,
            });
        }
    }

    for table in ASSET_TABLES {
        let root = format!("delta/{dataset}/{table}");
        let delta = DeltaTable::new(store.clone(), root.clone());
        let commits = delta.commits().await?;
        let last = commits
            .last()
            .and_then(|c| c.dyntag.get("dataset_revision")?.as_u64());
        let mut added = Vec::new();
        if last != Some(revision) {
            let rows = engine.stream(&format!("SELECT * FROM {table}")).await?;
            let note = format!("{table} of dataset '{dataset}' at revision {revision}");
            let commit = delta
                .overwrite(
                    commits.last(),
                    rows,
                    json!({"dataset": dataset, "dataset_revision": revision, "table": table}),
                    &note,
                )
                .await?;
            added.push((commit.version, note));
        }
        out.push(Exported {
            table: table.to_string(),
            root,
            commits: added,
        });
    }
    Ok(out)
}
