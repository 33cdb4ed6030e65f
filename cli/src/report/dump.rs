//! Reading a cluster dump: the output of `kubectl get ... -A -o json` (or `-o yaml`), a `List`, typed lists as
//! the API returns them, several JSON values one after the other, or several YAML documents.
//!
//! JSON is read without building a tree: each object is kept as a slice of the dump's text (what the sdk's
//! decision reads) with the few fields the report needs beside it, so that memory stays near the dump's size.
//! YAML documents are converted to JSON text one by one.
//!
//! Nothing here fails on one bad object: an object the report cannot use is skipped, and what was skipped is
//! said, naming the document, the item and the missing field.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::resources::{self, ContainerDoc, PodResources, QuantityDoc, ResourcesDoc};

/// An owner named in `metadata.ownerReferences`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OwnerRef {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

/// What the report knows of a Pod, beside its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PodFacts {
    /// `spec.priority`, as the apiserver filled it in.
    pub priority: Option<i32>,
    /// `spec.priorityClassName` (empty when none).
    pub class: String,
    /// `spec.preemptionPolicy`.
    pub preemption_policy: Option<String>,
    /// `spec.terminationGracePeriodSeconds` (Kubernetes' default 30 when absent).
    pub grace_seconds: i64,
    /// `status.phase`.
    pub phase: Option<String>,
    /// QoS and effective requests, or why the resources cannot be read.
    pub resources: Result<PodResources, String>,
}

impl PodFacts {
    /// A Pod that no longer runs (and so neither preempts nor is preempted).
    pub(crate) fn finished(&self) -> bool {
        matches!(self.phase.as_deref(), Some("Succeeded" | "Failed"))
    }
}

/// One object of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DumpObject<'t> {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// Empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.uid` (empty when absent, as in hand-written dumps).
    pub uid: String,
    pub owners: Vec<OwnerRef>,
    /// `metadata.labels`, kept for Namespaces only.
    pub labels: Option<BTreeMap<String, String>>,
    /// The object's JSON text.
    pub json: Cow<'t, str>,
    /// For a Pod (`v1`, `Pod`), what the exposure reads.
    pub pod: Option<PodFacts>,
}

/// What was read, and what was skipped.
#[derive(Debug, Default)]
pub(crate) struct Dump<'t> {
    pub objects: Vec<DumpObject<'t>>,
    /// One sentence per object or document skipped.
    pub skipped: Vec<String>,
}

/// The top-level fields of an object or list, unparsed.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "apiVersion", borrow, default)]
    api_version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
    #[serde(borrow, default)]
    spec: Option<&'a RawValue>,
    #[serde(borrow, default)]
    status: Option<&'a RawValue>,
    #[serde(borrow, default)]
    items: Option<&'a RawValue>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaDoc {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    owner_references: Option<Vec<OwnerRef>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PodSpecDoc {
    #[serde(default)]
    priority: Option<i32>,
    #[serde(default)]
    priority_class_name: Option<String>,
    #[serde(default)]
    preemption_policy: Option<String>,
    #[serde(default)]
    termination_grace_period_seconds: Option<i64>,
    #[serde(default)]
    containers: Option<Vec<ContainerDoc>>,
    #[serde(default)]
    init_containers: Option<Vec<ContainerDoc>>,
    #[serde(default)]
    overhead: Option<BTreeMap<String, QuantityDoc>>,
    #[serde(default)]
    resources: Option<ResourcesDoc>,
}

#[derive(Deserialize)]
struct PodStatusDoc {
    #[serde(default)]
    phase: Option<String>,
}

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECONDS: i64 = 30;

/// A string field: absent and `null` are `None`.
fn string_field(raw: Option<&RawValue>, field: &str) -> Result<Option<String>, String> {
    match raw.map(RawValue::get) {
        None | Some("null") => Ok(None),
        Some(text) if text.starts_with('"') => serde_json::from_str(text)
            .map(Some)
            .map_err(|e| format!("its {field} cannot be read: {e}")),
        Some(_) => Err(format!("its {field} is not a string")),
    }
}

