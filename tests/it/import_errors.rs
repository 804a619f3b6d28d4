//! Bad input is rejected with the file, row and column, and changes nothing stored;
//! importing the same file again changes nothing either.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, FixedSizeListArray, Float32Array, RecordBatch, StringArray,
};
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::parquet::arrow::ArrowWriter;
use dyntag_core::Catalog;
use dyntag_core::model::dataset::manifest_log;
use dyntag_core::service::import::{NoProgress, Source, import};

use crate::common;

async fn revision(catalog: &Catalog) -> u64 {
    manifest_log(common::DATASET)
        .latest_revision(catalog.store())
        .await
        .unwrap()
}

fn files_under(dir: &Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

fn keyframes(path: &Path, ids: &[&str], dim: usize) {
    let item = Arc::new(Field::new("item", DataType::Float32, false));
    let values: Vec<f32> = (0..ids.len() * dim).map(|i| (i % 7) as f32 + 1.0).collect();
    let emb =
        FixedSizeListArray::try_new(item, dim as i32, Arc::new(Float32Array::from(values)), None)
            .unwrap();
    let batch = RecordBatch::try_from_iter(vec![
        (
            "coactive_image_id",
            Arc::new(StringArray::from(ids.to_vec())) as ArrayRef,
        ),
        ("embedding", Arc::new(emb)),
    ])
    .unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

async fn rejected(catalog: &Catalog, data: &Path, source: Source) -> String {
    let (rev, files) = (revision(catalog).await, files_under(data));
    let err = import(catalog, common::DATASET, &[source], &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        revision(catalog).await,
        rev,
        "a failed import committed: {err}"
    );
    assert_eq!(
        files_under(data),
        files,
        "a failed import left files behind: {err}"
    );
    err
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_files_are_rejected_with_file_row_and_column() {
    let (dir, catalog) = common::news_catalog().await;
    let data = dir.path().join("data");
    let model = dyntag_models::DEFAULT_MODEL_ID.to_string();

    let wrong_dim = dir.path().join("wrong_dim.parquet");
    keyframes(&wrong_dim, &["a", "b"], 10);
    let err = rejected(
        &catalog,
        &data,
        Source::Keyframes {
            path: wrong_dim.clone(),
            model: model.clone(),
        },
    )
    .await;
    assert!(
        err.contains(
            "wrong_dim.parquet: row 1, column 'embedding': embedding has dimension 10, expected 384"
        ),
        "{err}"
    );

    let dup_existing = dir.path().join("dup.parquet");
    keyframes(&dup_existing, &["new_one", "img_cat"], 384);
    let err = rejected(
        &catalog,
        &data,
        Source::Keyframes {
            path: dup_existing,
            model: model.clone(),
        },
    )
    .await;
    assert!(
        err.contains("dup.parquet: row 2: image id 'img_cat' already exists in dataset 'news'"),
        "{err}"
    );

    let other_model = dir.path().join("other.parquet");
    keyframes(&other_model, &["x"], 384);
    let err = rejected(
        &catalog,
        &data,
        Source::Keyframes {
            path: other_model,
            model: "clip-vit-b32".into(),
        },
    )
    .await;
    assert!(
        err.contains("holds visual embeddings of model 'dyntag-default-minilm'")
            && err.contains("'clip-vit-b32'"),
        "{err}"
    );

    let no_id = dir.path().join("no_id.csv");
    std::fs::write(
        &no_id,
        "coactive_video_id,start_time_ms,end_time_ms,text\nv,0,10,hello\n",
    )
    .unwrap();
    let err = rejected(
        &catalog,
        &data,
        Source::Transcripts {
            path: no_id,
            model: None,
        },
    )
    .await;
    assert!(
        err.contains("no_id.csv: missing required column 'segment_id'"),
        "{err}"
    );

    let dup_rows = dir.path().join("dup_shots.csv");
    std::fs::write(
        &dup_rows,
        "coactive_video_id,shot_id,start_time_ms,end_time_ms\nv,1,0,10\nv,2,10,20\nv,1,20,30\n",
    )
    .unwrap();
    let err = rejected(&catalog, &data, Source::Shots { path: dup_rows }).await;
    assert!(
        err.contains("dup_shots.csv: row 3: duplicate shot '1' of video 'v' (first on row 1)"),
        "{err}"
    );

    let bad_time = dir.path().join("bad_time.csv");
    std::fs::write(
        &bad_time,
        "coactive_video_id,shot_id,start_time_ms,end_time_ms\nv,1,0,10\nv,2,12a,20\n",
    )
    .unwrap();
    let err = rejected(&catalog, &data, Source::Shots { path: bad_time }).await;
    assert!(
        err.contains("bad_time.csv: row 2, column 'start_time_ms': '12a' is not a whole number"),
        "{err}"
    );

    let garbage = dir.path().join("garbage.parquet");
    std::fs::write(&garbage, b"this is not parquet").unwrap();
    let err = rejected(&catalog, &data, Source::Shots { path: garbage }).await;
    assert!(
        err.contains("garbage.parquet: not a readable Parquet file"),
        "{err}"
    );

    let bad_vtt = dir.path().join("clip.vtt");
    std::fs::write(&bad_vtt, "WEBVTT\n\n1\n00:00:01.000 --> soon\nHello\n").unwrap();
    let err = rejected(
        &catalog,
        &data,
        Source::Transcripts {
            path: bad_vtt,
            model: None,
        },
    )
    .await;
    assert!(
        err.contains("clip.vtt: line 4: invalid time 'soon'"),
        "{err}"
    );

    let missing = dir.path().join("nope.csv");
    let err = rejected(&catalog, &data, Source::Metadata { path: missing }).await;
    assert!(err.contains("nope.csv: cannot read"), "{err}");

    // One bad source among good ones: nothing of the good ones is committed either.
    let good = dir.path().join("more_shots.csv");
    std::fs::write(
        &good,
        "coactive_video_id,shot_id,start_time_ms,end_time_ms\nw,1,0,10\n",
    )
    .unwrap();
    let rev = revision(&catalog).await;
    let err = import(
        &catalog,
        common::DATASET,
        &[
            Source::Shots { path: good },
            Source::Keyframes {
                path: wrong_dim,
                model,
            },
        ],
        &NoProgress,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("dimension 10"));
    assert_eq!(revision(&catalog).await, rev);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn importing_the_same_files_again_changes_nothing() {
    let (_dir, catalog) = common::news_catalog().await;
    let rev = revision(&catalog).await;
    let sources: Vec<Source> = common::transcript_files()
        .into_iter()
        .map(|path| Source::Transcripts { path, model: None })
        .collect();
    let outcomes = import(&catalog, common::DATASET, &sources, &NoProgress)
        .await
        .unwrap();
    assert!(
        outcomes.iter().all(|o| o
            .skipped
            .as_deref()
            .is_some_and(|s| s.starts_with("already imported"))),
        "{outcomes:?}"
    );
    assert_eq!(revision(&catalog).await, rev);
}
