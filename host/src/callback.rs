//! The answers to the guest's `host_call`s: the Kubewarden host capabilities this host offers.
//!
//! Only the `kubewarden` binding exists. Served: `kubernetes/get_resource`,
//! `kubernetes/list_resources_by_namespace`, `kubernetes/list_resources_all` (from a
//! [`ClusterState`], limited to the resource types the policy was granted) and `tracing/log`.
//! Everything else, `kubernetes/can_i` included, is answered with an error, which the guest sees
//! as a failed host call.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use serde_json::Value;

use crate::cluster::{ClusterState, list_document};

/// The environment variable that makes the host print the policy's log events to stderr.
pub const POLICY_LOG_ENV: &str = "PRIORITY_GUARD_POLICY_LOG";

#[derive(Debug, Deserialize)]
struct GetResourceRequest {
    api_version: String,
    kind: String,
    name: String,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    #[allow(
        dead_code,
        reason = "part of the protocol; there is no cache to bypass"
    )]
    disable_cache: bool,
    #[serde(default)]
    field_masks: Option<BTreeSet<String>>,
}

#[derive(Debug, Deserialize)]
struct ListByNamespaceRequest {
    api_version: String,
    kind: String,
    namespace: String,
    #[serde(default)]
    label_selector: Option<String>,
    #[serde(default)]
    field_selector: Option<String>,
    #[serde(default)]
    field_masks: Option<BTreeSet<String>>,
}

#[derive(Debug, Deserialize)]
struct ListAllRequest {
    api_version: String,
    kind: String,
    #[serde(default)]
    label_selector: Option<String>,
    #[serde(default)]
    field_selector: Option<String>,
    #[serde(default)]
    field_masks: Option<BTreeSet<String>>,
}

/// A tree of field names built from dot-separated masks (`metadata.name`, `spec`); a leaf keeps
/// everything below it.
#[derive(Debug, Default)]
struct MaskNode(BTreeMap<String, MaskNode>);

impl MaskNode {
    fn new<'a>(masks: impl IntoIterator<Item = &'a String>) -> Self {
        let mut root = Self::default();
        for mask in masks {
            let mut node = &mut root;
            for part in mask.split('.') {
                node = node.0.entry(part.to_owned()).or_default();
            }
        }
        root
    }

    /// Keeps only the masked fields; arrays apply the same mask to each element.
    fn prune(&self, value: &mut Value) {
        if self.0.is_empty() {
            return;
        }
        match value {
            Value::Object(map) => map.retain(|key, child| match self.0.get(key) {
                Some(node) => {
                    node.prune(child);
                    true
                }
                None => false,
            }),
            Value::Array(items) => items.iter_mut().for_each(|item| self.prune(item)),
            _ => {}
        }
    }
}

/// Applies field masks to an object; no masks (or an empty set) keep it whole.
fn apply_field_masks(mut object: Value, masks: Option<&BTreeSet<String>>) -> Value {
    if let Some(masks) = masks.filter(|m| !m.is_empty()) {
        MaskNode::new(masks).prune(&mut object);
    }
    object
}

/// What the host callback of one policy instance knows.
#[derive(Debug)]
pub(crate) struct CallbackContext {
    pub(crate) allowed_resources: Arc<BTreeSet<(String, String)>>,
    pub(crate) cluster: Arc<ClusterState>,
    pub(crate) logs: Mutex<Vec<Value>>,
    pub(crate) echo_logs: bool,
}

fn parse<'a, T: Deserialize<'a>>(payload: &'a [u8], what: &str) -> Result<T, String> {
    serde_json::from_slice(payload).map_err(|e| format!("cannot parse the {what} request: {e}"))
}

/// A lookup the cluster could not answer, in the words of policy-evaluator, which wraps every failure of a
/// request it forwarded to the cluster this way (`Callback evaluation failure: Cannot find ...`); a refusal of
/// access is not forwarded, and not wrapped.
fn callback_failure(error: crate::HostError) -> String {
    format!("Callback evaluation failure: {error}")
}

fn to_bytes(value: &Value) -> Result<Vec<u8>, String> {
    serde_json::to_vec(value).map_err(|e| format!("cannot serialize the answer: {e}"))
}

impl CallbackContext {
    pub(crate) fn new(
        allowed_resources: Arc<BTreeSet<(String, String)>>,
        cluster: Arc<ClusterState>,
    ) -> Self {
        Self {
            allowed_resources,
            cluster,
            logs: Mutex::new(Vec::new()),
            echo_logs: std::env::var_os(POLICY_LOG_ENV).is_some_and(|v| !v.is_empty() && v != "0"),
        }
    }

