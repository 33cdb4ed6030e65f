//! The settings: what they look like on the wire ([`SettingsDoc`]), and the validated model the decision uses
//! ([`Settings`]).
//!
//! These are types only: reading them from text and validating them is [`crate::read::settings`]'s, which refuses
//! malformed settings with messages that name the field (`rules[1].defaultPriorityClass: ...`).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

pub use crate::model::action::Action;
use crate::model::custom::{CustomWorkload, CustomWorkloadDoc};
use crate::model::pattern::ClassPattern;
use crate::model::priority_class::{PreemptionPolicy, PriorityClassRules};
use crate::model::selector::{LabelSelector, LabelSelectorDoc};

/// The name under which the fallback appears in messages; no rule may take it.
pub const FALLBACK_RULE_NAME: &str = "fallback";

/// The settings as written by the user (YAML or JSON, camelCase). Unknown keys are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsDoc {
    /// Namespace rules, in order: the first rule that matches the namespace applies.
    #[serde(default)]
    pub rules: Vec<RuleDoc>,
    /// What applies to namespaces that no rule matches; absent means they are unrestricted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<RuleDoc>,
    /// Class names that count as "none given", e.g. a cluster `globalDefault` class.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unset_priority_classes: Vec<String>,
    /// Also write the default into the pod templates of workloads.
    #[serde(default)]
    pub mutate_workload_templates: bool,
    /// CRDs that embed pod templates, checked like the built-in workloads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_workloads: Vec<CustomWorkloadDoc>,
    /// Rules for the PriorityClass objects themselves; absent means they are not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_classes: Option<PriorityClassesDoc>,
}

/// A rule, or the fallback (which takes no name or selectors), as written by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleDoc {
    /// A DNS label, unique among the rules; messages name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Namespaces this rule applies to, by exact name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<Vec<String>>,
    /// Namespaces this rule applies to, by their labels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_selector: Option<LabelSelectorDoc>,
    /// Only these classes may be used (exact names or `prefix*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_priority_classes: Option<Vec<String>>,
    /// These classes may not be used (exact names or `prefix*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_priority_classes: Option<Vec<String>>,
    /// The class given to Pods that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_priority_class: Option<String>,
    /// Refuse objects that name no class when there is no default.
    #[serde(default)]
    pub require_priority_class: bool,
    /// The highest priority value the class used may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority: Option<i64>,
    /// The lowest priority value the class used may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_priority: Option<i64>,
    /// The preemption policies the class used may have (`Never`, `PreemptLowerPriority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_preemption_policies: Option<Vec<String>>,
    /// What a refusal by this rule does: `Deny` (the default), `Warn` or `Audit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// Validated settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Settings {
    /// Namespace rules in order; the first match applies.
    pub rules: Vec<Rule>,
    /// What applies where no rule matches; `None` means unrestricted.
    pub fallback: Option<ClassPolicy>,
    /// Class names that count as "none given".
    pub unset_priority_classes: BTreeSet<String>,
    /// Whether defaults are also written into workload pod templates.
    pub mutate_workload_templates: bool,
    /// Custom workload kinds, in the order of the settings.
    pub custom_workloads: Vec<CustomWorkload>,
    /// Rules for PriorityClass objects; `None` means they are not checked.
    pub priority_classes: Option<PriorityClassRules>,
}

/// A validated namespace rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The rule's name.
    pub name: String,
    /// Namespaces matched by name.
    pub namespaces: BTreeSet<String>,
    /// Namespaces matched by labels.
    pub namespace_selector: Option<LabelSelector>,
    /// What the rule allows and defaults.
    pub policy: ClassPolicy,
}

/// What a rule (or the fallback) says about classes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassPolicy {
    /// Which classes may be named.
    pub classes: ClassList,
    /// The class given when none is named.
    pub default_priority_class: Option<String>,
    /// Whether naming no class is refused (when there is no default).
    pub require_priority_class: bool,
    /// The ceiling on the priority value of the class used, if any.
    pub max_priority: Option<i32>,
    /// The floor under the priority value of the class used, if any.
    pub min_priority: Option<i32>,
    /// The preemption policies the class used may have; `None` means any.
    pub allowed_preemption_policies: Option<BTreeSet<PreemptionPolicy>>,
    /// What a refusal by the rule does.
    pub action: Action,
}

impl ClassPolicy {
    /// Whether the rule restricts the values of the class used (`maxPriority`, `minPriority`,
    /// `allowedPreemptionPolicies`), so that the class's priority and preemption policy must be known, and a class
    /// that does not exist is refused.
    pub fn checks_class_values(&self) -> bool {
        self.max_priority.is_some()
            || self.min_priority.is_some()
            || self.allowed_preemption_policies.is_some()
    }
}

/// The `priorityClasses` section as written by the user.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PriorityClassesDoc {
    /// The highest `value` a class not named `system-*` may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_value: Option<i64>,
    /// Whether a class may set `globalDefault: true` (default `true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_global_default: Option<bool>,
    /// Whether a class must have a non-empty `description`.
    #[serde(default)]
    pub require_description: bool,
    /// Classes whose `value` is below this must have `preemptionPolicy: Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_non_preempting_below: Option<i64>,
    /// What a refusal of a PriorityClass object does: `Deny` (the default), `Warn` or `Audit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// Which classes a rule lets through.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ClassList {
    /// Every class.
    #[default]
    Any,
    /// Only classes matching one of these patterns.
    Allowed(BTreeSet<ClassPattern>),
    /// Every class except those matching one of these patterns.
    Denied(BTreeSet<ClassPattern>),
}

impl ClassList {
    /// Whether a class may be used under this list.
    pub fn allows(&self, class: &str) -> bool {
        match self {
            ClassList::Any => true,
            ClassList::Allowed(patterns) => patterns.iter().any(|p| p.matches(class)),
            ClassList::Denied(patterns) => !patterns.iter().any(|p| p.matches(class)),
        }
    }
}

/// One problem in the settings, with the field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where it is, e.g. `rules[0].defaultPriorityClass`, or `settings` for the whole document.
    pub field: String,
    /// What is wrong, lowercase, no trailing period.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Settings that cannot be used: every problem found, in the order of the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", join(.errors))]
pub struct SettingsError {
    /// The problems, at least one.
    pub errors: Vec<FieldError>,
}

fn join(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl SettingsError {
    pub(crate) fn one(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }
}

impl Settings {
    /// Every rule's name and policy in order, the fallback last.
    pub fn policies(&self) -> impl Iterator<Item = (&str, &ClassPolicy)> {
        self.rules
            .iter()
            .map(|r| (r.name.as_str(), &r.policy))
            .chain(self.fallback_rule())
    }

    /// The rule's name and policy for the fallback, as the decision reports it.
    pub fn fallback_rule(&self) -> Option<(&str, &ClassPolicy)> {
        self.fallback.as_ref().map(|p| (FALLBACK_RULE_NAME, p))
    }

    /// The custom workload kind with this group and kind, whatever the version.
    pub fn custom_workload(&self, group: &str, kind: &str) -> Option<&CustomWorkload> {
        self.custom_workloads
            .iter()
            .find(|c| c.group == group && c.kind == kind)
    }

    /// Whether any rule can only be matched by looking at namespace labels.
    pub fn uses_namespace_labels(&self) -> bool {
        self.rules
            .iter()
            .any(|r| r.namespace_selector.as_ref().is_some_and(|s| !s.is_empty()))
    }
}