impl<'t> Dump<'t> {
    /// Reads `text`, JSON or YAML (see the module documentation). A text that is neither is one skipped entry
    /// and no object.
    pub(crate) fn read(text: &'t str) -> Self {
        let mut dump = Dump::default();
        let trimmed = text.trim_start();
        if trimmed.starts_with('{') || trimmed.starts_with('[') {
            let stream = serde_json::Deserializer::from_str(text).into_iter::<&'t RawValue>();
            for (index, document) in stream.enumerate() {
                let place = format!("document {}", index + 1);
                match document {
                    Ok(raw) => dump.add_json_document(raw.get(), &place),
                    Err(error) => {
                        dump.skipped.push(format!(
                            "{place} and the rest of the input: not JSON ({error})"
                        ));
                        break;
                    }
                }
            }
        } else {
            dump.read_yaml(text);
        }
        dump
    }

    fn read_yaml(&mut self, text: &str) {
        for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
            let place = format!("document {}", index + 1);
            let value = match serde_json::Value::deserialize(document) {
                Ok(serde_json::Value::Null) => continue,
                Ok(value) => value,
                Err(error) => {
                    self.skipped.push(format!(
                        "{place} and the rest of the input: not YAML ({error})"
                    ));
                    break;
                }
            };
            // The document as JSON text, then read as JSON documents are; its objects own their text.
            let (objects, mut skipped) = read_owned(&value.to_string(), &place);
            self.skipped.append(&mut skipped);
            self.objects.extend(objects);
        }
    }

    /// One document: a list, or an object.
    fn add_json_document(&mut self, json: &'t str, place: &str) {
        if !json.trim_start().starts_with('{') {
            self.skipped.push(format!(
                "{place}: not a Kubernetes object (a JSON {})",
                if json.trim_start().starts_with('[') {
                    "array"
                } else {
                    "scalar"
                }
            ));
            return;
        }
        let head: Head<'t> = match serde_json::from_str(json) {
            Ok(head) => head,
            Err(error) => {
                self.skipped
                    .push(format!("{place}: the object cannot be read ({error})"));
                return;
            }
        };
        let kind = string_field(head.kind, "kind").ok().flatten();
        let list_kind = kind.filter(|k| k.ends_with("List") && head.items.is_some());
        let Some(list_kind) = list_kind else {
            self.add_object(json, &head, None, place);
            return;
        };
        let items = head.items.map_or("null", RawValue::get);
        let items: Vec<&'t RawValue> = match items {
            "null" => Vec::new(),
            _ => match serde_json::from_str(items) {
                Ok(items) => items,
                Err(_) => {
                    self.skipped.push(format!(
                        "{place}: the items of the {list_kind} are not an array"
                    ));
                    return;
                }
            },
        };
        // Items of a typed list (as the API returns them) may lack the apiVersion and kind the list implies.
        let api_version = string_field(head.api_version, "apiVersion").ok().flatten();
        let implied = match (list_kind.strip_suffix("List"), api_version) {
            (Some(kind), Some(api_version)) if !kind.is_empty() => {
                Some((api_version, kind.to_owned()))
            }
            _ => None,
        };
        for (index, item) in items.into_iter().enumerate() {
            let item_place = format!("{place}, item {} of the {list_kind}", index + 1);
            let text = item.get();
            if !text.starts_with('{') {
                self.skipped
                    .push(format!("{item_place}: not a Kubernetes object"));
                continue;
            }
            match serde_json::from_str::<Head<'t>>(text) {
                Ok(head) => self.add_object(text, &head, implied.as_ref(), &item_place),
                Err(error) => self
                    .skipped
                    .push(format!("{item_place}: the object cannot be read ({error})")),
            }
        }
    }

    fn add_object(
        &mut self,
        json: &'t str,
        head: &Head<'t>,
        implied: Option<&(String, String)>,
        place: &str,
    ) {
        match object(json, head, implied) {
            Ok(object) => self.objects.push(object),
            Err(error) => self.skipped.push(format!("{place}: {error}")),
        }
    }
}

