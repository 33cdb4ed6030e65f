//! The apiserver's Priority admission plugin, as far as the differential suite needs it: what it does to a Pod
//! when it runs again after a webhook or MutatingAdmissionPolicy changed the Pod (see DESIGN.md, "The Priority
//! admission plugin").
//!
//! It computes `spec.priority` and `spec.preemptionPolicy` from the Pod's class, refuses a class that does not
//! exist, and refuses values in the spec that disagree with the class, with the apiserver's messages.

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// The cluster's PriorityClasses by name.
pub type Classes = BTreeMap<String, Value>;

/// The Pod as the plugin leaves it, or the plugin's refusal.
pub fn resolve(pod: &Value, classes: &Classes) -> Result<Value, String> {
    let mut pod = pod.clone();
    let name = pod["metadata"]["name"]
        .as_str()
        .or(pod["metadata"]["generateName"].as_str())
        .unwrap_or("")
        .to_owned();
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return Ok(pod);
    };
    let class_name = spec
        .get("priorityClassName")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let (class_name, value, policy) = if class_name.is_empty() {
        // The lowest globalDefault class, else priority 0.
        match classes
            .values()
            .filter(|c| c["globalDefault"] == true)
            .min_by_key(|c| c["value"].as_i64().unwrap_or(0))
        {
            Some(class) => (
                class["metadata"]["name"].as_str().unwrap_or("").to_owned(),
                class["value"].as_i64().unwrap_or(0),
                class["preemptionPolicy"]
                    .as_str()
                    .unwrap_or("PreemptLowerPriority")
                    .to_owned(),
            ),
            None => (String::new(), 0, "PreemptLowerPriority".to_owned()),
        }
    } else {
        let Some(class) = classes.get(&class_name) else {
            return Err(format!(
                "pods \"{name}\" is forbidden: no PriorityClass with name {class_name} was found"
            ));
        };
        (
            class_name,
            class["value"].as_i64().unwrap_or(0),
            class["preemptionPolicy"]
                .as_str()
                .unwrap_or("PreemptLowerPriority")
                .to_owned(),
        )
    };
    if let Some(given) = spec.get("priority").filter(|v| !v.is_null())
        && given.as_i64() != Some(value)
    {
        return Err(format!(
            "pods \"{name}\" is forbidden: the integer value of priority ({given}) must not be provided in pod \
             spec; priority admission controller computed {value} from the given PriorityClass name"
        ));
    }
    if let Some(given) = spec.get("preemptionPolicy").filter(|v| !v.is_null())
        && given.as_str() != Some(policy.as_str())
    {
        return Err(format!(
            "pods \"{name}\" is forbidden: the string value of PreemptionPolicy ({}) must not be provided in \
             pod spec; priority admission controller computed {policy} from the given PriorityClass name",
            given.as_str().unwrap_or("")
        ));
    }
    if !class_name.is_empty() {
        spec.insert("priorityClassName".into(), json!(class_name));
    }
    spec.insert("priority".into(), json!(value));
    spec.insert("preemptionPolicy".into(), json!(policy));
    Ok(pod)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes() -> Classes {
        Classes::from([(
            "prod-pc".to_owned(),
            json!({"metadata": {"name": "prod-pc"}, "value": 1000, "preemptionPolicy": "Never"}),
        )])
    }

    #[test]
    fn fills_in_the_values_of_the_class() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "prod-pc"}});
        let resolved = resolve(&pod, &classes()).expect("resolved");
        assert_eq!(resolved["spec"]["priority"], 1000);
        assert_eq!(resolved["spec"]["preemptionPolicy"], "Never");
    }

    #[test]
    fn refuses_missing_classes_and_disagreeing_values() {
        let missing = json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "nope"}});
        assert!(
            resolve(&missing, &classes())
                .expect_err("missing")
                .contains("no PriorityClass with name nope was found")
        );
        let stale = json!({"metadata": {"name": "p"}, "spec": {"priorityClassName": "prod-pc", "priority": 0}});
        assert!(
            resolve(&stale, &classes())
                .expect_err("stale")
                .contains("must not be provided in pod spec")
        );
    }
}
