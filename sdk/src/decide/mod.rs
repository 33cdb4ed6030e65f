//! The decision: given validated settings and an admission request, accept, mutate or reject.

use std::collections::BTreeMap;

use crate::messages;
use crate::model::custom::CustomWorkload;
use crate::model::kinds::{self, PodSpecKind};
use crate::model::priority_class::PreemptionPolicy;
use crate::model::priority_class::{PriorityClassInfo, PriorityClassRules};
use crate::model::settings::{Action, ClassPolicy, Settings};
use crate::read::request::{AdmissionRequestView, FoundPodSpec, RequestError};
use patch::PatchOp;

pub mod patch;
pub mod priority_class;

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
    /// The rule refuses it. Only a rule whose `action` is [`Action::Deny`] refuses the request
    /// ([`Outcome::refuses`]); under `Warn` or `Audit` it is let through, with `message` as a warning or an audit
    /// annotation and with the default the rule gives (`default`).
    Reject {
        /// The rule that refused it.
        rule: String,
        /// Why, as data.
        reason: RejectReason,
        /// The message for the user.
        message: String,
        /// What the refusal does: the rule's `action`.
        action: Action,
        /// The default written into the object, which a rule whose action lets the request through still gives
        /// (a default is not a refusal). Always `None` under [`Action::Deny`].
        default: Option<Defaulted>,
    },
}

/// The default class a request gets, as [`Outcome::Mutate`] writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defaulted {
    /// The class written.
    pub class: String,
    /// The operations, only on the paths the default concerns.
    pub patch: Vec<PatchOp>,
}

impl Outcome {
    /// Whether the request is refused: a [`Outcome::Reject`] whose action is [`Action::Deny`].
    pub fn refuses(&self) -> bool {
        matches!(self, Outcome::Reject { action, .. } if action.refuses())
    }

    /// The patch the request gets: a [`Outcome::Mutate`]'s, or the default of a refusal that lets the request
    /// through; empty otherwise.
    pub fn patch(&self) -> &[PatchOp] {
        match self {
            Outcome::Mutate { patch, .. }
            | Outcome::Reject {
                default: Some(Defaulted { patch, .. }),
                ..
            } => patch,
            _ => &[],
        }
    }
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
    /// The priority of the class used is above the rule's `maxPriority`.
    PriorityTooHigh {
        /// The class the priority comes from (empty when the Pod names none).
        class: String,
        /// The priority.
        priority: i32,
    },
    /// The priority of the class used is below the rule's `minPriority`.
    PriorityTooLow {
        /// The class the priority comes from (empty when the Pod names none).
        class: String,
        /// The priority.
        priority: i32,
    },
    /// The preemption policy of the class used is not in the rule's `allowedPreemptionPolicies`.
    PreemptionNotAllowed {
        /// The class the policy comes from (empty when the Pod names none).
        class: String,
        /// The preemption policy.
        policy: PreemptionPolicy,
    },
    /// The class named, or the rule's default, does not exist.
    ClassDoesNotExist {
        /// The class.
        class: String,
    },
    /// A PriorityClass object that the `priorityClasses` settings refuse.
    PriorityClassRefused {
        /// Every problem, in field order.
        problems: Vec<String>,
    },
}

/// A request that cannot be decided. The policy rejects it (fails closed) with the error's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    /// The request cannot be read.
    #[error("{}", messages::malformed_request(.0))]
    Request(#[from] RequestError),
    /// The labels of the namespace were needed and could not be read.
    #[error("{}", messages::namespace_lookup_failed(.namespace, .rule, .error.as_str()))]
    NamespaceLookup {
        /// The namespace.
        namespace: String,
        /// The rule whose selector needed the labels.
        rule: String,
        /// What the lookup said.
        error: LookupError,
    },
    /// A PriorityClass was needed to check a rule's `maxPriority` or `allowedPreemptionPolicies` and could not be
    /// read (a class that does not exist is not an error, see [`RejectReason::ClassDoesNotExist`]).
    #[error("{}", messages::priority_class_lookup_failed(.class, .rule, .error.as_str()))]
    PriorityClassLookup {
        /// The class.
        class: String,
        /// The rule that needed it.
        rule: String,
        /// What the lookup said.
        error: LookupError,
    },
}

/// Labels of a namespace, as a [`Cluster`] returns them.
pub type Labels = BTreeMap<String, String>;

/// What a PriorityClass lookup found: the class, `None` when it does not exist, or why it could not be read.
pub type ClassLookup = Result<Option<PriorityClassInfo>, LookupError>;

/// Why a [`Cluster`] could not answer, in the words of what it asked (a host, an apiserver, a dump). The
/// decision fails closed with it, naming the namespace or class and the rule that needed it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(String);

impl LookupError {
    /// The reason, as the cluster gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<String> for LookupError {
    fn from(reason: String) -> Self {
        Self(reason)
    }
}

