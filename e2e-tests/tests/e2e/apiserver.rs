//! The generated admission policies on a real kube-apiserver (`../shared/envtest`), against policy.wasm.
//!
//! Each request (a fixture, or a random case of the differential suite) is carried out on the apiserver twice:
//! first without any admission policy, which gives the object as the admission chain sees it (defaulted, a Pod
//! resolved by the Priority plugin) or the apiserver's own refusal; policy.wasm (under the host crate, with the
//! cluster's Namespaces and PriorityClasses) decides that request, and a Pod it defaults is created again (dry
//! run) so that the real Priority plugin computes its priority. Then with the output of `priority-guard vap`
//! applied, the same request again (dry run): the apiserver's verdict, message and object must be
//! policy.wasm's, or one of the known differences of the in-process differential suite.

use std::collections::BTreeMap;
use std::sync::Arc;

use priority_guard_e2e_tests::envtest::{self, ControlPlane};
use priority_guard_host::{ClusterState, PolicyInstance};
use serde_json::{Value, json};

use priority_guard_e2e_tests::differential::{KNOWN, Verdict};
use priority_guard_e2e_tests::random::{self, Rng};

use crate::differential;
use crate::{common, engines, webhook};

/// What the apiserver did with a request: the object as stored (`Null` for a DELETE), or its refusal.
type Outcome = Result<Value, String>;

/// How a request is carried out on the apiserver.
#[derive(Debug, Clone)]
enum Step {
    Create { path: String, body: Value },
    Patch { path: String, body: Value },
    Delete { path: String },
}

/// A request ready for its second run.
struct Prepared {
    /// The AdmissionRequest as the admission chain sees it: what policy.wasm decides.
    request: Value,
    step: Step,
}

/// A request after the first run: prepared, or refused by the apiserver without any admission policy.
enum FirstRun {
    Prepared(Prepared),
    Refused { step: Step, message: String },
}

fn dry(path: &str) -> String {
    format!(
        "{path}{}dryRun=All",
        if path.contains('?') { '&' } else { '?' }
    )
}

fn perform(plane: &ControlPlane, step: &Step, dry_run: bool) -> Outcome {
    let no_admission = Admission::GeneratedYaml {
        version: "",
        policy_name: String::new(),
    };
    perform_warned(plane, step, dry_run, &no_admission).0
}

/// The message of a ValidatingAdmissionPolicy's warning: the apiserver writes `Validation failed for
/// ValidatingAdmissionPolicy '<policy>' with binding '<binding>': <message>`.
const VAP_WARNING: &str = "Validation failed for ValidatingAdmissionPolicy '";

fn vap_warning(warning: &str) -> Option<&str> {
    let rest = warning.strip_prefix(VAP_WARNING)?;
    let (_, rest) = rest.split_once("' with binding '")?;
    rest.split_once("': ").map(|(_, message)| message)
}

/// [`perform`], with the messages of the admission policies' warnings: for the generated YAML those of the
/// ValidatingAdmissionPolicies, for a webhook those it returned (the apiserver passes them on as they are); the
/// apiserver's own warnings (an unknown field, ...) are left out.
fn perform_warned(
    plane: &ControlPlane,
    step: &Step,
    dry_run: bool,
    admission: &Admission,
) -> (Outcome, Vec<String>) {
    let path = |p: &str| if dry_run { dry(p) } else { p.to_owned() };
    if let Admission::Webhook(hook) = admission {
        hook.take_warnings();
    }
    let reply = match step {
        Step::Create { path: p, body } => plane.post(&path(p), body),
        Step::Patch { path: p, body } => plane.merge_patch(&path(p), body),
        Step::Delete { path: p } => plane.delete(&path(p)),
    }
    .unwrap_or_else(|e| panic!("{e:#}"));
    let returned = match admission {
        Admission::Webhook(hook) => hook.take_warnings(),
        Admission::GeneratedYaml { .. } => Vec::new(),
    };
    let warnings = reply
        .warnings
        .iter()
        .filter_map(|w| match admission {
            Admission::GeneratedYaml { .. } => vap_warning(w),
            Admission::Webhook(_) => returned.contains(w).then_some(w.as_str()),
        })
        .map(str::to_owned)
        .collect();
    let outcome = if reply.ok() {
        Ok(if matches!(step, Step::Delete { .. }) {
            Value::Null
        } else {
            reply.body
        })
    } else {
        Err(reply.message())
    };
    (outcome, warnings)
}

