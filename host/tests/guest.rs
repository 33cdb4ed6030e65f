//! Runs the host against a tiny hand-written waPC guest (`guest.wat`), end to end: wapc plumbing,
//! host calls, metadata, limits.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use priority_guard_host::{
    AdmissionResponse, ClusterState, HostError, HostOptions, KUBEWARDEN_METADATA_SECTION,
    PolicyInstance, PolicyModule, write_custom_section,
};
use serde_json::{Value, json};

fn guest_wasm() -> Vec<u8> {
    wat::parse_str(include_str!("guest.wat")).expect("the test guest is valid WAT")
}

fn module(options: HostOptions) -> PolicyModule {
    PolicyModule::from_bytes(&guest_wasm(), options).expect("the test guest compiles")
}

fn cluster() -> Arc<ClusterState> {
    Arc::new(
        ClusterState::from_yaml_or_json(
            "apiVersion: v1\nkind: NamespaceList\nitems:\n\
             - metadata: {name: prod, labels: {env: prod}}\n\
             - metadata: {name: dev, labels: {env: dev}}\n\
             ---\napiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: prod}\n",
        )
        .expect("valid cluster state"),
    )
}

/// Encodes a `host` operation payload for the test guest.
fn host_call_payload(binding: &str, namespace: &str, operation: &str, data: &[u8]) -> Vec<u8> {
    let mut payload = Vec::new();
    for part in [binding, namespace, operation] {
        payload.push(u8::try_from(part.len()).expect("short names"));
        payload.extend_from_slice(part.as_bytes());
    }
    payload.extend_from_slice(data);
    payload
}

fn host_call(
    policy: &PolicyInstance,
    namespace: &str,
    operation: &str,
    request: &Value,
) -> Result<Value, String> {
    let payload = host_call_payload(
        "kubewarden",
        namespace,
        operation,
        &serde_json::to_vec(request).expect("json"),
    );
    match policy.call("host", &payload) {
        Ok(bytes) if bytes.is_empty() => Ok(Value::Null),
        Ok(bytes) => Ok(serde_json::from_slice(&bytes).expect("the host answers JSON")),
        Err(HostError::GuestCall { message, .. }) => Err(message),
        Err(other) => panic!("unexpected error {other}"),
    }
}

fn get_namespace(name: &str) -> Value {
    json!({"api_version": "v1", "kind": "Namespace", "name": name, "namespace": null,
           "disable_cache": false, "field_masks": null})
}

#[test]
fn module_and_instances_can_be_shared_across_threads() {
    fn is_send_sync<T: Send + Sync>() {}
    is_send_sync::<PolicyModule>();
    is_send_sync::<ClusterState>();

    let module = Arc::new(module(HostOptions::default()));
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let module = Arc::clone(&module);
            std::thread::spawn(move || {
                let policy = module
                    .instance(Arc::new(ClusterState::disconnected()))
                    .expect("instance");
                policy.protocol_version().expect("protocol version")
            })
        })
        .collect();
    for handle in handles {
        assert_eq!(handle.join().expect("thread"), "v1");
    }
}

#[test]
fn kubewarden_calling_convention() {
    let module = module(HostOptions::default());
    // no metadata section: nothing granted, mutations allowed
    assert!(module.metadata().is_none());
    assert!(module.allowed_resources().is_empty());
    assert!(module.allow_mutations());

    let policy = module.instance(cluster()).expect("instance");
    assert_eq!(policy.protocol_version().expect("version"), "v1");

    let valid = policy.validate_settings(&json!({})).expect("settings");
    assert!(valid.valid);
    assert_eq!(valid.message, None);
    let invalid = policy
        .validate_settings(&json!({"a": 1}))
        .expect("settings");
    assert!(!invalid.valid);
    assert_eq!(
        invalid.message.as_deref(),
        Some("the test guest accepts only {}")
    );

    let review = json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "req-1",
            "operation": "CREATE",
            "object": {"kind": "Pod", "metadata": {"name": "original"}},
        },
    });
    let answer = policy.validate(&review, &json!({})).expect("validate");
    assert!(answer.accepted);
    assert_eq!(
        answer.warnings,
        Some(vec!["from the test guest".to_owned()])
    );
    let response = AdmissionResponse::for_request(&review, &answer, true, "guest").expect("ok");
    assert_eq!(response.uid, "req-1");
    assert!(response.allowed);
    assert_eq!(
        response.decoded_patch().expect("patch"),
        Some(json!([{"op": "replace", "path": "/metadata/name", "value": "mutated"}]))
    );

    // the same instance answers again
    assert_eq!(policy.call("echo", b"hello").expect("echo"), b"hello");
}

