//! The CEL that Kubernetes' own admission (ValidatingAdmissionPolicy, MutatingAdmissionPolicy) evaluates to
//! decide like [`crate::decide`](mod@crate::decide), emitted from the same settings model, kind table and message texts.
//!
//! The expressions use only what every Kubernetes release from 1.30 evaluates (`has`, `in`, `startsWith`,
//! string and list concatenation, the lists library's `indexOf`) and no optional-field syntax, so that any CEL
//! engine accepts them. Every variable is total: it never fails, whatever the object holds, so the apiserver's
//! lazy evaluation and an eager one agree.
//!
//! Messages are not written twice: the emitter calls the functions of [`crate::messages`] with placeholders for
//! the parts that come from the request (kind, name, namespace, class) and turns the result into a string
//! concatenation, so the `messageExpression` yields exactly the text the policy returns.

use std::collections::BTreeMap;

use crate::messages;
use crate::model::custom::CustomWorkload;
use crate::model::kinds::{KINDS, PodSpecKind, Segment};
use crate::model::pattern::ClassPattern;
use crate::model::priority_class::PreemptionPolicy;
use crate::model::priority_class::{self, PriorityClassRules};
use crate::model::selector::{LabelSelector, Operator};
use crate::model::settings::{Action, ClassList, ClassPolicy, Settings};

mod custom;

/// A named CEL expression: an entry of a policy's `variables`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Referred to as `variables.<name>`.
    pub name: &'static str,
    /// The expression.
    pub expression: String,
}

/// A validation: `expression` must hold, or the request is denied with `message_expression`'s text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validation {
    /// True when the request is allowed.
    pub expression: String,
    /// The denial text, built from the request.
    pub message_expression: String,
    /// A fixed text the apiserver shows if `message_expression` cannot be evaluated.
    pub message: String,
    /// The action of the rule (or `priorityClasses` section) it checks: the policy it goes into, whose binding
    /// has this `validationActions`.
    pub action: Action,
    /// Whether it checks PriorityClass objects (the `priorityClasses` settings) rather than pod specs.
    pub checks_priority_classes: bool,
}

/// Which objects a set of expressions applies to: the kinds and the operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The kind.
    pub kind: &'static PodSpecKind,
    /// The operations.
    pub operations: &'static [&'static str],
}

/// The CEL for validating: what a ValidatingAdmissionPolicy holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatingRules {
    /// The objects and operations checked, as the policy checks them.
    pub targets: Vec<Target>,
    /// Variables, in the order they may refer to each other.
    pub variables: Vec<Variable>,
    /// One validation per rule and per way the rule can refuse.
    pub validations: Vec<Validation>,
    /// The custom workload kinds checked (CREATE and UPDATE), besides `targets`.
    pub custom_targets: Vec<CustomWorkload>,
    /// Whether PriorityClass objects are checked too (the `priorityClasses` settings).
    pub priority_classes: bool,
}

/// The CEL for defaulting: what a MutatingAdmissionPolicy holds, when some rule has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MutatingRules {
    /// Pods on CREATE, and the workloads when `mutateWorkloadTemplates` is set.
    pub targets: Vec<Target>,
    /// Variables, in order.
    pub variables: Vec<Variable>,
    /// A JSONPatch expression: the list of `JSONPatch{op, path, value}` to apply, empty when none.
    pub json_patch: String,
    /// The rules (by name) whose default the patch applies.
    pub rules_with_default: Vec<String>,
    /// The custom workload kinds defaulted (CREATE and UPDATE), besides `targets`.
    pub custom_targets: Vec<CustomWorkload>,
    /// Custom kinds left out because their path has `[*]` and the release cannot index lists
    /// (see [`mutating_rules_with`]).
    pub custom_left_out: Vec<CustomWorkload>,
}

/// Placeholders for the parts of a message that come from the request. Rule names and class patterns are
/// validated DNS names, so they never contain these characters.
const KIND: char = '\u{1}';
const NAME: char = '\u{2}';
const NAMESPACE: char = '\u{3}';
const CLASS: char = '\u{4}';
/// Where the pod spec of a custom kind is, as [`messages::at_path`] writes it (` at $.spec.template.spec`), empty
/// for built-in kinds.
const AT: char = '\u{f}';
const PRIORITY: char = '\u{5}';
const FROM: char = '\u{6}';
const POLICY: char = '\u{7}';
const POD_CLASS: char = '\u{8}';
const PROBLEMS: char = '\u{e}';

