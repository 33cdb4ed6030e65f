//! The cluster-aware rules: `maxPriority` and `allowedPreemptionPolicies` on Pods and workload templates, classes
//! that do not exist, and the `priorityClasses` settings for PriorityClass objects. One row per situation,
//! asserting the outcome kind, the rule, the class and the values, not a substring of the message.

use std::cell::RefCell;
use std::collections::BTreeMap;

use priority_guard_sdk::decide::{Lookups, RejectReason};
use priority_guard_sdk::model::priority_class::PreemptionPolicy;
use priority_guard_sdk::model::priority_class::PriorityClassInfo;
use priority_guard_sdk::{
    AcceptReason, AdmissionRequestView, DecisionError, Outcome, Settings, decide,
};
use rstest::rstest;
use serde_json::{Value, json};

use PreemptionPolicy::{Never, PreemptLowerPriority};

fn settings() -> Settings {
    Settings::from_value(json!({
        "rules": [
            {"name": "production", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc", "missing-pc"],
             "defaultPriorityClass": "prod-pc"},
            {"name": "development", "namespaces": ["dev"], "deniedPriorityClasses": ["system-*"],
             "defaultPriorityClass": "dev-pc", "maxPriority": 1000, "allowedPreemptionPolicies": ["Never"]},
            {"name": "batch", "namespaces": ["batch"], "maxPriority": 500},
            {"name": "broken-default", "namespaces": ["broken"], "defaultPriorityClass": "missing-pc",
             "maxPriority": 500},
            {"name": "critical", "namespaces": ["critical"], "defaultPriorityClass": "prod-pc",
             "minPriority": 1000, "maxPriority": 200000, "allowedPreemptionPolicies": ["PreemptLowerPriority"]},
        ],
        "unsetPriorityClasses": ["cluster-default"],
    }))
    .expect("valid settings")
}

/// The cluster's PriorityClasses.
fn class(name: &str) -> Option<PriorityClassInfo> {
    let (value, preemption_policy) = match name {
        "prod-pc" => (100_000, PreemptLowerPriority),
        "dev-pc" => (100, Never),
        "dev-preempting" => (100, PreemptLowerPriority),
        "batch-high" => (5000, Never),
        "batch-low" => (10, PreemptLowerPriority),
        "cluster-default" => (0, PreemptLowerPriority),
        _ => return None,
    };
    Some(PriorityClassInfo {
        value,
        preemption_policy,
    })
}

fn pod_spec(class: Option<&str>, resolved: Option<(i32, &str)>) -> Value {
    let mut spec = json!({"containers": [{"name": "app", "image": "app:1"}]});
    if let Some(class) = class {
        spec["priorityClassName"] = json!(class);
    }
    if let Some((priority, policy)) = resolved {
        spec["priority"] = json!(priority);
        spec["preemptionPolicy"] = json!(policy);
    }
    spec
}

fn request(kind: &str, namespace: &str, spec: Value) -> String {
    let (group, object_spec) = match kind {
        "Pod" => ("", spec),
        _ => ("apps", json!({"template": {"spec": spec}})),
    };
    json!({
        "uid": "1", "kind": {"group": group, "version": "v1", "kind": kind},
        "operation": "CREATE", "namespace": namespace, "name": "web",
        "object": {"metadata": {"name": "web", "namespace": namespace}, "spec": object_spec},
    })
    .to_string()
}

