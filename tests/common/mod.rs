//! Test fixtures: a dataset `news` made of the committed transcript fixture (real text on
//! six topics, `sample-data/transcripts/`), its episode metadata, and keyframes of the same
//! six videos plus three still images.
//!
//! Until the image tower exists, each keyframe's embedding is the default model's text
//! embedding of a caption of what the frame shows — a stand-in in the same space, good
//! enough to test visual tags, shots and videos end to end.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, Int32Array, Int64Array, ListArray, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::Float32Type;
use datafusion::parquet::arrow::ArrowWriter;
use dyntag_core::service::import::{NoProgress, Source, import};
use dyntag_core::{Catalog, CatalogConfig, default_models_dir};
use dyntag_models::DEFAULT_MODEL_ID;

/// The fixture dataset's name.
pub const DATASET: &str = "news";

/// (video, shot, time ms, caption, image id) of a keyframe; stills have no video.
pub type Keyframe = (
    Option<&'static str>,
    Option<&'static str>,
    i64,
    &'static str,
    &'static str,
);

/// The fixture's keyframes and still images.
pub const KEYFRAMES: &[Keyframe] = &[
    (
        Some("cooking_pasta"),
        Some("s1"),
        5_000,
        "a chef kneading pasta dough on a kitchen table",
        "kf_cook_1",
    ),
    (
        Some("cooking_pasta"),
        Some("s1"),
        12_000,
        "eggs and flour in a mixing bowl",
        "kf_cook_2",
    ),
    (
        Some("cooking_pasta"),
        Some("s2"),
        40_000,
        "a pot of boiling water on a stove",
        "kf_cook_3",
    ),
    (
        Some("cooking_pasta"),
        Some("s2"),
        55_000,
        "a plate of spaghetti with tomato sauce",
        "kf_cook_4",
    ),
    (
        Some("football_final"),
        Some("s1"),
        6_000,
        "a goalkeeper diving to save the ball",
        "kf_foot_1",
    ),
    (
        Some("football_final"),
        Some("s1"),
        14_000,
        "football players running on a grass pitch",
        "kf_foot_2",
    ),
    (
        Some("football_final"),
        Some("s2"),
        42_000,
        "fans cheering in a stadium",
        "kf_foot_3",
    ),
    (
        Some("football_final"),
        Some("s2"),
        50_000,
        "a referee showing a yellow card",
        "kf_foot_4",
    ),
    (
        Some("weather_report"),
        Some("s1"),
        4_000,
        "a weather map with rain clouds",
        "kf_wx_1",
    ),
    (
        Some("weather_report"),
        Some("s1"),
        11_000,
        "a presenter pointing at a weather chart",
        "kf_wx_2",
    ),
    (
        Some("weather_report"),
        Some("s2"),
        38_000,
        "dark storm clouds over the sea",
        "kf_wx_3",
    ),
    (
        Some("weather_report"),
        Some("s2"),
        47_000,
        "snow falling on hills",
        "kf_wx_4",
    ),
    (
        Some("space_mission"),
        Some("s1"),
        3_000,
        "a rocket launching into the sky",
        "kf_space_1",
    ),
    (
        Some("space_mission"),
        Some("s1"),
        10_000,
        "an astronaut floating inside a space station",
        "kf_space_2",
    ),
    (
        Some("space_mission"),
        Some("s2"),
        36_000,
        "the earth seen from orbit",
        "kf_space_3",
    ),
    (
        Some("space_mission"),
        Some("s2"),
        52_000,
        "engineers at mission control",
        "kf_space_4",
    ),
    (
        Some("wildlife_savanna"),
        Some("s1"),
        5_000,
        "elephants drinking at a river",
        "kf_wild_1",
    ),
    (
        Some("wildlife_savanna"),
        Some("s1"),
        13_000,
        "a lion resting in the grass",
        "kf_wild_2",
    ),
    (
        Some("wildlife_savanna"),
        Some("s2"),
        39_000,
        "zebras running across the plains",
        "kf_wild_3",
    ),
    (
        Some("wildlife_savanna"),
        Some("s2"),
        48_000,
        "a giraffe eating leaves from a tree",
        "kf_wild_4",
    ),
    (
        Some("concert_live"),
        Some("s1"),
        4_000,
        "a band playing on a stage",
        "kf_music_1",
    ),
    (
        Some("concert_live"),
        Some("s1"),
        12_000,
        "a guitarist playing a solo",
        "kf_music_2",
    ),
    (
        Some("concert_live"),
        Some("s2"),
        37_000,
        "a crowd at a concert with stage lights",
        "kf_music_3",
    ),
    (
        Some("concert_live"),
        Some("s2"),
        46_000,
        "a pianist playing a grand piano",
        "kf_music_4",
    ),
    (None, None, 0, "a cat sleeping on a sofa", "img_cat"),
    (None, None, 0, "a red sports car on a road", "img_car"),
    (None, None, 0, "a bowl of fruit on a table", "img_fruit"),
];

/// The repository root, read at run time (`cargo test` sets `CARGO_MANIFEST_DIR`), so that a
/// test binary built into a shared target directory uses the tree it runs from.
pub fn repo_root() -> PathBuf {
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
}

