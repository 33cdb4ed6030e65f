//! The real Kubewarden evaluator: kwctl 1.31.0 (`../shared/kwctl`, with policy-evaluator 0.30.4, the evaluator
//! of policy-server) reads the annotated policy's metadata, decides every fixture request with its lookups
//! answered by the test kube-apiserver as `priority-guard run --cluster-state` does with a dump of the same
//! cluster, and runs the policy after `priority-guard push` to a local registry and `kwctl pull`.

use std::collections::BTreeMap;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use priority_guard_e2e_tests::envtest;
use priority_guard_host::{AdmissionResponse, ClusterState};
use serde_json::Value;

use crate::{common, engines};

/// A temporary directory, removed on drop: kwctl's home, store and configuration.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "priority-guard-kwctl-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the scratch folder");
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// kwctl with its home, XDG folders and store in `home`, one-line errors, and `kubeconfig` if given.
fn kwctl(home: &Path, kubeconfig: Option<&Path>) -> Command {
    let binary = envtest::kwctl().unwrap_or_else(|e| panic!("{e:#}"));
    let mut command = Command::new(binary);
    command
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("RUST_BACKTRACE", "0")
        .env_remove("KUBECONFIG");
    if let Some(kubeconfig) = kubeconfig {
        command.env("KUBECONFIG", kubeconfig);
    }
    command
}

/// The AdmissionResponse a command printed.
fn response(command: &mut Command) -> Value {
    let out = engines::stdout(command);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{command:?} printed {out:?}: {e}"))
}

#[test]
fn kwctl_inspect_reads_the_annotated_metadata() {
    let home = Scratch::new("inspect");
    let yaml = engines::stdout(
        kwctl(&home.0, None)
            .args(["inspect", "--output", "yaml"])
            .arg(engines::annotated_policy()),
    );
    let inspected: Value = serde_yaml_ng::from_str(&yaml).expect("kwctl inspect prints YAML");
    let metadata = common::yaml(&common::root().join("metadata.yml"));
    assert_eq!(inspected["protocolVersion"], "v1", "{yaml}");
    // A set for policy-evaluator, which lists it sorted.
    let sorted = |v: &Value| {
        let mut items: Vec<String> = v
            .as_array()
            .into_iter()
            .flatten()
            .map(Value::to_string)
            .collect();
        items.sort();
        items
    };
    assert_eq!(
        sorted(&inspected["contextAwareResources"]),
        sorted(&metadata["contextAwareResources"])
    );
    for field in [
        "rules",
        "mutating",
        "executionMode",
        "backgroundAudit",
        "policyType",
    ] {
        assert_eq!(inspected[field], metadata[field], "{field}");
    }
    let annotations = metadata["annotations"].as_object().expect("annotations");
    for (key, value) in annotations {
        assert_eq!(&inspected["annotations"][key], value, "annotation {key}");
    }
    // kwctl annotate adds the README as usage; priority-guard annotate does the same.
    let usage = inspected["annotations"]["io.kubewarden.policy.usage"]
        .as_str()
        .expect("usage");
    assert!(usage.starts_with("# priority-guard"), "{usage:.80}");
}

/// Each fixture scenario's cluster loaded into the apiserver; every request run by kwctl (lookups answered by
/// the apiserver) and by policy.wasm under the host crate as `priority-guard run --cluster-state` runs it
/// (lookups answered by a dump of that cluster). Returns the responses by `scenario/request`, kwctl's and
/// ours, and the dumps by scenario.
fn run_every_fixture(home: &Path) -> (BTreeMap<String, (Value, Value)>, BTreeMap<String, PathBuf>) {
    let plane = engines::control_plane();
    let policy = engines::annotated_policy();
    let mut responses = BTreeMap::new();
    let mut dumps = BTreeMap::new();
    for scenario in engines::scenarios() {
        plane
            .load_cluster(&scenario.namespaces, &scenario.classes)
            .unwrap_or_else(|e| panic!("{}: {e:#}", scenario.name));
        let state = home.join(format!("{}-cluster.json", scenario.name));
        let dump = plane.cluster_state().unwrap_or_else(|e| panic!("{e:#}"));
        std::fs::write(&state, dump.to_string()).expect("write the cluster state");
        let ours = common::instance(
            ClusterState::from_objects(dump["items"].as_array().cloned().unwrap_or_default())
                .expect("the cluster's objects"),
        );
        // kwctl spends most of a run waiting, not computing: several at a time.
        for batch in scenario.requests.chunks(6) {
            let runs: Vec<_> = batch
                .iter()
                .map(|(stem, path, _)| {
                    let mut kw = kwctl(home, Some(plane.kubeconfig()));
                    kw.arg("run")
                        .arg("--allow-context-aware")
                        .arg("--request-path")
                        .arg(path)
                        .arg("--settings-path")
                        .arg(&scenario.settings_path)
                        .arg(policy);
                    (stem, path, std::thread::spawn(move || response(&mut kw)))
                })
                .collect();
            for (stem, path, run) in runs {
                let review = common::yaml(path);
                let answer = ours
                    .validate_fail_closed(&review, &scenario.settings)
                    .expect("policy.wasm runs");
                let ours = AdmissionResponse::for_request(&review, &answer, true, "priority-guard")
                    .expect("a response");
                let ours = serde_json::to_value(&ours).expect("JSON");
                let kw = run.join().expect("a kwctl run");
                responses.insert(format!("{}/{stem}", scenario.name), (kw, ours));
            }
        }
        dumps.insert(scenario.name.clone(), state);
    }
    (responses, dumps)
}

