//! `priority-guard vap`: golden YAML for representative settings and Kubernetes versions, and its errors.
//!
//! The golden files live beside the fixtures (`fixtures/<scenario>/native/kubernetes-1.N.yaml`); the
//! differential suite in e2e-tests proves that the YAML decides like policy.wasm. Regenerate them with
//! `PRIORITY_GUARD_BLESS=1 cargo test --workspace --test vap` and review the diff.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::process::{Command, Output};

use common::{golden_difference, root, text};

fn vap(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_priority-guard"))
        .current_dir(root())
        .arg("vap")
        .args(args)
        .output()
        .unwrap()
}

/// (scenario, Kubernetes version, what stderr must say).
const GOLDEN: &[(&str, &str, Option<&str>)] = &[
    ("prod-preprod-dev", "1.36", None),
    ("prod-preprod-dev", "1.35", Some("feature gate")),
    (
        "prod-preprod-dev",
        "1.33",
        Some("has no MutatingAdmissionPolicy"),
    ),
    ("required", "1.36", None),
    ("templates", "1.36", None),
    ("custom-workloads", "1.36", None),
    ("custom-workloads", "1.34", Some("lists.range")),
    ("cluster-aware", "1.36", None),
    ("rollout", "1.36", None),
];

#[test]
fn generated_yaml_matches_the_golden_files() {
    let mut stale = Vec::new();
    for (scenario, version, note) in GOLDEN {
        let settings = format!("fixtures/{scenario}/settings.yaml");
        let out = vap(&["--settings", &settings, "--kubernetes-version", version]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stderr = text(&out.stderr);
        match note {
            Some(note) => assert!(stderr.contains(note), "{scenario} {version}: {stderr}"),
            None => assert!(stderr.is_empty(), "{scenario} {version}: {stderr}"),
        }
        let golden = root().join(format!(
            "fixtures/{scenario}/native/kubernetes-{version}.yaml"
        ));
        stale.extend(golden_difference(&golden, &text(&out.stdout)));
    }
    assert!(
        stale.is_empty(),
        "generated YAML differs from the golden files; regenerate with PRIORITY_GUARD_BLESS=1 and review the \
         diff:\n{}",
        stale.join("\n")
    );
}

#[test]
fn the_kinds_of_documents_follow_the_version() {
    let kinds = |version: &str| -> Vec<(String, String)> {
        let out = vap(&[
            "--settings",
            "fixtures/prod-preprod-dev/settings.yaml",
            "--kubernetes-version",
            version,
            "--name",
            "pc-rules",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        serde_yaml_ng::Deserializer::from_str(&stdout)
            .map(|doc| {
                let doc: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
                assert_eq!(doc["metadata"]["name"], "pc-rules");
                (
                    doc["apiVersion"].as_str().unwrap().to_owned(),
                    doc["kind"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let v1 = "admissionregistration.k8s.io/v1".to_owned();
    let beta = "admissionregistration.k8s.io/v1beta1".to_owned();
    let vap = (v1.clone(), "ValidatingAdmissionPolicy".to_owned());
    let binding = (v1.clone(), "ValidatingAdmissionPolicyBinding".to_owned());
    assert_eq!(kinds("1.30"), [vap.clone(), binding.clone()]);
    assert_eq!(
        kinds("1.34"),
        [
            vap.clone(),
            binding.clone(),
            (beta.clone(), "MutatingAdmissionPolicy".to_owned()),
            (beta, "MutatingAdmissionPolicyBinding".to_owned()),
        ]
    );
    assert_eq!(
        kinds("1.36"),
        [
            vap,
            binding,
            (v1.clone(), "MutatingAdmissionPolicy".to_owned()),
            (v1, "MutatingAdmissionPolicyBinding".to_owned()),
        ]
    );
}

#[test]
fn settings_without_defaults_get_no_mutating_policy_and_no_note() {
    let dir = std::env::temp_dir().join(format!("priority-guard-vap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("settings.yaml");
    std::fs::write(
        &settings,
        "rules:\n- name: prod\n  namespaces: [prod]\n  allowedPriorityClasses: [prod-pc]\n",
    )
    .unwrap();
    let out = vap(&[
        "--settings",
        settings.to_str().unwrap(),
        "--kubernetes-version",
        "1.31",
    ]);
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).is_empty(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("MutatingAdmissionPolicy"));
}

#[test]
fn bad_arguments_and_settings_are_refused_with_the_reason() {
    let cases: &[(&[&str], &str)] = &[
        (
            &[
                "--settings",
                "fixtures/required/settings.yaml",
                "--kubernetes-version",
                "1.29",
            ],
            "--kubernetes-version: \"1.29\" is not a supported Kubernetes version: use 1.30 to 1.36",
        ),
        (
            &[
                "--settings",
                "fixtures/required/settings.yaml",
                "--name",
                "Not_A_Name",
            ],
            "--name: ",
        ),
        (
            &["--settings", "no/such/file.yaml"],
            "cannot read the settings file no/such/file.yaml",
        ),
        (
            &["--settings", "fixtures/required/expected.yaml"],
            "invalid settings in fixtures/required/expected.yaml",
        ),
    ];
    for (args, message) in cases {
        let out = vap(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?} printed YAML");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
