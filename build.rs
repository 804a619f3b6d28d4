//! Bundles the web console (`console/`, TypeScript) with esbuild into `$OUT_DIR/console`,
//! which `src/server/http/console.rs` embeds in the binary. Its npm packages are installed
//! from `console/package-lock.json` on the first build (`npm ci`); Node.js and npm come
//! with `scripts/setup` (the machine's own, else the PyPI wheel's in `.venv/node-bin`,
//! which this script puts first on the PATH of what it runs).

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    for p in [
        "console/src",
        "console/build.mjs",
        "console/package.json",
        "console/package-lock.json",
        "console/tsconfig.json",
    ] {
        println!("cargo:rerun-if-changed={p}");
    }
    let console = Path::new("console");
    let path = node_path();
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("console");
    let installed = console.join("node_modules/.package-lock.json");
    let stale = match (
        std::fs::metadata(&installed).and_then(|m| m.modified()),
        std::fs::metadata(console.join("package-lock.json")).and_then(|m| m.modified()),
    ) {
        (Ok(have), Ok(want)) => have < want,
        _ => true,
    };
    if stale {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .env("PATH", &path)
                .current_dir(console),
            "npm ci (the console's packages)",
        );
    }
    run(
        Command::new("node")
            .arg("build.mjs")
            .arg(&out)
            .env("PATH", &path)
            .current_dir(console),
        "node build.mjs (bundling the console)",
    );
}

/// PATH with the set-up's own Node.js first, when it installed one.
fn node_path() -> std::ffi::OsString {
    let mut dirs = Vec::new();
    let own = Path::new(".venv/node-bin");
    if own.is_dir() {
        dirs.push(std::fs::canonicalize(own).unwrap_or_else(|_| own.to_path_buf()));
    }
    dirs.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    std::env::join_paths(dirs).expect("PATH")
}

fn run(cmd: &mut Command, what: &str) {
    match cmd.status() {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("{what} failed ({s})"),
        Err(e) => panic!(
            "{what} could not start: {e}. The web console is bundled with Node.js 20 and npm; \
             scripts/setup installs them"
        ),
    }
}
