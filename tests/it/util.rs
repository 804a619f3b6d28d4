//! Reading answers in tests.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Float64Type};
use dyntag::engine::{Answer, Engine};

/// Runs `sql`, panicking with the error text on failure.
pub async fn run(engine: &Engine, sql: &str) -> Answer {
    match engine.execute(sql).await {
        Ok(a) => a,
        Err(e) => panic!("{sql}\n  failed: {e}"),
    }
}

/// Runs `sql`, which must fail; the error text.
/// Creates the `topics` group (cooking, football) on the news dataset, reviews both tags
/// and publishes its first version.
pub async fn publish_topics(engine: &Engine) {
    run(
        engine,
        "CREATE TAG GROUP Topics ON DATASET news TAGS ('cooking', 'football')",
    )
    .await;
    for t in ["cooking", "football"] {
        run(engine, &format!("PREVIEW TAG '{t}' IN GROUP topics")).await;
    }
    run(engine, "PUBLISH TAG GROUP topics").await;
}

pub async fn run_err(engine: &Engine, sql: &str) -> String {
    match engine.execute(sql).await {
        Ok(_) => panic!("{sql}\n  succeeded, but should have failed"),
        Err(e) => e.to_string(),
    }
}

/// The values of a column as text.
pub fn strings(a: &Answer, column: &str) -> Vec<String> {
    let mut out = Vec::new();
    for b in &a.batches {
        let c = cast(b.column_by_name(column).expect(column), &DataType::Utf8).unwrap();
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    out
}

/// The values of a numeric column.
pub fn floats(a: &Answer, column: &str) -> Vec<f64> {
    let mut out = Vec::new();
    for b in &a.batches {
        let c = cast(b.column_by_name(column).expect(column), &DataType::Float64).unwrap();
        out.extend(c.as_primitive::<Float64Type>().values().iter().copied());
    }
    out
}

/// Asserts that a run of the `dyntag` binary succeeded (its stderr is the failure message);
/// its stdout.
pub fn succeeded(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "dyntag failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Copies a folder (a data root) recursively.
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Runs the `dyntag` binary on a data folder; asserts it succeeded; its trimmed stdout.
pub fn dyntag(data: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args(["--data", data.to_str().unwrap()])
        .args(args)
        // As in `common::config`: replaced files go at the next commit.
        .env("DYNTAG_KEEP_REPLACED_SECS", "0")
        .output()
        .unwrap();
    succeeded(&out).trim().to_string()
}
