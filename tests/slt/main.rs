//! sqllogictest files (`tests/slt/*.slt`) run against the real engine: each file gets a
//! fresh data folder holding the `news` fixture dataset (see `tests/common`).
//!
//! Files named `lifecycle*` also get a second dataset, `archive`, holding the same
//! keyframes. `cargo test --test slt` runs them all; `cargo test --test slt -- NAME` runs the files
//! whose name contains NAME; `-- --complete NAME` rewrites their expected results from
//! what the engine answers (review the diff before committing it).

#[path = "../common/mod.rs"]
mod common;

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, RecordBatch};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use dyntag::engine::Engine;
use sqllogictest::{DBOutput, DefaultColumnType};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SltError(String);

struct Db {
    engine: Engine,
    _dir: Arc<tempfile::TempDir>,
}

fn rows(batches: &[RecordBatch]) -> Result<Vec<Vec<String>>, SltError> {
    let opts = FormatOptions::default().with_null("NULL");
    let mut out = Vec::new();
    for b in batches {
        let fmts: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<Result<_, _>>()
            .map_err(|e| SltError(e.to_string()))?;
        for r in 0..b.num_rows() {
            out.push(
                fmts.iter()
                    .zip(b.columns())
                    .map(|(f, c)| {
                        if c.is_null(r) {
                            "NULL".to_string()
                        } else {
                            let s = f.value(r).to_string();
                            if s.is_empty() { "(empty)".into() } else { s }
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

#[async_trait]
impl sqllogictest::AsyncDB for Db {
    type Error = SltError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SltError> {
        let answer = self
            .engine
            .execute(sql)
            .await
            .map_err(|e| SltError(e.to_string()))?;
        let n = answer.schema.fields().len();
        Ok(DBOutput::Rows {
            types: vec![DefaultColumnType::Any; n],
            rows: rows(&answer.batches)?,
        })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "dyntag"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
}

fn main() {
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let complete = std::env::args().any(|a| a == "--complete");
    let dir = PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
    .join("tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .filter(|p| {
            filter
                .as_ref()
                .is_none_or(|f| p.to_string_lossy().contains(f.as_str()))
        })
        .collect();
    files.sort();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let result = rt.block_on(async {
            let (tmp, catalog) = common::news_catalog().await;
            if name.starts_with("lifecycle") {
                common::add_keyframe_dataset(tmp.path(), &catalog, "archive").await;
            }
            let tmp = Arc::new(tmp);
            let catalog = Arc::clone(&catalog);
            let mut runner = sqllogictest::Runner::new(move || {
                let catalog = Arc::clone(&catalog);
                let tmp = Arc::clone(&tmp);
                async move {
                    let engine = Engine::new(catalog, Some(common::DATASET))
                        .map_err(|e| SltError(e.to_string()))?;
                    Ok::<_, SltError>(Db { engine, _dir: tmp })
                }
            });
            if complete {
                runner
                    .update_test_file(
                        file,
                        " ",
                        sqllogictest::default_validator,
                        sqllogictest::default_normalizer,
                        sqllogictest::default_column_validator,
                    )
                    .await
                    .map_err(|e| e.to_string())
            } else {
                runner.run_file_async(file).await.map_err(|e| e.to_string())
            }
        });
        match result {
            Ok(()) => println!("slt {name} ... ok"),
            Err(e) => {
                println!("slt {name} ... FAILED\n{e}\n");
                failures.push(name);
            }
        }
    }
    if files.is_empty() {
        println!("no .slt file matched");
    }
    if !failures.is_empty() {
        eprintln!(
            "{} slt file(s) failed: {}",
            failures.len(),
            failures.join(", ")
        );
        std::process::exit(1);
    }
}
