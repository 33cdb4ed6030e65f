//! What comes back is bounded: a request whose names are far longer than Kubernetes allows (a mutating webhook
//! sees the object before the apiserver validates it) is refused with a message that quotes each name at most
//! `MAX_QUOTED_CHARS` characters, then an ellipsis and the full length; policy.wasm and the generated CEL word it
//! the same.

use priority_guard_e2e_tests::differential;
use priority_guard_e2e_tests::native::NativeVerdict;
use priority_guard_host::{AdmissionResponse, ClusterState};
use priority_guard_sdk::messages::MAX_QUOTED_CHARS;
use serde_json::{Value, json};

use crate::common;

fn scenario() -> std::path::PathBuf {
    common::root().join("fixtures/prod-preprod-dev")
}

fn settings() -> Value {
    common::yaml(&scenario().join("settings.yaml"))
}

fn cluster() -> ClusterState {
    ClusterState::from_file(&scenario().join("cluster.yaml")).expect("the scenario's cluster")
}

fn pod(namespace: &str, name: &str, class: &str) -> Value {
    json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
           "resource": {"group": "", "version": "v1", "resource": "pods"},
           "operation": "CREATE", "namespace": namespace, "name": name,
           "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                      "spec": {"priorityClassName": class, "priority": 0,
                               "containers": [{"name": "c", "image": "example.invalid/c"}]}}})
}

/// The case: a Pod whose class is 5,000,000 characters was refused with a 5,000,245-byte response.
#[test]
fn policy_wasm_refuses_a_five_million_character_class_with_a_short_answer() {
    // prod allows prod-pc only, the fallback of shop-dev denies system-*.
    let huge = format!("system-{}", "x".repeat(5_000_000 - 7));
    for (namespace, name) in [("prod", "web"), ("shop-dev", huge.as_str())] {
        let request = pod(namespace, name, &huge);
        let answer = common::instance(cluster())
            .validate(&request, &settings())
            .expect("policy.wasm answers");
        assert!(!answer.accepted, "{:?}", answer.message);
        let message = answer.message.clone().unwrap_or_default();
        assert!(
            message.contains(&format!(
                "\"system-{}… (5000000 characters)\"",
                "x".repeat(MAX_QUOTED_CHARS - 7)
            )),
            "{message:.600}"
        );
        let response = AdmissionResponse::for_request(&request, &answer, true, "policy.wasm")
            .expect("an AdmissionResponse");
        let bytes = serde_json::to_vec(&response).expect("JSON").len();
        assert!(bytes < 2_048, "{bytes} bytes: {message:.600}");
    }
}

/// Names just over the bound, in every quoted place, through policy.wasm and the generated YAML under the
/// in-process CEL engine: the same message, cut at the same character. ASCII only: the `cel` crates count a
/// string's `size` in bytes, where cel-go (the apiserver's) counts characters as the policy does (the sdk's unit
/// test covers characters); on the apiserver no name this long reaches a ValidatingAdmissionPolicy anyway.
#[test]
fn the_generated_cel_quotes_long_names_as_policy_wasm_does() {
    let policies = differential::native_policies(&settings());
    let cluster = cluster();
    let namespace_object = |name: &str| {
        cluster
            .get("v1", "Namespace", name, None)
            .cloned()
            .unwrap_or_else(
                |_| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}),
            )
    };
    let long = |c: &str, n: usize| c.repeat(n);
    let cases = [
        ("prod", long("n", MAX_QUOTED_CHARS + 1), long("c", 1_000)),
        ("prod", long("w", 300), "dev-pc".to_owned()),
        (
            "shop-dev",
            "web".to_owned(),
            format!("system-{}", long("s", MAX_QUOTED_CHARS)),
        ),
        ("prod", "web".to_owned(), long("c", MAX_QUOTED_CHARS)),
    ];
    for (namespace, name, class) in cases {
        let request = pod(namespace, &name, &class);
        let wasm = common::instance(cluster.clone())
            .validate(&request, &settings())
            .expect("policy.wasm answers");
        let native = policies
            .admit(&request, Some(&namespace_object(namespace)))
            .unwrap_or_else(|e| panic!("{e:#}"));
        let NativeVerdict::Denied { messages } = native else {
            panic!("the CEL admitted {namespace}/{name:.40} with {class:.40}: {native:?}");
        };
        assert!(!wasm.accepted);
        assert_eq!(
            wasm.message.as_deref(),
            messages.first().map(String::as_str)
        );
        let cut =
            name.chars().count() > MAX_QUOTED_CHARS || class.chars().count() > MAX_QUOTED_CHARS;
        assert_eq!(messages[0].contains(" characters)"), cut, "{}", messages[0]);
    }
}