/// What the decision asks of the cluster, and only when a rule needs it: the labels of a namespace (for a rule's
/// `namespaceSelector`) and PriorityClasses (for `maxPriority`, `minPriority` and `allowedPreemptionPolicies`).
///
/// policy.wasm answers through Kubewarden's host capabilities ([`crate::kubewarden::HostCluster`]), the CLI from
/// a cluster dump or the manifests it checks. A closure that reads labels is a cluster without PriorityClass
/// lookups (write its argument's type, `|namespace: &str|`, where Rust cannot infer it); [`Lookups::new`] pairs
/// two closures.
pub trait Cluster {
    /// The labels of `namespace`, or why they could not be read (the decision then fails closed).
    fn namespace_labels(&mut self, namespace: &str) -> Result<Labels, LookupError>;

    /// The PriorityClass named `name`. Without a way to look classes up, every lookup fails, so a rule that
    /// needs a class's values fails closed.
    fn priority_class(&mut self, name: &str) -> ClassLookup {
        let _ = name;
        Err(LookupError(NO_PRIORITY_CLASS_LOOKUP.to_owned()))
    }
}

/// Why a PriorityClass could not be read by a [`Cluster`] that cannot look classes up.
pub const NO_PRIORITY_CLASS_LOOKUP: &str = "no PriorityClass lookup is available";

impl<F: FnMut(&str) -> Result<Labels, String>> Cluster for F {
    fn namespace_labels(&mut self, namespace: &str) -> Result<Labels, LookupError> {
        self(namespace).map_err(LookupError)
    }
}

/// A [`Cluster`] made of two closures: one reads a namespace's labels, the other a PriorityClass.
#[derive(Debug, Clone, Copy)]
pub struct Lookups<L, P> {
    /// Reads the labels of a namespace.
    pub namespace_labels: L,
    /// Reads a PriorityClass.
    pub priority_class: P,
}

impl<L, P> Lookups<L, P>
where
    L: FnMut(&str) -> Result<Labels, String>,
    P: FnMut(&str) -> Result<Option<PriorityClassInfo>, String>,
{
    /// A cluster that reads labels with `namespace_labels` and classes with `priority_class`.
    pub fn new(namespace_labels: L, priority_class: P) -> Self {
        Self {
            namespace_labels,
            priority_class,
        }
    }
}

impl<L, P> Cluster for Lookups<L, P>
where
    L: FnMut(&str) -> Result<Labels, String>,
    P: FnMut(&str) -> Result<Option<PriorityClassInfo>, String>,
{
    fn namespace_labels(&mut self, namespace: &str) -> Result<Labels, LookupError> {
        (self.namespace_labels)(namespace).map_err(LookupError)
    }

    fn priority_class(&mut self, name: &str) -> ClassLookup {
        (self.priority_class)(name).map_err(LookupError)
    }
}