#[test]
fn guest_failures_are_errors() {
    let policy = module(HostOptions::default())
        .instance(cluster())
        .expect("instance");
    let err = policy.call("fail", b"").unwrap_err();
    assert_eq!(
        err.to_string(),
        "policy call `fail` failed: the test guest failed on purpose"
    );
    let err = policy.call("trap", b"").unwrap_err();
    assert!(
        matches!(&err, HostError::GuestCall { operation, .. } if operation == "trap"),
        "{err}"
    );
    let err = policy.call("zzz", b"").unwrap_err();
    assert!(err.to_string().contains("does not know"), "{err}");
    // the instance is still usable after a failure or a trap
    assert_eq!(policy.protocol_version().expect("version"), "v1");
}

#[test]
fn host_calls_are_answered_within_the_grants() {
    let granted = HostOptions {
        allowed_resources: Some(BTreeSet::from([("v1".to_owned(), "Namespace".to_owned())])),
        ..HostOptions::default()
    };
    let policy = module(granted).instance(cluster()).expect("instance");

    let prod = host_call(
        &policy,
        "kubernetes",
        "get_resource",
        &get_namespace("prod"),
    )
    .expect("ns");
    assert_eq!(prod["metadata"]["labels"]["env"], "prod");
    assert_eq!(prod["kind"], "Namespace");

    let list = host_call(
        &policy,
        "kubernetes",
        "list_resources_all",
        &json!({"api_version": "v1", "kind": "Namespace", "label_selector": "env!=prod",
                "field_selector": null, "field_masks": ["metadata.name"]}),
    )
    .expect("list");
    assert_eq!(
        list,
        json!({"apiVersion": "v1", "kind": "NamespaceList", "metadata": {"resourceVersion": ""},
               "items": [{"metadata": {"name": "dev"}}]})
    );

    let err = host_call(
        &policy,
        "kubernetes",
        "get_resource",
        &get_namespace("nope"),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "Callback evaluation failure: Cannot find v1/Namespace named 'nope' inside of namespace 'None'"
    );

    let err = host_call(
        &policy,
        "kubernetes",
        "get_resource",
        &json!({"api_version": "v1", "kind": "Secret", "name": "s", "namespace": "prod",
                "disable_cache": false}),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "Policy has not been granted access to Kubernetes v1/Secret resources. The violation has been reported."
    );

    let payload = host_call_payload("elsewhere", "kubernetes", "get_resource", b"{}");
    let err = policy.call("host", &payload).unwrap_err();
    assert!(
        err.to_string().contains("unknown binding `elsewhere`"),
        "{err}"
    );

    let logged = host_call(
        &policy,
        "tracing",
        "log",
        &json!({"level": "info", "message": "hello from the guest", "line": 3}),
    )
    .expect("log");
    assert_eq!(logged, Value::Null);
    assert_eq!(
        policy.take_logs(),
        vec![json!({"level": "info", "message": "hello from the guest", "line": 3})]
    );
}

