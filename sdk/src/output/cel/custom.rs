//! The CEL of custom workload kinds ([`crate::model::custom`]): which pod specs a `podSpecPath` selects, and which of
//! them decides a request, so that the validations and messages of the built-in kinds apply unchanged.
//!
//! With custom kinds the variables are, in order:
//! - `customWorkload`: the index of the request's custom kind (by group and kind, so that e.g. a
//!   `batch.volcano.sh` Job is not taken for a `batch` Job), or -1;
//! - `podSpecItems`: the items the path's `[*]` runs over (the one pod spec, in a list, for a path without `[*]`);
//! - `hasPodSpec`, `namespaceLabels`, `ruleIndex`, `rule` as for the built-in kinds;
//! - `podSpecFailures`: for each item, whether its pod spec breaks the rule that applies (a class the rule does
//!   not allow, or no class where the rule requires one), as the policy checks them, in order;
//! - `podSpecIndex`: the first item that breaks the rule, else the first item with a pod spec;
//! - `podSpec` and `priorityClassName`: that pod spec and its class, which the validations check;
//! - `podSpecAt`: ` at $.spec.tasks[1].template.spec`, the path the messages name (empty for built-in kinds).
//!
//! The MutatingAdmissionPolicy writes the default into every selected pod spec that names none: for a path with
//! `[*]` it needs the items' indexes, `lists.range(size(...))` (the CEL lists library, Kubernetes 1.34, which
//! new expressions may use from 1.35).

use super::{Variable, allowed_expression_for, string_list, string_literal};
use crate::model::custom::CustomWorkload;
use crate::model::settings::Settings;

/// `has(base.a) && has(base.a.b) && ...` (`true` for no fields), and the selection `base.a.b`.
fn select(base: &str, fields: &[&str]) -> (String, String) {
    let mut expr = base.to_owned();
    let mut present = Vec::with_capacity(fields.len());
    for field in fields {
        expr.push('.');
        expr.push_str(field);
        present.push(format!("has({expr})"));
    }
    let present = if present.is_empty() {
        "true".to_owned()
    } else {
        present.join(" && ")
    };
    (present, expr)
}

/// The items of a custom kind's path: the list `[*]` runs over, or the one pod spec.
fn items(custom: &CustomWorkload) -> String {
    let (before, _) = custom.path.split();
    let (present, selection) = select("object", &before);
    if custom.path.split().1.is_some() {
        format!("({present} ? {selection} : [])")
    } else {
        format!("({present} ? [{selection}] : [])")
    }
}

/// The fields from an item to its pod spec (none for a path without `[*]`, whose item is the pod spec).
fn rest(custom: &CustomWorkload) -> Vec<&str> {
    custom.path.split().1.unwrap_or_default()
}

/// The class a pod spec names, `""` for none (or one of `unsetPriorityClasses`).
fn class_of(spec: &str, settings: &Settings) -> String {
    let unset = if settings.unset_priority_classes.is_empty() {
        String::new()
    } else {
        format!(
            " && !({spec}.priorityClassName in {})",
            string_list(settings.unset_priority_classes.iter().map(String::as_str))
        )
    };
    format!("(has({spec}.priorityClassName){unset} ? {spec}.priorityClassName : \"\")")
}

/// Whether the pod spec `spec` breaks the rule that applies (`variables.rule`).
fn fails(spec: &str, settings: &Settings) -> String {
    let class = class_of(spec, settings);
    let mut branches = String::new();
    for (rule, policy) in super::rules(settings) {
        let mut terms = Vec::new();
        if let Some(allowed) = allowed_expression_for(&policy.classes, &class) {
            terms.push(format!("({class} != \"\" && !({allowed}))"));
        }
        if policy.require_priority_class && policy.default_priority_class.is_none() {
            terms.push(format!("{class} == \"\""));
        }
        if !terms.is_empty() {
            branches.push_str(&format!(
                "variables.rule == {} ? {} : ",
                string_literal(rule),
                terms.join(" || ")
            ));
        }
    }
    format!("({branches}false)")
}

/// `variables.customWorkload == 0 ? a : variables.customWorkload == 1 ? b : otherwise`.
fn by_custom(
    customs: &[&CustomWorkload],
    branch: impl Fn(&CustomWorkload) -> String,
    otherwise: &str,
) -> String {
    let mut expr = String::new();
    for (i, custom) in customs.iter().enumerate() {
        expr.push_str(&format!(
            "variables.customWorkload == {i} ? {} :\n",
            branch(custom)
        ));
    }
    expr.push_str(otherwise);
    expr
}

fn take(variables: &mut Vec<Variable>, name: &str) -> Option<Variable> {
    let at = variables.iter().position(|v| v.name == name)?;
    Some(variables.remove(at))
}

