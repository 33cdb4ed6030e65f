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
    let _turn = engines::exclusive();
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

/// A kubeconfig with the admin's context `envtest` and a context `reader` of a ServiceAccount that may list
/// everything the report reads but Pods.
fn kubeconfig_with_reader(plane: &ControlPlane) -> std::path::PathBuf {
    let verbs = json!(["get", "list"]);
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "report-reader"},
        "rules": [
            {"apiGroups": [""], "resources": ["namespaces", "replicationcontrollers"], "verbs": verbs},
            {"apiGroups": ["scheduling.k8s.io"], "resources": ["priorityclasses"], "verbs": verbs},
            {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"],
             "verbs": verbs},
            {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": verbs}]});
    let binding = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
        "metadata": {"name": "report-reader"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "report-reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "report-reader", "namespace": "default"}]});
    let account = json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "report-reader", "namespace": "default"}});
    for object in [&role, &binding, &account] {
        plane.apply(object).unwrap_or_else(|e| panic!("{e:#}"));
    }
    let token = plane
        .post(
            "/api/v1/namespaces/default/serviceaccounts/report-reader/token",
            &json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                    "spec": {"expirationSeconds": 3600}}),
        )
        .and_then(envtest::Reply::into_ok)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let token = token["status"]["token"]
        .as_str()
        .expect("a token")
        .to_owned();
    let admin: Value = serde_json::from_str(
        &std::fs::read_to_string(plane.kubeconfig()).expect("the admin kubeconfig"),
    )
    .expect("JSON kubeconfig");
    let mut config = admin.clone();
    config["users"]
        .as_array_mut()
        .expect("users")
        .push(json!({"name": "reader", "user": {"token": token}}));
    config["contexts"]
        .as_array_mut()
        .expect("contexts")
        .push(json!({"name": "reader", "context": {"cluster": "envtest", "user": "reader"}}));
    let path = plane.dir().join("kubeconfig-report");
    std::fs::write(&path, config.to_string()).expect("write the kubeconfig");
    path
}

fn run_report(
    kubeconfig: &std::path::Path,
    settings: &std::path::Path,
    context: Option<&str>,
) -> (i32, Value) {
    let mut command = Command::new(engines::cli());
    command
        .args(["report", "--format", "json", "--settings"])
        .arg(settings)
        .arg("--kubeconfig")
        .arg(kubeconfig);
    if let Some(context) = context {
        command.args(["--context", context]);
    }
    let output = engines::output(&mut command);
    let report = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stderr)));
    (output.status.code().unwrap_or(-1), report)
}

#[test]
fn a_live_cluster_is_reported_and_a_kind_it_forbids_is_said_skipped() {
    let plane = engines::control_plane();
    let _turn = engines::exclusive();
    let namespace = "report-live";
    for object in [
        json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
               "metadata": {"name": "report-live-high"}, "value": 500_000}),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}),
        // No controller manager makes the namespace's default ServiceAccount, which a Pod needs.
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": namespace},
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                   "metadata": {"labels": {"app": "web"}},
                   "spec": {"priorityClassName": "report-live-high",
                            "containers": [{"name": "c", "image": "registry.example/web:1"}]}}}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "lone", "namespace": namespace},
               "spec": {"priorityClassName": "report-live-high",
                        "containers": [{"name": "c", "image": "registry.example/web:1",
                                        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}}}]}}),
    ] {
        plane.apply(&object).unwrap_or_else(|e| panic!("{e:#}"));
    }
    let kubeconfig = kubeconfig_with_reader(plane);
    let settings = plane.dir().join("report-settings.yaml");
    std::fs::write(
        &settings,
        "rules:\n  - name: live\n    namespaces: [report-live]\n    deniedPriorityClasses: [report-live-high]\n",
    )
    .expect("write settings");
    let ours = |report: &Value, list: &str| -> Vec<String> {
        report["audit"][list]
            .as_array()
            .expect("a list")
            .iter()
            .filter(|o| o["namespace"] == namespace)
            .map(|o| {
                format!(
                    "{}/{} {}",
                    o["kind"].as_str().unwrap_or(""),
                    o["name"].as_str().unwrap_or(""),
                    o["verdict"].as_str().unwrap_or("refused")
                )
            })
            .collect()
    };

    // The admin reads everything: the Deployment and the Pod are refused, the Pod also as a running Pod.
    let (status, report) = run_report(&kubeconfig, &settings, None);
    assert_eq!(report["source"], "cluster envtest");
    assert!(
        !report["skipped"]
            .as_array()
            .expect("skipped")
            .iter()
            .any(|s| s.as_str().unwrap_or("").contains("forbids")),
        "{:#}",
        report["skipped"]
    );
    assert!(status == 1 || status == 3, "{status}");
    assert_eq!(
        ours(&report, "objects"),
        ["Deployment/web denied", "Pod/lone denied"]
    );
    assert_eq!(ours(&report, "refusedRunningPods"), ["Pod/lone refused"]);
    let exposure = report["exposure"]["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|n| n["namespace"] == namespace)
        .cloned()
        .expect("the namespace's exposure");
    assert_eq!(exposure["highestPriority"], 500_000);
    assert_eq!(exposure["cpuMillis"], 1000);

    // The reader may not list Pods: they are skipped, said at the top, and the rest is reported.
    let (status, report) = run_report(&kubeconfig, &settings, Some("reader"));
    assert_eq!(status, 3);
    assert_eq!(report["source"], "cluster reader");
    let skipped = report["skipped"][0].as_str().expect("a skipped kind");
    assert!(
        skipped.starts_with("pods: the cluster forbids listing them (403 Forbidden"),
        "{skipped}"
    );
    assert_eq!(ours(&report, "objects"), ["Deployment/web denied"]);
    assert_eq!(ours(&report, "refusedRunningPods"), Vec::<String>::new());
}

#[test]
fn an_unreachable_cluster_writes_no_report() {
    let dir = std::env::temp_dir().join(format!(
        "priority-guard-e2e-unreachable-{}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("scratch");
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a port")
        .port();
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        json!({"apiVersion": "v1", "kind": "Config",
               "clusters": [{"name": "gone", "cluster": {"server": format!("http://127.0.0.1:{port}")}}],
               "users": [{"name": "nobody", "user": {}}],
               "contexts": [{"name": "gone", "context": {"cluster": "gone", "user": "nobody"}}],
               "current-context": "gone"})
        .to_string(),
    )
    .expect("write the kubeconfig");
    let settings = dir.join("settings.yaml");
    std::fs::write(&settings, "fallback: {}\n").expect("write settings");
    let output = engines::output(
        Command::new(engines::cli())
            .args(["report", "--settings"])
            .arg(&settings)
            .arg("--kubeconfig")
            .arg(&kubeconfig),
    );
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "cannot reach the cluster at http://127.0.0.1:{port}"
        )),
        "{stderr}"
    );
}