/// A CEL string literal: double-quoted, or single-quoted when the text holds a double quote (messages do), so
/// that the YAML around it stays readable.
pub fn string_literal(text: &str) -> String {
    let quote = if text.contains('"') { '\'' } else { '"' };
    let mut out = String::with_capacity(text.len() + 2);
    out.push(quote);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// A CEL list of string literals.
fn string_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    let items: Vec<String> = items.into_iter().map(string_literal).collect();
    format!("[{}]", items.join(", "))
}

/// The variable `name` holding the string `expr` of the request as [`messages::quoted`] quotes it: whole up to
/// [`messages::MAX_QUOTED_CHARS`] characters, else that many, an ellipsis and the length. Messages quote these
/// variables. On the apiserver the bound is not reached (a ValidatingAdmissionPolicy sees objects after their
/// names are validated), but the text stays the policy's wherever the CEL runs.
fn quoted_variable(name: &'static str, expr: &str) -> Variable {
    let max = messages::MAX_QUOTED_CHARS;
    Variable {
        name,
        expression: format!(
            "size({expr}) <= {max} ? {expr} :\n{expr}.substring(0, {max}) + \"… (\" + string(size({expr})) + \" characters)\""
        ),
    }
}

/// Turns a message built with placeholders into a CEL string concatenation.
fn message_expression(template: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut literal = String::new();
    for c in template.chars() {
        let variable = match c {
            // The kind is one the settings name (a message is only made for those), never free text.
            KIND => "request.kind.kind",
            NAME => "variables.quotedObjectName",
            NAMESPACE => "variables.quotedNamespace",
            CLASS => "variables.quotedPriorityClassName",
            AT => "variables.podSpecAt",
            PRIORITY => "string(variables.podSpec.priority)",
            FROM => "variables.fromPriorityClass",
            POLICY => "variables.quotedPreemptionPolicy",
            POD_CLASS => "variables.quotedPodPriorityClassName",
            PROBLEMS => "variables.priorityClassProblems.join(\"; \")",
            c => {
                literal.push(c);
                continue;
            }
        };
        if !literal.is_empty() {
            parts.push(string_literal(&std::mem::take(&mut literal)));
        }
        parts.push(variable.to_owned());
    }
    let mut expr = parts.join(" + ");
    if !literal.is_empty() {
        // The rule's own text on a line of its own.
        expr.push_str(" +\n");
        expr.push_str(&string_literal(&literal));
    }
    expr
}

/// A path of field names as a CEL selection from `object`, and whether every step is present.
fn select(path: &[Segment]) -> (String, String) {
    let mut expr = "object".to_owned();
    let mut present = Vec::with_capacity(path.len());
    for segment in path {
        match segment {
            Segment::Field(name) => {
                expr.push('.');
                expr.push_str(name);
                present.push(format!("has({expr})"));
            }
        }
    }
    (expr, present.join(" && "))
}