/// The objects of one JSON document, owning their text.
fn read_owned(json: &str, place: &str) -> (Vec<DumpObject<'static>>, Vec<String>) {
    let mut dump = Dump::default();
    dump.add_json_document(json, place);
    let objects = dump
        .objects
        .into_iter()
        .map(DumpObject::into_owned)
        .collect();
    (objects, dump.skipped)
}

/// Reads one object's fields.
fn object<'t>(
    json: &'t str,
    head: &Head<'t>,
    implied: Option<&(String, String)>,
) -> Result<DumpObject<'t>, String> {
    let api_version = string_field(head.api_version, "apiVersion")?
        .or_else(|| implied.map(|(v, _)| v.clone()))
        .filter(|v| !v.is_empty());
    let kind = string_field(head.kind, "kind")?
        .or_else(|| implied.map(|(_, k)| k.clone()))
        .filter(|k| !k.is_empty());
    let (api_version, kind) = match (api_version, kind) {
        (Some(api_version), Some(kind)) => (api_version, kind),
        (None, None) => return Err("not a Kubernetes object (no apiVersion or kind)".to_owned()),
        (None, Some(kind)) => return Err(format!("the {kind} has no apiVersion")),
        (Some(_), None) => return Err("the object has no kind".to_owned()),
    };
    let meta: MetaDoc = match head.metadata.map(RawValue::get) {
        None | Some("null") => return Err(format!("the {kind} has no metadata")),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| format!("the metadata of the {kind} cannot be read ({e})"))?,
    };
    let name = meta
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("the {kind} has no metadata.name"))?;
    let is_pod = api_version == "v1" && kind == "Pod";
    let pod = if is_pod {
        Some(pod_facts(head).map_err(|e| format!("Pod \"{name}\": {e}"))?)
    } else {
        None
    };
    Ok(DumpObject {
        labels: (api_version == "v1" && kind == "Namespace")
            .then_some(meta.labels.unwrap_or_default()),
        api_version,
        kind,
        name,
        namespace: meta.namespace.unwrap_or_default(),
        uid: meta.uid.unwrap_or_default(),
        owners: meta.owner_references.unwrap_or_default(),
        json: Cow::Borrowed(json),
        pod,
    })
}

fn pod_facts(head: &Head<'_>) -> Result<PodFacts, String> {
    let spec: PodSpecDoc = match head.spec.map(RawValue::get) {
        None | Some("null") => return Err("no spec".to_owned()),
        Some(text) => {
            serde_json::from_str(text).map_err(|e| format!("its spec cannot be read ({e})"))?
        }
    };
    let phase = match head.status.map(RawValue::get) {
        None | Some("null") => None,
        Some(text) => {
            serde_json::from_str::<PodStatusDoc>(text)
                .map_err(|e| format!("its status cannot be read ({e})"))?
                .phase
        }
    };
    let resources = resources::pod_resources(
        spec.containers.as_deref().unwrap_or_default(),
        spec.init_containers.as_deref().unwrap_or_default(),
        spec.resources.as_ref(),
        spec.overhead.as_ref(),
    );
    Ok(PodFacts {
        priority: spec.priority,
        class: spec.priority_class_name.unwrap_or_default(),
        preemption_policy: spec.preemption_policy,
        grace_seconds: spec
            .termination_grace_period_seconds
            .unwrap_or(DEFAULT_GRACE_SECONDS),
        phase,
        resources,
    })
}

