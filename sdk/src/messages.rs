//! Every text a user sees, in one place. The policy, the CLI and the CEL `messageExpression` are built from
//! these functions, so all engines say the same thing.
//!
//! Texts that the CEL side must rebuild from the request are split into a fixed part per rule (known when the
//! YAML is generated) and the parts taken from the object: kind, name, namespace and class.

use std::borrow::Cow;
use std::collections::BTreeSet;

use crate::model::priority_class::PreemptionPolicy;
use crate::model::settings::ClassList;

/// The most characters of user input (an object's name or namespace, a class name, a preemption policy) that
/// a message quotes: the longest name Kubernetes allows (a DNS subdomain, 253 characters). A request can carry
/// longer text (mutating webhooks see the object before the apiserver validates it), and the policy must not echo
/// it back to the apiserver whole.
pub const MAX_QUOTED_CHARS: usize = 253;

/// User input as a message quotes it: `text`, or when it is longer than [`MAX_QUOTED_CHARS`] characters its first
/// [`MAX_QUOTED_CHARS`], an ellipsis and its full length: `aaa…aaa… (5000000 characters)`. Characters are Unicode
/// scalar values, as CEL's `size` and `substring` count them, so the generated `messageExpression` says the same.
pub fn quoted(text: &str) -> Cow<'_, str> {
    at_most(text, MAX_QUOTED_CHARS)
}

/// The most characters of a lookup's error that a message quotes: room for the host's own words around a name of
/// [`MAX_QUOTED_CHARS`] (which the host's error may quote again).
pub const MAX_QUOTED_ERROR_CHARS: usize = 1024;

fn at_most(text: &str, max: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!(
            "{}… ({} characters)",
            &text[..end],
            text.chars().count()
        )),
    }
}

/// The closing parenthesis of a rejection: which classes the rule lets through, sorted.
///
/// `allowed: prod-pc, prod-*`, `allowed: none`, `denied: system-*`, or `any PriorityClass is allowed`.
pub fn class_list(classes: &ClassList) -> String {
    fn join<'a>(patterns: impl Iterator<Item = &'a crate::model::pattern::ClassPattern>) -> String {
        let names: Vec<String> = patterns.map(ToString::to_string).collect();
        if names.is_empty() {
            "none".to_owned()
        } else {
            names.join(", ")
        }
    }
    match classes {
        ClassList::Any => "any PriorityClass is allowed".to_owned(),
        ClassList::Allowed(patterns) => format!("allowed: {}", join(patterns.iter())),
        ClassList::Denied(patterns) => format!("denied: {}", join(patterns.iter())),
    }
}

/// The subject of a message: `Pod "web-1" in namespace "prod"`.
pub fn subject(kind: &str, name: &str, namespace: &str) -> String {
    // The kind is one the settings name (a message is only made for those), never free text.
    format!(
        "{kind} \"{}\" in namespace \"{}\"",
        quoted(name),
        quoted(namespace)
    )
}

/// The fixed end of a "class not allowed" message for a rule: `", which rule "production" does not allow
/// (allowed: prod-pc)"`.
pub fn not_allowed_suffix(rule: &str, classes: &ClassList) -> String {
    format!(
        ", which rule \"{rule}\" does not allow ({})",
        class_list(classes)
    )
}

/// The fixed end of a "class required" message for a rule.
pub fn required_suffix(rule: &str, classes: &ClassList) -> String {
    format!(
        " names no PriorityClass, which rule \"{rule}\" requires ({})",
        class_list(classes)
    )
}

/// `Pod "web-1" in namespace "prod" uses PriorityClass "dev-pc", which rule "production" does not allow
/// (allowed: prod-pc)`.
pub fn class_not_allowed(
    kind: &str,
    name: &str,
    namespace: &str,
    class: &str,
    rule: &str,
    classes: &ClassList,
) -> String {
    format!(
        "{} uses PriorityClass \"{}\"{}",
        subject(kind, name, namespace),
        quoted(class),
        not_allowed_suffix(rule, classes)
    )
}