/// Reworks the variables of the built-in kinds (`common_variables`) for the custom kinds in `customs`.
pub(super) fn variables(
    settings: &Settings,
    customs: &[&CustomWorkload],
    variables: &mut Vec<Variable>,
) {
    if customs.is_empty() {
        return;
    }
    let which: Vec<String> = customs
        .iter()
        .enumerate()
        .map(|(i, c)| {
            format!(
                "request.kind.group == {} && request.kind.kind == {} ? {i} :\n",
                string_literal(&c.group),
                string_literal(&c.kind)
            )
        })
        .collect();
    let mut out = vec![
        Variable {
            name: "customWorkload",
            expression: format!("{}-1", which.concat()),
        },
        Variable {
            name: "podSpecItems",
            expression: by_custom(customs, items, "[]"),
        },
    ];
    let builtin_has = take(variables, "hasPodSpec").map(|v| v.expression);
    let builtin_spec = take(variables, "podSpec").map(|v| v.expression);
    let class = take(variables, "priorityClassName");
    out.push(Variable {
        name: "hasPodSpec",
        expression: by_custom(
            customs,
            |c| {
                let (present, _) = select("w", &rest(c));
                if present == "true" {
                    "size(variables.podSpecItems) > 0".to_owned()
                } else {
                    format!("variables.podSpecItems.exists(w, {present})")
                }
            },
            builtin_has.as_deref().unwrap_or("false"),
        ),
    });
    // namespaceLabels, ruleIndex and rule, which depend on hasPodSpec only.
    out.append(variables);
    out.push(Variable {
        name: "podSpecFailures",
        expression: by_custom(
            customs,
            |c| {
                let (present, spec) = select("w", &rest(c));
                let fails = fails(&spec, settings);
                if present == "true" {
                    format!("variables.podSpecItems.map(w, {fails})")
                } else {
                    format!("variables.podSpecItems.map(w, {present} && {fails})")
                }
            },
            "[]",
        ),
    });
    out.push(Variable {
        name: "podSpecIndex",
        expression: format!(
            "variables.podSpecFailures.exists(f, f) ? variables.podSpecFailures.indexOf(true) :\n{}",
            by_custom(
                customs,
                |c| {
                    let (present, _) = select("w", &rest(c));
                    if present == "true" {
                        "0".to_owned()
                    } else {
                        format!("variables.podSpecItems.map(w, {present}).indexOf(true)")
                    }
                },
                "0"
            )
        ),
    });
    let builtin_spec = builtin_spec.unwrap_or_default();
    let builtin_spec = builtin_spec
        .strip_prefix("!variables.hasPodSpec ? {} :\n")
        .unwrap_or(&builtin_spec);
    out.push(Variable {
        name: "podSpec",
        expression: format!(
            "!variables.hasPodSpec ? {{}} :\n{}",
            by_custom(
                customs,
                |c| select("variables.podSpecItems[variables.podSpecIndex]", &rest(c)).1,
                builtin_spec
            )
        ),
    });
    out.extend(class);
    out.push(Variable {
        name: "podSpecAt",
        expression: by_custom(
            customs,
            |c| {
                let (before, after) = c.path.split();
                match after {
                    None => string_literal(&crate::messages::at_path(c.path.text())),
                    Some(after) => {
                        let mut tail = String::from("]");
                        for field in after {
                            tail.push('.');
                            tail.push_str(field);
                        }
                        format!(
                            "{} + string(variables.podSpecIndex) + {}",
                            string_literal(&crate::messages::at_path(&format!(
                                "$.{}[",
                                before.join(".")
                            ))),
                            string_literal(&tail)
                        )
                    }
                }
            },
            "\"\"",
        ),
    });
    *variables = out;
}

/// The JSON pointer of a custom kind's pod spec, for a path without `[*]`.
pub(super) fn pointer(custom: &CustomWorkload) -> Option<String> {
    match custom.path.split() {
        (fields, None) => Some(fields.iter().map(|f| format!("/{f}")).collect()),
        (_, Some(_)) => None,
    }
}

/// The JSONPatch of the custom kinds whose path has `[*]`: the default in every item's pod spec that names none,
/// in front of `otherwise` (the patch of the other kinds, which reads `variables.podSpec`).
pub(super) fn json_patch(
    settings: &Settings,
    customs: &[&CustomWorkload],
    otherwise: &str,
) -> String {
    let mut expr = String::new();
    for (i, custom) in customs.iter().enumerate() {
        let (before, Some(after)) = custom.path.split() else {
            continue;
        };
        let (present, spec) = select("variables.podSpecItems[i]", &after);
        let needs = format!("{present} && {} == \"\"", class_of(&spec, settings));
        let prefix: String = before.iter().map(|f| format!("/{f}")).collect();
        let suffix: String = after.iter().map(|f| format!("/{f}")).collect();
        let path = |field: &str| {
            format!(
                "{} + string(i) + {}",
                string_literal(&format!("{prefix}/")),
                string_literal(&format!("{suffix}/{field}"))
            )
        };
        let range = "lists.range(size(variables.podSpecItems))";
        expr.push_str(&format!(
            "variables.customWorkload == {i} ? (variables.defaultPriorityClassName == \"\" ? [] :\n\
             {range}.filter(i, {needs}).map(i, JSONPatch{{op: \"add\", path: {}, value: variables.defaultPriorityClassName}}) +\n\
             {range}.filter(i, {needs} && has({spec}.priority)).map(i, JSONPatch{{op: \"remove\", path: {}}}) +\n\
             {range}.filter(i, {needs} && has({spec}.preemptionPolicy)).map(i, JSONPatch{{op: \"remove\", path: {}}})) :\n",
            path("priorityClassName"),
            path("priority"),
            path("preemptionPolicy"),
        ));
    }
    expr.push_str(otherwise);
    expr
}
