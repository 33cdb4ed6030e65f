//! What the tests on real engines share: one etcd and kube-apiserver per run of this test binary, the
//! `priority-guard` binary, kwctl, the annotated policy, and the fixture scenarios as cluster contents.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

use priority_guard_e2e_tests::envtest::{self, ControlPlane};
use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::common;

/// The control plane of this test run, started by the first test that needs it. A `static` is never dropped:
/// its processes are stopped by the watchdog of [`ControlPlane`] when the test process ends, pass or fail.
pub fn control_plane() -> &'static ControlPlane {
    static PLANE: OnceLock<ControlPlane> = OnceLock::new();
    PLANE.get_or_init(|| {
        let started = std::time::Instant::now();
        let plane = ControlPlane::start().unwrap_or_else(|e| panic!("{e:#}"));
        println!(
            "kube-apiserver ready at {} in {:.1} s",
            plane.url(),
            started.elapsed().as_secs_f64()
        );
        install_crds(&plane);
        plane
    })
}

/// The cluster's contents are shared: the tests that change them take turns.
pub fn exclusive() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The custom kinds of the fixtures and of the differential suite: an Argo Rollout, a Volcano Job and a made-up
/// PodSet, each a CRD that keeps any field, with a status subresource.
fn install_crds(plane: &ControlPlane) {
    for (group, version, kind, plural) in [
        ("argoproj.io", "v1alpha1", "Rollout", "rollouts"),
        ("batch.volcano.sh", "v1alpha1", "Job", "jobs"),
        ("example.com", "v1", "PodSet", "podsets"),
    ] {
        let crd = json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": format!("{plural}.{group}")},
            "spec": {
                "group": group,
                "scope": "Namespaced",
                "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(),
                          "listKind": format!("{kind}List")},
                "versions": [{"name": version, "served": true, "storage": true,
                              "subresources": {"status": {}},
                              "schema": {"openAPIV3Schema": {"type": "object",
                                          "x-kubernetes-preserve-unknown-fields": true}}}],
            },
        });
        plane
            .apply(&crd)
            .unwrap_or_else(|e| panic!("CRD {kind}: {e:#}"));
        let path = envtest::resource_path(group, version, plural, Some("default"), None);
        plane
            .poll(&format!("the CRD {kind} to be served"), || {
                Ok(plane.get(&path)?.ok().then_some(()))
            })
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
}

/// The `priority-guard` binary of this build (`PRIORITY_GUARD_CLI` to test another): it sits next to the test
/// binary's `deps/` folder once cargo built the cli package, which `cargo test --workspace` (`make test`) does.
pub fn cli() -> PathBuf {
    if let Some(path) = std::env::var_os("PRIORITY_GUARD_CLI") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let path = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("priority-guard"))
        .expect("target/<profile>/");
    assert!(
        path.is_file(),
        "{} not found: build it first (`cargo build -p priority-guard-cli`; `cargo test --workspace` builds it) or \
         set PRIORITY_GUARD_CLI",
        path.display()
    );
    path
}

