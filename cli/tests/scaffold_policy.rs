//! `priority-guard scaffold policy`: golden ClusterAdmissionPolicies for fixture settings, and what they must
//! hold when parsed. Regenerate the golden files with
//! `PRIORITY_GUARD_BLESS=1 cargo test --workspace --test scaffold_policy` and review the diff.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::process::{Command, Output};

use common::{golden_difference, root, text};
use priority_guard_sdk::Settings;
use serde_json::{Value, json};

fn scaffold(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_priority-guard"))
        .current_dir(root())
        .args(["scaffold", "policy"])
        .args(args)
        .output()
        .unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap()
}

const SCENARIOS: &[&str] = &[
    "custom-workloads",
    "prod-preprod-dev",
    "required",
    "rollout",
];

#[test]
fn scaffolded_policies_match_the_golden_files() {
    let mut stale = Vec::new();
    for scenario in SCENARIOS {
        let settings = format!("fixtures/{scenario}/settings.yaml");
        let out = scaffold(&["--settings", &settings]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let golden = root().join(format!(
            "fixtures/{scenario}/kubewarden/cluster-admission-policy.yaml"
        ));
        stale.extend(golden_difference(&golden, &text(&out.stdout)));
    }
    assert!(
        stale.is_empty(),
        "scaffolded YAML differs from the golden files; regenerate with PRIORITY_GUARD_BLESS=1 and review the \
         diff:\n{}",
        stale.join("\n")
    );
}

/// The metadata.yml rules, which the scaffolded policy must start with: without the PriorityClass rule when
/// the settings have no `priorityClasses`.
fn metadata_rules(priority_classes: bool) -> Value {
    let metadata = yaml(&std::fs::read_to_string(root().join("metadata.yml")).unwrap());
    let rules = metadata["rules"].as_array().unwrap().iter();
    Value::Array(
        rules
            .filter(|r| priority_classes || r["resources"] != json!(["priorityclasses"]))
            .cloned()
            .collect(),
    )
}

#[test]
fn the_policy_has_rules_for_built_in_and_custom_kinds_and_the_same_settings() {
    let out = scaffold(&["--settings", "fixtures/custom-workloads/settings.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let policy = yaml(&text(&out.stdout));
    assert_eq!(policy["apiVersion"], "policies.kubewarden.io/v1");
    assert_eq!(policy["kind"], "ClusterAdmissionPolicy");
    assert_eq!(policy["metadata"]["name"], "priority-guard");
    let spec = &policy["spec"];
    assert!(
        spec["module"]
            .as_str()
            .unwrap()
            .starts_with("registry://ghcr.io/priority-guard/policies/priority-guard:v"),
        "{}",
        spec["module"]
    );
    // A rule has a default: the policy patches.
    assert_eq!(spec["mutating"], true);
    // No rule matches namespaces by labels: no lookup is granted.
    assert_eq!(spec["contextAwareResources"], json!([]));
    let rules = spec["rules"].as_array().unwrap();
    let builtin = metadata_rules(false);
    let builtin = builtin.as_array().unwrap();
    assert_eq!(&rules[..builtin.len()], &builtin[..]);
    assert_eq!(
        &rules[builtin.len()..],
        &[
            json!({"apiGroups": ["argoproj.io"], "apiVersions": ["v1alpha1"], "resources": ["rollouts"],
                   "operations": ["CREATE", "UPDATE"]}),
            json!({"apiGroups": ["batch.volcano.sh"], "apiVersions": ["v1alpha1"], "resources": ["jobs"],
                   "operations": ["CREATE", "UPDATE"]}),
        ]
    );
    let original = yaml(
        &std::fs::read_to_string(root().join("fixtures/custom-workloads/settings.yaml")).unwrap(),
    );
    assert_eq!(
        Settings::from_value(spec["settings"].clone()).unwrap(),
        Settings::from_value(original).unwrap()
    );
}

#[test]
fn selector_rules_get_the_namespace_lookup() {
    let out = scaffold(&["--settings", "fixtures/prod-preprod-dev/settings.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let policy = yaml(&text(&out.stdout));
    assert_eq!(
        policy["spec"]["contextAwareResources"],
        json!([{"apiVersion": "v1", "kind": "Namespace"}])
    );
    assert_eq!(policy["spec"]["rules"], metadata_rules(false));
}

#[test]
fn cluster_aware_settings_get_the_priority_class_rule_and_lookup() {
    let out = scaffold(&["--settings", "fixtures/cluster-aware/settings.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let policy = yaml(&text(&out.stdout));
    let lookups = policy["spec"]["contextAwareResources"].as_array().unwrap();
    assert!(
        lookups.contains(&json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass"})),
        "{lookups:?}"
    );
    let settings = yaml(
        &std::fs::read_to_string(root().join("fixtures/cluster-aware/settings.yaml")).unwrap(),
    );
    let with_classes = settings.get("priorityClasses").is_some();
    assert_eq!(policy["spec"]["rules"], metadata_rules(with_classes));
}

#[test]
fn invalid_settings_are_refused_naming_the_field() {
    let dir = std::env::temp_dir().join(format!("priority-guard-scaffold-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("settings.yaml");
    std::fs::write(
        &settings,
        "customWorkloads:\n  - {apiGroup: argoproj.io, apiVersion: v1alpha1, kind: Rollout, resource: rollouts, podSpecPath: '$..spec'}\n",
    )
    .unwrap();
    let out = scaffold(&["--settings", settings.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("customWorkloads[0].podSpecPath"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

/// `--mode monitor` writes Kubewarden's `mode: monitor` for a dry run of the whole policy; the default writes no
/// mode (Kubewarden's `protect`), and an unknown mode is refused.
#[test]
fn monitor_mode_is_written_only_when_asked() {
    let settings = "fixtures/rollout/settings.yaml";
    let monitor = scaffold(&["--settings", settings, "--mode", "monitor"]);
    assert!(monitor.status.success(), "{}", text(&monitor.stderr));
    assert_eq!(yaml(&text(&monitor.stdout))["spec"]["mode"], "monitor");
    for args in [
        &["--settings", settings][..],
        &["--settings", settings, "--mode", "protect"],
    ] {
        let out = scaffold(args);
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert_eq!(
            yaml(&text(&out.stdout))["spec"].get("mode"),
            None,
            "{args:?}"
        );
    }
    let bad = scaffold(&["--settings", settings, "--mode", "audit"]);
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("--mode"),
        "{}",
        text(&bad.stderr)
    );
}
