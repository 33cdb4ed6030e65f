//! The `priorityClasses` check: a PriorityClass object created or updated against [`PriorityClassRules`].

use crate::messages;
use crate::model::priority_class::PreemptionPolicy;
use crate::model::priority_class::{PriorityClassRules, SYSTEM_PREFIX};
use crate::read::priority_class::{Metadata, parse, preemption_policy};
use crate::read::request::RequestError;

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
            action: crate::model::settings::Action::Deny,
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
}
