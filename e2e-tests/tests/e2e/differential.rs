//! The differential suite: policy.wasm under wasmtime against the generated ValidatingAdmissionPolicy and
//! MutatingAdmissionPolicy evaluated by real CEL engines, on random cases and on every fixture.
//!
//! For each case both engines decide; they must agree on allowed or denied, on the message text, on the
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

use priority_guard_e2e_tests::native::{NativePolicies, NativeVerdict};
use priority_guard_e2e_tests::priority_plugin;
use priority_guard_host::{ClusterState, PolicyInstance};
use priority_guard_sdk::Settings;
use priority_guard_sdk::output::native::{self, Options};
use serde_json::{Value, json};

use crate::common;

/// A difference that cannot be removed: its name, why, and how to recognise it (from the request and the two
/// verdicts).
pub(crate) struct Known {
    pub(crate) name: &'static str,
    why: &'static str,
    pub(crate) recognise: fn(&Value, &Verdict, &Verdict) -> bool,
}

/// Every known difference (docs/semantics.md lists the same, with the same names).
pub(crate) const KNOWN: &[Known] = &[
    Known {
        name: "namespace-unreadable",
        why: "When the policy cannot read the namespace's labels it fails closed; the apiserver reads the namespace \
              itself (and refuses requests for a namespace that does not exist before any admission policy runs), \
              so the generated policies never face this.",
        recognise: |_request, wasm, _native| {
            wasm.message.as_deref().is_some_and(|m| {
                m.starts_with("cannot decide the PriorityClass rule for namespace")
            })
        },
    },
    Known {
        name: "template-class-values",
        why: "For a workload, the policy looks up the PriorityClass its pod template names (or the default its Pods \
              will get) to check maxPriority, minPriority, allowedPreemptionPolicies and that the class exists; CEL cannot read \
              other objects, so the generated policy lets the workload through and its Pods are checked when they \
              are created.",
        recognise: |request, wasm, native| {
            request["kind"]["kind"] != "Pod"
                && native.allowed
                && native.finding().is_none()
                && wasm.finding().is_some_and(is_class_value_message)
        },
    },
    Known {
        name: "pod-not-resolved",
        why: "A Pod without spec.priority has not been through the apiserver's Priority plugin (never the case in a \
              cluster, but possible in fixtures and before the cluster): the policy looks its class up, CEL can only \
              read spec.priority and lets it through.",
        recognise: |request, wasm, native| {
            request["kind"]["kind"] == "Pod"
                && request["object"]["spec"].get("priority").is_none()
                && native.allowed
                && native.finding().is_none()
                && wasm.finding().is_some_and(is_class_value_message)
        },
    },
    Known {
        name: "class-does-not-exist",
        why: "A rule with maxPriority, minPriority or allowedPreemptionPolicies whose default does not exist: the policy refuses \
              the Pod naming the missing class; with the generated policies the apiserver's Priority plugin \
              refuses it after the MutatingAdmissionPolicy set the default (\"no PriorityClass with name ... was \
              found\").",
        recognise: |_request, wasm, native| {
            !wasm.allowed
                && !native.allowed
                && wasm
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("\" does not exist:"))
                && native
                    .message
                    .as_deref()
                    .is_some_and(|m| m.contains("no PriorityClass with name"))
        },
    },
];

/// Whether a refusal is about the values of a class looked up (`maxPriority`, `allowedPreemptionPolicies`) or
/// a class that does not exist.
fn is_class_value_message(message: &str) -> bool {
    message.contains(" has priority ")
        || message.contains(" has preemptionPolicy ")
        || message.contains("\" does not exist: ")
}

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

/// What an engine decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Verdict {
    pub(crate) allowed: bool,
    pub(crate) message: Option<String>,
    /// The object as stored when allowed.
    pub(crate) object: Option<Value>,
    /// The warnings of an allowed request (a Warn rule's refusal).
    pub(crate) warnings: Vec<String>,
    /// The audit messages of an allowed request (an Audit rule's refusal).
    pub(crate) audit: Vec<String>,
}

impl Verdict {
    fn denied(message: String) -> Self {
        Self {
            allowed: false,
            message: Some(message),
            object: None,
            warnings: Vec::new(),
            audit: Vec::new(),
        }
    }

