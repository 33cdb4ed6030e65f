//! PriorityClass objects as the rules see them: what the decision needs to know of a class it looks up
//! ([`PriorityClassInfo`]), and the validated `priorityClasses` settings that guard the creation and update of
//! classes ([`PriorityClassRules`]).

use std::fmt;

/// The API group of PriorityClass.
pub const GROUP: &str = "scheduling.k8s.io";
/// The kind.
pub const KIND: &str = "PriorityClass";
/// The API version the policy reads classes at.
pub const API_VERSION: &str = "scheduling.k8s.io/v1";
/// The resource, for admission rules.
pub const RESOURCE: &str = "priorityclasses";
/// The operations that are checked.
pub const OPERATIONS: &[&str] = &["CREATE", "UPDATE"];
/// The name of the settings section, named in rejections as the rule that refused.
pub const RULE_NAME: &str = "priorityClasses";
/// The name prefix of Kubernetes' own classes, which the `maxValue` ceiling does not apply to.
pub const SYSTEM_PREFIX: &str = "system-";

/// What the decision needs of a PriorityClass it looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityClassInfo {
    /// `value`.
    pub value: i32,
    /// `preemptionPolicy` (`PreemptLowerPriority` when absent, as Kubernetes defaults it).
    pub preemption_policy: PreemptionPolicy,
}

/// The validated `priorityClasses` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityClassRules {
    /// The highest `value` of a class not named `system-*`.
    pub max_value: Option<i32>,
    /// Whether `globalDefault: true` is allowed.
    pub allow_global_default: bool,
    /// Whether a non-empty `description` is required.
    pub require_description: bool,
    /// Classes with a `value` below this must have `preemptionPolicy: Never`.
    pub require_non_preempting_below: Option<i32>,
    /// What a refusal does.
    pub action: crate::model::action::Action,
}

impl PriorityClassRules {
    /// Whether a request is one these rules check: a PriorityClass, CREATE or UPDATE, no subresource.
    pub fn applies_to(
        group: &str,
        kind: &str,
        operation: &str,
        sub_resource: Option<&str>,
    ) -> bool {
        group == GROUP
            && kind == KIND
            && OPERATIONS.contains(&operation)
            && sub_resource.is_none_or(str::is_empty)
    }
}

/// A PriorityClass's `preemptionPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PreemptionPolicy {
    /// `Never`: the Pods wait in the queue and never preempt others.
    Never,
    /// `PreemptLowerPriority`, Kubernetes' default.
    PreemptLowerPriority,
}

impl PreemptionPolicy {
    /// Every policy, in the order messages list them.
    pub const ALL: [PreemptionPolicy; 2] = [Self::Never, Self::PreemptLowerPriority];

    /// The name as Kubernetes writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Never => "Never",
            Self::PreemptLowerPriority => "PreemptLowerPriority",
        }
    }

    /// Parses the name as Kubernetes writes it.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }
}

impl fmt::Display for PreemptionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