#[test]
fn without_cluster_lookups_fail() {
    let granted = HostOptions {
        allowed_resources: Some(BTreeSet::from([("v1".to_owned(), "Namespace".to_owned())])),
        ..HostOptions::default()
    };
    let policy = module(granted)
        .instance(Arc::new(ClusterState::disconnected()))
        .expect("instance");
    let err = host_call(
        &policy,
        "kubernetes",
        "get_resource",
        &get_namespace("prod"),
    )
    .unwrap_err();
    assert_eq!(
        err,
        "Callback evaluation failure: no kubernetes cluster is connected to this host"
    );
}

#[test]
fn metadata_section_sets_grants_and_mutation_permission() {
    let metadata = json!({
        "protocolVersion": "v1",
        "rules": [],
        "mutating": false,
        "contextAwareResources": [{"apiVersion": "v1", "kind": "Namespace"}],
    });
    let annotated = write_custom_section(
        &guest_wasm(),
        KUBEWARDEN_METADATA_SECTION,
        &serde_json::to_vec(&metadata).expect("json"),
    )
    .expect("annotate");
    let module = PolicyModule::from_bytes(&annotated, HostOptions::default()).expect("compile");
    assert_eq!(
        module
            .metadata()
            .and_then(|m| m.protocol_version.as_deref()),
        Some("v1")
    );
    assert!(!module.allow_mutations());
    assert_eq!(
        module.allowed_resources(),
        &BTreeSet::from([("v1".to_owned(), "Namespace".to_owned())])
    );

    let policy = module.instance(cluster()).expect("instance");
    assert!(host_call(&policy, "kubernetes", "get_resource", &get_namespace("dev")).is_ok());

    let request = json!({"uid": "u", "operation": "CREATE",
                         "object": {"kind": "Pod", "metadata": {"name": "original"}}});
    let answer = policy.validate(&request, &json!({})).expect("validate");
    let response =
        AdmissionResponse::for_request(&request, &answer, module.allow_mutations(), "guest")
            .expect("response");
    assert!(!response.allowed);
    assert!(response.patch.is_none());

    // policy-server refuses a waPC module whose metadata lacks protocolVersion v1
    let unversioned = write_custom_section(
        &guest_wasm(),
        KUBEWARDEN_METADATA_SECTION,
        br#"{"rules":[],"mutating":true}"#,
    )
    .expect("annotate");
    let err = PolicyModule::from_bytes(&unversioned, HostOptions::default()).unwrap_err();
    assert!(matches!(err, HostError::Metadata(_)), "{err}");

    // explicit options win over the metadata
    let overridden = PolicyModule::from_bytes(
        &annotated,
        HostOptions {
            allowed_resources: Some(BTreeSet::new()),
            allow_mutations: Some(true),
            ..HostOptions::default()
        },
    )
    .expect("compile");
    assert!(overridden.allow_mutations());
    let policy = overridden.instance(cluster()).expect("instance");
    assert!(
        host_call(&policy, "kubernetes", "get_resource", &get_namespace("dev"))
            .unwrap_err()
            .starts_with("Policy has not been granted access")
    );
}

#[test]
fn a_spinning_guest_is_interrupted() {
    let module = module(HostOptions {
        timeout: Some(Duration::from_millis(200)),
        ..HostOptions::default()
    });
    let policy = module.instance(cluster()).expect("instance");
    let started = Instant::now();
    let err = policy.call("spin", b"").unwrap_err();
    let elapsed = started.elapsed();
    assert!(err.to_string().contains("deadline exceeded"), "{err}");
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    // a fresh instance works
    let policy = module.instance(cluster()).expect("instance");
    assert_eq!(policy.protocol_version().expect("version"), "v1");
}

#[test]
fn memory_limit_applies() {
    // the guest declares two 64 KiB pages
    let module = module(HostOptions {
        max_memory_bytes: Some(64 * 1024),
        ..HostOptions::default()
    });
    let err = module.instance(cluster()).unwrap_err();
    assert!(matches!(err, HostError::Instantiate(_)), "{err}");
    let roomy = self::module(HostOptions {
        max_memory_bytes: Some(1024 * 1024),
        ..HostOptions::default()
    });
    assert!(roomy.instance(cluster()).is_ok());
}

