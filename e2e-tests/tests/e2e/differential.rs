//! The differential suite: policy.wasm under wasmtime against the generated ValidatingAdmissionPolicy and
//! MutatingAdmissionPolicy evaluated by real CEL engines, on random cases and on every fixture.
//!
//! The cases and the comparison are in the library (`random`, `differential`), which the fuzz target
//! `equivalence` drives from its input. For each case both engines decide; they must agree on allowed or denied, on the message text, on the
//! warnings and audit messages of rules whose action is Warn or Audit (drawn at random too), and on the object
//! that results from a default. The differences that cannot be removed are listed in [`KNOWN`] (and in
//! docs/semantics.md, "Known differences"); the suite fails on any other difference and on a listed difference that no
//! case shows any more.
//!
//! `PRIORITY_GUARD_DIFF_CASES` (default 20,000) and `PRIORITY_GUARD_DIFF_SEED` (default fixed) set the random
//! run; `make differential` runs a bigger one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;

use priority_guard_e2e_tests::differential::{
    KNOWN, Verdict, known_difference, native_policies, native_verdict, wasm_verdict,
};
use priority_guard_e2e_tests::priority_plugin;
use priority_guard_e2e_tests::random::{Rng, World, random_request, random_world};
use priority_guard_host::ClusterState;
use serde_json::{Value, json};

use crate::common;

/// What kind of check an agreed refusal comes from, for the tally.
fn denial_kind(message: &str) -> &'static str {
    if message.contains(" has priority ") && message.contains(", below the minimum ") {
        "minPriority"
    } else if message.contains(" has priority ") {
        "maxPriority"
    } else if message.contains(" has preemptionPolicy ") {
        "allowedPreemptionPolicies"
    } else if message.contains("by the priorityClasses settings") {
        "priorityClasses"
    } else if message.contains("no PriorityClass with name") {
        "priority-plugin"
    } else {
        "classes"
    }
}

/// Tallies of a run.
#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    allowed: usize,
    denied: usize,
    mutated: usize,
    /// Agreed warnings and audit messages (Warn and Audit rules' refusals).
    warned: usize,
    audited: usize,
    /// Agreed refusals by the check that refused.
    denied_by: BTreeMap<&'static str, usize>,
    known: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
    /// Outcomes of the cases of custom kinds that the settings declare: allowed, mutated, denied.
    custom: [usize; 3],
}

impl Tally {
    fn compare(&mut self, case: &str, request: &Value, wasm: &Verdict, native: &Verdict) {
        let original = request.get("object");
        self.cases += 1;
        if wasm == native {
            self.warned += wasm.warnings.len();
            self.audited += wasm.audit.len();
            if !wasm.allowed {
                self.denied += 1;
                *self
                    .denied_by
                    .entry(denial_kind(wasm.message.as_deref().unwrap_or("")))
                    .or_default() += 1;
            } else if wasm.object.as_ref() != original {
                self.mutated += 1;
            } else {
                self.allowed += 1;
            }
            return;
        }
        match known_difference(request, wasm, native) {
            Some(known) => *self.known.entry(known.name).or_default() += 1,
            None => {
                if self.unexplained.len() < 5 {
                    self.unexplained.push(format!(
                        "{case}\n  policy.wasm: {wasm:?}\n  native:      {native:?}"
                    ));
                } else {
                    self.unexplained.push(String::new());
                }
            }
        }
    }

    fn disagreements(&self) -> usize {
        self.known.values().sum::<usize>() + self.unexplained.len()
    }
}

pub(crate) fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| {
            let v = v.replace('_', "");
            v.strip_prefix("0x")
                .map_or_else(|| v.parse(), |hex| u64::from_str_radix(hex, 16))
                .unwrap_or_else(|e| panic!("{name}={v}: {e}"))
        })
        .unwrap_or(default)
}

/// Cases per settings: the settings' YAML is generated and compiled once for them.
const CASES_PER_SETTINGS: usize = 20;

