//! The browser playground's facade over `priority-guard-sdk` (wasm-bindgen, `wasm32-unknown-unknown`).
//!
//! One function, [`evaluate`], takes what the page's editors hold (the settings as YAML, manifests as YAML) and
//! returns, as JSON text, what the sdk says of them: each manifest's verdict, message and patch, decided by the
//! same [`priority_guard_sdk::output::manifest`] code as `priority-guard check` and `policy.wasm`, and the generated
//! ValidatingAdmissionPolicy / MutatingAdmissionPolicy YAML. It converts text to the sdk's types and the sdk's
//! outcomes and errors back to JSON; it decides nothing itself. No I/O: the page does the rest.

use std::collections::BTreeMap;

use priority_guard_sdk::decide::Labels;
use priority_guard_sdk::decide::patch::PatchOp;
use priority_guard_sdk::model::settings::Settings;
use priority_guard_sdk::output::describe::describe;
use priority_guard_sdk::output::manifest::{self, ManifestRequest};
use priority_guard_sdk::output::native::{self, KubernetesVersion, Options};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use wasm_bindgen::prelude::wasm_bindgen;

/// The settings the page opens with: the prod/preprod/dev example of the README and the fixtures.
#[wasm_bindgen]
#[must_use]
pub fn example_settings() -> String {
    include_str!("../../fixtures/prod-preprod-dev/settings.yaml").to_owned()
}

/// The name of the generated admission policies.
const POLICY_NAME: &str = "priority-guard";

/// Everything the page shows, as [`evaluate`] returns it (camelCase JSON).
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Evaluation {
    /// Why the settings are unusable (every problem, with the field it is in), if they are.
    pub settings_error: Option<String>,
    /// Why the manifests cannot be read (with the line), if they cannot.
    pub manifests_error: Option<String>,
    /// Why the Kubernetes version is not one the generator knows, if it is not.
    pub version_error: Option<String>,
    /// One result per object in the manifests, in order (Namespaces give labels and are not listed).
    pub results: Vec<ObjectResult>,
    /// The generated admission policies as multi-document YAML.
    pub generated: Option<String>,
    /// What the generated policies cannot do on that release.
    pub notes: Vec<String>,
}

/// The decision for one object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectResult {
    /// `kind`, e.g. `Deployment`.
    pub kind: String,
    /// `metadata.name` (or `generateName`).
    pub name: String,
    /// The namespace it is created in.
    pub namespace: String,
    /// `allowed`, `defaulted`, `denied`, `warned` (the refusal of a rule whose action is `Warn` or `Audit`:
    /// accepted, with the message as a warning or an audit annotation) or `not-checked`.
    pub verdict: &'static str,
    /// For a warned object, the action of the rule: `Warn` or `Audit`.
    pub action: Option<&'static str>,
    /// The settings rule that decided, if any.
    pub rule: Option<String>,
    /// The policy's message for a denial, otherwise what happened.
    pub message: String,
    /// The RFC 6902 patch the policy returns, for a defaulted object.
    pub patch: Option<Vec<PatchOp>>,
}

/// Evaluates `manifests` (multi-document YAML or JSON) against `settings` (YAML or JSON), creating objects
/// without a namespace in `namespace`, and generates the native admission policies for `kubernetes_version`
/// (e.g. `1.36`). Returns an [`Evaluation`] as JSON text.
#[wasm_bindgen]
#[must_use]
pub fn evaluate(
    settings: &str,
    manifests: &str,
    namespace: &str,
    kubernetes_version: &str,
) -> String {
    let evaluation = evaluation(settings, manifests, namespace, kubernetes_version);
    // Serializing strings, lists and the sdk's patch operations cannot fail.
    serde_json::to_string(&evaluation).unwrap_or_default()
}

/// The documents of a YAML (or JSON) text; empty documents are skipped.
fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for document in serde_yaml_ng::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|e| e.to_string())?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