    /// The refusal's message, whatever its action: the denial, the warning or the audit message.
    fn finding(&self) -> Option<&str> {
        self.message
            .as_deref()
            .or(self.warnings.first().map(String::as_str))
            .or(self.audit.first().map(String::as_str))
    }
}

/// The object a Pod becomes when the apiserver runs its Priority plugin again after a mutation; other kinds are
/// left as they are.
fn rerun_plugins(
    request: &Value,
    classes: &priority_plugin::Classes,
    object: &Value,
) -> Result<Value, String> {
    if request["kind"]["kind"] == "Pod" && request["kind"]["group"] == "" {
        priority_plugin::resolve(object, classes)
    } else {
        Ok(object.clone())
    }
}

fn wasm_verdict(
    instance: &PolicyInstance,
    request: &Value,
    settings: &Value,
    classes: &priority_plugin::Classes,
) -> Verdict {
    let response = instance
        .validate(request, settings)
        .unwrap_or_else(|e| panic!("policy.wasm failed on {request}: {e:#}"));
    let original = request.get("object").filter(|o| !o.is_null()).cloned();
    let warnings = response.warnings.clone().unwrap_or_default();
    let audit: Vec<String> = match &response.audit_annotations {
        None => Vec::new(),
        Some(annotations) => {
            assert!(
                annotations.keys().all(|k| k == "violation"),
                "audit annotations other than violation: {annotations:?}"
            );
            annotations.values().cloned().collect()
        }
    };
    assert!(
        response.accepted || (warnings.is_empty() && audit.is_empty()),
        "a refusal with warnings or audit annotations: {response:?}"
    );
    if let Some(mutated) = response.mutated_object.filter(|_| response.accepted) {
        // The apiserver runs its built-in plugins again on the object the webhook changed.
        return match rerun_plugins(request, classes, &mutated) {
            Ok(object) => Verdict {
                allowed: true,
                message: None,
                object: Some(object),
                warnings,
                audit,
            },
            Err(message) => Verdict::denied(message),
        };
    }
    Verdict {
        allowed: response.accepted,
        message: response.message.filter(|_| !response.accepted),
        object: if response.accepted { original } else { None },
        warnings,
        audit,
    }
}

fn native_verdict(
    policies: &NativePolicies,
    request: &Value,
    namespace: Option<&Value>,
    classes: &priority_plugin::Classes,
) -> Verdict {
    match policies
        .admit_with(request, namespace, |object| {
            rerun_plugins(request, classes, object)
        })
        .unwrap_or_else(|e| panic!("the native engine failed on {request}: {e:#}"))
    {
        NativeVerdict::Allowed {
            object,
            warnings,
            audit,
            ..
        } => {
            assert!(
                warnings.len() + audit.len() <= 1,
                "at most one validation fails for a request: {warnings:#?} {audit:#?}\n{request}"
            );
            Verdict {
                allowed: true,
                message: None,
                object,
                warnings,
                audit,
            }
        }
        NativeVerdict::Denied { messages } => {
            assert_eq!(
                messages.len(),
                1,
                "at most one validation fails for a request: {messages:#?}\n{request}"
            );
            Verdict::denied(messages.into_iter().next().unwrap_or_default())
        }
    }
}

/// The generated YAML for settings, compiled.
pub fn native_policies(settings: &Value) -> NativePolicies {
    let settings = Settings::from_value(settings.clone()).expect("valid settings");
    let generated = native::generate(&settings, &Options::default());
    let yaml = native::to_yaml(&generated.documents).expect("YAML");
    NativePolicies::from_yaml(&yaml).unwrap_or_else(|e| panic!("{e:#}\n{yaml}"))
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
        match KNOWN.iter().find(|k| (k.recognise)(request, wasm, native)) {
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

// ---------------------------------------------------------------------------------------------------------------
// Random cases.

/// SplitMix64: small, fast, and the same sequence on every machine.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn subset<T: Clone>(&mut self, items: &[T], percent: u64) -> Vec<T> {
        items
            .iter()
            .filter(|_| self.chance(percent))
            .cloned()
            .collect()
    }
}

