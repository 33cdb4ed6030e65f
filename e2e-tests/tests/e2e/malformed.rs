//! Malformed payloads: policy.wasm answers each with a rejection and a message, never a trap.

use priority_guard_host::{ClusterState, ValidationResponse};
use rstest::rstest;
use serde_json::json;

use crate::common;

fn call(payload: &[u8]) -> ValidationResponse {
    let policy = common::instance(ClusterState::disconnected());
    let bytes = policy
        .call("validate", payload)
        .expect("the guest answers instead of trapping");
    serde_json::from_slice(&bytes).expect("a ValidationResponse")
}

fn pod_request(object: serde_json::Value) -> Vec<u8> {
    json!({"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "operation": "CREATE", "namespace": "prod", "object": object},
           "settings": {"rules": [{"name": "production", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"]}]}})
    .to_string()
    .into_bytes()
}

#[rstest]
#[case::not_json(b"not json".to_vec(), "not a validation request")]
#[case::not_utf8(vec![0xff, 0xfe, b'{'], "not UTF-8")]
#[case::no_request(br#"{"settings": {}}"#.to_vec(), "missing field `request`")]
#[case::request_not_an_object(br#"{"request": 5, "settings": {}}"#.to_vec(), "invalid type")]
#[case::kind_is_a_string(br#"{"request": {"kind": "Pod", "operation": "CREATE"}, "settings": {}}"#.to_vec(), "at kind")]
#[case::operation_missing(br#"{"request": {"kind": {"group": "", "version": "v1", "kind": "Pod"}}, "settings": {}}"#.to_vec(), "missing field `operation`")]
#[case::no_object(br#"{"request": {"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "namespace": "prod"}, "settings": {}}"#.to_vec(), "has no object")]
#[case::class_is_a_number(pod_request(json!({"spec": {"priorityClassName": 7}})), "object.spec.priorityClassName")]
#[case::spec_is_a_list(pod_request(json!({"spec": []})), "object.spec")]
#[case::object_is_a_string(pod_request(json!("pod")), "malformed")]
#[case::metadata_name_is_a_number(pod_request(json!({"metadata": {"name": 1}, "spec": {}})), "object.metadata.name")]
#[case::invalid_settings(br#"{"request": {}, "settings": {"rules": 1}}"#.to_vec(), "settings are invalid")]
fn malformed_payloads_are_rejected_with_a_message(#[case] payload: Vec<u8>, #[case] says: &str) {
    let answer = call(&payload);
    assert!(!answer.accepted);
    let message = answer.message.expect("a message");
    assert!(
        message.contains(says),
        "{message:?} should mention {says:?}"
    );
    assert_eq!(answer.code, Some(400));
    assert!(answer.mutated_object.is_none());
}

#[test]
fn deeply_nested_json_is_answered_not_crashed() {
    let depth = 10_000;
    let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
    let payload = |spec: &str| {
        format!(
            r#"{{"request": {{"kind": {{"group": "", "version": "v1", "kind": "Pod"}}, "operation": "CREATE", "namespace": "prod", "object": {{"spec": {spec}}}}}, "settings": {{"rules": [{{"name": "production", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"]}}]}}}}"#
        )
    };
    // Nesting in a field the decision skips is skipped without recursion.
    let skipped = call(
        payload(&format!(
            r#"{{"priorityClassName": "prod-pc", "containers": {nested}}}"#
        ))
        .as_bytes(),
    );
    assert!(skipped.accepted, "{:?}", skipped.message);
    // Nesting where the decision reads is a clear rejection.
    let read = call(payload(&format!(r#"{{"priorityClassName": {nested}}}"#)).as_bytes());
    assert!(!read.accepted);
    let message = read.message.expect("message");
    assert!(
        message.contains("object.spec.priorityClassName"),
        "{message}"
    );
}

#[test]
fn lookups_against_no_cluster_fail_closed() {
    let payload = json!({"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "operation": "CREATE", "namespace": "team-a", "object": {"spec": {"priorityClassName": "x"}}},
           "settings": {"rules": [{"name": "teams", "namespaceSelector": {"matchLabels": {"team": "a"}}}]}});
    let answer = call(payload.to_string().as_bytes());
    assert!(!answer.accepted);
    let message = answer.message.expect("message");
    assert!(
        message.contains(r#"namespace "team-a""#) && message.contains(r#"rule "teams""#),
        "{message}"
    );
    assert_eq!(answer.code, Some(403));
}

#[test]
fn settings_validation_names_the_field() {
    let policy = common::instance(ClusterState::disconnected());
    let answer = policy
        .validate_settings(
            &json!({"rules": [{"name": "a", "namespaces": ["a"], "allowedPriorityClasses": ["x"],
                                               "defaultPriorityClass": "y"}]}),
        )
        .expect("validate_settings runs");
    assert!(!answer.valid);
    assert!(
        answer
            .message
            .expect("message")
            .starts_with("rules[0].defaultPriorityClass: ")
    );
}

#[test]
fn protocol_version_is_v1() {
    let policy = common::instance(ClusterState::disconnected());
    assert_eq!(policy.protocol_version().expect("protocol_version"), "v1");
}
