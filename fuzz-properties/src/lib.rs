//! What each fuzz target of `fuzz/` checks, as one function per target taking the target's input bytes and
//! panicking when a property does not hold. The targets (`fuzz/fuzz_targets/*.rs`, cargo-fuzz on nightly) call
//! them under libFuzzer; `tests/replay.rs` calls them on every input kept in `fuzz/corpus/<target>/` and
//! `fuzz/regressions/<target>/` on the ordinary build, so that what a campaign found guards every later change
//! without nightly.

use std::sync::{Arc, OnceLock};

use priority_guard_e2e_tests::native::{NativePolicies, NativeVerdict};
use priority_guard_host::{ClusterState, HostOptions, PolicyModule};
use priority_guard_sdk::decide::patch::PatchOp;
use priority_guard_sdk::decide::{Cluster, Labels};
use priority_guard_sdk::kubewarden::Validator;
use priority_guard_sdk::output::native::{self, Options};
use priority_guard_sdk::{AdmissionRequestView, Outcome, Settings, decide};
use serde_json::{Value, json};

/// The fast YAML reader's target. Not in this library's own unit-test build (which `clippy --all-targets` makes),
/// where the reader's unit tests would need the rest of the CLI.
#[cfg(not(test))]
pub mod yaml;

mod cases;
pub mod plain_json;
pub use cases::{equivalence, structured};

/// What a target checks: its input bytes in, a panic when a property does not hold.
pub type Property = fn(&[u8]);

/// The targets, by the name of their fuzz target and corpus directory.
pub fn targets() -> Vec<(&'static str, Property)> {
    #[cfg_attr(test, allow(unused_mut))]
    let mut targets: Vec<(&'static str, Property)> = vec![
        ("settings", settings),
        ("decision", decision),
        ("mutation", mutation),
        ("cel", cel),
        ("wasm", wasm),
        ("structured", structured),
        ("equivalence", equivalence),
    ];
    #[cfg(not(test))]
    targets.push(("fast_yaml", yaml::fast_yaml));
    targets
}

/// The README's prod/preprod/dev settings, as JSON: a name rule, a selector rule (so lookups happen), a
/// fallback with a wildcard, defaults and unset classes. The decision and mutation targets decide with these.
pub const SETTINGS: &str = r#"{"rules":[{"name":"system","namespaces":["kube-system"]},{"name":"production","namespaces":["prod"],"allowedPriorityClasses":["prod-pc"],"defaultPriorityClass":"prod-pc"},{"name":"preproduction","namespaceSelector":{"matchLabels":{"env":"preprod"}},"allowedPriorityClasses":["preprod-pc","dev-pc"],"defaultPriorityClass":"preprod-pc"}],"fallback":{"deniedPriorityClasses":["system-*","prod-pc","preprod-pc"],"defaultPriorityClass":"dev-pc"},"unsetPriorityClasses":["cluster-default"],"mutateWorkloadTemplates":true}"#;

/// [`SETTINGS`], read once.
fn readme_settings() -> &'static Settings {
    static SETTINGS_READ: OnceLock<Settings> = OnceLock::new();
    SETTINGS_READ
        .get_or_init(|| Settings::from_json_slice(SETTINGS.as_bytes()).expect("valid settings"))
}

/// Namespaces whose name starts with `pre` are labelled env=preprod; `broken` cannot be looked up.
fn labels(namespace: &str) -> Result<Labels, String> {
    if namespace == "broken" {
        return Err("lookup failed".to_owned());
    }
    let mut labels = Labels::new();
    if namespace.starts_with("pre") {
        labels.insert("env".to_owned(), "preprod".to_owned());
    }
    Ok(labels)
}

/// The validate payload Kubewarden sends, with `request` as given (any bytes) and the README's settings.
fn payload(request: &[u8]) -> Vec<u8> {
    payload_with(request, SETTINGS)
}

/// The validate payload Kubewarden sends, with `request` as given (any bytes) and `settings` (JSON).
fn payload_with(request: &[u8], settings: &str) -> Vec<u8> {
    [
        br#"{"request": "#.as_slice(),
        request,
        br#", "settings": "#.as_slice(),
        settings.as_bytes(),
        b"}".as_slice(),
    ]
    .concat()
}

/// Settings parsing and validation: any bytes give valid settings or field errors, never a panic, and the
/// policy's `validate_settings` answers the same.
pub fn settings(data: &[u8]) {
    let parsed = Settings::from_json_slice(data);
    if let Err(e) = &parsed {
        assert!(!e.errors.is_empty(), "an error names at least one problem");
        for error in &e.errors {
            assert!(
                !error.field.is_empty() && !error.message.is_empty(),
                "{error:?}"
            );
        }
    }
    let answer = Validator::validate_settings(data);
    let answer: Value = plain_json::from_slice(&answer).expect("the answer is JSON");
    assert_eq!(answer["valid"].as_bool(), Some(parsed.is_ok()), "{answer}");
}