impl DumpObject<'_> {
    /// The same object owning its text.
    fn into_owned(self) -> DumpObject<'static> {
        DumpObject {
            json: Cow::Owned(self.json.into_owned()),
            api_version: self.api_version,
            kind: self.kind,
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            owners: self.owners,
            labels: self.labels,
            pod: self.pod,
        }
    }

    /// `Deployment/web`, as the report names an object in its namespace.
    pub(crate) fn reference(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }

    /// The group of the apiVersion (empty for the core group).
    pub(crate) fn group(&self) -> &str {
        self.api_version
            .split_once('/')
            .map_or("", |(group, _)| group)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    fn names(dump: &Dump<'_>) -> Vec<String> {
        dump.objects
            .iter()
            .map(|o| format!("{} {}/{}", o.api_version, o.kind, o.name))
            .collect()
    }

    #[test]
    fn lists_typed_lists_streams_and_yaml_give_the_same_objects() {
        let list = r#"{"apiVersion": "v1", "kind": "List", "items": [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}},
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}}]}"#;
        let typed = r#"{"apiVersion": "v1", "kind": "NamespaceList", "items": [{"metadata": {"name": "prod",
            "labels": {"env": "prod"}}}]}
            {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "prod"}}"#;
        let yaml = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: prod\n  labels: {env: prod}\n---\n\
                    ---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web, namespace: prod}\n";
        for text in [list, typed, yaml] {
            let dump = Dump::read(text);
            assert!(dump.skipped.is_empty(), "{:?}", dump.skipped);
            assert_eq!(
                names(&dump),
                ["v1 Namespace/prod", "apps/v1 Deployment/web"],
                "{text}"
            );
            assert_eq!(
                dump.objects[0].labels.as_ref().unwrap()["env"],
                "prod",
                "{text}"
            );
            assert_eq!(dump.objects[1].namespace, "prod");
        }
    }

    #[test]
    fn bad_objects_are_skipped_naming_what_is_missing_and_the_rest_is_read() {
        let text = r#"{"kind": "List", "apiVersion": "v1", "items": [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": "a"}, "spec": {}},
            {"kind": "Pod", "metadata": {"name": "p"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "q"}, "spec": {"containers": 5}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "r", "namespace": "a"},
             "spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}},
            {"hello": "world"},
            7,
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "ok", "namespace": "a"}, "spec": {}}]}
            [1, 2]
            {"apiVersion": "v1", "kind": "ConfigMapList", "items": {"a": 1}}
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}}
            {"broken": "#;
        let dump = Dump::read(text);
        assert_eq!(names(&dump), ["v1 Pod/r", "v1 Pod/ok", "v1 Namespace/a"]);
        let resources = &dump.objects[0].pod.as_ref().unwrap().resources;
        assert_eq!(
            resources.as_ref().unwrap_err(),
            "spec.containers[0].resources.requests.cpu: `lots` is not a quantity"
        );
        let expected = [
            "document 1, item 1 of the List: the Pod has no metadata.name",
            "document 1, item 2 of the List: the Pod has no apiVersion",
            "document 1, item 3 of the List: Pod \"p\": no spec",
            "document 1, item 4 of the List: Pod \"q\": its spec cannot be read",
            "document 1, item 6 of the List: not a Kubernetes object (no apiVersion or kind)",
            "document 1, item 7 of the List: not a Kubernetes object",
            "document 2: not a Kubernetes object (a JSON array)",
            "document 3: the items of the ConfigMapList are not an array",
            "document 5 and the rest of the input: not JSON",
        ];
        assert_eq!(dump.skipped.len(), expected.len(), "{:#?}", dump.skipped);
        for (skipped, expected) in dump.skipped.iter().zip(expected) {
            assert!(
                skipped.starts_with(expected),
                "{skipped}\nexpected {expected}"
            );
        }
    }

    #[test]
    fn text_that_is_neither_json_nor_yaml_objects_is_said_so() {
        let dump = Dump::read("just some words");
        assert!(dump.objects.is_empty());
        assert_eq!(
            dump.skipped,
            ["document 1: not a Kubernetes object (a JSON scalar)"]
        );
        let dump = Dump::read("a: [\n");
        assert!(dump.skipped[0].starts_with("document 1 and the rest of the input: not YAML"));
    }
}
