//! Finding and loading the ONNX Runtime shared library.
//!
//! dyntag never downloads ONNX Runtime: the project's set-up (`scripts/setup`) installs the
//! `onnxruntime` wheel from PyPI and links its `libonnxruntime.so` into
//! `~/.local/share/dyntag/lib/`. The library is looked for, in order, at:
//!
//! 1. `$ORT_DYLIB_PATH` (a file), the variable `ort` itself uses;
//! 2. next to the `dyntag` executable, or in `lib/` beside it;
//! 3. `$DYNTAG_HOME/lib/`, default `$XDG_DATA_HOME/dyntag/lib/` (`~/.local/share/dyntag/lib/`);
//! 4. the `onnxruntime` package of the `python3` on the `PATH`, if any.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::{ModelError, Result};

const LIB_NAME: &str = "libonnxruntime.so";

static RUNTIME: OnceLock<std::result::Result<ort::environment::Environment, String>> =
    OnceLock::new();

/// The process's ONNX Runtime environment, loading the library on first use.
pub(crate) fn environment() -> Result<&'static ort::environment::Environment> {
    RUNTIME
        .get_or_init(load)
        .as_ref()
        .map_err(|m| ModelError::RuntimeMissing(m.clone()))
}

/// How much of ONNX Runtime's graph rewriting a session gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewrites {
    /// All of it (fused kernels: the fastest).
    All,
    /// Only the rewrites that keep the graph's arithmetic: no fusion of `DequantizeLinear →
    /// MatMul` into integer kernels, which would quantise activations and make results
    /// depend on the CPU's instruction set (AVX2, VNNI, AMX). For weight-only quantised
    /// graphs: their activations stay float, as they were exported.
    Exact,
}

impl Rewrites {
    /// `Exact` for a graph with `DequantizeLinear` nodes (weight-only quantised), else `All`.
    pub(crate) fn for_graph(path: &Path) -> Self {
        const OP: &[u8] = b"DequantizeLinear";
        match std::fs::read(path) {
            Ok(bytes) if bytes.windows(OP.len()).any(|w| w == OP) => Self::Exact,
            _ => Self::All,
        }
    }
}

/// A session over the graph at `path` of `model`, running on all cores.
pub(crate) fn session(model: &str, path: &Path) -> Result<ort::session::Session> {
    let rewrites = Rewrites::for_graph(path);
    let env = environment()?;
    let onnx = |source: ort::Error| ModelError::Onnx {
        model: model.to_string(),
        source,
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let level = match rewrites {
        Rewrites::All => ort::session::builder::GraphOptimizationLevel::All,
        Rewrites::Exact => ort::session::builder::GraphOptimizationLevel::Level1,
    };
    ort::session::Session::builder(env)
        .map_err(onnx)?
        .with_intra_threads(threads)
        .map_err(|e| onnx(e.into()))?
        .with_optimization_level(level)
        .map_err(|e| onnx(e.into()))?
        .commit_from_file(path)
        .map_err(onnx)
}

/// The path the library would be loaded from, if one is found.
pub fn locate() -> Option<PathBuf> {
    candidates().into_iter().find(|p| p.is_file())
}

fn load() -> std::result::Result<ort::environment::Environment, String> {
    let Some(path) = locate() else {
        return Err(format!(
            "ONNX Runtime library not found (looked for {LIB_NAME} in $ORT_DYLIB_PATH, beside \
             the executable, in {} and in python3's onnxruntime package); run `scripts/setup` \
             or `pip install onnxruntime` and set ORT_DYLIB_PATH to its \
             onnxruntime/capi/libonnxruntime.so.*",
            data_home_lib().display()
        ));
    };
    tracing::debug!(path = %path.display(), "loading ONNX Runtime");
    let builder = ort::init_from(&path)
        .map_err(|e| format!("cannot load ONNX Runtime from {}: {e}", path.display()))?;
    builder
        .with_name("dyntag")
        .with_telemetry(false)
        .build()
        .map_err(|e| format!("cannot start ONNX Runtime from {}: {e}", path.display()))
}

fn candidates() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_path_buf))
    {
        out.push(dir.join(LIB_NAME));
        out.push(dir.join("lib").join(LIB_NAME));
    }
    out.push(data_home_lib().join(LIB_NAME));
    if let Some(p) = from_python() {
        out.push(p);
    }
    out
}

/// `$DYNTAG_HOME/lib`, default `$XDG_DATA_HOME/dyntag/lib` (or `~/.local/share/dyntag/lib`).
pub fn data_home_lib() -> PathBuf {
    if let Some(home) = std::env::var_os("DYNTAG_HOME") {
        return PathBuf::from(home).join("lib");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    data.join("dyntag").join("lib")
}

fn from_python() -> Option<PathBuf> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import onnxruntime, os; print(os.path.dirname(onnxruntime.__file__))",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let capi = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()).join("capi");
    let mut libs: Vec<PathBuf> = std::fs::read_dir(&capi)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(LIB_NAME))
        })
        .collect();
    libs.sort();
    libs.pop()
}
