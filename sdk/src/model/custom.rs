//! Custom workload kinds: CRDs whose objects embed pod templates (Argo Rollouts, operators' worker groups, ...),
//! declared in the settings' `customWorkloads` with a JSONPath to their pod specs.
//!
//! The paths are a subset of JSONPath that the generated CEL can walk as well: child names (`.spec`) and `[*]`
//! over a list, at most once, e.g. `$.spec.template.spec` or `$.spec.workers[*].template.spec`. The subset is
//! evaluated over a request by [`crate::read::custom`].

use std::fmt;

use serde::{Deserialize, Serialize};

/// The supported subset, as messages name it.
pub const SUPPORTED_SUBSET: &str = "child names and at most one [*] over a list, starting at $, e.g. \
     $.spec.template.spec or $.spec.workers[*].template.spec";

/// Words the Kubernetes CEL environment reserves: a field with such a name cannot be selected as `x.name`.
const CEL_RESERVED: &[&str] = &[
    "true",
    "false",
    "null",
    "in",
    "as",
    "break",
    "const",
    "continue",
    "else",
    "for",
    "function",
    "if",
    "import",
    "let",
    "loop",
    "package",
    "namespace",
    "return",
    "var",
    "void",
    "while",
];

/// At most this many steps: the CEL grows with the path.
const MAX_STEPS: usize = 16;

/// One step of a pod spec path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A named field of an object.
    Field(String),
    /// Every item of a list.
    Each,
}

/// A `podSpecPath` outside the supported subset; the text says why and what is supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnsupportedPath(String);

/// A validated `podSpecPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpecPath {
    text: String,
    steps: Vec<Step>,
}

impl PodSpecPath {
    /// Parses a path of the supported subset ([`SUPPORTED_SUBSET`]).
    pub fn parse(text: &str) -> Result<Self, UnsupportedPath> {
        let refused = |why: &str| {
            UnsupportedPath(format!(
                "\"{text}\" is not supported ({why}): use {SUPPORTED_SUBSET}; the generated CEL cannot express more"
            ))
        };
        let Some(mut rest) = text.strip_prefix('$') else {
            return Err(refused("a path starts at $"));
        };
        let mut steps = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("[*]") {
                if steps.is_empty() {
                    return Err(refused("the object itself is not a list"));
                }
                if steps.contains(&Step::Each) {
                    return Err(refused("only one [*]"));
                }
                steps.push(Step::Each);
                rest = after;
            } else if let Some(after) = rest.strip_prefix('.') {
                if after.starts_with('.') {
                    return Err(refused("no recursive descent"));
                }
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                let name = &after[..end];
                if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
                    return Err(refused(
                        "a child name is a letter or _ followed by letters, digits or _",
                    ));
                }
                if CEL_RESERVED.contains(&name) {
                    return Err(refused(&format!("\"{name}\" is a reserved word in CEL")));
                }
                steps.push(Step::Field(name.to_owned()));
                rest = &after[end..];
            } else if rest.starts_with('[') {
                return Err(refused("no indexes, slices, filters or quoted names"));
            } else {
                return Err(refused("unexpected text"));
            }
        }
        if steps.is_empty() {
            return Err(refused("$ is the object, not a pod spec"));
        }
        if steps.len() > MAX_STEPS {
            return Err(refused(&format!("at most {MAX_STEPS} steps")));
        }
        Ok(Self {
            text: text.to_owned(),
            steps,
        })
    }

    /// The path as written in the settings.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The steps.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The fields before `[*]`, and the fields after it (`None` when the path has no `[*]`).
    pub fn split(&self) -> (Vec<&str>, Option<Vec<&str>>) {
        fn names(steps: &[Step]) -> Vec<&str> {
            steps
                .iter()
                .filter_map(|s| match s {
                    Step::Field(name) => Some(name.as_str()),
                    Step::Each => None,
                })
                .collect()
        }
        match self.steps.iter().position(|s| *s == Step::Each) {
            None => (names(&self.steps), None),
            Some(at) => (names(&self.steps[..at]), Some(names(&self.steps[at + 1..]))),
        }
    }
}

impl fmt::Display for PodSpecPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// An entry of `customWorkloads`, as written by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CustomWorkloadDoc {
    /// The API group of the CRD, e.g. `argoproj.io`.
    pub api_group: String,
    /// The version served, e.g. `v1alpha1` (without the group).
    pub api_version: String,
    /// The kind, e.g. `Rollout`.
    pub kind: String,
    /// The resource (plural) for admission rules, e.g. `rollouts`.
    pub resource: String,
    /// Where the pod specs are, e.g. `$.spec.template.spec`.
    pub pod_spec_path: String,
}

/// A validated custom workload kind. Its objects are checked like the built-in workloads: on CREATE and UPDATE,
/// every pod spec the path selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomWorkload {
    /// The API group.
    pub group: String,
    /// The API version.
    pub version: String,
    /// The kind.
    pub kind: String,
    /// The resource (plural).
    pub resource: String,
    /// The pod spec path.
    pub path: PodSpecPath,
}

impl CustomWorkload {
    /// `apiVersion` as objects write it (`argoproj.io/v1alpha1`).
    pub fn api_version(&self) -> String {
        format!("{}/{}", self.group, self.version)
    }

    /// Whether requests with this operation are checked: CREATE and UPDATE, as for the built-in workloads.
    pub fn checks_operation(operation: &str) -> bool {
        matches!(operation, "CREATE" | "UPDATE")
    }
}

/// A JSON pointer of a pod spec as the messages show it: `/spec/workers/1/template/spec` is
/// `$.spec.workers[1].template.spec`. Numbers are list indexes (field names of the subset never start with a
/// digit).
pub fn display_pointer(pointer: &str) -> String {
    let mut out = String::from("$");
    for token in pointer.split('/').skip(1) {
        if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(token);
            out.push(']');
        } else {
            out.push('.');
            out.push_str(token);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_paths_parse() {
        let p = PodSpecPath::parse("$.spec.workers[*].template.spec").expect("supported");
        assert_eq!(
            p.split(),
            (vec!["spec", "workers"], Some(vec!["template", "spec"]))
        );
        let p = PodSpecPath::parse("$.spec.template.spec").expect("supported");
        assert_eq!(p.split(), (vec!["spec", "template", "spec"], None));
        let p = PodSpecPath::parse("$.spec.podSpecs[*]").expect("supported");
        assert_eq!(p.split(), (vec!["spec", "podSpecs"], Some(vec![])));
    }

    #[test]
    fn paths_outside_the_subset_are_refused_with_the_subset_named() {
        for bad in [
            "spec.template.spec",
            "$",
            "$..spec",
            "$.spec.workers[0].template.spec",
            "$.spec.workers[?(@.x)].spec",
            "$.spec['template'].spec",
            "$.spec.a[*].b[*].spec",
            "$[*].spec",
            "$.spec.9lives",
            "$.spec.name-with-dash",
            "$.spec.namespace.spec",
            "$.spec.",
        ] {
            let err = PodSpecPath::parse(bad).expect_err(bad).to_string();
            assert!(
                err.contains("child names and at most one [*]"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn pointers_display_as_json_paths() {
        assert_eq!(
            display_pointer("/spec/workers/1/template/spec"),
            "$.spec.workers[1].template.spec"
        );
        assert_eq!(display_pointer("/spec"), "$.spec");
    }
}
