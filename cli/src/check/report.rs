//! The results of a check, independent of how they are printed.
//!
//! One [`Result`](CheckResult) per document (per item of a `List`): its place, which object it is, and the
//! verdict. The `json` format prints these records as they are, so their field names are part of the stable
//! JSON schema (see the README).

use priority_guard_sdk::decide::patch::PatchOp;
use priority_guard_sdk::output::manifest::{ManifestSubject, rule_default};
use priority_guard_sdk::{AcceptReason, DecisionError, Outcome, Settings};
use serde::Serialize;

/// What the policy would do with a document's CREATE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Verdict {
    /// Accepted unchanged.
    Allowed,
    /// Accepted, with a default class written into the object or given to its Pods.
    Defaulted,
    /// Refused.
    Denied,
    /// Not a document the check can read.
    Malformed,
    /// Not a kind the policy checks (or not a Kubernetes object at all).
    NotChecked,
}

impl Verdict {
    /// The word the text formats use.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Defaulted => "defaulted",
            Verdict::Denied => "denied",
            Verdict::Malformed => "malformed",
            Verdict::NotChecked => "not checked",
        }
    }
}

/// The identifiers of the findings, as SARIF rules and in the `ruleId` of the JSON output.
pub(crate) mod rule_ids {
    /// A class the namespace's rule does not allow.
    pub(crate) const NOT_ALLOWED: &str = "priority-class-not-allowed";
    /// No class, and the namespace's rule requires one.
    pub(crate) const REQUIRED: &str = "priority-class-required";
    /// The policy would refuse an object it cannot read (e.g. a pod spec that is not an object).
    pub(crate) const UNREADABLE_OBJECT: &str = "unreadable-object";
    /// The labels of the namespace could not be read for a selector rule.
    pub(crate) const NAMESPACE_LABELS: &str = "namespace-labels-unreadable";
    /// The class used has a priority or preemption policy the rule does not allow, or does not exist.
    pub(crate) const VALUES: &str = "priority-class-values-not-allowed";
    /// A PriorityClass needed to check the rule's maxPriority or allowedPreemptionPolicies could not be read.
    pub(crate) const CLASS_LOOKUP: &str = "priority-class-unreadable";
    /// A PriorityClass object the priorityClasses settings refuse.
    pub(crate) const CLASS_OBJECT: &str = "priority-class-object-refused";
    /// A default class would be written into the object, or given to its Pods.
    pub(crate) const DEFAULTED: &str = "priority-class-defaulted";
    /// A document that cannot be parsed or is not a readable Kubernetes object.
    pub(crate) const MALFORMED: &str = "malformed-document";
}

/// Where the default applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum DefaultTarget {
    /// The object itself is patched (Pods; workload templates with `mutateWorkloadTemplates`).
    Object,
    /// The object is accepted as written; the Pods it creates get the default.
    Pods,
}

/// The default class a document gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DefaultClass {
    /// The class.
    pub class: String,
    /// Where it is written.
    pub applies_to: DefaultTarget,
}

/// The result for one document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CheckResult {
    /// The file as given (or found under a given directory); `-` input is named by `--stdin-name`.
    pub file: String,
    /// The line the document starts on (for a parse error, the line of the error).
    pub line: usize,
    /// `apiVersion`, `kind`, `name`, `namespace`; absent for a document that is not a readable object.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub object: Option<ManifestSubject>,
    /// The verdict.
    pub verdict: Verdict,
    /// The settings rule that decided (`fallback` for the fallback), if any.
    pub rule: Option<String>,
    /// The finding's identifier, for denied, defaulted and malformed documents.
    pub rule_id: Option<&'static str>,
    /// The policy's message for a denial; a description otherwise.
    pub message: String,
    /// The default class, for defaulted documents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<DefaultClass>,
    /// The JSON patch the policy would return (RFC 6902), for objects it would change.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub patch: Vec<PatchOp>,
}

impl CheckResult {
    /// A document that cannot be read.
    pub(crate) fn malformed(file: &str, line: usize, message: String) -> Self {
        Self {
            file: file.to_owned(),
            line,
            object: None,
            verdict: Verdict::Malformed,
            rule: None,
            rule_id: Some(rule_ids::MALFORMED),
            message,
            default: None,
            patch: Vec::new(),
        }
    }

    /// A document that is not checked.
    pub(crate) fn not_checked(
        file: &str,
        line: usize,
        object: Option<ManifestSubject>,
        message: String,
    ) -> Self {
        Self {
            file: file.to_owned(),
            line,
            object,
            verdict: Verdict::NotChecked,
            rule: None,
            rule_id: None,
            message,
            default: None,
            patch: Vec::new(),
        }
    }

