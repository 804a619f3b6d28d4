//! Every kind of error reaches Flight SQL and HTTP clients with the status its kind gives
//! (`src/server/errors.rs`), and no message names a path of the server. The client is
//! `tests/clients/error_kinds.py` (the ADBC Flight SQL driver and plain HTTP).

use std::path::Path;

use crate::lifecycle::{sql, two_datasets};
use crate::serve::Served;
use crate::util::dyntag;

fn users(data: &Path, args: &[&str]) -> String {
    let mut all = vec!["users"];
    all.extend_from_slice(args);
    dyntag(data, &all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_kind_has_its_flight_sql_status_and_http_status() {
    let dir = two_datasets().await;
    let data = dir.path().join("data");
    sql(
        &data,
        "CREATE TAG GROUP Topics ON DATASET news TAGS ('football', 'cooking'); \
         ALTER TAG 'football' IN GROUP topics SET THRESHOLD 0.55",
    );
    // An editor of news whose token may only read.
    let read_only = users(&data, &["create", "reader", "--read-only"]);
    users(
        &data,
        &["grant", "reader", "--dataset", "news", "--role", "editor"],
    );
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let server = Served::start_with_env(
        &data,
        "serve",
        &["--dataset", "news", "--login-attempts-per-minute", "10000"],
        &[
            ("DYNTAG_LLM_URL", "http://127.0.0.1:9/v1"),
            ("DYNTAG_LLM_MODEL", "none"),
            ("DYNTAG_LLM_TIMEOUT_S", "5"),
        ],
    );
    let out = server.client("error_kinds.py", &[read_only.trim()]);
    assert!(out.contains("error kinds: all checks passed"), "{out}");
}
