//! `dyntag demo`: ingests the embedded sample media library (Openclipart images and short
//! videos made of them, with transcripts and series/episode metadata) from its pixels,
//! creates and publishes a "Subjects" tag group, prints a tour of queries and serves the
//! dataset over Flight SQL and HTTP (or opens the SQL shell). Running it again reuses what is
//! there.

use std::path::PathBuf;
use std::sync::Arc;

use dyntag_core::{Catalog, sample_data_dir};

use super::Global;
use super::progress::LineProgress;
use crate::engine::Engine;
use crate::error::{AppError, Result};
use crate::ingest::{MediaOptions, discover, ingest};
use crate::output::Format;

/// The demo dataset's name.
pub const DATASET: &str = "demo";

/// The demo's tag group.
const GROUP: &str = "CREATE TAG GROUP Subjects ON DATASET demo TAGS ('birds', 'fish', 'flowers', 'fruit', 'desserts', 'drinks', 'bread', 'sports', 'music', 'vehicles', 'boats', 'houses', 'clocks', 'tools', 'computers')";

/// The tour printed before the shell opens.
pub const TOUR: &[(&str, &str)] = &[
    ("The tag groups of this dataset", "SHOW TAG GROUPS;"),
    (
        "Tags, prompts and thresholds",
        "SHOW TAGS IN GROUP subjects;",
    ),
    (
        "The best keyframe of each tag, with its video, time, series and episode",
        "SELECT d.tag_name, t.coactive_video_id, t.keyframe_time_ms, t.\"SeriesName\", t.\"EpisodeName\", round(d.score, 3) AS score\nFROM (SELECT *, row_number() OVER (PARTITION BY tag_name ORDER BY score DESC) AS r FROM dt_subjects_visual WHERE coactive_video_id IS NOT NULL) d\nJOIN coactive_table t USING (coactive_image_id) WHERE d.r = 1 ORDER BY 1;",
    ),
    (
        "Shots tagged in each episode",
        "SELECT v.\"SeriesName\", v.\"EpisodeName\", s.tag_name, count(*) AS shots\nFROM dt_subjects_shot s JOIN coactive_videos v USING (coactive_video_id)\nWHERE s.threshold_decision GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC;",
    ),
    (
        "Which videos are about what (visual and spoken)",
        "SELECT v.coactive_video_id, v.tag_name, round(v.score, 2) AS visual, round(max(t.score), 2) AS spoken\nFROM dt_subjects_video v JOIN dt_subjects_transcript t USING (coactive_video_id, tag_name)\nWHERE v.threshold_decision GROUP BY 1, 2, 3 ORDER BY 1, 3 DESC;",
    ),
    (
        "Images (not keyframes) a tag finds, with their title",
        "SELECT t.coactive_image_id, t.\"Title\", round(d.score, 3) AS score FROM dt_subjects_visual d JOIN coactive_table t USING (coactive_image_id)\nWHERE d.tag_name = 'boats' AND t.coactive_video_id IS NULL ORDER BY score DESC LIMIT 5;",
    ),
    (
        "Score on the fly, refine a prompt, move a threshold",
        "SELECT coactive_image_id, round(dt_score(embedding, 'subjects', 'clocks'), 3) AS s FROM coactive_table_adv ORDER BY s DESC LIMIT 3;\nALTER TAG 'clocks' IN GROUP subjects ADD PROMPT 'a wall clock with hands' FOR VISUAL;\nALTER TAG 'clocks' IN GROUP subjects SET THRESHOLD 0.6;",
    ),
];

/// Arguments of `dyntag demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The sample data folder (default: the embedded sample-data/).
    #[arg(long)]
    pub sample_data: Option<PathBuf>,
    /// Open the SQL shell instead of serving.
    #[arg(long, conflicts_with = "setup_only")]
    pub shell: bool,
    /// Set up and print the tour, then stop.
    #[arg(long)]
    pub setup_only: bool,
    #[command(flatten)]
    pub serve: super::serve::ServeArgs,
}

/// Runs `dyntag demo`.
pub async fn run(global: &Global, args: DemoArgs) -> Result<()> {
    let catalog = prepare(global, args.sample_data.clone()).await?;
    println!("\nA tour — run these in the SQL shell, over Flight SQL or with POST /api/sql:\n");
    for (title, sql) in TOUR {
        println!("-- {title}\n{sql}\n");
    }
    if args.setup_only {
        return Ok(());
    }
    if args.shell {
        let engine = Engine::new(catalog, Some(DATASET))?;
        return super::sql::shell(&engine, Format::Table, false).await;
    }
    let mut serve = args.serve.clone();
    serve.dataset.get_or_insert_with(|| DATASET.to_string());
    super::serve::serve(catalog, &serve, |_| {}).await
}

/// Ingests the sample library into the dataset `demo` and publishes its tag group (what is
/// there already is reused).
pub async fn prepare(global: &Global, sample_data: Option<PathBuf>) -> Result<Arc<Catalog>> {
    let sample = sample_data.unwrap_or_else(sample_data_dir);
    let library = sample.join("library");
    let found = discover(std::slice::from_ref(&library))
        .map_err(|e| AppError::io(format!("reading {}", library.display()), e))?;
    let catalog = global.open().await?;
    let progress = LineProgress::new(false);
    let report = ingest(&catalog, &MediaOptions::new(DATASET), found, &progress).await?;
    if let Some((path, why)) = report.failed.first() {
        return Err(AppError::Environment(format!(
            "the sample library did not ingest: {}: {why}",
            path.display()
        )));
    }
    let imported: u64 = report
        .outcomes
        .iter()
        .filter(|o| o.skipped.is_none())
        .map(|o| o.rows)
        .sum();
    eprintln!(
        "demo dataset '{DATASET}' at {}: {imported} new rows ingested from {}",
        global.data,
        library.display()
    );

    let engine = Engine::new(catalog.clone(), Some(DATASET))?;
    if catalog.snapshot().group("subjects").is_err() {
        engine.execute(GROUP).await?;
    }
    let published = catalog
        .snapshot()
        .application(DATASET, "subjects")
        .is_some_and(|a| a.run.is_some());
    if !published {
        // Review each tag as a user would: open its preview.
        let waiting: Vec<String> = catalog
            .snapshot()
            .group("subjects")?
            .doc
            .tags
            .iter()
            .filter(|t| t.status == dyntag_core::model::tags::TagStatus::NeedsReview)
            .map(|t| t.name.clone())
            .collect();
        for tag in waiting {
            engine
                .execute(&format!("PREVIEW TAG '{tag}' IN GROUP subjects LIMIT 4"))
                .await?;
        }
        let answer = engine
            .execute_with_progress("PUBLISH TAG GROUP subjects", &progress)
            .await?;
        crate::output::write(&mut std::io::stderr(), &answer, Format::Table)?;
    }
    Ok(catalog)
}
