//! The decision table: one row per situation, asserting the outcome kind, the rule and the reason.
//! The README's truth table is this file in prose.

use priority_guard_sdk::decide::patch::PatchOp;
use priority_guard_sdk::decide::{Labels, RejectReason};
use priority_guard_sdk::{
    AcceptReason, AdmissionRequestView, DecisionError, Outcome, Settings, decide,
};
use rstest::rstest;
use serde_json::{Value, json};

/// The README's prod / preprod / dev settings, plus a rule that requires a class.
fn settings(mutate_templates: bool) -> Settings {
    Settings::from_value(json!({
        "rules": [
            {"name": "system", "namespaces": ["kube-system"]},
            {"name": "production", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"],
             "defaultPriorityClass": "prod-pc"},
            {"name": "payments", "namespaces": ["payments"], "requirePriorityClass": true},
            {"name": "preproduction", "namespaceSelector": {"matchLabels": {"env": "preprod"}},
             "allowedPriorityClasses": ["preprod-pc", "dev-pc"], "defaultPriorityClass": "preprod-pc"},
        ],
        "fallback": {"deniedPriorityClasses": ["system-*", "prod-pc", "preprod-pc"], "defaultPriorityClass": "dev-pc"},
        "unsetPriorityClasses": ["cluster-default"],
        "mutateWorkloadTemplates": mutate_templates,
    }))
    .expect("valid settings")
}

/// The labels the fake cluster knows.
fn labels(namespace: &str) -> Result<Labels, String> {
    match namespace {
        "web-preprod" => Ok(Labels::from([("env".into(), "preprod".into())])),
        "web-dev" => Ok(Labels::from([("env".into(), "dev".into())])),
        other => Err(format!("namespace \"{other}\" not found")),
    }
}

fn pod_spec(class: Option<&str>) -> Value {
    let mut spec = json!({"containers": [{"name": "app", "image": "app:1"}], "priority": 0,
                          "preemptionPolicy": "PreemptLowerPriority"});
    if let Some(class) = class {
        spec["priorityClassName"] = json!(class);
    }
    spec
}

fn request(
    group: &str,
    kind: &str,
    operation: &str,
    namespace: &str,
    class: Option<&str>,
) -> String {
    let spec = pod_spec(class);
    let object_spec = match kind {
        "Pod" => spec,
        "CronJob" => {
            json!({"schedule": "@hourly", "jobTemplate": {"spec": {"template": {"spec": spec}}}})
        }
        _ => json!({"template": {"spec": spec}}),
    };
    json!({
        "uid": "1", "kind": {"group": group, "version": "v1", "kind": kind},
        "operation": operation, "namespace": namespace, "name": "web",
        "object": {"metadata": {"name": "web", "namespace": namespace}, "spec": object_spec},
    })
    .to_string()
}

#[derive(Debug, PartialEq)]
enum Expect {
    Accept(Option<String>, AcceptReason),
    Mutate(String, String),
    NotAllowed(String),
    Required(String),
    LookupFailed(String),
}

fn accept(rule: Option<&str>, reason: AcceptReason) -> Expect {
    Expect::Accept(rule.map(str::to_owned), reason)
}
fn mutate(rule: &str, class: &str) -> Expect {
    Expect::Mutate(rule.into(), class.into())
}
fn not_allowed(rule: &str) -> Expect {
    Expect::NotAllowed(rule.into())
}
fn required(rule: &str) -> Expect {
    Expect::Required(rule.into())
}

fn decide_row(settings: &Settings, json: &str) -> Expect {
    let view = AdmissionRequestView::from_json(json).expect("valid request");
    match decide(settings, &view, labels) {
        Ok(Outcome::Accept { rule, reason }) => Expect::Accept(rule, reason),
        Ok(Outcome::Mutate { rule, class, .. }) => Expect::Mutate(rule, class),
        Ok(Outcome::Reject {
            rule,
            reason: RejectReason::ClassNotAllowed { .. },
            ..
        }) => Expect::NotAllowed(rule),
        Ok(Outcome::Reject {
            rule,
            reason: RejectReason::ClassRequired,
            ..
        }) => Expect::Required(rule),
        Ok(Outcome::Reject { reason, .. }) => {
            panic!("these settings set no maxPriority or allowedPreemptionPolicies: {reason:?}")
        }
        Err(DecisionError::NamespaceLookup { rule, .. }) => Expect::LookupFailed(rule),
        Err(e) => panic!("unexpected error: {e}"),
    }
}

