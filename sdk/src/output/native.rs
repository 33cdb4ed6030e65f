//! Kubernetes' own admission objects for the settings: a ValidatingAdmissionPolicy and its binding, and, when a
//! rule has a default and the Kubernetes version serves them, a MutatingAdmissionPolicy and its binding. Built
//! from typed structs around the CEL of [`crate::output::cel`]; serialized by any serde format (YAML with the `yaml`
//! feature, see `to_yaml`).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use crate::model::custom::CustomWorkload;
use crate::model::settings::{Action, Settings};
use crate::output::cel::{self, Target, Variable};

/// The group of the admission policy kinds.
pub const API_GROUP: &str = "admissionregistration.k8s.io";

/// The Kubernetes releases the generator targets: 1.30 (ValidatingAdmissionPolicy v1) to 1.36.
pub const SUPPORTED_MINORS: std::ops::RangeInclusive<u32> = 30..=36;

/// A Kubernetes release `1.<minor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubernetesVersion {
    /// The minor version.
    pub minor: u32,
}

/// A Kubernetes release the generator does not support; the text names the supported ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnsupportedVersion(String);

impl KubernetesVersion {
    /// The newest release the generator knows.
    pub const LATEST: Self = Self { minor: 36 };

    /// Parses `1.N` (or `v1.N`, `1.N.P`) for a supported N.
    pub fn parse(text: &str) -> Result<Self, UnsupportedVersion> {
        let refused = || {
            UnsupportedVersion(format!(
                "\"{text}\" is not a supported Kubernetes version: use 1.{} to 1.{}",
                SUPPORTED_MINORS.start(),
                SUPPORTED_MINORS.end()
            ))
        };
        let trimmed = text.strip_prefix('v').unwrap_or(text);
        let mut parts = trimmed.split('.');
        let (Some("1"), Some(minor)) = (parts.next(), parts.next()) else {
            return Err(refused());
        };
        if parts.clone().count() > 1 || parts.any(|p| p.parse::<u32>().is_err()) {
            return Err(refused());
        }
        let minor: u32 = minor.parse().map_err(|_| refused())?;
        if SUPPORTED_MINORS.contains(&minor) {
            Ok(Self { minor })
        } else {
            Err(refused())
        }
    }

    /// The MutatingAdmissionPolicy API version this release serves, if any: v1 from 1.36, v1beta1 in 1.34 and
    /// 1.35 (behind the `MutatingAdmissionPolicy` feature gate), none before.
    pub fn mutating_policy_version(self) -> Option<&'static str> {
        match self.minor {
            36.. => Some("v1"),
            34 | 35 => Some("v1beta1"),
            _ => None,
        }
    }
}

impl fmt::Display for KubernetesVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// The name of the policies and their bindings.
    pub name: String,
    /// The release to generate for.
    pub kubernetes_version: KubernetesVersion,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            name: "priority-guard".to_owned(),
            kubernetes_version: KubernetesVersion::LATEST,
        }
    }
}

/// `metadata` of a generated object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Metadata {
    /// The object's name.
    pub name: String,
    /// `app.kubernetes.io/managed-by: priority-guard`.
    pub labels: BTreeMap<String, String>,
}

/// A generated Kubernetes object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Object<S> {
    /// `admissionregistration.k8s.io/<version>`.
    pub api_version: String,
    /// The kind.
    pub kind: &'static str,
    /// Name and labels.
    pub metadata: Metadata,
    /// The spec.
    pub spec: S,
}

/// `matchConstraints`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MatchResources {
    /// The resources and operations.
    pub resource_rules: Vec<NamedRuleWithOperations>,
}

/// One entry of `resourceRules`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NamedRuleWithOperations {
    /// API groups (`""` for core).
    pub api_groups: Vec<String>,
    /// API versions.
    pub api_versions: Vec<String>,
    /// Operations.
    pub operations: Vec<String>,
    /// Resources (plural, no subresources).
    pub resources: Vec<String>,
    /// `Namespaced`, or `Cluster` for PriorityClasses.
    pub scope: &'static str,
}

/// An entry of `variables`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NamedExpression {
    /// Its name.
    pub name: String,
    /// Its CEL.
    pub expression: String,
}

/// An entry of `validations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Validation {
    /// Must be true.
    pub expression: String,
    /// The denial text when `messageExpression` cannot be evaluated.
    pub message: String,
    /// The denial text.
    pub message_expression: String,
    /// `Forbidden`.
    pub reason: &'static str,
}

