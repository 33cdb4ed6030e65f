//! `--format sarif`: SARIF 2.1.0, as GitHub code scanning (`github/codeql-action/upload-sarif`) accepts it.
//!
//! One run; the driver lists every rule below, always in the same order. Denied and malformed documents are
//! results of level `error`, warned documents (a `Warn` or `Audit` rule's refusal) results of level `warning`
//! under the same rule, defaults results of level `note`; allowed and not-checked documents are not
//! results. Locations are the file as reported (a relative path with `/`, percent-encoded as a URI reference)
//! and the line the document starts on.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::report::{CheckResult, Verdict, rule_ids};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A rule: id, SARIF name, level, short and full description.
struct RuleInfo {
    id: &'static str,
    name: &'static str,
    level: &'static str,
    short: &'static str,
    full: &'static str,
    help: &'static str,
}

const RULES: &[RuleInfo] = &[
    RuleInfo {
        id: rule_ids::NOT_ALLOWED,
        name: "PriorityClassNotAllowed",
        level: "error",
        short: "PriorityClass not allowed in this namespace",
        full: "The object names a PriorityClass that the settings rule for its namespace does not allow; \
               the policy refuses its creation.",
        help: "Use a PriorityClass that the rule allows (the message lists them).",
    },
    RuleInfo {
        id: rule_ids::REQUIRED,
        name: "PriorityClassRequired",
        level: "error",
        short: "PriorityClass required in this namespace",
        full: "The object names no PriorityClass, and the settings rule for its namespace requires one and \
               gives no default; the policy refuses its creation.",
        help: "Set spec.priorityClassName (the pod template's, for workloads) to a class the rule allows.",
    },
    RuleInfo {
        id: rule_ids::UNREADABLE_OBJECT,
        name: "UnreadableObject",
        level: "error",
        short: "Object the policy cannot read",
        full: "A field the policy reads has the wrong type (e.g. a pod spec that is not an object); the \
               policy fails closed and refuses the object.",
        help: "Fix the field the message names; the apiserver would refuse it as well.",
    },
    RuleInfo {
        id: rule_ids::NAMESPACE_LABELS,
        name: "NamespaceLabelsUnreadable",
        level: "error",
        short: "Namespace labels cannot be read",
        full: "A rule with a namespaceSelector needs the labels of the object's namespace and they cannot be \
               read; the policy fails closed and refuses the object.",
        help: "Give the namespace's labels with a Namespace object in the input, --namespace-labels or --cluster-state.",
    },
    RuleInfo {
        id: rule_ids::VALUES,
        name: "PriorityClassValuesNotAllowed",
        level: "error",
        short: "PriorityClass priority or preemption policy not allowed in this namespace",
        full: "The PriorityClass the object uses (or the rule's default) has a priority above the rule's \
               maxPriority or below its minPriority, or a preemptionPolicy outside its allowedPreemptionPolicies, \
               or does not exist; the policy refuses the object.",
        help: "Use an existing PriorityClass whose value and preemptionPolicy the rule allows (the message says which).",
    },
    RuleInfo {
        id: rule_ids::CLASS_LOOKUP,
        name: "PriorityClassUnreadable",
        level: "error",
        short: "PriorityClass cannot be read",
        full: "A rule with maxPriority, minPriority or allowedPreemptionPolicies needs the value of a PriorityClass that the \
               object does not carry, and the class cannot be read; the policy fails closed and refuses the object.",
        help: "Give the cluster's PriorityClasses with --cluster-state (kubectl get namespaces,priorityclasses -o yaml).",
    },
    RuleInfo {
        id: rule_ids::CLASS_OBJECT,
        name: "PriorityClassObjectRefused",
        level: "error",
        short: "PriorityClass object refused",
        full: "A PriorityClass object breaks the priorityClasses settings (value ceiling, globalDefault, \
               description, preemptionPolicy); the policy refuses it.",
        help: "Fix the fields the message names.",
    },
    RuleInfo {
        id: rule_ids::DEFAULTED,
        name: "PriorityClassDefaulted",
        level: "note",
        short: "A default PriorityClass is applied",
        full: "The object names no PriorityClass; the policy writes the rule's default into it (Pods, and \
               workload templates with mutateWorkloadTemplates) or into the Pods it creates.",
        help: "Nothing to do if the default is what you want; name a PriorityClass to choose another.",
    },
    RuleInfo {
        id: rule_ids::MALFORMED,
        name: "MalformedDocument",
        level: "error",
        short: "Document that cannot be read",
        full: "The document is not valid YAML or JSON, or not a Kubernetes object that can be read (e.g. no \
               apiVersion). It is not checked.",
        help: "Fix the YAML or JSON at the reported line; Helm and Kustomize sources must be rendered first.",
    },
];

