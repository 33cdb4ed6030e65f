//! Custom workload kinds, read: `customWorkloads` validated from the settings (`validate`), and the pod specs a
//! path selects in a request's object ([`pod_specs`]).
//!
//! The path subset is evaluated here, on the request's JSON text without building the object, because the
//! decision needs the JSON pointer of every pod spec it finds (for the patch and the message); a general JSONPath
//! library returns values only. The tests check this evaluator against `jsonpath_lib`.

use crate::json::Reader;
use crate::model::custom::{CustomWorkload, CustomWorkloadDoc, PodSpecPath, Step, display_pointer};
use crate::read::request::{FoundPodSpec, RequestError};

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
                crate::model::names::dns_subdomain(&doc.api_group).map_err(|e| e.to_string())
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
                crate::model::names::dns_label(&doc.api_version).map_err(|e| e.to_string())
            },
        );
        check("kind", kind_name(&doc.kind));
        check(
            "resource",
            crate::model::names::dns_label(&doc.resource).map_err(|e| {
                if doc.resource.contains('/') {
                    format!("{e} (subresources are not checked)")
                } else {
                    e.to_string()
                }
            }),
        );
        let path = PodSpecPath::parse(&doc.pod_spec_path);
        check(
            "podSpecPath",
            path.as_ref().map(|_| ()).map_err(ToString::to_string),
        );
        if let Some(builtin) = crate::model::kinds::lookup(&doc.api_group, &doc.kind) {
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

/// The pod specs `path` selects in the object, in document order: none where a step is absent or null.
///
/// A step that is neither an object (for a name) nor a list (for `[*]`), a duplicate key on the way, or a pod spec
/// that cannot be read is malformed, with the path where it is.
pub fn pod_specs<'a>(
    object: &'a str,
    path: &PodSpecPath,
) -> Result<Vec<FoundPodSpec<'a>>, RequestError> {
    let mut found = Vec::new();
    walk(object, path.steps(), String::new(), &mut found)?;
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
        let mut specs = crate::read::request::pod_specs(value, &[]).map_err(|e| match e {
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