/// The kinds grouped by where they keep their pod spec, in the kind table's order.
fn kinds_by_path(kinds: &[&'static PodSpecKind]) -> Vec<(&'static [Segment], Vec<&'static str>)> {
    let mut groups: Vec<(&'static [Segment], Vec<&'static str>)> = Vec::new();
    for kind in kinds {
        match groups.iter_mut().find(|(p, _)| *p == kind.pod_spec_path) {
            Some((_, names)) => names.push(kind.kind),
            None => groups.push((kind.pod_spec_path, vec![kind.kind])),
        }
    }
    groups
}

/// `request.kind.kind in [...] ? a : request.kind.kind in [...] ? b : otherwise`, one branch per path.
fn by_kind(
    groups: &[(&'static [Segment], Vec<&'static str>)],
    branch: impl Fn(&'static [Segment]) -> String,
    otherwise: &str,
) -> String {
    let mut expr = String::new();
    for (path, kinds) in groups {
        expr.push_str(&format!(
            "request.kind.kind in {} ? {} :\n",
            string_list(kinds.iter().copied()),
            branch(path)
        ));
    }
    expr.push_str(otherwise);
    expr
}

/// Whether the namespace labels satisfy a selector.
fn selector_expression(selector: &LabelSelector) -> String {
    if selector.is_empty() {
        return "true".to_owned();
    }
    let labels = "variables.namespaceLabels";
    let terms: Vec<String> = selector
        .requirements
        .iter()
        .map(|r| {
            let key = string_literal(&r.key);
            match &r.operator {
                Operator::In(values) if values.len() == 1 => {
                    let value = values
                        .iter()
                        .next()
                        .map_or(String::new(), |v| string_literal(v));
                    format!("({key} in {labels} && {labels}[{key}] == {value})")
                }
                Operator::In(values) => format!(
                    "({key} in {labels} && {labels}[{key}] in {})",
                    string_list(values.iter().map(String::as_str))
                ),
                Operator::NotIn(values) => format!(
                    "(!({key} in {labels}) || !({labels}[{key}] in {}))",
                    string_list(values.iter().map(String::as_str))
                ),
                Operator::Exists => format!("{key} in {labels}"),
                Operator::DoesNotExist => format!("!({key} in {labels})"),
            }
        })
        .collect();
    terms.join(" && ")
}

/// Whether `variables.priorityClassName` matches one of the patterns.
#[cfg(test)]
fn patterns_expression<'a>(patterns: impl IntoIterator<Item = &'a ClassPattern>) -> String {
    patterns_expression_for(patterns, "variables.priorityClassName")
}

/// Whether the class `class` (a CEL expression) matches one of the patterns.
fn patterns_expression_for<'a>(
    patterns: impl IntoIterator<Item = &'a ClassPattern>,
    class: &str,
) -> String {
    let (mut exact, mut prefixes) = (Vec::new(), Vec::new());
    for p in patterns {
        if p.is_wildcard() {
            prefixes.push(p.text());
        } else {
            exact.push(p.text());
        }
    }
    let mut terms = Vec::new();
    match exact.as_slice() {
        [] => {}
        [one] => terms.push(format!("{class} == {}", string_literal(one))),
        many => terms.push(format!("{class} in {}", string_list(many.iter().copied()))),
    }
    for prefix in prefixes {
        terms.push(format!("{class}.startsWith({})", string_literal(prefix)));
    }
    if terms.is_empty() {
        "false".to_owned()
    } else {
        terms.join(" || ")
    }
}

/// Whether `variables.priorityClassName` is allowed by the list, or `None` when every class is.
fn allowed_expression(classes: &ClassList) -> Option<String> {
    allowed_expression_for(classes, "variables.priorityClassName")
}

/// Whether the class `class` (a CEL expression) is allowed by the list, or `None` when every class is.
fn allowed_expression_for(classes: &ClassList, class: &str) -> Option<String> {
    match classes {
        ClassList::Any => None,
        ClassList::Allowed(patterns) => Some(patterns_expression_for(patterns, class)),
        ClassList::Denied(patterns) => {
            let matched = patterns_expression_for(patterns, class);
            Some(if matched == "false" {
                "true".to_owned()
            } else {
                format!("!({matched})")
            })
        }
    }
}

/// The rules in order with their policies, the fallback last.
fn rules(settings: &Settings) -> Vec<(&str, &ClassPolicy)> {
    settings.policies().collect()
}