#[rstest]
#[case::allows_prod_class_in_prod(
    "",
    "Pod",
    "CREATE",
    "prod",
    Some("prod-pc"),
    accept(Some("production"), AcceptReason::ClassAllowed)
)]
#[case::rejects_dev_class_in_prod(
    "",
    "Pod",
    "CREATE",
    "prod",
    Some("dev-pc"),
    not_allowed("production")
)]
#[case::defaults_pod_without_class_in_prod(
    "",
    "Pod",
    "CREATE",
    "prod",
    None,
    mutate("production", "prod-pc")
)]
#[case::empty_class_counts_as_none(
    "",
    "Pod",
    "CREATE",
    "prod",
    Some(""),
    mutate("production", "prod-pc")
)]
#[case::cluster_default_counts_as_none(
    "",
    "Pod",
    "CREATE",
    "prod",
    Some("cluster-default"),
    mutate("production", "prod-pc")
)]
#[case::ignores_pod_updates(
    "",
    "Pod",
    "UPDATE",
    "prod",
    Some("dev-pc"),
    accept(None, AcceptReason::NotChecked)
)]
#[case::ignores_pod_deletes(
    "",
    "Pod",
    "DELETE",
    "prod",
    Some("dev-pc"),
    accept(None, AcceptReason::NotChecked)
)]
#[case::kube_system_may_use_system_classes(
    "",
    "Pod",
    "CREATE",
    "kube-system",
    Some("system-node-critical"),
    accept(Some("system"), AcceptReason::ClassAllowed)
)]
#[case::selector_rule_allows_dev_class_in_preprod(
    "",
    "Pod",
    "CREATE",
    "web-preprod",
    Some("dev-pc"),
    accept(Some("preproduction"), AcceptReason::ClassAllowed)
)]
#[case::selector_rule_rejects_prod_class_in_preprod(
    "",
    "Pod",
    "CREATE",
    "web-preprod",
    Some("prod-pc"),
    not_allowed("preproduction")
)]
#[case::selector_rule_defaults_preprod(
    "",
    "Pod",
    "CREATE",
    "web-preprod",
    None,
    mutate("preproduction", "preprod-pc")
)]
#[case::fallback_rejects_prod_class_in_dev(
    "",
    "Pod",
    "CREATE",
    "web-dev",
    Some("prod-pc"),
    not_allowed("fallback")
)]
#[case::fallback_rejects_system_prefix_in_dev(
    "",
    "Pod",
    "CREATE",
    "web-dev",
    Some("system-cluster-critical"),
    not_allowed("fallback")
)]
#[case::fallback_allows_other_classes_in_dev(
    "",
    "Pod",
    "CREATE",
    "web-dev",
    Some("batch-low"),
    accept(Some("fallback"), AcceptReason::ClassAllowed)
)]
#[case::fallback_defaults_dev("", "Pod", "CREATE", "web-dev", None, mutate("fallback", "dev-pc"))]
#[case::required_class_missing("", "Pod", "CREATE", "payments", None, required("payments"))]
#[case::required_class_given(
    "",
    "Pod",
    "CREATE",
    "payments",
    Some("anything"),
    accept(Some("payments"), AcceptReason::ClassAllowed)
)]
#[case::unknown_namespace_fails_closed("", "Pod", "CREATE", "ghost", Some("dev-pc"), Expect::LookupFailed("preproduction".into()))]
#[case::rejects_dev_class_in_prod_deployment(
    "apps",
    "Deployment",
    "CREATE",
    "prod",
    Some("dev-pc"),
    not_allowed("production")
)]
#[case::checks_deployment_updates(
    "apps",
    "Deployment",
    "UPDATE",
    "prod",
    Some("dev-pc"),
    not_allowed("production")
)]
#[case::leaves_template_default_to_pods(
    "apps",
    "Deployment",
    "CREATE",
    "prod",
    None,
    accept(Some("production"), AcceptReason::DefaultLeftToPods)
)]
#[case::required_class_missing_in_template(
    "batch",
    "Job",
    "CREATE",
    "payments",
    None,
    required("payments")
)]
#[case::checks_replicasets(
    "apps",
    "ReplicaSet",
    "CREATE",
    "prod",
    Some("dev-pc"),
    not_allowed("production")
)]
#[case::checks_statefulsets(
    "apps",
    "StatefulSet",
    "UPDATE",
    "prod",
    Some("dev-pc"),
    not_allowed("production")
)]
#[case::checks_daemonsets(
    "apps",
    "DaemonSet",
    "CREATE",
    "web-dev",
    Some("prod-pc"),
    not_allowed("fallback")
)]
#[case::checks_jobs(
    "batch",
    "Job",
    "CREATE",
    "prod",
    Some("dev-pc"),
    not_allowed("production")
)]
#[case::checks_cronjob_job_template(
    "batch",
    "CronJob",
    "CREATE",
    "prod",
    Some("dev-pc"),
    not_allowed("production")
)]
#[case::checks_replicationcontrollers(
    "",
    "ReplicationController",
    "CREATE",
    "prod",
    Some("dev-pc"),
    not_allowed("production")
)]
#[case::ignores_workload_deletes(
    "apps",
    "Deployment",
    "DELETE",
    "prod",
    Some("dev-pc"),
    accept(None, AcceptReason::NotChecked)
)]
#[case::ignores_other_kinds(
    "",
    "ConfigMap",
    "CREATE",
    "prod",
    Some("dev-pc"),
    accept(None, AcceptReason::NotChecked)
)]
#[case::ignores_same_kind_in_other_group(
    "example.com",
    "Deployment",
    "CREATE",
    "prod",
    Some("dev-pc"),
    accept(None, AcceptReason::NotChecked)
)]
fn decides(
    #[case] group: &str,
    #[case] kind: &str,
    #[case] operation: &str,
    #[case] namespace: &str,
    #[case] class: Option<&str>,
    #[case] expected: Expect,
) {
    let json = request(group, kind, operation, namespace, class);
    assert_eq!(decide_row(&settings(false), &json), expected);
}

