//! Custom workload kinds: the fixtures of `fixtures/custom-workloads` (an Argo Rollout and a Volcano Job with one
//! pod template per task) decided by the sdk, and the settings that declare them.

use std::path::{Path, PathBuf};

use priority_guard_sdk::decide::patch::PatchOp;
use priority_guard_sdk::decide::{Lookups, RejectReason};
use priority_guard_sdk::model::settings::ClassList;
use priority_guard_sdk::output::mutation;
use priority_guard_sdk::{AcceptReason, AdmissionRequestView, Outcome, Settings, decide, messages};
use rstest::rstest;
use serde_json::{Value, json};

fn scenario() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/custom-workloads")
}

fn settings() -> Settings {
    let text = std::fs::read_to_string(scenario().join("settings.yaml")).expect("settings.yaml");
    let value: Value = serde_yaml_ng::from_str(&text).expect("settings parse");
    Settings::from_value(value).expect("the fixture settings are valid")
}

fn request(name: &str) -> Value {
    let path = scenario().join(format!("requests/{name}.json"));
    let review: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("json");
    review["request"].clone()
}

fn decide_fixture(name: &str) -> Outcome {
    let json = request(name).to_string();
    let view = AdmissionRequestView::from_json(&json).expect("valid request");
    decide(&settings(), &view, |ns: &str| {
        Err(format!("no lookup expected for {ns}"))
    })
    .expect("decidable")
}

fn allowed(names: &[&str]) -> ClassList {
    ClassList::Allowed(
        names
            .iter()
            .map(|n| priority_guard_sdk::model::pattern::ClassPattern::parse(n).expect("pattern"))
            .collect(),
    )
}

#[rstest]
#[case::rollout_with_an_allowed_class("rollout_prod_allowed_class_accept", "production")]
#[case::every_task_with_an_allowed_class("vcjob_prod_allowed_classes_accept", "production")]
fn accepted(#[case] name: &str, #[case] rule: &str) {
    assert_eq!(
        decide_fixture(name),
        Outcome::Accept {
            rule: Some(rule.into()),
            reason: AcceptReason::ClassAllowed
        }
    );
}

#[test]
fn a_status_update_of_a_custom_kind_is_not_checked() {
    assert_eq!(
        decide_fixture("rollout_prod_status_subresource_accept"),
        Outcome::Accept {
            rule: None,
            reason: AcceptReason::NotChecked
        }
    );
}

#[test]
fn the_rejection_of_a_rollout_names_its_template() {
    let Outcome::Reject {
        rule,
        reason,
        message,
        ..
    } = decide_fixture("rollout_prod_dev_class_reject")
    else {
        panic!("rejected");
    };
    assert_eq!(rule, "production");
    assert_eq!(
        reason,
        RejectReason::ClassNotAllowed {
            class: "dev-pc".into()
        }
    );
    assert_eq!(
        message,
        messages::class_not_allowed_at(
            "Rollout",
            "web",
            "prod",
            "dev-pc",
            "$.spec.template.spec",
            "production",
            &allowed(&["prod-pc", "prod-batch-pc"])
        )
    );
}

#[test]
fn the_first_task_that_breaks_the_rule_is_named() {
    let Outcome::Reject {
        reason, message, ..
    } = decide_fixture("vcjob_prod_second_task_dev_class_reject")
    else {
        panic!("rejected");
    };
    assert_eq!(
        reason,
        RejectReason::ClassNotAllowed {
            class: "dev-pc".into()
        }
    );
    assert_eq!(
        message,
        r#"Job "train" in namespace "prod" uses PriorityClass "dev-pc" at $.spec.tasks[1].template.spec, which rule "production" does not allow (allowed: prod-batch-pc, prod-pc)"#
    );
}

#[test]
fn a_task_without_a_class_is_refused_where_one_is_required() {
    let Outcome::Reject {
        rule,
        reason,
        message,
        ..
    } = decide_fixture("vcjob_payments_task_without_class_reject")
    else {
        panic!("rejected");
    };
    assert_eq!(
        (rule.as_str(), reason),
        ("payments", RejectReason::ClassRequired)
    );
    assert!(
        message.contains(" names no PriorityClass at $.spec.tasks[1].template.spec, "),
        "{message}"
    );
}

