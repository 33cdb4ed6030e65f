//! The settings: what they look like on the wire ([`SettingsDoc`]), and the validated model the decision uses
//! ([`Settings`]).
//!
//! Parsing and validation happen together in [`Settings::from_value`], which refuses malformed settings with
//! messages that name the field (`rules[1].defaultPriorityClass: ...`).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::custom::{CustomWorkload, CustomWorkloadDoc};
use crate::pattern::ClassPattern;
use crate::selector::{LabelSelector, LabelSelectorDoc};

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
    /// The preemption policies the class used may have (`Never`, `PreemptLowerPriority`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_preemption_policies: Option<Vec<String>>,
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
    pub priority_classes: Option<crate::priority_classes::PriorityClassRules>,
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
    /// The preemption policies the class used may have; `None` means any.
    pub allowed_preemption_policies: Option<BTreeSet<PreemptionPolicy>>,
}

impl ClassPolicy {
    /// Whether the rule restricts the values of the class used (`maxPriority`, `allowedPreemptionPolicies`), so
    /// that the class's priority and preemption policy must be known, and a class that does not exist is refused.
    pub fn checks_class_values(&self) -> bool {
        self.max_priority.is_some() || self.allowed_preemption_policies.is_some()
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
    /// Parses and validates settings from JSON text (what Kubewarden hands a policy). `null` means `{}`.
    pub fn from_json_slice(json: &[u8]) -> Result<Self, SettingsError> {
        let text = std::str::from_utf8(json).map_err(|e| {
            SettingsError::one("settings", format!("not valid JSON: not UTF-8: {e}"))
        })?;
        Self::from_owned_doc(crate::settings_reader::read(text)?)
    }

    /// [`Settings::from_json_slice`] for text this crate's reader has already checked to be JSON, such as
    /// [`crate::Payload`]'s `settings`: the syntax is not checked a second time. (Text that is not JSON is still
    /// refused, by the reading of the fields.)
    pub fn from_checked_json(text: &str) -> Result<Self, SettingsError> {
        Self::from_owned_doc(crate::settings_reader::read_checked(text)?)
    }

    /// Parses and validates settings from a JSON value (YAML callers convert first). `null` means `{}`.
    pub fn from_value(value: serde_json::Value) -> Result<Self, SettingsError> {
        Self::from_json_slice(value.to_string().as_bytes())
    }

    /// Validates parsed settings.
    pub fn from_doc(doc: &SettingsDoc) -> Result<Self, SettingsError> {
        Self::from_owned_doc(doc.clone())
    }

    /// [`Settings::from_doc`], keeping the doc's strings instead of copying them: a fresh instance validates its
    /// settings on its first request, where every allocation counts.
    pub fn from_owned_doc(doc: SettingsDoc) -> Result<Self, SettingsError> {
        let mut errors = Vec::new();
        let mut push = |field: String, message: String| errors.push(FieldError { field, message });

        let mut unset = BTreeSet::new();
        for (i, class) in doc.unset_priority_classes.into_iter().enumerate() {
            match crate::names::dns_subdomain(&class) {
                Ok(()) => {
                    unset.insert(class);
                }
                Err(e) => push(format!("unsetPriorityClasses[{i}]"), e),
            }
        }

        let mut rules: Vec<Rule> = Vec::with_capacity(doc.rules.len());
        for (i, mut rule) in doc.rules.into_iter().enumerate() {
            // Written out only in messages: a fresh instance validates its settings on its first request.
            let at = RuleAt(i);
            let name = match rule.name.take() {
                None => {
                    push(format!("{at}.name"), "is required".into());
                    String::new()
                }
                Some(name) => {
                    if let Err(e) = crate::names::dns_label(&name) {
                        push(format!("{at}.name"), e);
                    } else if name == FALLBACK_RULE_NAME {
                        push(
                            format!("{at}.name"),
                            format!("\"{name}\" is reserved for the fallback"),
                        );
                    } else if let Some(first) = rules.iter().position(|r| r.name == name) {
                        // The first rule of that name is the first use of a valid one: an earlier rule with
                        // this name passed the same checks above.
                        push(
                            format!("{at}.name"),
                            format!("\"{name}\" is already the name of rules[{first}]"),
                        );
                    }
                    name
                }
            };
            let lists_namespaces = rule.namespaces.as_ref().is_some_and(|ns| !ns.is_empty());
            let mut namespaces = BTreeSet::new();
            for (j, ns) in rule.namespaces.take().into_iter().flatten().enumerate() {
                match crate::names::dns_label(&ns) {
                    Ok(()) => {
                        namespaces.insert(ns);
                    }
                    Err(e) => push(format!("{at}.namespaces[{j}]"), e),
                }
            }
            let namespace_selector = match &rule.namespace_selector {
                None => None,
                Some(doc) => {
                    match LabelSelector::from_doc(doc, &format_args!("{at}.namespaceSelector")) {
                        Ok(selector) => Some(selector),
                        Err(problems) => {
                            for (field, message) in problems {
                                push(field, message);
                            }
                            None
                        }
                    }
                }
            };
            if !lists_namespaces && rule.namespace_selector.is_none() {
                push(
                    at.to_string(),
                    "a rule needs namespaces or a namespaceSelector to say where it applies".into(),
                );
            }
            let policy = class_policy(&mut rule, &at, &unset, &mut push);
            rules.push(Rule {
                name,
                namespaces,
                namespace_selector,
                policy,
            });
        }

        let fallback = doc.fallback.map(|mut fallback| {
            for (set, key) in [
                (fallback.name.is_some(), "name"),
                (fallback.namespaces.is_some(), "namespaces"),
                (fallback.namespace_selector.is_some(), "namespaceSelector"),
            ] {
                if set {
                    push(
                        format!("fallback.{key}"),
                        "the fallback applies to every namespace that no rule matches and takes no name or namespaces"
                            .into(),
                    );
                }
            }
            class_policy(&mut fallback, &"fallback", &unset, &mut push)
        });

        let custom_workloads = crate::custom::validate(&doc.custom_workloads, &mut push);
        let priority_classes = doc.priority_classes.as_ref().map(|pc| {
            let at = "priorityClasses";
            crate::priority_classes::PriorityClassRules {
                max_value: pc
                    .max_value
                    .and_then(|v| int32(v, &format_args!("{at}.maxValue"), &mut push)),
                allow_global_default: pc.allow_global_default.unwrap_or(true),
                require_description: pc.require_description,
                require_non_preempting_below: pc.require_non_preempting_below.and_then(|v| {
                    int32(
                        v,
                        &format_args!("{at}.requireNonPreemptingBelow"),
                        &mut push,
                    )
                }),
            }
        });

        if errors.is_empty() {
            Ok(Settings {
                rules,
                fallback,
                unset_priority_classes: unset,
                mutate_workload_templates: doc.mutate_workload_templates,
                custom_workloads,
                priority_classes,
            })
        } else {
            Err(SettingsError { errors })
        }
    }

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

/// Where a rule is in the settings (`rules[0]`), as messages write it.
struct RuleAt(usize);

impl std::fmt::Display for RuleAt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "rules[{}]", self.0)
    }
}

