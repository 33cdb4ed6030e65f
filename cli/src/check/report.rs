//! The results of a check, independent of how they are printed.
//!
//! One [`Result`](CheckResult) per document (per item of a `List`): its place, which object it is, and the
//! verdict. The `json` format prints these records as they are, so their field names are part of the stable
//! JSON schema (see the README).

use priority_guard_sdk::decide::RejectReason;
use priority_guard_sdk::decide::patch::PatchOp;
use priority_guard_sdk::model::settings::Action;
use priority_guard_sdk::output::describe::{self, DefaultClass, describe};
use priority_guard_sdk::output::manifest::ManifestSubject;
use priority_guard_sdk::{DecisionError, Outcome, Settings};
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
    /// Accepted (with its default, if any), and reported as a warning: the refusal of a rule whose action is
    /// `Warn` or `Audit`.
    Warned,
    /// Not a document the check can read.
    Malformed,
    /// Not a kind the policy checks (or not a Kubernetes object at all).
    NotChecked,
}

impl From<describe::Verdict> for Verdict {
    fn from(verdict: describe::Verdict) -> Self {
        match verdict {
            describe::Verdict::Allowed => Verdict::Allowed,
            describe::Verdict::Defaulted => Verdict::Defaulted,
            describe::Verdict::Denied => Verdict::Denied,
            describe::Verdict::Warned => Verdict::Warned,
            describe::Verdict::NotChecked => Verdict::NotChecked,
        }
    }
}

impl Verdict {
    /// The word the text formats use.
    pub(crate) fn word(self) -> &'static str {
        match self {
            Verdict::Allowed => "allowed",
            Verdict::Defaulted => "defaulted",
            Verdict::Denied => "denied",
            Verdict::Warned => "warned",
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

/// The finding of a refusal, from its reason (`None` for an accepted or defaulted object). A default is one
/// finding, [`rule_ids::DEFAULTED`], whether the object or its Pods get it.
pub(crate) fn refusal_finding(decision: &Result<Outcome, DecisionError>) -> Option<&'static str> {
    match decision {
        Ok(Outcome::Accept { .. } | Outcome::Mutate { .. }) => None,
        Ok(Outcome::Reject { reason, .. }) => Some(match reason {
            RejectReason::ClassNotAllowed { .. } => rule_ids::NOT_ALLOWED,
            RejectReason::ClassRequired => rule_ids::REQUIRED,
            RejectReason::PriorityTooHigh { .. }
            | RejectReason::PriorityTooLow { .. }
            | RejectReason::PreemptionNotAllowed { .. }
            | RejectReason::ClassDoesNotExist { .. } => rule_ids::VALUES,
            RejectReason::PriorityClassRefused { .. } => rule_ids::CLASS_OBJECT,
        }),
        Err(DecisionError::Request(_)) => Some(rule_ids::UNREADABLE_OBJECT),
        Err(DecisionError::NamespaceLookup { .. }) => Some(rule_ids::NAMESPACE_LABELS),
        Err(DecisionError::PriorityClassLookup { .. }) => Some(rule_ids::CLASS_LOOKUP),
    }
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
    /// The finding's identifier, for denied, warned, defaulted and malformed documents.
    pub rule_id: Option<&'static str>,
    /// For a warned document, the action of the rule: `Warn` or `Audit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
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
            action: None,
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
            action: None,
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
            action: None,
            message: String::new(),
            default: None,
            patch: Vec::new(),
        };
        let refusal = refusal_finding(&decision);
        let description = describe(settings, &subject, decision);
        result.rule_id = refusal
            .or((description.verdict == describe::Verdict::Defaulted)
                .then_some(rule_ids::DEFAULTED));
        result.verdict = description.verdict.into();
        result.rule = description.rule;
        result.message = description.message;
        result.default = description.default;
        result.patch = description.patch;
        result.action = description.action;
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
    /// Checked and accepted with a warning (a `Warn` or `Audit` rule's refusal).
    pub warned: usize,
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
                Verdict::Warned => summary.warned += 1,
                Verdict::Malformed => summary.malformed += 1,
                Verdict::NotChecked => summary.not_checked += 1,
            }
        }
        summary.checked = summary.allowed + summary.defaulted + summary.denied + summary.warned;
        summary
    }

    /// `12 documents, 8 checked: 5 allowed, 2 defaulted, 1 denied; 1 malformed; 3 not checked`, with
    /// `, 1 warned` after the denied when a document is warned.
    pub(crate) fn line(&self) -> String {
        let warned = if self.warned > 0 {
            format!(", {} warned", self.warned)
        } else {
            String::new()
        };
        format!(
            "{} documents, {} checked: {} allowed, {} defaulted, {} denied{warned}; {} malformed; {} not checked",
            self.documents,
            self.checked,
            self.allowed,
            self.defaulted,
            self.denied,
            self.malformed,
            self.not_checked
        )
    }

    /// The exit status: 2 when a document or input is unusable, else 1 when one is denied (or warned, with
    /// `fail_on_warnings`), else 0.
    pub(crate) fn exit_code(&self, fail_on_warnings: bool) -> u8 {
        if self.malformed > 0 {
            2
        } else if self.denied > 0 || (fail_on_warnings && self.warned > 0) {
            1
        } else {
            0
        }
    }
}