#[test]
fn an_exhausted_memory_limit_is_named_and_the_size_is_reported() {
    let options = |pool| HostOptions {
        max_memory_bytes: Some(64 * 1024 * 1024),
        instance_pool: pool,
        ..HostOptions::default()
    };
    for pool in [None, Some(4)] {
        let policy = module(options(pool)).instance(cluster()).expect("instance");
        assert_eq!(
            policy.memory_bytes(),
            2 * 64 * 1024,
            "two pages, pool {pool:?}"
        );
        let err = policy.call("grow", b"").unwrap_err();
        assert!(
            err.to_string()
                .contains("the policy exhausted its memory limit of 64 MiB"),
            "{err}"
        );
        assert_eq!(policy.memory_bytes(), 2 * 64 * 1024, "growth was refused");
    }
    let unlimited = module(HostOptions {
        max_memory_bytes: None,
        ..HostOptions::default()
    });
    let policy = unlimited.instance(cluster()).expect("instance");
    policy.call("grow", b"").expect("grows");
    assert_eq!(policy.memory_bytes(), (2 + 2048) * 64 * 1024);
}

#[test]
fn a_pool_serves_as_many_live_instances_as_it_has_slots() {
    let module = module(HostOptions {
        instance_pool: Some(2),
        ..HostOptions::default()
    });
    let first = module.instance(cluster()).expect("slot 1");
    let second = module.instance(cluster()).expect("slot 2");
    assert!(module.instance(cluster()).is_err(), "no third slot");
    drop(first);
    let third = module.instance(cluster()).expect("a freed slot");
    assert_eq!(third.protocol_version().expect("version"), "v1");
    assert_eq!(second.protocol_version().expect("version"), "v1");
}

#[test]
fn a_pooled_slot_starts_each_instance_afresh() {
    // One slot, so that the second instance reuses the memory the first grew past the resident part.
    let module = module(HostOptions {
        instance_pool: Some(1),
        max_memory_bytes: None,
        ..HostOptions::default()
    });
    let first = module.instance(cluster()).expect("the slot");
    first.call("grow", b"").expect("grows");
    assert!(first.memory_bytes() > priority_guard_host::POOL_KEEP_RESIDENT_BYTES);
    drop(first);
    let second = module.instance(cluster()).expect("the slot again");
    assert_eq!(
        second.memory_bytes(),
        2 * 64 * 1024,
        "the initial two pages"
    );
    assert_eq!(second.protocol_version().expect("version"), "v1");
}

#[test]
fn invalid_modules_are_rejected() {
    let err = PolicyModule::from_bytes(b"not wasm", HostOptions::default()).unwrap_err();
    assert!(matches!(err, HostError::InvalidWasm(_)), "{err}");
    let wasm = guest_wasm();
    let err =
        PolicyModule::from_bytes(&wasm[..wasm.len() - 3], HostOptions::default()).unwrap_err();
    assert!(matches!(err, HostError::InvalidWasm(_)), "{err}");
    // a module importing something the host does not offer
    let foreign = wat::parse_str(r#"(module (import "env" "nope" (func)))"#).expect("wat");
    let err = PolicyModule::from_bytes(&foreign, HostOptions::default()).unwrap_err();
    assert!(matches!(err, HostError::Instantiate(_)), "{err}");
    // a module without __guest_call
    let empty = wat::parse_str("(module (memory (export \"memory\") 1))").expect("wat");
    let module = PolicyModule::from_bytes(&empty, HostOptions::default()).expect("compiles");
    let err = module.instance(cluster()).unwrap_err();
    assert!(err.to_string().contains("__guest_call"), "{err}");
}
