//! What a Kubewarden policy needs, without waPC: the [`Validator`] that answers `validate` and
//! `validate_settings` payloads with Kubewarden's response JSON, and [`HostCluster`], the [`Cluster`] that reads
//! namespaces and PriorityClasses through the host's `kubernetes/get_resource` capability.
//!
//! policy.wasm registers the waPC functions and makes the host calls; everything it answers is decided here, so
//! the same code runs natively in tests and fuzzers.
//!
//! ```
//! use priority_guard_sdk::kubewarden::Validator;
//! use priority_guard_sdk::decide::Labels;
//!
//! let payload = br#"{"request": {"uid": "u", "kind": {"group": "", "version": "v1", "kind": "Pod"},
//!   "operation": "CREATE", "namespace": "prod", "object": {"spec": {"priorityClassName": "dev-pc"}}},
//!   "settings": {"rules": [{"name": "production", "namespaces": ["prod"],
//!                           "allowedPriorityClasses": ["prod-pc"]}]}}"#;
//! let mut validator = Validator::default();
//! let answer = validator.validate(payload, |_: &str| Ok(Labels::new()));
//! let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
//! assert_eq!(answer["accepted"], false);
//! assert_eq!(answer["code"], 403);
//! assert_eq!(
//!     answer["message"],
//!     "Pod \"\" in namespace \"prod\" uses PriorityClass \"dev-pc\", which rule \"production\" does not \
//!      allow (allowed: prod-pc)"
//! );
//! ```

use std::rc::Rc;

use serde::Serialize;

use crate::decide::{ClassLookup, Cluster, DecisionError, Labels, LookupError, Outcome, decide};
use crate::messages;
use crate::model::priority_class::{self, PriorityClassInfo};
use crate::model::settings::{Action, Settings, SettingsError};
use crate::output::mutation;
use crate::read::request::{self, Payload, PayloadSettings};

/// HTTP status of a refused request: the request is understood and refused, as Kubernetes reports a forbidden
/// object.
pub const CODE_FORBIDDEN: u16 = 403;
/// HTTP status of a request the policy cannot read.
pub const CODE_BAD_REQUEST: u16 = 400;
/// The key of the audit annotation that carries the message of a refusal under `action: Audit`. The apiserver
/// prefixes it with the webhook's name (`<webhook>/violation`).
pub const AUDIT_ANNOTATION_KEY: &str = "violation";

/// Answers Kubewarden's `validate` and `validate_settings` calls.
///
/// It keeps the settings of the last payload whose settings were valid, as sent and as validated:
/// policy-server sends the same settings with every request, and validating them costs more than deciding, so a
/// payload with the same settings text is decided without checking that text again.
#[derive(Debug, Default)]
pub struct Validator {
    last_settings: Option<(Rc<str>, Rc<Settings>)>,
}

impl Validator {
    /// A validator that has seen no settings yet.
    pub const fn new() -> Self {
        Self {
            last_settings: None,
        }
    }

    /// `validate`: decides `{"request": <AdmissionRequest>, "settings": <settings>}` and answers with Kubewarden's
    /// ValidationResponse JSON, asking `cluster` for namespace labels and PriorityClasses when a rule needs them.
    /// A payload that cannot be read is refused with a message (code 400), never an error or a panic.
    pub fn validate(&mut self, payload: &[u8], cluster: impl Cluster) -> Vec<u8> {
        match self.decide_payload(payload, cluster) {
            Ok(response) => response.to_json(),
            Err((message, code)) => Response::rejection(message, code).to_json(),
        }
    }

    /// `validate_settings`: `{"valid": true}`, or `{"valid": false, "message": ...}` naming every field that is
    /// wrong.
    pub fn validate_settings(payload: &[u8]) -> Vec<u8> {
        #[derive(Serialize)]
        struct SettingsValidationResponse {
            valid: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            message: Option<String>,
        }
        let response = match Settings::from_json_slice(payload) {
            Ok(_) => SettingsValidationResponse {
                valid: true,
                message: None,
            },
            Err(e) => SettingsValidationResponse {
                valid: false,
                message: Some(e.to_string()),
            },
        };
        to_json(&response)
    }