const NAMESPACES: &[&str] = &[
    "prod",
    "preprod",
    "dev",
    "kube-system",
    "team-a",
    "team-b",
    "default",
];
const CLASSES: &[&str] = &[
    "prod-pc",
    "preprod-pc",
    "dev-pc",
    "system-cluster-critical",
    "system-node-critical",
    "batch-low",
    "batch-high",
    "cluster-default",
    "team-a-pc",
    "other",
];
const PATTERNS: &[&str] = &[
    "prod-pc",
    "preprod-pc",
    "dev-pc",
    "batch-low",
    "team-a-pc",
    "system-*",
    "batch-*",
    "team-*",
    "prod*",
    "*",
];
const LABEL_KEYS: &[&str] = &["env", "team", "tier"];
const LABEL_VALUES: &[&str] = &["prod", "preprod", "dev", "a", "b"];

fn random_labels(rng: &mut Rng) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    for key in LABEL_KEYS {
        if rng.chance(60) {
            labels.insert((*key).to_owned(), (*rng.pick(LABEL_VALUES)).to_owned());
        }
    }
    labels
}

fn random_selector(rng: &mut Rng) -> Value {
    let mut selector = serde_json::Map::new();
    if rng.chance(60) {
        let labels: serde_json::Map<String, Value> = (0..1 + rng.below(2))
            .map(|_| {
                (
                    (*rng.pick(LABEL_KEYS)).to_owned(),
                    json!(rng.pick(LABEL_VALUES)),
                )
            })
            .collect();
        selector.insert("matchLabels".into(), Value::Object(labels));
    }
    if rng.chance(50) {
        let expressions: Vec<Value> = (0..1 + rng.below(2))
            .map(|_| {
                let key = rng.pick(LABEL_KEYS);
                match rng.below(4) {
                    0 => json!({"key": key, "operator": "In", "values": rng.subset(LABEL_VALUES, 40).into_iter().chain([LABEL_VALUES[0]]).collect::<Vec<_>>()}),
                    1 => json!({"key": key, "operator": "NotIn", "values": rng.subset(LABEL_VALUES, 40).into_iter().chain([LABEL_VALUES[1]]).collect::<Vec<_>>()}),
                    2 => json!({"key": key, "operator": "Exists"}),
                    _ => json!({"key": key, "operator": "DoesNotExist"}),
                }
            })
            .collect();
        selector.insert("matchExpressions".into(), Value::Array(expressions));
    }
    Value::Object(selector)
}

fn random_policy(rng: &mut Rng, unset: &[&str]) -> serde_json::Map<String, Value> {
    let mut rule = serde_json::Map::new();
    let patterns: Vec<&str> = rng.subset(PATTERNS, 25);
    let list = match rng.below(3) {
        0 => None,
        1 => Some(("allowedPriorityClasses", patterns.clone())),
        _ => Some(("deniedPriorityClasses", patterns.clone())),
    };
    if let Some((key, patterns)) = &list {
        rule.insert((*key).into(), json!(patterns));
    }
    if rng.chance(40) {
        let allows = |class: &str| {
            let matches = |p: &&str| match p.strip_suffix('*') {
                Some(prefix) => class.starts_with(prefix),
                None => class == *p,
            };
            match &list {
                None => true,
                Some(("allowedPriorityClasses", ps)) => ps.iter().any(matches),
                Some((_, ps)) => !ps.iter().any(matches),
            }
        };
        let candidates: Vec<&str> = CLASSES
            .iter()
            .copied()
            .filter(|c| allows(c) && !unset.contains(c))
            .collect();
        if !candidates.is_empty() {
            rule.insert("defaultPriorityClass".into(), json!(rng.pick(&candidates)));
        }
    }
    if rng.chance(35) {
        rule.insert("requirePriorityClass".into(), json!(true));
    }
    if rng.chance(30) {
        rule.insert(
            "maxPriority".into(),
            json!(rng.pick(&[0, 100, 500, 5000, 100_000])),
        );
    }
    if rng.chance(25) {
        // A floor above the rule's ceiling is refused by the settings' validation.
        let min = *rng.pick(&[-100, 0, 100, 1000]);
        if rule
            .get("maxPriority")
            .and_then(Value::as_i64)
            .is_none_or(|max| min <= max)
        {
            rule.insert("minPriority".into(), json!(min));
        }
    }
    if rng.chance(25) {
        const CHOICES: &[&[&str]] = &[
            &["Never"],
            &["PreemptLowerPriority"],
            &["PreemptLowerPriority", "Never"],
        ];
        let policies = rng.pick(CHOICES);
        rule.insert("allowedPreemptionPolicies".into(), json!(policies));
    }
    random_action(rng, &mut rule);
    rule
}

