//! `dyntag sql`: statements one-shot (`-e`, `-f`) or in an interactive shell.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;

use super::Global;
use super::progress::LineProgress;
use crate::engine::{Engine, EngineOptions};
use crate::error::{AppError, Result};
use crate::output::{self, Format};

/// Arguments of `dyntag sql`.
#[derive(Debug, clap::Args)]
pub struct SqlArgs {
    /// The dataset to work in (default: the first dataset).
    #[arg(long, env = "DYNTAG_DATASET")]
    pub dataset: Option<String>,
    /// A statement to run (repeatable; each may hold several statements separated by ';').
    #[arg(short = 'e', long = "execute")]
    pub execute: Vec<String>,
    /// A file of statements to run.
    #[arg(short = 'f', long = "file")]
    pub file: Option<PathBuf>,
    /// How to print answers.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Print each statement's run time to standard error.
    #[arg(long)]
    pub timing: bool,
    /// Execute queries on this Ballista cluster (`df://HOST:PORT`, see `dyntag scheduler`).
    #[arg(long, env = "DYNTAG_CLUSTER")]
    pub cluster: Option<String>,
}

/// Runs `dyntag sql`.
pub async fn run(global: &Global, args: SqlArgs) -> Result<()> {
    let catalog = global.open().await?;
    let engine = Engine::with_options(
        catalog,
        args.dataset.as_deref(),
        EngineOptions {
            cluster: args.cluster.clone(),
            ..EngineOptions::default()
        },
    )?;
    let mut scripts = args.execute.clone();
    if let Some(f) = &args.file {
        scripts.push(
            std::fs::read_to_string(f)
                .map_err(|e| AppError::io(format!("reading {}", f.display()), e))?,
        );
    }
    if scripts.is_empty() {
        return shell(&engine, args.format, args.timing).await;
    }
    let mut out = std::io::stdout().lock();
    for script in scripts {
        for stmt in dyntag_catalog::statements::split_statements(&script) {
            run_one(&engine, &stmt, args.format, args.timing, &mut out).await?;
        }
    }
    Ok(())
}

async fn run_one(
    engine: &Engine,
    stmt: &str,
    format: Format,
    timing: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let started = Instant::now();
    let progress = LineProgress::new(false);
    let answer = engine.execute_with_progress(stmt, &progress).await?;
    output::write(out, &answer, format)?;
    if timing {
        eprintln!("time: {:.3}s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The interactive shell: statements end with ';'; `\q` quits; `\d` lists tables.
pub async fn shell(engine: &Engine, format: Format, timing: bool) -> Result<()> {
    let mut editor = DefaultEditor::new()
        .map_err(|e| AppError::Environment(format!("cannot start the shell: {e}")))?;
    eprintln!(
        "dyntag SQL shell — dataset '{}'. End statements with ';'. \\d lists tables, \\q quits.",
        engine.dataset()
    );
    let mut buffer = String::new();
    loop {
        let prompt = if buffer.is_empty() {
            format!("{}> ", engine.dataset())
        } else {
            "   ...> ".to_string()
        };
        match editor.readline(&prompt) {
            Ok(line) => {
                let trimmed = line.trim();
                if buffer.is_empty() && matches!(trimmed, "\\q" | "quit" | "exit") {
                    return Ok(());
                }
                if buffer.is_empty() && trimmed == "\\d" {
                    buffer = "SHOW TABLES;".into();
                } else {
                    buffer.push_str(&line);
                    buffer.push('\n');
                }
                if !buffer.trim_end().ends_with(';') {
                    continue;
                }
                let _ = editor.add_history_entry(buffer.trim());
                let script = std::mem::take(&mut buffer);
                for stmt in dyntag_catalog::statements::split_statements(&script) {
                    let mut out = std::io::stdout().lock();
                    if let Err(e) = run_one(engine, &stmt, format, timing, &mut out).await {
                        eprintln!("error: {e}");
                    }
                }
            }
            Err(ReadlineError::Interrupted) => buffer.clear(),
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(AppError::Environment(format!("shell: {e}"))),
        }
    }
}
