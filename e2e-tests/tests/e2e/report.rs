//! `priority-guard report` against a real kube-apiserver: its PolicyReports and ClusterPolicyReport are stored
//! by the apiserver with the wgpolicyk8s.io/v1alpha2 CRDs (`tests/fixtures/policy-report-crds.yaml`) as they
//! were written, nothing pruned or refused by the CRDs' schema.

use std::process::Command;

use priority_guard_e2e_tests::envtest::{self, ControlPlane};
use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::{common, engines};

/// Installs the report CRDs once and waits until both kinds are served.
fn install_report_crds(plane: &ControlPlane) {
    let path = common::root().join("e2e-tests/tests/fixtures/policy-report-crds.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for document in serde_yaml_ng::Deserializer::from_str(&text) {
        let crd = Value::deserialize(document).unwrap_or_else(|e| panic!("{e}"));
        if crd.is_null() {
            continue;
        }
        plane
            .apply(&crd)
            .unwrap_or_else(|e| panic!("the report CRDs: {e:#}"));
    }
    for (namespace, resource) in [
        (Some("default"), "policyreports"),
        (None, "clusterpolicyreports"),
    ] {
        let path = envtest::resource_path("wgpolicyk8s.io", "v1alpha2", resource, namespace, None);
        plane
            .poll(&format!("{resource} to be served"), || {
                Ok(plane.get(&path)?.ok().then_some(()))
            })
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
}

/// The settings and dump of the CLI's report tests, with a priorityClasses section so that the PriorityClasses
/// of the dump are decided too and land in the ClusterPolicyReport.
fn policy_reports() -> Vec<Value> {
    let root = common::root();
    let scratch =
        std::env::temp_dir().join(format!("priority-guard-e2e-report-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("scratch dir");
    let mut settings =
        std::fs::read_to_string(root.join("fixtures/prod-preprod-dev/settings.yaml"))
            .expect("settings");
    settings.push_str("priorityClasses:\n  requireDescription: true\n  maxValue: 100000\n");
    let settings_path = scratch.join("settings.yaml");
    std::fs::write(&settings_path, settings).expect("write settings");
    let output = engines::output(
        Command::new(engines::cli())
            .args(["report", "--format", "policyreport", "--settings"])
            .arg(&settings_path)
            .arg("--cluster-state")
            .arg(root.join("cli/tests/report-fixtures/cluster.json")),
    );
    let _ = std::fs::remove_dir_all(&scratch);
    // Objects are refused: status 1.
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).expect("YAML"))
        .filter(|document| !document.is_null())
        .collect()
}

#[test]
fn policy_reports_are_stored_by_the_apiserver_as_written() {
    let reports = policy_reports();
    let kinds: Vec<&str> = reports
        .iter()
        .map(|r| r["kind"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        kinds,
        [
            "ClusterPolicyReport",
            "PolicyReport",
            "PolicyReport",
            "PolicyReport",
            "PolicyReport"
        ]
    );
    let plane = engines::control_plane();
    install_report_crds(plane);
    for report in &reports {
        if let Some(namespace) = report["metadata"]["namespace"].as_str() {
            plane
                .apply(&json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}))
                .unwrap_or_else(|e| panic!("{e:#}"));
        }
        let stored = plane
            .apply(report)
            .unwrap_or_else(|e| panic!("{e:#}\n{report:#}"));
        // Everything written is kept: a field the CRD's schema does not know would be pruned.
        for field in ["results", "summary"] {
            assert_eq!(
                stored[field], report[field],
                "{field} of {:#}",
                report["metadata"]
            );
        }
        let path = envtest::object_path(report, true).unwrap_or_else(|e| panic!("{e:#}"));
        let read = plane
            .get(&path)
            .unwrap_or_else(|e| panic!("{e:#}"))
            .into_ok()
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(read["results"], report["results"]);
    }
    // One result per object, with the object as its resource; the refusals fail.
    let prod = reports
        .iter()
        .find(|r| r["metadata"]["namespace"] == "prod")
        .expect("a report for prod");
    let failed: Vec<&str> = prod["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["result"] == "fail")
        .map(|r| r["resources"][0]["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(failed, ["cache", "cache-0"]);
    assert_eq!(prod["summary"]["fail"], 2);
    let classes = &reports[0]["results"];
    assert!(
        classes
            .as_array()
            .expect("results")
            .iter()
            .any(|r| r["result"] == "fail" && r["rule"] == "priorityClasses"),
        "{classes:#}"
    );
}
