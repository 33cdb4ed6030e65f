//! priority-guard as a Kubewarden policy: the waPC glue around `priority-guard-sdk`.
//!
//! This crate only parses the payloads policy-server sends, calls the sdk's decision, answers with Kubewarden's
//! response JSON and looks namespaces up through the host. Every answer to a malformed payload is a rejection
//! with a message: no handler returns an error or panics on input.

use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest as guest;
use priority_guard_sdk::decision::{self, ClassLookup, Labels};
use priority_guard_sdk::priority_classes::{self, PriorityClassInfo};
use priority_guard_sdk::{
    Outcome, Payload, PayloadSettings, Settings, messages, mutation, request,
};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;

/// HTTP status of a refused request: the request is understood and refused, as Kubernetes reports a forbidden
/// object.
const CODE_FORBIDDEN: u16 = 403;
/// HTTP status of a request the policy cannot read.
const CODE_BAD_REQUEST: u16 = 400;

/// Registers the waPC functions policy-server calls.
#[allow(
    unsafe_code,
    reason = "waPC finds its entry point by this exported, unmangled name"
)]
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}

fn validate(payload: &[u8]) -> guest::CallResult {
    Ok(validate_payload_in_cluster(
        payload,
        lookup_namespace_labels,
        lookup_priority_class,
    ))
}

fn validate_settings(payload: &[u8]) -> guest::CallResult {
    Ok(validate_settings_payload(payload))
}

