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

/// A Pod CREATE in `prod`, whose rule allows `prod-pc` and defaults to it.
fn hostile_base() -> serde_json::Value {
    json!({"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                       "operation": "CREATE", "namespace": "prod", "name": "web",
                       "object": {"metadata": {"name": "web", "namespace": "prod"},
                                  "spec": {"priorityClassName": "prod-pc", "containers": [{"name": "c"}]}}},
           "settings": {"rules": [{"name": "production", "namespaces": ["prod"],
                                   "allowedPriorityClasses": ["prod-pc"], "defaultPriorityClass": "prod-pc"}]}})
}

/// The base payload with `value` at `pointer` (whose parent exists).
fn with(pointer: &str, value: serde_json::Value) -> serde_json::Value {
    let mut payload = hostile_base();
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    payload
        .pointer_mut(parent)
        .and_then(serde_json::Value::as_object_mut)
        .unwrap_or_else(|| panic!("{parent} is an object"))
        .insert(key.to_owned(), value);
    payload
}

/// Every field of a Pod request that the policy reads, and where its messages say it is.
const READ_FIELDS: &[(&str, &str)] = &[
    ("/request", "admission request is malformed"),
    ("/request/uid", "uid"),
    ("/request/kind", "kind"),
    ("/request/kind/group", "kind.group"),
    ("/request/kind/version", "kind.version"),
    ("/request/kind/kind", "kind.kind"),
    ("/request/subResource", "subResource"),
    ("/request/operation", "operation"),
    ("/request/namespace", "namespace"),
    ("/request/name", "name"),
    ("/request/object", "object"),
    ("/request/object/metadata", "object.metadata"),
    ("/request/object/metadata/name", "object.metadata.name"),
    (
        "/request/object/metadata/namespace",
        "object.metadata.namespace",
    ),
    (
        "/request/object/metadata/generateName",
        "object.metadata.generateName",
    ),
    ("/request/object/spec", "object.spec"),
    (
        "/request/object/spec/priorityClassName",
        "object.spec.priorityClassName",
    ),
    ("/settings", "settings"),
    ("/settings/rules", "rules"),
];

/// A rejection of a malformed request: code 400, a message naming `says`, no mutation.
fn assert_malformed(answer: &ValidationResponse, says: &str, case: &str) {
    assert!(!answer.accepted, "{case}: accepted");
    assert_eq!(answer.code, Some(400), "{case}: {:?}", answer.message);
    let message = answer.message.as_deref().unwrap_or_default();
    assert!(
        message.contains(says),
        "{case}: {message:?} should name {says:?}"
    );
    assert!(answer.mutated_object.is_none(), "{case}");
}

#[test]
fn wrong_types_at_every_field_read_are_rejected() {
    // The types each field does not have (`null` counts as absent for the optional ones).
    let wrong = [
        json!(7),
        json!(true),
        json!(["x"]),
        json!({"x": 1}),
        json!("x"),
    ];
    let mut cases = 0;
    for (pointer, says) in READ_FIELDS {
        let base = hostile_base();
        let right = base.pointer(pointer);
        for value in &wrong {
            let same_type = match (right, value) {
                (Some(r), v) => std::mem::discriminant(r) == std::mem::discriminant(v),
                // subResource is absent in the base: only a string is right.
                (None, v) => v.is_string(),
            };
            if same_type {
                continue;
            }
            let payload = with(pointer, value.clone()).to_string();
            assert_malformed(
                &call(payload.as_bytes()),
                says,
                &format!("{pointer} = {value}"),
            );
            cases += 1;
        }
    }
    assert!(cases >= 70, "{cases} cases");
}

