//! `priority-guard scaffold`: writes the Kubernetes manifests around the policy, one module per kind of
//! manifest.

pub(crate) mod policy;

use anyhow::Result;
use clap::Subcommand;

/// What `scaffold` writes.
#[derive(Debug, Subcommand)]
pub(crate) enum ScaffoldCommand {
    /// A ready Kubewarden ClusterAdmissionPolicy for the settings: rules for the built-in and custom workload
    /// kinds, `mutating`, `contextAwareResources` and the settings.
    Policy(policy::PolicyArgs),
}

pub(crate) fn scaffold(command: &ScaffoldCommand) -> Result<()> {
    match command {
        ScaffoldCommand::Policy(args) => policy::policy(args),
    }
}