#[derive(Debug, PartialEq)]
enum Expect {
    Accept(Option<&'static str>, AcceptReason),
    Mutate(&'static str, &'static str),
    TooHigh(&'static str, &'static str, i32),
    TooLow(&'static str, &'static str, i32),
    Preempts(&'static str, &'static str, PreemptionPolicy),
    Missing(&'static str, &'static str),
    NotAllowed(&'static str),
}

/// Decides, and returns the outcome with the classes looked up.
fn decide_row(json: &str) -> (Result<Outcome, DecisionError>, Vec<String>) {
    let asked = RefCell::new(Vec::new());
    let view = AdmissionRequestView::from_json(json).expect("valid request");
    let outcome = decide(
        &settings(),
        &view,
        Lookups::new(
            |ns| Err(format!("no labels for {ns}")),
            |name| -> Result<Option<PriorityClassInfo>, String> {
                asked.borrow_mut().push(name.to_owned());
                Ok(class(name))
            },
        ),
    );
    (outcome, asked.into_inner())
}

fn matches(outcome: &Result<Outcome, DecisionError>, want: &Expect) -> bool {
    match (outcome, want) {
        (Ok(Outcome::Accept { rule, reason }), Expect::Accept(r, why)) => {
            rule.as_deref() == *r && reason == why
        }
        (Ok(Outcome::Mutate { rule, class, .. }), Expect::Mutate(r, c)) => rule == r && class == c,
        (
            Ok(Outcome::Reject {
                rule,
                reason: RejectReason::PriorityTooHigh { class, priority },
                ..
            }),
            Expect::TooHigh(r, c, p),
        ) => rule == r && class == c && priority == p,
        (
            Ok(Outcome::Reject {
                rule,
                reason: RejectReason::PriorityTooLow { class, priority },
                ..
            }),
            Expect::TooLow(r, c, p),
        ) => rule == r && class == c && priority == p,
        (
            Ok(Outcome::Reject {
                rule,
                reason: RejectReason::PreemptionNotAllowed { class, policy },
                ..
            }),
            Expect::Preempts(r, c, p),
        ) => rule == r && class == c && policy == p,
        (
            Ok(Outcome::Reject {
                rule,
                reason: RejectReason::ClassDoesNotExist { class },
                ..
            }),
            Expect::Missing(r, c),
        ) => rule == r && class == c,
        (
            Ok(Outcome::Reject {
                rule,
                reason: RejectReason::ClassNotAllowed { .. },
                ..
            }),
            Expect::NotAllowed(r),
        ) => rule == r,
        _ => false,
    }
}

#[rstest]
#[case::resolved_pod_within_the_ceiling(
    "Pod", "dev", pod_spec(Some("dev-pc"), Some((100, "Never"))),
    Expect::Accept(Some("development"), AcceptReason::ClassAllowed), &[]
)]
#[case::resolved_pod_above_the_ceiling_uses_its_own_priority(
    "Pod", "dev", pod_spec(Some("batch-high"), Some((5000, "Never"))),
    Expect::TooHigh("development", "batch-high", 5000), &[]
)]
#[case::resolved_pod_that_preempts(
    "Pod", "dev", pod_spec(Some("dev-preempting"), Some((100, "PreemptLowerPriority"))),
    Expect::Preempts("development", "dev-preempting", PreemptLowerPriority), &[]
)]
#[case::the_ceiling_is_reported_before_the_preemption_policy(
    "Pod", "dev", pod_spec(Some("x"), Some((5000, "PreemptLowerPriority"))),
    Expect::TooHigh("development", "x", 5000), &[]
)]
#[case::resolved_pod_with_an_unset_class_and_no_default_uses_its_fields(
    "Pod", "batch", pod_spec(Some("cluster-default"), Some((900, "Never"))),
    Expect::TooHigh("batch", "cluster-default", 900), &[]
)]
#[case::resolved_pod_without_preemption_policy_preempts(
    "Pod", "dev", json!({"priorityClassName": "dev-pc", "priority": 100}),
    Expect::Preempts("development", "dev-pc", PreemptLowerPriority), &[]
)]
#[case::pod_given_the_default_is_checked_with_the_default_class(
    "Pod", "dev", pod_spec(None, Some((0, "PreemptLowerPriority"))),
    Expect::Mutate("development", "dev-pc"), &["dev-pc"]
)]
#[case::pod_given_a_default_that_does_not_exist(
    "Pod", "broken", pod_spec(None, Some((0, "PreemptLowerPriority"))),
    Expect::Missing("broken-default", "missing-pc"), &["missing-pc"]
)]
#[case::unresolved_pod_looks_its_class_up(
    "Pod", "batch", pod_spec(Some("batch-high"), None),
    Expect::TooHigh("batch", "batch-high", 5000), &["batch-high"]
)]
#[case::unresolved_pod_naming_a_missing_class(
    "Pod", "batch", pod_spec(Some("nope"), None),
    Expect::Missing("batch", "nope"), &["nope"]
)]
#[case::unresolved_pod_without_class_has_nothing_to_check(
    "Pod", "batch", pod_spec(None, None),
    Expect::Accept(Some("batch"), AcceptReason::NoneGiven), &[]
)]
#[case::template_class_is_looked_up(
    "Deployment", "batch", pod_spec(Some("batch-high"), Some((0, "Never"))),
    Expect::TooHigh("batch", "batch-high", 5000), &["batch-high"]
)]
#[case::template_class_within_the_ceiling(
    "Deployment", "batch", pod_spec(Some("batch-low"), None),
    Expect::Accept(Some("batch"), AcceptReason::ClassAllowed), &["batch-low"]
)]
#[case::template_naming_a_missing_class(
    "Deployment", "batch", pod_spec(Some("nope"), None),
    Expect::Missing("batch", "nope"), &["nope"]
)]
#[case::template_default_left_to_pods_is_checked(
    "Deployment", "broken", pod_spec(None, None),
    Expect::Missing("broken-default", "missing-pc"), &["missing-pc"]
)]
#[case::template_without_class_or_default_has_nothing_to_check(
    "Deployment", "batch", pod_spec(None, None),
    Expect::Accept(Some("batch"), AcceptReason::NoneGiven), &[]
)]
#[case::resolved_pod_below_the_floor_uses_its_own_priority(
    "Pod", "critical", pod_spec(Some("dev-preempting"), Some((100, "PreemptLowerPriority"))),
    Expect::TooLow("critical", "dev-preempting", 100), &[]
)]
#[case::resolved_pod_on_the_floor(
    "Pod", "critical", pod_spec(Some("x"), Some((1000, "PreemptLowerPriority"))),
    Expect::Accept(Some("critical"), AcceptReason::ClassAllowed), &[]
)]
#[case::the_floor_is_reported_before_the_preemption_policy(
    "Pod", "critical", pod_spec(Some("dev-pc"), Some((100, "Never"))),
    Expect::TooLow("critical", "dev-pc", 100), &[]
)]
#[case::unresolved_pod_below_the_floor_looks_its_class_up(
    "Pod", "critical", pod_spec(Some("batch-low"), None),
    Expect::TooLow("critical", "batch-low", 10), &["batch-low"]
)]
#[case::template_class_below_the_floor(
    "Deployment", "critical", pod_spec(Some("dev-preempting"), None),
    Expect::TooLow("critical", "dev-preempting", 100), &["dev-preempting"]
)]
#[case::pod_given_a_default_above_the_floor(
    "Pod", "critical", pod_spec(None, Some((0, "PreemptLowerPriority"))),
    Expect::Mutate("critical", "prod-pc"), &["prod-pc"]
)]
#[case::rules_without_value_fields_never_look_up(
    "Deployment", "prod", pod_spec(Some("missing-pc"), None),
    Expect::Accept(Some("production"), AcceptReason::ClassAllowed), &[]
)]
#[case::a_refused_class_is_reported_before_its_values(
    "Pod", "dev", pod_spec(Some("system-node-critical"), Some((2_000_001_000, "PreemptLowerPriority"))),
    Expect::NotAllowed("development"), &[]
)]
fn decides_with_the_cluster(
    #[case] kind: &str,
    #[case] namespace: &str,
    #[case] spec: Value,
    #[case] want: Expect,
    #[case] looked_up: &[&str],
) {
    let (outcome, asked) = decide_row(&request(kind, namespace, spec));
    assert!(matches(&outcome, &want), "want {want:?}, got {outcome:?}");
    assert_eq!(asked, looked_up, "the classes looked up");
}

