//! Deciding a manifest: a Kubernetes object as written in a file (or pasted into the playground), decided the
//! way the policy decides its CREATE.
//!
//! There is no second implementation of the rules here. [`ManifestRequest::from_object`] reads which object it
//! is and stands for the AdmissionRequest the apiserver would send for `kubectl create` of the object (operation
//! `CREATE`, kind from `apiVersion` and `kind`, the namespace the object lands in), and
//! [`ManifestRequest::decide`] hands that request to [`decide`], the function the policy calls.
//!
//! The namespace is the object's `metadata.namespace`, else the caller's default namespace (as `kubectl -n`).
//! Kinds that [`kinds::lookup`] does not know are not checked, as the policy accepts them untouched, unless they are
//! custom workload kinds of the settings handed to the `_with` constructors or to [`decide_manifest`].

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use crate::decide::{Cluster, DecisionError, Labels, Outcome, decide};
use crate::model::custom::CustomWorkload;
use crate::model::kinds;
use crate::model::settings::Settings;
use crate::read::request::{AdmissionRequestView, GroupVersionKind};

/// A document that is not a Kubernetes object the check can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// The document is not a mapping.
    #[error("the document is not an object but {0}")]
    NotAnObject(&'static str),
    /// A field every object needs is absent or empty.
    #[error("the object has no {0}")]
    Missing(&'static str),
    /// A field is not a string.
    #[error("the object's {0} is not a string")]
    NotAString(&'static str),
    /// The labels of a Namespace are not a map of strings.
    #[error("the labels of the Namespace are not a map of strings")]
    Labels,
    /// The object's JSON cannot be read (e.g. a duplicate `kind`).
    #[error("the object cannot be read: {0}")]
    Unreadable(String),
}

/// Which object a manifest is, as messages and reports name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSubject {
    /// `apiVersion`, e.g. `apps/v1`.
    pub api_version: String,
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// `metadata.name`, else the `generateName` prefix, else empty.
    pub name: String,
    /// The namespace the object is created in.
    pub namespace: String,
}

/// A manifest turned into what the policy would be asked: the CREATE of the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestRequest {
    /// Which object it is.
    pub subject: ManifestSubject,
    /// The kind the policy checks it as; `None` when the kind is not one the policy checks.
    checked: Option<CheckedKind>,
    /// `metadata.name`, when set.
    name: Option<String>,
    /// The object's JSON text.
    object: String,
}

/// The group, version and kind of a checked object, as the request's `kind` names them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CheckedKind {
    group: String,
    version: String,
    kind: String,
}

/// What a JSON text holds, by its first character, for messages.
fn type_name(json: &str) -> &'static str {
    match json.trim_start().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') | None => "null",
        Some(_) => "a number",
    }
}

/// The top-level fields read from an object, unparsed.
#[derive(Deserialize)]
struct Head<'a> {
    #[serde(rename = "apiVersion", borrow, default)]
    api_version: Option<&'a RawValue>,
    #[serde(borrow, default)]
    kind: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metadata: Option<&'a RawValue>,
}

/// The `metadata` fields read, unparsed.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    #[serde(borrow, default)]
    name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    generate_name: Option<&'a RawValue>,
    #[serde(borrow, default)]
    namespace: Option<&'a RawValue>,
}

/// An optional string field: absent and `null` are `None`, other non-strings an error.
fn optional_str<'a>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Option<Cow<'a, str>>, ManifestError> {
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return Ok(None);
    };
    if !raw.get().starts_with('"') {
        return Err(ManifestError::NotAString(field));
    }
    serde_json::from_str::<Cow<'a, str>>(raw.get())
        .map(Some)
        .map_err(|_| ManifestError::NotAString(field))
}

/// A required, non-empty string field.
fn required<'a>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Cow<'a, str>, ManifestError> {
    optional_str(raw, field)?
        .filter(|s| !s.is_empty())
        .ok_or(ManifestError::Missing(field))
}

/// `apps/v1` -> (`apps`, `v1`); `v1` -> (``, `v1`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