/// The spec of a ValidatingAdmissionPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatingAdmissionPolicySpec {
    /// `Fail`: fail closed, like the Kubewarden policy.
    pub failure_policy: &'static str,
    /// What is checked.
    pub match_constraints: MatchResources,
    /// Named expressions.
    pub variables: Vec<NamedExpression>,
    /// The checks.
    pub validations: Vec<Validation>,
}

/// The spec of a ValidatingAdmissionPolicyBinding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidatingAdmissionPolicyBindingSpec {
    /// The policy.
    pub policy_name: String,
    /// `[Deny]`, `[Warn]` or `[Audit]`: the action of the rules whose validations the policy holds.
    pub validation_actions: Vec<&'static str>,
}

/// A JSONPatch mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mutation {
    /// `JSONPatch`.
    pub patch_type: &'static str,
    /// The expression.
    pub json_patch: JsonPatch,
}

/// The expression of a JSONPatch mutation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JsonPatch {
    /// A CEL list of `JSONPatch{op, path, value}`.
    pub expression: String,
}

/// The spec of a MutatingAdmissionPolicy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MutatingAdmissionPolicySpec {
    /// `Fail`.
    pub failure_policy: &'static str,
    /// What is defaulted.
    pub match_constraints: MatchResources,
    /// Named expressions.
    pub variables: Vec<NamedExpression>,
    /// The patch.
    pub mutations: Vec<Mutation>,
    /// `IfNeeded`: the patch is idempotent, so a later mutation that removes the class gets it back.
    pub reinvocation_policy: &'static str,
}

/// The spec of a MutatingAdmissionPolicyBinding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MutatingAdmissionPolicyBindingSpec {
    /// The policy.
    pub policy_name: String,
}

/// One generated document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Document {
    /// The ValidatingAdmissionPolicy.
    ValidatingPolicy(Object<ValidatingAdmissionPolicySpec>),
    /// Its binding.
    ValidatingBinding(Object<ValidatingAdmissionPolicyBindingSpec>),
    /// The MutatingAdmissionPolicy.
    MutatingPolicy(Object<MutatingAdmissionPolicySpec>),
    /// Its binding.
    MutatingBinding(Object<MutatingAdmissionPolicyBindingSpec>),
}

/// What the generator produced: the documents to apply, and notes for the person applying them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generated {
    /// In the order to apply them.
    pub documents: Vec<Document>,
    /// Things the documents cannot do on the chosen release, or need to work.
    pub notes: Vec<String>,
}

fn metadata(name: &str) -> Metadata {
    Metadata {
        name: name.to_owned(),
        labels: BTreeMap::from([(
            "app.kubernetes.io/managed-by".to_owned(),
            "priority-guard".to_owned(),
        )]),
    }
}

fn match_resources(targets: &[Target], custom: &[CustomWorkload]) -> MatchResources {
    // One entry per group and operation set, resources in the kind table's order.
    let mut rules: Vec<NamedRuleWithOperations> = Vec::new();
    for target in targets {
        let operations: Vec<String> = target.operations.iter().map(|o| (*o).to_owned()).collect();
        let group = target.kind.group.to_owned();
        match rules
            .iter_mut()
            .find(|r| r.api_groups == [group.clone()] && r.operations == operations)
        {
            Some(rule) => rule.resources.push(target.kind.resource.to_owned()),
            None => rules.push(NamedRuleWithOperations {
                api_groups: vec![group],
                api_versions: vec![target.kind.version.to_owned()],
                operations,
                resources: vec![target.kind.resource.to_owned()],
                scope: "Namespaced",
            }),
        }
    }
    // The custom kinds after the built-in ones: one entry per group and version, resources in the settings' order.
    for workload in custom {
        match rules.iter_mut().find(|r| {
            r.api_groups == [workload.group.clone()]
                && r.api_versions == [workload.version.clone()]
                && r.operations == ["CREATE", "UPDATE"]
        }) {
            Some(rule) => rule.resources.push(workload.resource.clone()),
            None => rules.push(NamedRuleWithOperations {
                api_groups: vec![workload.group.clone()],
                api_versions: vec![workload.version.clone()],
                operations: vec!["CREATE".to_owned(), "UPDATE".to_owned()],
                resources: vec![workload.resource.clone()],
                scope: "Namespaced",
            }),
        }
    }
    MatchResources {
        resource_rules: rules,
    }
}

fn variables(variables: Vec<Variable>) -> Vec<NamedExpression> {
    variables
        .into_iter()
        .map(|v| NamedExpression {
            name: v.name.to_owned(),
            expression: v.expression,
        })
        .collect()
}

