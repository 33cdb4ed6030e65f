//! Kubewarden policy metadata, as stored (JSON) in the `io.kubewarden.metadata` custom section or
//! written (YAML) in a `metadata.yml` file.
//!
//! This model is deliberately lenient: the host only needs `protocolVersion`, `mutating` and
//! `contextAwareResources`; every other field is kept as it is so that nothing is lost.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::custom_section::{KUBEWARDEN_METADATA_SECTION, read_custom_section};
use crate::error::{HostError, Result};

/// A Kubernetes resource type a context-aware policy may read: `{apiVersion, kind}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextAwareResource {
    /// For example `v1` or `scheduling.k8s.io/v1`.
    pub api_version: String,
    /// For example `Namespace`.
    pub kind: String,
}

/// The metadata of a Kubewarden policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyMetadata {
    /// The waPC protocol version the policy speaks (`v1`); set by the annotate step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_version: Option<String>,
    /// The admission rules (apiGroups, apiVersions, resources, operations), kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Value>,
    /// Whether the policy may mutate requests.
    #[serde(default)]
    pub mutating: bool,
    /// The Kubernetes resources the policy reads at evaluation time.
    #[serde(default)]
    pub context_aware_resources: Vec<ContextAwareResource>,
    /// The annotations (`io.kubewarden.policy.title`, ...), kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
    /// Every other field (`executionMode`, `backgroundAudit`, ...), kept as it is.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl PolicyMetadata {
    /// Parses metadata from JSON (the contents of the custom section).
    ///
    /// # Errors
    /// [`HostError::Metadata`] when the document does not fit the model.
    pub fn from_json(json: &[u8]) -> Result<Self> {
        serde_json::from_slice(json).map_err(|e| HostError::Metadata(e.to_string()))
    }

    /// Parses metadata from YAML (a `metadata.yml` file); JSON is valid YAML too.
    ///
    /// # Errors
    /// [`HostError::Metadata`] when the document does not fit the model.
    pub fn from_yaml(yaml: &str) -> Result<Self> {
        serde_yaml_ng::from_str(yaml).map_err(|e| HostError::Metadata(e.to_string()))
    }

    /// Reads the metadata of an annotated module, `None` when the module has no
    /// `io.kubewarden.metadata` section.
    ///
    /// # Errors
    /// [`HostError::InvalidWasm`] for a malformed module, [`HostError::Metadata`] when the
    /// section holds something else than the metadata JSON.
    pub fn from_wasm(wasm: &[u8]) -> Result<Option<Self>> {
        read_custom_section(wasm, KUBEWARDEN_METADATA_SECTION)?
            .map(|json| Self::from_json(&json))
            .transpose()
    }

    /// Checks what policy-server checks before running a waPC policy: unless `executionMode`
    /// names another runtime, `protocolVersion` must be `v1`.
    ///
    /// # Errors
    /// [`HostError::Metadata`] when the protocol version is missing or unknown.
    pub fn check_protocol_version(&self) -> Result<()> {
        let mode = self.other.get("executionMode").and_then(Value::as_str);
        if mode.is_some_and(|mode| mode != "kubewarden-wapc") {
            return Ok(());
        }
        match self.protocol_version.as_deref() {
            Some("v1") => Ok(()),
            Some(other) => Err(HostError::Metadata(format!(
                "unsupported protocolVersion {other:?} (expected \"v1\")"
            ))),
            None => Err(HostError::Metadata(
                "the metadata has no protocolVersion: annotate the policy again".to_owned(),
            )),
        }
    }

    /// The `(apiVersion, kind)` pairs listed in `contextAwareResources`.
    #[must_use]
    pub fn allowed_resources(&self) -> BTreeSet<(String, String)> {
        self.context_aware_resources
            .iter()
            .map(|r| (r.api_version.clone(), r.kind.clone()))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use crate::custom_section::write_custom_section;
    use serde_json::json;

    #[test]
    fn parses_yaml_and_keeps_unknown_fields() {
        let meta = PolicyMetadata::from_yaml(
            "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\n\
             mutating: true\ncontextAwareResources:\n- apiVersion: v1\n  kind: Namespace\n\
             executionMode: kubewarden-wapc\nannotations:\n  io.kubewarden.policy.title: t\n",
        )
        .unwrap();
        assert!(meta.mutating);
        assert_eq!(meta.protocol_version, None);
        assert_eq!(
            meta.allowed_resources(),
            BTreeSet::from([("v1".to_owned(), "Namespace".to_owned())])
        );
        assert_eq!(
            meta.other.get("executionMode"),
            Some(&json!("kubewarden-wapc"))
        );
        assert_eq!(
            meta.annotations,
            Some(json!({"io.kubewarden.policy.title": "t"}))
        );
        let back = serde_json::to_value(&meta).unwrap();
        assert_eq!(back["rules"][0]["resources"], json!(["pods"]));
        assert_eq!(back["executionMode"], json!("kubewarden-wapc"));
    }

    #[test]
    fn reads_from_a_module_section() {
        let wasm = write_custom_section(
            b"\0asm\x01\0\0\0",
            KUBEWARDEN_METADATA_SECTION,
            br#"{"protocolVersion":"v1","mutating":false,"rules":[]}"#,
        )
        .unwrap();
        let meta = PolicyMetadata::from_wasm(&wasm).unwrap().unwrap();
        assert_eq!(meta.protocol_version.as_deref(), Some("v1"));
        assert!(!meta.mutating);
        assert!(meta.allowed_resources().is_empty());
        assert_eq!(PolicyMetadata::from_wasm(b"\0asm\x01\0\0\0").unwrap(), None);
    }

    #[test]
    fn protocol_version_check() {
        let check = |json: &str| {
            PolicyMetadata::from_json(json.as_bytes())
                .unwrap()
                .check_protocol_version()
        };
        assert!(check(r#"{"protocolVersion":"v1"}"#).is_ok());
        assert!(check(r#"{"protocolVersion":"v1","executionMode":"kubewarden-wapc"}"#).is_ok());
        assert!(check(r#"{"executionMode":"opa"}"#).is_ok());
        assert!(
            check(r#"{}"#)
                .unwrap_err()
                .to_string()
                .contains("no protocolVersion")
        );
        assert!(
            check(r#"{"protocolVersion":"Unknown"}"#)
                .unwrap_err()
                .to_string()
                .contains("Unknown")
        );
    }

    #[test]
    fn rejects_wrong_types() {
        let err = PolicyMetadata::from_json(br#"{"mutating":"yes"}"#).unwrap_err();
        assert!(matches!(err, HostError::Metadata(_)), "{err}");
        assert!(
            PolicyMetadata::from_json(br#"{"contextAwareResources":[{"kind":"Pod"}]}"#).is_err()
        );
    }
}
