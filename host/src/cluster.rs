//! A read-only, in-memory stand-in for a Kubernetes cluster, built from a file of objects
//! (`kubectl get namespaces,priorityclasses -o yaml`), that answers the lookups of context-aware
//! policies.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::{HostError, Result};
use crate::selector::{FieldSelector, LabelSelector};

/// The identity of a stored object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct ObjectKey {
    api_version: String,
    kind: String,
    /// Empty for cluster-scoped objects.
    namespace: String,
    name: String,
}

/// Kinds that are cluster-scoped in Kubernetes, used when the state holds no object of a kind to
/// tell its scope from.
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Whether a resource type is namespaced, as far as the host can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    Namespaced,
    Cluster,
    Unknown,
}

/// A set of Kubernetes objects indexed by `(apiVersion, kind, namespace, name)`.
///
/// [`ClusterState::default`] (same as [`ClusterState::disconnected`]) stands for "no cluster": every
/// lookup fails with [`HostError::NoCluster`], as when a policy runs without access to a cluster.
/// A state built from objects (even none) is "connected": lookups of absent objects fail with
/// [`HostError::NotFound`] and lists are empty.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClusterState {
    connected: bool,
    objects: BTreeMap<ObjectKey, Value>,
}

fn required_str<'a>(object: &'a Value, pointer: &str, what: &str) -> Result<&'a str, String> {
    match object.pointer(pointer) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(format!("it has no {what}")),
        Some(other) => Err(format!("its {what} is not a string: {other}")),
    }
}

/// Whether a document is a list of objects: kind `List` or `<Something>List`, with `items`.
fn is_list(doc: &Value) -> bool {
    doc.get("items").is_some()
        && doc
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(|kind| kind.ends_with("List"))
}

impl ClusterState {
    /// A state without cluster: lookups fail with [`HostError::NoCluster`].
    #[must_use]
    pub fn disconnected() -> Self {
        Self::default()
    }

    /// A connected cluster holding no object.
    #[must_use]
    pub fn empty() -> Self {
        Self {
            connected: true,
            objects: BTreeMap::new(),
        }
    }

    /// Whether lookups are answered (see the type's documentation).
    #[must_use]
    pub fn is_connected(&self) -> bool {
        self.connected
    }

    /// The number of stored objects.
    #[must_use]
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether no object is stored.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Builds a connected state from objects, each a Kubernetes object or a list of them (see
    /// [`ClusterState::from_yaml_or_json`]).
    ///
    /// # Errors
    /// [`HostError::ClusterState`] for an object without apiVersion, kind or metadata.name.
    pub fn from_objects(objects: impl IntoIterator<Item = Value>) -> Result<Self> {
        let mut state = Self::empty();
        for (index, doc) in objects.into_iter().enumerate() {
            state.add_document(doc, &format!("document {}", index + 1))?;
        }
        Ok(state)
    }

    /// Parses a YAML or JSON file of Kubernetes objects: a single object, a list (kind `List`, or
    /// any `<Kind>List` with `items`), several JSON values one after the other, or several YAML
    /// documents separated by `---`, each of which may be a list. Empty YAML documents are
    /// skipped.
    ///
    /// Every object needs `apiVersion`, `kind` and `metadata.name`; items of a typed list such as
    /// `NamespaceList` that lack `apiVersion`/`kind` (as the raw API returns them) get the list's
    /// apiVersion and the kind without `List`. When two objects have the same identity, the later
    /// one wins.
    ///
    /// # Errors
    /// [`HostError::ClusterState`] naming the document (and item) that is malformed.
    pub fn from_yaml_or_json(text: &str) -> Result<Self> {
        let docs: Vec<Value> = match serde_json::Deserializer::from_str(text)
            .into_iter::<Value>()
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(docs) => docs,
            Err(_) => {
                let mut docs = Vec::new();
                for (index, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
                    let value = Value::deserialize(doc).map_err(|e| {
                        HostError::ClusterState(format!(
                            "document {} is neither JSON nor YAML: {e}",
                            index + 1
                        ))
                    })?;
                    docs.push(value);
                }
                docs
            }
        };
        Self::from_objects(docs.into_iter().filter(|doc| !doc.is_null()))
    }

