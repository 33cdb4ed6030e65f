//! How the patch of a default ([`crate::decide::patch`]) is applied to an object without touching anything else.
//!
//! A default is never written by deserializing into typed Kubernetes structs and serializing back, which would
//! drop every field the compiled API version does not know. The object stays a JSON value and only the patch's
//! paths change.

use std::borrow::Cow;

use serde_json::Value;

use crate::decide::patch::PatchOp;
use crate::json::Reader;
use crate::read::request::FoundPodSpec;

/// A patch that cannot be applied to the object it was computed for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot apply {op} at {path}: {reason}")]
pub struct PatchError {
    /// The operation.
    pub op: &'static str,
    /// Its path.
    pub path: String,
    /// Why.
    pub reason: &'static str,
}

/// Applies operations on object members (the only kind a default produces) to `object`.
pub fn apply(object: &mut Value, ops: &[PatchOp]) -> Result<(), PatchError> {
    for op in ops {
        let (name, path) = match op {
            PatchOp::Add { path, .. } => ("add", path),
            PatchOp::Replace { path, .. } => ("replace", path),
            PatchOp::Remove { path } => ("remove", path),
        };
        let err = |reason| PatchError {
            op: name,
            path: path.clone(),
            reason,
        };
        let (parent, key) = path
            .rsplit_once('/')
            .ok_or_else(|| err("not a JSON pointer"))?;
        let key = unescape(key);
        let parent = object
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .ok_or_else(|| err("its parent is not an object"))?;
        match op {
            PatchOp::Add { value, .. } => {
                parent.insert(key, value.clone());
            }
            PatchOp::Replace { value, .. } => {
                let slot = parent
                    .get_mut(&key)
                    .ok_or_else(|| err("the member is absent"))?;
                *slot = value.clone();
            }
            PatchOp::Remove { .. } => {
                parent
                    .remove(&key)
                    .ok_or_else(|| err("the member is absent"))?;
            }
        }
    }
    Ok(())
}

/// Applies operations on object members (the only kind a default produces) to an object's JSON text, as
/// [`apply`] does to a value: the result means the same as `apply` on the parsed text.
///
/// Only the objects that hold the patched members are written again (their other members keep their text,
/// the new ones go last); every other byte of the object stays as it was. This costs one reading of the text
/// per patched object instead of building and writing a `Value` of the whole object.
pub fn apply_to_text(object: &str, ops: &[PatchOp]) -> Result<String, PatchError> {
    apply_to_text_known(object, ops, &[])
}