    fn decide_payload(
        &mut self,
        payload: &[u8],
        cluster: impl Cluster,
    ) -> Result<Response, (String, u16)> {
        let malformed =
            |e: &dyn std::fmt::Display| (messages::malformed_request(e), CODE_BAD_REQUEST);
        let text =
            utf8(payload).map_err(|e| malformed(&format!("the payload is not UTF-8: {e}")))?;
        let last = self.last_settings.clone();
        let known = last.as_ref().map(|(text, _)| &**text);
        let payload = Payload::from_json_knowing(text, known)
            .map_err(|e| malformed(&format!("the payload is not a validation request: {e}")))?;
        let invalid = |e: SettingsError| (messages::invalid_settings(&e), CODE_BAD_REQUEST);
        let settings = match (payload.settings, last) {
            (PayloadSettings::Absent, _) => Rc::new(Settings::default()),
            (PayloadSettings::Known(_), Some((_, settings))) => settings,
            // Known settings are those of `last`: not reached, but validated like any others if it were.
            (PayloadSettings::Known(text), None) => self
                .remember(text, Settings::from_checked_json(text))
                .map_err(invalid)?,
            (PayloadSettings::Read { text, doc }, _) => self
                .remember(text, doc.and_then(Settings::from_owned_doc))
                .map_err(invalid)?,
        };
        let request = payload.request.map_err(|e| malformed(&e))?;
        let outcome = decide(&settings, &request, cluster).map_err(|e| {
            let code = match e {
                DecisionError::Request(_) => CODE_BAD_REQUEST,
                DecisionError::NamespaceLookup { .. }
                | DecisionError::PriorityClassLookup { .. } => CODE_FORBIDDEN,
            };
            (e.to_string(), code)
        })?;
        let finding = match &outcome {
            Outcome::Reject {
                message, action, ..
            } if !action.refuses() => Some((*action, message.clone())),
            Outcome::Reject { message, .. } => {
                return Ok(Response::rejection(message.clone(), CODE_FORBIDDEN));
            }
            Outcome::Accept { .. } | Outcome::Mutate { .. } => None,
        };
        let patch = outcome.patch();
        let mut response = if patch.is_empty() {
            Response::acceptance(None)
        } else {
            let object = request
                .object
                .ok_or_else(|| malformed(&"the admission request has no object"))?;
            // The patch spliced into the object's text: lossless, and without building the object as a
            // value.
            let mutated =
                mutation::apply_to_text_known(object, patch, request.pod_specs_read_along())
                    .map_err(|e| malformed(&e))?;
            if !request.object_fits_responses() {
                mutation::readable_by_hosts(&mutated).map_err(|e| malformed(&e))?;
            }
            Response::acceptance(Some(mutated))
        };
        response.finding = finding;
        Ok(response)
    }

    /// Settings other than the last valid ones, validated from `text`: remembered when they are valid.
    fn remember(
        &mut self,
        text: &str,
        validated: Result<Settings, SettingsError>,
    ) -> Result<Rc<Settings>, SettingsError> {
        let settings = Rc::new(validated?);
        self.last_settings = Some((Rc::from(text), Rc::clone(&settings)));
        Ok(settings)
    }
}

/// The payload as text: checked sixteen bytes at a time with Wasm SIMD (simdutf8) in policy.wasm, where std's
/// check was three times as costly; std's check, on a refusal only, names where the first invalid byte is.
fn utf8(payload: &[u8]) -> Result<&str, std::str::Utf8Error> {
    simdutf8::basic::from_utf8(payload).or_else(|_| std::str::from_utf8(payload))
}

/// A ValidationResponse, with the mutated object's JSON text when there is one.
struct Response {
    accepted: bool,
    message: Option<String>,
    code: Option<u16>,
    mutated_object: Option<String>,
    /// The refusal of a rule whose action lets the request through: a warning or an audit annotation.
    finding: Option<(Action, String)>,
}

impl Response {
    fn acceptance(mutated_object: Option<String>) -> Self {
        Self {
            accepted: true,
            message: None,
            code: None,
            mutated_object,
            finding: None,
        }
    }

