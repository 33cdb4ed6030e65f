//! `priority-guard scaffold`: files generated from the policy's own description, so that they cannot drift from
//! it. One module per kind of file.

mod artifacthub;

use anyhow::Result;

/// What to scaffold.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ScaffoldCommand {
    /// The Artifact Hub package (`artifacthub-pkg.yml`) from `metadata.yml`, like `kwctl scaffold artifacthub`.
    Artifacthub(artifacthub::ArtifacthubArgs),
}

/// Runs the command.
pub(crate) fn scaffold(command: &ScaffoldCommand) -> Result<()> {
    match command {
        ScaffoldCommand::Artifacthub(args) => artifacthub::artifacthub(args),
    }
}