fn evaluation(
    settings: &str,
    manifests: &str,
    namespace: &str,
    kubernetes_version: &str,
) -> Evaluation {
    let mut evaluation = Evaluation::default();
    let settings = serde_yaml_ng::from_str::<Value>(settings)
        .map_err(|e| format!("invalid YAML: {e}"))
        .and_then(|value| Settings::from_value(value).map_err(|e| e.to_string()));
    let settings = match settings {
        Ok(settings) => settings,
        Err(error) => {
            evaluation.settings_error = Some(error);
            return evaluation;
        }
    };
    match KubernetesVersion::parse(kubernetes_version) {
        Ok(version) => {
            let generated = native::generate(
                &settings,
                &Options {
                    name: POLICY_NAME.to_owned(),
                    kubernetes_version: version,
                },
            );
            match native::to_yaml(&generated.documents) {
                Ok(yaml) => evaluation.generated = Some(yaml),
                Err(error) => evaluation.version_error = Some(error.to_string()),
            }
            evaluation.notes = generated.notes;
        }
        Err(error) => evaluation.version_error = Some(error.to_string()),
    }
    let objects = match documents(manifests) {
        Ok(objects) => objects,
        Err(error) => {
            evaluation.manifests_error = Some(format!("invalid YAML: {error}"));
            return evaluation;
        }
    };
    let namespace = if namespace.trim().is_empty() {
        "default"
    } else {
        namespace.trim()
    };
    // Namespace objects in the manifests give their labels to `namespaceSelector` rules.
    let mut labels: BTreeMap<String, Labels> = BTreeMap::new();
    for object in &objects {
        match manifest::namespace_labels(object) {
            Ok(Some((name, found))) => {
                labels.insert(name, found);
            }
            Ok(None) => {}
            Err(error) => {
                evaluation.manifests_error = Some(format!("a Namespace: {error}"));
                return evaluation;
            }
        }
    }
    for (index, object) in objects.iter().enumerate() {
        if matches!(manifest::namespace_labels(object), Ok(Some(_))) {
            continue;
        }
        let request = match ManifestRequest::from_object(object, namespace) {
            Ok(request) => request,
            Err(error) => {
                evaluation.manifests_error = Some(format!("document {}: {error}", index + 1));
                return evaluation;
            }
        };
        let outcome = request.decide(&settings, |ns: &str| {
            Ok(labels
                .get(ns)
                .cloned()
                .unwrap_or_else(|| manifest::with_name_label(ns, Labels::new())))
        });
        let description = describe(&settings, &request.subject, outcome);
        let subject = request.subject;
        let (verdict, rule, message) = (
            description.verdict.token(),
            description.rule,
            description.message,
        );
        let patch = (!description.patch.is_empty()).then_some(description.patch);
        evaluation.results.push(ObjectResult {
            kind: subject.kind,
            name: subject.name,
            namespace: subject.namespace,
            verdict,
            action: description.action.map(|a| a.as_str()),
            rule,
            message,
            patch,
        });
    }
    evaluation
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;

    const SETTINGS: &str = include_str!("../../fixtures/prod-preprod-dev/settings.yaml");

    fn run(settings: &str, manifests: &str) -> Value {
        serde_json::from_str(&evaluate(settings, manifests, "default", "1.36")).unwrap()
    }

    #[test]
    fn decides_like_the_policy() {
        let out = run(
            SETTINGS,
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: prod}\n\
             spec: {priorityClassName: dev-pc, containers: [{name: c, image: nginx}]}\n\
             ---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: api, namespace: prod}\n\
             spec: {priority: 0, containers: [{name: c, image: nginx}]}\n\
             ---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
        );
        let results = out["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!(results[0]["verdict"], "denied");
        assert_eq!(results[0]["rule"], "production");
        assert_eq!(results[1]["verdict"], "defaulted");
        assert_eq!(
            results[1]["patch"],
            serde_json::json!([
                {"op": "add", "path": "/spec/priorityClassName", "value": "prod-pc"},
                {"op": "remove", "path": "/spec/priority"}
            ])
        );
        assert_eq!(results[2]["verdict"], "not-checked");
        let generated = out["generated"].as_str().unwrap();
        assert!(generated.contains("kind: ValidatingAdmissionPolicy\n"));
        assert!(generated.contains("kind: MutatingAdmissionPolicy\n"));
        assert!(out["settingsError"].is_null() && out["manifestsError"].is_null());
    }

    #[test]
    fn a_warn_or_audit_rule_warns_with_the_default_applied() {
        let settings = "rules:\n  - {name: batch, namespaces: [batch], allowedPriorityClasses: [batch-pc], \
                        action: Warn}\nfallback: {deniedPriorityClasses: [prod-pc], defaultPriorityClass: dev-pc, \
                        action: Audit}\n";
        let out = run(
            settings,
            "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: batch}\n\
             spec: {priorityClassName: dev-pc, containers: []}\n\
             ---\n\
             apiVersion: v1\nkind: Pod\nmetadata: {name: api, namespace: dev}\n\
             spec: {priorityClassName: prod-pc, containers: []}\n",
        );
        let results = out["results"].as_array().unwrap();
        let verdicts: Vec<(&str, &str)> = results
            .iter()
            .map(|r| {
                (
                    r["verdict"].as_str().unwrap(),
                    r["action"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(verdicts, [("warned", "Warn"), ("warned", "Audit")]);
        assert!(
            results[0]["message"]
                .as_str()
                .unwrap()
                .contains("which rule \"batch\" does not allow"),
            "{out}"
        );
    }

    #[test]
    fn namespace_objects_give_labels_to_selector_rules() {
        let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\n\
                   spec: {priorityClassName: preprod-pc, containers: [{name: c, image: nginx}]}\n";
        let alone = run(SETTINGS, pod);
        assert_eq!(alone["results"][0]["rule"], "fallback");
        assert_eq!(alone["results"][0]["verdict"], "denied");
        let labelled = run(
            SETTINGS,
            &format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: shop, labels: {{env: preprod}}}}\n---\n{pod}"
            ),
        );
        assert_eq!(labelled["results"].as_array().unwrap().len(), 1);
        assert_eq!(labelled["results"][0]["rule"], "preproduction");
        assert_eq!(labelled["results"][0]["verdict"], "allowed");
    }

    #[test]
    fn errors_name_what_is_wrong() {
        let bad_settings = run(
            "rules:\n  - name: x\n    namespaces: [a]\n    allowedPriorityClass: [p]\n",
            "",
        );
        let error = bad_settings["settingsError"].as_str().unwrap();
        assert!(
            error.contains("rules[0]") && error.contains("allowedPriorityClass"),
            "{error}"
        );
        assert!(bad_settings["results"].as_array().unwrap().is_empty());

        let bad_yaml = run(SETTINGS, "kind: Pod\n  metadata: [\n");
        assert!(
            bad_yaml["manifestsError"]
                .as_str()
                .unwrap()
                .contains("line"),
            "{bad_yaml}"
        );

        let not_an_object = run(SETTINGS, "- a\n- b\n");
        assert!(
            not_an_object["manifestsError"]
                .as_str()
                .unwrap()
                .contains("not an object")
        );

        let out: Value = serde_json::from_str(&evaluate(SETTINGS, "", "", "1.12")).unwrap();
        assert!(out["versionError"].as_str().unwrap().contains("1.12"));
    }

    /// The playground checks `minPriority` where the Pod's priority is known, as the generated CEL does.
    #[test]
    fn min_priority_refuses_a_resolved_pod_below_the_floor() {
        let settings =
            "rules:\n  - name: production\n    namespaces: [prod]\n    minPriority: 1000\n";
        let manifests = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: prod}\nspec:\n  \
                         priorityClassName: dev-pc\n  priority: 100\n  containers: [{name: app, image: app:1}]\n";
        let out = run(settings, manifests);
        let result = &out["results"][0];
        assert_eq!(result["verdict"], "denied", "{out}");
        assert_eq!(result["rule"], "production");
        assert_eq!(
            result["message"],
            "Pod \"web\" in namespace \"prod\" has priority 100 (from PriorityClass \"dev-pc\"), below the minimum \
             1000 of rule \"production\": use a PriorityClass whose value is at least 1000"
        );
    }
}