/// Decides a request, asking `cluster` for what the rules need: at most one namespace's labels, and only when a
/// rule's `namespaceSelector` must be evaluated; PriorityClasses only when the rule that applies restricts the
/// values of the class used and they are not in the object (for a class a workload template names, for a rule's
/// default, and for a Pod whose `spec.priority` the apiserver has not filled in).
pub fn decide(
    settings: &Settings,
    request: &AdmissionRequestView<'_>,
    mut cluster: impl Cluster,
) -> Result<Outcome, DecisionError> {
    let not_checked = Ok(Outcome::Accept {
        rule: None,
        reason: AcceptReason::NotChecked,
    });
    if PriorityClassRules::applies_to(
        &request.kind.group,
        &request.kind.kind,
        &request.operation,
        request.sub_resource.as_deref(),
    ) && let Some(rules) = &settings.priority_classes
    {
        let object = request.object.ok_or(RequestError::Missing("object"))?;
        return Ok(match priority_class::check(rules, object)? {
            None => Outcome::Accept {
                rule: Some(crate::model::priority_class::RULE_NAME.to_owned()),
                reason: AcceptReason::ClassAllowed,
            },
            Some(refusal) => Outcome::Reject {
                rule: crate::model::priority_class::RULE_NAME.to_owned(),
                message: refusal.message(),
                reason: RejectReason::PriorityClassRefused {
                    problems: refusal.problems,
                },
                action: rules.action,
                default: None,
            },
        });
    }
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
            request.pod_specs(kind.pod_spec_path)?,
        ),
        (None, Some(custom)) => (
            custom.kind.as_str(),
            settings.mutate_workload_templates,
            std::borrow::Cow::Owned(crate::read::custom::pod_specs(object, &custom.path)?),
        ),
        (None, None) => return not_checked,
    };
    // Custom kinds may hold several pod specs: their messages say which one.
    let at = |found: &crate::read::request::FoundPodSpec<'_>| match custom {
        Some(_) => crate::model::custom::display_pointer(&found.pointer),
        None => String::new(),
    };
    if specs.is_empty() {
        return Ok(Outcome::Accept {
            rule: None,
            reason: AcceptReason::NoPodSpec,
        });
    }
    let Some((rule, policy)) = select_rule(settings, namespace, &mut cluster)? else {
        return Ok(Outcome::Accept {
            rule: None,
            reason: AcceptReason::Unrestricted,
        });
    };

    let name = meta.display_name();
    let mut patch = Vec::new();
    let mut applied_default = None;
    let mut reason = AcceptReason::ClassAllowed;
    // The first refusal of a rule whose action lets the request through: the other pod specs still get the
    // rule's default.
    let mut refusal: Option<(RejectReason, String)> = None;
    let deny = |reason: RejectReason, message: String| {
        Ok(Outcome::Reject {
            rule: rule.to_owned(),
            reason,
            message,
            action: Action::Deny,
            default: None,
        })
    };
    for found in specs.iter() {
        match named_class(found, settings) {
            Some(class) if policy.classes.allows(class) => {}
            Some(class) => {
                if refusal.is_some() {
                    continue;
                }
                let why = RejectReason::ClassNotAllowed {
                    class: class.to_owned(),
                };
                let message = messages::class_not_allowed_at(
                    kind_name,
                    name,
                    namespace,
                    class,
                    &at(found),
                    rule,
                    &policy.classes,
                );
                if policy.action.refuses() {
                    return deny(why, message);
                }
                refusal = Some((why, message));
            }
            None => match &policy.default_priority_class {
                Some(default) if writes_default => {
                    patch.extend(patch::set_class(found, default));
                    applied_default = Some(default.clone());
                }
                Some(_) => reason = AcceptReason::DefaultLeftToPods,
                None if policy.require_priority_class => {
                    if refusal.is_some() {
                        continue;
                    }
                    let message = messages::class_required_at(
                        kind_name,
                        name,
                        namespace,
                        &at(found),
                        rule,
                        &policy.classes,
                    );
                    if policy.action.refuses() {
                        return deny(RejectReason::ClassRequired, message);
                    }
                    refusal = Some((RejectReason::ClassRequired, message));
                }
                None => reason = AcceptReason::NoneGiven,
            },
        }
    }
    // The values of the classes only after the names of every pod spec passed, so that a refusal for a name
    // comes first whichever pod spec holds it (as in the generated CEL, which sees the names only).
    if refusal.is_none() && policy.checks_class_values() {
        let checked = CheckedSpec {
            kind: kind_name,
            is_pod: builtin.is_some_and(PodSpecKind::is_pod),
            name,
            namespace,
            rule,
            policy,
        };
        for found in specs.iter() {
            // The rule's default when the pod spec names no class (written, or left to its Pods).
            let default_used = match named_class(found, settings) {
                Some(_) => None,
                None => policy.default_priority_class.as_deref(),
            };
            if let Some((why, message)) =
                checked.class_values(object, found, default_used, &mut cluster)?
            {
                if policy.action.refuses() {
                    return deny(why, message);
                }
                refusal = Some((why, message));
                break;
            }
        }
    }
    let default = applied_default.map(|class| Defaulted { class, patch });
    Ok(match (refusal, default) {
        (Some((reason, message)), default) => Outcome::Reject {
            rule: rule.to_owned(),
            reason,
            message,
            action: policy.action,
            default,
        },
        (None, Some(Defaulted { class, patch })) => Outcome::Mutate {
            rule: rule.to_owned(),
            class,
            patch,
        },
        (None, None) => Outcome::Accept {
            rule: Some(rule.to_owned()),
            reason,
        },
    })
}

/// A pod spec under a rule that restricts the values of the class used.
/// The class a pod spec names, or `None` when it names none or one of `unsetPriorityClasses`.
fn named_class<'a>(found: &'a FoundPodSpec<'_>, settings: &Settings) -> Option<&'a str> {
    found
        .spec
        .priority_class_name
        .as_deref()
        .filter(|c| !c.is_empty() && !settings.unset_priority_classes.contains(*c))
}

struct CheckedSpec<'a> {
    kind: &'a str,
    /// A Pod (not a template): its `spec.priority` may have been resolved by the apiserver.
    is_pod: bool,
    name: &'a str,
    namespace: &'a str,
    rule: &'a str,
    policy: &'a ClassPolicy,
}