#[test]
fn deep_nesting_at_every_field_read_is_rejected() {
    let depth = 10_000;
    for (open, close) in [("[", "]"), (r#"{"a":"#, "}")] {
        let nested = format!("{}1{}", open.repeat(depth), close.repeat(depth));
        for (pointer, says) in READ_FIELDS {
            let payload = with(pointer, json!("NESTED"))
                .to_string()
                .replace(r#""NESTED""#, &nested);
            let answer = call(payload.as_bytes());
            if pointer.starts_with("/settings") {
                // Settings are read by their schema, which nests a few levels: the first level that is not what
                // the schema says is refused, naming the field.
                assert_malformed(&answer, "settings are invalid", pointer);
                assert_malformed(&answer, says, pointer);
            } else if *pointer == "/request/object" && open == "[" {
                // An object that is a deep array is no Pod; the message says why at its root.
                assert_malformed(&answer, "object", pointer);
            } else if open != "["
                && hostile_base()
                    .pointer(pointer)
                    .is_some_and(|v| v.is_object())
            {
                // Where an object belongs, the deep nesting is under an unknown field `a`, which is
                // skipped without recursion: answered like the same object without it.
                let without = with(pointer, json!({}));
                let expected = call(without.to_string().as_bytes());
                if expected.mutated_object.is_some() {
                    // A default writes the object back, which reads all of it: too deep to write.
                    assert_malformed(&answer, "recursion limit exceeded", pointer);
                    continue;
                }
                assert_eq!(
                    (answer.accepted, answer.code),
                    (expected.accepted, expected.code),
                    "{pointer}: {:?}",
                    answer.message
                );
            } else {
                assert_malformed(&answer, says, &format!("{pointer} nested {open}"));
            }
        }
    }
}

#[test]
fn deep_nesting_of_the_whole_payload_is_rejected() {
    let depth = 10_000;
    for nested in [
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("{}{}", r#"{"request":"#.repeat(depth), "}".repeat(depth)),
    ] {
        assert_malformed(
            &call(nested.as_bytes()),
            "cannot read this request",
            "payload",
        );
    }
}

/// A Pod request as text, for what a JSON value cannot hold: duplicate keys, invalid UTF-8.
const TEXT_BASE: &str = r#"{"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", "namespace": "prod", "object": {"metadata": {"name": "a", "namespace": "prod"}, "spec": {"priorityClassName": "prod-pc", "containers": [{"name": "c"}]}}}, "settings": {"rules": [{"name": "production", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"]}]}}"#;

/// TEXT_BASE with its one occurrence of `from` replaced.
fn text_with(from: &str, to: &[u8]) -> Vec<u8> {
    assert_eq!(TEXT_BASE.matches(from).count(), 1, "{from}");
    let at = TEXT_BASE.find(from).expect("found");
    [
        &TEXT_BASE.as_bytes()[..at],
        to,
        &TEXT_BASE.as_bytes()[at + from.len()..],
    ]
    .concat()
}

#[test]
fn the_text_base_is_accepted() {
    let answer = call(TEXT_BASE.as_bytes());
    assert!(answer.accepted, "{:?}", answer.message);
}

#[rstest]
#[case::request(r#"{"request": "#, r#"{"request": {}, "request": "#)]
#[case::kind(r#""kind": "Pod"}"#, r#""kind": "Pod", "kind": "Pod"}"#)]
#[case::operation(
    r#""operation": "CREATE""#,
    r#""operation": "DELETE", "operation": "CREATE""#
)]
#[case::namespace(
    r#""namespace": "prod", "object""#,
    r#""namespace": "prod", "namespace": "dev", "object""#
)]
#[case::object(r#""object": {"metadata""#, r#""object": {}, "object": {"metadata""#)]
#[case::metadata_name(r#""name": "a""#, r#""name": "a", "name": "b""#)]
#[case::spec(
    r#""spec": {"priorityClassName""#,
    r#""spec": {}, "spec": {"priorityClassName""#
)]
#[case::class(
    r#""priorityClassName": "prod-pc","#,
    r#""priorityClassName": "prod-pc", "priorityClassName": "dev-pc","#
)]
#[case::settings(r#", "settings": "#, r#", "settings": {}, "settings": "#)]
fn duplicate_keys_on_the_read_path_are_rejected(#[case] from: &str, #[case] to: &str) {
    let answer = call(&text_with(from, to.as_bytes()));
    assert_malformed(&answer, "duplicate field", to);
}

#[rstest]
#[case::in_the_class(r#""prod-pc","#, b"\"prod-\xff\",")]
#[case::in_a_skipped_field(r#"[{"name": "c"}]"#, b"[{\"name\": \"\xc3\x28\"}]")]
#[case::in_a_key(r#""containers""#, b"\"\xe2\x82\"")]
#[case::in_the_settings(r#""production""#, b"\"\xed\xa0\x80\"")]
fn invalid_utf8_anywhere_is_rejected(#[case] from: &str, #[case] to: &[u8]) {
    let payload = text_with(from, to);
    assert!(std::str::from_utf8(&payload).is_err());
    assert_malformed(&call(&payload), "not UTF-8", from);
}