fn random_run(cases: usize, seed: u64) -> Tally {
    let mut rng = Rng::seeded(seed);
    let mut tally = Tally::default();
    while tally.cases < cases {
        let World {
            settings,
            namespaces,
            classes,
            instance,
        } = random_world(&mut rng, common::module());
        let policies = native_policies(&settings);
        for _ in 0..CASES_PER_SETTINGS.min(cases - tally.cases) {
            let request = random_request(&mut rng, tally.cases, &classes);
            let namespace = namespaces.get(request["namespace"].as_str().unwrap_or(""));
            let wasm = wasm_verdict(&instance, &request, &settings, &classes);
            let native = native_verdict(&policies, &request, namespace, &classes);
            let case = format!(
                "seed {seed:#x} case {}:\n  settings: {settings}\n  classes: {:?}\n  request: {request}",
                tally.cases,
                classes.keys().collect::<Vec<_>>()
            );
            let declared = settings["customWorkloads"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| {
                    c["apiGroup"] == request["kind"]["group"]
                        && c["kind"] == request["kind"]["kind"]
                });
            if declared && wasm == native {
                let outcome = match (&wasm.allowed, wasm.object.as_ref() == request.get("object")) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, _) => 2,
                };
                tally.custom[outcome] += 1;
            }
            tally.compare(&case, &request, &wasm, &native);
        }
    }
    tally
}

fn fixture_run() -> Tally {
    let mut tally = Tally::default();
    for dir in common::scenarios() {
        let settings = common::yaml(&dir.join("settings.yaml"));
        let cluster_text = std::fs::read_to_string(dir.join("cluster.yaml")).expect("cluster.yaml");
        let cluster = ClusterState::from_yaml_or_json(&cluster_text).expect("cluster.yaml");
        let mut namespaces = BTreeMap::new();
        let mut classes = priority_plugin::Classes::new();
        for item in common::cluster_objects(&cluster_text) {
            let name = item["metadata"]["name"].as_str().unwrap_or("").to_owned();
            if item["kind"] == "Namespace" {
                namespaces.insert(name, item);
            } else if item["kind"] == "PriorityClass" {
                classes.insert(name, item);
            }
        }
        let instance = common::module()
            .instance(Arc::new(cluster))
            .expect("instance");
        let policies = native_policies(&settings);
        let mut requests: Vec<_> = std::fs::read_dir(dir.join("requests"))
            .expect("requests/")
            .map(|e| e.expect("entry").path())
            .collect();
        requests.sort();
        for path in requests {
            let review = common::yaml(&path);
            let request = review.get("request").cloned().unwrap_or(review);
            let namespace = namespaces.get(request["namespace"].as_str().unwrap_or(""));
            let wasm = wasm_verdict(&instance, &request, &settings, &classes);
            let native = native_verdict(&policies, &request, namespace, &classes);
            tally.compare(&fixture_name(&path), &request, &wasm, &native);
        }
    }
    tally
}

fn fixture_name(path: &Path) -> String {
    let scenario = path
        .parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    format!(
        "{scenario}/{}",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    )
}