/// `validate_settings`: `{"valid": true}` or `{"valid": false, "message": ...}` naming the field.
pub fn validate_settings_payload(payload: &[u8]) -> Vec<u8> {
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

/// `validate`: decides `{"request": <AdmissionRequest>, "settings": <settings>}` and answers with Kubewarden's
/// ValidationResponse JSON. `namespace_labels` reads a namespace's labels (through the host in policy.wasm).
pub fn validate_payload(
    payload: &[u8],
    namespace_labels: impl FnMut(&str) -> Result<Labels, String>,
) -> Vec<u8> {
    validate_payload_in_cluster(payload, namespace_labels, decision::no_priority_classes)
}

/// [`validate_payload`], with `priority_class` reading PriorityClasses (through the host in policy.wasm) for the
/// rules that set `maxPriority` or `allowedPreemptionPolicies`.
pub fn validate_payload_in_cluster(
    payload: &[u8],
    namespace_labels: impl FnMut(&str) -> Result<Labels, String>,
    priority_class: impl FnMut(&str) -> ClassLookup,
) -> Vec<u8> {
    match decide_payload(payload, namespace_labels, priority_class) {
        Ok(decided) => decided.to_json(),
        Err((message, code)) => rejection(message, code).to_json(),
    }
}

/// A decided payload: the response, with the mutated object's JSON text when there is one.
struct Decided {
    accepted: bool,
    message: Option<String>,
    code: Option<u16>,
    mutated_object: Option<String>,
}

fn decide_payload(
    payload: &[u8],
    namespace_labels: impl FnMut(&str) -> Result<Labels, String>,
    priority_class: impl FnMut(&str) -> ClassLookup,
) -> Result<Decided, (String, u16)> {
    let malformed = |e: &dyn std::fmt::Display| (messages::malformed_request(e), CODE_BAD_REQUEST);
    let text = utf8(payload).map_err(|e| malformed(&format!("the payload is not UTF-8: {e}")))?;
    let last = LAST_SETTINGS.with(|last| last.borrow().clone());
    let known = last.as_ref().map(|(text, _)| &**text);
    let payload = Payload::from_json_knowing(text, known)
        .map_err(|e| malformed(&format!("the payload is not a validation request: {e}")))?;
    let invalid =
        |e: priority_guard_sdk::SettingsError| (messages::invalid_settings(&e), CODE_BAD_REQUEST);
    let settings = match (payload.settings, last) {
        (PayloadSettings::Absent, _) => Rc::new(Settings::default()),
        (PayloadSettings::Known(_), Some((_, settings))) => settings,
        // Known settings are those of `last`: not reached, but validated like any others if it were.
        (PayloadSettings::Known(text), None) => {
            validated_settings(text, Settings::from_checked_json(text)).map_err(invalid)?
        }
        (PayloadSettings::Read { text, doc }, _) => {
            validated_settings(text, doc.and_then(Settings::from_owned_doc)).map_err(invalid)?
        }
    };
    let request = payload.request.map_err(|e| malformed(&e))?;
    let outcome = priority_guard_sdk::decide_in_cluster(
        &settings,
        &request,
        namespace_labels,
        priority_class,
    )
    .map_err(|e| {
        let code = match e {
            priority_guard_sdk::DecisionError::Request(_) => CODE_BAD_REQUEST,
            priority_guard_sdk::DecisionError::NamespaceLookup { .. }
            | priority_guard_sdk::DecisionError::PriorityClassLookup { .. } => CODE_FORBIDDEN,
        };
        (e.to_string(), code)
    })?;
    Ok(match outcome {
        Outcome::Accept { .. } => acceptance(None),
        Outcome::Reject { message, .. } => rejection(message, CODE_FORBIDDEN),
        Outcome::Mutate { patch, .. } => {
            let object = request
                .object
                .ok_or_else(|| malformed(&"the admission request has no object"))?;
            // The patch spliced into the object's text: lossless, and without building the object as a value.
            let mutated =
                mutation::apply_to_text_known(object, &patch, request.pod_specs_read_along())
                    .map_err(|e| malformed(&e))?;
            if !request.object_fits_responses() {
                mutation::readable_by_hosts(&mutated).map_err(|e| malformed(&e))?;
            }
            acceptance(Some(mutated))
        }
    })
}

/// The payload as text: checked sixteen bytes at a time with Wasm SIMD (simdutf8), 1.2% of a hot 6 KB Pod
/// validate where std's check was 3.7% (jitdump profiles); std's check, on a refusal only, names where the
/// first invalid byte is.
fn utf8(payload: &[u8]) -> Result<&str, std::str::Utf8Error> {
    simdutf8::basic::from_utf8(payload).or_else(|_| std::str::from_utf8(payload))
}

thread_local! {
    /// The settings of the last request whose settings were valid, as sent and as validated: policy-server sends
    /// the same settings with every request, and validating them costs more than deciding. A payload with the
    /// same settings text is read without checking that text again.
    static LAST_SETTINGS: RefCell<Option<(Rc<str>, Rc<Settings>)>> = const { RefCell::new(None) };
}

/// Settings other than the last valid ones, validated from `json`: remembered when they are valid.
fn validated_settings(
    json: &str,
    validated: Result<Settings, priority_guard_sdk::SettingsError>,
) -> Result<Rc<Settings>, priority_guard_sdk::SettingsError> {
    let settings = Rc::new(validated?);
    LAST_SETTINGS.with(|last| *last.borrow_mut() = Some((Rc::from(json), Rc::clone(&settings))));
    Ok(settings)
}

fn acceptance(mutated_object: Option<String>) -> Decided {
    Decided {
        accepted: true,
        message: None,
        code: None,
        mutated_object,
    }
}

fn rejection(message: String, code: u16) -> Decided {
    Decided {
        accepted: false,
        message: Some(message),
        code: Some(code),
        mutated_object: None,
    }
}

impl Decided {
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
        out.extend_from_slice(br#","audit_annotations":null,"warnings":null}"#);
        out
    }
}

fn to_json(value: &impl Serialize) -> Vec<u8> {
    // Serializing these plain structs (strings, bools, numbers) cannot fail; should it ever, answer with a fixed
    // rejection rather than trap.
    serde_json::to_vec(value).unwrap_or_else(|_| {
        br#"{"accepted":false,"message":"priority-guard could not encode its response","code":500}"#.to_vec()
    })
}

#[derive(Serialize)]
struct GetResource<'a> {
    api_version: &'a str,
    kind: &'a str,
    name: &'a str,
    namespace: Option<&'a str>,
    disable_cache: bool,
    field_masks: Option<[&'a str; 0]>,
}

/// Reads a namespace's labels through Kubewarden's `kubernetes/get_resource` host capability.
fn lookup_namespace_labels(namespace: &str) -> Result<Labels, String> {
    let request = GetResource {
        api_version: "v1",
        kind: "Namespace",
        name: namespace,
        namespace: None,
        disable_cache: false,
        field_masks: None,
    };
    let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    let response = guest::host_call("kubewarden", "kubernetes", "get_resource", &payload)
        .map_err(|e| format!("the host could not get Namespace \"{namespace}\": {e}"))?;
    std::str::from_utf8(&response)
        .map_err(|e| e.to_string())
        .and_then(|text| request::object_labels(text).map_err(|e| e.to_string()))
        .map_err(|e| format!("the host returned an unreadable Namespace \"{namespace}\": {e}"))
}

/// Reads a PriorityClass through Kubewarden's `kubernetes/get_resource` host capability: `Ok(None)` when it does
/// not exist.
///
/// The host reports a missing object as an error. policy-evaluator (kwctl, policy-server) and this project's
/// host say `Cannot find scheduling.k8s.io/v1/PriorityClass named 'x' inside of namespace 'None'` (behind
/// `Callback evaluation failure: `); a host that passes on the Kubernetes client's error says NotFound. Those
/// mean "does not exist"; any other error (no access granted, no cluster) is a failed lookup, and the policy
/// fails closed.
fn lookup_priority_class(name: &str) -> ClassLookup {
    let request = GetResource {
        api_version: priority_classes::API_VERSION,
        kind: priority_classes::KIND,
        name,
        namespace: None,
        disable_cache: false,
        field_masks: None,
    };
    let payload = serde_json::to_vec(&request).map_err(|e| e.to_string())?;
    match guest::host_call("kubewarden", "kubernetes", "get_resource", &payload) {
        Ok(response) => {
            let text = String::from_utf8_lossy(&response);
            PriorityClassInfo::from_json(&text, &format!("PriorityClass \"{name}\""))
                .map(Some)
                .map_err(|e| {
                    format!("the host returned an unreadable PriorityClass \"{name}\": {e}")
                })
        }
        Err(e) => {
            let error = e.to_string();
            if is_not_found(&error) {
                Ok(None)
            } else {
                Err(format!(
                    "the host could not get PriorityClass \"{name}\": {error}"
                ))
            }
        }
    }
}

/// Whether a host error says the object does not exist.
fn is_not_found(error: &str) -> bool {
    error.contains(" not found") || error.contains("NotFound") || {
        // policy-evaluator's `get_resource`: `Cannot find {apiVersion}/{kind} named '{name}' inside of
        // namespace '{namespace:?}'`.
        error
            .find("Cannot find ")
            .is_some_and(|at| error[at..].contains("' inside of namespace '"))
    }
}

#[cfg(test)]
mod lookup_tests {
    use super::is_not_found;

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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(settings: &str) -> serde_json::Value {
        let payload = format!(
            r#"{{"request": {{"uid": "u", "kind": {{"group": "", "version": "v1", "kind": "Pod"}}, "operation": "CREATE", "namespace": "prod", "object": {{"spec": {{"priorityClassName": "dev-pc"}}}}}}, "settings": {settings}}}"#
        );
        let answer = validate_payload(payload.as_bytes(), |_| Ok(Labels::new()));
        serde_json::from_slice(&answer).expect("JSON")
    }

    /// Inputs the mutation fuzz target failed on: a request to be defaulted whose object has a lone surrogate
    /// escape in a key that the reading skips. The answer must be one a host reads back, so it is a refusal
    /// naming the surrogate, as for a lone surrogate in a value.
    #[test]
    fn a_lone_surrogate_in_a_key_is_refused_not_echoed() {
        const SETTINGS: &str = r#"{"rules":[{"name":"production","namespaces":["prod"],"allowedPriorityClasses":["prod-pc"],"defaultPriorityClass":"prod-pc"}],"mutateWorkloadTemplates":true}"#;
        for request in [
            include_str!("../../fuzz/regressions/mutation/mutation-surrogate-key-pod"),
            include_str!("../../fuzz/regressions/mutation/mutation-surrogate-key-rc"),
        ] {
            let payload = format!(r#"{{"request":{},"settings":{SETTINGS}}}"#, request.trim());
            let answer = validate_payload(payload.as_bytes(), |_| Ok(Labels::new()));
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
        let answer = validate_payload(payload.as_bytes(), |_| Ok(Labels::new()));
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
        let strict = r#"{"rules": [{"name": "p", "namespaces": ["prod"], "allowedPriorityClasses": ["prod-pc"]}]}"#;
        let open = r#"{"rules": [{"name": "p", "namespaces": ["prod"]}]}"#;
        let broken = r#"{"rules": [{"name": "p"}]}"#;
        for _ in 0..2 {
            assert_eq!(verdict(strict)["accepted"], false);
            assert_eq!(verdict(strict)["code"], 403);
            assert_eq!(verdict(open)["accepted"], true);
            assert_eq!(verdict(broken)["code"], 400);
            assert_eq!(
                verdict(broken)["code"],
                400,
                "an invalid text is validated again"
            );
        }
        // Known settings are not checked again, but what follows them is.
        assert_eq!(verdict(strict)["code"], 403);
        let spaced = strict.replace(": ", ":");
        assert_eq!(verdict(&spaced)["code"], 403, "another text, validated");
        assert_eq!(verdict(&spaced)["code"], 403, "known");
        let answer = verdict(&format!("{spaced} x"));
        assert_eq!(answer["code"], 400, "{answer}");
        assert!(
            answer["message"]
                .as_str()
                .is_some_and(|m| m.contains("not a validation request")),
            "{answer}"
        );
    }
}