#[test]
fn a_failed_lookup_fails_closed_naming_class_and_rule() {
    let json = request("Deployment", "batch", pod_spec(Some("x"), None));
    let view = AdmissionRequestView::from_json(&json).expect("valid");
    let err = decide(
        &settings(),
        &view,
        Lookups::new(|_| Ok(BTreeMap::new()), |_| Err("forbidden".to_owned())),
    )
    .expect_err("lookup failed");
    assert!(
        matches!(&err, DecisionError::PriorityClassLookup { class, rule, .. } if class == "x" && rule == "batch"),
        "{err:?}"
    );
}

#[test]
fn messages_say_how_to_fix_the_manifest() {
    let (outcome, _) = decide_row(&request(
        "Pod",
        "dev",
        pod_spec(Some("batch-high"), Some((5000, "Never"))),
    ));
    let Ok(Outcome::Reject { message, .. }) = outcome else {
        panic!("{outcome:?}");
    };
    assert_eq!(
        message,
        r#"Pod "web" in namespace "dev" has priority 5000 (from PriorityClass "batch-high"), above the maximum 1000 of rule "development": use a PriorityClass whose value is at most 1000"#
    );
    let (outcome, _) = decide_row(&request("Pod", "broken", pod_spec(None, None)));
    let Ok(Outcome::Reject { message, .. }) = outcome else {
        panic!("{outcome:?}");
    };
    assert!(
        message.contains(r#"PriorityClass "missing-pc" does not exist"#),
        "{message}"
    );
}

#[test]
fn a_priority_that_is_not_an_integer_is_malformed() {
    let (outcome, _) = decide_row(&request(
        "Pod",
        "dev",
        json!({"priorityClassName": "dev-pc", "priority": "high"}),
    ));
    assert!(
        matches!(&outcome, Err(DecisionError::Request(e)) if e.to_string().contains("object.spec.priority")),
        "{outcome:?}"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// PriorityClass objects.

fn class_request(operation: &str, object: Value) -> String {
    json!({
        "uid": "1", "kind": {"group": "scheduling.k8s.io", "version": "v1", "kind": "PriorityClass"},
        "operation": operation, "name": object["metadata"]["name"], "object": object,
    })
    .to_string()
}

fn class_settings(section: Option<Value>) -> Settings {
    let mut doc = json!({});
    if let Some(section) = section {
        doc["priorityClasses"] = section;
    }
    Settings::from_value(doc).expect("valid settings")
}

fn problems(settings: &Settings, operation: &str, object: Value) -> Option<Vec<String>> {
    let json = class_request(operation, object);
    let view = AdmissionRequestView::from_json(&json).expect("valid");
    match decide(
        settings,
        &view,
        Lookups::new(|_| Ok(BTreeMap::new()), |_| Ok(None)),
    ) {
        Ok(Outcome::Accept { .. }) => None,
        Ok(Outcome::Reject {
            rule,
            reason: RejectReason::PriorityClassRefused { problems },
            ..
        }) => {
            assert_eq!(rule, "priorityClasses");
            Some(
                problems
                    .iter()
                    .map(|p| p.split(':').next().unwrap_or("").to_owned())
                    .collect(),
            )
        }
        other => panic!("{other:?}"),
    }
}

#[rstest]
#[case::within_every_limit(json!({"metadata": {"name": "batch"}, "value": 500, "description": "batch jobs", "preemptionPolicy": "PreemptLowerPriority"}), "CREATE", None)]
#[case::above_the_ceiling(json!({"metadata": {"name": "batch"}, "value": 5000, "description": "d", "preemptionPolicy": "PreemptLowerPriority"}), "CREATE", Some(vec!["value"]))]
#[case::system_classes_may_exceed_the_ceiling(json!({"metadata": {"name": "system-cluster-critical"}, "value": 2000000000, "description": "d", "preemptionPolicy": "PreemptLowerPriority"}), "CREATE", None)]
#[case::global_default_is_refused(json!({"metadata": {"name": "low"}, "value": 500, "globalDefault": true, "description": "d", "preemptionPolicy": "PreemptLowerPriority"}), "UPDATE", Some(vec!["globalDefault"]))]
#[case::description_is_required(json!({"metadata": {"name": "low"}, "value": 500, "description": "", "preemptionPolicy": "PreemptLowerPriority"}), "CREATE", Some(vec!["description"]))]
#[case::low_classes_must_not_preempt(json!({"metadata": {"name": "low"}, "value": 50, "description": "d"}), "CREATE", Some(vec!["preemptionPolicy"]))]
#[case::low_classes_that_never_preempt(json!({"metadata": {"name": "low"}, "value": 50, "description": "d", "preemptionPolicy": "Never"}), "CREATE", None)]
#[case::every_problem_in_field_order(json!({"metadata": {"name": "big"}, "value": 5000, "globalDefault": true}), "UPDATE", Some(vec!["description", "globalDefault", "value"]))]
#[case::deletes_are_not_checked(json!({"metadata": {"name": "big"}, "value": 5000}), "DELETE", None)]
fn guards_priority_class_objects(
    #[case] object: Value,
    #[case] operation: &str,
    #[case] want: Option<Vec<&str>>,
) {
    let settings = class_settings(Some(json!({
        "maxValue": 1000, "allowGlobalDefault": false, "requireDescription": true,
        "requireNonPreemptingBelow": 100
    })));
    assert_eq!(
        problems(&settings, operation, object),
        want.map(|w| w.into_iter().map(str::to_owned).collect::<Vec<_>>())
    );
}

#[test]
fn without_the_section_priority_classes_are_not_checked() {
    let object = json!({"metadata": {"name": "big"}, "value": 5000, "globalDefault": true});
    assert_eq!(problems(&class_settings(None), "CREATE", object), None);
}

#[test]
fn priority_class_messages_name_every_problem() {
    let settings = class_settings(Some(json!({"maxValue": 1000, "requireDescription": true})));
    let json = class_request(
        "CREATE",
        json!({"metadata": {"name": "big"}, "value": 5000}),
    );
    let view = AdmissionRequestView::from_json(&json).expect("valid");
    let Ok(Outcome::Reject { message, .. }) = decide(
        &settings,
        &view,
        Lookups::new(|_| Ok(BTreeMap::new()), |_| Ok(None)),
    ) else {
        panic!("refused");
    };
    assert_eq!(
        message,
        "PriorityClass \"big\" is refused by the priorityClasses settings: description: is required (say which \
         workloads the class is for); value: 5000 is above the maximum 1000 for classes not named system-* (lower it \
         to at most 1000)"
    );
}
