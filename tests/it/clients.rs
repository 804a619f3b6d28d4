//! BI tools and notebooks out of the box, against the real server: Apache Superset with
//! dyntag's engine spec (clients/python/dyntag-superset), the Python client package
//! (clients/python/dyntag: its pytest suite and its example notebook, executed), and the
//! Flight SQL details JDBC/ODBC tools read. `scripts/test` installs their Python packages
//! (.venv, and .venv-superset for Superset).

use std::path::PathBuf;
use std::process::Command;

use super::common;
use crate::serve::{Served, demo_data, python};
use crate::util::{copy_dir, dyntag};

#[test]
fn flight_sql_metadata_follows_the_spec() {
    let server = Served::start(demo_data(), &[]);
    let out = server.client("flight_sql_info.py", &[]);
    assert!(out.contains("flight sql info: all checks passed"));
}

#[test]
fn python_client_passes_its_tests_and_runs_its_notebook() {
    let work = tempfile::tempdir().unwrap();
    copy_dir(demo_data(), work.path());
    let server = Served::start(work.path(), &[]);
    let root = common::repo_root();
    let package = root.join("clients/python/dyntag");
    let env = [
        ("DYNTAG_FLIGHT_URL", server.flight.clone()),
        ("DYNTAG_HTTP_URL", server.http.clone()),
        ("DYNTAG_TOKEN", server.token().to_string()),
        ("DYNTAG_REPO", root.display().to_string()),
    ];
    let pytest = Command::new(python())
        .args(["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"])
        .current_dir(&package)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("MPLBACKEND", "Agg")
        .output()
        .unwrap();
    let out = server.passed("pytest clients/python/dyntag/tests", pytest);
    assert!(out.contains(" passed") && !out.contains("failed"), "{out}");
    let executed = work.path().join("tour.executed.ipynb");
    let notebook = Command::new(python())
        .arg(package.join("tests/run_notebook.py"))
        .arg(package.join("examples/tour.ipynb"))
        .arg(&executed)
        .current_dir(package.join("examples"))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    let out = server.passed("examples/tour.ipynb", notebook);
    assert!(out.contains("notebook ran"), "{out}");
    let ran = std::fs::read_to_string(&executed).unwrap();
    assert!(
        ran.contains("data:image/jpeg;base64,") && ran.contains("image/png"),
        "the executed notebook shows thumbnails and the evaluator's figure"
    );
}

/// The Python of the virtual environment Superset is installed in.
fn superset_python() -> PathBuf {
    let superset = std::env::var("DYNTAG_SUPERSET").map_or_else(
        |_| common::repo_root().join(".venv-superset/bin/superset"),
        PathBuf::from,
    );
    let python = superset.with_file_name("python");
    assert!(
        python.is_file(),
        "{} is missing: scripts/test installs Superset into .venv-superset",
        python.display()
    );
    python
}

#[test]
fn superset_connects_browses_queries_refuses_dml_and_charts() {
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    copy_dir(demo_data(), &data);
    let bi = dyntag(&data, &["users", "create", "bi", "--read-only"]);
    dyntag(
        &data,
        &[
            "users",
            "grant",
            "bi",
            "--dataset",
            "demo",
            "--role",
            "viewer",
        ],
    );
    let server = Served::start(&data, &[]);
    let superset_dir = work.path().join("superset");
    let out = server.run_client_with(
        superset_python().to_str().unwrap(),
        &server.flight,
        "superset_client.py",
        &[superset_dir.to_str().unwrap(), "bi", &bi],
    );
    let out = server.passed("superset_client.py", out);
    assert!(out.contains("superset: all checks passed"));
}
