//! Every text a user sees, in one place. The policy, the CLI and the CEL `messageExpression` are built from
//! these functions, so all engines say the same thing.
//!
//! Texts that the CEL side must rebuild from the request are split into a fixed part per rule (known when the
//! YAML is generated) and the parts taken from the object: kind, name, namespace and class.

use crate::settings::ClassList;

/// The closing parenthesis of a rejection: which classes the rule lets through, sorted.
///
/// `allowed: prod-pc, prod-*`, `allowed: none`, `denied: system-*`, or `any PriorityClass is allowed`.
pub fn class_list(classes: &ClassList) -> String {
    fn join<'a>(patterns: impl Iterator<Item = &'a crate::pattern::ClassPattern>) -> String {
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
    format!("{kind} \"{name}\" in namespace \"{namespace}\"")
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
        "{} uses PriorityClass \"{class}\"{}",
        subject(kind, name, namespace),
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
        "{} uses PriorityClass \"{class}\"{at}{}",
        subject(kind, name, namespace),
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

/// The rejection when a namespace's labels cannot be read to match a rule.
pub fn namespace_lookup_failed(namespace: &str, rule: &str, error: &str) -> String {
    format!(
        "cannot decide the PriorityClass rule for namespace \"{namespace}\": reading its labels to match rule \"{rule}\" failed: {error}"
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
    use crate::pattern::ClassPattern;
    use std::collections::BTreeSet;

    fn list(names: &[&str]) -> BTreeSet<ClassPattern> {
        names
            .iter()
            .map(|n| ClassPattern::parse(n).expect("pattern"))
            .collect()
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