/// The decision on arbitrary request JSON: the Kubewarden validator always answers with a ValidationResponse,
/// whose verdict is the sdk's decision, and never panics.
pub fn decision(data: &[u8]) {
    decision_agrees(SETTINGS, readme_settings(), data, labels);
}

/// The validator's answer to `data` as the request, under `settings` (valid JSON settings, which the sdk reads as
/// `parsed`) and `cluster`, is a ValidationResponse with the verdict of the sdk's decision.
fn decision_agrees(settings: &str, parsed: &Settings, data: &[u8], cluster: impl Cluster + Copy) {
    let answer = Validator::default().validate(&payload_with(data, settings), cluster);
    let answer: Value = plain_json::from_slice(&answer).expect("the answer is JSON");
    let accepted = answer["accepted"].as_bool().expect("accepted is a bool");
    if !accepted {
        let message = answer["message"]
            .as_str()
            .expect("a rejection has a message");
        assert!(!message.is_empty());
        assert!(
            matches!(answer["code"].as_u64(), Some(400 | 403)),
            "{answer}"
        );
        assert!(answer["mutated_object"].is_null());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(!accepted, "invalid UTF-8 is refused");
        return;
    };
    // The request as the glue sees it: the payload's `request` member (data may be more than one value).
    let Ok(view) = AdmissionRequestView::from_json(text) else {
        return;
    };
    match decide(parsed, &view, cluster) {
        Ok(ref outcome @ Outcome::Reject { .. }) if outcome.refuses() => {
            assert!(!accepted, "{answer}");
        }
        Err(_) => assert!(!accepted, "{answer}"),
        // A Warn or Audit rule's refusal: let through with the message (and its default, whose object may still
        // fail to be read).
        Ok(Outcome::Reject { .. }) => {
            assert!(
                !accepted
                    || !answer["warnings"].is_null()
                    || !answer["audit_annotations"].is_null(),
                "{answer}"
            );
        }
        Ok(Outcome::Accept { .. }) => {
            assert!(accepted, "{answer}");
            assert!(answer["mutated_object"].is_null());
        }
        // A default also needs the whole object to be read, which may still fail.
        Ok(Outcome::Mutate { .. }) => {
            assert!(
                !accepted || answer["mutated_object"].is_object(),
                "{answer}"
            );
        }
    }
}

/// Removes the member at `pointer` (an object member path), if there.
fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("a member path");
    let key = key.replace("~1", "/").replace("~0", "~");
    if let Some(parent) = value.pointer_mut(parent).and_then(Value::as_object_mut) {
        parent.remove(&key);
    }
}

/// The mutation: whenever a request is defaulted, the mutated object is JSON that differs from the request's
/// object only at the patch's paths, where it has the default class (or no member, for a remove).
pub fn mutation(data: &[u8]) {
    mutation_changes_only_its_paths(SETTINGS, readme_settings(), data, labels);
}

/// Under `settings` (valid JSON settings, which the sdk reads as `parsed`) and `cluster`, a default of `data` (the request) changes the object
/// at the patch's paths only. Returns the mutated object, if the request was defaulted.
fn mutation_changes_only_its_paths(
    settings: &str,
    parsed: &Settings,
    data: &[u8],
    cluster: impl Cluster + Copy,
) -> Option<Value> {
    let text = std::str::from_utf8(data).ok()?;
    let view = AdmissionRequestView::from_json(text).ok()?;
    let Ok(Outcome::Mutate { class, patch, .. }) = decide(parsed, &view, cluster) else {
        return None;
    };
    assert!(!patch.is_empty());
    let answer = Validator::default().validate(&payload_with(data, settings), cluster);
    let answer: Value = plain_json::from_slice(&answer).expect("the answer is JSON");
    if answer["accepted"] == false {
        // Only an answer a host could not read back is refused: too deep, a number beyond a double, or a lone
        // surrogate escape.
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("recursion limit exceeded")
                || message.contains("number out of range")
                || message.contains("lone surrogate"),
            "{answer}"
        );
        return None;
    }
    let mut mutated = answer["mutated_object"].clone();
    assert!(mutated.is_object(), "{answer}");
    let result = mutated.clone();
    let Ok(mut original) = plain_json::from_str(view.object.expect("an object")) else {
        // The original holds what serde_json refuses (a number beyond a double) only where the patch removes it.
        return Some(result);
    };
    for op in &patch {
        match op {
            PatchOp::Add { path, value } | PatchOp::Replace { path, value } => {
                assert_eq!(value, &Value::String(class.clone()));
                assert_eq!(mutated.pointer(path), Some(value), "{path}");
            }
            PatchOp::Remove { path } => {
                assert!(
                    original.pointer(path).is_some(),
                    "removes only what is there: {path}"
                );
                assert!(mutated.pointer(path).is_none(), "{path}");
            }
        }
        remove(&mut original, op.path());
        remove(&mut mutated, op.path());
    }
    assert_eq!(original, mutated, "only the patch's paths changed");
    Some(result)
}

