//! The JSON patch a default produces: the operations on the paths of one pod spec, as data. Applying them is
//! [`crate::output::mutation`]'s.

use serde::Serialize;
use serde_json::Value;

use crate::read::request::FoundPodSpec;

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
