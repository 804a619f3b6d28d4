//! The web console in a real browser: `console/tests` (Node's test runner, playwright-core
//! driving the Debian `chromium`; `scripts/test` installs it) against `dyntag serve` over
//! a copy of the demo dataset. Screenshots of every page land in `console/test-results/`.
//! Also, over plain HTTP: the console is served from the binary with a policy that keeps
//! the browser on this server, and results download as Parquet.

use std::process::Command;

use super::common;
use crate::serve::{Served, demo_data};
use crate::util::copy_dir;

fn get(url: &str, token: Option<&str>, accept: Option<&str>) -> (u16, String, Vec<u8>) {
    let mut req = ureq::get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    if let Some(a) = accept {
        req = req.header("Accept", a);
    }
    let mut res = req
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    let ct = res
        .headers()
        .get("content-security-policy")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let status = res.status().as_u16();
    (status, ct, res.body_mut().read_to_vec().unwrap())
}

#[test]
fn the_console_works_in_a_real_browser() {
    let work = tempfile::tempdir().unwrap();
    copy_dir(demo_data(), work.path());
    let server = Served::start(work.path(), &[]);
    let root = common::repo_root();
    // The set-up's own Node.js first, when it installed one (no Node 20 on the machine).
    let mut dirs = vec![root.join(".venv/node-bin")];
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let path = std::env::join_paths(dirs).unwrap();
    // The console's TypeScript, type-checked (esbuild, which bundles it, does not check).
    let tsc = Command::new("node")
        .args(["node_modules/typescript/bin/tsc", "--noEmit", "-p", "."])
        .current_dir(root.join("console"))
        .env("PATH", &path)
        .output()
        .expect("node (scripts/setup installs Node.js)");
    server.passed("tsc --noEmit (console/)", tsc);
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec", "tests/console.test.mjs"])
        .current_dir(root.join("console"))
        .env("PATH", &path)
        .env("DYNTAG_HTTP_URL", &server.http)
        .env("DYNTAG_TOKEN", server.token())
        .env("DYNTAG_REPO", root.display().to_string())
        .output()
        .expect("node (scripts/setup installs Node.js)");
    let text = server.passed("console/tests (Playwright, Chromium)", out);
    assert!(
        text.contains("fail 0") && text.contains("pass 21"),
        "{text}"
    );
    for page in [
        "02-query-console",
        "09-tag-boats",
        "15-evaluator",
        "17-viewer-tag",
    ] {
        let png = root.join(format!("console/test-results/{page}.png"));
        assert!(png.is_file(), "screenshot {} written", png.display());
    }
}

#[test]
fn the_console_is_served_from_the_binary_and_keeps_the_browser_on_this_server() {
    let work = tempfile::tempdir().unwrap();
    copy_dir(demo_data(), work.path());
    let server = Served::start(work.path(), &[]);
    let (status, csp, page) = get(&format!("{}/", server.http), None, None);
    let page = String::from_utf8(page).unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<script type=\"module\" src=\"/assets/app.js\">"));
    assert!(csp.contains("default-src 'self'") && csp.contains("script-src 'self'"));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "no asset from elsewhere"
    );
    let (status, _, js) = get(&format!("{}/assets/app.js", server.http), None, None);
    assert_eq!(status, 200);
    assert!(
        js.len() > 100_000,
        "the bundle is embedded ({} bytes)",
        js.len()
    );
    let (status, _, licenses) = get(&format!("{}/assets/licenses.txt", server.http), None, None);
    assert_eq!(status, 200);
    assert!(
        String::from_utf8(licenses)
            .unwrap()
            .contains("apache-arrow")
    );
    let (status, _, body) = get(
        &format!("{}/assets/../../etc/passwd", server.http),
        None,
        None,
    );
    assert_eq!(status, 404, "{}", String::from_utf8_lossy(&body));
    // Results as Parquet, as the console's download asks for them.
    let res = ureq::post(&format!("{}/api/sql", server.http))
        .header("Authorization", &format!("Bearer {}", server.token()))
        .header("Accept", "application/vnd.apache.parquet")
        .send("SELECT tag_name, count(*) AS n FROM dt_subjects_visual GROUP BY 1")
        .unwrap()
        .body_mut()
        .read_to_vec()
        .unwrap();
    assert_eq!(&res[..4], b"PAR1");
    assert_eq!(&res[res.len() - 4..], b"PAR1");
    let rows = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        bytes::Bytes::from(res),
    )
    .unwrap()
    .build()
    .unwrap()
    .map(|b| b.unwrap().num_rows())
    .sum::<usize>();
    assert_eq!(rows, 15, "one row per tag of the demo group");

    // The query history keeps what the console asked it to keep, for its user only.
    let sql = |body: &str| {
        ureq::post(&format!("{}/api/sql", server.http))
            .header("Authorization", &format!("Bearer {}", server.token()))
            .header("Content-Type", "application/json")
            .config()
            .http_status_as_error(false)
            .build()
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(sql(r#"{"sql": "SELECT 1 AS kept", "history": true}"#), 200);
    assert_eq!(sql(r#"{"sql": "SELECT 2 AS not_kept"}"#), 200);
    assert_eq!(
        sql(r#"{"sql": "SELECT nope FROM nowhere", "history": true}"#),
        400
    );
    let history = || {
        let (status, _, body) = get(
            &format!("{}/api/history", server.http),
            Some(server.token()),
            None,
        );
        assert_eq!(status, 200);
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["rows"].clone()
    };
    let mut rows = history();
    for _ in 0..50 {
        if rows.as_array().unwrap().len() >= 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        rows = history();
    }
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["sql"], "SELECT nope FROM nowhere", "newest first");
    assert_ne!(rows[0]["outcome"], "done");
    assert_eq!(rows[1]["sql"], "SELECT 1 AS kept");
    assert_eq!(rows[1]["outcome"], "done");
    let (status, _, _) = get(
        &format!("{}/api/history", server.http),
        Some("a-wrong-token-0123456789"),
        None,
    );
    assert_eq!(status, 401);
}
