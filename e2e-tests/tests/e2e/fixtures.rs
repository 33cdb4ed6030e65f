//! Every fixture request, run through policy.wasm under wasmtime and through the sdk directly: both must give the
//! outcome expected.yaml names, and policy.wasm must give the sdk's message and patch.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use priority_guard_host::{AdmissionResponse, ClusterState};
use priority_guard_sdk::decide::{Labels, Lookups, RejectReason};
use priority_guard_sdk::model::priority_class::PriorityClassInfo;
use priority_guard_sdk::{
    AdmissionRequestView, DecisionError, Outcome, Settings, decide, messages,
};
use serde::Deserialize;
use serde_json::Value;

use crate::common;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expected {
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    patch: Option<Vec<Value>>,
    #[serde(default)]
    error: Option<String>,
}

fn labels_from(cluster: &Value) -> BTreeMap<String, Labels> {
    fn items(doc: &Value) -> Vec<Value> {
        match doc.get("items") {
            Some(Value::Array(items)) => items.clone(),
            _ => vec![doc.clone()],
        }
    }
    items(cluster)
        .into_iter()
        .filter(|o| o["kind"] == "Namespace")
        .map(|o| {
            let labels =
                serde_json::from_value(o["metadata"]["labels"].clone()).unwrap_or_default();
            (
                o["metadata"]["name"].as_str().expect("named").to_owned(),
                labels,
            )
        })
        .collect()
}

/// The PriorityClasses of a cluster document, as the policy reads them.
fn classes_from(cluster: &Value) -> BTreeMap<String, PriorityClassInfo> {
    let items = match cluster.get("items") {
        Some(Value::Array(items)) => items.clone(),
        _ => vec![cluster.clone()],
    };
    items
        .into_iter()
        .filter(|o| o["kind"] == "PriorityClass")
        .map(|o| {
            let name = o["metadata"]["name"].as_str().expect("named").to_owned();
            let info = PriorityClassInfo::from_json(&o.to_string(), &name).expect("a class");
            (name, info)
        })
        .collect()
}

fn sorted(mut ops: Vec<Value>) -> Vec<Value> {
    ops.sort_by_key(|op| (op["path"].as_str().unwrap_or("").to_owned(), op.to_string()));
    ops
}