#[test]
fn the_default_is_written_into_every_task_that_names_none_and_nowhere_else() {
    let Outcome::Mutate { rule, class, patch } =
        decide_fixture("vcjob_prod_tasks_without_class_mutate")
    else {
        panic!("mutated");
    };
    assert_eq!((rule.as_str(), class.as_str()), ("production", "prod-pc"));
    let paths: Vec<(&str, &str)> = patch
        .iter()
        .map(|op| {
            let kind = match op {
                PatchOp::Add { .. } => "add",
                PatchOp::Replace { .. } => "replace",
                PatchOp::Remove { .. } => "remove",
            };
            (kind, op.path())
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("add", "/spec/tasks/1/template/spec/priorityClassName"),
            ("remove", "/spec/tasks/1/template/spec/priority"),
            ("replace", "/spec/tasks/3/template/spec/priorityClassName"),
            ("remove", "/spec/tasks/3/template/spec/preemptionPolicy"),
        ]
    );
    // Applied to the object, the patch changes those members only.
    let mut object = request("vcjob_prod_tasks_without_class_mutate")["object"].clone();
    let before = object.clone();
    mutation::apply(&mut object, &patch).expect("applies");
    for (i, task) in object["spec"]["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .enumerate()
    {
        let was = &before["spec"]["tasks"][i];
        match i {
            1 | 3 => assert_eq!(task["template"]["spec"]["priorityClassName"], "prod-pc"),
            _ => assert_eq!(task, was, "task {i} is untouched"),
        }
    }
    assert_eq!(
        object["spec"]["tasks"][1]["template"]["spec"].get("priority"),
        None
    );
    assert_eq!(object["metadata"], before["metadata"]);
}

#[test]
fn without_mutate_workload_templates_the_default_is_left_to_the_pods() {
    let mut value: Value = serde_yaml_ng::from_str(
        &std::fs::read_to_string(scenario().join("settings.yaml")).expect("settings"),
    )
    .expect("yaml");
    value["mutateWorkloadTemplates"] = json!(false);
    let settings = Settings::from_value(value).expect("valid");
    let json = request("rollout_prod_no_class_mutate").to_string();
    let view = AdmissionRequestView::from_json(&json).expect("request");
    assert_eq!(
        decide(&settings, &view, |_: &str| Err(String::new())).expect("decidable"),
        Outcome::Accept {
            rule: Some("production".into()),
            reason: AcceptReason::DefaultLeftToPods
        }
    );
}

#[test]
fn the_built_in_job_keeps_its_path_and_message() {
    let Outcome::Reject { message, .. } = decide_fixture("job_prod_builtin_dev_class_reject")
    else {
        panic!("rejected");
    };
    assert_eq!(
        message,
        messages::class_not_allowed(
            "Job",
            "migrate",
            "prod",
            "dev-pc",
            "production",
            &allowed(&["prod-pc", "prod-batch-pc"])
        )
    );
}

#[test]
fn a_kind_that_is_not_declared_is_not_checked() {
    let mut request = request("rollout_prod_dev_class_reject");
    request["kind"]["group"] = json!("argoproj.example");
    let json = request.to_string();
    let view = AdmissionRequestView::from_json(&json).expect("request");
    assert_eq!(
        decide(&settings(), &view, |_: &str| Err(String::new())).expect("decidable"),
        Outcome::Accept {
            rule: None,
            reason: AcceptReason::NotChecked
        }
    );
}

fn workload(path: &str) -> Value {
    json!({"apiGroup": "example.com", "apiVersion": "v1", "kind": "Trainer", "resource": "trainers",
           "podSpecPath": path})
}

fn refused(settings: Value) -> Vec<(String, String)> {
    Settings::from_value(settings)
        .expect_err("refused")
        .errors
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

#[rstest]
#[case::recursive_descent("$..spec")]
#[case::an_index("$.spec.workers[0].template.spec")]
#[case::a_filter("$.spec.workers[?(@.name == 'a')].template.spec")]
#[case::two_lists("$.spec.groups[*].workers[*].template.spec")]
#[case::no_dollar("spec.template.spec")]
#[case::quoted_names("$['spec']['template']['spec']")]
fn paths_the_cel_cannot_walk_are_refused_naming_the_subset(#[case] path: &str) {
    let errors = refused(json!({"customWorkloads": [workload(path)]}));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "customWorkloads[0].podSpecPath");
    assert!(
        errors[0]
            .1
            .contains("child names and at most one [*] over a list"),
        "{}",
        errors[0].1
    );
}

#[rstest]
#[case::a_built_in_kind(json!({"apiGroup": "apps", "apiVersion": "v1", "kind": "Deployment", "resource": "deployments", "podSpecPath": "$.spec.template.spec"}), "customWorkloads[0].kind")]
#[case::the_core_group(json!({"apiGroup": "", "apiVersion": "v1", "kind": "Thing", "resource": "things", "podSpecPath": "$.spec"}), "customWorkloads[0].apiGroup")]
#[case::a_group_in_the_version(json!({"apiGroup": "argoproj.io", "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "resource": "rollouts", "podSpecPath": "$.spec.template.spec"}), "customWorkloads[0].apiVersion")]
#[case::a_subresource(json!({"apiGroup": "argoproj.io", "apiVersion": "v1alpha1", "kind": "Rollout", "resource": "rollouts/status", "podSpecPath": "$.spec.template.spec"}), "customWorkloads[0].resource")]
#[case::a_kind_that_is_no_name(json!({"apiGroup": "argoproj.io", "apiVersion": "v1alpha1", "kind": "roll-out", "resource": "rollouts", "podSpecPath": "$.spec.template.spec"}), "customWorkloads[0].kind")]
#[case::a_missing_path(json!({"apiGroup": "argoproj.io", "apiVersion": "v1alpha1", "kind": "Rollout", "resource": "rollouts"}), "customWorkloads[0]")]
#[case::an_unknown_key(json!({"apiGroup": "argoproj.io", "apiVersion": "v1alpha1", "kind": "Rollout", "resource": "rollouts", "podSpecPath": "$.spec.template.spec", "podSpecPaths": []}), "customWorkloads[0].podSpecPaths")]
fn unusable_entries_are_refused_naming_the_field(#[case] entry: Value, #[case] field: &str) {
    let errors = refused(json!({"customWorkloads": [entry]}));
    assert_eq!(errors[0].0, field, "{errors:?}");
}

#[test]
fn a_kind_declared_twice_is_refused() {
    let errors = refused(
        json!({"customWorkloads": [workload("$.spec.template.spec"), workload("$.spec.pod")]}),
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "customWorkloads[1].kind");
    assert!(
        errors[0].1.contains("customWorkloads[0]"),
        "{}",
        errors[0].1
    );
}

#[test]
fn the_same_kind_name_in_another_group_is_not_a_built_in() {
    let settings = Settings::from_value(json!({"customWorkloads": [
        {"apiGroup": "batch.volcano.sh", "apiVersion": "v1alpha1", "kind": "Job", "resource": "jobs",
         "podSpecPath": "$.spec.tasks[*].template.spec"}]}))
    .expect("valid");
    assert_eq!(settings.custom_workloads.len(), 1);
    assert!(settings.custom_workload("batch", "Job").is_none());
    assert!(
        settings
            .custom_workload("batch.volcano.sh", "Job")
            .is_some()
    );
}

/// With `maxPriority`, the class names of every pod spec are checked before any class's value: the second
/// task's class that the rule does not allow is reported, not the first task's class whose value is too high
/// (the generated CEL sees only names, and must name the same task).
#[test]
fn names_of_every_pod_spec_are_checked_before_values() {
    let settings = Settings::from_value(json!({
        "rules": [{"name": "batch", "namespaces": ["batch"],
                   "allowedPriorityClasses": ["batch-high", "batch-low"], "maxPriority": 100}],
        "customWorkloads": [{"apiGroup": "batch.volcano.sh", "apiVersion": "v1alpha1", "kind": "Job",
                             "resource": "jobs", "podSpecPath": "$.spec.tasks[*].template.spec"}],
    }))
    .expect("valid settings");
    let job = json!({
        "apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job",
        "metadata": {"name": "train", "namespace": "batch"},
        "spec": {"tasks": [
            {"template": {"spec": {"priorityClassName": "batch-high", "containers": []}}},
            {"template": {"spec": {"priorityClassName": "prod-pc", "containers": []}}},
        ]},
    });
    let request = json!({
        "uid": "u", "operation": "CREATE", "namespace": "batch", "name": "train",
        "kind": {"group": "batch.volcano.sh", "version": "v1alpha1", "kind": "Job"},
        "resource": {"group": "batch.volcano.sh", "version": "v1alpha1", "resource": "jobs"},
        "object": job,
    })
    .to_string();
    let view = AdmissionRequestView::from_json(&request).expect("valid request");
    let mut looked_up = Vec::new();
    let outcome = priority_guard_sdk::decide(
        &settings,
        &view,
        Lookups::new(
            |ns| Err(format!("no namespace lookup expected for {ns}")),
            |class| {
                looked_up.push(class.to_owned());
                Ok(Some(
                priority_guard_sdk::model::priority_class::PriorityClassInfo {
                    value: 5000,
                    preemption_policy:
                        priority_guard_sdk::model::priority_class::PreemptionPolicy::PreemptLowerPriority,
                },
            ))
            },
        ),
    )
    .expect("decidable");
    let Outcome::Reject {
        reason, message, ..
    } = outcome
    else {
        panic!("rejected: {outcome:?}");
    };
    assert_eq!(
        reason,
        RejectReason::ClassNotAllowed {
            class: "prod-pc".into()
        }
    );
    assert!(
        message.contains("at $.spec.tasks[1].template.spec"),
        "{message}"
    );
    assert!(
        looked_up.is_empty(),
        "no value is looked up before the names pass: {looked_up:?}"
    );
}
