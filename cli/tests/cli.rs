//! Runs the `priority-guard` binary: argument and file errors, and `run`/`annotate` end to end on
//! the host's tiny test guest (`host/tests/guest.wat`). The real policy is exercised by e2e-tests.

#![allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::Scratch;
use serde_json::{Value, json};

/// What the `run` tests write besides the guest.
impl Scratch {
    /// A bare AdmissionRequest for a Pod.
    fn request(&self) -> PathBuf {
        self.write(
            "request.json",
            json!({
                "uid": "1299d386-525b-4032-98ae-1949f69f9cfc",
                "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "operation": "CREATE",
                "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "original"}},
            })
            .to_string(),
        )
    }
}

fn priority_guard(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_priority-guard"))
        .args(args.iter().map(|a| a.as_ref()))
        .env_remove("PRIORITY_GUARD_POLICY_LOG")
        .output()
        .expect("run priority-guard")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn assert_fails_naming(output: &Output, path: &Path, what: &str) {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{err}");
    assert!(output.stdout.is_empty(), "nothing on stdout on error");
    assert!(
        err.contains(&path.display().to_string()),
        "names {}: {err}",
        path.display()
    );
    assert!(err.contains(what), "mentions {what}: {err}");
}

fn response_line(output: &Output) -> Value {
    assert!(output.status.success(), "{}", stderr(output));
    let stdout = String::from_utf8(output.stdout.clone()).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "one line: {stdout}");
    serde_json::from_str(&stdout).expect("JSON response")
}

#[test]
fn run_names_missing_files() {
    let scratch = Scratch::new("missing");
    let guest = scratch.guest();
    let request = scratch.request();
    let missing = scratch.path("missing.yaml");

    let output = priority_guard(&[&"run", &"--request-path", &missing, &guest]);
    assert_fails_naming(&output, &missing, "request file");

    let output = priority_guard(&[&"run", &"--request-path", &request, &missing]);
    assert_fails_naming(&output, &missing, "policy");

    let output = priority_guard(&[
        &"run",
        &"-r",
        &request,
        &"--settings-path",
        &missing,
        &guest,
    ]);
    assert_fails_naming(&output, &missing, "settings file");

    let output = priority_guard(&[
        &"run",
        &"-r",
        &request,
        &"--cluster-state",
        &missing,
        &guest,
    ]);
    assert_fails_naming(&output, &missing, "cluster state");

    let output = priority_guard(&[&"run", &"-r", &request, &"--metadata", &missing, &guest]);
    assert_fails_naming(&output, &missing, "metadata file");
}

