//! `priority-guard`: runs Kubewarden policies on the priority-guard host, annotates them, and
//! generates the native Kubernetes admission policies for the settings, checks manifests, pushes and pulls
//! policies to and from OCI registries and scaffolds the Artifact Hub package. This file only
//! parses the command line and dispatches to one module per command.

mod annotate;
mod bench;
mod check;
mod input;
mod labels;
#[cfg(feature = "oci")]
mod oci;
mod report;
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
    /// Report what the settings would do to a running cluster (from a dump or the cluster itself), and who can
    /// preempt whom.
    Report(report::ReportArgs),
    /// Push an annotated policy to an OCI registry, like `kwctl push`.
    #[cfg(feature = "oci")]
    Push(oci::PushArgs),
    /// Pull a policy from an OCI registry into a file.
    #[cfg(feature = "oci")]
    Pull(oci::PullArgs),
    /// `push` in a build without the `oci` feature: says so.
    #[cfg(not(feature = "oci"))]
    #[command(hide = true)]
    Push(WithoutFeature),
    /// `pull` in a build without the `oci` feature: says so.
    #[cfg(not(feature = "oci"))]
    #[command(hide = true)]
    Pull(WithoutFeature),
    /// Generate files from the policy metadata (`artifacthub`) or the settings (`policy`).
    #[command(subcommand)]
    Scaffold(scaffold::ScaffoldCommand),
    /// Measure a policy under the host of `run`: latency of `validate` per request, instantiation, memory, size.
    Bench(bench::BenchArgs),
}

/// Whatever follows a command that this build leaves out.
#[cfg(not(feature = "oci"))]
#[derive(Debug, clap::Args)]
struct WithoutFeature {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    _args: Vec<String>,
}

/// The error of a command that this build leaves out.
#[cfg(not(feature = "oci"))]
fn without_feature(command: &str, feature: &str) -> anyhow::Result<()> {
    anyhow::bail!(
        "`priority-guard {command}` is not in this build: it was built without the `{feature}` feature \
         (`make demo` leaves it out); `cargo install` and `cargo build` build it by default"
    )
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Annotate(args) => annotate::annotate(&args),
        Command::Vap(args) => vap::vap(&args),
        Command::Bench(args) => bench::bench(&args),
        Command::Check(args) => return check::check(&args),
        Command::Report(args) => return report::report(&args),
        #[cfg(feature = "oci")]
        Command::Push(args) => oci::push(&args),
        #[cfg(feature = "oci")]
        Command::Pull(args) => oci::pull(&args),
        #[cfg(not(feature = "oci"))]
        Command::Push(_) => without_feature("push", "oci"),
        #[cfg(not(feature = "oci"))]
        Command::Pull(_) => without_feature("pull", "oci"),
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
