//! The CEL emitter: for any valid settings, every generated expression compiles with the `cel` crate (both
//! versions the differential suite uses) and evaluates on Pods without an evaluation error.

#![no_main]

use libfuzzer_sys::fuzz_target;
use priority_guard_e2e_tests::native::{NativePolicies, NativeVerdict};
use priority_guard_sdk::Settings;
use priority_guard_sdk::output::native::{self, Options};
use serde_json::json;

fuzz_target!(|data: &[u8]| {
    let Ok(settings) = Settings::from_json_slice(data) else {
        return;
    };
    let generated = native::generate(&settings, &Options::default());
    let yaml = native::to_yaml(&generated.documents).expect("the documents are YAML");
    let policies = NativePolicies::from_yaml(&yaml)
        .unwrap_or_else(|e| panic!("the generated CEL does not compile: {e:#}\n{yaml}"));
    // Pods in the namespaces the rules name, and one elsewhere, naming no class, an unset one, and a
    // class of the settings.
    let mut namespaces: Vec<String> =
        settings.rules.iter().flat_map(|r| r.namespaces.iter().cloned()).collect();
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
});
