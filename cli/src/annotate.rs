//! `priority-guard annotate`: writes a policy's metadata (metadata.yml, plus the protocol version
//! the policy reports and optionally its README) into the module's `io.kubewarden.metadata`
//! custom section, like `kwctl annotate`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use priority_guard_host::{
    ClusterState, HostOptions, KUBEWARDEN_METADATA_SECTION, PolicyModule, remove_custom_section,
    write_custom_section,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input;

/// The annotation that holds the policy's README.
const USAGE_ANNOTATION: &str = "io.kubewarden.policy.usage";

/// The protocol version of every current Kubewarden waPC policy.
const PROTOCOL_V1: &str = "v1";

/// Arguments of `priority-guard annotate`.
#[derive(Debug, clap::Args)]
pub(crate) struct AnnotateArgs {
    /// The policy metadata (metadata.yml).
    #[arg(short = 'm', long = "metadata-path", value_name = "FILE")]
    metadata_path: PathBuf,

    /// A README to store as the `io.kubewarden.policy.usage` annotation.
    #[arg(short = 'u', long = "usage-path", value_name = "FILE")]
    usage_path: Option<PathBuf>,

    /// Where to write the annotated module.
    #[arg(short = 'o', long = "output-path", value_name = "FILE")]
    output_path: PathBuf,

    /// The policy to annotate.
    #[arg(value_name = "POLICY.wasm")]
    policy: PathBuf,
}

/// An admission operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Operation {
    #[serde(rename = "CREATE")]
    Create,
    #[serde(rename = "UPDATE")]
    Update,
    #[serde(rename = "DELETE")]
    Delete,
    #[serde(rename = "CONNECT")]
    Connect,
    #[serde(rename = "*")]
    All,
}

/// One admission rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Rule {
    api_groups: Vec<String>,
    api_versions: Vec<String>,
    resources: Vec<String>,
    operations: Vec<Operation>,
}

/// A resource type the policy reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ContextAwareResource {
    api_version: String,
    kind: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ExecutionMode {
    KubewardenWapc,
    Opa,
    Gatekeeper,
    Wasi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum PolicyType {
    Kubernetes,
    Raw,
}

/// The metadata file: strict on the top-level fields and their types, lenient on annotation
/// keys. Serialized (camelCase) into the custom section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Metadata {
    /// Set from the policy itself; a value in the file is overwritten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    protocol_version: Option<String>,
    rules: Vec<Rule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    mutating: bool,
    #[serde(default)]
    context_aware_resources: Vec<ContextAwareResource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    execution_mode: Option<ExecutionMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    background_audit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy_type: Option<PolicyType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    host_capabilities: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    minimum_kubewarden_version: Option<String>,
}

/// A list that may hold `*` only alone.
fn check_list<T: PartialEq + std::fmt::Debug>(
    rule: usize,
    field: &str,
    values: &[T],
    star: &T,
) -> Result<()> {
    if values.is_empty() {
        bail!("rules[{rule}].{field} is empty");
    }
    if values.len() > 1 && values.contains(star) {
        bail!("rules[{rule}].{field}: no other value may be listed with `*`");
    }
    Ok(())
}

impl Metadata {
    fn parse(text: &str) -> Result<Self> {
        let metadata: Self = serde_yaml_ng::from_str(text)?;
        metadata.check()?;
        Ok(metadata)
    }

    fn check(&self) -> Result<()> {
        if self.rules.is_empty() {
            bail!("rules is empty: a policy must match at least one kind of request");
        }
        for (index, rule) in self.rules.iter().enumerate() {
            check_list(index, "apiGroups", &rule.api_groups, &"*".to_owned())?;
            check_list(index, "apiVersions", &rule.api_versions, &"*".to_owned())?;
            check_list(index, "resources", &rule.resources, &"*/*".to_owned())?;
            if rule.resources.iter().any(String::is_empty) {
                bail!("rules[{index}].resources holds an empty name");
            }
            check_list(index, "operations", &rule.operations, &Operation::All)?;
        }
        for (index, resource) in self.context_aware_resources.iter().enumerate() {
            if resource.api_version.is_empty() || resource.kind.is_empty() {
                bail!("contextAwareResources[{index}] needs both apiVersion and kind");
            }
        }
        Ok(())
    }

    fn speaks_wapc(&self) -> bool {
        matches!(
            self.execution_mode,
            None | Some(ExecutionMode::KubewardenWapc)
        )
    }
}