fn run_scenario(dir: &Path) -> usize {
    let settings_json = common::yaml(&dir.join("settings.yaml"));
    let settings = Settings::from_value(settings_json.clone()).expect("fixture settings are valid");
    let cluster_text = std::fs::read_to_string(dir.join("cluster.yaml")).expect("cluster.yaml");
    // The cluster file may be multi-document YAML: read every document for the sdk's label lookups.
    let mut namespaces = BTreeMap::new();
    let mut classes = BTreeMap::new();
    for doc in serde_yaml_ng::Deserializer::from_str(&cluster_text) {
        let doc = Value::deserialize(doc).expect("cluster.yaml parses");
        namespaces.extend(labels_from(&doc));
        classes.extend(classes_from(&doc));
    }
    let expected: BTreeMap<String, Expected> =
        serde_json::from_value(common::yaml(&dir.join("expected.yaml")))
            .expect("expected.yaml parses");

    let mut requests: Vec<_> = std::fs::read_dir(dir.join("requests"))
        .expect("requests/")
        .map(|e| e.expect("entry").path())
        .collect();
    requests.sort();
    assert_eq!(
        requests.len(),
        expected.len(),
        "{}: every request has an expectation",
        dir.display()
    );

    let policy =
        common::instance(ClusterState::from_yaml_or_json(&cluster_text).expect("cluster state"));
    assert!(
        policy
            .validate_settings(&settings_json)
            .expect("validate_settings")
            .valid
    );
    for path in &requests {
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 name");
        let want = expected
            .get(name)
            .unwrap_or_else(|| panic!("{name}: no expectation"));
        let review: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
        let request_json = review["request"].to_string();

        // The sdk alone.
        let view =
            AdmissionRequestView::from_json(&request_json).expect("fixture is a valid request");
        let sdk = decide(
            &settings,
            &view,
            Lookups::new(
                |ns| {
                    namespaces
                        .get(ns)
                        .cloned()
                        .ok_or_else(|| format!("namespace {ns} not found"))
                },
                |class| Ok(classes.get(class).copied()),
            ),
        );
        let suffix = name.rsplit('_').next().expect("suffix");
        let sdk_message = match (&sdk, suffix) {
            (Ok(Outcome::Accept { rule, reason }), "accept") => {
                assert_eq!(rule, &want.rule, "{name}: rule");
                assert_eq!(Some(format!("{reason:?}")), want.reason, "{name}: reason");
                None
            }
            (
                Ok(Outcome::Reject {
                    rule,
                    reason,
                    message,
                    action: priority_guard_sdk::model::settings::Action::Deny,
                    ..
                }),
                "reject",
            ) => {
                assert_eq!(Some(rule), want.rule.as_ref(), "{name}: rule");
                let kind = reject_reason(reason);
                assert_eq!(Some(kind), want.reason.as_deref(), "{name}: reason");
                Some(message.clone())
            }
            (
                Err(DecisionError::NamespaceLookup {
                    namespace, rule, ..
                }),
                "reject",
            ) => {
                assert_eq!(want.error.as_deref(), Some("NamespaceLookup"), "{name}");
                assert_eq!(Some(rule), want.rule.as_ref(), "{name}: rule");
                // The lookup's own error text differs between hosts; everything before it must not.
                Some(messages::namespace_lookup_failed(namespace, rule, ""))
            }
            (
                Ok(Outcome::Reject {
                    rule,
                    reason,
                    message,
                    action,
                    default: None,
                }),
                "warn" | "audit",
            ) => {
                // A rule whose action lets the refusal through: the suffix is the action.
                assert_eq!(action.as_str().to_lowercase(), suffix, "{name}: action");
                assert_eq!(Some(rule), want.rule.as_ref(), "{name}: rule");
                assert_eq!(
                    Some(reject_reason(reason)),
                    want.reason.as_deref(),
                    "{name}: reason"
                );
                Some(message.clone())
            }
            (Ok(Outcome::Mutate { rule, class, patch }), "mutate") => {
                assert_eq!(Some(rule), want.rule.as_ref(), "{name}: rule");
                assert_eq!(Some(class), want.class.as_ref(), "{name}: class");
                let ops: Vec<Value> = patch
                    .iter()
                    .map(|op| serde_json::to_value(op).expect("op"))
                    .collect();
                assert_eq!(Some(&ops), want.patch.as_ref(), "{name}: sdk patch");
                None
            }
            (other, _) => panic!("{name}: the sdk decided {other:?}"),
        };

        // policy.wasm under wasmtime, answered as kwctl run would answer.
        let answer = policy
            .validate(&review, &settings_json)
            .expect("validate runs");
        let response = AdmissionResponse::for_request(&review, &answer, true, "priority-guard")
            .expect("response");
        assert_eq!(
            response.uid,
            review["request"]["uid"].as_str().expect("uid"),
            "{name}: uid"
        );
        match suffix {
            "accept" => {
                assert!(response.allowed, "{name}: {response:?}");
                assert!(response.patch.is_none(), "{name}: accepted unchanged");
                assert_eq!(
                    (&response.warnings, &response.audit_annotations),
                    (&None, &None),
                    "{name}: nothing to report"
                );
            }
            "warn" => {
                assert!(response.allowed, "{name}: {response:?}");
                assert!(response.status.is_none(), "{name}: {response:?}");
                assert_eq!(
                    response.warnings,
                    Some(vec![sdk_message.expect("message")]),
                    "{name}: the message as the warning"
                );
                assert_eq!(response.audit_annotations, None, "{name}");
            }
            "audit" => {
                assert!(response.allowed, "{name}: {response:?}");
                assert!(response.status.is_none(), "{name}: {response:?}");
                assert_eq!(
                    response.audit_annotations,
                    Some(BTreeMap::from([(
                        "violation".to_owned(),
                        sdk_message.expect("message")
                    )])),
                    "{name}: the message as the audit annotation"
                );
                assert_eq!(response.warnings, None, "{name}");
            }
            "reject" => {
                assert!(!response.allowed, "{name}");
                let status = response.status.as_ref().expect("status");
                let (got, want_message) = (
                    status.message.as_deref().unwrap_or(""),
                    sdk_message.expect("message"),
                );
                if want.error.is_some() {
                    assert!(
                        got.starts_with(&want_message),
                        "{name}: {got:?} should start with {want_message:?}"
                    );
                } else {
                    assert_eq!(got, want_message, "{name}: message");
                }
                assert_eq!(status.code, Some(403), "{name}: code");
            }
            "mutate" => {
                assert!(response.allowed, "{name}");
                let patch = response.patch.as_ref().expect("patch");
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(patch)
                    .expect("base64");
                let ops: Vec<Value> = serde_json::from_slice(&decoded).expect("JSONPatch");
                // The host diffs object and mutated_object: the diff has exactly the intended paths, so every
                // other field (including those k8s-openapi does not know) survived.
                let want_ops = want.patch.clone().expect("patch");
                let diff_paths: Vec<&str> = ops.iter().filter_map(|o| o["path"].as_str()).collect();
                let mut want_paths: Vec<&str> =
                    want_ops.iter().filter_map(|o| o["path"].as_str()).collect();
                let mut got_paths = diff_paths.clone();
                got_paths.sort_unstable();
                want_paths.sort_unstable();
                assert_eq!(got_paths, want_paths, "{name}: patched paths");
                let mut patched = review["request"]["object"].clone();
                let mut wanted = review["request"]["object"].clone();
                json_apply(&mut patched, &sorted(ops));
                json_apply(&mut wanted, &sorted(want_ops));
                assert_eq!(patched, wanted, "{name}: mutated object");
                assert_eq!(
                    answer.mutated_object.as_ref(),
                    Some(&patched),
                    "{name}: mutated_object"
                );
            }
            other => panic!("{name}: unknown suffix {other}"),
        }
    }
    requests.len()
}

