//! The JSON patch a default produces, and how to apply it to an object without touching anything else.
//!
//! A default is never written by deserializing into typed Kubernetes structs and serializing back, which would
//! drop every field the compiled API version does not know. The object stays a JSON value and only the patch's
//! paths change.

use serde::Serialize;
use serde_json::Value;

use crate::request::FoundPodSpec;

/// One RFC 6902 operation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PatchOp {
    /// Add a member (or replace it if present).
    Add {
        /// JSON pointer.
        path: String,
        /// The new value.
        value: Value,
    },
    /// Replace an existing member.
    Replace {
        /// JSON pointer.
        path: String,
        /// The new value.
        value: Value,
    },
    /// Remove an existing member.
    Remove {
        /// JSON pointer.
        path: String,
    },
}

impl PatchOp {
    /// The operation's path.
    pub fn path(&self) -> &str {
        match self {
            PatchOp::Add { path, .. }
            | PatchOp::Replace { path, .. }
            | PatchOp::Remove { path } => path,
        }
    }
}

/// The operations that give the pod spec at `found` the class `class`.
///
/// Besides setting `priorityClassName`, `priority` and `preemptionPolicy` are removed where present: the
/// apiserver's Priority admission plugin has already filled them in from the old class (or from the cluster's
/// default) and refuses the Pod if they disagree with the new class; without them it computes both again. Pod
/// templates get the same treatment, since the Pods they create would otherwise be refused the same way.
pub fn set_class(found: &FoundPodSpec<'_>, class: &str) -> Vec<PatchOp> {
    let field = |name: &str| format!("{}/{name}", found.pointer);
    let mut ops = Vec::with_capacity(3);
    let value = Value::String(class.to_owned());
    let path = field("priorityClassName");
    ops.push(if found.spec.priority_class_name.is_some() {
        PatchOp::Replace { path, value }
    } else {
        PatchOp::Add { path, value }
    });
    if found.spec.priority {
        ops.push(PatchOp::Remove {
            path: field("priority"),
        });
    }
    if found.spec.preemption_policy {
        ops.push(PatchOp::Remove {
            path: field("preemptionPolicy"),
        });
    }
    ops
}

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

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::PodSpecView;
    use serde_json::json;
    use std::borrow::Cow;

    fn found(
        class: Option<&'static str>,
        priority: bool,
        preemption_policy: bool,
    ) -> FoundPodSpec<'static> {
        FoundPodSpec {
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
