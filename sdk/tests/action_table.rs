//! A rule's `action`: under `Deny` a refusal refuses the request; under `Warn` and `Audit` the same refusal is
//! reported on an accepted request, which still gets the rule's default. One row per situation and action,
//! asserting the outcome kind, the reason, the action and the default written, then what policy.wasm answers.

use priority_guard_sdk::decide::patch::PatchOp;
use priority_guard_sdk::decide::{Defaulted, Labels, Lookups, RejectReason};
use priority_guard_sdk::kubewarden::Validator;
use priority_guard_sdk::model::priority_class::{PreemptionPolicy, PriorityClassInfo};
use priority_guard_sdk::model::settings::Action;
use priority_guard_sdk::{AcceptReason, AdmissionRequestView, DecisionError, Outcome, Settings};
use rstest::rstest;
use serde_json::{Value, json};

fn settings_json(action: Action) -> Value {
    let action = action.as_str();
    json!({
        "rules": [
            {"name": "production", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"],
             "requirePriorityClass": true, "action": action},
            {"name": "batch", "namespaces": ["batch"], "defaultPriorityClass": "batch-pc", "maxPriority": 1000,
             "action": action},
            {"name": "tasks", "namespaces": ["tasks"], "allowedPriorityClasses": ["task-pc"],
             "defaultPriorityClass": "task-pc", "action": action},
        ],
        "mutateWorkloadTemplates": true,
        "customWorkloads": [{"apiGroup": "batch.volcano.sh", "apiVersion": "v1alpha1", "kind": "Job",
                             "resource": "jobs", "podSpecPath": "$.spec.tasks[*].template.spec"}],
        "priorityClasses": {"requireDescription": true, "action": action},
    })
}

fn settings(action: Action) -> Settings {
    Settings::from_value(settings_json(action)).expect("valid settings")
}

fn class(name: &str) -> Result<Option<PriorityClassInfo>, String> {
    Ok(match name {
        "batch-pc" => Some(PriorityClassInfo {
            value: 5000,
            preemption_policy: PreemptionPolicy::Never,
        }),
        "prod-pc" => Some(PriorityClassInfo {
            value: 100_000,
            preemption_policy: PreemptionPolicy::PreemptLowerPriority,
        }),
        _ => None,
    })
}

fn pod(namespace: &str, class: Option<&str>) -> Value {
    let mut spec = json!({"containers": [{"name": "app", "image": "app:1"}]});
    if let Some(class) = class {
        spec["priorityClassName"] = json!(class);
    }
    json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
           "namespace": namespace, "object": {"metadata": {"name": "web", "namespace": namespace}, "spec": spec}})
}

/// A Volcano Job whose first task names a class the rule does not allow and whose second names none.
fn volcano_job() -> Value {
    let task = |class: Option<&str>| {
        let mut spec = json!({"containers": []});
        if let Some(class) = class {
            spec["priorityClassName"] = json!(class);
        }
        json!({"template": {"spec": spec}})
    };
    json!({"uid": "1", "kind": {"group": "batch.volcano.sh", "version": "v1alpha1", "kind": "Job"},
           "operation": "CREATE", "namespace": "tasks",
           "object": {"metadata": {"name": "train", "namespace": "tasks"},
                      "spec": {"tasks": [task(Some("dev-pc")), task(None)]}}})
}

fn priority_class_object() -> Value {
    json!({"uid": "1", "kind": {"group": "scheduling.k8s.io", "version": "v1", "kind": "PriorityClass"},
           "operation": "CREATE", "object": {"metadata": {"name": "anything"}, "value": 10}})
}

fn decide(action: Action, request: &Value) -> Result<Outcome, DecisionError> {
    let text = request.to_string();
    let view = AdmissionRequestView::from_json(&text).expect("valid request");
    priority_guard_sdk::decide(
        &settings(action),
        &view,
        Lookups::new(|_: &str| Ok(Labels::new()), class),
    )
}

