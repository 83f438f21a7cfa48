//! The `wharf` binary: parses the command line, calls the library crates, prints.

mod cli;
mod commands;
mod output;
mod report;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => code,
        // The reader of our output went away (`wharf images | head -1`): not a failure.
        Err(error) if output::stdout::is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            report::print_error(&error);
            ExitCode::FAILURE
        }
    }
}
