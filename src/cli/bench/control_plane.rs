//! `dyntag bench control-plane`: statement latency against the size and history of the
//! catalog. The same statements — `ALTER TAG … SET THRESHOLD` (a commit), `SHOW TAGS`, `SHOW TAG GROUPS` and a
//! `SELECT` on a `dt_` table — are timed on a catalog of 1 group of 1 revision and on one of
//! 1,000 groups of 50 revisions each (and a journal of that history), on a local directory
//! and on an S3 endpoint (moto, as in the tests). A statement reads only the journal entries
//! written since its session last looked, so the two should cost the same; the full reload
//! of the catalog (what every refresh cost before the journal) is timed beside them.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Instant;

use dyntag_core::model::tags::{TagGroup, group_log};
use dyntag_core::service::import::{self, NoProgress, Source};
use dyntag_core::store::{RevisionLog, StorePath, journal};
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::scoring::{BENCH_MODEL, tempdir_for, write_embeddings};
use crate::cli::Global;
use crate::engine::Engine;
use crate::error::{AppError, Result};

/// Targets of the issue: the large catalog within 1.2× of the small one; a threshold change
/// under 20 ms on a local directory.
const RATIO_TARGET: f64 = 1.2;
const ALTER_TARGET_MS: f64 = 20.0;

/// The figures of one store: per statement, median milliseconds on the small and the large
/// catalog, and the full reload of each.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Figures {
    store: String,
    rows: Vec<(String, f64, f64)>,
    reload_ms: (f64, f64),
}

pub(super) struct Args<'a> {
    pub groups: usize,
    pub revisions: usize,
    pub repeat: usize,
    pub s3: bool,
    pub python: &'a str,
}

/// Runs the benchmark: local directory in this process, S3 in a child process pointed at a
/// moto server (its credentials and endpoint come from the environment).
pub(super) async fn run(global: &Global, args: Args<'_>) -> Result<()> {
    let work = tempdir_for(None)?;
    let local = work.path().join("data").to_string_lossy().into_owned();
    let mut all = vec![measure(global, &local, "local directory", &args).await?];
    if args.s3 {
        all.push(on_s3(global, &args)?);
    }
    print(&all);
    Ok(())
}

/// Measures on the store at `root` (two catalogs under it: `small/` and `large/`).
pub(super) async fn measure(
    global: &Global,
    root: &str,
    name: &str,
    args: &Args<'_>,
) -> Result<Figures> {
    let parquet_dir = tempdir_for(None)?;
    let parquet = parquet_dir.path().join("embeddings.parquet");
    write_embeddings(&parquet, 2_000, 512)?;
    let small = format!("{root}/small");
    let large = format!("{root}/large");
    eprintln!("[{name}] small catalog: 1 group of 1 revision");
    let s = setup(global, &small, &parquet, 1, 1).await?;
    eprintln!(
        "[{name}] large catalog: {} groups of {} revisions",
        args.groups, args.revisions
    );
    let l = setup(global, &large, &parquet, args.groups, args.revisions).await?;
    let mut rows = Vec::new();
    for (label, sql) in statements() {
        let (a, b) = time(&s, &l, &sql, args.repeat).await?;
        rows.push((label.to_string(), a, b));
    }
    rows.push(("(the store: a commit's 2 creates)".to_string(), 0.0, 0.0));
    let (a, b) = time_store(&s, &l, args.repeat).await?;
    if let Some(last) = rows.last_mut() {
        (last.1, last.2) = (a, b);
    }
    let reload = |engine: &Engine| {
        let catalog = Arc::clone(engine.catalog());
        async move {
            let t = Instant::now();
            catalog.reload().await?;
            Ok::<_, AppError>(t.elapsed().as_secs_f64() * 1000.0)
        }
    };
    let reload_ms = (reload(&s).await?, reload(&l).await?);
    Ok(Figures {
        store: name.to_string(),
        rows,
        reload_ms,
    })
}

fn statements() -> Vec<(&'static str, String)> {
    vec![
        (
            "ALTER TAG … SET THRESHOLD",
            "ALTER TAG 't0' IN GROUP g0 SET THRESHOLD {t}".into(),
        ),
        ("SHOW TAGS IN GROUP g0", "SHOW TAGS IN GROUP g0".into()),
        ("SHOW TAG GROUPS", "SHOW TAG GROUPS".into()),
        (
            "SELECT on dt_g0_visual",
            "SELECT tag_name, count(*) FROM dt_g0_visual WHERE threshold_decision GROUP BY 1"
                .into(),
        ),
    ]
}