/// `Pod "web-1" in namespace "prod" names no PriorityClass, which rule "production" requires (allowed: prod-pc)`.
pub fn class_required(
    kind: &str,
    name: &str,
    namespace: &str,
    rule: &str,
    classes: &ClassList,
) -> String {
    format!(
        "{}{}",
        subject(kind, name, namespace),
        required_suffix(rule, classes)
    )
}

/// Where a pod spec of a custom workload kind is, as messages insert it: ` at $.spec.workers[1].template.spec`;
/// empty for the built-in kinds, whose messages name no path.
pub fn at_path(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!(" at {path}")
    }
}

/// [`class_not_allowed`] naming the pod spec that uses the class (`path`, empty for the built-in kinds):
/// `Rollout "web" in namespace "prod" uses PriorityClass "dev-pc" at $.spec.template.spec, which rule ...`.
pub fn class_not_allowed_at(
    kind: &str,
    name: &str,
    namespace: &str,
    class: &str,
    path: &str,
    rule: &str,
    classes: &ClassList,
) -> String {
    class_not_allowed_where(kind, name, namespace, class, &at_path(path), rule, classes)
}

/// [`class_not_allowed_at`] with the text [`at_path`] makes of the path (what the CEL computes).
pub fn class_not_allowed_where(
    kind: &str,
    name: &str,
    namespace: &str,
    class: &str,
    at: &str,
    rule: &str,
    classes: &ClassList,
) -> String {
    format!(
        "{} uses PriorityClass \"{}\"{at}{}",
        subject(kind, name, namespace),
        quoted(class),
        not_allowed_suffix(rule, classes)
    )
}

/// [`class_required`] naming the pod spec that names no class (`path`, empty for the built-in kinds).
pub fn class_required_at(
    kind: &str,
    name: &str,
    namespace: &str,
    path: &str,
    rule: &str,
    classes: &ClassList,
) -> String {
    class_required_where(kind, name, namespace, &at_path(path), rule, classes)
}

/// [`class_required_at`] with the text [`at_path`] makes of the path (what the CEL computes).
pub fn class_required_where(
    kind: &str,
    name: &str,
    namespace: &str,
    at: &str,
    rule: &str,
    classes: &ClassList,
) -> String {
    format!(
        "{} names no PriorityClass{at}{}",
        subject(kind, name, namespace),
        required_suffix(rule, classes).trim_start_matches(" names no PriorityClass")
    )
}

/// The fixed text a ValidatingAdmissionPolicy shows if its `messageExpression` for a refused class cannot be
/// evaluated: `the PriorityClass is not allowed by rule "production" (allowed: prod-pc)`.
pub fn class_not_allowed_by_rule(rule: &str, classes: &ClassList) -> String {
    format!(
        "the PriorityClass is not allowed by rule \"{rule}\" ({})",
        class_list(classes)
    )
}

/// The fixed text for a missing class, as [`class_not_allowed_by_rule`].
pub fn class_required_by_rule(rule: &str, classes: &ClassList) -> String {
    format!(
        "a PriorityClass is required by rule \"{rule}\" ({})",
        class_list(classes)
    )
}

/// Where a priority value came from, for messages: ` (from PriorityClass "prod-pc")`, or nothing when no class is
/// named.
pub fn from_class(class: &str) -> String {
    if class.is_empty() {
        String::new()
    } else {
        format!(" (from PriorityClass \"{}\")", quoted(class))
    }
}

/// The fixed end of a "priority too high" message for a rule.
pub fn priority_too_high_suffix(rule: &str, max: i32) -> String {
    format!(
        ", above the maximum {max} of rule \"{rule}\": use a PriorityClass whose value is at most {max}"
    )
}

