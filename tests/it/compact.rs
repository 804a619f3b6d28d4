//! Compact embeddings: a dataset whose embeddings are stored as float16 or int8 scores like
//! float32 within the bound the error of each vector implies, in SQL, in search and in the
//! `dt_` tables; converting a dataset in place keeps it queryable, whole, while queries run;
//! an ingest asking for another encoding than the dataset's is refused by name.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use datafusion::arrow::array::Array;
use dyntag::engine::{Answer, Engine};
use dyntag_core::Modality;
use dyntag_core::model::dataset::TableKind;
use dyntag_core::model::dataset::encoding::Encoding;
use dyntag_core::model::dataset::vectors::vectors;
use dyntag_core::service::import::{ImportOptions, NoProgress, Source, import_encoded};

use crate::common;
use crate::util::{dyntag, floats, publish_topics, run, strings};

const SCORES: &str = "SELECT coactive_image_id, dt_score(embedding, 'topics', 'cooking') AS s, \
     dt_score(embedding, 'topics', 'football') AS f FROM coactive_table_adv ORDER BY coactive_image_id";

/// Every row's embedding, as float32, in id order.
fn embeddings(a: &Answer) -> Vec<Vec<f32>> {
    let mut out = Vec::new();
    for b in &a.batches {
        let col = b.column_by_name("embedding").expect("embedding");
        let (v, dim) = vectors(col.as_ref()).expect("an embedding column");
        out.extend((0..col.len()).map(|i| v.row(i, dim)));
    }
    out
}