/// The string scan (sixteen bytes at a time with Wasm SIMD, then eight, then one) and the payload's UTF-8 check
/// (sixteen at a time) at every offset of a skipped string, across their block boundaries: what ends or breaks
/// the string is found wherever it is.
#[rstest]
#[case::an_escaped_quote(br#"\""#, None)]
#[case::an_escaped_backslash(br"\\", None)]
#[case::a_two_byte_character("é".as_bytes(), None)]
#[case::a_four_byte_character("😀".as_bytes(), None)]
#[case::a_control_character(b"\x1f", Some("control character in a string"))]
#[case::a_raw_newline(b"\n", Some("control character in a string"))]
#[case::an_invalid_escape(br"\x", Some("invalid escape"))]
#[case::invalid_utf8(b"\xc3\x28", Some("not UTF-8"))]
#[case::a_truncated_character(b"\xf0\x9f\x98", Some("not UTF-8"))]
fn strings_are_scanned_to_the_byte_at_every_offset(
    #[case] inner: &[u8],
    #[case] refused_with: Option<&str>,
) {
    for before in 0..40 {
        let name = [&b"c".repeat(before)[..], inner, b"ccc"].concat();
        let payload = text_with(
            r#"[{"name": "c"}]"#,
            &[br#"[{"name": ""#, &name[..], br#""}]"#].concat(),
        );
        let answer = call(&payload);
        match refused_with {
            None => assert!(answer.accepted, "{before}: {:?}", answer.message),
            Some(says) => assert_malformed(&answer, says, &format!("{before} bytes before")),
        }
    }
}

#[rstest]
#[case::huge_float("1e400")]
#[case::huge_negative("-1e400")]
#[case::huge_integer("123456789012345678901234567890")]
#[case::below_i64("-9223372036854775809")]
fn numbers_out_of_range_are_answered(#[case] number: &str) {
    // At a field the policy reads as a string: a wrong type.
    let payload = with("/request/object/spec/priorityClassName", json!("N"))
        .to_string()
        .replace(r#""N""#, number);
    assert_malformed(
        &call(payload.as_bytes()),
        "object.spec.priorityClassName",
        number,
    );
    // At `spec.priority`, whose presence the policy reads: a Pod without a class is defaulted, and the default
    // removes `priority`, so the answer does not hold the number.
    let answer = defaulted_pod_with("/request/object/spec/priority", number);
    assert!(answer.accepted, "{number}: {:?}", answer.message);
    let object = answer.mutated_object.expect("defaulted");
    assert_eq!(object["spec"]["priorityClassName"], "prod-pc");
    assert!(object["spec"].get("priority").is_none(), "removed");
    // Elsewhere in a defaulted Pod the number stays in the answer: one that a host cannot read back as a double
    // is refused, others pass through.
    let answer = defaulted_pod_with("/request/object/spec/terminationGracePeriodSeconds", number);
    if number.contains("e400") {
        assert_malformed(&answer, "number out of range", number);
    } else {
        assert!(answer.accepted, "{number}: {:?}", answer.message);
        assert_eq!(
            answer.mutated_object.expect("defaulted")["spec"]["priorityClassName"],
            "prod-pc"
        );
    }
}

/// The answer to a Pod without a class (so defaulted) that holds `number`, as written, at `pointer`.
fn defaulted_pod_with(pointer: &str, number: &str) -> ValidationResponse {
    let mut payload = with(pointer, json!("N"));
    payload["request"]["object"]["spec"]
        .as_object_mut()
        .expect("spec")
        .remove("priorityClassName");
    let payload = payload.to_string().replace(r#""N""#, number);
    call(payload.as_bytes())
}

/// A Pod of about 10 MB: `count` containers with long commands, and the class `class`.
fn big_pod(class: Option<&str>) -> Vec<u8> {
    let arg = "x".repeat(1000);
    let containers: Vec<_> = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": "registry.example.com/app:1", "args": [arg]}))
        .collect();
    let mut payload = hostile_base();
    let spec = &mut payload["request"]["object"]["spec"];
    spec["containers"] = serde_json::Value::Array(containers);
    match class {
        Some(class) => spec["priorityClassName"] = json!(class),
        None => {
            spec.as_object_mut()
                .expect("spec")
                .remove("priorityClassName");
        }
    }
    let bytes = payload.to_string().into_bytes();
    assert!(bytes.len() > 10_000_000, "{} bytes", bytes.len());
    bytes
}

#[test]
fn ten_megabyte_objects_are_decided() {
    let allowed = call(&big_pod(Some("prod-pc")));
    assert!(allowed.accepted, "{:?}", allowed.message);
    let denied = call(&big_pod(Some("dev-pc")));
    assert!(!denied.accepted);
    assert_eq!(denied.code, Some(403));
    let defaulted = call(&big_pod(None));
    assert!(defaulted.accepted, "{:?}", defaulted.message);
    let object = defaulted.mutated_object.expect("defaulted");
    assert_eq!(object["spec"]["priorityClassName"], "prod-pc");
    assert_eq!(
        object["spec"]["containers"].as_array().map(Vec::len),
        Some(10_000)
    );
}

#[test]
fn an_exhausted_memory_limit_rejects_the_request() {
    // 4 MiB cannot hold a 10 MB request: the host stops the policy and fails closed.
    let options = priority_guard_host::HostOptions {
        max_memory_bytes: Some(4 * 1024 * 1024),
        ..priority_guard_host::HostOptions::default()
    };
    let wasm = std::fs::read(env!("POLICY_WASM")).expect("policy.wasm");
    let module = priority_guard_host::PolicyModule::from_bytes(&wasm, options).expect("loads");
    let policy = module
        .instance(std::sync::Arc::new(ClusterState::disconnected()))
        .expect("instance");
    let payload: serde_json::Value =
        serde_json::from_slice(&big_pod(Some("prod-pc"))).expect("json");
    let answer = policy
        .validate_fail_closed(&payload["request"], &payload["settings"])
        .expect("an answer");
    assert!(!answer.accepted);
    assert_eq!(answer.code, Some(500));
    let message = answer.message.expect("message");
    assert!(
        message.contains("exhausted its memory limit of 4 MiB"),
        "{message}"
    );
    // The same instance still answers a small request.
    let small = hostile_base();
    let answer = policy
        .validate_fail_closed(&small["request"], &small["settings"])
        .expect("an answer");
    assert!(answer.accepted, "{:?}", answer.message);
}

/// The inputs the mutation fuzz target failed on (fuzz/regressions/mutation/): requests to be defaulted whose
/// object has a lone surrogate escape in a key. policy.wasm, handed the raw payload, refuses them naming the
/// surrogate instead of answering with an object that policy-server and kwctl could not read back.
#[rstest]
#[case::pod(include_str!("../../../fuzz/regressions/mutation/mutation-surrogate-key-pod"))]
#[case::replication_controller(include_str!(
    "../../../fuzz/regressions/mutation/mutation-surrogate-key-rc"
))]
fn a_lone_surrogate_in_a_key_is_refused_not_echoed(#[case] request: &str) {
    let settings = r#"{"rules":[{"name":"production","namespaces":["prod"],"allowedPriorityClasses":["prod-pc"],"defaultPriorityClass":"prod-pc"}],"mutateWorkloadTemplates":true}"#;
    let payload = format!(r#"{{"request":{},"settings":{settings}}}"#, request.trim());
    let answer = call(payload.as_bytes());
    assert!(!answer.accepted);
    assert_eq!(answer.code, Some(400));
    let message = answer.message.expect("a message");
    assert!(message.contains("lone surrogate"), "{message}");
    assert!(answer.mutated_object.is_none());
}

#[test]
fn a_surrogate_pair_in_a_key_is_defaulted() {
    let payload = json!({"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                        "operation": "CREATE", "namespace": "prod",
                        "object": {"metadata": {"annotations": {"smile\u{1f600}": "x"}}, "spec": {}}},
           "settings": {"rules": [{"name": "production", "namespaces": ["prod"], "defaultPriorityClass": "prod-pc"}]}});
    // serde_json writes the emoji as UTF-8; the escaped pair is what the fuzz inputs carry.
    let text = payload.to_string().replace('\u{1f600}', r"\ud83d\ude00");
    assert!(text.contains(r"smile\ud83d\ude00"));
    let answer = call(text.as_bytes());
    assert!(answer.accepted, "{:?}", answer.message);
    let object = answer.mutated_object.expect("a mutated object");
    assert_eq!(object["metadata"]["annotations"]["smile\u{1f600}"], "x");
    assert_eq!(object["spec"]["priorityClassName"], "prod-pc");
}