    fn check_access(&self, api_version: &str, kind: &str) -> Result<(), String> {
        if self
            .allowed_resources
            .contains(&(api_version.to_owned(), kind.to_owned()))
        {
            Ok(())
        } else {
            Err(format!(
                "Policy has not been granted access to Kubernetes {api_version}/{kind} resources. \
                 The violation has been reported."
            ))
        }
    }

    /// Answers one host call; the error string is what the guest receives.
    pub(crate) fn handle(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        if binding != "kubewarden" {
            return Err(format!(
                "unknown binding `{binding}`: this host only serves the `kubewarden` binding"
            ));
        }
        match (namespace, operation) {
            ("kubernetes", "get_resource") => {
                let req: GetResourceRequest = parse(payload, "get_resource")?;
                self.check_access(&req.api_version, &req.kind)?;
                let object = self
                    .cluster
                    .get(
                        &req.api_version,
                        &req.kind,
                        &req.name,
                        req.namespace.as_deref(),
                    )
                    .map_err(callback_failure)?;
                to_bytes(&apply_field_masks(object.clone(), req.field_masks.as_ref()))
            }
            ("kubernetes", "list_resources_by_namespace") => {
                let req: ListByNamespaceRequest = parse(payload, "list_resources_by_namespace")?;
                self.check_access(&req.api_version, &req.kind)?;
                self.list(
                    &req.api_version,
                    &req.kind,
                    Some(&req.namespace),
                    req.label_selector.as_deref(),
                    req.field_selector.as_deref(),
                    req.field_masks.as_ref(),
                )
            }
            ("kubernetes", "list_resources_all") => {
                let req: ListAllRequest = parse(payload, "list_resources_all")?;
                self.check_access(&req.api_version, &req.kind)?;
                self.list(
                    &req.api_version,
                    &req.kind,
                    None,
                    req.label_selector.as_deref(),
                    req.field_selector.as_deref(),
                    req.field_masks.as_ref(),
                )
            }
            ("kubernetes", "can_i") => {
                Err("kubernetes/can_i is not supported by this host".to_owned())
            }
            ("tracing", "log") => {
                self.log(payload)?;
                Ok(Vec::new())
            }
            ("kubernetes" | "tracing", _) => Err(format!(
                "unknown operation `{operation}` of the `{namespace}` host capability"
            )),
            _ => Err(format!(
                "host capability `{namespace}/{operation}` is not supported by this host"
            )),
        }
    }

    fn list(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        label_selector: Option<&str>,
        field_selector: Option<&str>,
        field_masks: Option<&BTreeSet<String>>,
    ) -> Result<Vec<u8>, String> {
        let items = self
            .cluster
            .list(api_version, kind, namespace, label_selector, field_selector)
            .map_err(callback_failure)?
            .into_iter()
            .map(|object| apply_field_masks(object.clone(), field_masks))
            .collect();
        to_bytes(&list_document(api_version, kind, items))
    }