/// [`apply_to_text`], where the pod specs in `known` whose [`crate::read::request::SpecLayout`] is known are not read
/// again: their members are taken from the layout.
pub(crate) fn apply_to_text_known(
    object: &str,
    ops: &[PatchOp],
    known: &[FoundPodSpec<'_>],
) -> Result<String, PatchError> {
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    let mut done = vec![false; ops.len()];
    for i in 0..ops.len() {
        if done[i] {
            continue;
        }
        let (parent, _) = split(&ops[i])?;
        let layout = known
            .iter()
            .find(|found| found.pointer == parent)
            .and_then(|found| found.layout.as_ref());
        let (start, end, mut members) = match layout.and_then(|l| members_of(object, l)) {
            Some(members) => members,
            None => {
                let mut r = Reader::new(object);
                crate::json::locate(&mut r, parent).map_err(|reason| error(&ops[i], reason))?;
                let start = r.start();
                let members = read_members(&mut r).map_err(|reason| error(&ops[i], reason))?;
                (start, r.pos(), members)
            }
        };
        for (j, op) in ops.iter().enumerate().skip(i) {
            let (op_parent, key) = split(op)?;
            if op_parent != parent {
                continue;
            }
            done[j] = true;
            let slot = members.iter().position(|(k, _)| *k == key);
            match (op, slot) {
                (PatchOp::Add { value, .. } | PatchOp::Replace { value, .. }, Some(slot)) => {
                    members[slot].1 = Cow::Owned(value.to_string());
                }
                (PatchOp::Add { value, .. }, None) => {
                    members.push((Cow::Owned(key), Cow::Owned(value.to_string())));
                }
                (PatchOp::Remove { .. }, Some(slot)) => {
                    members.remove(slot);
                }
                (PatchOp::Replace { .. } | PatchOp::Remove { .. }, None) => {
                    return Err(error(op, "the member is absent"));
                }
            }
        }
        let mut text = String::from("{");
        for (n, (key, value)) in members.iter().enumerate() {
            if n > 0 {
                text.push(',');
            }
            text.push_str(&Value::String(key.to_string()).to_string());
            text.push(':');
            text.push_str(value);
        }
        text.push('}');
        edits.push((start, end, text));
    }
    edits.sort_by_key(|&(start, _, _)| start);
    let mut out = String::with_capacity(object.len() + 64);
    let mut at = 0;
    for (start, end, text) in edits {
        let before = object.get(at..start).ok_or_else(|| PatchError {
            op: "patch",
            path: String::new(),
            reason: "two operations patch nested objects",
        })?;
        out.push_str(before);
        out.push_str(&text);
        at = end;
    }
    out.push_str(object.get(at..).unwrap_or_default());
    Ok(out)
}

/// The deepest object a response can carry (see [`crate::json::MAX_OBJECT_DEPTH`]).
pub use crate::json::MAX_OBJECT_DEPTH;

/// Checks that an object's JSON text can be carried in a response that hosts read with serde_json
/// (policy-server, kwctl): at most [`MAX_OBJECT_DEPTH`] levels, no number beyond a double, no lone surrogate. The policy checks a
/// mutated object unless the request's reading already knows it fits
/// (`AdmissionRequestView::object_fits_responses`); a Value round trip used to refuse the same objects.
pub fn readable_by_hosts(object: &str) -> Result<(), UnreadableByHosts> {
    crate::json::readable_by_hosts(object, MAX_OBJECT_DEPTH).map_err(UnreadableByHosts)
}

/// An object that hosts reading responses with serde_json could not read back; the text says what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UnreadableByHosts(&'static str);

fn split(op: &PatchOp) -> Result<(&str, String), PatchError> {
    let (parent, key) = op
        .path()
        .rsplit_once('/')
        .ok_or_else(|| error(op, "not a JSON pointer"))?;
    Ok((parent, unescape(key)))
}

fn error(op: &PatchOp, reason: &'static str) -> PatchError {
    PatchError {
        op: match op {
            PatchOp::Add { .. } => "add",
            PatchOp::Replace { .. } => "replace",
            PatchOp::Remove { .. } => "remove",
        },
        path: op.path().to_owned(),
        reason,
    }
}

/// The members of the object at the reader, as key and value text.
type Members<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

/// The members of a pod spec from its layout: where it starts and ends, and each member's key and value text.
/// `None` when the layout does not fit the text (then the pod spec is read again).
fn members_of<'a>(
    object: &'a str,
    layout: &crate::read::request::SpecLayout,
) -> Option<(usize, usize, Members<'a>)> {
    let mut members = Members::with_capacity(layout.members.len());
    for &(from, to) in &layout.members {
        let text = object.get(from..to)?;
        let text = text.trim_start_matches([' ', '\n', '\r', '\t', ',']);
        let mut r = Reader::new(text);
        let mut first = true;
        let key = r.next_key(&mut first).ok()??;
        let value_start = r.start();
        members.push((key, Cow::Borrowed(text.get(value_start..)?)));
    }
    (object.get(layout.start..layout.start + 1)? == "{").then_some((
        layout.start,
        layout.end,
        members,
    ))
}

