//! PriorityClass objects: what the decision needs to know of a class it looks up ([`PriorityClassInfo`]), and the
//! `priorityClasses` settings that guard the creation and update of classes ([`PriorityClassRules`], [`check`]).

use std::borrow::Cow;

use crate::json::Reader;
use crate::request::read_fields;

use crate::messages;
use crate::request::RequestError;
use crate::settings::PreemptionPolicy;

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

/// The fields of a PriorityClass object, as written.
#[derive(Debug, Clone, Default)]
struct PriorityClassDoc {
    metadata: Metadata,
    value: Option<i32>,
    global_default: Option<bool>,
    description: Option<String>,
    preemption_policy: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Metadata {
    name: Option<String>,
    generate_name: Option<String>,
}

/// Reads the fields of a PriorityClass object (the strict reader of [`crate::json`]); `prefix` names it in errors.
/// Other fields are skipped; a field read twice is malformed.
fn parse(json: &str, prefix: &str) -> Result<PriorityClassDoc, RequestError> {
    let malformed = |path: &str, message: String| RequestError::Malformed {
        path: path.to_owned(),
        message,
    };
    let r = &mut Reader::new(json);
    let mut doc = PriorityClassDoc::default();
    let fields = [
        "metadata",
        "value",
        "globalDefault",
        "description",
        "preemptionPolicy",
    ];
    read_fields(r, prefix, "an object", &fields, |r, field, member| {
        let at = |m| member.error(m);
        match field {
            0 => {
                if !r.null().map_err(at)? {
                    let names = ["name", "generateName"];
                    read_fields(
                        r,
                        &member.path(),
                        "an object",
                        &names,
                        |r, field, member| {
                            let value = r
                                .optional_string("a string")
                                .map(|s| s.map(Cow::into_owned))
                                .map_err(|m| member.error(m))?;
                            if field == 0 {
                                doc.metadata.name = value;
                            } else {
                                doc.metadata.generate_name = value;
                            }
                            Ok(())
                        },
                    )?;
                }
            }
            1 => doc.value = r.optional_i32().map_err(at)?,
            2 => {
                if !r.null().map_err(at)? {
                    doc.global_default = Some(r.bool("a boolean").map_err(at)?);
                }
            }
            3 => {
                doc.description = r
                    .optional_string("a string")
                    .map_err(at)?
                    .map(Cow::into_owned);
            }
            _ => {
                doc.preemption_policy = r
                    .optional_string("a string")
                    .map_err(at)?
                    .map(Cow::into_owned);
            }
        }
        Ok(())
    })?;
    r.end().map_err(|m| malformed(prefix, m))?;
    Ok(doc)
}

pub(crate) fn preemption_policy(
    text: Option<&str>,
    prefix: &str,
) -> Result<PreemptionPolicy, RequestError> {
    match text {
        None => Ok(PreemptionPolicy::PreemptLowerPriority),
        Some(text) => PreemptionPolicy::parse(text).ok_or_else(|| RequestError::Malformed {
            path: format!("{prefix}.preemptionPolicy"),
            message: format!("\"{text}\" is not Never or PreemptLowerPriority"),
        }),
    }
}

impl PriorityClassInfo {
    /// Reads a PriorityClass object (as the host returns it). `what` names it in errors.
    pub fn from_json(json: &str, what: &str) -> Result<Self, RequestError> {
        let doc = parse(json, what)?;
        Ok(Self {
            value: doc
                .value
                .ok_or(RequestError::Missing("PriorityClass value"))?,
            preemption_policy: preemption_policy(doc.preemption_policy.as_deref(), what)?,
        })
    }
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

/// A PriorityClass object refused by the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The class's name.
    pub name: String,
    /// Every problem, in the order of the fields they concern (description, globalDefault, preemptionPolicy,
    /// value).
    pub problems: Vec<String>,
}

impl Refusal {
    /// The message for the user.
    pub fn message(&self) -> String {
        messages::priority_class_refused(&self.name, &self.problems)
    }
}

/// Checks a PriorityClass object (the request's `object`, as JSON) against the rules: `Ok(None)` when it passes.
pub fn check(rules: &PriorityClassRules, object: &str) -> Result<Option<Refusal>, RequestError> {
    let doc = parse(object, "object")?;
    // The name shown is the name, else the generateName prefix, as for every other object.
    let Metadata {
        name,
        generate_name,
    } = doc.metadata;
    let name = name
        .filter(|n| !n.is_empty())
        .or(generate_name)
        .unwrap_or_default();
    let value = doc.value.ok_or(RequestError::Missing("object.value"))?;
    let preemption = preemption_policy(doc.preemption_policy.as_deref(), "object")?;
    let mut problems = Vec::new();
    if rules.require_description && doc.description.as_deref().is_none_or(str::is_empty) {
        problems.push(messages::DESCRIPTION_REQUIRED.to_owned());
    }
    if !rules.allow_global_default && doc.global_default == Some(true) {
        problems.push(messages::GLOBAL_DEFAULT_NOT_ALLOWED.to_owned());
    }
    if let Some(below) = rules.require_non_preempting_below
        && value < below
        && preemption != PreemptionPolicy::Never
    {
        problems.push(messages::non_preempting_required(below));
    }
    if let Some(max) = rules.max_value
        && value > max
        && !name.starts_with(SYSTEM_PREFIX)
    {
        problems.push(format!(
            "{}{value}{}",
            messages::VALUE_TOO_HIGH_PREFIX,
            messages::value_too_high_suffix(max)
        ));
    }
    Ok(if problems.is_empty() {
        None
    } else {
        Some(Refusal { name, problems })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> PriorityClassRules {
        PriorityClassRules {
            max_value: Some(1000),
            allow_global_default: false,
            require_description: true,
            require_non_preempting_below: Some(100),
        }
    }

    #[test]
    fn every_problem_is_listed_in_field_order() {
        let refusal = check(
            &rules(),
            r#"{"metadata":{"name":"x"},"value":50,"globalDefault":true}"#,
        )
        .expect("readable")
        .expect("refused");
        let fields: Vec<&str> = refusal
            .problems
            .iter()
            .map(|p| p.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(fields, ["description", "globalDefault", "preemptionPolicy"]);
    }

    #[test]
    fn system_classes_are_exempt_from_the_ceiling_only() {
        let system =
            r#"{"metadata":{"name":"system-node-critical"},"value":2000001000,"description":"d"}"#;
        assert_eq!(check(&rules(), system).expect("readable"), None);
        let other = r#"{"metadata":{"name":"node-critical"},"value":2000001000,"description":"d"}"#;
        let refusal = check(&rules(), other).expect("readable").expect("refused");
        assert_eq!(
            refusal.problems,
            [
                "value: 2000001000 is above the maximum 1000 for classes not named system-* (lower it to at most 1000)"
            ]
        );
    }

    #[test]
    fn a_value_that_is_not_an_integer_is_malformed() {
        let err =
            check(&rules(), r#"{"metadata":{"name":"x"},"value":"high"}"#).expect_err("malformed");
        let RequestError::Malformed { path, .. } = err else {
            panic!("expected malformed, got {err:?}");
        };
        assert_eq!(path, "object.value");
    }

    #[test]
    fn looked_up_classes_default_to_preempting() {
        let info = PriorityClassInfo::from_json(r#"{"value":7}"#, "PriorityClass \"x\"")
            .expect("readable");
        assert_eq!(
            info,
            PriorityClassInfo {
                value: 7,
                preemption_policy: PreemptionPolicy::PreemptLowerPriority
            }
        );
    }
}