impl CheckedSpec<'_> {
    /// Checks the priority and preemption policy the pod spec gets against `maxPriority` and
    /// `allowedPreemptionPolicies`: the rejection, or `None` when they pass or cannot be known.
    ///
    /// The values are those of the default when the rule gives one (`default_used`); else, for a Pod the
    /// apiserver has resolved (`spec.priority` is set), the Pod's own fields; else those of the class named,
    /// looked up. A Pod template that names no class and gets no default has nothing to check.
    fn class_values(
        &self,
        object: &str,
        found: &FoundPodSpec<'_>,
        default_used: Option<&str>,
        cluster: &mut impl Cluster,
    ) -> Result<Option<(RejectReason, String)>, DecisionError> {
        let named = found
            .spec
            .priority_class_name
            .as_deref()
            .filter(|c| !c.is_empty());
        let (class, info) = match (default_used, named) {
            (None, named) if self.is_pod && found.spec.priority => (
                named.unwrap_or(""),
                resolved_values(object, &found.pointer)?,
            ),
            (Some(class), _) | (None, Some(class)) => match cluster.priority_class(class) {
                Ok(Some(info)) => (class, info),
                Ok(None) => {
                    let message = match default_used {
                        Some(_) => messages::default_class_missing(
                            self.kind,
                            self.name,
                            self.namespace,
                            class,
                            self.rule,
                            &self.policy.classes,
                        ),
                        None => messages::named_class_missing(
                            self.kind,
                            self.name,
                            self.namespace,
                            class,
                            &self.policy.classes,
                        ),
                    };
                    return Ok(Some((
                        RejectReason::ClassDoesNotExist {
                            class: class.to_owned(),
                        },
                        message,
                    )));
                }
                Err(error) => {
                    return Err(DecisionError::PriorityClassLookup {
                        class: class.to_owned(),
                        rule: self.rule.to_owned(),
                        error,
                    });
                }
            },
            (None, None) => return Ok(None),
        };
        let from = messages::from_class(class);
        if let Some(max) = self.policy.max_priority
            && info.value > max
        {
            return Ok(Some((
                RejectReason::PriorityTooHigh {
                    class: class.to_owned(),
                    priority: info.value,
                },
                messages::priority_too_high(
                    self.kind,
                    self.name,
                    self.namespace,
                    &info.value.to_string(),
                    &from,
                    self.rule,
                    max,
                ),
            )));
        }
        if let Some(min) = self.policy.min_priority
            && info.value < min
        {
            return Ok(Some((
                RejectReason::PriorityTooLow {
                    class: class.to_owned(),
                    priority: info.value,
                },
                messages::priority_too_low(
                    self.kind,
                    self.name,
                    self.namespace,
                    &info.value.to_string(),
                    &from,
                    self.rule,
                    min,
                ),
            )));
        }
        if let Some(allowed) = &self.policy.allowed_preemption_policies
            && !allowed.contains(&info.preemption_policy)
        {
            return Ok(Some((
                RejectReason::PreemptionNotAllowed {
                    class: class.to_owned(),
                    policy: info.preemption_policy,
                },
                messages::preemption_not_allowed(
                    self.kind,
                    self.name,
                    self.namespace,
                    info.preemption_policy.as_str(),
                    &from,
                    self.rule,
                    allowed,
                ),
            )));
        }
        Ok(None)
    }
}

/// The priority and preemption policy of a pod spec the apiserver's Priority plugin has resolved
/// (`preemptionPolicy` is `PreemptLowerPriority` when absent, as the plugin sets it).
fn resolved_values(object: &str, pointer: &str) -> Result<PriorityClassInfo, RequestError> {
    let path = format!("object{}", pointer.replace('/', "."));
    let mut r = crate::json::Reader::new(object);
    crate::json::locate(&mut r, pointer).map_err(|m| RequestError::Malformed {
        path: path.clone(),
        message: m.to_owned(),
    })?;
    let (mut priority, mut preemption_policy) = (None, None);
    let names = ["priority", "preemptionPolicy"];
    crate::read::request::read_fields(
        &mut r,
        &path,
        "a pod spec object",
        &names,
        |r, field, member| {
            if field == 0 {
                priority = r.optional_i32().map_err(|m| member.error(m))?;
            } else {
                preemption_policy = r.optional_string("a string").map_err(|m| member.error(m))?;
            }
            Ok(())
        },
    )?;
    Ok(PriorityClassInfo {
        value: priority.unwrap_or_default(),
        preemption_policy: crate::read::priority_class::preemption_policy(
            preemption_policy.as_deref(),
            &path,
        )?,
    })
}

/// Whether a default is written into this kind's pod spec: always for Pods, for templates only when asked.
fn writes_default(kind: &PodSpecKind, settings: &Settings) -> bool {
    kind.is_pod() || settings.mutate_workload_templates
}

/// The first rule that matches the namespace, else the fallback, else none.
pub(crate) fn select_rule<'s>(
    settings: &'s Settings,
    namespace: &str,
    cluster: &mut impl Cluster,
) -> Result<Option<(&'s str, &'s ClassPolicy)>, DecisionError> {
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
            labels = Some(cluster.namespace_labels(namespace).map_err(|error| {
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
