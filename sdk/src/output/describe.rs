//! One description of a manifest's decision for people: the verdict, the rule that decided, a sentence, and the
//! default it gets. `priority-guard check` and the playground render this, so they say the same thing in the same
//! words.

use serde::Serialize;

use crate::decide::patch::PatchOp;
use crate::decide::{AcceptReason, DecisionError, Outcome};
use crate::model::settings::{Action, Settings};
use crate::output::manifest::{ManifestSubject, rule_default};

/// What the policy would do with an object's CREATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Accepted unchanged.
    Allowed,
    /// Accepted, with a default class written into the object or given to its Pods.
    Defaulted,
    /// Refused.
    Denied,
    /// Accepted (with its default, if any), and reported: the refusal of a rule whose action is `Warn` or
    /// `Audit`.
    Warned,
    /// Not a kind the policy checks.
    NotChecked,
}

impl Verdict {
    /// The verdict as a token of machine-readable output (`not-checked`), as serde writes it.
    pub fn token(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Defaulted => "defaulted",
            Verdict::Denied => "denied",
            Verdict::Warned => "warned",
            Verdict::NotChecked => "not-checked",
        }
    }

    /// The verdict as words for people (`not checked`).
    pub fn word(self) -> &'static str {
        match self {
            Verdict::NotChecked => "not checked",
            other => other.token(),
        }
    }
}

/// Where a default applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefaultTarget {
    /// The object itself is patched (Pods; workload templates with `mutateWorkloadTemplates`).
    Object,
    /// The object is accepted as written; the Pods it creates get the default.
    Pods,
}

/// The default class an object gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DefaultClass {
    /// The class.
    pub class: String,
    /// Where it is written.
    pub applies_to: DefaultTarget,
}

/// A decision described for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Description {
    /// The verdict.
    pub verdict: Verdict,
    /// The settings rule that decided (`fallback` for the fallback), if any.
    pub rule: Option<String>,
    /// The policy's message for a refusal; a sentence on why otherwise.
    pub message: String,
    /// The default class, for defaulted objects.
    pub default: Option<DefaultClass>,
    /// The JSON patch the policy would return (RFC 6902), for objects it would change.
    pub patch: Vec<PatchOp>,
    /// For a warned object, the action of the rule that would refuse it: `Warn` (a warning to the client) or
    /// `Audit` (an audit annotation).
    pub action: Option<Action>,
}

/// Describes the decision on `subject` (see [`crate::output::manifest::ManifestRequest::decide`]).
pub fn describe(
    settings: &Settings,
    subject: &ManifestSubject,
    decision: Result<Outcome, DecisionError>,
) -> Description {
    match decision {
        Ok(Outcome::Accept { rule, reason }) => {
            let pods_default = match (reason, &rule) {
                (AcceptReason::DefaultLeftToPods, Some(rule)) => rule_default(settings, rule),
                _ => None,
            };
            let verdict = match (reason, pods_default) {
                (AcceptReason::NotChecked, _) => Verdict::NotChecked,
                (_, Some(_)) => Verdict::Defaulted,
                (_, None) => Verdict::Allowed,
            };
            Description {
                verdict,
                message: accept_message(reason, rule.as_deref(), subject, pods_default),
                default: pods_default.map(|class| DefaultClass {
                    class: class.to_owned(),
                    applies_to: DefaultTarget::Pods,
                }),
                rule,
                patch: Vec::new(),
                action: None,
            }
        }
        Ok(Outcome::Mutate { rule, class, patch }) => Description {
            verdict: Verdict::Defaulted,
            message: format!(
                "names no PriorityClass; rule \"{rule}\" sets its default \"{class}\": {}",
                describe_patch(&patch)
            ),
            default: Some(DefaultClass {
                class,
                applies_to: DefaultTarget::Object,
            }),
            rule: Some(rule),
            patch,
            action: None,
        },
        Ok(Outcome::Reject {
            rule,
            message,
            action,
            default,
            ..
        }) if !action.refuses() => {
            let (default, patch) = match default {
                Some(d) => (
                    Some(DefaultClass {
                        class: d.class,
                        applies_to: DefaultTarget::Object,
                    }),
                    d.patch,
                ),
                None => (None, Vec::new()),
            };
            Description {
                verdict: Verdict::Warned,
                rule: Some(rule),
                message,
                default,
                patch,
                action: Some(action),
            }
        }
        Ok(Outcome::Reject { rule, message, .. }) => Description {
            verdict: Verdict::Denied,
            rule: Some(rule),
            message,
            default: None,
            patch: Vec::new(),
            action: None,
        },
        Err(error) => Description {
            verdict: Verdict::Denied,
            rule: match &error {
                DecisionError::Request(_) => None,
                DecisionError::NamespaceLookup { rule, .. }
                | DecisionError::PriorityClassLookup { rule, .. } => Some(rule.clone()),
            },
            message: error.to_string(),
            default: None,
            patch: Vec::new(),
            action: None,
        },
    }
}

fn accept_message(
    reason: AcceptReason,
    rule: Option<&str>,
    subject: &ManifestSubject,
    pods_default: Option<&str>,
) -> String {
    let rule = rule.unwrap_or("");
    match (reason, pods_default) {
        (AcceptReason::DefaultLeftToPods, Some(class)) => format!(
            "names no PriorityClass; its Pods get the default \"{class}\" of rule \"{rule}\" when they are \
             created (the template is left as written)"
        ),
        (AcceptReason::ClassAllowed, _) => format!("rule \"{rule}\" allows its PriorityClass"),
        (AcceptReason::NoneGiven | AcceptReason::DefaultLeftToPods, _) => {
            format!("names no PriorityClass, which rule \"{rule}\" neither requires nor defaults")
        }
        (AcceptReason::Unrestricted, _) => format!(
            "no rule applies to namespace \"{}\" and there is no fallback",
            subject.namespace
        ),
        (AcceptReason::NoPodSpec, _) => "it has no pod spec".to_owned(),
        (AcceptReason::NotChecked, _) => format!("kind {} is not checked", subject.kind),
    }
}

/// `add /spec/priorityClassName "prod-pc", remove /spec/priority`.
pub fn describe_patch(patch: &[PatchOp]) -> String {
    patch
        .iter()
        .map(|op| match op {
            PatchOp::Add { path, value } => format!("add {path} {value}"),
            PatchOp::Replace { path, value } => format!("replace {path} {value}"),
            PatchOp::Remove { path } => format!("remove {path}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
