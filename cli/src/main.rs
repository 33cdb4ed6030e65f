//! `priority-guard`: runs Kubewarden policies on the priority-guard host, annotates them, and
//! (later) more. This file only parses the command line and dispatches to one module per command.

mod annotate;
mod input;
mod run;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Command-line tool of priority-guard.
#[derive(Debug, Parser)]
#[command(name = "priority-guard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Evaluate an admission request with a policy, like `kwctl run`.
    Run(run::RunArgs),
    /// Embed metadata (and the README) into a policy, like `kwctl annotate`.
    Annotate(annotate::AnnotateArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Annotate(args) => annotate::annotate(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