#[test]
fn policy_wasm_and_the_generated_admission_policies_agree() {
    let cases = env_number("PRIORITY_GUARD_DIFF_CASES", 20_000) as usize;
    let seed = env_number("PRIORITY_GUARD_DIFF_SEED", 0x5eed_2026);
    let random = random_run(cases, seed);
    let fixtures = fixture_run();
    let seen: BTreeSet<&str> = random
        .known
        .keys()
        .chain(fixtures.known.keys())
        .copied()
        .collect();
    let listed: BTreeSet<&str> = KNOWN.iter().map(|k| k.name).collect();
    println!(
        "differential: {} random cases (seed {seed:#x}) and {} fixtures; random: {} allowed, {} mutated, {} denied; \
         custom kinds: {} allowed, {} mutated, {} denied; disagreements: {} random, {} fixtures; known \
         differences seen: {:?}",
        random.cases,
        fixtures.cases,
        random.allowed,
        random.mutated,
        random.denied,
        random.custom[0],
        random.custom[1],
        random.custom[2],
        random.disagreements(),
        fixtures.disagreements(),
        random
            .known
            .iter()
            .chain(&fixtures.known)
            .collect::<Vec<_>>(),
    );
    let unexplained: Vec<&String> = random
        .unexplained
        .iter()
        .chain(&fixtures.unexplained)
        .collect();
    assert!(
        unexplained.is_empty(),
        "{} unexplained disagreements, the first:\n{}",
        unexplained.len(),
        unexplained
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_eq!(
        seen,
        listed,
        "the known differences seen must be exactly the listed ones ({:?})",
        KNOWN.iter().map(|k| (k.name, k.why)).collect::<Vec<_>>()
    );
    // The random cases exercise every outcome and every check, or the comparison proves little.
    assert!(
        random.cases < 1000 || (random.allowed > 0 && random.mutated > 0 && random.denied > 0),
        "{random:?}"
    );
    // So do the cases of declared custom kinds.
    assert!(
        random.cases < 1000 || random.custom.iter().all(|n| *n > 0),
        "{random:?}"
    );
    println!(
        "agreed refusals by check: {:?}; agreed warnings: {}, audit messages: {}",
        random.denied_by, random.warned, random.audited
    );
    assert!(
        random.cases < 1000 || (random.warned > 0 && random.audited > 0),
        "no agreed warning or audit message: {random:?}"
    );
    for check in [
        "classes",
        "maxPriority",
        "minPriority",
        "allowedPreemptionPolicies",
        "priorityClasses",
    ] {
        assert!(
            random.cases < 1000 || random.denied_by.get(check).is_some_and(|n| *n > 0),
            "no agreed refusal by {check}: {:?}",
            random.denied_by
        );
    }
}

/// The audit scanner sends, for every existing object, a CREATE request without oldObject. Workloads and
/// PriorityClasses are checked alike on CREATE and UPDATE, so their audit request must get the decision of the
/// admission request; and every object the policy admitted (as stored, after its default and the Priority
/// plugin) must pass the audit unchanged.
#[test]
fn audit_scanner_requests_get_the_same_decisions() {
    let mut rng = Rng::seeded(0xa0d1_7000);
    let (mut same, mut stored) = (0, 0);
    for round in 0..150 {
        let World {
            settings,
            namespaces: _,
            classes,
            instance,
        } = random_world(&mut rng, common::module());
        for i in 0..20 {
            let request = random_request(&mut rng, round * 20 + i, &classes);
            let operation = request["operation"].as_str().unwrap_or("");
            let is_pod = request["kind"]["kind"] == "Pod";
            if operation == "DELETE" || request.get("subResource").is_some() {
                continue;
            }
            let audit = |object: &Value| {
                let mut audit = request.clone();
                audit["operation"] = json!("CREATE");
                audit["uid"] = json!("audit");
                audit["dryRun"] = json!(true);
                audit["object"] = object.clone();
                if let Some(map) = audit.as_object_mut() {
                    map.remove("oldObject");
                }
                audit
            };
            let wasm = wasm_verdict(&instance, &request, &settings, &classes);
            if !(is_pod && operation == "UPDATE") {
                let again =
                    wasm_verdict(&instance, &audit(&request["object"]), &settings, &classes);
                assert_eq!(again, wasm, "audit of {request}\nsettings: {settings}");
                same += 1;
            }
            if wasm.allowed && (operation == "CREATE" || !is_pod) {
                let object = wasm.object.as_ref().expect("an admitted object");
                let again = wasm_verdict(&instance, &audit(object), &settings, &classes);
                // A Warn or Audit rule may report the stored object again: it is admitted all the same.
                assert_eq!(
                    (again.allowed, &again.message, &again.object),
                    (true, &None, &Some(object.clone())),
                    "stored object of {request}\nsettings: {settings}"
                );
                stored += 1;
            }
        }
    }
    println!("audit: {same} requests decided alike, {stored} stored objects admitted unchanged");
    assert!(same > 1000 && stored > 1000, "{same} {stored}");
}