/// The reason's name, the action, and the paths of the default written.
type Refusal = (&'static str, Action, Option<Vec<String>>);

fn refusal(outcome: &Outcome) -> Option<Refusal> {
    let Outcome::Reject {
        reason,
        action,
        default,
        ..
    } = outcome
    else {
        return None;
    };
    let reason = match reason {
        RejectReason::ClassNotAllowed { .. } => "ClassNotAllowed",
        RejectReason::ClassRequired => "ClassRequired",
        RejectReason::PriorityTooHigh { .. } => "PriorityTooHigh",
        RejectReason::PriorityTooLow { .. } => "PriorityTooLow",
        RejectReason::PreemptionNotAllowed { .. } => "PreemptionNotAllowed",
        RejectReason::ClassDoesNotExist { .. } => "ClassDoesNotExist",
        RejectReason::PriorityClassRefused { .. } => "PriorityClassRefused",
    };
    let paths = default.as_ref().map(|Defaulted { patch, .. }| {
        patch
            .iter()
            .map(|op: &PatchOp| op.path().to_owned())
            .collect()
    });
    Some((reason, *action, paths))
}

fn paths(paths: &[&str]) -> Option<Vec<String>> {
    Some(paths.iter().map(|p| (*p).to_owned()).collect())
}

#[rstest]
fn a_refusal_carries_the_rules_action_and_refuses_only_under_deny(
    #[values(Action::Deny, Action::Warn, Action::Audit)] action: Action,
) {
    let cases: [(&str, Value, &str, Option<Vec<String>>); 5] = [
        (
            "class not allowed",
            pod("prod", Some("dev-pc")),
            "ClassNotAllowed",
            None,
        ),
        ("class required", pod("prod", None), "ClassRequired", None),
        // The default is too high for its own rule's maxPriority: under Warn and Audit the Pod still gets it.
        (
            "default too high",
            pod("batch", None),
            "PriorityTooHigh",
            (action != Action::Deny).then(|| vec!["/spec/priorityClassName".to_owned()]),
        ),
        // The second task still gets the default when the first one's class is only warned about.
        (
            "custom kind, one task refused",
            volcano_job(),
            "ClassNotAllowed",
            (action != Action::Deny)
                .then(|| paths(&["/spec/tasks/1/template/spec/priorityClassName"]))
                .flatten(),
        ),
        (
            "PriorityClass object",
            priority_class_object(),
            "PriorityClassRefused",
            None,
        ),
    ];
    for (situation, request, reason, default) in cases {
        let outcome = decide(action, &request).expect(situation);
        assert_eq!(
            refusal(&outcome),
            Some((reason, action, default)),
            "{situation}: {outcome:?}"
        );
        assert_eq!(outcome.refuses(), action == Action::Deny, "{situation}");
    }
}

#[rstest]
fn what_a_rule_accepts_or_defaults_does_not_depend_on_its_action(
    #[values(Action::Deny, Action::Warn, Action::Audit)] action: Action,
) {
    let outcome = decide(action, &pod("prod", Some("prod-pc"))).expect("decided");
    assert_eq!(
        outcome,
        Outcome::Accept {
            rule: Some("production".to_owned()),
            reason: AcceptReason::ClassAllowed
        }
    );
    let outcome = decide(action, &pod("tasks", None)).expect("decided");
    assert!(
        matches!(&outcome, Outcome::Mutate { class, .. } if class == "task-pc"),
        "{outcome:?}"
    );
}

#[rstest]
fn a_failed_lookup_fails_closed_whatever_the_action(
    #[values(Action::Deny, Action::Warn, Action::Audit)] action: Action,
) {
    let text = pod("batch", Some("batch-pc")).to_string();
    let view = AdmissionRequestView::from_json(&text).expect("valid request");
    let error = priority_guard_sdk::decide(
        &settings(action),
        &view,
        Lookups::new(
            |_: &str| Ok(Labels::new()),
            |_: &str| Err("forbidden".to_owned()),
        ),
    )
    .expect_err("the class cannot be read");
    assert!(
        matches!(error, DecisionError::PriorityClassLookup { ref rule, .. } if rule == "batch"),
        "{error:?}"
    );
}

/// What policy.wasm answers Kubewarden for a request and settings.
fn validate(action: Action, request: &Value) -> Value {
    let payload = json!({"request": request, "settings": settings_json(action)}).to_string();
    let answer = Validator::default().validate(
        payload.as_bytes(),
        Lookups::new(|_: &str| Ok(Labels::new()), class),
    );
    serde_json::from_slice(&answer).expect("JSON answer")
}

#[test]
fn kubewarden_gets_the_message_as_a_warning_or_an_audit_annotation() {
    let request = pod("prod", Some("dev-pc"));
    let denied = validate(Action::Deny, &request);
    let message = denied["message"].as_str().expect("a message").to_owned();
    assert_eq!(
        (&denied["accepted"], &denied["code"]),
        (&json!(false), &json!(403))
    );
    assert_eq!(
        (&denied["warnings"], &denied["audit_annotations"]),
        (&Value::Null, &Value::Null)
    );

    let warned = validate(Action::Warn, &request);
    assert_eq!(
        warned,
        json!({"accepted": true, "message": null, "code": null, "mutated_object": null,
               "audit_annotations": null, "warnings": [message]})
    );

    let audited = validate(Action::Audit, &request);
    assert_eq!(
        audited,
        json!({"accepted": true, "message": null, "code": null, "mutated_object": null,
               "audit_annotations": {"violation": message}, "warnings": null})
    );
}

#[test]
fn a_warned_request_is_mutated_with_the_default_too() {
    let warned = validate(Action::Warn, &pod("batch", None));
    assert_eq!(warned["accepted"], true);
    assert_eq!(
        warned["mutated_object"]["spec"]["priorityClassName"],
        "batch-pc"
    );
    let warnings = warned["warnings"].as_array().expect("a warning");
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .as_str()
            .is_some_and(|w| w.contains("above the maximum 1000 of rule \"batch\"")),
        "{warned}"
    );
}
