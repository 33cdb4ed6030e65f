//! Custom workload kinds: CRDs whose objects embed pod templates (Argo Rollouts, operators' worker groups, ...),
//! declared in the settings' `customWorkloads` with a JSONPath to their pod specs.
//!
//! The paths are a subset of JSONPath that the generated CEL can walk as well: child names (`.spec`) and `[*]`
//! over a list, at most once, e.g. `$.spec.template.spec` or `$.spec.workers[*].template.spec`. The subset is
//! evaluated here, on the request's JSON text without building the object, because the decision needs the JSON
//! pointer of every pod spec it finds (for the patch and the message); a general JSONPath library returns values
//! only. The tests check this evaluator against `jsonpath_lib`.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::json::Reader;
use crate::request::{FoundPodSpec, RequestError};

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

/// A validated `podSpecPath`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodSpecPath {
    text: String,
    steps: Vec<Step>,
}

impl PodSpecPath {
    /// Parses a path of the supported subset ([`SUPPORTED_SUBSET`]).
    pub fn parse(text: &str) -> Result<Self, String> {
        let refused = |why: &str| {
            format!(
                "\"{text}\" is not supported ({why}): use {SUPPORTED_SUBSET}; the generated CEL cannot express more"
            )
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

/// Validates `customWorkloads`, pushing every problem with its field.
pub(crate) fn validate(
    docs: &[CustomWorkloadDoc],
    push: &mut impl FnMut(String, String),
) -> Vec<CustomWorkload> {
    let mut out = Vec::with_capacity(docs.len());
    // A handful of entries: earlier ones are found by a scan (a map costs policy.wasm more code than it saves).
    let earlier =
        |i: usize, same: &dyn Fn(&CustomWorkloadDoc) -> bool| docs[..i].iter().position(same);
    for (i, doc) in docs.iter().enumerate() {
        let at = format!("customWorkloads[{i}]");
        let mut ok = true;
        let mut check = |key: &str, result: Result<(), String>| {
            if let Err(e) = result {
                push(format!("{at}.{key}"), e);
                ok = false;
            }
        };
        check(
            "apiGroup",
            if doc.api_group.is_empty() {
                Err("is required: custom resources always have an API group".into())
            } else {
                crate::names::dns_subdomain(&doc.api_group)
            },
        );
        check(
            "apiVersion",
            if doc.api_version.contains('/') {
                Err(format!(
                    "\"{}\" names a group: give the version alone (e.g. v1alpha1), the group is apiGroup",
                    doc.api_version
                ))
            } else {
                crate::names::dns_label(&doc.api_version)
            },
        );
        check("kind", kind_name(&doc.kind));
        check(
            "resource",
            crate::names::dns_label(&doc.resource).map_err(|e| {
                if doc.resource.contains('/') {
                    format!("{e} (subresources are not checked)")
                } else {
                    e
                }
            }),
        );
        let path = PodSpecPath::parse(&doc.pod_spec_path);
        check(
            "podSpecPath",
            path.as_ref().map(|_| ()).map_err(Clone::clone),
        );
        if let Some(builtin) = crate::kinds::lookup(&doc.api_group, &doc.kind) {
            push(
                format!("{at}.kind"),
                format!(
                    "{} {} is built in (its pod spec is at {}): remove this entry",
                    builtin.api_version(),
                    builtin.kind,
                    builtin.pod_spec_pointer()
                ),
            );
            ok = false;
        } else if let Some(first) =
            earlier(i, &|d| d.api_group == doc.api_group && d.kind == doc.kind)
        {
            push(
                format!("{at}.kind"),
                format!(
                    "{}/{} is already declared by customWorkloads[{first}]",
                    doc.api_group, doc.kind
                ),
            );
            ok = false;
        } else if let Some(first) = earlier(i, &|d| {
            d.api_group == doc.api_group && d.resource == doc.resource
        }) {
            push(
                format!("{at}.resource"),
                format!(
                    "{} in {} is already the resource of customWorkloads[{first}]",
                    doc.resource, doc.api_group
                ),
            );
            ok = false;
        }
        if let (true, Ok(path)) = (ok, path) {
            out.push(CustomWorkload {
                group: doc.api_group.clone(),
                version: doc.api_version.clone(),
                kind: doc.kind.clone(),
                resource: doc.resource.clone(),
                path,
            });
        }
    }
    out
}

/// A Kubernetes kind: CamelCase letters and digits, starting with a letter.
fn kind_name(kind: &str) -> Result<(), String> {
    if kind.is_empty() {
        return Err("is required".into());
    }
    if kind.len() > 63
        || !kind.starts_with(|c: char| c.is_ascii_alphabetic())
        || !kind.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(format!(
            "\"{kind}\" is not a kind: letters and digits, starting with a letter, at most 63"
        ));
    }
    Ok(())
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

/// The pod specs `path` selects in the object, in document order: none where a step is absent or null.
///
/// A step that is neither an object (for a name) nor a list (for `[*]`), a duplicate key on the way, or a pod spec
/// that cannot be read is malformed, with the path where it is.
pub fn pod_specs<'a>(
    object: &'a str,
    path: &PodSpecPath,
) -> Result<Vec<FoundPodSpec<'a>>, RequestError> {
    let mut found = Vec::new();
    walk(object, &path.steps, String::new(), &mut found)?;
    Ok(found)
}

fn walk<'a>(
    value: &'a str,
    steps: &[Step],
    pointer: String,
    found: &mut Vec<FoundPodSpec<'a>>,
) -> Result<(), RequestError> {
    let malformed = |message: String| RequestError::Malformed {
        path: error_path(&pointer),
        message,
    };
    let Some((step, rest)) = steps.split_first() else {
        let mut specs = crate::request::pod_specs(value, &[]).map_err(|e| match e {
            RequestError::Malformed { path, message } => RequestError::Malformed {
                path: match path.strip_prefix("object") {
                    Some(rest) => format!("{}{rest}", error_path(&pointer)),
                    None => path,
                },
                message,
            },
            other => other,
        })?;
        for mut spec in specs.drain(..) {
            spec.pointer = pointer.clone();
            // Its layout is relative to this part of the object: not kept.
            spec.layout = None;
            found.push(spec);
        }
        return Ok(());
    };
    let mut r = Reader::new(value);
    if r.null().map_err(malformed)? {
        return Ok(());
    }
    match step {
        Step::Field(name) => {
            r.begin_object(&format!("an object with an optional field `{name}`"))
                .map_err(malformed)?;
            let mut child = None;
            let mut first = true;
            while let Some(key) = r.next_key(&mut first).map_err(malformed)? {
                let value = r.skip().map_err(malformed)?;
                if key == name.as_str() {
                    if child.is_some() {
                        return Err(malformed(format!("duplicate field `{name}`")));
                    }
                    child = Some(value);
                }
            }
            match child.filter(|v| *v != "null") {
                Some(child) => walk(child, rest, format!("{pointer}/{name}"), found),
                None => Ok(()),
            }
        }
        Step::Each => {
            r.begin_array("a sequence").map_err(malformed)?;
            let mut first = true;
            let mut i = 0;
            while r.next_element(&mut first).map_err(malformed)? {
                let item = r.skip().map_err(malformed)?;
                walk(item, rest, format!("{pointer}/{i}"), found)?;
                i += 1;
            }
            Ok(())
        }
    }
}