fn read_members<'a>(r: &mut Reader<'a>) -> Result<Members<'a>, &'static str> {
    const NOT_OBJECT: &str = "its parent is not an object";
    r.begin_object("an object").map_err(|_| NOT_OBJECT)?;
    let mut members = Members::new();
    let mut first = true;
    while let Some(key) = r.next_key(&mut first).map_err(|_| NOT_OBJECT)? {
        let value = r.skip().map_err(|_| NOT_OBJECT)?;
        members.push((key, Cow::Borrowed(value)));
    }
    Ok(members)
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::patch::set_class;
    use crate::read::request::PodSpecView;
    use serde_json::json;
    use std::borrow::Cow;

    fn found(
        class: Option<&'static str>,
        priority: bool,
        preemption_policy: bool,
    ) -> FoundPodSpec<'static> {
        FoundPodSpec {
            layout: None,
            pointer: "/spec".into(),
            spec: PodSpecView {
                priority_class_name: class.map(Cow::Borrowed),
                priority,
                preemption_policy,
            },
        }
    }

    #[test]
    fn a_resolved_pod_loses_priority_and_preemption_policy() {
        let ops = set_class(&found(Some("global-low"), true, true), "prod-pc");
        let mut object = json!({"spec": {"priorityClassName": "global-low", "priority": 10,
            "preemptionPolicy": "PreemptLowerPriority", "containers": [{"name": "c"}],
            "someFutureField": {"x": 1}}});
        apply(&mut object, &ops).expect("applies");
        assert_eq!(
            object,
            json!({"spec": {"priorityClassName": "prod-pc", "containers": [{"name": "c"}],
                "someFutureField": {"x": 1}}})
        );
    }

    #[test]
    fn absent_fields_are_not_removed() {
        let ops = set_class(&found(None, false, false), "prod-pc");
        assert_eq!(
            ops,
            vec![PatchOp::Add {
                path: "/spec/priorityClassName".into(),
                value: json!("prod-pc")
            }]
        );
    }

    /// `apply_to_text` on `text` means what `apply` on its value means, and keeps the untouched text as it was.
    fn assert_text_patch_agrees(text: &str, ops: &[PatchOp]) -> String {
        let mut expected: Value = serde_json::from_str(text).expect("JSON");
        apply(&mut expected, ops).expect("applies to the value");
        let patched = apply_to_text(text, ops).expect("applies to the text");
        let got: Value = serde_json::from_str(&patched).expect("the patched text is JSON");
        assert_eq!(got, expected, "{text} -> {patched}");
        patched
    }

    #[test]
    fn text_patches_mean_what_value_patches_mean() {
        let pod = r#"{"metadata": {"name": "web", "annotations": {"a/b": "x\"y"}},
            "spec": {"priority": 10, "containers": [{"name": "c", "image": "i"}], "preemptionPolicy": "Never",
                     "priorityClassName": "low", "x\u0079": [1, 2.5e3, true, null]},
            "status": {}}"#;
        let ops = set_class(&found(Some("low"), true, true), "prod-pc");
        let patched = assert_text_patch_agrees(pod, &ops);
        assert!(
            patched.contains(r#""metadata": {"name": "web", "annotations": {"a/b": "x\"y"}}"#),
            "text outside the pod spec is kept byte for byte: {patched}"
        );
        for (text, ops) in [
            (r#"{"spec":{}}"#, set_class(&found(None, false, false), "a")),
            (
                r#"{ "spec" : { "containers" : [ ] } }"#,
                set_class(&found(None, false, false), "a"),
            ),
            (
                r#"{"spec":{"priority":0}}"#,
                set_class(&found(None, true, false), "a"),
            ),
            (
                r#"{"spec":{"priorityClassName":null}}"#,
                set_class(&found(Some(""), false, false), "a"),
            ),
        ] {
            assert_text_patch_agrees(text, &ops);
        }
        // Array indices and escaped keys on the way, as custom kinds' pointers have them.
        let text = r#"{"spec":{"work/ers":[{"template":{"spec":{}}},{"template":{"spec":{"priority":1}}}]}}"#;
        let ops = vec![
            PatchOp::Add {
                path: "/spec/work~1ers/1/template/spec/priorityClassName".into(),
                value: "b".into(),
            },
            PatchOp::Remove {
                path: "/spec/work~1ers/1/template/spec/priority".into(),
            },
            PatchOp::Add {
                path: "/spec/work~1ers/0/template/spec/priorityClassName".into(),
                value: "b".into(),
            },
        ];
        assert_text_patch_agrees(text, &ops);
    }

    #[test]
    fn layouts_read_along_the_request_give_the_same_text() {
        let pod = r#"{"metadata": {"name": "web"},
            "spec" : { "priority" : 10 , "containers": [{"name": "c"}],
                       "preemptionPolicy": "Never", "x\u0079": {"priority": 1} } }"#;
        let cronjob = r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{"priorityClassName":null,"a":1}}}}}}"#;
        for (kind, group, object) in [
            ("Pod", "", pod),
            ("CronJob", "batch", cronjob),
            ("Pod", "", r#"{"spec":{}}"#),
        ] {
            let request = format!(
                r#"{{"kind": {{"group": "{group}", "version": "v1", "kind": "{kind}"}}, "operation": "CREATE", "object": {object}}}"#
            );
            let view = crate::AdmissionRequestView::from_json(&request).expect("readable");
            let known = view.pod_specs_read_along();
            assert_eq!(known.len(), 1, "{request}");
            let layout = known[0].layout.as_ref().expect("a layout");
            assert!(
                members_of(view.object.expect("object"), layout).is_some(),
                "the layout fits the object's text: {request}"
            );
            let text = view.object.expect("object");
            let ops = set_class(&known[0], "prod-pc");
            let by_layout = apply_to_text_known(text, &ops, known).expect("applies");
            assert_eq!(
                by_layout,
                apply_to_text(text, &ops).expect("applies"),
                "{request}"
            );
            assert_text_patch_agrees(text, &ops);
        }
    }

    /// `readable_by_hosts` says yes exactly when serde_json reads a response carrying the object.
    #[test]
    fn readable_by_hosts_agrees_with_serde_json_reading_a_response() {
        let mut objects = Vec::new();
        for levels in 120..132 {
            objects.push(format!(
                r#"{{"x":{}1{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            ));
            objects.push(format!(
                r#"{{"x":{}[]{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            ));
            objects.push(format!(
                r#"{{"x":{}{{}}{}}}"#,
                "[".repeat(levels),
                "]".repeat(levels)
            ));
        }
        for value in [
            "1e400",
            "-1E400",
            "1e-400",
            "1.5e300",
            r#""\ud800""#,
            r#""\udc00""#,
            r#""\ud800\u0041""#,
            r#""\ud83d\ude00""#,
            r#""\u00e9""#,
            "123456789012345678901234567890",
        ] {
            objects.push(format!(r#"{{"spec":{{"a":{value}}}}}"#));
            if let Some(string) = value.strip_prefix('"') {
                // The same escapes in a key, at two depths.
                objects.push(format!(r#"{{"spec":{{"{string}:1}}}}"#));
                objects.push(format!(r#"{{"a":[{{"b":{{"{string}:[]}}}}]}}"#));
            }
        }
        for object in objects {
            let response = format!(r#"{{"accepted":true,"mutated_object":{object}}}"#);
            let host_reads = serde_json::from_str::<Value>(&response).is_ok();
            assert_eq!(readable_by_hosts(&object).is_ok(), host_reads, "{object}");
        }
    }

    #[test]
    fn text_patches_fail_where_value_patches_fail() {
        for (text, op) in [
            (
                r#"{"spec":{}}"#,
                PatchOp::Remove {
                    path: "/spec/priority".into(),
                },
            ),
            (
                r#"{"spec":[]}"#,
                PatchOp::Add {
                    path: "/spec/x".into(),
                    value: 1.into(),
                },
            ),
            (
                r#"{"spec":{}}"#,
                PatchOp::Replace {
                    path: "/spec/x".into(),
                    value: 1.into(),
                },
            ),
            (
                r#"{"spec":{"a":[]}}"#,
                PatchOp::Add {
                    path: "/spec/a/3/x".into(),
                    value: 1.into(),
                },
            ),
            (
                r#"{}"#,
                PatchOp::Add {
                    path: "nopointer".into(),
                    value: 1.into(),
                },
            ),
        ] {
            let mut value: Value = serde_json::from_str(text).expect("JSON");
            let by_value = apply(&mut value, std::slice::from_ref(&op)).expect_err(text);
            let by_text = apply_to_text(text, std::slice::from_ref(&op)).expect_err(text);
            assert_eq!(by_text.reason, by_value.reason, "{text}");
            assert_eq!(by_text.path, by_value.path, "{text}");
        }
    }

    #[test]
    fn removing_an_absent_member_is_an_error() {
        let mut object = json!({"spec": {}});
        let err = apply(
            &mut object,
            &[PatchOp::Remove {
                path: "/spec/priority".into(),
            }],
        )
        .expect_err("absent");
        assert_eq!(err.reason, "the member is absent");
        assert_eq!(
            object,
            json!({"spec": {}}),
            "the failing remove left the object as it was"
        );
    }
}