    /// Reads [`ClusterState::from_yaml_or_json`] from a file.
    ///
    /// # Errors
    /// [`HostError::Io`] when the file cannot be read, otherwise as
    /// [`ClusterState::from_yaml_or_json`] with the file named in the message.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| HostError::Io {
            path: path.to_owned(),
            source,
        })?;
        Self::from_yaml_or_json(&text).map_err(|e| match e {
            HostError::ClusterState(message) => {
                HostError::ClusterState(format!("{}: {message}", path.display()))
            }
            other => other,
        })
    }

    fn add_document(&mut self, doc: Value, place: &str) -> Result<()> {
        if !doc.is_object() {
            return Err(HostError::ClusterState(format!("{place} is not an object")));
        }
        if !is_list(&doc) {
            return self.insert_at(doc, place);
        }
        let list_kind = doc.get("kind").and_then(Value::as_str).unwrap_or("List");
        // For a typed list, missing apiVersion/kind on items are implied by the list.
        let implied = match list_kind.strip_suffix("List") {
            Some(kind) if !kind.is_empty() => doc
                .get("apiVersion")
                .and_then(Value::as_str)
                .map(|api_version| (api_version.to_owned(), kind.to_owned())),
            _ => None,
        };
        let items = match doc.get("items") {
            Some(Value::Array(items)) => items.clone(),
            Some(Value::Null) => Vec::new(),
            _ => {
                return Err(HostError::ClusterState(format!(
                    "{place}: the items of the {list_kind} are not an array"
                )));
            }
        };
        for (index, mut item) in items.into_iter().enumerate() {
            let item_place = format!("{place}, item {} of the {list_kind}", index + 1);
            if let (Some((api_version, kind)), Some(map)) = (&implied, item.as_object_mut()) {
                map.entry("apiVersion")
                    .or_insert_with(|| Value::String(api_version.clone()));
                map.entry("kind")
                    .or_insert_with(|| Value::String(kind.clone()));
            }
            self.insert_at(item, &item_place)?;
        }
        Ok(())
    }

    fn insert_at(&mut self, object: Value, place: &str) -> Result<()> {
        let bad = |message: String| HostError::ClusterState(format!("{place}: {message}"));
        if !object.is_object() {
            return Err(bad("it is not an object".to_owned()));
        }
        let api_version = required_str(&object, "/apiVersion", "apiVersion").map_err(bad)?;
        let kind = required_str(&object, "/kind", "kind").map_err(bad)?;
        let name = required_str(&object, "/metadata/name", "metadata.name").map_err(bad)?;
        let namespace = match object.pointer("/metadata/namespace") {
            None | Some(Value::Null) => "",
            Some(Value::String(ns)) => ns.as_str(),
            Some(other) => {
                return Err(bad(format!(
                    "its metadata.namespace is not a string: {other}"
                )));
            }
        };
        let key = ObjectKey {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.objects.insert(key, object);
        Ok(())
    }

    /// Adds (or replaces) one object and marks the state connected.
    ///
    /// # Errors
    /// [`HostError::ClusterState`] for an object without apiVersion, kind or metadata.name.
    pub fn insert(&mut self, object: Value) -> Result<()> {
        self.connected = true;
        self.insert_at(object, "object")
    }

    fn objects_of<'s, 'q>(
        &'s self,
        api_version: &'q str,
        kind: &'q str,
    ) -> impl Iterator<Item = (&'s ObjectKey, &'s Value)> + use<'s, 'q> {
        self.objects
            .iter()
            .filter(move |(key, _)| key.api_version == api_version && key.kind == kind)
    }

    /// The scope of a resource type: from the stored objects of that type if any, otherwise from
    /// the list of well-known cluster-scoped kinds.
    fn scope(&self, api_version: &str, kind: &str) -> Scope {
        let mut namespaces = self
            .objects_of(api_version, kind)
            .map(|(key, _)| key.namespace.is_empty());
        match namespaces.next() {
            Some(true) => Scope::Cluster,
            Some(false) => Scope::Namespaced,
            None if CLUSTER_SCOPED_KINDS.contains(&kind) => Scope::Cluster,
            None => Scope::Unknown,
        }
    }

    fn check_connected(&self) -> Result<()> {
        if self.connected {
            Ok(())
        } else {
            Err(HostError::NoCluster)
        }
    }

    /// Looks up one object, like `kubectl get <kind> <name> [-n <namespace>]`.
    ///
    /// For a cluster-scoped type the namespace is ignored; for a namespaced type it is required.
    ///
    /// # Errors
    /// [`HostError::NoCluster`] when disconnected, [`HostError::Scope`] for a namespaced type
    /// without namespace, [`HostError::NotFound`] when there is no such object.
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        name: &str,
        namespace: Option<&str>,
    ) -> Result<&Value> {
        self.check_connected()?;
        let requested_namespace = namespace;
        let namespace = namespace.filter(|ns| !ns.is_empty());
        let namespace = match (self.scope(api_version, kind), namespace) {
            (Scope::Cluster, _) => "",
            (Scope::Namespaced, None) => {
                return Err(HostError::Scope(format!(
                    "resource {api_version}/{kind} is namespaced, but no namespace was provided"
                )));
            }
            (_, ns) => ns.unwrap_or(""),
        };
        let key = ObjectKey {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        self.objects.get(&key).ok_or_else(|| HostError::NotFound {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
            name: name.to_owned(),
            namespace: requested_namespace.map(str::to_owned),
        })
    }

    /// Lists the objects of a type, in one namespace or in all of them, filtered by selectors in
    /// string form, sorted by namespace then name.
    ///
    /// # Errors
    /// [`HostError::NoCluster`] when disconnected, [`HostError::Scope`] when listing a
    /// cluster-scoped type inside a namespace, selector errors.
    pub fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
    ) -> Result<Vec<&Value>> {
        self.check_connected()?;
        let labels = LabelSelector::parse(label_selector.unwrap_or(""))?;
        let fields = FieldSelector::parse(field_selector.unwrap_or(""))?;
        if namespace.is_some() && self.scope(api_version, kind) == Scope::Cluster {
            return Err(HostError::Scope(format!(
                "resource {api_version}/{kind} is cluster wide, it cannot be listed inside of a namespace"
            )));
        }
        Ok(self
            .objects_of(api_version, kind)
            .filter(|(key, _)| namespace.is_none_or(|ns| key.namespace == ns))
            .map(|(_, object)| object)
            .filter(|object| labels.matches_object(object) && fields.matches_object(object))
            .collect())
    }

    /// The `(apiVersion, kind)` pairs present in the state.
    #[must_use]
    pub fn resource_types(&self) -> BTreeSet<(String, String)> {
        self.objects
            .keys()
            .map(|key| (key.api_version.clone(), key.kind.clone()))
            .collect()
    }
}