/// An `action` at random, absent (Deny) half the time.
fn random_action(rng: &mut Rng, section: &mut serde_json::Map<String, Value>) {
    if rng.chance(50) {
        section.insert("action".into(), json!(rng.pick(&["Deny", "Warn", "Audit"])));
    }
}

/// The `priorityClasses` settings section, each field at random.
fn random_priority_classes(rng: &mut Rng) -> Value {
    let mut section = serde_json::Map::new();
    if rng.chance(60) {
        section.insert("maxValue".into(), json!(rng.pick(&[100, 1000, 100_000])));
    }
    if rng.chance(50) {
        section.insert("allowGlobalDefault".into(), json!(rng.chance(50)));
    }
    if rng.chance(50) {
        section.insert("requireDescription".into(), json!(rng.chance(70)));
    }
    if rng.chance(40) {
        section.insert(
            "requireNonPreemptingBelow".into(),
            json!(rng.pick(&[50, 1000])),
        );
    }
    random_action(rng, &mut section);
    Value::Object(section)
}

pub(crate) fn random_settings(rng: &mut Rng) -> Value {
    let unset: Vec<&str> = if rng.chance(40) {
        vec!["cluster-default"]
    } else {
        vec![]
    };
    let rules: Vec<Value> = (0..rng.below(5))
        .map(|i| {
            let mut rule = random_policy(rng, &unset);
            rule.insert("name".into(), json!(format!("rule-{i}")));
            let namespaces = rng.subset(NAMESPACES, 25);
            let with_selector = namespaces.is_empty() || rng.chance(30);
            if !namespaces.is_empty() {
                rule.insert("namespaces".into(), json!(namespaces));
            }
            if with_selector {
                rule.insert("namespaceSelector".into(), random_selector(rng));
            }
            Value::Object(rule)
        })
        .collect();
    let mut settings = json!({"rules": rules});
    if rng.chance(60) {
        settings["fallback"] = Value::Object(random_policy(rng, &unset));
    }
    if !unset.is_empty() {
        settings["unsetPriorityClasses"] = json!(unset);
    }
    if rng.chance(40) {
        settings["mutateWorkloadTemplates"] = json!(true);
    }
    if rng.chance(60) {
        let declared: Vec<Value> = CUSTOM_KINDS
            .iter()
            .filter(|_| rng.chance(70))
            .map(|c| {
                json!({"apiGroup": c.group, "apiVersion": c.version, "kind": c.kind,
                       "resource": c.resource, "podSpecPath": c.path})
            })
            .collect();
        settings["customWorkloads"] = json!(declared);
    }
    if rng.chance(35) {
        settings["priorityClasses"] = random_priority_classes(rng);
    }
    settings
}

/// A custom workload kind of the random cases.
struct CustomKind {
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    resource: &'static str,
    /// The `podSpecPath` of the settings.
    path: &'static str,
    /// The fields to the list the path's `[*]` runs over, or to the pod spec for a path without `[*]`.
    list: &'static [&'static str],
    /// The fields from a list item to its pod spec.
    item: &'static [&'static str],
}

/// An Argo Rollout (one template), a Volcano Job (a template per task, and the kind name of the built-in Job)
/// and a made-up CRD whose list items are pod specs themselves.
const CUSTOM_KINDS: &[CustomKind] = &[
    CustomKind {
        group: "argoproj.io",
        version: "v1alpha1",
        kind: "Rollout",
        resource: "rollouts",
        path: "$.spec.template.spec",
        list: &["spec", "template", "spec"],
        item: &[],
    },
    CustomKind {
        group: "batch.volcano.sh",
        version: "v1alpha1",
        kind: "Job",
        resource: "jobs",
        path: "$.spec.tasks[*].template.spec",
        list: &["spec", "tasks"],
        item: &["template", "spec"],
    },
    CustomKind {
        group: "example.com",
        version: "v1",
        kind: "PodSet",
        resource: "podsets",
        path: "$.spec.pods[*]",
        list: &["spec", "pods"],
        item: &[],
    },
];

