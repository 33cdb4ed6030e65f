//! Reading a live cluster (feature `cluster`): not written yet; the feature is declared so that the command's
//! flags and the code paths that use it are in place.

use std::path::Path;

use anyhow::{Result, bail};
use priority_guard_sdk::Settings;

/// What was read from the cluster.
pub(crate) struct Read {
    pub text: String,
    pub context: String,
    pub skipped: Vec<String>,
}

/// Reads the cluster.
pub(crate) fn read(
    _kubeconfig: Option<&Path>,
    _context: Option<&str>,
    _settings: &Settings,
) -> Result<Read> {
    bail!(
        "reading a live cluster is not implemented yet: dump it with kubectl and pass --cluster-state"
    )
}
