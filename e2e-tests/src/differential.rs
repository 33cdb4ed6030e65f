//! The comparison of the differential suite (`tests/e2e/differential.rs`) and of the fuzz target `equivalence`:
//! policy.wasm under the host against the generated ValidatingAdmissionPolicy and MutatingAdmissionPolicy under
//! the in-process CEL engines ([`crate::native`]), each followed by the apiserver's Priority plugin where the
//! apiserver runs it again. Both engines must give the same [`Verdict`], or differ in one of the [`KNOWN`] ways.

use priority_guard_host::PolicyInstance;
use priority_guard_sdk::Settings;
use priority_guard_sdk::output::native::{self, Options};
use serde_json::Value;

use crate::native::{NativePolicies, NativeVerdict};
use crate::priority_plugin;

/// A difference that cannot be removed: its name, why, and how to recognise it (from the request and the two
/// verdicts).
#[derive(Debug)]
pub struct Known {
    pub name: &'static str,
    pub why: &'static str,
    pub recognise: fn(&Value, &Verdict, &Verdict) -> bool,
}

/// Every known difference (docs/semantics.md lists the same, with the same names).
pub const KNOWN: &[Known] = &[
    Known {
        name: "namespace-unreadable",
        why: "When the policy cannot read the namespace's labels it fails closed; the apiserver reads the namespace \
              itself (and refuses requests for a namespace that does not exist before any admission policy runs), \
              so the generated policies never face this.",
        recognise: |_request, wasm, _native| {
            wasm.message.as_deref().is_some_and(|m| {
                m.starts_with("cannot decide the PriorityClass rule for namespace")
            })
        },
    },
    Known {
        name: "template-class-values",
        why: "For a workload, the policy looks up the PriorityClass its pod template names (or the default its Pods \
              will get) to check maxPriority, minPriority, allowedPreemptionPolicies and that the class exists; CEL cannot read \
              other objects, so the generated policy lets the workload through and its Pods are checked when they \
              are created.",
        recognise: |request, wasm, native| {
            request["kind"]["kind"] != "Pod"
                && native.allowed
                && native.finding().is_none()
                && wasm.finding().is_some_and(is_class_value_message)
        },
    },
    Known {
        name: "pod-not-resolved",
        why: "A Pod without spec.priority has not been through the apiserver's Priority plugin (never the case in a \
              cluster, but possible in fixtures and before the cluster): the policy looks its class up, CEL can only \
              read spec.priority and lets it through.",
        recognise: |request, wasm, native| {
            request["kind"]["kind"] == "Pod"
                && request["object"]["spec"].get("priority").is_none()
                && native.allowed
                && native.finding().is_none()
                && wasm.finding().is_some_and(is_class_value_message)
        },
    },
    Known {
        name: "class-does-not-exist",
        why: "A rule with maxPriority, minPriority or allowedPreemptionPolicies whose default does not exist: the policy refuses \
              the Pod naming the missing class; with the generated policies the apiserver's Priority plugin \
              refuses it after the MutatingAdmissionPolicy set the default (\"no PriorityClass with name ... was \
              found\").",
        recognise: |_request, wasm, native| {
            !wasm.allowed
                && !native.allowed
                && wasm
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("\" does not exist:"))
                && native
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("no PriorityClass with name"))
        },
    },
];

/// Whether a refusal is about the values of a class looked up (`maxPriority`, `allowedPreemptionPolicies`) or
/// a class that does not exist.
fn is_class_value_message(message: &str) -> bool {
    message.contains(" has priority ")
        || message.contains(" has preemptionPolicy ")
        || message.contains("\" does not exist: ")
}

/// What an engine decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub allowed: bool,
    pub message: Option<String>,
    /// The object as stored when allowed.
    pub object: Option<Value>,
    /// The warnings of an allowed request (a Warn rule's refusal).
    pub warnings: Vec<String>,
    /// The audit messages of an allowed request (an Audit rule's refusal).
    pub audit: Vec<String>,
}

