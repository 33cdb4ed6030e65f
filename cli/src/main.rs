//! `priority-guard`: runs Kubewarden policies on the priority-guard host, annotates them, and
//! generates the native Kubernetes admission policies for the settings and checks manifests. This file only
//! parses the command line and dispatches to one module per command.

mod annotate;
mod check;
mod input;
mod run;
mod scaffold;
mod vap;

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
    /// Generate the ValidatingAdmissionPolicy (and MutatingAdmissionPolicy for defaults) that enforce the
    /// settings with Kubernetes' own admission, as YAML.
    Vap(vap::VapArgs),
    /// Check manifests (files, directories, `-`) against the settings, as the policy would decide them.
    Check(check::CheckArgs),
    /// Write the manifests that deploy the policy.
    #[command(subcommand)]
    Scaffold(scaffold::ScaffoldCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Annotate(args) => annotate::annotate(&args),
        Command::Vap(args) => vap::vap(&args),
        Command::Check(args) => return check::check(&args),
        Command::Scaffold(command) => scaffold::scaffold(&command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}
