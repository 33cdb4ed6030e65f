//! Random cases of the differential suite: settings, a cluster's Namespaces and PriorityClasses, and admission
//! requests of every kind the policy checks (and some it does not), drawn by an [`Rng`] from small vocabularies so
//! that rules, namespaces and classes meet. The test suites draw them from a seed; the fuzz targets `equivalence`
//! and `structured` from the fuzzer's input.

use std::collections::BTreeMap;
use std::sync::Arc;

use arbitrary::Unstructured;
use priority_guard_host::{ClusterState, PolicyInstance, PolicyModule};
use serde_json::{Value, json};

use crate::priority_plugin;

/// Where the choices of a random case come from: a seeded generator (the test suites: the same cases on every
/// machine) or the bytes of a fuzzer's input (the fuzz targets: a mutation of the input is then a change of the
/// case's structure, and every input is a well-formed case).
#[derive(Debug)]
pub struct Rng<'a>(Source<'a>);

#[derive(Debug)]
enum Source<'a> {
    /// SplitMix64: small, fast, and the same sequence on every machine.
    SplitMix(u64),
    /// An exhausted input chooses the first item and no chance, so that short inputs are small cases.
    Fuzzer(Unstructured<'a>),
}

impl Rng<'static> {
    /// The cases of `seed`.
    pub fn seeded(seed: u64) -> Self {
        Self(Source::SplitMix(seed))
    }
}

impl<'a> Rng<'a> {
    /// The cases the bytes of a fuzzer's input choose.
    pub fn from_fuzzer(data: &'a [u8]) -> Self {
        Self(Source::Fuzzer(Unstructured::new(data)))
    }

    /// The fuzzer's input not yet used, for a target that draws more from it (none for a seeded generator).
    pub fn unstructured(&mut self) -> Option<&mut Unstructured<'a>> {
        match &mut self.0 {
            Source::SplitMix(_) => None,
            Source::Fuzzer(u) => Some(u),
        }
    }

    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (which is not 0).
    pub fn below(&mut self, n: usize) -> usize {
        match &mut self.0 {
            Source::SplitMix(state) => (Self::next(state) % n as u64) as usize,
            Source::Fuzzer(u) => u.choose_index(n).unwrap_or(0),
        }
    }

    /// True `percent` times in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        match &mut self.0 {
            Source::SplitMix(state) => Self::next(state) % 100 < percent,
            Source::Fuzzer(u) if u.is_empty() => false,
            Source::Fuzzer(u) => u64::from(u.int_in_range(0..=99u8).unwrap_or(99)) < percent,
        }
    }

    pub fn pick<'b, T>(&mut self, items: &'b [T]) -> &'b T {
        &items[self.below(items.len())]
    }

    pub fn subset<T: Clone>(&mut self, items: &[T], percent: u64) -> Vec<T> {
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

pub fn random_settings(rng: &mut Rng) -> Value {
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
pub fn class_objects(rng: &mut Rng) -> priority_plugin::Classes {
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

pub fn random_request(rng: &mut Rng, i: usize, classes: &priority_plugin::Classes) -> Value {
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
#[derive(Debug)]
pub struct World {
    pub settings: Value,
    pub namespaces: BTreeMap<&'static str, Value>,
    pub classes: priority_plugin::Classes,
    pub instance: PolicyInstance,
}

pub fn random_world(rng: &mut Rng, module: &PolicyModule) -> World {
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
    let instance = module.instance(Arc::new(cluster)).expect("instance");
    World {
        settings,
        namespaces,
        classes,
        instance,
    }
}

pub fn namespace_objects(rng: &mut Rng) -> BTreeMap<&'static str, Value> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exhausted_input_chooses_the_smallest_case() {
        let mut rng = Rng::from_fuzzer(&[]);
        assert_eq!(random_settings(&mut rng), json!({"rules": []}));
        assert!(class_objects(&mut rng).is_empty());
    }

    #[test]
    fn the_same_input_chooses_the_same_case_and_another_input_another() {
        let input: Vec<u8> = (0..=255).cycle().take(2048).map(|b: u16| b as u8).collect();
        let case = |data: &[u8]| {
            let mut rng = Rng::from_fuzzer(data);
            let settings = random_settings(&mut rng);
            let classes = class_objects(&mut rng);
            (settings, random_request(&mut rng, 0, &classes))
        };
        assert_eq!(case(&input), case(&input));
        let mut other = input.clone();
        other[0] ^= 0xff;
        other[1] ^= 0xff;
        assert_ne!(case(&input), case(&other));
        assert_ne!(
            case(&input).0,
            json!({"rules": []}),
            "a long input is a bigger case"
        );
    }
}