/// An object as a user sends it: without the fields the apiserver sets, a Pod without the priority the Priority
/// plugin computes, and a workload with what the apiserver requires and the generators leave out.
fn as_sent(object: &Value) -> Value {
    let mut object = object.clone();
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "managedFields",
            "generation",
        ] {
            metadata.remove(field);
        }
    }
    let kind = object["kind"].as_str().unwrap_or("").to_owned();
    let api_version = object["apiVersion"].as_str().unwrap_or("").to_owned();
    let Some(spec) = object.get_mut("spec").and_then(Value::as_object_mut) else {
        return object;
    };
    let builtin = matches!(api_version.as_str(), "v1" | "apps/v1" | "batch/v1");
    match (builtin, kind.as_str()) {
        (true, "Pod") => {
            spec.remove("priority");
            spec.remove("preemptionPolicy");
        }
        (true, "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet") => {
            let labels = spec
                .get("template")
                .map(|t| t["metadata"]["labels"].clone())
                .filter(Value::is_object)
                .unwrap_or(json!({"app": "web"}));
            spec.entry("selector")
                .or_insert(json!({"matchLabels": labels}));
        }
        (true, "Job") => {
            if let Some(pod) = spec
                .get_mut("template")
                .and_then(|t| t.get_mut("spec"))
                .and_then(Value::as_object_mut)
            {
                pod.entry("restartPolicy").or_insert(json!("Never"));
            }
        }
        (true, "CronJob") => {
            spec.entry("schedule").or_insert(json!("*/5 * * * *"));
            if let Some(pod) = spec
                .get_mut("jobTemplate")
                .and_then(|j| j.get_mut("spec"))
                .and_then(|s| s.get_mut("template"))
                .and_then(|t| t.get_mut("spec"))
                .and_then(Value::as_object_mut)
            {
                pod.entry("restartPolicy").or_insert(json!("Never"));
            }
        }
        _ => {}
    }
    object
}