/// Wraps objects in a Kubernetes list document, `kind: <Kind>List`, as the API server returns
/// them and as `k8s_openapi::List<T>` expects.
#[must_use]
pub fn list_document(api_version: &str, kind: &str, items: Vec<Value>) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": format!("{kind}List"),
        "metadata": {"resourceVersion": ""},
        "items": items,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    const KUBECTL_YAML: &str = r"
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Namespace
  metadata:
    name: prod
    labels:
      env: prod
- apiVersion: v1
  kind: Namespace
  metadata:
    name: dev
    labels:
      env: dev
- apiVersion: scheduling.k8s.io/v1
  kind: PriorityClass
  metadata:
    name: prod-pc
  value: 1000
metadata:
  resourceVersion: ''
";

    #[test]
    fn parses_a_kubectl_list() {
        let state = ClusterState::from_yaml_or_json(KUBECTL_YAML).unwrap();
        assert!(state.is_connected());
        assert_eq!(state.len(), 3);
        let pc = state
            .get("scheduling.k8s.io/v1", "PriorityClass", "prod-pc", None)
            .unwrap();
        assert_eq!(pc["value"], 1000);
        // the namespace of a cluster-scoped lookup is ignored
        assert!(
            state
                .get("v1", "Namespace", "prod", Some("whatever"))
                .is_ok()
        );
        assert_eq!(
            state.resource_types(),
            BTreeSet::from([
                (
                    "scheduling.k8s.io/v1".to_owned(),
                    "PriorityClass".to_owned()
                ),
                ("v1".to_owned(), "Namespace".to_owned()),
            ])
        );
    }

    #[test]
    fn parses_multi_document_yaml_with_lists_and_empty_docs() {
        let text = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n\
                    apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: p, namespace: a}\n  spec: {}\n";
        let state = ClusterState::from_yaml_or_json(text).unwrap();
        assert_eq!(state.len(), 2);
        // the item of the typed PodList got its apiVersion and kind from the list
        let pod = state.get("v1", "Pod", "p", Some("a")).unwrap();
        assert_eq!(pod["kind"], "Pod");
        assert_eq!(pod["apiVersion"], "v1");
    }

    #[test]
    fn parses_json_single_object_and_json_stream() {
        let one = ClusterState::from_yaml_or_json(
            r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"x"}}"#,
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        let two = ClusterState::from_yaml_or_json(
            "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"x\"}}\n\
             {\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"y\"}}",
        )
        .unwrap();
        assert_eq!(two.len(), 2);
        let empty = ClusterState::from_yaml_or_json("").unwrap();
        assert!(empty.is_connected() && empty.is_empty());
    }

    #[test]
    fn refuses_objects_without_identity() {
        let err = ClusterState::from_yaml_or_json(
            "apiVersion: v1\nkind: List\nitems:\n- kind: Namespace\n  metadata: {name: a}\n",
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("item 1 of the List"), "{message}");
        assert!(message.contains("apiVersion"), "{message}");
        let err =
            ClusterState::from_yaml_or_json("apiVersion: v1\nkind: Namespace\nmetadata: {}\n")
                .unwrap_err();
        assert!(err.to_string().contains("metadata.name"), "{err}");
        assert!(ClusterState::from_yaml_or_json("- just\n- a list\n").is_err());
        assert!(ClusterState::from_yaml_or_json("key: [unclosed\n").is_err());
    }

    #[test]
    fn lookups_and_errors() {
        let state = ClusterState::from_yaml_or_json(KUBECTL_YAML).unwrap();
        let err = state.get("v1", "Namespace", "nope", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Cannot find v1/Namespace named 'nope' inside of namespace 'None'"
        );
        let prod = state
            .list("v1", "Namespace", None, Some("env=prod"), None)
            .unwrap();
        assert_eq!(prod.len(), 1);
        assert_eq!(prod[0]["metadata"]["name"], "prod");
        let all = state.list("v1", "Namespace", None, None, None).unwrap();
        // sorted by name
        let names: Vec<_> = all.iter().map(|o| o["metadata"]["name"].clone()).collect();
        assert_eq!(names, vec!["dev", "prod"]);
        assert!(matches!(
            state.list("v1", "Namespace", Some("prod"), None, None),
            Err(HostError::Scope(_))
        ));
        assert!(matches!(
            state.list("v1", "Namespace", None, Some("env in prod"), None),
            Err(HostError::LabelSelector { .. })
        ));

        let disconnected = ClusterState::disconnected();
        assert!(matches!(
            disconnected.get("v1", "Namespace", "prod", None),
            Err(HostError::NoCluster)
        ));
        assert!(matches!(
            disconnected.list("v1", "Namespace", None, None, None),
            Err(HostError::NoCluster)
        ));
    }

    #[test]
    fn namespaced_lookups() {
        let mut state = ClusterState::empty();
        state
            .insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c", "namespace": "a", "labels": {"x": "1"}}}))
            .unwrap();
        state
            .insert(json!({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "c", "namespace": "b"}}))
            .unwrap();
        assert_eq!(
            state.get("v1", "ConfigMap", "c", Some("b")).unwrap()["metadata"]["namespace"],
            "b"
        );
        assert!(matches!(
            state.get("v1", "ConfigMap", "c", None),
            Err(HostError::Scope(_))
        ));
        assert_eq!(
            state
                .get("v1", "ConfigMap", "d", Some("a"))
                .unwrap_err()
                .to_string(),
            r#"Cannot find v1/ConfigMap named 'd' inside of namespace 'Some("a")'"#
        );
        assert_eq!(
            state
                .list("v1", "ConfigMap", Some("a"), None, None)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            state
                .list("v1", "ConfigMap", None, None, None)
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            state
                .list("v1", "ConfigMap", None, None, Some("metadata.namespace!=a"))
                .unwrap()
                .len(),
            1
        );
        assert!(
            state
                .list("v1", "Secret", Some("a"), None, None)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn list_document_shape() {
        let doc = list_document("v1", "Namespace", vec![json!({"a": 1})]);
        assert_eq!(doc["kind"], "NamespaceList");
        assert_eq!(doc["apiVersion"], "v1");
        assert_eq!(doc["items"][0]["a"], 1);
        assert_eq!(doc["metadata"]["resourceVersion"], "");
    }
}