/// `Pod "web-1" in namespace "dev" has priority 1000000 (from PriorityClass "prod-pc"), above the maximum 1000 of
/// rule "development": use a PriorityClass whose value is at most 1000`.
pub fn priority_too_high(
    kind: &str,
    name: &str,
    namespace: &str,
    priority: &str,
    from: &str,
    rule: &str,
    max: i32,
) -> String {
    format!(
        "{} has priority {priority}{from}{}",
        subject(kind, name, namespace),
        priority_too_high_suffix(rule, max)
    )
}

/// The preemption policies a rule allows, in Kubernetes' order: `Never` or `Never, PreemptLowerPriority`.
pub fn preemption_policies(allowed: &BTreeSet<PreemptionPolicy>) -> String {
    allowed
        .iter()
        .map(|p| p.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fixed end of a "preemption policy not allowed" message for a rule.
pub fn preemption_not_allowed_suffix(rule: &str, allowed: &BTreeSet<PreemptionPolicy>) -> String {
    let list = preemption_policies(allowed);
    format!(
        ", which rule \"{rule}\" does not allow (allowed: {list}): use a PriorityClass whose preemptionPolicy is {}",
        allowed
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(" or ")
    )
}

/// `Pod "web-1" in namespace "dev" has preemptionPolicy PreemptLowerPriority (from PriorityClass "batch-high"),
/// which rule "development" does not allow (allowed: Never): use a PriorityClass whose preemptionPolicy is Never`.
pub fn preemption_not_allowed(
    kind: &str,
    name: &str,
    namespace: &str,
    policy: &str,
    from: &str,
    rule: &str,
    allowed: &BTreeSet<PreemptionPolicy>,
) -> String {
    format!(
        "{} has preemptionPolicy {}{from}{}",
        subject(kind, name, namespace),
        quoted(policy),
        preemption_not_allowed_suffix(rule, allowed)
    )
}

/// The fixed end of a "priority too low" message for a rule.
pub fn priority_too_low_suffix(rule: &str, min: i32) -> String {
    format!(
        ", below the minimum {min} of rule \"{rule}\": use a PriorityClass whose value is at least {min}"
    )
}

/// `Pod "web-1" in namespace "prod" has priority 0, below the minimum 1000 of rule "production": use a
/// PriorityClass whose value is at least 1000`.
pub fn priority_too_low(
    kind: &str,
    name: &str,
    namespace: &str,
    priority: &str,
    from: &str,
    rule: &str,
    min: i32,
) -> String {
    format!(
        "{} has priority {priority}{from}{}",
        subject(kind, name, namespace),
        priority_too_low_suffix(rule, min)
    )
}

/// The fixed text for a too low priority, as [`priority_too_high_by_rule`].
pub fn priority_too_low_by_rule(rule: &str, min: i32) -> String {
    format!("the priority is below the minimum {min} of rule \"{rule}\"")
}

/// The fixed text a ValidatingAdmissionPolicy shows if its `messageExpression` for a too high priority cannot be
/// evaluated.
pub fn priority_too_high_by_rule(rule: &str, max: i32) -> String {
    format!("the priority is above the maximum {max} of rule \"{rule}\"")
}

/// The fixed text for a refused preemption policy, as [`priority_too_high_by_rule`].
pub fn preemption_not_allowed_by_rule(rule: &str, allowed: &BTreeSet<PreemptionPolicy>) -> String {
    format!(
        "the preemptionPolicy is not allowed by rule \"{rule}\" (allowed: {})",
        preemption_policies(allowed)
    )
}

/// `PriorityClass "x" does not exist`: the part of a rejection that names a missing class.
pub fn class_does_not_exist(class: &str) -> String {
    format!("PriorityClass \"{}\" does not exist", quoted(class))
}

/// A named class that does not exist: `Deployment "web" in namespace "prod" uses PriorityClass "prod-pcc", but
/// PriorityClass "prod-pcc" does not exist: use an existing PriorityClass (allowed: prod-pc)`.
pub fn named_class_missing(
    kind: &str,
    name: &str,
    namespace: &str,
    class: &str,
    classes: &ClassList,
) -> String {
    format!(
        "{} uses PriorityClass \"{}\", but {}: use an existing PriorityClass ({})",
        subject(kind, name, namespace),
        quoted(class),
        class_does_not_exist(class),
        class_list(classes)
    )
}

/// A rule's default that does not exist: `Pod "web" in namespace "prod" names no PriorityClass and would get the
/// default "prod-pc" of rule "production", but PriorityClass "prod-pc" does not exist: name an existing
/// PriorityClass (allowed: prod-pc), or ask the cluster admin to create "prod-pc"`.
pub fn default_class_missing(
    kind: &str,
    name: &str,
    namespace: &str,
    class: &str,
    rule: &str,
    classes: &ClassList,
) -> String {
    format!(
        "{} names no PriorityClass and would get the default \"{class}\" of rule \"{rule}\", but {}: name an \
         existing PriorityClass ({}), or ask the cluster admin to create \"{class}\"",
        subject(kind, name, namespace),
        class_does_not_exist(class),
        class_list(classes),
        class = quoted(class)
    )
}

/// The rejection when a PriorityClass cannot be read to check a rule's `maxPriority` or
/// `allowedPreemptionPolicies`.
pub fn priority_class_lookup_failed(class: &str, rule: &str, error: &str) -> String {
    format!(
        "cannot check PriorityClass \"{}\" against rule \"{rule}\": reading it failed: {}",
        quoted(class),
        at_most(error, MAX_QUOTED_ERROR_CHARS)
    )
}

/// A PriorityClass object the `priorityClasses` settings refuse, with every problem in the order of the fields
/// they concern: `PriorityClass "x" is refused by the priorityClasses settings: description: ...; value: ...`.
pub fn priority_class_refused(name: &str, problems: &[String]) -> String {
    format!(
        "PriorityClass \"{}\" is refused by the priorityClasses settings: {}",
        quoted(name),
        problems.join("; ")
    )
}

/// The problem of a PriorityClass without description.
pub const DESCRIPTION_REQUIRED: &str =
    "description: is required (say which workloads the class is for)";

/// The problem of a PriorityClass with `globalDefault: true` when that is not allowed.
pub const GLOBAL_DEFAULT_NOT_ALLOWED: &str = "globalDefault: true is not allowed (remove it; namespace rules give defaults with defaultPriorityClass)";

/// The problem of a preempting PriorityClass below the `requireNonPreemptingBelow` value.
pub fn non_preempting_required(below: i32) -> String {
    format!(
        "preemptionPolicy: must be Never for a value below {below} (set preemptionPolicy: Never, or a value of at least {below})"
    )
}

/// The beginning of the problem of a PriorityClass whose value is too high; the value follows.
pub const VALUE_TOO_HIGH_PREFIX: &str = "value: ";

/// The end of the problem of a PriorityClass whose value is too high, after the value.
pub fn value_too_high_suffix(max: i32) -> String {
    format!(
        " is above the maximum {max} for classes not named system-* (lower it to at most {max})"
    )
}

/// The fixed text a ValidatingAdmissionPolicy shows if its `messageExpression` for a PriorityClass cannot be
/// evaluated.
pub const PRIORITY_CLASS_REFUSED: &str =
    "the PriorityClass is refused by the priorityClasses settings";

/// The rejection when a namespace's labels cannot be read to match a rule.
pub fn namespace_lookup_failed(namespace: &str, rule: &str, error: &str) -> String {
    format!(
        "cannot decide the PriorityClass rule for namespace \"{}\": reading its labels to match rule \"{rule}\" \
         failed: {}",
        quoted(namespace),
        at_most(error, MAX_QUOTED_ERROR_CHARS)
    )
}

/// The rejection of a request the policy cannot read.
pub fn malformed_request(error: &dyn std::fmt::Display) -> String {
    format!("priority-guard cannot read this request: {error}")
}

/// The rejection when the settings handed to `validate` are invalid (policy-server validates them first, so this
/// is only seen when a host skips that step).
pub fn invalid_settings(error: &dyn std::fmt::Display) -> String {
    format!("priority-guard settings are invalid: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::pattern::ClassPattern;
    use std::collections::BTreeSet;

    fn list(names: &[&str]) -> BTreeSet<ClassPattern> {
        names
            .iter()
            .map(|n| ClassPattern::parse(n).expect("pattern"))
            .collect()
    }

    #[test]
    fn quoted_input_is_cut_after_the_longest_kubernetes_name_with_its_length() {
        let longest = "a".repeat(MAX_QUOTED_CHARS);
        assert_eq!(quoted(&longest), longest.as_str());
        let longer = format!("{longest}b");
        assert_eq!(
            quoted(&longer),
            format!("{longest}… ({} characters)", MAX_QUOTED_CHARS + 1)
        );
        // Characters, not bytes: 300 two-byte characters keep 253 of them.
        let wide = "é".repeat(300);
        assert_eq!(
            quoted(&wide),
            format!("{}… (300 characters)", "é".repeat(MAX_QUOTED_CHARS))
        );
        assert_eq!(quoted(""), "");
    }

    #[test]
    fn messages_quote_hostile_input_bounded() {
        let huge = "x".repeat(5_000_000);
        let classes = ClassList::Allowed(list(&["prod-pc"]));
        let messages = [
            class_not_allowed("Pod", &huge, &huge, &huge, "production", &classes),
            named_class_missing("Pod", &huge, &huge, &huge, &classes),
            preemption_not_allowed(
                "Pod",
                &huge,
                &huge,
                &huge,
                &from_class(&huge),
                "production",
                &BTreeSet::from([PreemptionPolicy::Never]),
            ),
            priority_class_lookup_failed(&huge, "production", &huge),
            namespace_lookup_failed(&huge, "production", &huge),
            priority_class_refused(&huge, &[DESCRIPTION_REQUIRED.to_owned()]),
        ];
        for message in messages {
            assert!(message.len() < 4 * 1024, "{} bytes", message.len());
            assert!(message.contains("… (5000000 characters)"), "{message:.300}");
        }
    }

    #[test]
    fn allowed_classes_are_sorted_whatever_the_input_order() {
        let classes = ClassList::Allowed(list(&["prod-pc", "critical", "prod-*"]));
        assert_eq!(class_list(&classes), "allowed: critical, prod-*, prod-pc");
    }

    #[test]
    fn empty_allowed_list_reads_none() {
        assert_eq!(
            class_list(&ClassList::Allowed(BTreeSet::new())),
            "allowed: none"
        );
    }

    #[test]
    fn messages_without_a_path_are_the_built_in_ones() {
        let classes = ClassList::Allowed(list(&["prod-pc"]));
        assert_eq!(
            class_not_allowed_at("Pod", "web", "prod", "dev-pc", "", "production", &classes),
            class_not_allowed("Pod", "web", "prod", "dev-pc", "production", &classes)
        );
        assert_eq!(
            class_required_at("Job", "web", "prod", "", "production", &classes),
            class_required("Job", "web", "prod", "production", &classes)
        );
        assert_eq!(
            class_required_at(
                "Rollout",
                "web",
                "prod",
                "$.spec.template.spec",
                "production",
                &classes
            ),
            r#"Rollout "web" in namespace "prod" names no PriorityClass at $.spec.template.spec, which rule "production" requires (allowed: prod-pc)"#
        );
    }

    #[test]
    fn the_issue_example_reads_as_promised() {
        let classes = ClassList::Allowed(list(&["prod-pc"]));
        assert_eq!(
            class_not_allowed("Pod", "web-1", "prod", "dev-pc", "production", &classes),
            r#"Pod "web-1" in namespace "prod" uses PriorityClass "dev-pc", which rule "production" does not allow (allowed: prod-pc)"#
        );
    }
}
