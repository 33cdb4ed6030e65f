//! The decision: given validated settings and an admission request, accept, mutate or reject.

use std::collections::BTreeMap;

use crate::custom::CustomWorkload;
use crate::kinds::{self, PodSpecKind};
use crate::messages;
use crate::mutation::{self, PatchOp};
use crate::request::{AdmissionRequestView, RequestError, pod_specs};
use crate::settings::{ClassPolicy, Settings};

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Let it through unchanged.
    Accept {
        /// The rule that applied, if any.
        rule: Option<String>,
        /// Why.
        reason: AcceptReason,
    },
    /// Let it through with the default class written in.
    Mutate {
        /// The rule whose default applied.
        rule: String,
        /// The class written.
        class: String,
        /// The operations, only on the paths the default concerns.
        patch: Vec<PatchOp>,
    },
    /// Refuse it.
    Reject {
        /// The rule that refused it.
        rule: String,
        /// Why, as data.
        reason: RejectReason,
        /// The message for the user.
        message: String,
    },
}

/// Why a request was accepted unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptReason {
    /// Not a kind, operation or subresource that is checked.
    NotChecked,
    /// The object has no pod spec at its kind's path.
    NoPodSpec,
    /// No rule matches the namespace and there is no fallback.
    Unrestricted,
    /// The class named is allowed.
    ClassAllowed,
    /// No class is named, and the rule neither requires one nor gives a default.
    NoneGiven,
    /// No class is named in a workload template; the rule's default is applied to its Pods when they are created
    /// (templates are only written with `mutateWorkloadTemplates`).
    DefaultLeftToPods,
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RejectReason {
    /// The named class is not allowed by the rule.
    ClassNotAllowed {
        /// The class named.
        class: String,
    },
    /// No class is named and the rule requires one.
    ClassRequired,
}

/// A request that cannot be decided. The policy rejects it (fails closed) with the error's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// The request cannot be read.
    #[error("{}", messages::malformed_request(.0))]
    Request(#[from] RequestError),
    /// The labels of the namespace were needed and could not be read.
    #[error("{}", messages::namespace_lookup_failed(.namespace, .rule, .error))]
    NamespaceLookup {
        /// The namespace.
        namespace: String,
        /// The rule whose selector needed the labels.
        rule: String,
        /// What the lookup said.
        error: String,
    },
}

/// Labels of a namespace, as the lookup callback returns them.
pub type Labels = BTreeMap<String, String>;

