//! Settings validated: the wire document ([`SettingsDoc`]) becomes the model the decision uses ([`Settings`]),
//! or a [`SettingsError`] with every problem and the field it concerns.

use std::collections::BTreeSet;
use std::fmt;

use crate::model::pattern::ClassPattern;
use crate::model::priority_class::{PreemptionPolicy, PriorityClassRules};
use crate::model::selector::LabelSelector;
use crate::model::settings::{
    Action, ClassList, ClassPolicy, FALLBACK_RULE_NAME, FieldError, Rule, RuleDoc, Settings,
    SettingsDoc, SettingsError,
};

impl Settings {
    /// Parses and validates settings from JSON text (what Kubewarden hands a policy). `null` means `{}`.
    pub fn from_json_slice(json: &[u8]) -> Result<Self, SettingsError> {
        let text = std::str::from_utf8(json).map_err(|e| {
            SettingsError::one("settings", format!("not valid JSON: not UTF-8: {e}"))
        })?;
        Self::from_owned_doc(crate::read::settings::read(text)?)
    }

    /// [`Settings::from_json_slice`] for text this crate's reader has already checked to be JSON, such as
    /// [`crate::read::request::Payload`]'s `settings`: the syntax is not checked a second time. (Text that is not JSON is still
    /// refused, by the reading of the fields.)
    #[doc(hidden)] // The Kubewarden validator's; public only for the sdk's settings tests.
    pub fn from_checked_json(text: &str) -> Result<Self, SettingsError> {
        Self::from_owned_doc(crate::read::settings::read_checked(text)?)
    }

    /// Parses and validates settings from YAML text (or JSON, which is YAML too), as a Kubewarden policy's
    /// `settings` are written. An empty document means `{}`.
    #[cfg(feature = "yaml")]
    pub fn from_yaml(text: &str) -> Result<Self, SettingsError> {
        let value: serde_json::Value = serde_yaml_ng::from_str(text)
            .map_err(|e| SettingsError::one("settings", format!("not valid YAML: {e}")))?;
        Self::from_value(value)
    }

    /// Parses and validates settings from a JSON value. `null` means `{}`.
    pub fn from_value(value: serde_json::Value) -> Result<Self, SettingsError> {
        Self::from_json_slice(value.to_string().as_bytes())
    }

    /// Validates parsed settings.
    pub fn from_doc(doc: &SettingsDoc) -> Result<Self, SettingsError> {
        Self::from_owned_doc(doc.clone())
    }

    /// [`Settings::from_doc`], keeping the doc's strings instead of copying them: a fresh instance validates its
    /// settings on its first request, where every allocation counts.
    pub(crate) fn from_owned_doc(doc: SettingsDoc) -> Result<Self, SettingsError> {
        let mut errors = Vec::new();
        let mut push = |field: String, message: String| errors.push(FieldError { field, message });

        let mut unset = BTreeSet::new();
        for (i, class) in doc.unset_priority_classes.into_iter().enumerate() {
            match crate::model::names::dns_subdomain(&class) {
                Ok(()) => {
                    unset.insert(class);
                }
                Err(e) => push(format!("unsetPriorityClasses[{i}]"), e.to_string()),
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
                    if let Err(e) = crate::model::names::dns_label(&name) {
                        push(format!("{at}.name"), e.to_string());
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
                match crate::model::names::dns_label(&ns) {
                    Ok(()) => {
                        namespaces.insert(ns);
                    }
                    Err(e) => push(format!("{at}.namespaces[{j}]"), e.to_string()),
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

        let custom_workloads = crate::read::custom::validate(&doc.custom_workloads, &mut push);
        let priority_classes = doc.priority_classes.as_ref().map(|pc| {
            let at = "priorityClasses";
            PriorityClassRules {
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
                action: action(pc.action.as_deref(), &at, &mut push),
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
                Err(e) => push(format!("{at}.{key}[{j}]"), e.to_string()),
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
        if let Err(e) = crate::model::names::dns_subdomain(default) {
            push(field(), e.to_string());
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
    let min_priority = rule
        .min_priority
        .and_then(|v| int32(v, &format_args!("{at}.minPriority"), push));
    if let (Some(min), Some(max)) = (min_priority, max_priority)
        && min > max
    {
        push(
            format!("{at}.minPriority"),
            format!("{min} is above maxPriority {max}: no class could be used"),
        );
    }
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
        min_priority,
        allowed_preemption_policies,
        action: action(rule.action.as_deref(), at, push),
    }
}

/// The `action` of a rule or section at `at`: `Deny` when it names none.
fn action(
    text: Option<&str>,
    at: &dyn fmt::Display,
    push: &mut impl FnMut(String, String),
) -> Action {
    let Some(text) = text else {
        return Action::Deny;
    };
    Action::parse(text).unwrap_or_else(|| {
        push(
            format!("{at}.action"),
            format!("\"{text}\" is not an action: use Deny, Warn or Audit"),
        );
        Action::Deny
    })
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