/// The object of a custom kind: its pod specs at random, some list items without one.
fn custom_object(
    rng: &mut Rng,
    custom: &CustomKind,
    namespace: &str,
    name: &str,
    classes: &priority_plugin::Classes,
) -> Value {
    let mut object = json!({
        "apiVersion": format!("{}/{}", custom.group, custom.version),
        "kind": custom.kind,
        "metadata": {"namespace": namespace, "name": name},
    });
    if !rng.chance(95) {
        return object;
    }
    let is_list = custom.path.contains("[*]");
    let value = if is_list {
        let items: Vec<Value> = (0..rng.below(4))
            .map(|i| {
                let mut item = json!({});
                if custom.item.is_empty() {
                    item = random_pod_spec(rng, false, classes);
                } else if rng.chance(85) {
                    let mut at = &mut item;
                    for step in custom.item {
                        at = &mut at[*step];
                    }
                    *at = random_pod_spec(rng, false, classes);
                    item["name"] = json!(format!("task-{i}"));
                } else {
                    item["name"] = json!(format!("task-{i}"));
                }
                item
            })
            .collect();
        Value::Array(items)
    } else {
        random_pod_spec(rng, false, classes)
    };
    let mut at = &mut object;
    for step in custom.list {
        at = &mut at[*step];
    }
    *at = value;
    object
}

/// The PriorityClasses a random cluster may hold: (name, value, preemptionPolicy). `other` (in [`CLASSES`]) never
/// exists.
const CLUSTER_CLASSES: &[(&str, i64, &str)] = &[
    ("prod-pc", 100_000, "PreemptLowerPriority"),
    ("preprod-pc", 10_000, "PreemptLowerPriority"),
    ("dev-pc", 100, "Never"),
    (
        "system-cluster-critical",
        2_000_000_000,
        "PreemptLowerPriority",
    ),
    (
        "system-node-critical",
        2_000_001_000,
        "PreemptLowerPriority",
    ),
    ("batch-low", 10, "Never"),
    ("batch-high", 5000, "PreemptLowerPriority"),
    ("cluster-default", 0, "PreemptLowerPriority"),
    ("team-a-pc", 500, "Never"),
];

/// A random subset of [`CLUSTER_CLASSES`] as PriorityClass objects, by name.
pub(crate) fn class_objects(rng: &mut Rng) -> priority_plugin::Classes {
    CLUSTER_CLASSES
        .iter()
        .filter(|_| rng.chance(85))
        .map(|(name, value, policy)| {
            (
                (*name).to_owned(),
                json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                       "metadata": {"name": name}, "value": value, "preemptionPolicy": policy,
                       "description": "a class of the random cluster"}),
            )
        })
        .collect()
}

/// A PriorityClass object as an admin writes it (after the apiserver's defaulting, usually with a
/// preemptionPolicy).
fn random_priority_class(rng: &mut Rng) -> Value {
    let mut class = json!({
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": rng.pick(&["batch-x", "team-b-pc", "system-custom", "low"])},
        "value": rng.pick(&[0, 50, 100, 999, 1000, 5000, 2_000_000_000]),
    });
    match rng.below(10) {
        0..=2 => class["globalDefault"] = json!(true),
        3..=4 => class["globalDefault"] = json!(false),
        _ => {}
    }
    match rng.below(10) {
        0..=4 => class["description"] = json!("for batch jobs"),
        5 => class["description"] = json!(""),
        _ => {}
    }
    if rng.chance(70) {
        class["preemptionPolicy"] = json!(rng.pick(&["Never", "PreemptLowerPriority"]));
    }
    class
}

/// (group, kind, resource, pod spec path); the last is a kind the policy does not check.
const KINDS: &[(&str, &str, &str, &[&str])] = &[
    ("", "Pod", "pods", &["spec"]),
    (
        "",
        "ReplicationController",
        "replicationcontrollers",
        &["spec", "template", "spec"],
    ),
    (
        "apps",
        "Deployment",
        "deployments",
        &["spec", "template", "spec"],
    ),
    (
        "apps",
        "ReplicaSet",
        "replicasets",
        &["spec", "template", "spec"],
    ),
    (
        "apps",
        "StatefulSet",
        "statefulsets",
        &["spec", "template", "spec"],
    ),
    (
        "apps",
        "DaemonSet",
        "daemonsets",
        &["spec", "template", "spec"],
    ),
    ("batch", "Job", "jobs", &["spec", "template", "spec"]),
    (
        "batch",
        "CronJob",
        "cronjobs",
        &["spec", "jobTemplate", "spec", "template", "spec"],
    ),
    ("", "ConfigMap", "configmaps", &[]),
];