/// Asserts that each row's scores moved by at most what its vector's error allows: a score
/// is σ(τ x·c − LSE(τ x·n)), so |Δscore| ≤ ¼ (τ‖Δx‖ + τ‖Δx‖) = τ‖Δx‖/2 (float16 rows are
/// converted to float32 and meet the tags' float32 vectors). Returns the largest
/// difference.
fn assert_within_bound(
    tau: f64,
    base: &[f64],
    got: &[f64],
    base_x: &[Vec<f32>],
    got_x: &[Vec<f32>],
) -> f64 {
    assert_eq!(base.len(), got.len());
    let mut worst = 0f64;
    for (i, (a, b)) in base.iter().zip(got).enumerate() {
        let dx: f64 = base_x[i]
            .iter()
            .zip(&got_x[i])
            .map(|(p, q)| f64::from(p - q).powi(2))
            .sum::<f64>()
            .sqrt();
        let bound = tau * dx / 2.0 + 1e-5;
        assert!(
            (a - b).abs() <= bound,
            "row {i}: {a} vs {b}, more than the bound {bound}"
        );
        worst = worst.max((a - b).abs());
    }
    worst
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compact_encodings_score_like_float32_and_convert_in_place() {
    let (dir, catalog) = common::news_catalog().await;
    let data = dir.path().join("data");
    let engine = Engine::new(Arc::clone(&catalog), Some(common::DATASET)).unwrap();
    publish_topics(&engine).await;
    let tau = f64::from(
        catalog
            .models()
            .get(dyntag_models::DEFAULT_MODEL_ID)
            .unwrap()
            .manifest()
            .logit_scale,
    );

    let base = run(&engine, SCORES).await;
    let base_x = embeddings(
        &run(
            &engine,
            "SELECT embedding FROM coactive_table_adv ORDER BY coactive_image_id",
        )
        .await,
    );
    let ids = strings(&base, "coactive_image_id");
    let top = |a: &Answer| strings(a, "item_id")[0].clone();
    let search = "SELECT * FROM semantic_search('a football match', 3, 'visual')";
    let base_top = top(&run(&engine, search).await);
    let published = "SELECT count(*) AS n, sum(score) AS s FROM dt_topics_visual";
    let base_published = floats(&run(&engine, published).await, "s")[0];
    let shown = dyntag(&data, &["dataset", "show", "news"]);
    assert!(
        shown.contains("visual embeddings: model") && shown.contains("stored as float32"),
        "{shown}"
    );
    assert!(!shown.contains("replaced files"), "{shown}");

    // The visual table's files, on disk.
    let files = |s: &dyntag_core::model::snapshot::Snapshot| -> Vec<std::path::PathBuf> {
        s.dataset(common::DATASET)
            .unwrap()
            .files(TableKind::of(Modality::Visual))
            .iter()
            .map(|f| data.join(&f.path))
            .collect()
    };
    let mut replaced_before: Vec<std::path::PathBuf> = Vec::new();

    // float16, then int8, each converted by the command while queries run.
    for (to, type_name) in [(Encoding::Float16, "Float16"), (Encoding::Int8, "Struct")] {
        let old = files(&catalog.refresh().await.unwrap());
        assert!(!old.is_empty() && old.iter().all(|p| p.exists()));
        let done = Arc::new(AtomicBool::new(false));
        let converter = {
            let data = data.clone();
            let done = Arc::clone(&done);
            std::thread::spawn(move || {
                let out = dyntag(
                    &data,
                    &["dataset", "encode", "news", "--to", to.as_str(), "-q"],
                );
                done.store(true, Ordering::SeqCst);
                out
            })
        };
        let mut seen = 0;
        while !done.load(Ordering::SeqCst) || seen == 0 {
            let a = run(
                &engine,
                "SELECT count(*) AS n, count(dt_score(embedding, 'topics', 'cooking')) AS scored FROM coactive_table_adv",
            )
            .await;
            assert_eq!(
                strings(&a, "n"),
                vec![ids.len().to_string()],
                "every row, whole"
            );
            assert_eq!(strings(&a, "scored"), vec![ids.len().to_string()]);
            seen += 1;
        }
        let out = converter.join().unwrap();
        assert!(out.contains(&format!("visual embeddings as {to}")), "{out}");
        let now = files(&catalog.refresh().await.unwrap());
        assert!(now.iter().all(|p| !old.contains(p)), "new files");
        // The files replaced stay for readers of the revision before (a scan's second
        // pass); the commit after removes them (the tests keep them for 0 s).
        assert!(old.iter().all(|p| p.exists()), "{old:?}");
        assert!(
            replaced_before.iter().all(|p| !p.exists()),
            "{replaced_before:?}"
        );
        replaced_before = old;
        let typ = run(
            &engine,
            "SELECT arrow_typeof(embedding) AS t FROM coactive_table_adv LIMIT 1",
        )
        .await;
        assert!(
            strings(&typ, "t")[0].contains(type_name),
            "{:?}",
            strings(&typ, "t")
        );

        let got = run(&engine, SCORES).await;
        assert_eq!(strings(&got, "coactive_image_id"), ids);
        let got_x = embeddings(
            &run(
                &engine,
                "SELECT embedding FROM coactive_table_adv ORDER BY coactive_image_id",
            )
            .await,
        );
        let mut worst = 0f64;
        for col in ["s", "f"] {
            let (a, b) = (floats(&base, col), floats(&got, col));
            worst = worst.max(if to == Encoding::Float16 {
                assert_within_bound(tau, &a, &b, &base_x, &got_x)
            } else {
                // On a CPU without AVX-512, int8 rows meet int8-rounded tag vectors
                // (integer dot products): the tags' rounding adds to the rows', so only
                // the measured bound holds on every CPU.
                a.iter()
                    .zip(&b)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0, f64::max)
            });
        }
        assert!(worst > 0.0, "{to} changes the scores a little");
        assert!(worst < 0.05, "{to}: scores moved by {worst}");
        assert_eq!(top(&run(&engine, search).await), base_top, "{to} search");
        // The published scores were made before; they stay as they were.
        let p = floats(&run(&engine, published).await, "s")[0];
        assert!((p - base_published).abs() < 1e-9);
        let shown = dyntag(&data, &["dataset", "show", "news"]);
        assert!(shown.contains(&format!("stored as {to}")), "{shown}");
        assert!(
            shown.contains("replaced files kept for readers of earlier revisions:"),
            "{shown}"
        );
    }

    // Publishing again scores the int8 embeddings into the dt_ table, close to float32's.
    run(
        &engine,
        "ALTER TAG 'cooking' IN GROUP topics ADD PROMPT 'a chef in a kitchen' FOR VISUAL",
    )
    .await;
    run(&engine, "PREVIEW TAG 'cooking' IN GROUP topics").await;
    run(&engine, "PUBLISH TAG GROUP topics").await;
    let n = strings(&run(&engine, published).await, "n");
    assert_eq!(n, vec![(ids.len() * 2).to_string()]);

    // An ingest asking for float32 on this int8 dataset is refused, naming both.
    let kf = dir.path().join("more.parquet");
    write_one_keyframe(&kf, base_x[0].len());
    let err = import_encoded(
        &catalog,
        common::DATASET,
        &[Source::Keyframes {
            path: kf.clone(),
            model: dyntag_models::DEFAULT_MODEL_ID.into(),
        }],
        &ImportOptions {
            encoding: Some(Encoding::Float32),
            defer_index: false,
        },
        &NoProgress,
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("as int8, not float32") && err.contains("dyntag dataset encode"),
        "{err}"
    );
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args([
            "--data",
            data.to_str().unwrap(),
            "dataset",
            "encode",
            "news",
            "--to",
            "bf16",
        ])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown embedding encoding 'bf16'"));

    // A row ingested without indexing stays unindexed through a conversion: `encode`
    // changes how rows are stored and never starts an index build (`dataset index` does).
    import_encoded(
        &catalog,
        common::DATASET,
        &[Source::Keyframes {
            path: kf,
            model: dyntag_models::DEFAULT_MODEL_ID.into(),
        }],
        &ImportOptions {
            encoding: None,
            defer_index: true,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    let indexed = |s: &dyntag_core::model::snapshot::Snapshot| {
        let d = s.dataset(common::DATASET).unwrap();
        (d.indexed_rows(Modality::Visual), d.rows(TableKind::Images))
    };
    let (before, rows) = indexed(&catalog.snapshot());
    assert_eq!(before + 1, rows, "the new row is left out of the index");
    dyntag(
        &data,
        &["dataset", "encode", "news", "--to", "float16", "-q"],
    );
    assert_eq!(indexed(&catalog.refresh().await.unwrap()), (before, rows));
}

/// A keyframes file of one new image.
fn write_one_keyframe(path: &std::path::Path, dim: usize) {
    use datafusion::arrow::array::{ArrayRef, ListArray, RecordBatch, StringArray};
    use datafusion::arrow::datatypes::Float32Type;
    use datafusion::parquet::arrow::ArrowWriter;
    let batch = RecordBatch::try_from_iter(vec![
        (
            "coactive_image_id",
            Arc::new(StringArray::from(vec!["img_extra"])) as ArrayRef,
        ),
        (
            "embedding",
            Arc::new(ListArray::from_iter_primitive::<Float32Type, _, _>(vec![
                Some((0..dim).map(|i| Some(1.0 + i as f32)).collect::<Vec<_>>()),
            ])),
        ),
    ])
    .unwrap();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}
