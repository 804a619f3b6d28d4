//! `dyntag demo`: imports the committed transcript fixture (real text on six topics, with
//! series/episode metadata), creates and publishes a "Topics" tag group, prints a tour of
//! queries and opens the SQL shell. Running it again reuses what is there.

use std::path::PathBuf;

use dyntag_catalog::import::{self, Source};
use dyntag_catalog::sample_data_dir;

use super::Global;
use super::progress::LineProgress;
use crate::engine::Engine;
use crate::error::{AppError, Result};
use crate::output::Format;

/// The demo dataset's name.
pub const DATASET: &str = "demo";

/// The tour printed before the shell opens.
pub const TOUR: &[(&str, &str)] = &[
    ("The tag groups of this dataset", "SHOW TAG GROUPS;"),
    ("Tags, prompts and thresholds", "SHOW TAGS IN GROUP topics;"),
    (
        "Best transcript segment per tag",
        "SELECT tag_name, coactive_video_id, start_time_ms, round(score, 3) AS score\nFROM (SELECT *, row_number() OVER (PARTITION BY tag_name ORDER BY score DESC) AS r FROM dt_topics_transcript)\nWHERE r = 1 ORDER BY tag_name;",
    ),
    (
        "Tagged segments per series and episode (join with the metadata)",
        "SELECT v.\"SeriesName\", v.\"EpisodeName\", t.tag_name, count(*) AS segments\nFROM dt_topics_transcript t JOIN coactive_videos v USING (coactive_video_id)\nWHERE t.threshold_decision GROUP BY 1, 2, 3 ORDER BY 1, 2, 4 DESC;",
    ),
    (
        "A timeline of one video",
        "SELECT t.start_time_ms, t.tag_name, round(t.score, 2) AS score, c.text\nFROM dt_topics_transcript t JOIN coactive_transcripts c USING (coactive_video_id, segment_id)\nWHERE t.coactive_video_id = 'football_final' AND t.threshold_decision ORDER BY t.start_time_ms;",
    ),
    (
        "Score on the fly, refine a prompt, move a threshold",
        "SELECT text, round(dt_score(embedding, 'topics', 'football'), 3) AS s FROM coactive_transcripts ORDER BY s DESC LIMIT 3;\nALTER TAG 'football' IN GROUP topics ADD NEGATIVE PROMPT 'a concert' FOR TRANSCRIPT;\nALTER TAG 'football' IN GROUP topics SET THRESHOLD 0.6;",
    ),
];

/// Arguments of `dyntag demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The sample data folder (default: the embedded sample-data/).
    #[arg(long)]
    pub sample_data: Option<PathBuf>,
    /// Set up and print the tour, but do not open the shell.
    #[arg(long)]
    pub no_shell: bool,
}

/// Runs `dyntag demo`.
pub async fn run(global: &Global, args: DemoArgs) -> Result<()> {
    let sample = args.sample_data.unwrap_or_else(sample_data_dir);
    let transcripts = sample.join("transcripts");
    let mut sources = Vec::new();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&transcripts)
        .map_err(|e| AppError::io(format!("reading {}", transcripts.display()), e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "vtt"))
        .collect();
    files.sort();
    sources.extend(
        files
            .into_iter()
            .map(|path| Source::Transcripts { path, model: None }),
    );
    sources.push(Source::Metadata {
        path: transcripts.join("episodes.csv"),
    });
    let catalog = global.open().await?;
    let progress = LineProgress::new(false);
    let outcomes = import::import(&catalog, DATASET, &sources, &progress).await?;
    let imported: u64 = outcomes
        .iter()
        .filter(|o| o.skipped.is_none())
        .map(|o| o.rows)
        .sum();
    eprintln!(
        "demo dataset '{DATASET}' at {}: {imported} new rows imported",
        global.data
    );

    let engine = Engine::new(catalog.clone(), Some(DATASET))?;
    if catalog.snapshot().group("topics").is_err() {
        engine
            .execute("CREATE TAG GROUP Topics ON DATASET demo TAGS ('cooking', 'football', 'weather forecast', 'space exploration', 'wildlife', 'music concert')")
            .await?;
        engine
            .execute("ALTER TAG 'football' IN GROUP topics ADD PROMPT 'a goalkeeper saves a shot in a soccer match' FOR TRANSCRIPT")
            .await?;
    }
    let published = catalog
        .snapshot()
        .application(DATASET, "topics")
        .is_some_and(|a| a.run.is_some());
    if !published {
        let answer = engine
            .execute_with_progress("PUBLISH TAG GROUP topics", &progress)
            .await?;
        crate::output::write(&mut std::io::stderr(), &answer, Format::Table)?;
    }
    println!("\nA tour — paste these into the shell:\n");
    for (title, sql) in TOUR {
        println!("-- {title}\n{sql}\n");
    }
    if args.no_shell {
        return Ok(());
    }
    super::sql::shell(&engine, Format::Table, false).await
}
