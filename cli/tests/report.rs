//! Runs `priority-guard report` on the cluster dumps of `tests/report-fixtures/` with the README's
//! prod/preprod/dev settings: golden output for text, json, markdown and policyreport, a baseline, the
//! preemption matrix on a dump whose numbers are known, bad input, exit statuses and determinism.
//!
//! Golden files are in `tests/report-fixtures/golden/`; `PRIORITY_GUARD_BLESS=1 cargo test --workspace --test
//! report` rewrites them from the current output (review the diff before committing).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// The fixtures directory; commands run there so that reported file names are short and stable.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/report-fixtures")
}

const SETTINGS: &str = "../../../fixtures/prod-preprod-dev/settings.yaml";
const DUMP: &str = "cluster.json";

fn report_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_priority-guard"))
        .arg("report")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run priority-guard")
}

fn report(args: &[&str]) -> Output {
    report_in(&fixtures(), args)
}

fn stdout(output: &Output) -> String {
    common::text(&output.stdout)
}

fn status(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn json_report(output: &Output) -> Value {
    let doc: Value = serde_json::from_str(&stdout(output)).expect("JSON output");
    assert_eq!(doc["version"], 1);
    doc
}

fn assert_golden(name: &str, actual: &str) {
    common::assert_golden(&fixtures().join("golden").join(name), actual);
}

#[test]
fn golden_reports_for_every_format() {
    for (format, file) in [
        ("text", "cluster.txt"),
        ("json", "cluster.json"),
        ("markdown", "cluster.md"),
        ("policyreport", "cluster.policyreport.yaml"),
    ] {
        let output = report(&[
            "--settings",
            SETTINGS,
            "--cluster-state",
            DUMP,
            "--format",
            format,
        ]);
        // Two objects and two running Pods are refused: status 1.
        assert_eq!(
            status(&output),
            1,
            "{format}: {}",
            common::text(&output.stderr)
        );
        assert_golden(file, &stdout(&output));
    }
}

#[test]
fn the_audit_decides_top_owners_once_and_lists_refused_running_pods() {
    let doc = json_report(&report(&[
        "--settings",
        SETTINGS,
        "--cluster-state",
        DUMP,
        "--format",
        "json",
    ]));
    assert_eq!(doc["skipped"], json!([]));
    let objects = doc["audit"]["objects"].as_array().unwrap();
    let line = |reference: &str| {
        objects
            .iter()
            .find(|o| {
                format!(
                    "{}/{}",
                    o["kind"].as_str().unwrap(),
                    o["name"].as_str().unwrap()
                ) == reference
            })
            .unwrap_or_else(|| panic!("no {reference} in {objects:#?}"))
    };
    // Owned ReplicaSets, Jobs and Pods are not decided on their own.
    assert!(
        objects
            .iter()
            .all(|o| o["kind"] != "ReplicaSet" && o["kind"] != "Job")
    );
    assert_eq!(
        line("Deployment/web")["owns"],
        json!({"Pod": 3, "ReplicaSet": 1})
    );
    assert_eq!(line("Deployment/web")["verdict"], "allowed");
    assert_eq!(line("CronJob/nightly")["owns"], json!({"Job": 1, "Pod": 1}));
    assert_eq!(line("CronJob/nightly")["defaultClass"], "preprod-pc");
    assert_eq!(line("Deployment/tools")["verdict"], "denied");
    assert_eq!(line("Deployment/tools")["rule"], "fallback");
    assert_eq!(
        line("Deployment/tools")["finding"],
        "priority-class-not-allowed"
    );
    // A Pod on its own is decided as an object.
    assert_eq!(line("Pod/debug")["verdict"], "defaulted");
    assert_eq!(line("Pod/debug")["defaultClass"], "dev-pc");
    let refused: Vec<&str> = doc["audit"]["refusedRunningPods"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(refused, ["cache-0", "tools-9c-z"]);
    let summary = &doc["audit"]["summary"];
    assert_eq!(summary["objects"], 9);
    // The finished Pod of the CronJob is not running.
    assert_eq!(summary["runningPods"], 10);
    let by_rule = doc["audit"]["byRule"].as_array().unwrap();
    assert!(by_rule.contains(
        &json!({"namespace": "prod", "rule": "production", "allowed": 1,
        "defaulted": 1, "warned": 0, "denied": 1})
    ));
}

/// A rule whose action is Warn (or Audit) does not refuse: what it would refuse is `warned`, a `warn` result in
/// the PolicyReports, and the report's status says nothing was refused.
#[test]
fn a_warn_rule_reports_warnings_not_refusals() {
    let dir = std::env::temp_dir().join(format!("pg-report-warn-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = std::fs::read_to_string(fixtures().join(SETTINGS)).unwrap();
    let warned = dir.join("settings.yaml");
    // Every rule and the fallback warn instead of refusing.
    let with_action = settings
        .lines()
        .flat_map(|line| {
            let trimmed = line.trim_start();
            let indent = &line[..line.len() - trimmed.len()];
            let mut out = vec![line.to_owned()];
            if trimmed.starts_with("- name:") || trimmed == "fallback:" {
                out.push(format!("{indent}  action: Warn"));
            }
            out
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&warned, with_action).unwrap();
    let warned = warned.to_str().unwrap();
    let output = report(&[
        "--settings",
        warned,
        "--cluster-state",
        DUMP,
        "--format",
        "json",
    ]);
    let doc = json_report(&output);
    let summary = &doc["audit"]["summary"];
    assert_eq!(summary["denied"], 0, "{summary}");
    assert!(summary["warned"].as_u64().unwrap() > 0, "{summary}");
    assert_eq!(status(&output), 0);
    let reports = stdout(&report(&[
        "--settings",
        warned,
        "--cluster-state",
        DUMP,
        "--format",
        "policyreport",
    ]));
    assert!(reports.contains("result: warn"), "{reports}");
    assert!(!reports.contains("result: fail"), "{reports}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_baseline_reports_only_what_changes() {
    let output = report(&[
        "--settings",
        SETTINGS,
        "--baseline",
        "baseline.yaml",
        "--cluster-state",
        DUMP,
        "--format",
        "json",
    ]);
    assert_eq!(status(&output), 1);
    let doc = json_report(&output);
    assert_eq!(doc["baseline"], "baseline.yaml");
    assert_eq!(doc["audit"]["objects"], json!([]));
    let changes: Vec<(String, String)> = doc["audit"]["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                format!(
                    "{}{}/{}",
                    if c["runningPod"] == true {
                        "running "
                    } else {
                        ""
                    },
                    c["kind"].as_str().unwrap(),
                    c["name"].as_str().unwrap()
                ),
                c["change"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("Deployment/legacy", "starts-defaulting"),
        ("StatefulSet/cache", "starts-refusing"),
        ("Deployment/tools", "starts-refusing"),
        ("CronJob/nightly", "default-changes"),
        ("running Pod/cache-0", "starts-refusing"),
        ("running Pod/tools-9c-z", "starts-refusing"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
    assert_eq!(changes, expected);
    assert_eq!(doc["audit"]["summary"]["changes"], 6);

    // The same settings on both sides change nothing: status 0.
    let output = report(&[
        "--settings",
        SETTINGS,
        "--baseline",
        SETTINGS,
        "--cluster-state",
        DUMP,
    ]);
    assert_eq!(status(&output), 0, "{}", stdout(&output));
    assert!(stdout(&output).contains("the two settings decide every object the same way"));
    let output = report(&[
        "--settings",
        SETTINGS,
        "--baseline",
        "baseline.yaml",
        "--cluster-state",
        DUMP,
    ]);
    assert_golden("baseline.txt", &stdout(&output));
}

/// A dump whose exposure is known: namespace `high` runs two Pods at 1000 (one of them `Never`), `low` three
/// at 0, 10 and 1000 with known requests.
fn exposure_dump() -> String {
    let pod = |name: &str,
               namespace: &str,
               priority: i32,
               policy: Option<&str>,
               requests: Value| {
        let mut spec = json!({"priority": priority, "containers": [{"name": "c", "resources": {"requests": requests}}]});
        if let Some(policy) = policy {
            spec["preemptionPolicy"] = json!(policy);
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec})
    };
    let items = vec![
        pod(
            "h1",
            "high",
            1000,
            None,
            json!({"cpu": "1", "memory": "1Gi"}),
        ),
        pod(
            "h2",
            "high",
            1000,
            Some("Never"),
            json!({"cpu": "1", "memory": "1Gi"}),
        ),
        pod(
            "l0",
            "low",
            0,
            None,
            json!({"cpu": "100m", "memory": "100Mi"}),
        ),
        pod(
            "l10",
            "low",
            10,
            Some("Never"),
            json!({"cpu": "200m", "memory": "200Mi"}),
        ),
        pod("l1000", "low", 1000, None, json!({"cpu": "400m"})),
    ];
    json!({"apiVersion": "v1", "kind": "List", "items": items}).to_string()
}

#[test]
fn the_matrix_counts_who_can_preempt_whom_and_the_requests_at_stake() {
    let scratch = common::Scratch::new("report-matrix");
    let dump = scratch.write("dump.json", exposure_dump());
    let settings = scratch.write("settings.yaml", "fallback: {}\n");
    let output = report_in(
        &scratch.0,
        &[
            "--settings",
            settings.to_str().unwrap(),
            "--cluster-state",
            dump.to_str().unwrap(),
            "-f",
            "json",
        ],
    );
    let doc = json_report(&output);
    let cell = |from: &str, to: &str| {
        doc["exposure"]["matrix"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["from"] == from && c["to"] == to)
            .cloned()
    };
    // h1 (1000, preempts) can preempt l0 and l10, not l1000 (equal) nor h2 (equal); h2 never preempts.
    assert_eq!(
        cell("high", "low"),
        Some(
            json!({"from": "high", "to": "low", "preemptors": 1, "victims": 2, "cpuMillis": 300,
                    "memoryBytes": 300 << 20})
        )
    );
    assert_eq!(cell("high", "high"), None);
    // l1000 can preempt l0 and l10 in its own namespace; l10 is Never; l0 preempts nobody.
    assert_eq!(
        cell("low", "low"),
        Some(
            json!({"from": "low", "to": "low", "preemptors": 1, "victims": 2, "cpuMillis": 300,
                    "memoryBytes": 300 << 20})
        )
    );
    assert_eq!(cell("low", "high"), None);
    let low = &doc["exposure"]["namespaces"][1];
    assert_eq!(low["namespace"], "low");
    assert_eq!(
        low["qos"],
        json!({"guaranteed": 0, "burstable": 3, "bestEffort": 0})
    );
    // l1000 requests no memory.
    assert_eq!(low["withoutRequests"], 1);
    assert_eq!(low["unprioritised"], 3);
    assert_eq!(low["maxGracePeriodSeconds"], 30);
    // No PriorityClass in the dump is said at the top: status 3.
    assert_eq!(status(&output), 3);
    assert!(
        doc["skipped"][0]
            .as_str()
            .unwrap()
            .starts_with("no PriorityClass in the input")
    );
}

#[test]
fn bad_input_is_skipped_said_at_the_top_and_the_rest_is_reported() {
    let scratch = common::Scratch::new("report-bad");
    let mut dump: Value =
        serde_json::from_str(&std::fs::read_to_string(fixtures().join(DUMP)).unwrap()).unwrap();
    let items = dump["items"].as_array_mut().unwrap();
    items.push(
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"namespace": "prod"}}),
    );
    items.push(json!({"hello": "world"}));
    items.push(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "odd", "namespace": "prod"},
        "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "plenty"}}}]}}),
    );
    let path = scratch.write("dump.json", dump.to_string());
    let output = report_in(
        &fixtures(),
        &[
            "--settings",
            SETTINGS,
            "--cluster-state",
            path.to_str().unwrap(),
        ],
    );
    assert_eq!(status(&output), 3, "{}", common::text(&output.stderr));
    let text = stdout(&output);
    let head: Vec<&str> = text.lines().take(7).collect();
    assert_eq!(head[3], "skipped (3):", "{text}");
    assert!(
        head[4].contains("item 35 of the List: the Deployment has no metadata.name"),
        "{text}"
    );
    assert!(
        head[5].contains("item 36 of the List: not a Kubernetes object (no apiVersion or kind)"),
        "{text}"
    );
    assert!(
        head[6].contains("Pod \"odd\" in namespace \"prod\" is not in the exposure: spec.containers[0].resources.limits.memory: `plenty` is not a quantity"),
        "{text}"
    );
    // The rest is reported, the odd Pod decided all the same.
    assert!(text.contains("Deployment/tools"), "{text}");
    assert!(text.contains("Pod/odd"), "{text}");
    assert!(common::text(&output.stderr).contains("skipped: "));

    // Not Kubernetes objects at all: an empty report that says why.
    let path = scratch.write(
        "words.txt",
        "these are not the objects you are looking for\n",
    );
    let output = report(&[
        "--settings",
        SETTINGS,
        "--cluster-state",
        path.to_str().unwrap(),
        "-f",
        "json",
    ]);
    assert_eq!(status(&output), 3);
    let doc = json_report(&output);
    assert_eq!(
        doc["skipped"][0],
        "document 1: not a Kubernetes object (a JSON scalar)"
    );
    assert_eq!(doc["audit"]["summary"]["objects"], 0);
}

#[test]
fn unusable_settings_or_input_write_no_report_and_exit_2() {
    let missing = report(&[
        "--settings",
        SETTINGS,
        "--cluster-state",
        "no-such-dump.json",
    ]);
    assert_eq!(status(&missing), 2);
    assert!(stdout(&missing).is_empty());
    assert!(
        common::text(&missing.stderr).contains("cannot read the cluster state no-such-dump.json")
    );
    let scratch = common::Scratch::new("report-settings");
    let bad = scratch.write("bad.yaml", "rules: [{name: dev, maxPriority: high}]\n");
    let output = report(&["--settings", bad.to_str().unwrap(), "--cluster-state", DUMP]);
    assert_eq!(status(&output), 2);
    assert!(common::text(&output.stderr).contains("rules[0].maxPriority"));
    let output = report(&[
        "--settings",
        SETTINGS,
        "--baseline",
        bad.to_str().unwrap(),
        "--cluster-state",
        DUMP,
    ]);
    assert_eq!(status(&output), 2);
}

#[test]
fn the_order_of_the_dump_does_not_change_the_report() {
    let text = std::fs::read_to_string(fixtures().join(DUMP)).unwrap();
    let mut dump: Value = serde_json::from_str(&text).unwrap();
    dump["items"].as_array_mut().unwrap().reverse();
    let scratch = common::Scratch::new("report-order");
    // The reversed items as several documents of a YAML stream.
    let yaml: String = dump["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| format!("---\n{}", serde_yaml_ng::to_string(item).unwrap()))
        .collect();
    let path = scratch.write("reversed.yaml", yaml);
    let out = scratch.path("out.json");
    let output = report(&[
        "--settings",
        SETTINGS,
        "--cluster-state",
        path.to_str().unwrap(),
        "-f",
        "json",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(status(&output), 1);
    assert!(
        stdout(&output).is_empty(),
        "-o writes the file, not standard output"
    );
    let mut reversed: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    let mut original = json_report(&report(&[
        "--settings",
        SETTINGS,
        "--cluster-state",
        DUMP,
        "-f",
        "json",
    ]));
    reversed["source"] = Value::Null;
    original["source"] = Value::Null;
    assert_eq!(reversed, original);
}

#[test]
fn custom_workload_kinds_of_the_settings_are_decided_with_what_they_own() {
    let scratch = common::Scratch::new("report-custom");
    let dump = json!({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
         "metadata": {"name": "shop", "namespace": "dev", "uid": "r1"},
         "spec": {"template": {"spec": {"priorityClassName": "prod-pc", "containers": []}}}},
        {"apiVersion": "apps/v1", "kind": "ReplicaSet",
         "metadata": {"name": "shop-1", "namespace": "dev", "uid": "rs1",
                      "ownerReferences": [{"kind": "Rollout", "name": "shop", "uid": "r1", "controller": true}]},
         "spec": {"template": {"spec": {"priorityClassName": "prod-pc", "containers": []}}}},
        {"apiVersion": "v1", "kind": "Pod",
         "metadata": {"name": "shop-1-a", "namespace": "dev",
                      "ownerReferences": [{"kind": "ReplicaSet", "name": "shop-1", "uid": "rs1", "controller": true}]},
         "spec": {"priorityClassName": "prod-pc", "priority": 1000000, "containers": []}},
        {"apiVersion": "batch.volcano.sh/v1alpha1", "kind": "Job", "metadata": {"name": "train", "namespace": "prod"},
         "spec": {"tasks": [{"template": {"spec": {"containers": []}}}]}}
    ]});
    let path = scratch.write("dump.json", dump.to_string());
    let settings = common::root().join("fixtures/custom-workloads/settings.yaml");
    let output = report(&[
        "--settings",
        settings.to_str().unwrap(),
        "--cluster-state",
        path.to_str().unwrap(),
        "-f",
        "json",
    ]);
    let doc = json_report(&output);
    let objects: Vec<(String, String, Value)> = doc["audit"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                format!(
                    "{} {}",
                    o["apiVersion"].as_str().unwrap(),
                    o["kind"].as_str().unwrap()
                ),
                o["verdict"].as_str().unwrap().to_owned(),
                o["owns"].clone(),
            )
        })
        .collect();
    assert_eq!(
        objects,
        [
            (
                "argoproj.io/v1alpha1 Rollout".to_owned(),
                "denied".to_owned(),
                json!({"Pod": 1, "ReplicaSet": 1})
            ),
            (
                "batch.volcano.sh/v1alpha1 Job".to_owned(),
                "defaulted".to_owned(),
                Value::Null
            ),
        ]
    );
}