/// The class policy of a rule, taking its lists and default out of `rule`.
fn class_policy(
    rule: &mut RuleDoc,
    at: &dyn std::fmt::Display,
    unset: &BTreeSet<String>,
    push: &mut impl FnMut(String, String),
) -> ClassPolicy {
    let mut patterns = |list: Vec<String>, key: &str| -> BTreeSet<ClassPattern> {
        let mut set = BTreeSet::new();
        for (j, text) in list.into_iter().enumerate() {
            match ClassPattern::parse_owned(text) {
                Ok(p) => {
                    set.insert(p);
                }
                Err(e) => push(format!("{at}.{key}[{j}]"), e),
            }
        }
        set
    };
    let classes = match (
        rule.allowed_priority_classes.take(),
        rule.denied_priority_classes.take(),
    ) {
        (Some(_), Some(_)) => {
            push(
                at.to_string(),
                "allowedPriorityClasses and deniedPriorityClasses cannot both be set: use one list"
                    .into(),
            );
            ClassList::Any
        }
        (Some(allowed), None) => ClassList::Allowed(patterns(allowed, "allowedPriorityClasses")),
        (None, Some(denied)) => ClassList::Denied(patterns(denied, "deniedPriorityClasses")),
        (None, None) => ClassList::Any,
    };
    let field = || format!("{at}.defaultPriorityClass");
    if let Some(default) = &rule.default_priority_class {
        if let Err(e) = crate::names::dns_subdomain(default) {
            push(field(), e);
        } else if !classes.allows(default) {
            push(
                field(),
                format!(
                    "\"{default}\" is not allowed by its own rule ({})",
                    crate::messages::class_list(&classes)
                ),
            );
        } else if unset.contains(default) {
            push(
                field(),
                format!(
                    "\"{default}\" is listed in unsetPriorityClasses, so it would count as none given"
                ),
            );
        }
    }
    let max_priority = rule
        .max_priority
        .and_then(|v| int32(v, &format_args!("{at}.maxPriority"), push));
    let allowed_preemption_policies = rule.allowed_preemption_policies.as_ref().map(|list| {
        let key = format!("{at}.allowedPreemptionPolicies");
        if list.is_empty() {
            push(
                key.clone(),
                "must list at least one of Never, PreemptLowerPriority".into(),
            );
        }
        let mut set = BTreeSet::new();
        for (j, text) in list.iter().enumerate() {
            match PreemptionPolicy::parse(text) {
                Some(p) if set.insert(p) => {}
                Some(_) => push(format!("{key}[{j}]"), format!("\"{text}\" is listed twice")),
                None => push(
                    format!("{key}[{j}]"),
                    format!(
                        "\"{text}\" is not a preemption policy: use Never or PreemptLowerPriority"
                    ),
                ),
            }
        }
        set
    });
    ClassPolicy {
        classes,
        default_priority_class: rule.default_priority_class.take(),
        require_priority_class: rule.require_priority_class,
        max_priority,
        allowed_preemption_policies,
    }
}

/// A priority value: Kubernetes stores them as 32-bit integers.
fn int32(
    value: i64,
    field: &dyn fmt::Display,
    push: &mut impl FnMut(String, String),
) -> Option<i32> {
    match i32::try_from(value) {
        Ok(v) => Some(v),
        Err(_) => {
            push(
                field.to_string(),
                format!(
                    "{value} is not a priority value: Kubernetes priorities are 32-bit integers ({} to {})",
                    i32::MIN,
                    i32::MAX
                ),
            );
            None
        }
    }
}