/// The repository's sample-data folder.
pub fn sample_data() -> PathBuf {
    repo_root().join("sample-data")
}

/// A catalog configuration over `data` with the shipped models.
pub fn config(data: &Path) -> CatalogConfig {
    CatalogConfig {
        data: data.to_string_lossy().into_owned(),
        models: vec![default_models_dir()],
        cache_bytes: 1 << 30,
        // Tests see replaced files go at the next commit.
        keep_replaced_secs: 0,
    }
}

/// Writes the keyframes Parquet (embeddings as variable lists, to exercise conversion).
pub fn write_keyframes(catalog: &Catalog, path: &Path) {
    let text = catalog
        .models()
        .get(DEFAULT_MODEL_ID)
        .unwrap()
        .text()
        .unwrap();
    let captions: Vec<&str> = KEYFRAMES.iter().map(|k| k.3).collect();
    let emb = text.embed(&captions).unwrap();
    let mut index_in_video = std::collections::HashMap::new();
    let idx: Vec<Option<i32>> = KEYFRAMES
        .iter()
        .map(|k| {
            k.0.map(|v| {
                let i = index_in_video.entry(v).or_insert(0);
                *i += 1;
                *i - 1
            })
        })
        .collect();
    let batch = RecordBatch::try_from_iter(vec![
        (
            "coactive_image_id",
            Arc::new(StringArray::from(
                KEYFRAMES.iter().map(|k| k.4).collect::<Vec<_>>(),
            )) as ArrayRef,
        ),
        (
            "coactive_video_id",
            Arc::new(StringArray::from(
                KEYFRAMES.iter().map(|k| k.0).collect::<Vec<_>>(),
            )),
        ),
        ("keyframe_index", Arc::new(Int32Array::from(idx))),
        (
            "keyframe_time_ms",
            Arc::new(Int64Array::from(
                KEYFRAMES
                    .iter()
                    .map(|k| k.0.map(|_| k.2))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "shot_id",
            Arc::new(StringArray::from(
                KEYFRAMES.iter().map(|k| k.1).collect::<Vec<_>>(),
            )),
        ),
        (
            "path",
            Arc::new(StringArray::from(
                KEYFRAMES
                    .iter()
                    .map(|k| format!("frames/{}.jpg", k.4))
                    .collect::<Vec<_>>(),
            )),
        ),
        (
            "embedding",
            Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(
                emb.rows()
                    .map(|r| Some(r.iter().map(|v| Some(*v)).collect::<Vec<_>>())),
            )),
        ),
    ])
    .unwrap();
    let file = std::fs::File::create(path).unwrap();
    let mut w = ArrowWriter::try_new(file, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

/// Shots of the fixture videos: s1 0–30 s, s2 30–60 s.
pub fn write_shots(path: &Path) {
    let mut csv = String::from("coactive_video_id,shot_id,start_time_ms,end_time_ms\n");
    for v in [
        "cooking_pasta",
        "football_final",
        "weather_report",
        "space_mission",
        "wildlife_savanna",
        "concert_live",
    ] {
        csv.push_str(&format!("{v},s1,0,30000\n{v},s2,30000,60000\n"));
    }
    std::fs::write(path, csv).unwrap();
}

/// The transcript fixture files.
pub fn transcript_files() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(sample_data().join("transcripts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "vtt"))
        .collect();
    v.sort();
    v
}

/// A fresh data folder holding the `news` dataset: transcripts, metadata, keyframes, shots.
pub async fn news_catalog() -> (tempfile::TempDir, Arc<Catalog>) {
    let dir = tempfile::tempdir().unwrap();
    let catalog = Catalog::open(config(&dir.path().join("data")))
        .await
        .unwrap();
    let kf = dir.path().join("keyframes.parquet");
    let shots = dir.path().join("shots.csv");
    write_keyframes(&catalog, &kf);
    write_shots(&shots);
    let mut sources: Vec<Source> = transcript_files()
        .into_iter()
        .map(|path| Source::Transcripts { path, model: None })
        .collect();
    sources.push(Source::Metadata {
        path: sample_data().join("transcripts/episodes.csv"),
    });
    sources.push(Source::Keyframes {
        path: kf,
        model: DEFAULT_MODEL_ID.into(),
    });
    sources.push(Source::Shots { path: shots });
    import(&catalog, DATASET, &sources, &NoProgress)
        .await
        .unwrap();
    (dir, catalog)
}

/// Adds a second dataset `name` to a `news` data folder: the same keyframes and shots,
/// no transcripts (for applying groups across datasets).
pub async fn add_keyframe_dataset(dir: &Path, catalog: &Catalog, name: &str) {
    let kf = dir.join(format!("{name}-keyframes.parquet"));
    let shots = dir.join(format!("{name}-shots.csv"));
    write_keyframes(catalog, &kf);
    write_shots(&shots);
    let sources = vec![
        Source::Keyframes {
            path: kf,
            model: DEFAULT_MODEL_ID.into(),
        },
        Source::Shots { path: shots },
    ];
    import(catalog, name, &sources, &NoProgress).await.unwrap();
}
