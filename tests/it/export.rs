//! `dyntag export --format delta`: the tables of the demo dataset as Delta Lake tables,
//! read back by the `deltalake` Python package (delta-rs) with time travel by version.

use std::process::Command;

use super::serve::{demo_data, python};
use super::util::{copy_dir, dyntag, succeeded};
use crate::common;

#[test]
fn delta_tables_hold_every_version_and_read_back_by_time_travel() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    copy_dir(demo_data(), &data);
    let expected = dir.path().join("expected");
    std::fs::create_dir_all(&expected).unwrap();
    let csv = |name: &str, sql: &str| {
        let out = dyntag(
            &data,
            &["sql", "--dataset", "demo", "--format", "csv", "-e", sql],
        );
        std::fs::write(expected.join(format!("{name}.csv")), out + "\n").unwrap();
    };

    // Version 1 exported; then a version 2 with another prompt, exported after it.
    let first = dyntag(&data, &["export", "--dataset", "demo", "--format", "delta"]);
    assert!(first.contains("dt_subjects_visual  version 0"), "{first}");
    csv(
        "visual-1",
        "SELECT * FROM dt_version('subjects', 'visual', 1)",
    );
    dyntag(
        &data,
        &[
            "sql",
            "--dataset",
            "demo",
            "-e",
            "ALTER TAG 'clocks' IN GROUP subjects ADD PROMPT 'a wall clock with hands' FOR VISUAL; PREVIEW TAG 'clocks' IN GROUP subjects; PUBLISH TAG GROUP subjects",
        ],
    );
    let second = dyntag(&data, &["export", "--dataset", "demo"]);
    assert!(second.contains("dt_subjects_visual  version 1"), "{second}");
    assert!(second.contains("coactive_table  unchanged"), "{second}");
    // Nothing new: nothing written.
    let third = dyntag(&data, &["export", "--dataset", "demo"]);
    assert_eq!(third.matches("unchanged").count(), 8, "{third}");
    csv(
        "visual-2",
        "SELECT * FROM dt_version('subjects', 'visual', 2)",
    );
    csv(
        "coactive_table",
        "SELECT coactive_image_id FROM coactive_table",
    );

    let out = Command::new(python())
        .arg(common::repo_root().join("tests/clients/delta_reader.py"))
        .arg(&data)
        .arg(&expected)
        .output()
        .unwrap();
    let stdout = succeeded(&out);
    assert!(stdout.contains("delta: all checks passed"), "{stdout}");

    // A saved threshold changes threshold_decision without a new version: a new commit of
    // the same group version; then nothing again.
    dyntag(
        &data,
        &[
            "sql",
            "--dataset",
            "demo",
            "-e",
            "ALTER TAG 'clocks' IN GROUP subjects SET THRESHOLD 0.6",
        ],
    );
    let fourth = dyntag(&data, &["export", "--dataset", "demo"]);
    assert!(
        fourth
            .contains("dt_subjects_visual  version 2: dt_subjects_visual: version 2 of tag group"),
        "{fourth}"
    );
    let fifth = dyntag(&data, &["export", "--dataset", "demo"]);
    assert_eq!(fifth.matches("unchanged").count(), 8, "{fifth}");

    // A dataset that does not exist is named.
    let out = Command::new(env!("CARGO_BIN_EXE_dyntag"))
        .args([
            "--data",
            data.to_str().unwrap(),
            "export",
            "--dataset",
            "nope",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("dataset 'nope' not found"));
}
