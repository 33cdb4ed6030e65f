//! A waPC host on wasmtime that runs Kubewarden policies the way Kubewarden's policy-server and
//! `kwctl run` do. It knows nothing of any particular policy.
//!
//! - [`PolicyModule`] compiles a module once (reading its `io.kubewarden.metadata` section);
//!   [`PolicyModule::instance`] gives a fresh [`PolicyInstance`] per request.
//! - [`PolicyInstance`] speaks the Kubewarden calling convention: `protocol_version`,
//!   `validate_settings`, `validate` (`{"request": ..., "settings": ...}`).
//! - Guest lookups (`host_call("kubewarden", "kubernetes", ...)`) are answered from a
//!   [`ClusterState`] loaded from a file, limited to the resource types the policy was granted,
//!   with the real host's refusal message for the others.
//! - [`AdmissionResponse::from_validation`] turns the policy's answer into the AdmissionResponse
//!   a webhook returns, with the mutation diffed into a base64 JSONPatch.
//! - [`read_custom_section`] / [`write_custom_section`] / [`remove_custom_section`] read and
//!   write wasm custom sections (the annotate step).
//!
//! ```no_run
//! use std::sync::Arc;
//! use priority_guard_host::{AdmissionResponse, ClusterState, HostOptions, PolicyModule};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let module = PolicyModule::from_file("policy.wasm".as_ref(), HostOptions::default())?;
//! let cluster = Arc::new(ClusterState::from_file("cluster.yaml".as_ref())?);
//! let policy = module.instance(cluster)?;
//! let settings = serde_json::json!({});
//! assert!(policy.validate_settings(&settings)?.valid);
//! let request: serde_json::Value = serde_json::from_str(&std::fs::read_to_string("req.json")?)?;
//! let answer = policy.validate(&request, &settings)?;
//! let response =
//!     AdmissionResponse::for_request(&request, &answer, module.allow_mutations(), "policy.wasm")?;
//! println!("{}", serde_json::to_string(&response)?);
//! # Ok(())
//! # }
//! ```

mod callback;
mod cluster;
mod custom_section;
mod engine;
mod error;
mod metadata;
mod module;
mod response;
mod selector;

pub use callback::POLICY_LOG_ENV;
pub use cluster::{ClusterState, list_document};
pub use custom_section::{
    KUBEWARDEN_METADATA_SECTION, custom_section_names, read_custom_section, remove_custom_section,
    write_custom_section,
};
pub use error::{HostError, Result};
pub use metadata::{ContextAwareResource, PolicyMetadata};
pub use module::{
    DEFAULT_MAX_MEMORY_BYTES, HostOptions, POOL_KEEP_RESIDENT_BYTES, PolicyInstance, PolicyModule,
};
pub use response::{
    AdmissionResponse, AdmissionResponseStatus, MUTATION_ON_DELETE_MESSAGE, SettingsValidation,
    ValidationResponse, admission_request_from_json, mutation_not_allowed_message,
};
pub use selector::{FieldSelector, LabelSelector, labels_of};