impl ManifestRequest {
    /// Reads which object `object` is and writes the AdmissionRequest of its CREATE in `default_namespace`
    /// (used when the object has no `metadata.namespace`).
    pub fn from_object(object: &Value, default_namespace: &str) -> Result<Self, ManifestError> {
        Self::from_object_with(object, default_namespace, &[])
    }

    /// As [`ManifestRequest::from_object`], also writing requests for the custom workload kinds `custom` (those
    /// of [`Settings::custom_workloads`]).
    pub fn from_object_with(
        object: &Value,
        default_namespace: &str,
        custom: &[CustomWorkload],
    ) -> Result<Self, ManifestError> {
        // Serializing a `serde_json::Value` cannot fail.
        let json = serde_json::to_string(object).unwrap_or_default();
        Self::from_json_with(&json, default_namespace, custom)
    }

    /// As [`ManifestRequest::from_object`], from the object's JSON text (which becomes the request's object
    /// as it is, without being parsed into a tree).
    pub fn from_json(object: &str, default_namespace: &str) -> Result<Self, ManifestError> {
        Self::from_json_with(object, default_namespace, &[])
    }

    /// As [`ManifestRequest::from_json`], also writing requests for the custom workload kinds `custom`.
    pub fn from_json_with(
        object: &str,
        default_namespace: &str,
        custom: &[CustomWorkload],
    ) -> Result<Self, ManifestError> {
        let what = type_name(object);
        if what != "an object" {
            return Err(ManifestError::NotAnObject(what));
        }
        let head: Head<'_> =
            serde_json::from_str(object).map_err(|e| ManifestError::Unreadable(e.to_string()))?;
        let api_version = required(head.api_version, "apiVersion")?;
        let kind = required(head.kind, "kind")?;
        let meta = match head.metadata {
            Some(raw) if raw.get().starts_with('{') => serde_json::from_str::<Meta<'_>>(raw.get())
                .map_err(|e| ManifestError::Unreadable(e.to_string()))?,
            _ => Meta {
                name: None,
                generate_name: None,
                namespace: None,
            },
        };
        let name = optional_str(meta.name, "metadata.name")?.filter(|n| !n.is_empty());
        let generate_name = optional_str(meta.generate_name, "metadata.generateName")?;
        let namespace = optional_str(meta.namespace, "metadata.namespace")?
            .filter(|ns| !ns.is_empty())
            .unwrap_or(Cow::Borrowed(default_namespace));
        let subject = ManifestSubject {
            api_version: api_version.clone().into_owned(),
            kind: kind.clone().into_owned(),
            name: name
                .as_deref()
                .or(generate_name.as_deref())
                .unwrap_or_default()
                .to_owned(),
            namespace: namespace.clone().into_owned(),
        };
        let (group, version) = split_api_version(&api_version);
        let checked = match kinds::lookup(group, &kind) {
            Some(builtin) => Some((builtin.group, builtin.kind)),
            None => custom
                .iter()
                .find(|c| c.group == group && c.kind == kind)
                .map(|c| (c.group.as_str(), c.kind.as_str())),
        };
        Ok(Self {
            subject,
            checked: checked.map(|(group, kind)| CheckedKind {
                group: group.to_owned(),
                version: version.to_owned(),
                kind: kind.to_owned(),
            }),
            name: name.map(Cow::into_owned),
            object: object.trim().to_owned(),
        })
    }

    /// The same request for `object`, the whole text of the object this request was read from: a caller that
    /// found the object's `apiVersion`, `kind` and `metadata` by other means reads the request from those fields
    /// alone ([`ManifestRequest::from_json_with`]), then hands over the whole text, which the decision reads as
    /// it reads the request's object. `object` must be JSON with the same naming fields.
    pub fn with_object(mut self, object: String) -> Self {
        self.object = object;
        self
    }

    /// Whether the object is of a kind the policy checks (else [`ManifestRequest::decide`] accepts it
    /// untouched).
    pub fn is_checked(&self) -> bool {
        self.checked.is_some()
    }

    /// The object's JSON text, as the request holds it.
    pub fn object(&self) -> &str {
        &self.object
    }