/// Median milliseconds of `repeat` runs of `sql` on each catalog (`{t}` replaced by a new
/// threshold each time, so that every run commits), the two catalogs taking turns so that
/// the machine's drift touches both alike, after a warm-up run on each.
async fn time(small: &Engine, large: &Engine, sql: &str, repeat: usize) -> Result<(f64, f64)> {
    let mut ms = [Vec::with_capacity(repeat), Vec::with_capacity(repeat)];
    for i in 0..=repeat {
        let text = sql.replace("{t}", &format!("0.{}", 300 + i % 400));
        for (k, engine) in [small, large].into_iter().enumerate() {
            let t = Instant::now();
            engine.execute(&text).await?;
            if i > 0 {
                ms[k].push(t.elapsed().as_secs_f64() * 1000.0);
            }
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(&mut ms[0]), median(&mut ms[1])))
}

/// Median milliseconds of what a commit writes, done by the store alone: one small object
/// created (create-if-absent) in `g0`'s log folder and one in the journal's current folder —
/// the file system's cost of creating files where the catalog's history lives. The objects
/// are removed afterwards.
async fn time_store(small: &Engine, large: &Engine, repeat: usize) -> Result<(f64, f64)> {
    let mut ms = [Vec::with_capacity(repeat), Vec::with_capacity(repeat)];
    let mut made = Vec::new();
    for i in 0..repeat {
        for (k, engine) in [small, large].into_iter().enumerate() {
            let store = engine.catalog().store();
            let log = group_log("g0").path(1);
            let entry = journal::path(store.journal_hint() + 1);
            let probe = |p: &StorePath| {
                let dir = p.parts().take(p.parts().count() - 1);
                StorePath::from_iter(dir).join(format!("probe-{i}.tmp"))
            };
            let (a, b) = (probe(&log), probe(&entry));
            let t = Instant::now();
            store
                .put_if_absent(&a, bytes::Bytes::from_static(b"{}"))
                .await?;
            store
                .put_if_absent(&b, bytes::Bytes::from_static(b"{}"))
                .await?;
            ms[k].push(t.elapsed().as_secs_f64() * 1000.0);
            made.push((store.clone(), a, b));
        }
    }
    for (store, a, b) in made {
        store.delete(&a).await?;
        store.delete(&b).await?;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    Ok((median(&mut ms[0]), median(&mut ms[1])))
}

/// A catalog at `data` with dataset `bench` (2,000 keyframes) and group `g0` (3 tags,
/// published and scored, with `revisions` revisions), plus `groups - 1` other groups of
/// `revisions` revisions each, written as history (their log documents and journal entries
/// put directly, many at a time), then opened afresh as a server would be.
async fn setup(
    global: &Global,
    data: &str,
    parquet: &Path,
    groups: usize,
    revisions: usize,
) -> Result<Engine> {
    let mut g = global.clone();
    g.data = data.to_string();
    let catalog = g.open().await?;
    // Deferred: these benchmarks do not search, and a million rows take minutes to index.
    import::import_encoded(
        &catalog,
        "bench",
        &[Source::Keyframes {
            path: parquet.to_path_buf(),
            model: BENCH_MODEL.into(),
        }],
        &import::ImportOptions {
            encoding: None,
            defer_index: true,
        },
        &NoProgress,
    )
    .await?;
    let tags: Vec<String> = (0..3).map(|i| format!("t{i}")).collect();
    super::create_reviewed_group(&catalog, "g0", "bench", &tags).await?;
    let engine = Engine::new(Arc::clone(&catalog), Some("bench"))?;
    engine.execute("PUBLISH TAG GROUP g0").await?;
    let store = catalog.store().clone();
    let log = group_log("g0");
    let (mut rev, _) = log
        .latest::<TagGroup>(&store)
        .await?
        .ok_or_else(|| AppError::Internal("group g0 was not created".into()))?;
    while rev < revisions as u64 {
        engine
            .execute(&format!(
                "ALTER TAG 't1' IN GROUP g0 SET THRESHOLD 0.{}",
                400 + rev
            ))
            .await?;
        rev += 1;
    }
    if groups > 1 {
        write_history(&store, &log, groups, revisions).await?;
    }
    drop(engine);
    drop(catalog);
    let catalog = g.open().await?;
    Engine::new(catalog, Some("bench"))
}

/// Groups `g1 … g{groups-1}` of `revisions` revisions each (copies of `g0`'s first
/// revision, training dataset `archive`), and a journal entry for each revision.
async fn write_history(
    store: &dyntag_core::store::Store,
    g0: &RevisionLog,
    groups: usize,
    revisions: usize,
) -> Result<()> {
    let template: TagGroup = g0
        .read(store, 1)
        .await?
        .ok_or_else(|| AppError::Internal("group g0 has no first revision".into()))?;
    let first = journal::head(store).await? + 1;
    let mut puts = Vec::with_capacity(2 * (groups - 1) * revisions);
    for i in 1..groups {
        let slug = format!("g{i}");
        let log = group_log(&slug);
        let mut doc = template.clone();
        doc.name = slug.clone();
        doc.slug = slug.clone();
        doc.training_dataset = "archive".into();
        for r in 1..=revisions as u64 {
            doc.updated_at = format!("2026-01-01T00:00:{:02}Z", r % 60);
            let seq = first + ((i - 1) * revisions) as u64 + r - 1;
            let entry = journal::Entry {
                log: log.folder().to_string(),
                revision: r,
            };
            puts.push((log.path(r), to_bytes(&doc)?));
            puts.push((journal::path(seq), to_bytes(&entry)?));
        }
    }
    let n = puts.len();
    let t = Instant::now();
    futures::stream::iter(puts)
        .map(|(path, bytes)| {
            let store = store.clone();
            async move { store.put(&path, bytes).await }
        })
        .buffer_unordered(32)
        .try_collect::<Vec<()>>()
        .await?;
    eprintln!(
        "  wrote {n} history objects in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    Ok(())
}

fn to_bytes<T: Serialize>(doc: &T) -> Result<bytes::Bytes> {
    Ok(dyntag_core::store::to_json(doc)?)
}

/// Runs the measurement on a moto S3 server in a child `dyntag` (the S3 client reads its
/// endpoint and credentials from the environment) and reads its figures back.
fn on_s3(global: &Global, args: &Args<'_>) -> Result<Figures> {
    use std::io::{BufRead, BufReader};
    let mut moto = std::process::Command::new(args.python)
        .arg("tests/fixtures/s3_server.py")
        .arg("dyntag-bench")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| AppError::io("starting the S3 server (tests/fixtures/s3_server.py)", e))?;
    let mut line = String::new();
    let stdout = moto
        .stdout
        .as_mut()
        .ok_or_else(|| AppError::Internal("the S3 server's output was not piped".into()))?;
    BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| AppError::io("reading the S3 server's port", e))?;
    let port = line
        .trim()
        .strip_prefix("PORT ")
        .ok_or_else(|| AppError::Environment(format!("the S3 server said {line:?}")))?
        .to_string();
    let exe = std::env::current_exe().map_err(|e| AppError::io("locating dyntag", e))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.env("AWS_ENDPOINT", format!("http://127.0.0.1:{port}"))
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("RUST_LOG", "warn")
        .args(["--data", "s3://dyntag-bench/cp"])
        .args(
            global
                .models
                .iter()
                .flat_map(|m| ["--models".as_ref(), m.as_os_str()]),
        )
        .args(["bench", "control-plane", "--here"])
        .args(["--groups", &args.groups.to_string()])
        .args(["--revisions", &args.revisions.to_string()])
        .args(["--repeat", &args.repeat.to_string()])
        .stderr(Stdio::inherit());
    let out = cmd
        .output()
        .map_err(|e| AppError::io("running the S3 measurement", e));
    drop(moto.stdin.take());
    let _ = moto.wait();
    let out = out?;
    if !out.status.success() {
        return Err(AppError::Environment(
            "the S3 measurement failed (see above)".into(),
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let json = text
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| AppError::Environment("the S3 measurement printed no figures".into()))?;
    serde_json::from_str(json).map_err(|e| AppError::Environment(format!("S3 figures: {e}")))
}

/// `--here`: measure on the store `--data` names and print the figures as JSON.
pub(super) async fn here(global: &Global, args: Args<'_>) -> Result<()> {
    let figures = measure(global, &global.data, "S3 (moto)", &args).await?;
    println!(
        "{}",
        serde_json::to_string(&figures).map_err(|e| AppError::Environment(e.to_string()))?
    );
    Ok(())
}

fn print(all: &[Figures]) {
    println!();
    println!(
        "{:<18} {:<28} {:>12} {:>16} {:>7}",
        "store", "statement (median ms)", "1 group", "1,000 groups", "ratio"
    );
    for f in all {
        for (label, a, b) in &f.rows {
            println!(
                "{:<18} {:<28} {:>12.2} {:>16.2} {:>7.2}",
                f.store,
                label,
                a,
                b,
                b / a
            );
        }
        println!(
            "{:<18} {:<28} {:>12.2} {:>16.2} {:>7.2}",
            f.store,
            "(full reload of the catalog)",
            f.reload_ms.0,
            f.reload_ms.1,
            f.reload_ms.1 / f.reload_ms.0
        );
    }
    println!();
    for f in all {
        let worst = f.rows.iter().map(|(_, a, b)| b / a).fold(0.0f64, f64::max);
        println!(
            "{}: worst ratio large/small = {worst:.2}  (target <= {RATIO_TARGET})",
            f.store
        );
    }
    if let Some((_, a, b)) = all[0].rows.first() {
        println!(
            "local ALTER TAG … SET THRESHOLD: {a:.2} ms (1 group), {b:.2} ms (large)  (target < {ALTER_TARGET_MS} ms)"
        );
    }
}
