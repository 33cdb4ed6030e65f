//! The error type of the host.

use std::path::PathBuf;

/// Everything that can go wrong while loading or running a policy, or while preparing its inputs.
///
/// Messages are lowercase and carry no trailing period, so that callers can prefix them with
/// context ("cannot run policy.wasm: ...").
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    /// The bytes are not a well-formed WebAssembly module (bad header, truncated section, ...).
    #[error("invalid wasm module: {0}")]
    InvalidWasm(String),

    /// wasmtime refused to compile the module.
    #[error("cannot compile the wasm module: {0}")]
    Compile(String),

    /// The module could not be linked or its waPC initialization failed.
    #[error("cannot instantiate the policy: {0}")]
    Instantiate(String),

    /// A waPC call into the guest failed: the guest reported an error, trapped, or ran out of time.
    #[error("policy call `{operation}` failed: {message}")]
    GuestCall {
        /// The waPC operation that was called (`validate`, `validate_settings`, ...).
        operation: String,
        /// What the guest or the runtime reported.
        message: String,
    },

    /// The guest answered a call with something that is not the expected JSON document.
    #[error("invalid answer of the policy to `{operation}`: {message}")]
    InvalidResponse {
        /// The waPC operation that was called.
        operation: String,
        /// Why the answer could not be understood.
        message: String,
    },

    /// The policy metadata (custom section or metadata file) cannot be understood.
    #[error("invalid policy metadata: {0}")]
    Metadata(String),

    /// The cluster state document cannot be understood.
    #[error("invalid cluster state: {0}")]
    ClusterState(String),

    /// The admission request (or review) cannot be understood.
    #[error("invalid admission request: {0}")]
    AdmissionRequest(String),

    /// A Kubernetes label selector in string form cannot be parsed.
    #[error("invalid label selector `{selector}`: {message}")]
    LabelSelector {
        /// The selector as given.
        selector: String,
        /// What is wrong with it.
        message: String,
    },

    /// A Kubernetes field selector in string form cannot be parsed or is not supported.
    #[error("invalid field selector `{selector}`: {message}")]
    FieldSelector {
        /// The selector as given.
        selector: String,
        /// What is wrong with it.
        message: String,
    },

    /// A Kubernetes lookup was made while no cluster (state) is connected to the host.
    #[error("no kubernetes cluster is connected to this host")]
    NoCluster,

    /// A Kubernetes lookup found nothing. The text is policy-evaluator's (the evaluator of kwctl and
    /// policy-server), namespace and all, so that a policy sees the same error under both hosts:
    /// `Cannot find v1/Namespace named 'x' inside of namespace 'None'`.
    #[error("Cannot find {api_version}/{kind} named '{name}' inside of namespace '{namespace:?}'")]
    NotFound {
        /// The apiVersion asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
        /// The name asked for.
        name: String,
        /// The namespace as the request gave it (`None` for a cluster-scoped lookup).
        namespace: Option<String>,
    },

    /// A Kubernetes lookup does not fit the scope of the resource (namespaced or cluster-wide).
    #[error("{0}")]
    Scope(String),

    /// A file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },

    /// A value cannot be turned into JSON.
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// The underlying error.
        source: serde_json::Error,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = HostError> = std::result::Result<T, E>;