/// The CEL emitter: for any valid settings, every generated expression compiles with the `cel` crates (both
/// versions the differential suite uses) and evaluates on Pods without an evaluation error.
pub fn cel(data: &[u8]) {
    let Ok(settings) = Settings::from_json_slice(data) else {
        return;
    };
    let generated = native::generate(&settings, &Options::default());
    let yaml = native::to_yaml(&generated.documents).expect("the documents are YAML");
    let policies = NativePolicies::from_yaml(&yaml)
        .unwrap_or_else(|e| panic!("the generated CEL does not compile: {e:#}\n{yaml}"));
    // Pods in the namespaces the rules name, and one elsewhere, naming no class, an unset one, and a
    // class of the settings.
    let mut namespaces: Vec<String> = settings
        .rules
        .iter()
        .flat_map(|r| r.namespaces.iter().cloned())
        .collect();
    namespaces.push("elsewhere".to_owned());
    let mut classes = vec![None, Some("cluster-default".to_owned())];
    classes.extend(settings.unset_priority_classes.iter().cloned().map(Some));
    for namespace in namespaces.iter().take(4) {
        for class in &classes {
            let mut spec = json!({"containers": [{"name": "c"}], "priority": 0});
            if let Some(class) = class {
                spec["priorityClassName"] = json!(class);
            }
            let request = json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "resource": {"group": "", "version": "v1", "resource": "pods"},
                "operation": "CREATE", "namespace": namespace, "name": "p",
                "object": {"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": "p", "namespace": namespace}, "spec": spec}});
            let ns = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": namespace, "labels": {"kubernetes.io/metadata.name": namespace}}});
            let verdict = policies
                .admit(&request, Some(&ns))
                .unwrap_or_else(|e| panic!("admission failed: {e:#}\n{yaml}"));
            if let NativeVerdict::Denied { messages } = verdict {
                for message in messages {
                    assert!(
                        !message.starts_with("ValidatingAdmissionPolicy: ")
                            && !message.starts_with("MutatingAdmissionPolicy: "),
                        "an evaluation error: {message}\n{yaml}"
                    );
                }
            }
        }
    }
}

/// policy.wasm, compiled once, granted the lookups its metadata asks for.
fn policy_module() -> &'static PolicyModule {
    static MODULE: OnceLock<PolicyModule> = OnceLock::new();
    MODULE.get_or_init(|| {
        let wasm =
            std::fs::read(priority_guard_e2e_tests::POLICY_WASM).expect("policy.wasm was built");
        let options = HostOptions {
            allowed_resources: Some(
                [("v1".to_owned(), "Namespace".to_owned())]
                    .into_iter()
                    .chain([(
                        "scheduling.k8s.io/v1".to_owned(),
                        "PriorityClass".to_owned(),
                    )])
                    .collect(),
            ),
            allow_mutations: Some(true),
            ..HostOptions::default()
        };
        PolicyModule::from_bytes(&wasm, options).expect("policy.wasm loads")
    })
}

/// policy.wasm itself (the Wasm SIMD build, under the host crate, a fresh instance per input) answers the payload
/// of any request bytes exactly as the native sdk does: the same ValidationResponse, byte for byte (verdict,
/// message, code, mutated object, warnings). The host's cluster holds the namespaces the native side looked up
/// (but `broken`), with the labels `labels` gives them: whatever way a request names its namespace, and whatever
/// bytes the request holds that a JSON reader other than the sdk's would refuse.
pub fn wasm(data: &[u8]) {
    let payload = payload(data);
    // The host's cluster holds the namespaces the native side looked up, with the same labels.
    let mut asked = Vec::new();
    let native = Validator::default().validate(&payload, |namespace: &str| {
        asked.push(namespace.to_owned());
        labels(namespace)
    });
    asked.sort_unstable();
    asked.dedup();
    let objects = asked.iter().filter_map(|namespace| {
        let labels = labels(namespace).ok()?;
        Some(json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": labels}}))
    });
    let Ok(cluster) = ClusterState::from_objects(objects) else {
        // A namespace the host's cluster model cannot hold (not a valid name): nothing to compare against.
        return;
    };
    let instance = policy_module()
        .instance(Arc::new(cluster))
        .expect("an instance");
    let answer = instance
        .call("validate", &payload)
        .unwrap_or_else(|e| panic!("policy.wasm failed instead of answering: {e:#}"));
    if answer != native {
        // A lookup the native side answered and the host did not (a namespace the host refuses to look up)
        // words its error differently; everything else must be the same bytes.
        let (w, n): (Value, Value) = (
            plain_json::from_slice(&answer).expect("policy.wasm answers JSON"),
            plain_json::from_slice(&native).expect("the sdk answers JSON"),
        );
        let lookup_failed = |v: &Value| {
            v["message"].as_str().is_some_and(|m| {
                m.starts_with("cannot decide the PriorityClass rule for namespace")
            })
        };
        assert!(
            lookup_failed(&w) && w["accepted"] == n["accepted"],
            "policy.wasm and the native sdk differ:\n  policy.wasm: {w}\n  native:      {n}"
        );
    }
}