#[derive(Serialize)]
struct Log<'a> {
    #[serde(rename = "$schema")]
    schema: &'static str,
    version: &'static str,
    runs: [Run<'a>; 1],
}

#[derive(Serialize)]
struct Run<'a> {
    tool: Tool,
    results: Vec<SarifResult<'a>>,
}

#[derive(Serialize)]
struct Tool {
    driver: Driver,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Driver {
    name: &'static str,
    version: &'static str,
    information_uri: &'static str,
    rules: Vec<Rule>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Rule {
    id: &'static str,
    name: &'static str,
    short_description: Text<'static>,
    full_description: Text<'static>,
    default_configuration: Configuration,
    help: Text<'static>,
    help_uri: String,
}

#[derive(Serialize)]
struct Text<'a> {
    text: std::borrow::Cow<'a, str>,
}

#[derive(Serialize)]
struct Configuration {
    level: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SarifResult<'a> {
    rule_id: &'static str,
    rule_index: usize,
    level: &'static str,
    message: Text<'a>,
    locations: [Location; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Location {
    physical_location: PhysicalLocation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PhysicalLocation {
    artifact_location: ArtifactLocation,
    region: Region,
}

#[derive(Serialize)]
struct ArtifactLocation {
    uri: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Region {
    start_line: usize,
}

/// A file name as a relative URI reference: `/` kept, bytes outside RFC 3986's unreserved set encoded.
fn uri(file: &str) -> String {
    let mut out = String::with_capacity(file.len());
    for byte in file.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Writes the results, pretty-printed, with a final newline.
pub(crate) fn write(out: &mut dyn Write, results: &[CheckResult]) -> Result<()> {
    let information_uri = env!("CARGO_PKG_REPOSITORY");
    let rules = RULES
        .iter()
        .map(|r| Rule {
            id: r.id,
            name: r.name,
            short_description: Text {
                text: r.short.into(),
            },
            full_description: Text {
                text: r.full.into(),
            },
            default_configuration: Configuration { level: r.level },
            help: Text {
                text: r.help.into(),
            },
            help_uri: format!(
                "{information_uri}#checking-manifests-before-the-cluster-ci-and-pre-commit"
            ),
        })
        .collect();
    let results = results
        .iter()
        .filter(|r| {
            matches!(
                r.verdict,
                Verdict::Denied | Verdict::Warned | Verdict::Malformed | Verdict::Defaulted
            )
        })
        .filter_map(|r| {
            let id = r.rule_id?;
            let index = RULES.iter().position(|rule| rule.id == id)?;
            let text = match r.verdict {
                Verdict::Denied | Verdict::Warned => r.message.as_str().into(),
                Verdict::Malformed => format!("malformed document: {}", r.message).into(),
                _ => format!("{}: {}", r.subject(), r.message).into(),
            };
            Some(SarifResult {
                rule_id: id,
                rule_index: index,
                level: match r.verdict {
                    Verdict::Warned => "warning",
                    _ => RULES[index].level,
                },
                message: Text { text },
                locations: [Location {
                    physical_location: PhysicalLocation {
                        artifact_location: ArtifactLocation { uri: uri(&r.file) },
                        region: Region {
                            start_line: r.line.max(1),
                        },
                    },
                }],
            })
        })
        .collect();
    let log = Log {
        schema: SCHEMA,
        version: "2.1.0",
        runs: [Run {
            tool: Tool {
                driver: Driver {
                    name: "priority-guard",
                    version: env!("CARGO_PKG_VERSION"),
                    information_uri,
                    rules,
                },
            },
            results,
        }],
    };
    serde_json::to_writer_pretty(&mut *out, &log)?;
    writeln!(out)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_become_relative_uri_references() {
        assert_eq!(uri("deploy/web app.yaml"), "deploy/web%20app.yaml");
        assert_eq!(uri("<stdin>"), "%3Cstdin%3E");
        assert_eq!(uri("a/b_c-d~e.yml"), "a/b_c-d~e.yml");
    }

    #[test]
    fn every_finding_id_is_a_rule() {
        for id in [
            rule_ids::NOT_ALLOWED,
            rule_ids::REQUIRED,
            rule_ids::UNREADABLE_OBJECT,
            rule_ids::NAMESPACE_LABELS,
            rule_ids::VALUES,
            rule_ids::CLASS_LOOKUP,
            rule_ids::CLASS_OBJECT,
            rule_ids::DEFAULTED,
            rule_ids::MALFORMED,
        ] {
            assert!(RULES.iter().any(|r| r.id == id), "{id}");
        }
    }
}