#[test]
fn kwctl_run_against_the_apiserver_decides_every_fixture_as_priority_guard_run() {
    let _turn = engines::exclusive();
    let home = Scratch::new("run");
    let (responses, dumps) = run_every_fixture(&home.0);
    assert!(responses.len() >= 60, "{} fixtures", responses.len());
    let (mut allowed, mut denied, mut patched) = (0, 0, 0);
    let (mut warned, mut audited) = (0, 0);
    for (name, (kw, pg)) in &responses {
        assert_eq!(
            kw, pg,
            "{name}: kwctl and policy.wasm under our host disagree"
        );
        match (
            kw["allowed"].as_bool(),
            kw.get("patch").is_some_and(|p| !p.is_null()),
        ) {
            (Some(true), true) => patched += 1,
            (Some(true), false) => allowed += 1,
            _ => denied += 1,
        }
        // The outcome is the one the fixture's name says. A Warn or Audit rule's refusal is an allowed request
        // with the policy's message as kwctl's warning or `violation` audit annotation.
        let suffix = name.rsplit('_').next().unwrap_or("");
        let warning = kw["warnings"].as_array().and_then(|w| match w.as_slice() {
            [one] => one.as_str(),
            _ => None,
        });
        let violation = kw["auditAnnotations"]["violation"].as_str();
        let outcome = match (
            kw["allowed"].as_bool(),
            kw.get("patch").is_some_and(|p| !p.is_null()),
            warning,
            violation,
        ) {
            (Some(true), _, Some(message), None) if !message.is_empty() => "warn",
            (Some(true), _, None, Some(message)) if !message.is_empty() => "audit",
            (Some(true), true, None, None) => "mutate",
            (Some(true), false, None, None) => "accept",
            (Some(false), _, None, None) => "reject",
            _ => "unexpected",
        };
        assert_eq!(outcome, suffix, "{name}: {kw}");
        warned += usize::from(outcome == "warn");
        audited += usize::from(outcome == "audit");
    }
    assert!(
        warned > 0 && audited > 0,
        "kwctl showed {warned} warnings and {audited} audit annotations"
    );
    println!(
        "kwctl and policy.wasm under our host: {} fixtures alike ({allowed} allowed, {patched} patched, {denied} denied)",
        responses.len()
    );

    // A class that does not exist, named by a workload under a rule with maxPriority, or the default of a rule:
    // both hosts report it in policy-evaluator's words, which the policy must recognise (issue 18).
    for (fixture, class) in [
        (
            "cluster-aware/deployment_dev_missing_class_reject",
            "dev-pcc",
        ),
        (
            "cluster-aware/pod_batch_missing_default_reject",
            "batch-gone",
        ),
        (
            "cluster-aware/job_batch_missing_default_reject",
            "batch-gone",
        ),
    ] {
        let (scenario, stem) = fixture.split_once('/').expect("scenario/request");
        let dir = common::root().join("fixtures").join(scenario);
        let pg = response(
            Command::new(engines::cli())
                .arg("run")
                .arg("--allow-context-aware")
                .arg("--cluster-state")
                .arg(&dumps[scenario])
                .arg("--request-path")
                .arg(dir.join("requests").join(format!("{stem}.json")))
                .arg("--settings-path")
                .arg(dir.join("settings.yaml"))
                .arg(engines::annotated_policy()),
        );
        let (kw, _) = &responses[fixture];
        assert_eq!(kw, &pg, "{fixture}: kwctl and priority-guard run disagree");
        for (engine, response) in [("kwctl", kw), ("priority-guard run", &pg)] {
            let message = response["status"]["message"].as_str().unwrap_or("");
            assert!(
                message.contains(&format!("PriorityClass \"{class}\" does not exist")),
                "{fixture} under {engine}: {message}"
            );
        }
    }
}