/// Decides a request.
///
/// `namespace_labels` is called at most once, and only when a rule's `namespaceSelector` must be evaluated; it
/// returns the namespace's labels or a description of why they could not be read.
pub fn decide(
    settings: &Settings,
    request: &AdmissionRequestView<'_>,
    namespace_labels: impl FnMut(&str) -> Result<Labels, String>,
) -> Result<Outcome, DecisionError> {
    let not_checked = Ok(Outcome::Accept {
        rule: None,
        reason: AcceptReason::NotChecked,
    });
    let builtin = kinds::lookup(&request.kind.group, &request.kind.kind);
    let custom = match builtin {
        Some(_) => None,
        None => settings.custom_workload(&request.kind.group, &request.kind.kind),
    };
    let checks_operation = match (builtin, custom) {
        (Some(kind), _) => kind.checks_operation(&request.operation),
        (None, Some(_)) => CustomWorkload::checks_operation(&request.operation),
        (None, None) => return not_checked,
    };
    if request
        .sub_resource
        .as_deref()
        .is_some_and(|s| !s.is_empty())
        || !checks_operation
    {
        return not_checked;
    }
    let object = request.object.ok_or(RequestError::Missing("object"))?;
    let meta = request.object_meta()?;
    let namespace = match (request.namespace.as_deref(), meta.namespace.as_deref()) {
        (Some(ns), _) if !ns.is_empty() => ns,
        (_, Some(ns)) if !ns.is_empty() => ns,
        _ => return Err(RequestError::Missing("namespace").into()),
    };
    let (kind_name, writes_default, specs) = match (builtin, custom) {
        (Some(kind), _) => (
            kind.kind,
            writes_default(kind, settings),
            pod_specs(object, kind.pod_spec_path)?,
        ),
        (None, Some(custom)) => (
            custom.kind.as_str(),
            settings.mutate_workload_templates,
            crate::custom::pod_specs(object, &custom.path)?,
        ),
        (None, None) => return not_checked,
    };
    // Custom kinds may hold several pod specs: their messages say which one.
    let at = |found: &crate::request::FoundPodSpec<'_>| match custom {
        Some(_) => crate::custom::display_pointer(&found.pointer),
        None => String::new(),
    };
    if specs.is_empty() {
        return Ok(Outcome::Accept {
            rule: None,
            reason: AcceptReason::NoPodSpec,
        });
    }
    let Some((rule, policy)) = select_rule(settings, namespace, namespace_labels)? else {
        return Ok(Outcome::Accept {
            rule: None,
            reason: AcceptReason::Unrestricted,
        });
    };

    let name = meta.display_name();
    let mut patch = Vec::new();
    let mut applied_default = None;
    let mut reason = AcceptReason::ClassAllowed;
    for found in &specs {
        let class = found
            .spec
            .priority_class_name
            .as_deref()
            .filter(|c| !c.is_empty() && !settings.unset_priority_classes.contains(*c));
        match class {
            Some(class) if policy.classes.allows(class) => {}
            Some(class) => {
                return Ok(Outcome::Reject {
                    rule: rule.to_owned(),
                    reason: RejectReason::ClassNotAllowed {
                        class: class.to_owned(),
                    },
                    message: messages::class_not_allowed_at(
                        kind_name,
                        name,
                        namespace,
                        class,
                        &at(found),
                        rule,
                        &policy.classes,
                    ),
                });
            }
            None => match &policy.default_priority_class {
                Some(default) if writes_default => {
                    patch.extend(mutation::set_class(found, default));
                    applied_default = Some(default.clone());
                }
                Some(_) => reason = AcceptReason::DefaultLeftToPods,
                None if policy.require_priority_class => {
                    return Ok(Outcome::Reject {
                        rule: rule.to_owned(),
                        reason: RejectReason::ClassRequired,
                        message: messages::class_required_at(
                            kind_name,
                            name,
                            namespace,
                            &at(found),
                            rule,
                            &policy.classes,
                        ),
                    });
                }
                None => reason = AcceptReason::NoneGiven,
            },
        }
    }
    Ok(match applied_default {
        Some(class) => Outcome::Mutate {
            rule: rule.to_owned(),
            class,
            patch,
        },
        None => Outcome::Accept {
            rule: Some(rule.to_owned()),
            reason,
        },
    })
}

/// Whether a default is written into this kind's pod spec: always for Pods, for templates only when asked.
fn writes_default(kind: &PodSpecKind, settings: &Settings) -> bool {
    kind.is_pod() || settings.mutate_workload_templates
}

/// The first rule that matches the namespace, else the fallback, else none.
pub fn select_rule<'s>(
    settings: &'s Settings,
    namespace: &str,
    namespace_labels: impl FnMut(&str) -> Result<Labels, String>,
) -> Result<Option<(&'s str, &'s ClassPolicy)>, DecisionError> {
    let mut namespace_labels = namespace_labels;
    let mut labels: Option<Labels> = None;
    for rule in &settings.rules {
        if rule.namespaces.contains(namespace) {
            return Ok(Some((&rule.name, &rule.policy)));
        }
        let Some(selector) = &rule.namespace_selector else {
            continue;
        };
        if selector.is_empty() {
            return Ok(Some((&rule.name, &rule.policy)));
        }
        if labels.is_none() {
            labels = Some(namespace_labels(namespace).map_err(|error| {
                DecisionError::NamespaceLookup {
                    namespace: namespace.to_owned(),
                    rule: rule.name.clone(),
                    error,
                }
            })?);
        }
        if labels.as_ref().is_some_and(|l| selector.matches(l)) {
            return Ok(Some((&rule.name, &rule.policy)));
        }
    }
    Ok(settings.fallback_rule())
}
