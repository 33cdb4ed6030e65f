//! The documents exchanged with a policy (`validate_settings` and `validate` answers) and the
//! AdmissionResponse built from them, the way `kwctl run` and policy-server build it.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{HostError, Result};

/// The answer of a policy to `validate_settings`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsValidation {
    /// Whether the settings are accepted.
    pub valid: bool,
    /// Why they are not, when they are not.
    #[serde(default)]
    pub message: Option<String>,
}

/// The answer of a policy to `validate` (snake_case keys, as the Kubewarden SDKs write them).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidationResponse {
    /// Whether the request is accepted.
    pub accepted: bool,
    /// The message shown to the user on rejection.
    #[serde(default)]
    pub message: Option<String>,
    /// The HTTP-like code shown to the user on rejection.
    #[serde(default)]
    pub code: Option<u16>,
    /// The object as the policy wants it, for a mutation.
    #[serde(default)]
    pub mutated_object: Option<Value>,
    /// Audit annotations to attach to the request.
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings returned to the client.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// The `status` of a denied AdmissionResponse.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionResponseStatus {
    /// The message shown to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The code shown to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
}

/// An `admission.k8s.io/v1` AdmissionResponse, serialized with camelCase keys in the order
/// `kwctl run` prints them: `uid`, `allowed`, `patchType`, `patch`, `status`,
/// `auditAnnotations`, `warnings` (the last two always present, possibly `null`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    /// The uid of the request.
    pub uid: String,
    /// Whether the request is admitted.
    pub allowed: bool,
    /// `JSONPatch` when there is a patch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// The JSONPatch (RFC 6902), base64 encoded (standard alphabet, padded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    /// Message and code of a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AdmissionResponseStatus>,
    /// Audit annotations.
    #[serde(default)]
    pub audit_annotations: Option<BTreeMap<String, String>>,
    /// Warnings.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// The message of a mutation attempted on a request without object (DELETE).
pub const MUTATION_ON_DELETE_MESSAGE: &str = "Incoming object is null, which happens only with \
     DELETE operations, but the policy is attempting a mutation. This is not allowed";

/// The message of a mutation by a policy that is not allowed to mutate.
#[must_use]
pub fn mutation_not_allowed_message(policy_id: &str) -> String {
    format!(
        "Request rejected by policy {policy_id}. The policy attempted to mutate the request, but it \
         is currently configured to not allow mutations."
    )
}

impl AdmissionResponse {
    /// Builds the response to a request from the policy's answer.
    ///
    /// - A `mutated_object` different from `object` becomes a base64 JSONPatch
    ///   (`json_patch::diff(object, mutated_object)`); one equal to it is ignored.
    /// - A `mutated_object` on a DELETE (or on a request without object) denies the request.
    /// - A patch from a policy that is not allowed to mutate denies the request, naming
    ///   `policy_id`, as policy-server does for a policy deployed with `mutating: false`.
    /// - `status` carries the policy's message and code when it gave any.
    #[must_use]
    pub fn from_validation(
        uid: &str,
        operation: &str,
        object: Option<&Value>,
        validation: &ValidationResponse,
        allow_mutations: bool,
        policy_id: &str,
    ) -> Self {
        let object = object.filter(|o| !o.is_null());
        let mut patch = None;
        if let Some(mutated) = &validation.mutated_object {
            let Some(object) = object.filter(|_| !operation.eq_ignore_ascii_case("DELETE")) else {
                return Self {
                    uid: uid.to_owned(),
                    allowed: false,
                    status: Some(AdmissionResponseStatus {
                        message: Some(MUTATION_ON_DELETE_MESSAGE.to_owned()),
                        code: None,
                    }),
                    ..Self::default()
                };
            };
            let diff = json_patch::diff(&sorted_keys(object), &sorted_keys(mutated));
            if !diff.0.is_empty() {
                // A Patch is a list of plain operations: it always serializes.
                let json = serde_json::to_vec(&diff).unwrap_or_default();
                patch = Some(base64::engine::general_purpose::STANDARD.encode(json));
            }
        }
        if patch.is_some() && !allow_mutations {
            return Self {
                uid: uid.to_owned(),
                allowed: false,
                status: Some(AdmissionResponseStatus {
                    message: Some(mutation_not_allowed_message(policy_id)),
                    code: None,
                }),
                audit_annotations: validation.audit_annotations.clone(),
                warnings: validation.warnings.clone(),
                ..Self::default()
            };
        }
        let status = (validation.message.is_some() || validation.code.is_some()).then(|| {
            AdmissionResponseStatus {
                message: validation.message.clone(),
                code: validation.code,
            }
        });
        Self {
            uid: uid.to_owned(),
            allowed: validation.accepted,
            patch_type: patch.as_ref().map(|_| "JSONPatch".to_owned()),
            patch,
            status,
            audit_annotations: validation.audit_annotations.clone(),
            warnings: validation.warnings.clone(),
        }
    }