/// Where a malformed value is, as request errors say it: `object.spec.workers[1].template`.
fn error_path(pointer: &str) -> String {
    let shown = display_pointer(pointer);
    format!("object{}", &shown[1..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(json: &str) -> Box<serde_json::value::RawValue> {
        serde_json::value::RawValue::from_string(json.to_owned()).expect("valid json")
    }

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
            let err = PodSpecPath::parse(bad).expect_err(bad);
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

    #[test]
    fn every_item_of_the_list_is_a_pod_spec_with_its_pointer() {
        let path = PodSpecPath::parse("$.spec.workers[*].template.spec").expect("path");
        let object = raw(
            r#"{"spec":{"workers":[{"template":{"spec":{"priorityClassName":"a"}}},{"name":"no-template"},{"template":{"spec":{"priority":3}}},null]}}"#,
        );
        let found = pod_specs(object.get(), &path).expect("readable");
        let summary: Vec<(&str, Option<&str>, bool)> = found
            .iter()
            .map(|f| {
                (
                    f.pointer.as_str(),
                    f.spec.priority_class_name.as_deref(),
                    f.spec.priority,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("/spec/workers/0/template/spec", Some("a"), false),
                ("/spec/workers/2/template/spec", None, true)
            ]
        );
    }

    #[test]
    fn malformed_steps_name_where_they_are() {
        let path = PodSpecPath::parse("$.spec.workers[*].template.spec").expect("path");
        for (json, want) in [
            (r#"{"spec":{"workers":{}}}"#, "object.spec.workers"),
            (
                r#"{"spec":{"workers":[{"template":7}]}}"#,
                "object.spec.workers[0].template",
            ),
            (
                r#"{"spec":{"workers":[{},{"template":{"spec":{"priorityClassName":1}}}]}}"#,
                "object.spec.workers[1].template.spec.priorityClassName",
            ),
            (r#"{"spec":{"workers":[],"workers":[]}}"#, "object.spec"),
        ] {
            let err = pod_specs(raw(json).get(), &path).expect_err(json);
            let RequestError::Malformed { path, .. } = &err else {
                panic!("{json}: {err:?}");
            };
            assert_eq!(path, want, "{json}: {err}");
        }
    }

    /// The evaluator selects what `jsonpath_lib` selects, on objects with lists, missing steps and nulls.
    #[test]
    fn selects_what_jsonpath_lib_selects() {
        let objects = [
            r#"{"spec":{"template":{"spec":{"priorityClassName":"a","containers":[]}}}}"#,
            r#"{"spec":{"workers":[{"template":{"spec":{"priorityClassName":"a"}}},{"template":{"spec":{}}},{"x":1}]}}"#,
            r#"{"spec":{"workers":[]}}"#,
            r#"{"spec":{}}"#,
            r#"{"spec":{"podSpecs":[{"priorityClassName":"a"},{"priority":1}]}}"#,
        ];
        let paths = [
            "$.spec.template.spec",
            "$.spec.workers[*].template.spec",
            "$.spec.podSpecs[*]",
        ];
        for object in objects {
            let value: serde_json::Value = serde_json::from_str(object).expect("json");
            for text in paths {
                let path = PodSpecPath::parse(text).expect("path");
                let ours: Vec<serde_json::Value> = pod_specs(raw(object).get(), &path)
                    .expect("readable")
                    .iter()
                    .map(|f| {
                        value
                            .pointer(&f.pointer)
                            .cloned()
                            .expect("pointer resolves")
                    })
                    .collect();
                let theirs: Vec<serde_json::Value> = jsonpath_lib::select(&value, text)
                    .expect("jsonpath_lib evaluates")
                    .into_iter()
                    .cloned()
                    .collect();
                assert_eq!(ours, theirs, "{text} on {object}");
            }
        }
    }
}
