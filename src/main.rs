//! `dyntag`: natural-language tags as SQL tables and functions over a media library.

use clap::Parser;
use dyntag::cli;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Large buffers (a decoded batch of embeddings is 4–16 MiB) come from mmap and go back
    // to the system when freed. glibc's default threshold rises after the first such free,
    // and from then on they come from per-thread arenas that keep what is freed: a scan of a
    // table larger than the cache's budget then grew the process well past the budget.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
    let cli = cli::Cli::parse();
    // The server logs what it does (requests, queries, shutdown); other commands only warn.
    let default_filter = match cli.command {
        cli::Command::Serve(_) | cli::Command::Demo(_) => "warn,dyntag=info",
        _ => "warn",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::from(e.exit_code())
        }
    }
}