    fn log(&self, payload: &[u8]) -> Result<(), String> {
        let event: serde_json::Map<String, Value> = parse(payload, "tracing/log")?;
        if self.echo_logs {
            let level = event.get("level").and_then(Value::as_str).unwrap_or("info");
            let message = event.get("message").and_then(Value::as_str).unwrap_or("");
            let fields: serde_json::Map<String, Value> = event
                .iter()
                .filter(|(k, _)| k.as_str() != "level" && k.as_str() != "message")
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            eprintln!("policy {level}: {message} {}", Value::Object(fields));
        }
        self.logs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Value::Object(event));
        Ok(())
    }

    /// Takes the log events collected so far.
    pub(crate) fn take_logs(&self) -> Vec<Value> {
        std::mem::take(&mut *self.logs.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use serde_json::json;

    fn state() -> ClusterState {
        ClusterState::from_objects([
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "prod", "labels": {"env": "prod"}, "uid": "1"},
                   "spec": {"finalizers": ["kubernetes"]}}),
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "dev", "labels": {"env": "dev"}}}),
            json!({"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "s", "namespace": "prod"}}),
        ])
        .unwrap()
    }

    fn context(allowed: &[(&str, &str)], cluster: ClusterState) -> CallbackContext {
        CallbackContext::new(
            Arc::new(
                allowed
                    .iter()
                    .map(|(a, k)| ((*a).to_owned(), (*k).to_owned()))
                    .collect(),
            ),
            Arc::new(cluster),
        )
    }

    fn call(ctx: &CallbackContext, ns: &str, op: &str, payload: &Value) -> Result<Value, String> {
        ctx.handle("kubewarden", ns, op, &serde_json::to_vec(payload).unwrap())
            .map(|bytes| {
                if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                }
            })
    }

    #[test]
    fn get_resource_answers_granted_types_only() {
        let ctx = context(&[("v1", "Namespace")], state());
        let ns = call(
            &ctx,
            "kubernetes",
            "get_resource",
            &json!({"api_version": "v1", "kind": "Namespace", "name": "prod",
                    "namespace": null, "disable_cache": false, "field_masks": null}),
        )
        .unwrap();
        assert_eq!(ns["metadata"]["labels"]["env"], "prod");

        let err = call(
            &ctx,
            "kubernetes",
            "get_resource",
            &json!({"api_version": "v1", "kind": "Secret", "name": "s", "namespace": "prod",
                    "disable_cache": false}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "Policy has not been granted access to Kubernetes v1/Secret resources. \
             The violation has been reported."
        );

        let err = call(
            &ctx,
            "kubernetes",
            "get_resource",
            &json!({"api_version": "v1", "kind": "Namespace", "name": "nope", "disable_cache": true}),
        )
        .unwrap_err();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn field_masks_prune_objects() {
        let ctx = context(&[("v1", "Namespace")], state());
        let ns = call(
            &ctx,
            "kubernetes",
            "get_resource",
            &json!({"api_version": "v1", "kind": "Namespace", "name": "prod",
                    "disable_cache": false, "field_masks": ["metadata.labels", "kind"]}),
        )
        .unwrap();
        assert_eq!(
            ns,
            json!({"kind": "Namespace", "metadata": {"labels": {"env": "prod"}}})
        );

        let mut value = json!({"items": [{"a": 1, "b": 2}, {"a": 3, "c": {"d": 4}}], "z": 0});
        MaskNode::new(&["items.a".to_owned()]).prune(&mut value);
        assert_eq!(value, json!({"items": [{"a": 1}, {"a": 3}]}));
    }

    #[test]
    fn lists_are_typed_lists() {
        let ctx = context(&[("v1", "Namespace"), ("v1", "Secret")], state());
        let list = call(
            &ctx,
            "kubernetes",
            "list_resources_all",
            &json!({"api_version": "v1", "kind": "Namespace", "label_selector": "env in (prod)",
                    "field_selector": null, "field_masks": null}),
        )
        .unwrap();
        assert_eq!(list["kind"], "NamespaceList");
        assert_eq!(list["apiVersion"], "v1");
        assert_eq!(list["items"].as_array().unwrap().len(), 1);
        assert_eq!(list["items"][0]["metadata"]["name"], "prod");

        let secrets = call(
            &ctx,
            "kubernetes",
            "list_resources_by_namespace",
            &json!({"api_version": "v1", "kind": "Secret", "namespace": "dev"}),
        )
        .unwrap();
        assert_eq!(secrets["kind"], "SecretList");
        assert_eq!(secrets["items"], json!([]));

        let err = call(
            &ctx,
            "kubernetes",
            "list_resources_all",
            &json!({"api_version": "v1", "kind": "Namespace", "label_selector": "env in prod"}),
        )
        .unwrap_err();
        assert!(err.contains("invalid label selector"), "{err}");
    }

    #[test]
    fn other_calls_are_errors() {
        let ctx = context(&[("v1", "Namespace")], ClusterState::disconnected());
        let err = call(
            &ctx,
            "kubernetes",
            "get_resource",
            &json!({"api_version": "v1", "kind": "Namespace", "name": "prod", "disable_cache": false}),
        )
        .unwrap_err();
        assert_eq!(
            err,
            "Callback evaluation failure: no kubernetes cluster is connected to this host"
        );
        assert!(
            call(&ctx, "kubernetes", "can_i", &json!({}))
                .unwrap_err()
                .contains("not supported")
        );
        assert!(
            call(&ctx, "oci", "manifest_digest", &json!("x"))
                .unwrap_err()
                .contains("oci/manifest_digest")
        );
        assert!(
            call(&ctx, "kubernetes", "delete_everything", &json!({}))
                .unwrap_err()
                .contains("unknown operation")
        );
        assert!(
            ctx.handle("wapc", "kubernetes", "get_resource", b"{}")
                .unwrap_err()
                .contains("binding")
        );
        assert!(
            ctx.handle("kubewarden", "kubernetes", "get_resource", b"not json")
                .unwrap_err()
                .contains("cannot parse")
        );
    }

    #[test]
    fn log_events_are_collected() {
        let ctx = context(&[], ClusterState::disconnected());
        let answer = call(
            &ctx,
            "tracing",
            "log",
            &json!({"level": "info", "message": "hi", "k": 1}),
        )
        .unwrap();
        assert_eq!(answer, Value::Null);
        assert_eq!(
            ctx.take_logs(),
            vec![json!({"level": "info", "message": "hi", "k": 1})]
        );
        assert!(ctx.take_logs().is_empty());
        assert!(ctx.handle("kubewarden", "tracing", "log", b"[1]").is_err());
    }
}
