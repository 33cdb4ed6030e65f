//! `priority-guard scaffold`: files generated from the policy's own description and the settings, so that they
//! cannot drift from them. One module per kind of file.

mod artifacthub;
pub(crate) mod policy;

use anyhow::Result;

/// What to scaffold.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ScaffoldCommand {
    /// The Artifact Hub package (`artifacthub-pkg.yml`) from `metadata.yml`, like `kwctl scaffold artifacthub`.
    Artifacthub(artifacthub::ArtifacthubArgs),
    /// A ready Kubewarden ClusterAdmissionPolicy for the settings: rules for the built-in and custom workload
    /// kinds, `mutating`, `contextAwareResources` and the settings.
    Policy(policy::PolicyArgs),
}

/// Runs the command.
pub(crate) fn scaffold(command: &ScaffoldCommand) -> Result<()> {
    match command {
        ScaffoldCommand::Artifacthub(args) => artifacthub::artifacthub(args),
        ScaffoldCommand::Policy(args) => policy::policy(args),
    }
}