    fn rejection(message: String, code: u16) -> Self {
        Self {
            accepted: false,
            message: Some(message),
            code: Some(code),
            mutated_object: None,
            finding: None,
        }
    }

    /// Kubewarden's ValidationResponse JSON (the fields of `kubewarden_policy_sdk::response::ValidationResponse`,
    /// in its order), written directly so that the mutated object's text goes in as it is.
    fn to_json(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            128 + self.message.as_ref().map_or(0, String::len)
                + self.mutated_object.as_ref().map_or(0, String::len),
        );
        out.extend_from_slice(br#"{"accepted":"#);
        out.extend_from_slice(if self.accepted { b"true" } else { b"false" });
        out.extend_from_slice(br#","message":"#);
        match &self.message {
            Some(message) => out.extend_from_slice(&to_json(message)),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","code":"#);
        match self.code {
            Some(code) => out.extend_from_slice(code.to_string().as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","mutated_object":"#);
        match &self.mutated_object {
            Some(object) => out.extend_from_slice(object.as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","audit_annotations":"#);
        match &self.finding {
            Some((Action::Audit, message)) => {
                out.extend_from_slice(b"{");
                out.extend_from_slice(&to_json(&AUDIT_ANNOTATION_KEY));
                out.extend_from_slice(b":");
                out.extend_from_slice(&to_json(message));
                out.extend_from_slice(b"}");
            }
            _ => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","warnings":"#);
        match &self.finding {
            Some((Action::Warn, message)) => {
                out.extend_from_slice(b"[");
                out.extend_from_slice(&to_json(message));
                out.extend_from_slice(b"]");
            }
            _ => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b"}");
        out
    }
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serializing these plain values (strings, bools, numbers) cannot fail; should it ever, answer with a fixed
    // rejection rather than trap.
    serde_json::to_vec(value).unwrap_or_else(|_| {
        br#"{"accepted":false,"message":"priority-guard could not encode its response","code":500}"#.to_vec()
    })
}

/// The payload of Kubewarden's `kubernetes/get_resource` host call.
#[derive(Debug, Serialize)]
pub struct GetResource<'a> {
    /// The object's apiVersion.
    pub api_version: &'a str,
    /// Its kind.
    pub kind: &'a str,
    /// Its name.
    pub name: &'a str,
    /// Its namespace, `None` for cluster-scoped kinds.
    pub namespace: Option<&'a str>,
    /// Whether the host may answer from its cache.
    pub disable_cache: bool,
    /// The fields to return, `None` for all.
    pub field_masks: Option<[&'a str; 0]>,
}

/// The [`Cluster`] of a Kubewarden policy: namespaces and PriorityClasses read through the host's
/// `kubernetes/get_resource` capability. `get_resource` makes the host call with the JSON payload of a
/// [`GetResource`] and returns the host's answer or its error text.
#[derive(Debug, Clone, Copy)]
pub struct HostCluster<F> {
    get_resource: F,
}

impl<F: FnMut(&[u8]) -> Result<Vec<u8>, String>> HostCluster<F> {
    /// A cluster read through `get_resource`.
    pub fn new(get_resource: F) -> Self {
        Self { get_resource }
    }

    fn get(&mut self, api_version: &str, kind: &str, name: &str) -> Result<Vec<u8>, String> {
        let request = GetResource {
            api_version,
            kind,
            name,
            namespace: None,
            disable_cache: false,
            field_masks: None,
        };
        let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
        (self.get_resource)(&payload)
    }
}

impl<F: FnMut(&[u8]) -> Result<Vec<u8>, String>> Cluster for HostCluster<F> {
    fn namespace_labels(&mut self, namespace: &str) -> Result<Labels, LookupError> {
        let response = self
            .get("v1", "Namespace", namespace)
            .map_err(|e| format!("the host could not get Namespace \"{namespace}\": {e}"))?;
        std::str::from_utf8(&response)
            .map_err(|e| e.to_string())
            .and_then(|text| request::object_labels(text).map_err(|e| e.to_string()))
            .map_err(|e| format!("the host returned an unreadable Namespace \"{namespace}\": {e}"))
            .map_err(LookupError::from)
    }

    /// `Ok(None)` when the class does not exist. The host reports a missing object as an error; any other error
    /// (no access granted, no cluster) is a failed lookup, and the policy fails closed.
    fn priority_class(&mut self, name: &str) -> ClassLookup {
        match self.get(priority_class::API_VERSION, priority_class::KIND, name) {
            Ok(response) => {
                let text = String::from_utf8_lossy(&response);
                PriorityClassInfo::from_json(&text, &format!("PriorityClass \"{name}\""))
                    .map(Some)
                    .map_err(|e| {
                        format!("the host returned an unreadable PriorityClass \"{name}\": {e}")
                            .into()
                    })
            }
            Err(error) if is_not_found(&error) => Ok(None),
            Err(error) => {
                Err(format!("the host could not get PriorityClass \"{name}\": {error}").into())
            }
        }
    }
}

/// Whether a host error says the object does not exist. policy-evaluator (kwctl, policy-server) and this
/// project's host say `Cannot find scheduling.k8s.io/v1/PriorityClass named 'x' inside of namespace 'None'`
/// (behind `Callback evaluation failure: `); a host that passes on the Kubernetes client's error says NotFound.
fn is_not_found(error: &str) -> bool {
    error.contains(" not found") || error.contains("NotFound") || {
        error
            .find("Cannot find ")
            .is_some_and(|at| error[at..].contains("' inside of namespace '"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_objects_are_told_from_failed_lookups() {
        assert!(is_not_found(
            r#"ApiError: priorityclasses.scheduling.k8s.io "x" not found: NotFound (ErrorResponse { reason: "NotFound", code: 404 })"#
        ));
        // kwctl 1.31.0 against a real apiserver, as the guest sees it.
        assert!(is_not_found(
            "Host error: Callback evaluation failure: Cannot find scheduling.k8s.io/v1/PriorityClass named 'dev-typo' inside of namespace 'None'"
        ));
        assert!(is_not_found(
            r#"Callback evaluation failure: Cannot find v1/Namespace named 'x' inside of namespace 'Some("x")'"#
        ));
        assert!(!is_not_found(
            "Host error: Callback evaluation failure: error trying to connect: tcp connect error: Connection refused"
        ));
        assert!(!is_not_found(
            "Policy has not been granted access to Kubernetes scheduling.k8s.io/v1/PriorityClass resources. The violation has been reported."
        ));
        assert!(!is_not_found(
            "no kubernetes cluster is connected to this host"
        ));
    }

    #[test]
    fn lookups_go_through_get_resource() {
        let mut asked = Vec::new();
        let mut cluster = HostCluster::new(|payload: &[u8]| {
            let request: serde_json::Value = serde_json::from_slice(payload).expect("JSON");
            asked.push(request.clone());
            match request["name"].as_str() {
                Some("prod") => Ok(br#"{"metadata":{"name":"prod","labels":{"env":"prod"}}}"#.to_vec()),
                Some("prod-pc") => Ok(br#"{"value":1000,"preemptionPolicy":"Never"}"#.to_vec()),
                _ => Err("Host error: Callback evaluation failure: Cannot find scheduling.k8s.io/v1/PriorityClass named 'x' inside of namespace 'None'".to_owned()),
            }
        });
        assert_eq!(
            cluster.namespace_labels("prod"),
            Ok(Labels::from([("env".to_owned(), "prod".to_owned())]))
        );
        assert_eq!(
            cluster.priority_class("prod-pc"),
            Ok(Some(PriorityClassInfo {
                value: 1000,
                preemption_policy: crate::model::priority_class::PreemptionPolicy::Never
            }))
        );
        assert_eq!(cluster.priority_class("x"), Ok(None));
        assert_eq!(asked[0]["kind"], "Namespace");
        assert_eq!(asked[0]["api_version"], "v1");
        assert_eq!(asked[1]["kind"], "PriorityClass");
        assert_eq!(asked[1]["api_version"], "scheduling.k8s.io/v1");
        assert_eq!(asked[1]["namespace"], serde_json::Value::Null);
    }

    fn verdict(validator: &mut Validator, settings: &str) -> serde_json::Value {
        let payload = format!(
            r#"{{"request": {{"uid": "u", "kind": {{"group": "", "version": "v1", "kind": "Pod"}}, "operation": "CREATE", "namespace": "prod", "object": {{"spec": {{"priorityClassName": "dev-pc"}}}}}}, "settings": {settings}}}"#
        );
        let answer = validator.validate(payload.as_bytes(), |_: &str| Ok(Labels::new()));
        serde_json::from_slice(&answer).expect("JSON")
    }

    /// Inputs the mutation fuzz target failed on: a request to be defaulted whose object has a lone surrogate
    /// escape in a key that the reading skips. The answer must be one a host reads back, so it is a refusal
    /// naming the surrogate, as for a lone surrogate in a value.
    #[test]
    fn a_lone_surrogate_in_a_key_is_refused_not_echoed() {
        let mut validator = Validator::default();
        const SETTINGS: &str = r#"{"rules":[{"name":"production","namespaces":["prod"],"allowedPriorityClasses":["prod-pc"],"defaultPriorityClass":"prod-pc"}],"mutateWorkloadTemplates":true}"#;
        for request in [
            include_str!("../../fuzz/regressions/mutation/mutation-surrogate-key-pod"),
            include_str!("../../fuzz/regressions/mutation/mutation-surrogate-key-rc"),
        ] {
            let payload = format!(r#"{{"request":{},"settings":{SETTINGS}}}"#, request.trim());
            let answer = validator.validate(payload.as_bytes(), |_: &str| Ok(Labels::new()));
            let answer: serde_json::Value =
                serde_json::from_slice(&answer).expect("an answer hosts can read");
            assert_eq!(answer["accepted"], false, "{answer}");
            assert_eq!(answer["code"], 400, "{answer}");
            assert!(
                answer["message"]
                    .as_str()
                    .is_some_and(|m| m.contains("lone surrogate")),
                "{answer}"
            );
        }
        // A valid pair in a key is no reason to refuse: the Pod is defaulted.
        let payload = format!(
            r#"{{"request":{{"uid":"u","kind":{{"group":"","version":"v1","kind":"Pod"}},"operation":"CREATE","namespace":"prod","object":{{"metadata":{{"annotations":{{"smile\ud83d\ude00":"x"}}}},"spec":{{"containers":[]}}}}}},"settings":{SETTINGS}}}"#
        );
        let answer = validator.validate(payload.as_bytes(), |_: &str| Ok(Labels::new()));
        let answer: serde_json::Value = serde_json::from_slice(&answer).expect("JSON");
        assert_eq!(answer["accepted"], true, "{answer}");
        assert_eq!(
            answer["mutated_object"]["metadata"]["annotations"]["smile\u{1f600}"], "x",
            "{answer}"
        );
        assert_eq!(
            answer["mutated_object"]["spec"]["priorityClassName"],
            "prod-pc"
        );
    }

    #[test]
    fn settings_are_reused_only_for_the_same_text() {
        let mut validator = Validator::default();
        let strict = r#"{"rules": [{"name": "p", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"]}]}"#;
        let open = r#"{"rules": [{"name": "p", "namespaces": ["prod"]}]}"#;
        let broken = r#"{"rules": [{"name": "p"}]}"#;
        for _ in 0..2 {
            assert_eq!(verdict(&mut validator, strict)["accepted"], false);
            assert_eq!(verdict(&mut validator, strict)["code"], 403);
            assert_eq!(verdict(&mut validator, open)["accepted"], true);
            assert_eq!(verdict(&mut validator, broken)["code"], 400);
            assert_eq!(
                verdict(&mut validator, broken)["code"],
                400,
                "an invalid text is validated again"
            );
        }
        // Known settings are not checked again, but what follows them is.
        assert_eq!(verdict(&mut validator, strict)["code"], 403);
        let spaced = strict.replace(": ", ":");
        assert_eq!(
            verdict(&mut validator, &spaced)["code"],
            403,
            "another text, validated"
        );
        assert_eq!(verdict(&mut validator, &spaced)["code"], 403, "known");
        let answer = verdict(&mut validator, &format!("{spaced} x"));
        assert_eq!(answer["code"], 400, "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains("not a validation request")),
            "{answer}"
        );
    }
}