    /// Takes the object's text back (for its buffer).
    pub fn into_object(self) -> String {
        self.object
    }

    /// The AdmissionRequest of the object's CREATE, as the policy reads it; `None` when the kind is not one the
    /// policy checks.
    pub fn admission_request(&self) -> Option<AdmissionRequestView<'_>> {
        let checked = self.checked.as_ref()?;
        Some(AdmissionRequestView::create(
            GroupVersionKind {
                group: Cow::Borrowed(&checked.group),
                version: Cow::Borrowed(&checked.version),
                kind: Cow::Borrowed(&checked.kind),
            },
            &self.subject.namespace,
            self.name.as_deref(),
            &self.object,
        ))
    }

    /// Decides the CREATE with [`decide`], exactly as the policy does, asking `cluster` for namespace labels and
    /// PriorityClasses when a rule needs them. Kinds that are not checked are accepted untouched
    /// ([`crate::decide::AcceptReason::NotChecked`]).
    pub fn decide(
        &self,
        settings: &Settings,
        cluster: impl Cluster,
    ) -> Result<Outcome, DecisionError> {
        match self.admission_request() {
            Some(view) => decide(settings, &view, cluster),
            None => Ok(Outcome::Accept {
                rule: None,
                reason: crate::decide::AcceptReason::NotChecked,
            }),
        }
    }
}

/// Decides a manifest in one step: [`ManifestRequest::from_object_with`] (with the custom kinds of `settings`)
/// then [`ManifestRequest::decide`].
pub fn decide_manifest(
    settings: &Settings,
    object: &Value,
    default_namespace: &str,
    cluster: impl Cluster,
) -> Result<(ManifestSubject, Result<Outcome, DecisionError>), ManifestError> {
    let request =
        ManifestRequest::from_object_with(object, default_namespace, &settings.custom_workloads)?;
    let outcome = request.decide(settings, cluster);
    Ok((request.subject, outcome))
}

/// The default class of the rule named `rule` (a rule of `settings`, or the fallback): what Pods get when they
/// name none, e.g. the Pods of a workload accepted with [`crate::decide::AcceptReason::DefaultLeftToPods`].
pub fn rule_default<'s>(settings: &'s Settings, rule: &str) -> Option<&'s str> {
    // `fallback` is reserved: no rule has the fallback's name.
    settings
        .policies()
        .find(|(name, _)| *name == rule)
        .and_then(|(_, p)| p.default_priority_class.as_deref())
}

/// The name and labels of a Namespace object, `None` for any other object.
///
/// Labels are those of `metadata.labels` plus `kubernetes.io/metadata.name`, which the apiserver sets on every
/// Namespace.
pub fn namespace_labels(object: &Value) -> Result<Option<(String, Labels)>, ManifestError> {
    let is_namespace = object.get("apiVersion").and_then(Value::as_str) == Some("v1")
        && object.get("kind").and_then(Value::as_str) == Some("Namespace");
    if !is_namespace {
        return Ok(None);
    }
    let name = match object.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(name)) if !name.is_empty() => name.as_str(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(ManifestError::Missing("metadata.name"));
        }
        Some(_) => return Err(ManifestError::NotAString("metadata.name")),
    };
    let mut labels = BTreeMap::new();
    match object.get("metadata").and_then(|m| m.get("labels")) {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (key, value) in map {
                let Value::String(value) = value else {
                    return Err(ManifestError::Labels);
                };
                labels.insert(key.clone(), value.clone());
            }
        }
        Some(_) => return Err(ManifestError::Labels),
    }
    Ok(Some((name.to_owned(), with_name_label(name, labels))))
}

