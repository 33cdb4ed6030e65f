//! Runs `priority-guard check` on the manifests in `tests/check-fixtures/` with the README's prod/preprod/dev
//! settings: golden output per format, exit statuses, malformed documents, standard input, directories, Lists,
//! namespace labels, and agreement with the policy's expected outcomes in `fixtures/*/expected.yaml`.
//!
//! Golden files are in `tests/check-fixtures/golden/`; `PRIORITY_GUARD_BLESS=1 cargo test
//! --workspace --test check` rewrites them from the current output (review the diff before committing).

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

/// The fixtures directory; commands run there so that reported file names are short and stable.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/check-fixtures")
}

/// The README's settings, relative to [`fixtures`].
const SETTINGS: &str = "../../../fixtures/prod-preprod-dev/settings.yaml";
const CLUSTER: &str = "../../../fixtures/prod-preprod-dev/cluster.yaml";

fn check_in(dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_priority-guard"))
        .arg("check")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run priority-guard");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn check(args: &[&str]) -> Output {
    check_in(&fixtures(), args, None)
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn status(output: &Output) -> i32 {
    output.status.code().expect("exited")
}

fn json_results(output: &Output) -> Vec<Value> {
    let doc: Value = serde_json::from_str(&stdout(output)).expect("JSON output");
    assert_eq!(doc["version"], 1);
    doc["results"].as_array().unwrap().clone()
}

/// Compares `actual` with the golden file `name`, or rewrites it under `PRIORITY_GUARD_BLESS=1`.
fn assert_golden(name: &str, actual: &str) {
    common::assert_golden(&fixtures().join("golden").join(name), actual);
}

#[test]
fn golden_output_for_every_format() {
    for (format, file) in [
        ("text", "manifests.txt"),
        ("json", "manifests.json"),
        ("sarif", "manifests.sarif"),
        ("github", "manifests.github.txt"),
    ] {
        let output = check(&["--settings", SETTINGS, "--format", format, "manifests"]);
        // broken.yaml holds malformed documents: status 2, yet every other document is reported.
        assert_eq!(status(&output), 2, "{format}: {}", stderr(&output));
        assert_golden(file, &stdout(&output));
    }
}

#[test]
fn json_and_sarif_are_well_formed() {
    let output = check(&["--settings", SETTINGS, "--format", "sarif", "manifests"]);
    let sarif: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let run = &sarif["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "priority-guard");
    let rules: Vec<&str> = run["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    for result in run["results"].as_array().unwrap() {
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(result["ruleId"], rules[index]);
        let location = &result["locations"][0]["physicalLocation"];
        let uri = location["artifactLocation"]["uri"].as_str().unwrap();
        assert!(
            uri.starts_with("manifests/") && !uri.contains('\\'),
            "{uri}"
        );
        assert!(location["region"]["startLine"].as_u64().unwrap() >= 1);
    }

    let output = check(&["--settings", SETTINGS, "--format", "json", "manifests"]);
    let doc: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let results = doc["results"].as_array().unwrap();
    assert_eq!(doc["summary"]["documents"], results.len());
    let denied = results.iter().filter(|r| r["verdict"] == "denied").count();
    assert_eq!(doc["summary"]["denied"], denied);
}

#[test]
fn exit_status_is_0_when_allowed_1_when_denied_2_when_unusable() {
    let output = check(&["--settings", SETTINGS, "exit/allowed.yaml"]);
    assert_eq!(status(&output), 0, "{}", stdout(&output));
    assert!(
        stdout(&output).contains(": defaulted: "),
        "{}",
        stdout(&output)
    );

    let output = check(&[
        "--settings",
        SETTINGS,
        "exit/allowed.yaml",
        "exit/denied.yaml",
    ]);
    assert_eq!(status(&output), 1, "{}", stdout(&output));

    let output = check(&[
        "--settings",
        SETTINGS,
        "exit/denied.yaml",
        "manifests/broken.yaml",
    ]);
    assert_eq!(
        status(&output),
        2,
        "a malformed document wins over a denial"
    );
}

#[test]
fn unusable_settings_and_arguments_exit_2_naming_the_problem() {
    let scratch = std::env::temp_dir().join(format!("priority-guard-check-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let bad = scratch.join("bad-settings.yaml");
    std::fs::write(
        &bad,
        "rules:\n  - name: production\n    namespaces: [prod]\n    allowedPriorityClasses: [prod-pc]\n    \
         defaultPriorityClass: dev-pc\n",
    )
    .unwrap();
    let output = check(&["--settings", bad.to_str().unwrap(), "exit/allowed.yaml"]);
    assert_eq!(status(&output), 2);
    assert!(
        stderr(&output).contains("rules[0].defaultPriorityClass"),
        "{}",
        stderr(&output)
    );
    assert!(output.stdout.is_empty());

    let missing = scratch.join("missing.yaml");
    let output = check(&["--settings", missing.to_str().unwrap(), "exit/allowed.yaml"]);
    assert_eq!(status(&output), 2);
    assert!(
        stderr(&output).contains("missing.yaml"),
        "{}",
        stderr(&output)
    );

    let output = check(&[
        "--settings",
        SETTINGS,
        "--namespace-labels",
        "env",
        "exit/allowed.yaml",
    ]);
    assert_eq!(status(&output), 2);
    assert!(
        stderr(&output).contains("--namespace-labels"),
        "{}",
        stderr(&output)
    );

    // clap's usage errors: no path, unknown format.
    assert_eq!(status(&check(&["--settings", SETTINGS])), 2);
    assert_eq!(
        status(&check(&["--settings", SETTINGS, "--format", "xml", "exit"])),
        2
    );
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn a_missing_path_is_reported_and_the_others_are_still_checked() {
    let output = check(&[
        "--settings",
        SETTINGS,
        "no-such-file.yaml",
        "exit/denied.yaml",
    ]);
    assert_eq!(status(&output), 2);
    let out = stdout(&output);
    assert!(
        out.contains("no-such-file.yaml:1: malformed: cannot read"),
        "{out}"
    );
    assert!(out.contains("exit/denied.yaml:2: Pod \"tool\""), "{out}");
}

#[test]
fn a_malformed_document_is_reported_at_its_line_and_the_next_ones_are_checked() {
    let output = check(&[
        "--settings",
        SETTINGS,
        "--format",
        "json",
        "manifests/broken.yaml",
    ]);
    assert_eq!(status(&output), 2);
    let results = json_results(&output);
    let summary: Vec<(u64, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["verdict"].as_str().unwrap(),
                r["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    // The second document's flow sequence is never closed: the error is reported on its last line, and the
    // third and fourth documents are still read.
    assert_eq!(
        summary,
        [
            (1, "allowed", "first"),
            (16, "malformed", ""),
            (18, "denied", "third"),
            (27, "malformed", "")
        ]
    );
    assert_eq!(results[3]["message"], "the object has no apiVersion");
}

#[test]
fn standard_input_is_read_like_a_file() {
    let text = std::fs::read_to_string(fixtures().join("manifests/helm-output.yaml")).unwrap();
    let from_file = check(&["--settings", SETTINGS, "manifests/helm-output.yaml"]);
    let from_stdin = check_in(
        &fixtures(),
        &[
            "--settings",
            SETTINGS,
            "--stdin-name",
            "manifests/helm-output.yaml",
            "-",
        ],
        Some(&text),
    );
    assert_eq!(status(&from_stdin), status(&from_file));
    assert_eq!(stdout(&from_stdin), stdout(&from_file));

    let unnamed = check_in(&fixtures(), &["--settings", SETTINGS, "-"], Some(&text));
    assert!(
        stdout(&unnamed).starts_with("<stdin>:13: Deployment \"web\""),
        "{}",
        stdout(&unnamed)
    );

    // JSON on standard input is recognised by its first character.
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "prod"},
        "spec": {"priorityClassName": "dev-pc"}});
    let output = check_in(
        &fixtures(),
        &["--settings", SETTINGS, "-"],
        Some(&format!("\n\n{pod}")),
    );
    assert_eq!(status(&output), 1);
    assert!(
        stdout(&output).starts_with("<stdin>:3: Pod \"p\""),
        "{}",
        stdout(&output)
    );
}

#[test]
fn directories_are_searched_recursively_for_manifest_files_only() {
    let output = check(&["--settings", SETTINGS, "--format", "json", "manifests"]);
    let results = json_results(&output);
    let mut files: Vec<&str> = results
        .iter()
        .map(|r| r["file"].as_str().unwrap())
        .collect();
    files.dedup();
    assert_eq!(
        files,
        [
            "manifests/broken.yaml",
            "manifests/ci-config.yml",
            "manifests/helm-output.yaml",
            "manifests/list.json",
            "manifests/namespaces.yaml",
            "manifests/nested/kustomize.yml",
        ],
        "sorted; README.md, notes.txt and .hidden/ are skipped"
    );
}

#[test]
fn output_does_not_depend_on_argument_order() {
    let forward = check(&[
        "--settings",
        SETTINGS,
        "manifests/namespaces.yaml",
        "manifests/helm-output.yaml",
        "exit",
    ]);
    let backward = check(&[
        "--settings",
        SETTINGS,
        "exit",
        "manifests/helm-output.yaml",
        "manifests/namespaces.yaml",
        "exit/denied.yaml",
    ]);
    assert_eq!(stdout(&forward), stdout(&backward));
}

#[test]
fn list_items_are_checked_one_by_one_at_the_line_of_the_list() {
    let output = check(&[
        "--settings",
        SETTINGS,
        "--format",
        "json",
        "manifests/list.json",
    ]);
    let results = json_results(&output);
    let items: Vec<(u64, &str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        items,
        [
            (1, "Pod", "allowed"),
            (1, "Job", "denied"),
            (1, "ConfigMap", "not-checked")
        ]
    );
    assert_eq!(results[1]["ruleId"], "priority-class-not-allowed");

    // Text lists kinds that are not checked only with --verbose.
    let quiet = stdout(&check(&["--settings", SETTINGS, "manifests/list.json"]));
    let verbose = stdout(&check(&[
        "--settings",
        SETTINGS,
        "-v",
        "manifests/list.json",
    ]));
    let line = "manifests/list.json:1: ConfigMap \"settings\" in namespace \"prod\": not checked: \
                v1 ConfigMap is not a kind the policy checks";
    assert!(!quiet.contains(line), "{quiet}");
    assert!(verbose.contains(line), "{verbose}");
}

/// The verdict of the preprod-pc Deployment in `exit/preprod-no-namespace.yaml` under extra arguments.
fn preprod_verdict(extra: &[&str]) -> (String, Option<String>) {
    let mut args = vec!["--settings", SETTINGS, "--format", "json"];
    args.extend_from_slice(extra);
    let output = check(&args);
    let results = json_results(&output);
    let deployment = results
        .iter()
        .find(|r| r["file"] == "exit/preprod-no-namespace.yaml")
        .unwrap();
    (
        deployment["verdict"].as_str().unwrap().to_owned(),
        deployment["rule"].as_str().map(str::to_owned),
    )
}

#[test]
fn namespace_labels_come_from_the_input_the_flag_or_the_cluster_state() {
    let allowed = ("allowed".to_owned(), Some("preproduction".to_owned()));
    let denied = ("denied".to_owned(), Some("fallback".to_owned()));
    let target = "exit/preprod-no-namespace.yaml";
    // No labels known: the fallback applies, and it denies preprod-pc.
    assert_eq!(preprod_verdict(&["-n", "shop-preprod", target]), denied);
    // A Namespace object in the input; files are read sorted, so it comes after the Deployment, whose
    // decision is taken again once every Namespace is known.
    assert_eq!(
        preprod_verdict(&["-n", "shop-preprod", "manifests/namespaces.yaml", target]),
        allowed
    );
    // --namespace-labels for the --namespace namespace.
    assert_eq!(
        preprod_verdict(&[
            "-n",
            "shop-preprod",
            "--namespace-labels",
            "env=preprod",
            target
        ]),
        allowed
    );
    // --cluster-state, in the format of `run`.
    assert_eq!(
        preprod_verdict(&["-n", "shop-preprod", "--cluster-state", CLUSTER, target]),
        allowed
    );
    // The input wins over the flag.
    assert_eq!(
        preprod_verdict(&[
            "-n",
            "shop-preprod",
            "--namespace-labels",
            "env=dev",
            "manifests/namespaces.yaml",
            target
        ]),
        allowed
    );
    // Without --namespace the object lands in "default", which has no env label.
    assert_eq!(
        preprod_verdict(&[
            "--namespace-labels",
            "env=dev",
            "--cluster-state",
            CLUSTER,
            target
        ]),
        denied
    );
}

/// Every CREATE request of the shared fixtures, checked as a manifest, gets the outcome the policy must give
/// (`fixtures/*/expected.yaml`): the check is the policy's decision, not a second implementation.
#[test]
fn manifests_get_the_outcomes_the_policy_gives_their_create_requests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures");
    let mut compared = 0;
    for set in ["prod-preprod-dev", "required", "templates", "rollout"] {
        let dir = root.join(set);
        let expected: BTreeMap<String, Value> =
            serde_yaml_ng::from_str(&std::fs::read_to_string(dir.join("expected.yaml")).unwrap())
                .unwrap();
        let mut names: Vec<PathBuf> = std::fs::read_dir(dir.join("requests"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        let mut stream = String::new();
        let mut cases = Vec::new();
        for path in names {
            let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let review: Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let request = review.get("request").unwrap_or(&review);
            let create = request["operation"] == "CREATE"
                && request["subResource"].as_str().unwrap_or("").is_empty();
            let want = &expected[&stem];
            // Lookup failures depend on the policy's host; the check knows no unreachable namespace, and
            // checks workloads, not PriorityClass objects.
            if !create || want.get("error").is_some() || request["kind"]["kind"] == "PriorityClass"
            {
                continue;
            }
            let mut object = request["object"].clone();
            object["metadata"]["namespace"] = request["namespace"].clone();
            stream.push_str(&object.to_string());
            stream.push('\n');
            cases.push((stem, want.clone()));
        }
        let output = check_in(
            &dir,
            &[
                "--settings",
                "settings.yaml",
                "--cluster-state",
                "cluster.yaml",
                "--format",
                "json",
                "-",
            ],
            Some(&stream),
        );
        let results = json_results(&output);
        assert_eq!(results.len(), cases.len(), "{set}: {}", stderr(&output));
        for ((stem, want), got) in cases.iter().zip(&results) {
            let outcome = stem.rsplit('_').next().unwrap();
            let verdict = got["verdict"].as_str().unwrap();
            match outcome {
                "accept" => assert!(
                    verdict == "allowed"
                        || verdict == "not-checked"
                        || (verdict == "defaulted" && got["default"]["appliesTo"] == "pods"),
                    "{stem}: {got}"
                ),
                "mutate" => {
                    assert_eq!(verdict, "defaulted", "{stem}: {got}");
                    assert_eq!(got["patch"], want["patch"], "{stem}");
                    assert_eq!(got["default"]["class"], want["class"], "{stem}");
                }
                "reject" => assert_eq!(verdict, "denied", "{stem}: {got}"),
                "warn" | "audit" => {
                    assert_eq!(verdict, "warned", "{stem}: {got}");
                    assert_eq!(
                        got["action"].as_str().map(str::to_lowercase).as_deref(),
                        Some(outcome),
                        "{stem}: {got}"
                    );
                }
                other => panic!("{stem}: unknown outcome {other}"),
            }
            if let Some(rule) = want.get("rule") {
                assert_eq!(&got["rule"], rule, "{stem}: {got}");
            }
            compared += 1;
        }
    }
    assert!(compared >= 20, "only {compared} fixtures compared");
}

#[test]
fn custom_workload_kinds_of_the_settings_are_checked() {
    let manifests = r#"apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web, namespace: prod}
spec:
  template:
    spec: {priorityClassName: prod-pc, containers: [{name: app, image: app:1}]}
---
apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {name: train, namespace: prod}
spec:
  tasks:
    - name: master
      template: {spec: {priorityClassName: prod-pc, containers: [{name: app, image: app:1}]}}
    - name: worker
      template: {spec: {priorityClassName: dev-pc, containers: [{name: app, image: app:1}]}}
---
apiVersion: example.com/v1
kind: Rollout
metadata: {name: other, namespace: prod}
spec:
  template:
    spec: {priorityClassName: dev-pc}
"#;
    let output = check_in(
        &fixtures(),
        &[
            "--settings",
            "../../../fixtures/custom-workloads/settings.yaml",
            "--format",
            "json",
            "-",
        ],
        Some(manifests),
    );
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    let results = json_results(&output);
    let verdicts: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["apiVersion"].as_str().unwrap(),
                r["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("argoproj.io/v1alpha1", "allowed"),
            ("batch.volcano.sh/v1alpha1", "denied"),
            // Not declared in the settings: not checked, as the policy does.
            ("example.com/v1", "not-checked"),
        ]
    );
    assert_eq!(
        results[1]["message"],
        r#"Job "train" in namespace "prod" uses PriorityClass "dev-pc" at $.spec.tasks[1].template.spec, which rule "production" does not allow (allowed: prod-batch-pc, prod-pc)"#
    );
}

/// Rules with `maxPriority` read the classes a workload names from `--cluster-state`, and fail closed without it.
#[test]
fn cluster_aware_rules_read_priority_classes_from_the_cluster_state() {
    const MANIFESTS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: team-dev}
spec:
  template:
    spec:
      priorityClassName: big
      containers: [{name: app, image: app:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: typo, namespace: team-dev}
spec:
  template:
    spec:
      priorityClassName: dev-pcc
      containers: [{name: app, image: app:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: ok, namespace: team-dev}
spec:
  template:
    spec:
      priorityClassName: dev-pc
      containers: [{name: app, image: app:1}]
";
    let settings = "../../../fixtures/cluster-aware/settings.yaml";
    let cluster = "../../../fixtures/cluster-aware/cluster.yaml";
    let run = |extra: &[&str]| {
        let mut args = vec!["--settings", settings, "--format", "json"];
        args.extend_from_slice(extra);
        args.push("-");
        check_in(&fixtures(), &args, Some(MANIFESTS))
    };
    let with_cluster = run(&["--cluster-state", cluster]);
    assert_eq!(status(&with_cluster), 1, "{}", stderr(&with_cluster));
    let verdicts: Vec<(String, String)> = json_results(&with_cluster)
        .iter()
        .map(|r| {
            (
                r["verdict"].as_str().unwrap().to_owned(),
                r["ruleId"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        verdicts,
        [
            ("denied".into(), "priority-class-values-not-allowed".into()),
            ("denied".into(), "priority-class-values-not-allowed".into()),
            ("allowed".into(), String::new()),
        ]
    );
    let results = json_results(&with_cluster);
    assert!(
        results[1]["message"]
            .as_str()
            .unwrap()
            .contains(r#"PriorityClass "dev-pcc" does not exist"#),
        "{results:?}"
    );
    // Without a cluster state the namespace's labels are unknown too: give them with a flag.
    let without = run(&["--namespace", "team-dev", "--namespace-labels", "env=dev"]);
    let ids: Vec<String> = json_results(&without)
        .iter()
        .map(|r| r["ruleId"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(
        ids,
        [
            "priority-class-unreadable",
            "priority-class-unreadable",
            "priority-class-unreadable"
        ]
    );
}

/// `minPriority` is checked by `check` as by the policy: the class a workload names, read from `--cluster-state`,
/// below the rule's floor is refused with the policy's message.
#[test]
fn min_priority_refuses_a_class_below_the_floor() {
    const MANIFESTS: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: low, namespace: prod}
spec:
  template:
    spec:
      priorityClassName: dev-pc
      containers: [{name: app, image: app:1}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: high, namespace: prod}
spec:
  template:
    spec:
      priorityClassName: prod-pc
      containers: [{name: app, image: app:1}]
";
    let dir = std::env::temp_dir().join(format!("pg-check-min-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let settings = dir.join("settings.yaml");
    std::fs::write(
        &settings,
        "rules:\n  - name: production\n    namespaces: [prod]\n    minPriority: 1000\n",
    )
    .unwrap();
    let output = check_in(
        &fixtures(),
        &[
            "--settings",
            settings.to_str().unwrap(),
            "--cluster-state",
            "../../../fixtures/cluster-aware/cluster.yaml",
            "--format",
            "json",
            "-",
        ],
        Some(MANIFESTS),
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    let results = json_results(&output);
    assert_eq!(results[0]["verdict"], "denied");
    assert_eq!(results[0]["ruleId"], "priority-class-values-not-allowed");
    assert_eq!(
        results[0]["message"],
        r#"Deployment "low" in namespace "prod" has priority 100 (from PriorityClass "dev-pc"), below the minimum 1000 of rule "production": use a PriorityClass whose value is at least 1000"#
    );
    assert_eq!(results[1]["verdict"], "allowed");
}

/// A rule whose action is Warn or Audit reports its refusals as warnings: the check passes unless
/// `--fail-on-warnings`, SARIF gives them level `warning`, GitHub Actions `::warning`.
#[test]
fn warn_and_audit_rules_report_warnings_that_fail_only_when_asked() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/rollout");
    let manifests = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: batch}\n\
                     spec: {priorityClassName: dev-pc, containers: []}\n---\n\
                     apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: dev}\n\
                     spec: {priorityClassName: prod-pc, containers: []}\n";
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--settings",
            "settings.yaml",
            "--cluster-state",
            "cluster.yaml",
        ];
        args.extend_from_slice(extra);
        args.push("-");
        check_in(&dir, &args, Some(manifests))
    };
    let text = run(&[]);
    assert_eq!(status(&text), 0, "{}{}", stdout(&text), stderr(&text));
    assert!(
        stdout(&text).contains("2 checked: 0 allowed, 0 defaulted, 0 denied, 2 warned;"),
        "{}",
        stdout(&text)
    );
    let strict = run(&["--fail-on-warnings"]);
    assert_eq!(status(&strict), 1, "{}", stdout(&strict));

    let json = json_results(&run(&["--format", "json"]));
    let verdicts: Vec<(&str, &str)> = json
        .iter()
        .map(|r| {
            (
                r["verdict"].as_str().unwrap(),
                r["action"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(verdicts, [("warned", "Warn"), ("warned", "Audit")]);

    let sarif: Value = serde_json::from_str(&stdout(&run(&["--format", "sarif"]))).unwrap();
    let levels: Vec<&str> = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["warning", "warning"]);

    let github = stdout(&run(&["--format", "github"]));
    let commands: Vec<&str> = github
        .lines()
        .filter_map(|l| l.strip_prefix("::")?.split(' ').next())
        .collect();
    assert_eq!(commands, ["warning", "warning"], "{github}");
}