#[test]
fn run_argument_errors() {
    let scratch = Scratch::new("args");
    let guest = scratch.guest();
    let request = scratch.request();
    let settings = scratch.write("settings.yaml", "{}\n");

    // clap usage errors exit with 2
    let output = priority_guard(&[
        &"run",
        &"-r",
        &request,
        &"--settings-path",
        &settings,
        &"--settings-json",
        &"{}",
        &guest,
    ]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("cannot be used with"),
        "{}",
        stderr(&output)
    );
    let output = priority_guard(&[&"run", &guest]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--request-path"),
        "{}",
        stderr(&output)
    );

    let output = priority_guard(&[
        &"run",
        &"-r",
        &request,
        &"--settings-json",
        &"{nope",
        &guest,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("--settings-json"),
        "{}",
        stderr(&output)
    );

    // a Kubernetes object instead of a request
    let pod = scratch.write(
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\n",
    );
    let output = priority_guard(&[&"run", &"-r", &pod, &guest]);
    assert_fails_naming(&output, &pod, "got a Pod");

    // bytes that are not wasm
    let garbage = scratch.write("garbage.wasm", "not wasm");
    let output = priority_guard(&[&"run", &"-r", &request, &garbage]);
    assert_fails_naming(&output, &garbage, "invalid wasm module");
}

#[test]
fn run_prints_the_admission_response() {
    let scratch = Scratch::new("run");
    let guest = scratch.guest();
    let request = scratch.request();

    let output = priority_guard(&[&"run", &"--request-path", &request, &guest]);
    let response = response_line(&output);
    assert_eq!(response["uid"], "1299d386-525b-4032-98ae-1949f69f9cfc");
    assert_eq!(response["allowed"], true);
    assert_eq!(response["patchType"], "JSONPatch");
    assert_eq!(response["warnings"], json!(["from the test guest"]));
    assert_eq!(response["auditAnnotations"], Value::Null);
    assert!(response.get("status").is_none());

    // the same request wrapped in an AdmissionReview, in YAML, with YAML settings
    let review = scratch.write(
        "review.yaml",
        "apiVersion: admission.k8s.io/v1\nkind: AdmissionReview\nrequest:\n  uid: abc\n  \
         operation: CREATE\n  object: {kind: Pod, metadata: {name: original}}\n",
    );
    let settings = scratch.write("settings.yaml", "# no settings\n{}\n");
    let output = priority_guard(&[&"run", &"-r", &review, &"-s", &settings, &guest]);
    assert_eq!(response_line(&output)["uid"], "abc");

    // settings the policy refuses
    let output = priority_guard(&[
        &"run",
        &"-r",
        &request,
        &"--settings-json",
        &r#"{"a":1}"#,
        &guest,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("Provided settings are not valid: the test guest accepts only {}"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn run_takes_mutating_from_a_metadata_file() {
    let scratch = Scratch::new("metadata");
    let guest = scratch.guest();
    let request = scratch.request();
    let metadata = scratch.write(
        "metadata.yml",
        "rules: []\nmutating: false\ncontextAwareResources:\n- {apiVersion: v1, kind: Namespace}\n",
    );
    let output = priority_guard(&[&"run", &"-r", &request, &"--metadata", &metadata, &guest]);
    let response = response_line(&output);
    assert_eq!(response["allowed"], false);
    assert!(response.get("patch").is_none());
    assert_eq!(
        response["status"]["message"],
        "Request rejected by policy guest.wasm. The policy attempted to mutate the request, but \
         it is currently configured to not allow mutations."
    );
    // the listed resources are not granted without the flag, and the user is told
    assert!(
        stderr(&output).contains("--allow-context-aware-resources"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn annotate_then_run() {
    let scratch = Scratch::new("annotate");
    let guest = scratch.guest();
    let request = scratch.request();
    let metadata = scratch.write(
        "metadata.yml",
        "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\n\
         mutating: false\nannotations:\n  io.kubewarden.policy.title: test guest\n",
    );
    let readme = scratch.write("README.md", "# Test guest\n\nIt mutates.\n");
    let annotated = scratch.path("annotated.wasm");

    let output = priority_guard(&[
        &"annotate",
        &"-m",
        &metadata,
        &"-u",
        &readme,
        &"-o",
        &annotated,
        &guest,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let wasm = std::fs::read(&annotated).expect("annotated module");
    let section = priority_guard_host::read_custom_section(
        &wasm,
        priority_guard_host::KUBEWARDEN_METADATA_SECTION,
    )
    .expect("valid module")
    .expect("metadata section");
    let section: Value = serde_json::from_slice(&section).expect("JSON metadata");
    assert_eq!(section["protocolVersion"], "v1");
    assert_eq!(section["mutating"], false);
    assert_eq!(section["rules"][0]["resources"], json!(["pods"]));
    assert_eq!(
        section["annotations"]["io.kubewarden.policy.title"],
        "test guest"
    );
    assert_eq!(
        section["annotations"]["io.kubewarden.policy.usage"],
        "# Test guest\n\nIt mutates.\n"
    );

    // the annotated module carries mutating: false, so its mutation is refused
    let output = priority_guard(&[&"run", &"-r", &request, &annotated]);
    let response = response_line(&output);
    assert_eq!(response["allowed"], false);

    // a module carrying metadata without protocolVersion cannot run, but can be annotated again
    let stale = scratch.write(
        "stale.wasm",
        priority_guard_host::write_custom_section(
            &wasm,
            priority_guard_host::KUBEWARDEN_METADATA_SECTION,
            br#"{"rules":[],"mutating":true}"#,
        )
        .expect("valid module"),
    );
    let output = priority_guard(&[&"run", &"-r", &request, &stale]);
    assert_fails_naming(&output, &stale, "protocolVersion");

    // annotating again replaces the section
    let output = priority_guard(&[&"annotate", &"-m", &metadata, &"-o", &annotated, &stale]);
    assert!(output.status.success(), "{}", stderr(&output));
    let wasm = std::fs::read(&annotated).expect("annotated module");
    let names = priority_guard_host::custom_section_names(&wasm).expect("valid");
    let metadata_sections = names
        .iter()
        .filter(|name| *name == priority_guard_host::KUBEWARDEN_METADATA_SECTION)
        .count();
    assert_eq!(metadata_sections, 1, "{names:?}");
}

#[test]
fn annotate_errors() {
    let scratch = Scratch::new("annotate-errors");
    let guest = scratch.guest();
    let out = scratch.path("out.wasm");
    let missing = scratch.path("missing.yml");

    let output = priority_guard(&[&"annotate", &"-m", &missing, &"-o", &out, &guest]);
    assert_fails_naming(&output, &missing, "metadata file");

    let unknown = scratch.write(
        "unknown.yml",
        "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\n\
         mutate: true\n",
    );
    let output = priority_guard(&[&"annotate", &"-m", &unknown, &"-o", &out, &guest]);
    assert_fails_naming(&output, &unknown, "mutate");

    let no_rules = scratch.write("no-rules.yml", "mutating: true\n");
    let output = priority_guard(&[&"annotate", &"-m", &no_rules, &"-o", &out, &guest]);
    assert_fails_naming(&output, &no_rules, "rules");

    let fine = scratch.write(
        "fine.yml",
        "rules:\n- apiGroups: ['']\n  apiVersions: [v1]\n  resources: [pods]\n  operations: [CREATE]\n",
    );
    let output = priority_guard(&[
        &"annotate",
        &"-m",
        &fine,
        &"-u",
        &missing,
        &"-o",
        &out,
        &guest,
    ]);
    assert_fails_naming(&output, &missing, "usage file");

    let missing_wasm = scratch.path("missing.wasm");
    let output = priority_guard(&[&"annotate", &"-m", &fine, &"-o", &out, &missing_wasm]);
    assert_fails_naming(&output, &missing_wasm, "policy");
    assert!(!out.exists(), "nothing written on error");
}