/// `labels` with the `kubernetes.io/metadata.name` label that the apiserver gives every Namespace, unless set.
pub fn with_name_label(namespace: &str, mut labels: Labels) -> Labels {
    labels
        .entry("kubernetes.io/metadata.name".to_owned())
        .or_insert_with(|| namespace.to_owned());
    labels
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::patch::PatchOp;
    use crate::decide::{AcceptReason, RejectReason};
    use serde_json::json;

    fn settings() -> Settings {
        Settings::from_value(json!({
            "rules": [
                {"name": "production", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"],
                 "defaultPriorityClass": "prod-pc"},
                {"name": "preproduction", "namespaceSelector": {"matchLabels": {"env": "preprod"}},
                 "allowedPriorityClasses": ["preprod-pc"]}
            ],
            "fallback": {"deniedPriorityClasses": ["prod-pc"], "requirePriorityClass": true}
        }))
        .expect("valid settings")
    }

    fn no_labels(_: &str) -> Result<Labels, String> {
        Ok(Labels::new())
    }

    fn deployment(namespace: Option<&str>, class: Option<&str>) -> Value {
        let mut object = json!({
            "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx"}]}}}
        });
        if let Some(ns) = namespace {
            object["metadata"]["namespace"] = json!(ns);
        }
        if let Some(class) = class {
            object["spec"]["template"]["spec"]["priorityClassName"] = json!(class);
        }
        object
    }

    #[test]
    fn the_objects_namespace_wins_over_the_default() {
        let request =
            ManifestRequest::from_object(&deployment(Some("prod"), None), "dev").expect("readable");
        assert_eq!(request.subject.namespace, "prod");
        let request =
            ManifestRequest::from_object(&deployment(None, None), "dev").expect("readable");
        assert_eq!(request.subject.namespace, "dev");
    }

    #[test]
    fn rejects_a_dev_class_in_prod_with_the_policy_message() {
        let (subject, outcome) = decide_manifest(
            &settings(),
            &deployment(Some("prod"), Some("dev-pc")),
            "default",
            no_labels,
        )
        .expect("readable");
        assert_eq!(subject.kind, "Deployment");
        let Ok(Outcome::Reject {
            rule,
            reason,
            message,
            ..
        }) = outcome
        else {
            panic!("expected a rejection, got {outcome:?}");
        };
        assert_eq!(rule, "production");
        assert_eq!(
            reason,
            RejectReason::ClassNotAllowed {
                class: "dev-pc".into()
            }
        );
        assert_eq!(
            message,
            crate::messages::class_not_allowed(
                "Deployment",
                "web",
                "prod",
                "dev-pc",
                "production",
                &settings().rules[0].policy.classes
            )
        );
    }

    #[test]
    fn a_pod_without_class_gets_the_default_patch() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "prod"},
            "spec": {"containers": []}});
        let (_, outcome) =
            decide_manifest(&settings(), &pod, "default", no_labels).expect("readable");
        assert_eq!(
            outcome,
            Ok(Outcome::Mutate {
                rule: "production".into(),
                class: "prod-pc".into(),
                patch: vec![PatchOp::Add {
                    path: "/spec/priorityClassName".into(),
                    value: json!("prod-pc")
                }],
            })
        );
    }

    #[test]
    fn a_workload_without_class_leaves_the_default_to_its_pods() {
        let settings = settings();
        let (_, outcome) =
            decide_manifest(&settings, &deployment(Some("prod"), None), "x", no_labels)
                .expect("readable");
        let Ok(Outcome::Accept {
            rule: Some(rule),
            reason: AcceptReason::DefaultLeftToPods,
        }) = outcome
        else {
            panic!("expected the default left to pods, got {outcome:?}");
        };
        assert_eq!(rule_default(&settings, &rule), Some("prod-pc"));
    }

    #[test]
    fn selector_rules_ask_for_the_labels_of_the_objects_namespace() {
        let mut asked = Vec::new();
        let (_, outcome) = decide_manifest(
            &settings(),
            &deployment(None, Some("preprod-pc")),
            "shop",
            |ns: &str| {
                asked.push(ns.to_owned());
                Ok(with_name_label(
                    ns,
                    BTreeMap::from([("env".to_owned(), "preprod".to_owned())]),
                ))
            },
        )
        .expect("readable");
        assert_eq!(asked, ["shop"]);
        assert!(
            matches!(outcome, Ok(Outcome::Accept { rule: Some(ref r), .. }) if r == "preproduction"),
            "{outcome:?}"
        );
    }

    #[test]
    fn other_kinds_and_other_groups_are_not_checked() {
        for object in [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            json!({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "d"}}),
        ] {
            let request = ManifestRequest::from_object(&object, "prod").expect("readable");
            assert!(request.admission_request().is_none());
            assert_eq!(
                request.decide(&settings(), no_labels),
                Ok(Outcome::Accept {
                    rule: None,
                    reason: AcceptReason::NotChecked
                })
            );
        }
    }

    #[test]
    fn the_request_is_a_create_the_policy_can_read() {
        let request = ManifestRequest::from_object(&deployment(Some("prod"), None), "default")
            .expect("readable");
        let view = request
            .admission_request()
            .expect("a deployment is checked");
        assert_eq!(view.operation, "CREATE");
        assert_eq!(view.kind.group, "apps");
        assert_eq!(view.kind.version, "v1");
        assert_eq!(view.namespace.as_deref(), Some("prod"));
        assert_eq!(view.name.as_deref(), Some("web"));
    }

    #[test]
    fn unreadable_manifests_name_the_problem() {
        let cases = [
            (json!([1]), ManifestError::NotAnObject("an array")),
            (json!({"kind": "Pod"}), ManifestError::Missing("apiVersion")),
            (json!({"apiVersion": "v1"}), ManifestError::Missing("kind")),
            (
                json!({"apiVersion": "v1", "kind": 3}),
                ManifestError::NotAString("kind"),
            ),
            (
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"namespace": 1}}),
                ManifestError::NotAString("metadata.namespace"),
            ),
        ];
        for (object, expected) in cases {
            assert_eq!(
                ManifestRequest::from_object(&object, "default"),
                Err(expected),
                "{object}"
            );
        }
    }

    #[test]
    fn json_text_is_read_like_the_value() {
        let text = r#"{"apiVersion":"apps\/v1","kind":"Deploy\u006dent","metadata":{"name":"w","namespace":null},
            "spec":{"template":{"spec":{"priorityClassName":"dev-pc"}}}}"#;
        let value: Value = serde_json::from_str(text).expect("json");
        let from_text = ManifestRequest::from_json(text, "prod").expect("readable");
        assert_eq!(
            from_text.subject,
            ManifestRequest::from_object(&value, "prod")
                .expect("readable")
                .subject
        );
        assert_eq!(from_text.subject.kind, "Deployment");
        assert_eq!(from_text.subject.namespace, "prod");
        assert!(matches!(
            from_text.decide(&settings(), no_labels),
            Ok(Outcome::Reject { .. })
        ));
        assert!(matches!(
            ManifestRequest::from_json(r#"{"kind":"Pod","kind":"Pod","apiVersion":"v1"}"#, "x"),
            Err(ManifestError::Unreadable(_))
        ));
        assert_eq!(
            ManifestRequest::from_json(" 7", "x"),
            Err(ManifestError::NotAnObject("a number"))
        );
    }

    #[test]
    fn a_pod_spec_that_is_not_an_object_is_refused_as_the_policy_refuses_it() {
        let object =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": []});
        let (_, outcome) =
            decide_manifest(&settings(), &object, "prod", no_labels).expect("readable");
        assert!(
            matches!(outcome, Err(DecisionError::Request(_))),
            "{outcome:?}"
        );
    }

    #[test]
    fn namespace_objects_give_their_labels_and_name_label() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"env": "preprod"}}});
        let (name, labels) = namespace_labels(&ns)
            .expect("readable")
            .expect("a namespace");
        assert_eq!(name, "shop");
        assert_eq!(
            labels,
            BTreeMap::from([
                ("env".to_owned(), "preprod".to_owned()),
                ("kubernetes.io/metadata.name".to_owned(), "shop".to_owned()),
            ])
        );
        let bad = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "shop", "labels": {"n": 1}}});
        assert_eq!(namespace_labels(&bad), Err(ManifestError::Labels));
        assert_eq!(namespace_labels(&deployment(None, None)), Ok(None));
    }
}