/// Runs a command, with its output; panics when it cannot start.
pub fn output(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

/// The stdout of a command that must succeed.
pub fn stdout(command: &mut Command) -> String {
    let out = output(command);
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// A folder under `target/real-engines/` for files the tests write (the annotated policy, requests).
pub fn work_dir(name: &str) -> PathBuf {
    let dir = common::root().join("target/real-engines").join(name);
    std::fs::create_dir_all(&dir).expect("create the work folder");
    dir
}

/// policy.wasm annotated with metadata.yml (and the README as usage), as `make annotated-policy.wasm` does.
pub fn annotated_policy() -> &'static Path {
    static ANNOTATED: OnceLock<PathBuf> = OnceLock::new();
    ANNOTATED.get_or_init(|| {
        let dir = work_dir("policy");
        let out = dir.join("annotated-policy.wasm");
        let partial = dir.join(format!("annotated-policy.wasm.{}", std::process::id()));
        let root = common::root();
        stdout(
            Command::new(cli())
                .arg("annotate")
                .arg("-m")
                .arg(root.join("metadata.yml"))
                .arg("-u")
                .arg(root.join("README.md"))
                .arg("-o")
                .arg(&partial)
                .arg(env!("POLICY_WASM")),
        );
        std::fs::rename(&partial, &out).expect("move the annotated policy into place");
        out
    })
}

/// The generated admission policies for `settings`, as `priority-guard vap` prints them, one object each.
pub fn generated_policies(settings: &Path, version: &str, name: &str) -> Vec<Value> {
    let yaml = stdout(
        Command::new(cli())
            .arg("vap")
            .arg("--settings")
            .arg(settings)
            .args(["--kubernetes-version", version, "--name", name]),
    );
    serde_yaml_ng::Deserializer::from_str(&yaml)
        .map(|doc| Value::deserialize(doc).expect("priority-guard vap prints YAML"))
        .filter(|doc| !doc.is_null())
        .collect()
}

/// A fixture scenario as the contents of a cluster.
pub struct Scenario {
    /// The folder's name.
    pub name: String,
    /// settings.yaml.
    pub settings_path: PathBuf,
    /// settings.yaml as JSON.
    pub settings: Value,
    /// The Namespaces of cluster.yaml.
    pub namespaces: Vec<Value>,
    /// The PriorityClasses of cluster.yaml, and those that its Pods name without cluster.yaml listing them
    /// (it is trimmed): a Pod can be created only with a class that exists. Their value and preemptionPolicy
    /// are the ones the fixture Pod was resolved with.
    pub classes: Vec<Value>,
    /// The requests by file stem, with their files.
    pub requests: Vec<(String, PathBuf, Value)>,
}

/// Every scenario of fixtures/.
pub fn scenarios() -> Vec<Scenario> {
    common::scenarios()
        .iter()
        .map(|dir| scenario(dir))
        .collect()
}

fn scenario(dir: &Path) -> Scenario {
    let cluster = std::fs::read_to_string(dir.join("cluster.yaml")).expect("cluster.yaml");
    let mut namespaces = Vec::new();
    let mut classes: BTreeMap<String, Value> = BTreeMap::new();
    for item in common::cluster_objects(&cluster) {
        let name = item["metadata"]["name"].as_str().unwrap_or("").to_owned();
        match item["kind"].as_str() {
            Some("Namespace") => namespaces.push(item),
            Some("PriorityClass") => {
                classes.insert(name, item);
            }
            _ => {}
        }
    }
    let mut requests: Vec<_> = std::fs::read_dir(dir.join("requests"))
        .expect("requests/")
        .map(|e| e.expect("entry").path())
        .collect();
    requests.sort();
    let requests: Vec<(String, PathBuf, Value)> = requests
        .into_iter()
        .map(|path| {
            let review = common::yaml(&path);
            let request = review.get("request").cloned().unwrap_or(review);
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .expect("a UTF-8 name")
                .to_owned();
            (stem, path, request)
        })
        .collect();
    for (_, _, request) in &requests {
        for object in [&request["object"], &request["oldObject"]] {
            let spec = &object["spec"];
            let Some(class) = spec["priorityClassName"].as_str() else {
                continue;
            };
            if object["kind"] != "Pod" || class.is_empty() || class.starts_with("system-") {
                continue;
            }
            classes.entry(class.to_owned()).or_insert_with(|| {
                json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                       "metadata": {"name": class}, "value": spec["priority"].as_i64().unwrap_or(0),
                       "preemptionPolicy": spec["preemptionPolicy"].as_str().unwrap_or("PreemptLowerPriority"),
                       "description": "named by a fixture Pod"})
            });
        }
    }
    Scenario {
        name: dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("a UTF-8 name")
            .to_owned(),
        settings_path: dir.join("settings.yaml"),
        settings: common::yaml(&dir.join("settings.yaml")),
        namespaces,
        classes: classes.into_values().collect(),
        requests,
    }
}
