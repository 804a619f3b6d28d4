//! End to end: transcripts of real text, a group whose tags are topics, publish, and the
//! top-scored items of each tag are on that topic; `dt_score` agrees with the tables.

use dyntag::engine::Engine;

use crate::common;
use crate::util::{floats, run, strings};

const TOPICS: &[(&str, &str)] = &[
    ("cooking", "cooking_pasta"),
    ("football", "football_final"),
    ("weather forecast", "weather_report"),
    ("space exploration", "space_mission"),
    ("wildlife", "wildlife_savanna"),
    ("music concert", "concert_live"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topic_tags_find_their_segments_and_videos() {
    let (_dir, catalog) = common::news_catalog().await;
    let engine = Engine::new(catalog, Some(common::DATASET)).unwrap();
    run(&engine, "CREATE TAG GROUP Topics ON DATASET news TAGS ('cooking', 'football', 'weather forecast', 'space exploration', 'wildlife', 'music concert')").await;
    for (tag, _) in TOPICS {
        run(
            &engine,
            &format!("PREVIEW TAG '{tag}' IN GROUP topics LIMIT 1"),
        )
        .await;
    }
    let published = run(&engine, "PUBLISH TAG GROUP topics").await;
    assert!(
        strings(&published, "result")[0].starts_with("published version 1"),
        "{published:?}"
    );

    for (tag, video) in TOPICS {
        let top = run(
            &engine,
            &format!("SELECT coactive_video_id FROM dt_topics_transcript WHERE tag_name = '{tag}' ORDER BY score DESC LIMIT 3"),
        )
        .await;
        assert_eq!(
            strings(&top, "coactive_video_id"),
            vec![video.to_string(); 3],
            "top transcript segments of '{tag}'"
        );

        let best_video = run(
            &engine,
            &format!("SELECT coactive_video_id FROM dt_topics_video WHERE tag_name = '{tag}' ORDER BY score DESC LIMIT 1"),
        )
        .await;
        assert_eq!(
            strings(&best_video, "coactive_video_id"),
            vec![video.to_string()],
            "best video of '{tag}'"
        );

        // dt_score over coactive_transcripts agrees with the materialised table.
        let pairs = run(
            &engine,
            &format!(
                "SELECT t.score AS stored, dt_score(c.embedding, 'topics', '{tag}') AS live
                 FROM dt_topics_transcript t JOIN coactive_transcripts c USING (coactive_video_id, segment_id)
                 WHERE t.tag_name = '{tag}'"
            ),
        )
        .await;
        let (stored, live) = (floats(&pairs, "stored"), floats(&pairs, "live"));
        assert_eq!(stored.len(), 72, "one row per segment");
        let diff = stored
            .iter()
            .zip(&live)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max);
        assert!(
            diff < 1e-5,
            "dt_score differs from dt_topics_transcript by {diff} for '{tag}'"
        );
    }

    // At the default threshold 0.5 the tags are calibrated: precision and recall of
    // "segment is on the tag's topic" (the figures quoted in sample-data/transcripts).
    let decisions = run(
        &engine,
        "SELECT tag_name, coactive_video_id, threshold_decision FROM dt_topics_transcript",
    )
    .await;
    let (tags, videos, tagged) = (
        strings(&decisions, "tag_name"),
        strings(&decisions, "coactive_video_id"),
        strings(&decisions, "threshold_decision"),
    );
    let (mut tp, mut fp, mut fn_) = (0.0, 0.0, 0.0);
    for ((tag, video), tagged) in tags.iter().zip(&videos).zip(&tagged) {
        let on_topic = TOPICS.iter().any(|(t, v)| t == tag && v == video);
        match (tagged == "true", on_topic) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, true) => fn_ += 1.0,
            (false, false) => {}
        }
    }
    let (precision, recall) = (tp / (tp + fp), tp / (tp + fn_));
    let f1 = 2.0 * precision * recall / (precision + recall);
    println!(
        "transcript topics at threshold 0.5: precision {precision:.2} recall {recall:.2} F1 {f1:.2}"
    );
    assert!(
        f1 >= 0.8,
        "precision {precision:.2} recall {recall:.2} F1 {f1:.2}"
    );

    // Scores are probabilities and every row carries the version and model.
    let check = run(
        &engine,
        "SELECT min(score) AS lo, max(score) AS hi, count(DISTINCT group_version) AS versions, min(model_id) AS model FROM dt_topics_visual",
    )
    .await;
    let (lo, hi) = (floats(&check, "lo")[0], floats(&check, "hi")[0]);
    assert!(
        (0.0..=1.0).contains(&lo) && (0.0..=1.0).contains(&hi) && hi > 0.5,
        "{lo}..{hi}"
    );
    assert_eq!(strings(&check, "versions"), vec!["1"]);
    assert_eq!(
        strings(&check, "model"),
        vec![dyntag_models::DEFAULT_MODEL_ID]
    );
}