    /// The policy's decision on a checked object.
    pub(crate) fn decided(
        file: &str,
        line: usize,
        subject: ManifestSubject,
        decision: Result<Outcome, DecisionError>,
        settings: &Settings,
    ) -> Self {
        let mut result = Self {
            file: file.to_owned(),
            line,
            object: None,
            verdict: Verdict::Allowed,
            rule: None,
            rule_id: None,
            message: String::new(),
            default: None,
            patch: Vec::new(),
        };
        match decision {
            Ok(Outcome::Accept { rule, reason }) => {
                let pods_default = match (reason, &rule) {
                    (AcceptReason::DefaultLeftToPods, Some(rule)) => rule_default(settings, rule),
                    _ => None,
                };
                result.message = accept_message(reason, rule.as_deref(), &subject, pods_default);
                if let Some(class) = pods_default {
                    result.verdict = Verdict::Defaulted;
                    result.rule_id = Some(rule_ids::DEFAULTED);
                    result.default = Some(DefaultClass {
                        class: class.to_owned(),
                        applies_to: DefaultTarget::Pods,
                    });
                }
                result.rule = rule;
            }
            Ok(Outcome::Mutate { rule, class, patch }) => {
                result.verdict = Verdict::Defaulted;
                result.rule_id = Some(rule_ids::DEFAULTED);
                result.message = format!(
                    "names no PriorityClass; rule \"{rule}\" sets its default \"{class}\": {}",
                    describe_patch(&patch)
                );
                result.default = Some(DefaultClass {
                    class,
                    applies_to: DefaultTarget::Object,
                });
                result.rule = Some(rule);
                result.patch = patch;
            }
            Ok(Outcome::Reject {
                rule,
                reason,
                message,
            }) => {
                result.verdict = Verdict::Denied;
                result.rule_id = Some(match reason {
                    priority_guard_sdk::decide::RejectReason::ClassNotAllowed { .. } => {
                        rule_ids::NOT_ALLOWED
                    }
                    priority_guard_sdk::decide::RejectReason::ClassRequired => rule_ids::REQUIRED,
                    priority_guard_sdk::decide::RejectReason::PriorityTooHigh { .. }
                    | priority_guard_sdk::decide::RejectReason::PriorityTooLow { .. }
                    | priority_guard_sdk::decide::RejectReason::PreemptionNotAllowed { .. }
                    | priority_guard_sdk::decide::RejectReason::ClassDoesNotExist { .. } => {
                        rule_ids::VALUES
                    }
                    priority_guard_sdk::decide::RejectReason::PriorityClassRefused { .. } => {
                        rule_ids::CLASS_OBJECT
                    }
                });
                result.rule = Some(rule);
                result.message = message;
            }
            Err(error) => {
                result.verdict = Verdict::Denied;
                result.rule_id = Some(match &error {
                    DecisionError::Request(_) => rule_ids::UNREADABLE_OBJECT,
                    DecisionError::NamespaceLookup { rule, .. } => {
                        result.rule = Some(rule.clone());
                        rule_ids::NAMESPACE_LABELS
                    }
                    DecisionError::PriorityClassLookup { rule, .. } => {
                        result.rule = Some(rule.clone());
                        rule_ids::CLASS_LOOKUP
                    }
                });
                result.message = error.to_string();
            }
        }
        result.object = Some(subject);
        result
    }

    /// `Deployment "web" in namespace "prod"`, or `document` for one that is not a readable object.
    pub(crate) fn subject(&self) -> String {
        match &self.object {
            Some(o) => priority_guard_sdk::messages::subject(&o.kind, &o.name, &o.namespace),
            None => "document".to_owned(),
        }
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
pub(crate) fn describe_patch(patch: &[PatchOp]) -> String {
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

/// Counts of the verdicts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Summary {
    /// Every document (List items counted one by one).
    pub documents: usize,
    /// Documents of a checked kind.
    pub checked: usize,
    /// Checked and allowed unchanged.
    pub allowed: usize,
    /// Checked and given a default.
    pub defaulted: usize,
    /// Checked and refused.
    pub denied: usize,
    /// Not readable.
    pub malformed: usize,
    /// Not of a checked kind.
    pub not_checked: usize,
}

impl Summary {
    /// Counts `results`.
    pub(crate) fn of(results: &[CheckResult]) -> Self {
        let mut summary = Summary {
            documents: results.len(),
            ..Summary::default()
        };
        for result in results {
            match result.verdict {
                Verdict::Allowed => summary.allowed += 1,
                Verdict::Defaulted => summary.defaulted += 1,
                Verdict::Denied => summary.denied += 1,
                Verdict::Malformed => summary.malformed += 1,
                Verdict::NotChecked => summary.not_checked += 1,
            }
        }
        summary.checked = summary.allowed + summary.defaulted + summary.denied;
        summary
    }

    /// `12 documents, 8 checked: 5 allowed, 2 defaulted, 1 denied; 1 malformed; 3 not checked`.
    pub(crate) fn line(&self) -> String {
        format!(
            "{} documents, {} checked: {} allowed, {} defaulted, {} denied; {} malformed; {} not checked",
            self.documents,
            self.checked,
            self.allowed,
            self.defaulted,
            self.denied,
            self.malformed,
            self.not_checked
        )
    }

    /// The exit status: 2 when a document or input is unusable, else 1 when one is denied, else 0.
    pub(crate) fn exit_code(&self) -> u8 {
        if self.malformed > 0 {
            2
        } else if self.denied > 0 {
            1
        } else {
            0
        }
    }
}