/// The name of the ValidatingAdmissionPolicy (and its binding) that holds the validations of the rules with
/// `action`: `name` itself for `Deny`, `name-warn` and `name-audit` for the others.
pub fn validating_policy_name(name: &str, action: Action) -> String {
    match action {
        Action::Deny => name.to_owned(),
        Action::Warn => format!("{name}-warn"),
        Action::Audit => format!("{name}-audit"),
    }
}

/// The admission objects for these settings.
pub fn generate(settings: &Settings, options: &Options) -> Generated {
    let name = options.name.as_str();
    let v1 = format!("{API_GROUP}/v1");
    let validating = cel::validating_rules(settings);
    let mut documents = Vec::new();
    // One policy per action the rules use, each with the validations of the rules of that action and a binding
    // with that `validationActions`: every validation is in exactly one policy. The apiserver refuses a
    // ValidatingAdmissionPolicy without validations: an action no rule uses (and settings that only set
    // defaults, or restrict nothing) get no policy and no binding.
    let validating_variables = variables(validating.variables);
    for action in Action::ALL {
        let validations: Vec<&cel::Validation> = validating
            .validations
            .iter()
            .filter(|v| v.action == action)
            .collect();
        if validations.is_empty() {
            continue;
        }
        let policy_name = validating_policy_name(name, action);
        let mut constraints = if validations.iter().any(|v| !v.checks_priority_classes) {
            match_resources(&validating.targets, &validating.custom_targets)
        } else {
            MatchResources {
                resource_rules: Vec::new(),
            }
        };
        if validations.iter().any(|v| v.checks_priority_classes) {
            constraints.resource_rules.push(NamedRuleWithOperations {
                api_groups: vec![crate::model::priority_class::GROUP.to_owned()],
                api_versions: vec!["v1".to_owned()],
                operations: crate::model::priority_class::OPERATIONS
                    .iter()
                    .map(|o| (*o).to_owned())
                    .collect(),
                resources: vec![crate::model::priority_class::RESOURCE.to_owned()],
                scope: "Cluster",
            });
        }
        documents.extend([
            Document::ValidatingPolicy(Object {
                api_version: v1.clone(),
                kind: "ValidatingAdmissionPolicy",
                metadata: metadata(&policy_name),
                spec: ValidatingAdmissionPolicySpec {
                    failure_policy: "Fail",
                    match_constraints: constraints,
                    variables: validating_variables.clone(),
                    validations: validations
                        .into_iter()
                        .map(|v| Validation {
                            expression: v.expression.clone(),
                            message: v.message.clone(),
                            message_expression: v.message_expression.clone(),
                            reason: "Forbidden",
                        })
                        .collect(),
                },
            }),
            Document::ValidatingBinding(Object {
                api_version: v1.clone(),
                kind: "ValidatingAdmissionPolicyBinding",
                metadata: metadata(&policy_name),
                spec: ValidatingAdmissionPolicyBindingSpec {
                    policy_name,
                    validation_actions: vec![action.as_str()],
                },
            }),
        ]);
    }
    let mut notes = Vec::new();
    // `lists.range`, which the patch of a custom kind with `[*]` needs, is usable in new expressions from 1.35.
    let list_indexes = options.kubernetes_version.minor >= 35;
    if let Some(mutating) = cel::mutating_rules_with(settings, list_indexes) {
        let rules = mutating.rules_with_default.join(", ");
        match options.kubernetes_version.mutating_policy_version() {
            None => notes.push(format!(
                "Kubernetes {} has no MutatingAdmissionPolicy (v1beta1 from 1.34, v1 from 1.36): the defaults of \
                 rules {rules} are not applied; Pods that name no class are still checked. Use the Kubewarden \
                 policy for defaults on this release.",
                options.kubernetes_version
            )),
            Some(version) => {
                if version == "v1beta1" {
                    notes.push(format!(
                        "MutatingAdmissionPolicy v1beta1 on Kubernetes {} is off by default: enable the \
                         MutatingAdmissionPolicy feature gate and --runtime-config={API_GROUP}/v1beta1=true on \
                         the apiserver, or the defaults of rules {rules} are not applied.",
                        options.kubernetes_version
                    ));
                }
                if !mutating.custom_left_out.is_empty() {
                    let kinds: Vec<String> = mutating
                        .custom_left_out
                        .iter()
                        .map(|c| format!("{} {}", c.api_version(), c.kind))
                        .collect();
                    notes.push(format!(
                        "the MutatingAdmissionPolicy for Kubernetes {} does not default the templates of {}: \
                         writing into every item of a list needs lists.range, which new expressions may use from \
                         1.35. They are still checked.",
                        options.kubernetes_version,
                        kinds.join(", ")
                    ));
                }
                let api_version = format!("{API_GROUP}/{version}");
                documents.push(Document::MutatingPolicy(Object {
                    api_version: api_version.clone(),
                    kind: "MutatingAdmissionPolicy",
                    metadata: metadata(name),
                    spec: MutatingAdmissionPolicySpec {
                        failure_policy: "Fail",
                        match_constraints: match_resources(
                            &mutating.targets,
                            &mutating.custom_targets,
                        ),
                        variables: variables(mutating.variables),
                        mutations: vec![Mutation {
                            patch_type: "JSONPatch",
                            json_patch: JsonPatch {
                                expression: mutating.json_patch,
                            },
                        }],
                        reinvocation_policy: "IfNeeded",
                    },
                }));
                documents.push(Document::MutatingBinding(Object {
                    api_version,
                    kind: "MutatingAdmissionPolicyBinding",
                    metadata: metadata(name),
                    spec: MutatingAdmissionPolicyBindingSpec {
                        policy_name: name.to_owned(),
                    },
                }));
            }
        }
    }
    if documents.is_empty() {
        notes.push(
            "these settings neither restrict nor default any class: there is no admission policy to generate"
                .to_owned(),
        );
    }
    Generated { documents, notes }
}