/// Asks the policy which protocol it speaks.
fn detect_protocol_version(wasm: &[u8], path: &Path) -> Result<String> {
    let options = HostOptions {
        allowed_resources: Some(Default::default()),
        allow_mutations: Some(false),
        ..HostOptions::default()
    };
    let load = || -> Result<String> {
        // Metadata already in the module (possibly stale or incomplete) must not get in the way.
        let plain = remove_custom_section(wasm, KUBEWARDEN_METADATA_SECTION)?;
        let module = PolicyModule::from_bytes(&plain, options)?;
        let policy = module.instance(Arc::new(ClusterState::disconnected()))?;
        Ok(policy.protocol_version()?)
    };
    let version = load().with_context(|| {
        format!(
            "cannot compute the protocol version of the policy {}",
            path.display()
        )
    })?;
    if version != PROTOCOL_V1 {
        bail!(
            "the policy {} reports protocol version {version:?}, only {PROTOCOL_V1:?} is supported",
            path.display()
        );
    }
    Ok(version)
}

/// Runs the command.
pub(crate) fn annotate(args: &AnnotateArgs) -> Result<()> {
    let text = input::read_text(&args.metadata_path, "metadata file")?;
    let mut metadata = Metadata::parse(&text)
        .with_context(|| format!("invalid metadata file {}", args.metadata_path.display()))?;
    let usage = args
        .usage_path
        .as_deref()
        .map(|path| input::read_text(path, "usage file"))
        .transpose()?;
    let wasm = input::read_bytes(&args.policy, "policy")?;

    metadata.protocol_version = if metadata.speaks_wapc() {
        Some(detect_protocol_version(&wasm, &args.policy)?)
    } else {
        None
    };
    if let Some(usage) = usage {
        metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(USAGE_ANNOTATION.to_owned(), usage);
    }

    let json = serde_json::to_vec(&metadata).context("cannot serialize the metadata")?;
    let annotated = write_custom_section(&wasm, KUBEWARDEN_METADATA_SECTION, &json)
        .with_context(|| format!("cannot annotate the policy {}", args.policy.display()))?;
    std::fs::write(&args.output_path, annotated)
        .with_context(|| format!("cannot write {}", args.output_path.display()))?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use serde_json::json;

    const METADATA: &str = r#"
rules:
- apiGroups: [""]
  apiVersions: ["v1"]
  resources: ["pods"]
  operations: ["CREATE"]
- apiGroups: ["apps"]
  apiVersions: ["v1"]
  resources: ["deployments"]
  operations: ["CREATE", "UPDATE"]
mutating: true
contextAwareResources:
- apiVersion: v1
  kind: Namespace
executionMode: kubewarden-wapc
backgroundAudit: true
annotations:
  io.kubewarden.policy.title: priority-guard
  io.kubewarden.policy.version: 0.1.0
  io.example.anything: goes
"#;

    #[test]
    fn parses_and_serializes_camel_case() {
        let metadata = Metadata::parse(METADATA).unwrap();
        let json = serde_json::to_value(&metadata).unwrap();
        assert_eq!(json["rules"][1]["operations"], json!(["CREATE", "UPDATE"]));
        assert_eq!(json["mutating"], json!(true));
        assert_eq!(
            json["contextAwareResources"],
            json!([{"apiVersion": "v1", "kind": "Namespace"}])
        );
        assert_eq!(json["executionMode"], json!("kubewarden-wapc"));
        assert_eq!(json["backgroundAudit"], json!(true));
        assert_eq!(json["annotations"]["io.example.anything"], json!("goes"));
        assert!(json.get("protocolVersion").is_none());
        assert!(json.get("policyType").is_none());
        // the host reads it back
        let back =
            priority_guard_host::PolicyMetadata::from_json(&serde_json::to_vec(&json).unwrap())
                .unwrap();
        assert!(back.mutating);
        assert_eq!(back.allowed_resources().len(), 1);
    }

    #[test]
    fn refuses_bad_metadata() {
        let cases: &[(&str, &str)] = &[
            ("mutating: false\n", "rules"),
            ("rules: []\n", "rules is empty"),
            ("rules: []\nmutatin: true\n", "mutatin"),
            (
                "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\nmutating: 'yes'\n",
                "mutating",
            ),
            (
                "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [MAKE]\n",
                "MAKE",
            ),
            (
                "rules:\n- apiGroups: ['', '*']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\n",
                "apiGroups",
            ),
            (
                "rules:\n- apiGroups: ['']\n  apiVersions: []\n  resources: [pods]\n  operations: [CREATE]\n",
                "apiVersions is empty",
            ),
            (
                "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: ['*', CREATE]\n",
                "operations",
            ),
            (
                "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\nexecutionMode: fast\n",
                "fast",
            ),
            (
                "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\nannotations:\n  a: [1]\n",
                "annotations",
            ),
            (
                "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\ncontextAwareResources:\n- kind: Namespace\n",
                "apiVersion",
            ),
        ];
        for (text, expected) in cases {
            let err = format!("{:#}", Metadata::parse(text).unwrap_err());
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