fn random_pod_spec(rng: &mut Rng, pod: bool, classes: &priority_plugin::Classes) -> Value {
    let mut spec = json!({"containers": [{"name": "app", "image": "registry.example/app:1"}]});
    match rng.below(10) {
        0..=1 => {}
        2 => spec["priorityClassName"] = json!(""),
        _ => spec["priorityClassName"] = json!(rng.pick(CLASSES)),
    }
    let named = spec["priorityClassName"].as_str().unwrap_or("");
    if pod && rng.chance(80) {
        // As the Priority plugin resolved it: the class's values, or 0 without a class.
        let (priority, policy) = match classes.get(named) {
            Some(class) => (class["value"].clone(), class["preemptionPolicy"].clone()),
            None => (json!(0), json!("PreemptLowerPriority")),
        };
        spec["priority"] = priority;
        if rng.chance(90) {
            spec["preemptionPolicy"] = policy;
        }
    } else {
        if rng.chance(50) {
            spec["priority"] = json!(rng.pick(&[0, 10, 1000, 1_000_000]));
        }
        if rng.chance(40) {
            spec["preemptionPolicy"] = json!(rng.pick(&["Never", "PreemptLowerPriority"]));
        }
    }
    if rng.chance(20) {
        spec["futureField"] = json!({"kept": true});
    }
    spec
}

pub(crate) fn random_request(rng: &mut Rng, i: usize, classes: &priority_plugin::Classes) -> Value {
    if rng.chance(12) {
        return random_priority_class_request(rng, i);
    }
    if rng.chance(30) {
        return random_custom_request(rng, i, classes);
    }
    let (group, kind, resource, path) = *rng.pick(KINDS);
    let namespace = *rng.pick(NAMESPACES);
    let mut object = json!({
        "apiVersion": if group.is_empty() { "v1".to_owned() } else { format!("{group}/v1") },
        "kind": kind,
        "metadata": {"namespace": namespace, "labels": {"app": "web"}},
    });
    let name = format!("web-{i}");
    if kind == "Pod" && rng.chance(15) {
        object["metadata"]["generateName"] = json!("web-7d9f8c6b5-");
    } else {
        object["metadata"]["name"] = json!(name);
    }
    if path.is_empty() {
        object["data"] = json!({"k": "v"});
    } else if rng.chance(97) {
        // Build the path down to the pod spec; a template also gets its metadata.
        let mut at = &mut object;
        for step in &path[..path.len() - 1] {
            at = &mut at[*step];
            if *step == "template" {
                at["metadata"] = json!({"labels": {"app": "web"}});
            }
        }
        at[path[path.len() - 1]] = random_pod_spec(rng, kind == "Pod", classes);
    }
    let operation = *rng.pick(&[
        "CREATE", "CREATE", "CREATE", "CREATE", "UPDATE", "UPDATE", "DELETE",
    ]);
    let sub_resource = if rng.chance(5) { "status" } else { "" };
    let mut request = json!({
        "uid": format!("case-{i}"),
        "kind": {"group": group, "version": "v1", "kind": kind},
        "resource": {"group": group, "version": "v1", "resource": resource},
        "requestKind": {"group": group, "version": "v1", "kind": kind},
        "requestResource": {"group": group, "version": "v1", "resource": resource},
        "name": object["metadata"]["name"].as_str().unwrap_or(""),
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "dev@example.com", "groups": ["system:authenticated"]},
        "dryRun": false,
    });
    if !sub_resource.is_empty() {
        request["subResource"] = json!(sub_resource);
    }
    match operation {
        "CREATE" => request["object"] = object,
        "UPDATE" => {
            let mut old = object.clone();
            if let Some(spec) = old
                .pointer_mut(&format!("/{}", path.join("/")))
                .filter(|_| !path.is_empty())
            {
                spec["priorityClassName"] = json!(rng.pick(CLASSES));
            }
            request["object"] = object;
            request["oldObject"] = old;
        }
        _ => {
            request["object"] = Value::Null;
            request["oldObject"] = object;
        }
    }
    request
}