/// Debian's registry (`apt-get install docker-registry`, as cli/tests/oci.rs), on a free loopback port, without
/// authentication; stopped on drop.
struct Registry {
    child: Child,
    address: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Registry {
    fn start(dir: &Path) -> Self {
        let binary = std::env::var_os("PRIORITY_GUARD_REGISTRY")
            .map_or_else(|| PathBuf::from("/usr/bin/docker-registry"), PathBuf::from);
        assert!(
            binary.is_file(),
            "{} not found: install Debian's registry (apt-get install docker-registry; .ci/run does) or point \
             PRIORITY_GUARD_REGISTRY at a Docker distribution `registry` binary",
            binary.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let address = format!("127.0.0.1:{port}");
        let config = dir.join("registry.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error, accesslog: {{disabled: true}}}}\n\
                 storage: {{filesystem: {{rootdirectory: '{}'}}}}\nhttp: {{addr: '{address}'}}\n",
                dir.join("storage").display()
            ),
        )
        .expect("write the registry's configuration");
        let mut child = Command::new(binary)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the registry");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(&address).is_err() {
            assert!(
                child.try_wait().expect("the registry").is_none(),
                "the registry exited at start"
            );
            assert!(
                Instant::now() < deadline,
                "the registry did not answer on {address}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, address }
    }
}

#[test]
fn kwctl_pulls_and_runs_the_policy_pushed_by_priority_guard() {
    let home = Scratch::new("registry");
    let registry = Registry::start(&home.0);
    let reference = format!("{}/policies/priority-guard:v0.1.0", registry.address);
    std::fs::create_dir_all(home.0.join("docker")).expect("docker folder");
    engines::stdout(
        Command::new(engines::cli())
            .env("DOCKER_CONFIG", home.0.join("docker"))
            .arg("push")
            .arg(engines::annotated_policy())
            .arg(&reference),
    );
    let sources = home.0.join("sources.yaml");
    std::fs::write(
        &sources,
        format!("insecure_sources: [\"{}\"]\n", registry.address),
    )
    .expect("write sources.yaml");
    let uri = format!("registry://{reference}");
    engines::stdout(
        kwctl(&home.0, None)
            .arg("pull")
            .arg("--sources-path")
            .arg(&sources)
            .arg(&uri),
    );
    // The pulled policy is in kwctl's store, with the metadata of the annotated file.
    let listed = engines::stdout(kwctl(&home.0, None).arg("policies"));
    assert!(listed.contains(&reference), "{listed}");
    let inspected: Value = serde_yaml_ng::from_str(&engines::stdout(
        kwctl(&home.0, None)
            .args(["inspect", "--output", "yaml"])
            .arg(&uri),
    ))
    .expect("YAML");
    assert_eq!(inspected["protocolVersion"], "v1");
    assert_eq!(inspected["mutating"], true);

    // The pulled policy decides as the local file: a refusal and a default, neither needing a lookup.
    let dir = common::root().join("fixtures/prod-preprod-dev");
    for request in ["pod_prod_dev_class_reject", "pod_prod_no_class_mutate"] {
        let run = |policy: &dyn AsRef<std::ffi::OsStr>| {
            response(
                kwctl(&home.0, None)
                    .arg("run")
                    .arg("--sources-path")
                    .arg(&sources)
                    .arg("--request-path")
                    .arg(dir.join("requests").join(format!("{request}.json")))
                    .arg("--settings-path")
                    .arg(dir.join("settings.yaml"))
                    .arg(policy),
            )
        };
        let pulled = run(&uri);
        let local = run(&engines::annotated_policy());
        assert_eq!(pulled, local, "{request}");
        let suffix = request.rsplit('_').next().unwrap_or("");
        assert_eq!(pulled["allowed"], suffix == "mutate", "{request}: {pulled}");
    }
}
