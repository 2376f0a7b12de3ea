//! The `gateway` binary: parse the command line, start logging, run the command.

use clap::Parser;

/// mimalloc returns freed memory to the system more readily than glibc's allocator, which
/// matters with tens of thousands of WebSocket connections each allocating and freeing.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = server::cli::Cli::parse();
    server::telemetry::init();
    match server::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain: what we were doing, and the cause.
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