impl Verdict {
    fn denied(message: String) -> Self {
        Self {
            allowed: false,
            message: Some(message),
            object: None,
            warnings: Vec::new(),
            audit: Vec::new(),
        }
    }

    /// The refusal's message, whatever its action: the denial, the warning or the audit message.
    pub fn finding(&self) -> Option<&str> {
        self.message
            .as_deref()
            .or(self.warnings.first().map(String::as_str))
            .or(self.audit.first().map(String::as_str))
    }
}

/// The object a Pod becomes when the apiserver runs its Priority plugin again after a mutation; other kinds are
/// left as they are.
fn rerun_plugins(
    request: &Value,
    classes: &priority_plugin::Classes,
    object: &Value,
) -> Result<Value, String> {
    if request["kind"]["kind"] == "Pod" && request["kind"]["group"] == "" {
        priority_plugin::resolve(object, classes)
    } else {
        Ok(object.clone())
    }
}

pub fn wasm_verdict(
    instance: &PolicyInstance,
    request: &Value,
    settings: &Value,
    classes: &priority_plugin::Classes,
) -> Verdict {
    let response = instance
        .validate(request, settings)
        .unwrap_or_else(|e| panic!("policy.wasm failed on {request}: {e:#}"));
    let original = request.get("object").filter(|o| !o.is_null()).cloned();
    let warnings = response.warnings.clone().unwrap_or_default();
    let audit: Vec<String> = match &response.audit_annotations {
        None => Vec::new(),
        Some(annotations) => {
            assert!(
                annotations.keys().all(|k| k == "violation"),
                "audit annotations other than violation: {annotations:?}"
            );
            annotations.values().cloned().collect()
        }
    };
    assert!(
        response.accepted || (warnings.is_empty() && audit.is_empty()),
        "a refusal with warnings or audit annotations: {response:?}"
    );
    if let Some(mutated) = response.mutated_object.filter(|_| response.accepted) {
        // The apiserver runs its built-in plugins again on the object the webhook changed.
        return match rerun_plugins(request, classes, &mutated) {
            Ok(object) => Verdict {
                allowed: true,
                message: None,
                object: Some(object),
                warnings,
                audit,
            },
            Err(message) => Verdict::denied(message),
        };
    }
    Verdict {
        allowed: response.accepted,
        message: response.message.filter(|_| !response.accepted),
        object: if response.accepted { original } else { None },
        warnings,
        audit,
    }
}

pub fn native_verdict(
    policies: &NativePolicies,
    request: &Value,
    namespace: Option<&Value>,
    classes: &priority_plugin::Classes,
) -> Verdict {
    match policies
        .admit_with(request, namespace, |object| {
            rerun_plugins(request, classes, object)
        })
        .unwrap_or_else(|e| panic!("the native engine failed on {request}: {e:#}"))
    {
        NativeVerdict::Allowed {
            object,
            warnings,
            audit,
            ..
        } => {
            assert!(
                warnings.len() + audit.len() <= 1,
                "at most one validation fails for a request: {warnings:#?} {audit:#?}\n{request}"
            );
            Verdict {
                allowed: true,
                message: None,
                object,
                warnings,
                audit,
            }
        }
        NativeVerdict::Denied { messages } => {
            assert_eq!(
                messages.len(),
                1,
                "at most one validation fails for a request: {messages:#?}\n{request}"
            );
            Verdict::denied(messages.into_iter().next().unwrap_or_default())
        }
    }
}

/// The generated YAML for settings, compiled.
pub fn native_policies(settings: &Value) -> NativePolicies {
    let settings = Settings::from_value(settings.clone()).expect("valid settings");
    let generated = native::generate(&settings, &Options::default());
    let yaml = native::to_yaml(&generated.documents).expect("YAML");
    NativePolicies::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e:#}\n{yaml}"))
}

/// The known difference that explains why the engines' verdicts on `request` differ, if one does.
pub fn known_difference(
    request: &Value,
    wasm: &Verdict,
    native: &Verdict,
) -> Option<&'static Known> {
    KNOWN.iter().find(|k| (k.recognise)(request, wasm, native))
}