/// The variables that find the pod spec, the class, the object's name and the rule, shared by both policies.
fn common_variables(
    settings: &Settings,
    kinds: &[&'static PodSpecKind],
    customs: &[&CustomWorkload],
) -> Vec<Variable> {
    let groups = kinds_by_path(kinds);
    let mut variables = vec![
        Variable {
            name: "hasPodSpec",
            expression: by_kind(&groups, |path| select(path).1, "false"),
        },
        Variable {
            name: "podSpec",
            expression: format!(
                "!variables.hasPodSpec ? {{}} :\n{}",
                by_kind(&groups, |path| select(path).0, "{}")
            ),
        },
    ];
    let unset = if settings.unset_priority_classes.is_empty() {
        String::new()
    } else {
        format!(
            " && !(variables.podSpec.priorityClassName in {})",
            string_list(settings.unset_priority_classes.iter().map(String::as_str))
        )
    };
    variables.push(Variable {
        name: "priorityClassName",
        expression: format!(
            "has(variables.podSpec.priorityClassName){unset}\n? variables.podSpec.priorityClassName\n: \"\""
        ),
    });
    if settings.uses_namespace_labels() {
        variables.push(Variable {
            name: "namespaceLabels",
            expression: "namespaceObject != null && has(namespaceObject.metadata) && has(namespaceObject.metadata.labels)\n? namespaceObject.metadata.labels\n: {}".to_owned(),
        });
    }
    // The first rule whose namespaces or selector match, else the fallback, else none (''): the index of the
    // first `true` in a list that ends with `true`.
    let rules = rules(settings);
    let mut matches: Vec<String> = settings
        .rules
        .iter()
        .map(|rule| {
            let mut terms = Vec::new();
            if !rule.namespaces.is_empty() {
                terms.push(format!(
                    "request.namespace in {}",
                    string_list(rule.namespaces.iter().map(String::as_str))
                ));
            }
            if let Some(selector) = &rule.namespace_selector {
                terms.push(selector_expression(selector));
            }
            terms.join(" || ")
        })
        .collect();
    matches.push("true".to_owned());
    let mut names: Vec<&str> = rules.iter().map(|(name, _)| *name).collect();
    if settings.fallback.is_none() {
        names.push("");
    }
    variables.push(Variable {
        name: "ruleIndex",
        expression: format!("[\n  {}\n].indexOf(true)", matches.join(",\n  ")),
    });
    variables.push(Variable {
        name: "rule",
        // No pod spec, no rule: the object is accepted untouched, as the policy does.
        expression: format!(
            "variables.hasPodSpec ? {}[variables.ruleIndex] : \"\"",
            string_list(names)
        ),
    });
    custom::variables(settings, customs, &mut variables);
    variables
}

/// The ValidatingAdmissionPolicy's CEL for these settings.
pub fn validating_rules(settings: &Settings) -> ValidatingRules {
    let kinds: Vec<&'static PodSpecKind> = KINDS.iter().collect();
    let customs: Vec<&CustomWorkload> = settings.custom_workloads.iter().collect();
    let mut variables = common_variables(settings, &kinds, &customs);
    variables.push(Variable {
        name: "objectName",
        expression: "has(object.metadata) && has(object.metadata.name) && object.metadata.name != \"\" ? object.metadata.name :\nhas(object.metadata) && has(object.metadata.generateName) ? object.metadata.generateName :\n\"\"".to_owned(),
    });
    variables.extend([
        quoted_variable("quotedObjectName", "variables.objectName"),
        quoted_variable("quotedNamespace", "request.namespace"),
        quoted_variable("quotedPriorityClassName", "variables.priorityClassName"),
    ]);
    let mut validations = Vec::new();
    let kind = KIND.to_string();
    let name = NAME.to_string();
    let namespace = NAMESPACE.to_string();
    let class = CLASS.to_string();
    // With custom kinds the messages name the pod spec (`variables.podSpecAt`, empty for the built-in kinds).
    let at = if customs.is_empty() {
        String::new()
    } else {
        AT.to_string()
    };
    for (rule, policy) in rules(settings) {
        let is_rule = format!("variables.rule != {}", string_literal(rule));
        if let Some(allowed) = allowed_expression(&policy.classes) {
            validations.push(Validation {
                expression: format!(
                    "{is_rule} || variables.priorityClassName == \"\" ||\n{allowed}"
                ),
                message_expression: message_expression(&messages::class_not_allowed_where(
                    &kind,
                    &name,
                    &namespace,
                    &class,
                    &at,
                    rule,
                    &policy.classes,
                )),
                message: messages::class_not_allowed_by_rule(rule, &policy.classes),
                action: policy.action,
                checks_priority_classes: false,
            });
        }
        if policy.require_priority_class && policy.default_priority_class.is_none() {
            validations.push(Validation {
                expression: format!("{is_rule} || variables.priorityClassName != \"\""),
                message_expression: message_expression(&messages::class_required_where(
                    &kind,
                    &name,
                    &namespace,
                    &at,
                    rule,
                    &policy.classes,
                )),
                message: messages::class_required_by_rule(rule, &policy.classes),
                action: policy.action,
                checks_priority_classes: false,
            });
        }
    }
    if rules(settings)
        .iter()
        .any(|(_, policy)| policy.checks_class_values())
    {
        class_value_checks(settings, &mut variables, &mut validations);
    }
    let priority_classes = if let Some(pc) = &settings.priority_classes {
        let (variable, validation) = priority_class_checks(pc);
        variables.push(variable);
        validations.push(validation);
        true
    } else {
        false
    };
    ValidatingRules {
        priority_classes,
        targets: KINDS
            .iter()
            .map(|kind| Target {
                kind,
                operations: kind.operations(),
            })
            .collect(),
        variables,
        validations,
        custom_targets: settings.custom_workloads.clone(),
    }
}

/// Whether the class named passes the rule's class checks (so that a value check is the one that refuses), or
/// `None` when every class and none pass.
fn class_passes(policy: &ClassPolicy) -> Option<String> {
    let allowed = allowed_expression(&policy.classes);
    let required = policy.require_priority_class && policy.default_priority_class.is_none();
    if allowed.is_none() && !required {
        return None;
    }
    Some(format!(
        "(variables.priorityClassName == \"\" ? {} : {})",
        !required,
        allowed.unwrap_or_else(|| "true".to_owned())
    ))
}

/// `maxPriority`, `minPriority` and `allowedPreemptionPolicies` for Pods the apiserver has resolved: their `spec.priority` and
/// `spec.preemptionPolicy`, which the Priority plugin fills in before any admission policy runs (and again after
/// a MutatingAdmissionPolicy sets a default). Pod templates name a class whose values CEL cannot read; the
/// policy looks them up (a known difference).
fn class_value_checks(
    settings: &Settings,
    variables: &mut Vec<Variable>,
    validations: &mut Vec<Validation>,
) {
    variables.push(Variable {
        name: "resolvedPod",
        expression: "request.kind.kind == \"Pod\" && has(variables.podSpec.priority)".to_owned(),
    });
    variables.push(Variable {
        name: "podPriorityClassName",
        expression:
            "has(variables.podSpec.priorityClassName) ? variables.podSpec.priorityClassName : \"\""
                .to_owned(),
    });
    variables.push(quoted_variable(
        "quotedPodPriorityClassName",
        "variables.podPriorityClassName",
    ));
    variables.push(Variable {
        name: "fromPriorityClass",
        expression: format!(
            "variables.podPriorityClassName == \"\" ? \"\" :\n{}",
            message_expression(&messages::from_class(&POD_CLASS.to_string()))
        ),
    });
    variables.push(Variable {
        name: "preemptionPolicy",
        expression: format!(
            "has(variables.podSpec.preemptionPolicy) ? variables.podSpec.preemptionPolicy : {}",
            string_literal(PreemptionPolicy::PreemptLowerPriority.as_str())
        ),
    });
    variables.push(quoted_variable(
        "quotedPreemptionPolicy",
        "variables.preemptionPolicy",
    ));
    let (kind, name, namespace) = (KIND.to_string(), NAME.to_string(), NAMESPACE.to_string());
    let (priority, from, policy_text) =
        (PRIORITY.to_string(), FROM.to_string(), POLICY.to_string());
    for (rule, policy) in rules(settings) {
        let mut guard = format!(
            "variables.rule != {} || !variables.resolvedPod",
            string_literal(rule)
        );
        if let Some(passes) = class_passes(policy) {
            guard.push_str(&format!(" || !{passes}"));
        }
        if let Some(max) = policy.max_priority {
            validations.push(Validation {
                expression: format!("{guard} ||\nvariables.podSpec.priority <= {max}"),
                message_expression: message_expression(&messages::priority_too_high(
                    &kind, &name, &namespace, &priority, &from, rule, max,
                )),
                message: messages::priority_too_high_by_rule(rule, max),
                action: policy.action,
                checks_priority_classes: false,
            });
        }
        // One refusal per Pod, in the policy's order (maxPriority, minPriority, allowedPreemptionPolicies): each
        // check passes where an earlier one refuses.
        let too_high = policy
            .max_priority
            .map(|max| format!(" || variables.podSpec.priority > {max}"))
            .unwrap_or_default();
        if let Some(min) = policy.min_priority {
            validations.push(Validation {
                expression: format!("{guard}{too_high} ||\nvariables.podSpec.priority >= {min}"),
                message_expression: message_expression(&messages::priority_too_low(
                    &kind, &name, &namespace, &priority, &from, rule, min,
                )),
                message: messages::priority_too_low_by_rule(rule, min),
                action: policy.action,
                checks_priority_classes: false,
            });
        }
        if let Some(allowed) = &policy.allowed_preemption_policies {
            let too_low = policy
                .min_priority
                .map(|min| format!(" || variables.podSpec.priority < {min}"))
                .unwrap_or_default();
            validations.push(Validation {
                expression: format!(
                    "{guard}{too_high}{too_low} ||\nvariables.preemptionPolicy in {}",
                    string_list(allowed.iter().map(|p| p.as_str()))
                ),
                message_expression: message_expression(&messages::preemption_not_allowed(
                    &kind,
                    &name,
                    &namespace,
                    &policy_text,
                    &from,
                    rule,
                    allowed,
                )),
                message: messages::preemption_not_allowed_by_rule(rule, allowed),
                action: policy.action,
                checks_priority_classes: false,
            });
        }
    }
}

/// The `priorityClasses` settings: one variable listing every problem of a PriorityClass object (in the order
/// [`crate::decide::priority_class::check`] lists them), and one validation that it is empty.
fn priority_class_checks(rules: &PriorityClassRules) -> (Variable, Validation) {
    let mut terms = Vec::new();
    if rules.require_description {
        terms.push(format!(
            "(has(object.description) && object.description != \"\" ? [] : [{}])",
            string_literal(messages::DESCRIPTION_REQUIRED)
        ));
    }
    if !rules.allow_global_default {
        terms.push(format!(
            "(has(object.globalDefault) && object.globalDefault ? [{}] : [])",
            string_literal(messages::GLOBAL_DEFAULT_NOT_ALLOWED)
        ));
    }
    if let Some(below) = rules.require_non_preempting_below {
        terms.push(format!(
            "(object.value < {below} && (!has(object.preemptionPolicy) || object.preemptionPolicy != \"Never\") ? [{}] : [])",
            string_literal(&messages::non_preempting_required(below))
        ));
    }
    if let Some(max) = rules.max_value {
        terms.push(format!(
            "(object.value > {max} && !object.metadata.name.startsWith({}) ?\n  [{} + string(object.value) + {}] : [])",
            string_literal(priority_class::SYSTEM_PREFIX),
            string_literal(messages::VALUE_TOO_HIGH_PREFIX),
            string_literal(&messages::value_too_high_suffix(max))
        ));
    }
    let list = if terms.is_empty() {
        "[]".to_owned()
    } else {
        terms.join(" +\n")
    };
    let is_class = format!(
        "request.kind.kind == {}",
        string_literal(priority_class::KIND)
    );
    (
        Variable {
            name: "priorityClassProblems",
            expression: format!("!({is_class}) ? [] :\n{list}"),
        },
        Validation {
            expression: format!("!({is_class}) || size(variables.priorityClassProblems) == 0"),
            message_expression: message_expression(&messages::priority_class_refused(
                &NAME.to_string(),
                &[PROBLEMS.to_string()],
            )),
            message: messages::PRIORITY_CLASS_REFUSED.to_owned(),
            action: rules.action,
            checks_priority_classes: true,
        },
    )
}

/// The MutatingAdmissionPolicy's CEL for these settings, or `None` when no rule has a default.
pub fn mutating_rules(settings: &Settings) -> Option<MutatingRules> {
    mutating_rules_with(settings, true)
}

/// As [`mutating_rules`]; without `list_indexes` (releases whose new expressions cannot use `lists.range`, i.e.
/// before 1.35), custom kinds whose path has `[*]` are left out of the policy (`custom_left_out`).
pub fn mutating_rules_with(settings: &Settings, list_indexes: bool) -> Option<MutatingRules> {
    let rules = rules(settings);
    let rules_with_default: Vec<String> = rules
        .iter()
        .filter(|(_, p)| p.default_priority_class.is_some())
        .map(|(name, _)| (*name).to_owned())
        .collect();
    if rules_with_default.is_empty() {
        return None;
    }
    let kinds: Vec<&'static PodSpecKind> = KINDS
        .iter()
        .filter(|k| k.is_pod() || settings.mutate_workload_templates)
        .collect();
    let (customs, custom_left_out): (Vec<&CustomWorkload>, Vec<&CustomWorkload>) =
        if settings.mutate_workload_templates {
            settings
                .custom_workloads
                .iter()
                .partition(|c| list_indexes || custom::pointer(c).is_some())
        } else {
            (Vec::new(), Vec::new())
        };
    let mut variables = common_variables(settings, &kinds, &customs);
    let groups = kinds_by_path(&kinds);
    let builtin_path = by_kind(
        &groups,
        |path| {
            let pointer: String = path.iter().map(|s| format!("/{s}")).collect();
            string_literal(&pointer)
        },
        "\"\"",
    );
    let mut custom_paths = String::new();
    for (i, c) in customs.iter().enumerate() {
        if let Some(pointer) = custom::pointer(c) {
            custom_paths.push_str(&format!(
                "variables.customWorkload == {i} ? {} :\n",
                string_literal(&pointer)
            ));
        }
    }
    variables.push(Variable {
        name: "podSpecPath",
        expression: format!("{custom_paths}{builtin_path}"),
    });
    let mut defaults: Vec<&str> = rules
        .iter()
        .map(|(_, p)| p.default_priority_class.as_deref().unwrap_or(""))
        .collect();
    if settings.fallback.is_none() {
        defaults.push("");
    }
    variables.push(Variable {
        name: "defaultPriorityClassName",
        expression: format!("{}[variables.ruleIndex]", string_list(defaults)),
    });
    let json_patch = [
        r#"!variables.hasPodSpec || variables.priorityClassName != "" || variables.defaultPriorityClassName == "" ? [] :"#,
        r#"[JSONPatch{op: "add", path: variables.podSpecPath + "/priorityClassName", value: variables.defaultPriorityClassName}] +"#,
        r#"(has(variables.podSpec.priority) ? [JSONPatch{op: "remove", path: variables.podSpecPath + "/priority"}] : []) +"#,
        r#"(has(variables.podSpec.preemptionPolicy) ? [JSONPatch{op: "remove", path: variables.podSpecPath + "/preemptionPolicy"}] : [])"#,
    ]
    .join("\n");
    let json_patch = custom::json_patch(settings, &customs, &json_patch);
    Some(MutatingRules {
        targets: kinds
            .iter()
            .map(|kind| Target {
                kind,
                operations: kind.operations(),
            })
            .collect(),
        variables,
        json_patch,
        rules_with_default,
        custom_targets: customs.into_iter().cloned().collect(),
        custom_left_out: custom_left_out.into_iter().cloned().collect(),
    })
}

/// Every expression of both policies with a label saying where it is (for cost reports and checks).
pub fn all_expressions(settings: &Settings) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let validating = validating_rules(settings);
    for v in &validating.variables {
        out.insert(format!("vap.variables.{}", v.name), v.expression.clone());
    }
    for (i, v) in validating.validations.iter().enumerate() {
        out.insert(
            format!("vap.validations[{i}].expression"),
            v.expression.clone(),
        );
        out.insert(
            format!("vap.validations[{i}].messageExpression"),
            v.message_expression.clone(),
        );
    }
    if let Some(mutating) = mutating_rules(settings) {
        for v in &mutating.variables {
            out.insert(format!("map.variables.{}", v.name), v.expression.clone());
        }
        out.insert("map.mutations[0].jsonPatch".to_owned(), mutating.json_patch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(json: serde_json::Value) -> Settings {
        Settings::from_value(json).expect("valid settings")
    }

    #[test]
    fn string_literals_escape_quotes_and_backslashes() {
        assert_eq!(string_literal(r#"a'b"c\d"#), r#"'a\'b"c\\d'"#);
        assert_eq!(string_literal(r"a'b\c"), r#""a'b\\c""#);
        assert_eq!(string_literal("\u{1}"), r#""\u0001""#);
    }

    #[test]
    fn messages_become_concatenations_of_literals_and_request_fields() {
        let classes = ClassList::Allowed(
            [ClassPattern::parse("prod-pc").expect("pattern")]
                .into_iter()
                .collect(),
        );
        let expr = message_expression(&messages::class_not_allowed(
            &KIND.to_string(),
            &NAME.to_string(),
            &NAMESPACE.to_string(),
            &CLASS.to_string(),
            "production",
            &classes,
        ));
        assert_eq!(
            expr,
            "request.kind.kind + ' \"' + variables.quotedObjectName + '\" in namespace \"' + variables.quotedNamespace + '\" uses PriorityClass \"' + variables.quotedPriorityClassName +\n'\", which rule \"production\" does not allow (allowed: prod-pc)'"
        );
    }

    #[test]
    fn patterns_split_into_exact_names_and_prefixes() {
        let patterns: Vec<ClassPattern> = ["b", "a", "sys-*"]
            .iter()
            .map(|p| ClassPattern::parse(p).expect("pattern"))
            .collect();
        assert_eq!(
            patterns_expression(&patterns),
            r#"variables.priorityClassName in ["b", "a"] || variables.priorityClassName.startsWith("sys-")"#
        );
        assert_eq!(patterns_expression(&[]), "false");
        assert_eq!(
            allowed_expression(&ClassList::Denied(Default::default())).as_deref(),
            Some("true")
        );
        assert_eq!(allowed_expression(&ClassList::Any), None);
        // `!` binds tighter than `in`: a single denied name must still be negated as a whole.
        let one = ClassList::Denied(
            [ClassPattern::parse("x").expect("pattern")]
                .into_iter()
                .collect(),
        );
        assert_eq!(
            allowed_expression(&one).as_deref(),
            Some(r#"!(variables.priorityClassName == "x")"#)
        );
    }

    #[test]
    fn selectors_follow_kubernetes_semantics() {
        let s = settings(
            serde_json::json!({"rules": [{"name": "r", "namespaceSelector": {
            "matchLabels": {"env": "prod"},
            "matchExpressions": [
                {"key": "tier", "operator": "NotIn", "values": ["b", "a"]},
                {"key": "team", "operator": "Exists"},
                {"key": "tmp", "operator": "DoesNotExist"}
            ]}}]}),
        );
        let selector = s.rules[0].namespace_selector.as_ref().expect("selector");
        assert_eq!(
            selector_expression(selector),
            r#"("env" in variables.namespaceLabels && variables.namespaceLabels["env"] == "prod") && (!("tier" in variables.namespaceLabels) || !(variables.namespaceLabels["tier"] in ["a", "b"])) && "team" in variables.namespaceLabels && !("tmp" in variables.namespaceLabels)"#
        );
    }

    #[test]
    fn rule_selection_lists_names_in_order_with_a_sentinel() {
        let s = settings(serde_json::json!({"rules": [
            {"name": "a", "namespaces": ["x"]},
            {"name": "b", "namespaceSelector": {}}
        ]}));
        let vars = validating_rules(&s).variables;
        let index = vars
            .iter()
            .find(|v| v.name == "ruleIndex")
            .expect("ruleIndex");
        assert_eq!(
            index.expression,
            "[\n  request.namespace in [\"x\"],\n  true,\n  true\n].indexOf(true)"
        );
        let rule = vars.iter().find(|v| v.name == "rule").expect("rule");
        assert_eq!(
            rule.expression,
            r#"variables.hasPodSpec ? ["a", "b", ""][variables.ruleIndex] : """#
        );
        assert!(
            !vars.iter().any(|v| v.name == "namespaceLabels"),
            "an empty selector needs no labels"
        );
    }

    #[test]
    fn only_rules_that_can_refuse_get_validations() {
        let s = settings(serde_json::json!({
            "rules": [
                {"name": "open", "namespaces": ["a"]},
                {"name": "defaulted", "namespaces": ["b"], "defaultPriorityClass": "x", "requirePriorityClass": true},
                {"name": "required", "namespaces": ["c"], "requirePriorityClass": true, "allowedPriorityClasses": ["y"]}
            ]
        }));
        let validations = validating_rules(&s).validations;
        assert_eq!(validations.len(), 2, "{validations:#?}");
        assert!(
            validations[0]
                .expression
                .starts_with(r#"variables.rule != "required" ||"#)
        );
        assert!(
            validations[1]
                .expression
                .ends_with(r#"variables.priorityClassName != """#)
        );
        assert_eq!(
            validations[0].message,
            "the PriorityClass is not allowed by rule \"required\" (allowed: y)"
        );
        assert_eq!(
            validations[1].message,
            "a PriorityClass is required by rule \"required\" (allowed: y)"
        );
    }

    #[test]
    fn no_default_means_no_mutating_policy_and_templates_are_opt_in() {
        let plain = settings(serde_json::json!({"rules": [{"name": "a", "namespaces": ["x"]}]}));
        assert!(mutating_rules(&plain).is_none());
        let pods_only = settings(serde_json::json!({"fallback": {"defaultPriorityClass": "d"}}));
        let m = mutating_rules(&pods_only).expect("a default");
        assert_eq!(m.targets.len(), 1);
        assert!(m.targets[0].kind.is_pod());
        assert_eq!(m.rules_with_default, ["fallback"]);
        let templates = settings(serde_json::json!({
            "fallback": {"defaultPriorityClass": "d"}, "mutateWorkloadTemplates": true
        }));
        assert_eq!(
            mutating_rules(&templates).expect("a default").targets.len(),
            KINDS.len()
        );
    }
}