/// A request for a custom kind (declared in the settings or not).
fn random_custom_request(rng: &mut Rng, i: usize, classes: &priority_plugin::Classes) -> Value {
    let custom = rng.pick(CUSTOM_KINDS);
    let namespace = *rng.pick(NAMESPACES);
    let name = format!("web-{i}");
    let object = custom_object(rng, custom, namespace, &name, classes);
    let operation = *rng.pick(&["CREATE", "CREATE", "CREATE", "UPDATE", "UPDATE", "DELETE"]);
    let (group, version) = (custom.group, custom.version);
    let mut request = json!({
        "uid": format!("case-{i}"),
        "kind": {"group": group, "version": version, "kind": custom.kind},
        "resource": {"group": group, "version": version, "resource": custom.resource},
        "requestKind": {"group": group, "version": version, "kind": custom.kind},
        "requestResource": {"group": group, "version": version, "resource": custom.resource},
        "name": name,
        "namespace": namespace,
        "operation": operation,
        "userInfo": {"username": "dev@example.com", "groups": ["system:authenticated"]},
        "dryRun": false,
    });
    if rng.chance(5) {
        request["subResource"] = json!("status");
    }
    match operation {
        "CREATE" => request["object"] = object,
        "UPDATE" => {
            request["oldObject"] = custom_object(rng, custom, namespace, &name, classes);
            request["object"] = object;
        }
        _ => {
            request["object"] = Value::Null;
            request["oldObject"] = object;
        }
    }
    request
}

/// A CREATE, UPDATE or DELETE of a PriorityClass (cluster-scoped: no namespace).
fn random_priority_class_request(rng: &mut Rng, i: usize) -> Value {
    let object = random_priority_class(rng);
    let operation = *rng.pick(&["CREATE", "CREATE", "UPDATE", "DELETE"]);
    let gvk = json!({"group": "scheduling.k8s.io", "version": "v1", "kind": "PriorityClass"});
    let gvr = json!({"group": "scheduling.k8s.io", "version": "v1", "resource": "priorityclasses"});
    let mut request = json!({
        "uid": format!("case-{i}"),
        "kind": gvk, "resource": gvr, "requestKind": gvk, "requestResource": gvr,
        "name": object["metadata"]["name"],
        "operation": operation,
        "userInfo": {"username": "admin@example.com", "groups": ["system:masters"]},
        "dryRun": false,
    });
    match operation {
        "CREATE" => request["object"] = object,
        "UPDATE" => {
            let mut old = object.clone();
            old["description"] = json!("before");
            request["object"] = object;
            request["oldObject"] = old;
        }
        _ => {
            request["object"] = Value::Null;
            request["oldObject"] = object;
        }
    }
    request
}

/// Random settings, Namespaces and PriorityClasses, and a policy.wasm instance whose cluster holds them.
struct World {
    settings: Value,
    namespaces: BTreeMap<&'static str, Value>,
    classes: priority_plugin::Classes,
    instance: PolicyInstance,
}

fn random_world(rng: &mut Rng) -> World {
    let settings = random_settings(rng);
    let namespaces = namespace_objects(rng);
    let classes = class_objects(rng);
    let cluster = ClusterState::from_objects(
        namespaces
            .values()
            .cloned()
            .chain(classes.values().cloned()),
    )
    .expect("cluster");
    let instance = common::module()
        .instance(Arc::new(cluster))
        .expect("instance");
    World {
        settings,
        namespaces,
        classes,
        instance,
    }
}

pub(crate) fn namespace_objects(rng: &mut Rng) -> BTreeMap<&'static str, Value> {
    NAMESPACES
        .iter()
        .map(|name| {
            let mut labels = random_labels(rng);
            labels.insert("kubernetes.io/metadata.name".into(), (*name).to_owned());
            (
                *name,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}),
            )
        })
        .collect()
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
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    while tally.cases < cases {
        let World {
            settings,
            namespaces,
            classes,
            instance,
        } = random_world(&mut rng);
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
    let mut rng = Rng(0xa0d1_7000);
    let (mut same, mut stored) = (0, 0);
    for round in 0..150 {
        let World {
            settings,
            namespaces: _,
            classes,
            instance,
        } = random_world(&mut rng);
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
