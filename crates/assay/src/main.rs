//! The `assay` binary: parses flags, runs the command, prints the error chain.

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = assay::cli::Cli::parse();
    match assay::commands::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        // `assay … | head`: the reader had enough; nothing went wrong.
        Err(error) if assay::commands::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain: "loading the configuration: config.toml:3:1: …".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