    /// [`AdmissionResponse::from_validation`] taking `uid`, `operation` and `object` from an
    /// AdmissionRequest (or a whole AdmissionReview).
    ///
    /// # Errors
    /// As [`admission_request_from_json`].
    pub fn for_request(
        request: &Value,
        validation: &ValidationResponse,
        allow_mutations: bool,
        policy_id: &str,
    ) -> Result<Self> {
        let request = admission_request_from_json(request.clone())?;
        let uid = request.get("uid").and_then(Value::as_str).unwrap_or("");
        let operation = request
            .get("operation")
            .and_then(Value::as_str)
            .unwrap_or("");
        Ok(Self::from_validation(
            uid,
            operation,
            request.get("object"),
            validation,
            allow_mutations,
            policy_id,
        ))
    }

    /// The decoded JSONPatch operations, when there is a patch.
    ///
    /// # Errors
    /// [`HostError::InvalidResponse`] when the patch is not base64 JSON.
    pub fn decoded_patch(&self) -> Result<Option<Value>> {
        let bad = |message: String| HostError::InvalidResponse {
            operation: "validate".to_owned(),
            message,
        };
        self.patch
            .as_ref()
            .map(|patch| {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(patch)
                    .map_err(|e| bad(format!("patch is not base64: {e}")))?;
                serde_json::from_slice(&bytes).map_err(|e| bad(format!("patch is not JSON: {e}")))
            })
            .transpose()
    }
}

/// Returns the AdmissionRequest of a document that is either a bare AdmissionRequest or a whole
/// AdmissionReview (`{"kind": "AdmissionReview", "request": {...}}`), as `kwctl run` accepts both.
///
/// # Errors
/// [`HostError::AdmissionRequest`] when the document is not an object, when an AdmissionReview
/// has no request, or when the request lacks a string `uid` or `operation` (for example when a
/// plain Kubernetes object was given instead of a request).
pub fn admission_request_from_json(value: Value) -> Result<Value> {
    let bad = |message: String| Err(HostError::AdmissionRequest(message));
    let Value::Object(mut map) = value else {
        return bad(
            "expected a JSON object (an AdmissionReview or an AdmissionRequest)".to_owned(),
        );
    };
    let kind = map.get("kind").and_then(Value::as_str).map(str::to_owned);
    let request = if kind.as_deref() == Some("AdmissionReview") {
        match map.remove("request") {
            Some(request @ Value::Object(_)) => request,
            _ => return bad("the AdmissionReview has no request object".to_owned()),
        }
    } else {
        Value::Object(map)
    };
    for field in ["uid", "operation"] {
        if !request.get(field).is_some_and(Value::is_string) {
            return bad(match (&kind, field) {
                (Some(kind), "uid") if kind != "AdmissionReview" => format!(
                    "expected an AdmissionReview or an AdmissionRequest, got a {kind} (no uid)"
                ),
                _ => format!("the request has no {field} string"),
            });
        }
    }
    Ok(request)
}