/// The JSON merge patch (RFC 7386) that turns `old` into `new`.
fn merge_diff(old: &Value, new: &Value) -> Value {
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            let mut patch = serde_json::Map::new();
            for (key, value) in new {
                match old.get(key) {
                    Some(before) if before == value => {}
                    Some(before) if before.is_object() && value.is_object() => {
                        patch.insert(key.clone(), merge_diff(before, value));
                    }
                    _ => {
                        patch.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in old.keys() {
                if !new.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            Value::Object(patch)
        }
        _ => new.clone(),
    }
}

/// Where a request goes: the object's path (and the subresource's), and its collection.
fn paths(request: &Value, name: &str) -> (String, String) {
    let resource = &request["resource"];
    let namespace = request["namespace"].as_str();
    let (group, version, plural) = (
        resource["group"].as_str().unwrap_or(""),
        resource["version"].as_str().unwrap_or(""),
        resource["resource"].as_str().unwrap_or(""),
    );
    let collection = envtest::resource_path(group, version, plural, namespace, None);
    let mut item = envtest::resource_path(group, version, plural, namespace, Some(name));
    if let Some(sub) = request["subResource"].as_str().filter(|s| !s.is_empty()) {
        item.push('/');
        item.push_str(sub);
    }
    (item, collection)
}

/// Objects created for real by a first run, deleted after the second.
#[derive(Default)]
struct Created {
    paths: Vec<String>,
    classes: Vec<String>,
}

/// Creates for real the object an UPDATE or DELETE starts from (or finds it when it exists already).
fn create_old(
    plane: &ControlPlane,
    request: &Value,
    created: &mut Created,
) -> Result<(Value, String), String> {
    let mut old = as_sent(&request["oldObject"]);
    let (_, collection) = paths(request, "");
    // A namespaced object gets a name of its own, so that it is not in the way of a CREATE of the same name.
    if let Some(name) = old["metadata"]["name"]
        .as_str()
        .filter(|_| request["namespace"].is_string())
    {
        old["metadata"]["name"] = json!(format!("{name}-old{}", created.paths.len()));
    }
    let name = old["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let reply = plane
        .post(&collection, &old)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let stored = match reply.status {
        409 => plane
            .get(&format!("{collection}/{name}"))
            .unwrap_or_else(|e| panic!("{e:#}"))
            .into_ok()
            .map_err(|e| e.to_string())?,
        _ if reply.ok() => {
            let stored = reply.body;
            let name = stored["metadata"]["name"].as_str().unwrap_or("").to_owned();
            created.paths.push(format!("{collection}/{name}"));
            if stored["kind"] == "PriorityClass" {
                created.classes.push(name);
            }
            stored
        }
        _ => return Err(reply.message()),
    };
    let name = stored["metadata"]["name"].as_str().unwrap_or("").to_owned();
    Ok((stored, name))
}

/// The first part of the first run: the objects UPDATEs and DELETEs start from, created for real.
fn create_olds(
    plane: &ControlPlane,
    requests: &[Value],
    created: &mut Created,
) -> Vec<Option<Result<(Value, String), String>>> {
    let olds = requests
        .iter()
        .map(|request| match request["operation"].as_str() {
            Some("UPDATE" | "DELETE") => Some(create_old(plane, request, created)),
            _ => None,
        })
        .collect();
    plane
        .await_classes(&created.classes, &[])
        .unwrap_or_else(|e| panic!("{e:#}"));
    olds
}

/// The second part of the first run: the request as the admission chain sees it.
fn first_run(
    plane: &ControlPlane,
    request: &Value,
    old: Option<Result<(Value, String), String>>,
) -> FirstRun {
    let sent = as_sent(&request["object"]);
    let mut seen = request.clone();
    let (step, outcome) = match (request["operation"].as_str(), old) {
        (Some("UPDATE"), Some(Ok((stored, name)))) => {
            let body = merge_diff(&as_sent(&request["oldObject"]), &sent);
            let step = Step::Patch {
                path: paths(request, &name).0,
                body,
            };
            seen["oldObject"] = stored;
            seen["name"] = json!(name);
            let outcome = perform(plane, &step, true);
            (step, outcome)
        }
        (Some("DELETE"), Some(Ok((stored, name)))) => {
            let step = Step::Delete {
                path: paths(request, &name).0,
            };
            seen["oldObject"] = stored;
            seen["name"] = json!(name);
            let outcome = perform(plane, &step, true);
            (step, outcome)
        }
        (_, Some(Err(message))) => {
            let step = Step::Create {
                path: paths(request, "").1,
                body: as_sent(&request["oldObject"]),
            };
            return FirstRun::Refused { step, message };
        }
        _ if request["subResource"]
            .as_str()
            .is_some_and(|s| !s.is_empty()) =>
        {
            // The differential suite makes some; a client cannot send one.
            return FirstRun::Refused {
                step: Step::Create {
                    path: format!("{}/{}", paths(request, "").1, "x/status"),
                    body: sent,
                },
                message: "no CREATE of a subresource".into(),
            };
        }
        _ => {
            let step = Step::Create {
                path: paths(request, "").1,
                body: sent.clone(),
            };
            let outcome = perform(plane, &step, true).map(|mut object| {
                // The admission chain runs before the name of a generateName object is made.
                if sent["metadata"].get("name").is_none()
                    && let Some(metadata) = object["metadata"].as_object_mut()
                {
                    metadata.remove("name");
                }
                object
            });
            (step, outcome)
        }
    };
    match outcome {
        Ok(object) => {
            if !object.is_null() {
                seen["object"] = object;
            }
            FirstRun::Prepared(Prepared {
                request: seen,
                step,
            })
        }
        Err(message) => FirstRun::Refused { step, message },
    }
}

fn is_pod(request: &Value) -> bool {
    request["kind"]["kind"] == "Pod" && request["kind"]["group"] == ""
}

/// policy.wasm's decision on the request the admission chain sees; a Pod it changed is created again (dry
/// run, no admission policy) so that the apiserver's Priority plugin runs on it, as after a webhook's patch.
fn wasm_outcome(
    plane: &ControlPlane,
    instance: &PolicyInstance,
    request: &Value,
    settings: &Value,
) -> (Outcome, Vec<String>) {
    let answer = instance
        .validate(request, settings)
        .unwrap_or_else(|e| panic!("policy.wasm failed on {request}: {e:#}"));
    if !answer.accepted {
        return (Err(answer.message.unwrap_or_default()), Vec::new());
    }
    let warnings = answer.warnings.clone().unwrap_or_default();
    let outcome = match answer.mutated_object {
        Some(mutated) if is_pod(request) && request["operation"] == "CREATE" => perform(
            plane,
            &Step::Create {
                path: paths(request, "").1,
                body: as_sent(&mutated),
            },
            true,
        ),
        Some(mutated) => Ok(mutated),
        None if request["operation"] == "DELETE" => Ok(Value::Null),
        None => Ok(request["object"].clone()),
    };
    // Refused after all (by the Priority plugin on the defaulted Pod): the apiserver shows no warning either.
    let warnings = if outcome.is_ok() {
        warnings
    } else {
        Vec::new()
    };
    (outcome, warnings)
}

/// What is compared of an admitted object: for a Pod its class, priority and preemptionPolicy (the
/// ServiceAccount plugin names a token volume at random), for other kinds everything but metadata and status.
fn compared(request: &Value, object: &Value) -> Value {
    if object.is_null() {
        return Value::Null;
    }
    if is_pod(request) {
        let spec = &object["spec"];
        return json!([
            spec["priorityClassName"],
            spec["priority"],
            spec["preemptionPolicy"]
        ]);
    }
    let uid = object["metadata"]["uid"].as_str().unwrap_or("").to_owned();
    let mut object = object.clone();
    if let Some(map) = object.as_object_mut() {
        map.remove("metadata");
        map.remove("status");
    }
    // A Job's selector and template labels carry its uid, new for every dry run.
    if uid.is_empty() {
        object
    } else {
        serde_json::from_str(&object.to_string().replace(&uid, "<uid>")).expect("JSON")
    }
}

/// A difference that only the real apiserver shows (the in-process emulation runs every policy on the object
/// as sent): the name of a Pod created with `generateName` is made after the mutating admission phase, where
/// policy.wasm runs as a Kubewarden mutating webhook and sees only the prefix, and before the validating phase,
/// where the ValidatingAdmissionPolicy sees the generated name. The messages differ by that name alone.
const GENERATED_NAME: &str = "generated-name (apiserver only)";

fn differs_by_the_generated_name(request: &Value, wasm: &Verdict, native: &Verdict) -> bool {
    let metadata = &request["object"]["metadata"];
    let Some(prefix) = metadata["generateName"]
        .as_str()
        .filter(|_| metadata.get("name").is_none())
    else {
        return false;
    };
    let (Some(wasm), Some(native)) = (&wasm.message, &native.message) else {
        return false;
    };
    // Every `"<prefix><5 characters>"` of the apiserver's message back to `"<prefix>"`.
    let quoted = format!("\"{prefix}");
    let mut rest = native.as_str();
    let mut restored = String::new();
    while let Some(at) = rest.find(&quoted) {
        let after = &rest[at + quoted.len()..];
        let suffix: String = after.chars().take(6).collect();
        let generated = suffix.len() == 6
            && suffix.ends_with('"')
            && suffix[..5]
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        restored.push_str(&rest[..at + quoted.len()]);
        rest = if generated { &after[5..] } else { after };
    }
    restored.push_str(rest);
    restored != *native && restored == *wasm
}

/// The policy's message in the apiserver's: a ValidatingAdmissionPolicy's refusal reads
/// `<kind> "<name>" is forbidden: ValidatingAdmissionPolicy '<policy>' with binding '<binding>' denied request:
/// <message>`, a webhook's `admission webhook "<webhook>" denied the request: <message>`; other refusals are the
/// apiserver's own.
fn policy_message(message: &str) -> &str {
    let webhook = format!(
        "admission webhook \"{}\" denied the request: ",
        webhook::POLICY_WEBHOOK
    );
    message
        .split_once("denied request: ")
        .or_else(|| message.split_once(webhook.as_str()))
        .map_or(message, |(_, m)| m)
}

/// The verdict of an outcome with its warnings. Audit messages are not compared here: the apiserver writes
/// them to its audit log, not to the response.
fn verdict((outcome, warnings): &(Outcome, Vec<String>)) -> Verdict {
    match outcome {
        Ok(_) => Verdict {
            allowed: true,
            message: None,
            object: None,
            warnings: warnings.clone(),
            audit: Vec::new(),
        },
        Err(message) => Verdict {
            allowed: false,
            message: Some(policy_message(message).to_owned()),
            object: None,
            warnings: Vec::new(),
            audit: Vec::new(),
        },
    }
}

/// Tallies of a run through the apiserver.
#[derive(Debug, Default)]
struct Tally {
    agreed_allowed: usize,
    agreed_mutated: usize,
    agreed_denied: usize,
    /// Agreed warnings (a Warn rule's refusal, returned by policy.wasm and by the apiserver).
    agreed_warned: usize,
    /// The agreements by the request's `group/kind` and verdict (`allowed`, `mutated`, `denied`).
    agreed_by_kind: BTreeMap<(String, &'static str), usize>,
    /// Requests the apiserver refuses whatever the policies (invalid, immutable fields, missing namespace...).
    refused_by_apiserver: usize,
    /// Of those, the ones where policy.wasm's verdict differs from the apiserver's by a known difference.
    known_refused_by_apiserver: BTreeMap<&'static str, usize>,
    /// Disagreements that are known differences.
    known: BTreeMap<&'static str, usize>,
    unexplained: Vec<String>,
    /// Generated documents the apiserver refused to create.
    refused_yaml: Vec<String>,
    /// Settings whose ValidatingAdmissionPolicy has no validation (which the apiserver refuses).
    without_validations: usize,
}

/// A generated ValidatingAdmissionPolicy without any validation: settings that only set defaults, or restrict
/// nothing. The apiserver refuses it ("validations or auditAnnotations must contain at least one item").
fn without_validations(policy: &Value) -> bool {
    policy["kind"] == "ValidatingAdmissionPolicy"
        && policy["spec"]["validations"]
            .as_array()
            .is_none_or(Vec::is_empty)
        && policy["spec"]["auditAnnotations"]
            .as_array()
            .is_none_or(Vec::is_empty)
}

impl Tally {
    fn compare(
        &mut self,
        case: &str,
        request: &Value,
        wasm_warned: &(Outcome, Vec<String>),
        native_warned: &(Outcome, Vec<String>),
    ) {
        let ((wasm, wasm_warnings), (native, native_warnings)) = (wasm_warned, native_warned);
        let same = match (wasm, native) {
            (Ok(w), Ok(n)) => {
                compared(request, w) == compared(request, n) && wasm_warnings == native_warnings
            }
            (Err(w), Err(n)) => w == policy_message(n),
            _ => false,
        };
        if same {
            self.agreed_warned += native_warnings.len();
            let verdict = match native {
                Err(_) => {
                    self.agreed_denied += 1;
                    "denied"
                }
                Ok(n) if compared(request, n) != compared(request, &request["object"]) => {
                    self.agreed_mutated += 1;
                    "mutated"
                }
                Ok(_) => {
                    self.agreed_allowed += 1;
                    "allowed"
                }
            };
            let kind = &request["kind"];
            let kind = format!(
                "{}/{}",
                kind["group"].as_str().unwrap_or(""),
                kind["kind"].as_str().unwrap_or("")
            );
            *self.agreed_by_kind.entry((kind, verdict)).or_default() += 1;
            return;
        }
        let (w, n) = (verdict(wasm_warned), verdict(native_warned));
        let known = KNOWN
            .iter()
            .find(|k| (k.recognise)(request, &w, &n))
            .map(|k| k.name)
            .or_else(|| differs_by_the_generated_name(request, &w, &n).then_some(GENERATED_NAME));
        match known {
            Some(name) => *self.known.entry(name).or_default() += 1,
            None => self.unexplained.push(format!(
                "{case}\n  request: {request}\n  policy.wasm: {:?} {wasm_warnings:?}\n  apiserver:   {:?} \
                 {native_warnings:?}",
                wasm.as_ref().map(|o| compared(request, o)),
                native.as_ref().map(|o| compared(request, o)),
            )),
        }
    }

    fn assert_explained(&self) {
        assert!(
            self.refused_yaml.is_empty(),
            "kube-apiserver refused {} generated documents, the first:\n{}",
            self.refused_yaml.len(),
            self.refused_yaml
                .iter()
                .take(3)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
        assert!(
            self.unexplained.is_empty(),
            "{} disagreements between policy.wasm and the apiserver that are no known difference:\n{}",
            self.unexplained.len(),
            self.unexplained
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

/// Deletes the admission policies of an earlier scenario.
fn remove_policies(plane: &ControlPlane, policies: &[Value]) {
    for object in policies.iter().rev() {
        let path = envtest::object_path(object, true).unwrap_or_else(|e| panic!("{e:#}"));
        plane
            .delete_if_exists(&path)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
}

/// What admits the requests of the second run.
enum Admission<'a> {
    /// The output of `priority-guard vap` for a Kubernetes version, under a policy name.
    GeneratedYaml {
        version: &'a str,
        policy_name: String,
    },
    /// policy.wasm as a mutating admission webhook.
    Webhook(&'a webhook::Webhook),
}

/// One batch of requests against one set of settings on the loaded cluster: both runs, compared.
fn run_batch(
    plane: &ControlPlane,
    settings_path: &std::path::Path,
    settings: &Value,
    admission: &Admission,
    cases: &[(String, Value)],
    tally: &mut Tally,
) {
    let mut created = Created::default();
    let requests: Vec<Value> = cases.iter().map(|(_, r)| r.clone()).collect();
    let olds = create_olds(plane, &requests, &mut created);
    let state = plane.cluster_state().unwrap_or_else(|e| panic!("{e:#}"));
    let cluster = Arc::new(
        ClusterState::from_objects(state["items"].as_array().cloned().unwrap_or_default())
            .expect("the cluster's objects"),
    );
    let instance = common::module()
        .instance(Arc::clone(&cluster))
        .expect("instance");
    let firsts: Vec<(FirstRun, (Outcome, Vec<String>))> = requests
        .iter()
        .zip(olds)
        .map(|(request, old)| {
            let first = first_run(plane, request, old);
            let wasm = match &first {
                FirstRun::Prepared(prepared) => {
                    wasm_outcome(plane, &instance, &prepared.request, settings)
                }
                // What the policy makes of the request as given (the apiserver refuses it anyway).
                FirstRun::Refused { .. } => wasm_outcome(plane, &instance, request, settings),
            };
            (first, wasm)
        })
        .collect();

    let installed = match admission {
        Admission::GeneratedYaml {
            version,
            policy_name,
        } => {
            let Some(policies) =
                apply_generated(plane, settings_path, settings, version, policy_name, tally)
            else {
                delete_created(plane, &created);
                plane.settle().unwrap_or_else(|e| panic!("{e:#}"));
                return;
            };
            plane.settle().unwrap_or_else(|e| panic!("{e:#}"));
            policies
        }
        Admission::Webhook(hook) => vec![hook.install(plane, settings_path, settings, cluster)],
    };
    for ((name, request), (first, wasm)) in cases.iter().zip(&firsts) {
        match first {
            FirstRun::Prepared(prepared) => {
                let native = perform_warned(plane, &prepared.step, true, admission);
                let labels = state["items"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|o| {
                        o["kind"] == "Namespace"
                            && o["metadata"]["name"] == prepared.request["namespace"]
                    })
                    .map(|o| o["metadata"]["labels"].clone());
                let case = format!("{name}\n  namespace labels: {}", labels.unwrap_or_default());
                tally.compare(&case, &prepared.request, wasm, &native);
            }
            FirstRun::Refused { step, message } => {
                // The apiserver refuses these whatever the policies (invalid objects, immutable fields, a
                // missing namespace or class): nothing to compare, unless it is a known difference.
                tally.refused_by_apiserver += 1;
                let native = perform_warned(plane, step, true, admission);
                assert!(
                    native.0.is_err(),
                    "{name}: refused without the policies ({message}), admitted with them"
                );
                let (w, n) = (verdict(wasm), verdict(&native));
                if let Some(known) = KNOWN.iter().find(|k| (k.recognise)(request, &w, &n)) {
                    *tally
                        .known_refused_by_apiserver
                        .entry(known.name)
                        .or_default() += 1;
                }
            }
        }
    }
    match admission {
        Admission::GeneratedYaml { .. } => {
            remove_policies(plane, &installed);
            delete_created(plane, &created);
            // The next batch starts without these policies.
            plane.settle().unwrap_or_else(|e| panic!("{e:#}"));
        }
        Admission::Webhook(hook) => {
            for configuration in &installed {
                hook.remove(plane, configuration);
            }
            delete_created(plane, &created);
        }
    }
}

/// Applies the output of `priority-guard vap`; `None` when the apiserver refused a document (noted in `tally`,
/// which fails the test after the other cases) and nothing stays applied.
fn apply_generated(
    plane: &ControlPlane,
    settings_path: &std::path::Path,
    settings: &Value,
    version: &str,
    policy_name: &str,
    tally: &mut Tally,
) -> Option<Vec<Value>> {
    let mut policies = engines::generated_policies(settings_path, version, policy_name);
    if let Some(vap) = policies.first().filter(|p| without_validations(p)) {
        // Pinned by `generated_yaml_with_nothing_to_validate_is_accepted`; the MutatingAdmissionPolicy is
        // still compared.
        let name = vap["metadata"]["name"].clone();
        policies.retain(|p| {
            p["metadata"]["name"] != name
                || p["kind"]
                    .as_str()
                    .is_some_and(|k| k.starts_with("Mutating"))
        });
        tally.without_validations += 1;
    }
    for object in &policies {
        if let Err(e) = plane.apply(object) {
            // The generated YAML must be accepted as it is: a refusal fails the test, after the other cases.
            tally.refused_yaml.push(format!(
                "{} {} for settings {settings}: {e:#}",
                object["kind"].as_str().unwrap_or(""),
                object["apiVersion"].as_str().unwrap_or("")
            ));
            remove_policies(plane, &policies);
            return None;
        }
    }
    Some(policies)
}

fn delete_created(plane: &ControlPlane, created: &Created) {
    for path in created.paths.iter().rev() {
        plane
            .delete_if_exists(path)
            .unwrap_or_else(|e| panic!("{e:#}"));
    }
}

/// Every fixture scenario's cluster loaded and its requests carried out, admitted by what `admission` gives for the
/// scenario; the tally and the number of requests.
fn every_fixture<'a>(
    plane: &ControlPlane,
    admission: impl Fn(&engines::Scenario) -> Admission<'a>,
) -> (Tally, usize) {
    let mut tally = Tally::default();
    let mut total = 0;
    for scenario in engines::scenarios() {
        plane
            .load_cluster(&scenario.namespaces, &scenario.classes)
            .unwrap_or_else(|e| panic!("{}: {e:#}", scenario.name));
        let cases: Vec<(String, Value)> = scenario
            .requests
            .iter()
            .map(|(stem, _, request)| (format!("{}/{stem}", scenario.name), request.clone()))
            .collect();
        total += cases.len();
        run_batch(
            plane,
            &scenario.settings_path,
            &scenario.settings,
            &admission(&scenario),
            &cases,
            &mut tally,
        );
    }
    (tally, total)
}

fn fixtures_on_the_apiserver(version: &str) {
    let plane = engines::control_plane();
    let _turn = engines::exclusive();
    let (tally, total) = every_fixture(plane, |scenario| Admission::GeneratedYaml {
        version,
        policy_name: format!("pg-{}-{}", scenario.name, version.replace('.', "-")),
    });
    println!(
        "fixtures on kube-apiserver with the YAML for Kubernetes {version}: {total} requests, {tally:?}"
    );
    tally.assert_explained();
    // The comparison proves something only if the policies refused and defaulted on the apiserver.
    assert!(
        tally.agreed_denied >= 20 && tally.agreed_mutated >= 10 && tally.agreed_allowed >= 10,
        "{tally:?}"
    );
}

#[test]
fn fixtures_on_the_apiserver_with_the_yaml_for_kubernetes_1_36() {
    fixtures_on_the_apiserver("1.36");
}

/// MutatingAdmissionPolicy v1beta1 (served with `--runtime-config=admissionregistration.k8s.io/v1beta1=true`).
#[test]
fn fixtures_on_the_apiserver_with_the_yaml_for_kubernetes_1_35() {
    fixtures_on_the_apiserver("1.35");
}

/// Random cases of the differential suite through the apiserver with the generated YAML.
/// `PRIORITY_GUARD_APISERVER_CASES` (default 3,000) and `PRIORITY_GUARD_APISERVER_SEED` set the run.
#[test]
fn random_cases_on_the_apiserver_agree_with_policy_wasm() {
    let cases = differential::env_number("PRIORITY_GUARD_APISERVER_CASES", 3_000) as usize;
    let seed = differential::env_number("PRIORITY_GUARD_APISERVER_SEED", 0x5eed_a915);
    let tally = random_cases(cases, seed, None);
    assert!(
        tally.agreed_denied > cases / 20
            && tally.agreed_mutated > cases / 300
            && tally.agreed_allowed > cases / 10
            && (cases < 1000 || tally.agreed_warned > 0),
        "{tally:?}"
    );
}

/// Random cases of the differential suite through policy.wasm as a webhook behind the apiserver: no difference
/// at all, known or not. `PRIORITY_GUARD_WEBHOOK_CASES` (default 400) and `PRIORITY_GUARD_APISERVER_SEED` set the
/// run.
#[test]
fn random_cases_through_policy_wasm_as_a_webhook_agree_with_policy_wasm() {
    let cases = differential::env_number("PRIORITY_GUARD_WEBHOOK_CASES", 400) as usize;
    let seed = differential::env_number("PRIORITY_GUARD_APISERVER_SEED", 0x5eed_a915);
    let hook = webhook::webhook(engines::control_plane());
    let tally = random_cases(cases, seed ^ 0x00eb_000c, Some(hook));
    assert!(tally.known.is_empty(), "{tally:?}");
    assert!(
        tally.agreed_denied > cases / 20 && tally.agreed_allowed > cases / 10,
        "{tally:?}"
    );
}

/// `cases` random cases from `seed`, in batches of one set of settings and one cluster each, through the generated
/// YAML or, with a webhook, through policy.wasm behind the apiserver; every difference explained.
fn random_cases(cases: usize, seed: u64, webhook: Option<&webhook::Webhook>) -> Tally {
    const CASES_PER_SETTINGS: usize = 40;
    let plane = engines::control_plane();
    let _turn = engines::exclusive();
    let dir = engines::work_dir("apiserver-random");
    let settings_path = dir.join(format!("settings-{}.json", std::process::id()));
    let mut rng = Rng::seeded(seed);
    let mut tally = Tally::default();
    let mut done = 0;
    let mut world = 0;
    while done < cases {
        let settings = random::random_settings(&mut rng);
        let namespaces = random::namespace_objects(&mut rng);
        let classes = random::class_objects(&mut rng);
        std::fs::write(&settings_path, settings.to_string()).expect("write the settings");
        let wanted: Vec<Value> = classes.values().cloned().collect();
        let namespaces: Vec<Value> = namespaces.values().cloned().collect();
        plane
            .load_cluster(&namespaces, &wanted)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let batch: Vec<(String, Value)> = (0..CASES_PER_SETTINGS.min(cases - done))
            .map(|_| {
                let request = random::random_request(&mut rng, done, &classes);
                done += 1;
                (
                    format!("seed {seed:#x} case {}:\n  settings: {settings}", done - 1),
                    request,
                )
            })
            .collect();
        run_batch(
            plane,
            &settings_path,
            &settings,
            &match webhook {
                Some(hook) => Admission::Webhook(hook),
                None => Admission::GeneratedYaml {
                    version: "1.36",
                    policy_name: format!("pg-random-{world}"),
                },
            },
            &batch,
            &mut tally,
        );
        world += 1;
    }
    let _ = std::fs::remove_file(&settings_path);
    let through = if webhook.is_some() {
        "policy.wasm as a webhook"
    } else {
        "the generated YAML"
    };
    println!(
        "{cases} random cases (seed {seed:#x}) on kube-apiserver through {through}: {tally:?}"
    );
    tally.assert_explained();
    tally
}

/// Settings that only set defaults (or restrict nothing) generate a ValidatingAdmissionPolicy with
/// `validations: []`, which kube-apiserver refuses, so `kubectl apply` of the generated YAML fails. The
/// in-process emulation accepted it.
#[test]
fn generated_yaml_with_nothing_to_validate_is_accepted() {
    let plane = engines::control_plane();
    let _turn = engines::exclusive();
    let dir = engines::work_dir("apiserver-yaml");
    let settings = dir.join(format!("defaults-only-{}.yaml", std::process::id()));
    std::fs::write(
        &settings,
        "rules:\n  - name: production\n    namespaces: [prod]\n    defaultPriorityClass: prod-pc\n",
    )
    .expect("write the settings");
    let mut refused = Vec::new();
    for version in ["1.36", "1.35"] {
        let policies = engines::generated_policies(&settings, version, "pg-defaults-only");
        let kinds: Vec<&str> = policies.iter().filter_map(|o| o["kind"].as_str()).collect();
        assert_eq!(
            kinds,
            ["MutatingAdmissionPolicy", "MutatingAdmissionPolicyBinding"],
            "{version}: the defaults, and no ValidatingAdmissionPolicy without validations"
        );
        for object in &policies {
            if let Err(e) = plane.apply(object) {
                refused.push(format!("{version}: {} {e:#}", object["kind"]));
            }
        }
        remove_policies(plane, &policies);
    }
    let _ = std::fs::remove_file(&settings);
    plane.settle().unwrap_or_else(|e| panic!("{e:#}"));
    assert!(
        refused.is_empty(),
        "kube-apiserver refused the YAML of `priority-guard vap` for defaults-only settings:\n{}",
        refused.join("\n")
    );
}

/// Every fixture request through policy.wasm as a mutating webhook behind the apiserver (the rules of `priority-guard
/// scaffold policy`, the cluster's lookups), against policy.wasm's own decision: the same verdicts and messages,
/// and defaulted Pods admitted with their class's priority and preemptionPolicy after the Priority plugin's second
/// run. No known difference applies: both sides are policy.wasm, the apiserver only carries its answer out.
#[test]
fn fixtures_through_policy_wasm_as_a_webhook_on_the_apiserver() {
    let plane = engines::control_plane();
    let _turn = engines::exclusive();
    let hook = webhook::webhook(plane);
    let (tally, total) = every_fixture(plane, |_| Admission::Webhook(hook));
    println!(
        "fixtures through policy.wasm as a webhook on kube-apiserver: {total} requests, {tally:?}"
    );
    tally.assert_explained();
    assert!(
        tally.known.is_empty(),
        "policy.wasm behind the apiserver differs from policy.wasm: {tally:?}"
    );
    // A Warn rule's refusal reaches the client as the apiserver's Warning header, the policy's message as it is.
    assert!(tally.agreed_warned > 0, "{tally:?}");
    let agreed = |kind: &str, verdict: &str| {
        tally
            .agreed_by_kind
            .get(&(kind.to_owned(), verdict))
            .copied()
            .unwrap_or(0)
    };
    for (kind, verdict) in [
        // Defaulted Pods, with the priority of the class the Priority plugin computed after the patch.
        ("/Pod", "mutated"),
        ("/Pod", "denied"),
        ("apps/Deployment", "denied"),
        ("apps/Deployment", "mutated"),
        // Custom kinds, served by the CRDs of `engines::control_plane`.
        ("argoproj.io/Rollout", "denied"),
        ("argoproj.io/Rollout", "mutated"),
        ("batch.volcano.sh/Job", "denied"),
        // PriorityClass objects, through the settings' `priorityClasses` rule.
        ("scheduling.k8s.io/PriorityClass", "denied"),
        ("scheduling.k8s.io/PriorityClass", "allowed"),
    ] {
        assert!(
            agreed(kind, verdict) > 0,
            "no {kind} {verdict} through the webhook as by policy.wasm: {tally:?}"
        );
    }
}

/// The rollout scenario's rules on the apiserver, one per action: a server-side dry run of a Pod that the Warn
/// rule refuses succeeds, and the response carries the warning with policy.wasm's message (what `kubectl`
/// prints as `Warning: ...`); the Deny rule still refuses; the Audit rule's refusal is accepted without a
/// warning (its message goes to the audit log).
#[test]
fn warn_rules_warn_deny_rules_refuse_and_audit_rules_accept_on_the_apiserver() {
    let plane = engines::control_plane();
    let _turn = engines::exclusive();
    let scenario = engines::scenarios()
        .into_iter()
        .find(|s| s.name == "rollout")
        .expect("the rollout scenario");
    plane
        .load_cluster(&scenario.namespaces, &scenario.classes)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let state = plane.cluster_state().unwrap_or_else(|e| panic!("{e:#}"));
    let instance = common::module()
        .instance(Arc::new(
            ClusterState::from_objects(state["items"].as_array().cloned().unwrap_or_default())
                .expect("the cluster's objects"),
        ))
        .expect("instance");
    let policies = engines::generated_policies(&scenario.settings_path, "1.36", "pg-actions");
    let bindings: Vec<(&str, &Value)> = policies
        .iter()
        .filter(|p| p["kind"] == "ValidatingAdmissionPolicyBinding")
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap_or(""),
                &p["spec"]["validationActions"],
            )
        })
        .collect();
    assert_eq!(
        bindings,
        [
            ("pg-actions", &json!(["Deny"])),
            ("pg-actions-warn", &json!(["Warn"])),
            ("pg-actions-audit", &json!(["Audit"]))
        ]
    );
    for object in &policies {
        plane
            .apply(object)
            .unwrap_or_else(|e| panic!("{}: {e:#}", object["kind"]));
    }
    plane.settle().unwrap_or_else(|e| panic!("{e:#}"));

    let pod = |namespace: &str, class: &str| {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web", "namespace": namespace},
               "spec": {"priorityClassName": class,
                        "containers": [{"name": "app", "image": "registry.example.com/app:1"}]}})
    };
    // policy.wasm's answer to the same Pod, as the apiserver would send it (resolved by the Priority plugin).
    let wasm = |object: &Value| {
        let mut resolved = object.clone();
        let class = scenario
            .classes
            .iter()
            .find(|c| c["metadata"]["name"] == object["spec"]["priorityClassName"])
            .expect("the class exists");
        resolved["spec"]["priority"] = class["value"].clone();
        resolved["spec"]["preemptionPolicy"] = class
            .get("preemptionPolicy")
            .cloned()
            .unwrap_or(json!("PreemptLowerPriority"));
        let request = json!({"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": "CREATE",
            "namespace": object["metadata"]["namespace"], "name": "web", "object": resolved});
        instance
            .validate(&request, &scenario.settings)
            .unwrap_or_else(|e| panic!("{e:#}"))
    };
    let create = |object: &Value| {
        let namespace = object["metadata"]["namespace"].as_str().unwrap_or("");
        plane
            .post(
                &dry(&format!("/api/v1/namespaces/{namespace}/pods")),
                object,
            )
            .unwrap_or_else(|e| panic!("{e:#}"))
    };

    // Warn: admitted, with the policy's message as the warning.
    let warned = pod("batch", "dev-pc");
    let reply = create(&warned);
    let answer = wasm(&warned);
    let message = answer
        .warnings
        .as_ref()
        .and_then(|w| w.first())
        .expect("policy.wasm warns");
    assert!(answer.accepted, "{answer:?}");
    assert!(reply.ok(), "{}: {}", reply.status, reply.message());
    assert_eq!(
        reply.warnings,
        [format!(
            "Validation failed for ValidatingAdmissionPolicy 'pg-actions-warn' with binding \
             'pg-actions-warn': {message}"
        )]
    );

    // Deny: refused with the policy's message.
    let denied = pod("prod", "dev-pc");
    let reply = create(&denied);
    let answer = wasm(&denied);
    assert!(!answer.accepted, "{answer:?}");
    assert!(!reply.ok(), "{}", reply.body);
    assert_eq!(
        policy_message(&reply.message()),
        answer.message.as_deref().unwrap_or("")
    );

    // Audit: admitted without a warning; policy.wasm gives the same message as its audit annotation.
    let audited = pod("dev", "prod-pc");
    let reply = create(&audited);
    let answer = wasm(&audited);
    assert!(reply.ok(), "{}: {}", reply.status, reply.message());
    assert!(reply.warnings.is_empty(), "{:?}", reply.warnings);
    assert!(
        answer
            .audit_annotations
            .as_ref()
            .is_some_and(|a| a.contains_key("violation")),
        "{answer:?}"
    );
    remove_policies(plane, &policies);
    plane.settle().unwrap_or_else(|e| panic!("{e:#}"));
}