/// The documents as multi-document YAML (`---` between documents), ready for `kubectl apply -f -`.
#[cfg(feature = "yaml")]
pub fn to_yaml(documents: &[Document]) -> Result<String, serde_yaml_ng::Error> {
    let mut out = String::new();
    for document in documents {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(document)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The apiserver refuses a ValidatingAdmissionPolicy without validations (found on a real kube-apiserver).
    #[test]
    fn settings_with_nothing_to_validate_get_no_validating_policy() {
        let kinds = |settings: serde_json::Value| {
            let settings = Settings::from_value(settings).expect("valid settings");
            let generated = generate(&settings, &Options::default());
            let kinds: Vec<&str> = generated
                .documents
                .iter()
                .map(|d| match d {
                    Document::ValidatingPolicy(_) => "ValidatingAdmissionPolicy",
                    Document::ValidatingBinding(_) => "ValidatingAdmissionPolicyBinding",
                    Document::MutatingPolicy(_) => "MutatingAdmissionPolicy",
                    Document::MutatingBinding(_) => "MutatingAdmissionPolicyBinding",
                })
                .collect();
            (kinds, generated.notes)
        };
        let (defaults_only, _) = kinds(serde_json::json!({"rules": [{"name": "production",
            "namespaces": ["prod"], "defaultPriorityClass": "prod-pc"}]}));
        assert_eq!(
            defaults_only,
            ["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"]
        );
        let (nothing, notes) = kinds(serde_json::json!({}));
        assert!(nothing.is_empty());
        assert!(
            notes
                .iter()
                .any(|n| n.contains("no admission policy to generate")),
            "{notes:?}"
        );
        let (restricting, _) =
            kinds(serde_json::json!({"fallback": {"deniedPriorityClasses": ["system-*"]}}));
        assert_eq!(
            restricting,
            [
                "ValidatingAdmissionPolicy",
                "ValidatingAdmissionPolicyBinding"
            ]
        );
    }

    #[test]
    fn versions_parse_within_the_supported_range() {
        assert_eq!(KubernetesVersion::parse("1.30").map(|v| v.minor), Ok(30));
        assert_eq!(KubernetesVersion::parse("v1.34.2").map(|v| v.minor), Ok(34));
        for bad in ["1.29", "1.37", "2.30", "1", "1.x", "", "1.30.1.1"] {
            let err = KubernetesVersion::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("use 1.30 to 1.36"), "{err}");
        }
    }

    #[test]
    fn mutating_policy_versions_follow_the_release() {
        let v = |minor| KubernetesVersion { minor }.mutating_policy_version();
        assert_eq!(
            (v(33), v(34), v(35), v(36)),
            (None, Some("v1beta1"), Some("v1beta1"), Some("v1"))
        );
    }

    fn settings() -> Settings {
        Settings::from_value(serde_json::json!({
            "rules": [{"name": "prod", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"],
                       "defaultPriorityClass": "prod-pc"}]
        }))
        .expect("valid")
    }

    #[test]
    fn old_releases_get_no_mutating_policy_and_a_note() {
        let options = Options {
            kubernetes_version: KubernetesVersion { minor: 33 },
            ..Options::default()
        };
        let generated = generate(&settings(), &options);
        assert_eq!(generated.documents.len(), 2);
        assert!(
            generated.notes[0].contains("rules prod are not applied"),
            "{:?}",
            generated.notes
        );
    }

    #[test]
    fn beta_releases_get_v1beta1_and_a_feature_gate_note() {
        let options = Options {
            kubernetes_version: KubernetesVersion { minor: 35 },
            ..Options::default()
        };
        let generated = generate(&settings(), &options);
        assert_eq!(generated.documents.len(), 4);
        let Document::MutatingPolicy(policy) = &generated.documents[2] else {
            panic!("third document is the MutatingAdmissionPolicy");
        };
        assert_eq!(policy.api_version, "admissionregistration.k8s.io/v1beta1");
        assert!(
            generated.notes[0].contains("feature gate"),
            "{:?}",
            generated.notes
        );
    }

    fn custom_settings() -> Settings {
        Settings::from_value(serde_json::json!({
            "fallback": {"deniedPriorityClasses": ["system-*"], "defaultPriorityClass": "low"},
            "mutateWorkloadTemplates": true,
            "customWorkloads": [
                {"apiGroup": "argoproj.io", "apiVersion": "v1alpha1", "kind": "Rollout", "resource": "rollouts",
                 "podSpecPath": "$.spec.template.spec"},
                {"apiGroup": "batch.volcano.sh", "apiVersion": "v1alpha1", "kind": "Job", "resource": "jobs",
                 "podSpecPath": "$.spec.tasks[*].template.spec"}
            ]
        }))
        .expect("valid")
    }

    fn custom_resources(policy: &MatchResources) -> Vec<String> {
        policy
            .resource_rules
            .iter()
            .filter(|r| r.api_groups[0].contains('.'))
            .map(|r| format!("{}/{}", r.api_groups[0], r.resources.join(",")))
            .collect()
    }

    #[test]
    fn custom_kinds_are_matched_and_list_paths_are_defaulted_from_1_35() {
        for (minor, defaulted) in [
            (36, vec!["argoproj.io/rollouts", "batch.volcano.sh/jobs"]),
            (35, vec!["argoproj.io/rollouts", "batch.volcano.sh/jobs"]),
            (34, vec!["argoproj.io/rollouts"]),
        ] {
            let options = Options {
                kubernetes_version: KubernetesVersion { minor },
                ..Options::default()
            };
            let generated = generate(&custom_settings(), &options);
            let Document::ValidatingPolicy(vap) = &generated.documents[0] else {
                panic!("first document is the ValidatingAdmissionPolicy");
            };
            assert_eq!(
                custom_resources(&vap.spec.match_constraints),
                ["argoproj.io/rollouts", "batch.volcano.sh/jobs"]
            );
            let Document::MutatingPolicy(map) = &generated.documents[2] else {
                panic!("third document is the MutatingAdmissionPolicy");
            };
            assert_eq!(
                custom_resources(&map.spec.match_constraints),
                defaulted,
                "1.{minor}"
            );
            let patch = &map.spec.mutations[0].json_patch.expression;
            assert_eq!(patch.contains("lists.range"), minor >= 35, "1.{minor}");
            assert_eq!(
                generated.notes.iter().any(|n| n.contains("lists.range")),
                minor < 35,
                "1.{minor}: {:?}",
                generated.notes
            );
        }
    }

    #[test]
    fn resource_rules_group_kinds_by_api_group_and_operations() {
        let generated = generate(&settings(), &Options::default());
        let Document::ValidatingPolicy(policy) = &generated.documents[0] else {
            panic!("first document is the ValidatingAdmissionPolicy");
        };
        let rules = &policy.spec.match_constraints.resource_rules;
        let summary: Vec<(String, String, String)> = rules
            .iter()
            .map(|r| {
                (
                    r.api_groups.join(","),
                    r.operations.join(","),
                    r.resources.join(","),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("".into(), "CREATE".into(), "pods".into()),
                (
                    "".into(),
                    "CREATE,UPDATE".into(),
                    "replicationcontrollers".into()
                ),
                (
                    "apps".into(),
                    "CREATE,UPDATE".into(),
                    "deployments,replicasets,statefulsets,daemonsets".into()
                ),
                (
                    "batch".into(),
                    "CREATE,UPDATE".into(),
                    "jobs,cronjobs".into()
                ),
            ]
        );
    }
}