/// The name of a reason, as expected.yaml writes it.
fn reject_reason(reason: &RejectReason) -> &'static str {
    match reason {
        RejectReason::ClassNotAllowed { .. } => "ClassNotAllowed",
        RejectReason::ClassRequired => "ClassRequired",
        RejectReason::PriorityTooHigh { .. } => "PriorityTooHigh",
        RejectReason::PriorityTooLow { .. } => "PriorityTooLow",
        RejectReason::PreemptionNotAllowed { .. } => "PreemptionNotAllowed",
        RejectReason::ClassDoesNotExist { .. } => "ClassDoesNotExist",
        RejectReason::PriorityClassRefused { .. } => "PriorityClassRefused",
    }
}

/// Applies add/replace/remove ops on object members (enough for these patches).
fn json_apply(object: &mut Value, ops: &[Value]) {
    for op in ops {
        let path = op["path"].as_str().expect("path");
        let (parent, key) = path.rsplit_once('/').expect("pointer");
        let parent = object
            .pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .expect("parent object");
        match op["op"].as_str() {
            Some("add" | "replace") => {
                parent.insert(key.to_owned(), op["value"].clone());
            }
            Some("remove") => {
                parent.remove(key).expect("removed member exists");
            }
            other => panic!("unexpected op {other:?}"),
        }
    }
}

#[test]
fn every_fixture_gets_its_expected_outcome_from_sdk_and_policy_wasm() {
    let scenarios = common::scenarios();
    assert!(scenarios.len() >= 3, "fixtures/ has the scenarios");
    let total: usize = scenarios.iter().map(|dir| run_scenario(dir)).sum();
    assert!(total >= 40, "only {total} fixtures ran");
    println!("{total} fixture requests agreed across the sdk and policy.wasm");
}

#[test]
fn unknown_fields_survive_the_mutation() {
    let dir = common::root().join("fixtures/prod-preprod-dev");
    let review: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("requests/pod_prod_unknown_fields_mutate.json"))
            .expect("fixture"),
    )
    .expect("json");
    let policy = common::instance(ClusterState::disconnected());
    let answer = policy
        .validate(&review, &common::yaml(&dir.join("settings.yaml")))
        .expect("validate runs");
    let mutated = answer.mutated_object.expect("mutated");
    assert_eq!(
        mutated["spec"]["futureSchedulingHint"],
        review["request"]["object"]["spec"]["futureSchedulingHint"]
    );
    assert_eq!(
        mutated["spec"]["resourceClaims"],
        review["request"]["object"]["spec"]["resourceClaims"]
    );
    assert_eq!(mutated["metadata"], review["request"]["object"]["metadata"]);
    assert_eq!(mutated["spec"]["priorityClassName"], "prod-pc");
    assert!(mutated["spec"].get("priority").is_none());
}