/// `value` with every object's members in key order. json_patch lists the operations of a diff in the order it
/// meets the members, which is key order in policy-evaluator (kwctl, policy-server) and insertion order when
/// serde_json's `preserve_order` feature is on in the build (a dependency can turn it on): sorting first gives
/// kwctl's patch either way.
fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut members: Vec<(&String, &Value)> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                members
                    .into_iter()
                    .map(|(key, value)| (key.clone(), sorted_keys(value)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "p", "namespace": "dev"},
               "spec": {"priority": 0, "containers": [{"name": "c", "image": "i"}]}})
    }

    fn mutated_pod() -> Value {
        let mut pod = pod();
        pod["spec"]["priorityClassName"] = json!("dev-pc");
        if let Some(spec) = pod["spec"].as_object_mut() {
            spec.remove("priority");
        }
        pod
    }

    fn mutation() -> ValidationResponse {
        ValidationResponse {
            accepted: true,
            mutated_object: Some(mutated_pod()),
            ..ValidationResponse::default()
        }
    }

    #[test]
    fn mutation_becomes_a_base64_json_patch() {
        let response = AdmissionResponse::from_validation(
            "u1",
            "CREATE",
            Some(&pod()),
            &mutation(),
            true,
            "p",
        );
        assert!(response.allowed);
        assert_eq!(response.patch_type.as_deref(), Some("JSONPatch"));
        let ops = response.decoded_patch().unwrap().unwrap();
        let mut ops = ops.as_array().unwrap().clone();
        ops.sort_by_key(|op| op["path"].as_str().unwrap_or("").to_owned());
        assert_eq!(
            ops,
            vec![
                json!({"op": "remove", "path": "/spec/priority"}),
                json!({"op": "add", "path": "/spec/priorityClassName", "value": "dev-pc"}),
            ]
        );
        // applying the patch to the object gives the mutated object
        let mut patched = pod();
        let patch: json_patch::Patch =
            serde_json::from_value(response.decoded_patch().unwrap().unwrap()).unwrap();
        json_patch::patch(&mut patched, &patch).unwrap();
        assert_eq!(patched, mutated_pod());

        let line = serde_json::to_string(&response).unwrap();
        assert!(
            line.starts_with(r#"{"uid":"u1","allowed":true,"patchType":"JSONPatch","patch":""#),
            "{line}"
        );
        assert!(
            line.ends_with(r#"","auditAnnotations":null,"warnings":null}"#),
            "{line}"
        );
    }

    /// kwctl 1.31.0 lists a Pod's removals as `preemptionPolicy`, then `priority` (key order), whatever order the
    /// object has them in (seen on the cluster-aware fixtures against a real apiserver).
    #[test]
    fn patch_operations_come_in_key_order_as_kwctl_lists_them() {
        let pod: Value = serde_json::from_str(
            r#"{"spec":{"priority":0,"preemptionPolicy":"PreemptLowerPriority","containers":[]}}"#,
        )
        .unwrap();
        let mutated: Value =
            serde_json::from_str(r#"{"spec":{"containers":[],"priorityClassName":"dev-pc"}}"#)
                .unwrap();
        let validation = ValidationResponse {
            accepted: true,
            mutated_object: Some(mutated),
            ..ValidationResponse::default()
        };
        let response =
            AdmissionResponse::from_validation("u", "CREATE", Some(&pod), &validation, true, "p");
        let ops = response.decoded_patch().unwrap().unwrap();
        assert_eq!(
            ops,
            json!([
                {"op": "add", "path": "/spec/priorityClassName", "value": "dev-pc"},
                {"op": "remove", "path": "/spec/preemptionPolicy"},
                {"op": "remove", "path": "/spec/priority"},
            ])
        );
    }

    #[test]
    fn plain_accept_and_reject_serialize_like_kwctl() {
        let accept = ValidationResponse {
            accepted: true,
            ..ValidationResponse::default()
        };
        let response =
            AdmissionResponse::from_validation("u", "CREATE", Some(&pod()), &accept, false, "p");
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"uid":"u","allowed":true,"auditAnnotations":null,"warnings":null}"#
        );

        let reject = ValidationResponse {
            accepted: false,
            message: Some("no".to_owned()),
            code: Some(403),
            warnings: Some(vec!["w".to_owned()]),
            ..ValidationResponse::default()
        };
        let response =
            AdmissionResponse::from_validation("u", "CREATE", Some(&pod()), &reject, true, "p");
        assert_eq!(
            serde_json::to_string(&response).unwrap(),
            r#"{"uid":"u","allowed":false,"status":{"message":"no","code":403},"auditAnnotations":null,"warnings":["w"]}"#
        );
    }

    #[test]
    fn mutated_object_equal_to_the_object_is_no_patch() {
        let same = ValidationResponse {
            accepted: true,
            mutated_object: Some(pod()),
            ..ValidationResponse::default()
        };
        let response =
            AdmissionResponse::from_validation("u", "UPDATE", Some(&pod()), &same, false, "p");
        assert!(response.allowed);
        assert_eq!(response.patch, None);
        assert_eq!(response.patch_type, None);
    }

    #[test]
    fn mutation_on_delete_is_refused() {
        for (operation, object) in [("DELETE", None), ("DELETE", Some(pod())), ("CREATE", None)] {
            let response = AdmissionResponse::from_validation(
                "u",
                operation,
                object.as_ref(),
                &mutation(),
                true,
                "p",
            );
            assert!(!response.allowed, "{operation}");
            assert_eq!(response.patch, None);
            assert_eq!(
                response.status.and_then(|s| s.message).as_deref(),
                Some(MUTATION_ON_DELETE_MESSAGE)
            );
        }
        // a null object counts as no object
        let response = AdmissionResponse::from_validation(
            "u",
            "DELETE",
            Some(&Value::Null),
            &mutation(),
            true,
            "p",
        );
        assert!(!response.allowed);
    }

    #[test]
    fn mutation_without_permission_is_refused() {
        let mut answer = mutation();
        answer.warnings = Some(vec!["careful".to_owned()]);
        let response = AdmissionResponse::from_validation(
            "u",
            "CREATE",
            Some(&pod()),
            &answer,
            false,
            "policy.wasm",
        );
        assert!(!response.allowed);
        assert_eq!(response.patch, None);
        assert_eq!(response.patch_type, None);
        assert_eq!(response.warnings, Some(vec!["careful".to_owned()]));
        assert_eq!(
            response.status,
            Some(AdmissionResponseStatus {
                message: Some(
                    "Request rejected by policy policy.wasm. The policy attempted to mutate the \
                     request, but it is currently configured to not allow mutations."
                        .to_owned()
                ),
                code: None,
            })
        );
    }

    #[test]
    fn review_is_unwrapped_and_requests_are_checked() {
        let request = json!({"uid": "abc", "operation": "CREATE", "object": pod()});
        let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                            "request": request});
        assert_eq!(
            admission_request_from_json(review.clone()).unwrap(),
            request
        );
        assert_eq!(
            admission_request_from_json(request.clone()).unwrap(),
            request
        );

        let response = AdmissionResponse::for_request(&review, &mutation(), true, "p").unwrap();
        assert_eq!(response.uid, "abc");
        assert!(response.patch.is_some());

        let err = admission_request_from_json(pod()).unwrap_err().to_string();
        assert!(err.contains("got a Pod"), "{err}");
        assert!(admission_request_from_json(json!({"kind": "AdmissionReview"})).is_err());
        assert!(admission_request_from_json(json!([1])).is_err());
        assert!(
            admission_request_from_json(json!({"uid": "x"}))
                .unwrap_err()
                .to_string()
                .contains("operation")
        );
    }

    #[test]
    fn validation_response_parses_sdk_output() {
        let parsed: ValidationResponse = serde_json::from_str(
            r#"{"accepted":false,"message":"m","code":400,"mutated_object":null,
                "audit_annotations":{"a":"b"},"warnings":null}"#,
        )
        .unwrap();
        assert!(!parsed.accepted);
        assert_eq!(parsed.code, Some(400));
        assert_eq!(
            parsed.audit_annotations,
            Some(BTreeMap::from([("a".to_owned(), "b".to_owned())]))
        );
        let minimal: ValidationResponse = serde_json::from_str(r#"{"accepted":true}"#).unwrap();
        assert!(minimal.accepted && minimal.message.is_none());
        let settings: SettingsValidation = serde_json::from_str(r#"{"valid":true}"#).unwrap();
        assert!(settings.valid);
    }
}
