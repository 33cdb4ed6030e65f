//! The targets whose input chooses a well-formed case (settings, a cluster, a request) through the differential
//! suite's generator (`priority_guard_e2e_tests::random`, reading the input with `arbitrary`), so that the fuzzer
//! reaches the decision and the mutation deep instead of the readers' error paths.

use priority_guard_e2e_tests::differential::{
    known_difference, native_policies, native_verdict, wasm_verdict,
};
use priority_guard_e2e_tests::random::{self, Rng, World};
use priority_guard_sdk::decide::{Labels, Lookups};
use priority_guard_sdk::model::priority_class::PriorityClassInfo;
use priority_guard_sdk::output::manifest::namespace_labels;
use priority_guard_sdk::{AdmissionRequestView, Outcome, Settings, decide};
use serde_json::{Map, Value};

use arbitrary::Unstructured;

use crate::{decision_agrees, mutation_changes_only_its_paths, policy_module};

/// Random settings, Namespaces, PriorityClasses and a request, then up to four edits of the request's shape (a
/// member removed, replaced by any JSON value, or a new member), all chosen by the input. On the native sdk:
///
/// - the generated settings are valid;
/// - the validator's answer is the sdk's decision (as `decision`);
/// - a default changes the object at the patch's paths only (as `mutation`);
/// - a default is stable: the defaulted object, decided again, is not defaulted again.
pub fn structured(data: &[u8]) {
    let mut rng = Rng::from_fuzzer(data);
    let settings = random::random_settings(&mut rng);
    let namespaces = random::namespace_objects(&mut rng);
    let classes = random::class_objects(&mut rng);
    let mut request = random::random_request(&mut rng, 0, &classes);
    if let Some(u) = rng.unstructured() {
        reshape(&mut request, u);
    }
    let settings = settings.to_string();
    let parsed = Settings::from_json_slice(settings.as_bytes())
        .unwrap_or_else(|e| panic!("the generated settings are refused: {e}\n{settings}"));
    let labels = |namespace: &str| -> Result<Labels, String> {
        let object = namespaces
            .get(namespace)
            .ok_or_else(|| format!("namespace \"{namespace}\" not found"))?;
        let (_, labels) = namespace_labels(object)
            .map_err(|e| e.to_string())?
            .expect("a Namespace object");
        Ok(labels)
    };
    let class = |name: &str| -> Result<Option<PriorityClassInfo>, String> {
        classes
            .get(name)
            .map(|object| PriorityClassInfo::from_json(&object.to_string(), name))
            .transpose()
            .map_err(|e| e.to_string())
    };
    let cluster = Lookups::new(labels, class);
    let bytes = serde_json::to_vec(&request).expect("JSON");
    decision_agrees(&settings, &parsed, &bytes, cluster);
    let Some(mutated) = mutation_changes_only_its_paths(&settings, &parsed, &bytes, cluster) else {
        return;
    };
    let mut again = request.clone();
    again["object"] = mutated;
    let again = again.to_string();
    let view = AdmissionRequestView::from_json(&again).expect("the defaulted request is readable");
    let outcome = decide(&parsed, &view, cluster);
    assert!(
        !matches!(outcome, Ok(Outcome::Mutate { .. })),
        "a defaulted object is defaulted again: {outcome:?}\n  settings: {settings}\n  request: {again}"
    );
}

/// Edits the request's shape: up to four times, a member or item anywhere in it removed, replaced by any JSON
/// value, or a member added.
fn reshape(request: &mut Value, u: &mut Unstructured<'_>) {
    for _ in 0..u.int_in_range(0..=4u8).unwrap_or(0) {
        edit(request, u);
    }
}

fn edit(value: &mut Value, u: &mut Unstructured<'_>) {
    // Go down as long as the input says so, then change what is there.
    let deeper = u.ratio(4, 5).unwrap_or(false);
    match value {
        Value::Object(map) if deeper && !map.is_empty() => {
            let i = u.choose_index(map.len()).unwrap_or(0);
            let key = map.keys().nth(i).cloned().unwrap_or_default();
            match u.int_in_range(0..=5u8).unwrap_or(0) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    let key = name(u);
                    map.insert(key, any_json(u, 2));
                }
                _ => {
                    if let Some(member) = map.get_mut(&key) {
                        edit(member, u);
                    }
                }
            }
        }
        Value::Array(items) if deeper && !items.is_empty() => {
            let i = u.choose_index(items.len()).unwrap_or(0);
            if u.ratio(1, 5).unwrap_or(false) {
                items.remove(i);
            } else {
                edit(&mut items[i], u);
            }
        }
        _ => *value = any_json(u, 2),
    }
}

/// Names the policy reads (classes, namespaces, fields, kinds), or any string.
fn name(u: &mut Unstructured<'_>) -> String {
    const NAMES: &[&str] = &[
        "prod",
        "preprod",
        "dev",
        "prod-pc",
        "dev-pc",
        "system-node-critical",
        "cluster-default",
        "priorityClassName",
        "priority",
        "preemptionPolicy",
        "Never",
        "spec",
        "template",
        "metadata",
        "namespace",
        "Pod",
        "CREATE",
        "UPDATE",
        "",
    ];
    if u.ratio(2, 3).unwrap_or(true) {
        (*u.choose(NAMES).unwrap_or(&"")).to_owned()
    } else {
        u.arbitrary::<String>().unwrap_or_default()
    }
}

/// Any JSON value, at most `depth` levels deep.
fn any_json(u: &mut Unstructured<'_>, depth: u8) -> Value {
    match u.int_in_range(0..=7u8).unwrap_or(0) {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary().unwrap_or_default()),
        2 => Value::from(u.arbitrary::<i64>().unwrap_or_default()),
        3 => serde_json::Number::from_f64(u.arbitrary().unwrap_or_default())
            .map_or(Value::Null, Value::Number),
        4 if depth > 0 => Value::Array(
            (0..u.int_in_range(0..=3u8).unwrap_or(0))
                .map(|_| any_json(u, depth - 1))
                .collect(),
        ),
        5 if depth > 0 => Value::Object(
            (0..u.int_in_range(0..=3u8).unwrap_or(0))
                .map(|_| (name(u), any_json(u, depth - 1)))
                .collect::<Map<_, _>>(),
        ),
        _ => Value::String(name(u)),
    }
}

/// The differential suite's comparison, driven by the input: random settings, cluster and requests (at most
/// eight), each decided by policy.wasm under the host and by the generated ValidatingAdmissionPolicy and
/// MutatingAdmissionPolicy under the in-process CEL engines; the verdicts (allowed, message, warnings, audit
/// messages, stored object) are the same, or differ in one of the suite's known ways.
pub fn equivalence(data: &[u8]) {
    let mut rng = Rng::from_fuzzer(data);
    let World {
        settings,
        namespaces,
        classes,
        instance,
    } = random::random_world(&mut rng, policy_module());
    let policies = native_policies(&settings);
    for i in 0..1 + rng.below(8) {
        let request = random::random_request(&mut rng, i, &classes);
        let namespace = namespaces.get(request["namespace"].as_str().unwrap_or(""));
        let wasm = wasm_verdict(&instance, &request, &settings, &classes);
        let native = native_verdict(&policies, &request, namespace, &classes);
        assert!(
            wasm == native || known_difference(&request, &wasm, &native).is_some(),
            "policy.wasm and the generated policies differ:\n  settings: {settings}\n  classes: {:?}\n  \
             request: {request}\n  policy.wasm: {wasm:?}\n  native:      {native:?}",
            classes.keys().collect::<Vec<_>>()
        );
    }
}