#[rstest]
#[case::deployment("apps", "Deployment", "/spec/template/spec")]
#[case::cronjob("batch", "CronJob", "/spec/jobTemplate/spec/template/spec")]
fn writes_template_defaults_only_when_asked(
    #[case] group: &str,
    #[case] kind: &str,
    #[case] pointer: &str,
) {
    let json = request(group, kind, "CREATE", "prod", None);
    assert_eq!(
        decide_row(&settings(false), &json),
        accept(Some("production"), AcceptReason::DefaultLeftToPods)
    );
    let view = AdmissionRequestView::from_json(&json).expect("valid request");
    let Ok(Outcome::Mutate { patch, .. }) = decide(&settings(true), &view, labels) else {
        panic!("expected a mutation");
    };
    let paths: Vec<&str> = patch.iter().map(PatchOp::path).collect();
    assert_eq!(
        paths,
        [
            format!("{pointer}/priorityClassName"),
            format!("{pointer}/priority"),
            format!("{pointer}/preemptionPolicy")
        ]
    );
}

#[test]
fn namespace_labels_are_not_read_when_names_decide() {
    let json = request("", "Pod", "CREATE", "prod", Some("prod-pc"));
    let view = AdmissionRequestView::from_json(&json).expect("valid request");
    let outcome = decide(
        &settings(false),
        &view,
        |ns: &str| -> Result<Labels, String> {
            panic!("looked up {ns} although the rule matched by name")
        },
    );
    assert!(matches!(outcome, Ok(Outcome::Accept { .. })));
}

#[test]
fn namespace_labels_are_read_once_for_several_selector_rules() {
    let settings = Settings::from_value(json!({"rules": [
        {"name": "a", "namespaceSelector": {"matchLabels": {"x": "1"}}},
        {"name": "b", "namespaceSelector": {"matchLabels": {"x": "2"}}},
        {"name": "c", "namespaceSelector": {"matchLabels": {"x": "3"}}, "allowedPriorityClasses": ["c-pc"]},
    ]}))
    .expect("valid settings");
    let json = request("", "Pod", "CREATE", "ns", Some("other"));
    let view = AdmissionRequestView::from_json(&json).expect("valid request");
    let mut calls = 0;
    let outcome = decide(&settings, &view, |_: &str| {
        calls += 1;
        Ok(Labels::from([("x".into(), "3".into())]))
    })
    .expect("decided");
    assert_eq!(calls, 1);
    assert!(
        matches!(outcome, Outcome::Reject { ref rule, .. } if rule == "c"),
        "{outcome:?}"
    );
}

#[test]
fn rejection_message_names_everything_a_developer_needs() {
    let json = request("apps", "Deployment", "CREATE", "prod", Some("dev-pc"));
    let view = AdmissionRequestView::from_json(&json).expect("valid request");
    let Ok(Outcome::Reject { message, .. }) = decide(&settings(false), &view, labels) else {
        panic!("expected a rejection");
    };
    assert_eq!(
        message,
        r#"Deployment "web" in namespace "prod" uses PriorityClass "dev-pc", which rule "production" does not allow (allowed: prod-pc)"#
    );
}

#[test]
fn malformed_objects_are_errors_not_panics() {
    for object in [
        json!({"spec": {"priorityClassName": 5}}),
        json!({"spec": []}),
        json!("pod"),
    ] {
        let json = json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                          "operation": "CREATE", "namespace": "prod", "object": object})
        .to_string();
        let view = AdmissionRequestView::from_json(&json).expect("readable envelope");
        let outcome = decide(&settings(false), &view, labels);
        assert!(
            matches!(outcome, Err(DecisionError::Request(_))),
            "{object}: {outcome:?}"
        );
    }
}

#[test]
fn a_checked_request_without_object_or_namespace_is_an_error() {
    let no_object = json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                           "operation": "CREATE", "namespace": "prod"})
    .to_string();
    let no_namespace = json!({"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                              "operation": "CREATE", "object": {"spec": {}}})
    .to_string();
    for json in [no_object, no_namespace] {
        let view = AdmissionRequestView::from_json(&json).expect("readable envelope");
        assert!(matches!(
            decide(&settings(false), &view, labels),
            Err(DecisionError::Request(_))
        ));
    }
}
