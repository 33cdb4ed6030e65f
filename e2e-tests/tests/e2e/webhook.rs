//! policy.wasm behind the real kube-apiserver as a mutating admission webhook, the way Kubewarden's policy-server
//! serves it: the test webhook server of `priority_guard_e2e_tests::webhook` runs policy.wasm under the host crate
//! (with the cluster's Namespaces and PriorityClasses), registered with a MutatingWebhookConfiguration whose rules
//! are those of `priority-guard scaffold policy` for the settings. The apiserver then does everything a cluster does
//! with the policy's answer: applies the patch, runs the Priority plugin again on a defaulted Pod (so the Pod is
//! admitted with its class's priority only if the patch is right), and words a refusal as
//! `admission webhook "..." denied the request: <message>`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use base64::Engine as _;
use priority_guard_e2e_tests::envtest::{self, ControlPlane};
use priority_guard_e2e_tests::webhook::WebhookServer;
use priority_guard_host::{AdmissionResponse, ClusterState};
use serde::Deserialize as _;
use serde_json::{Value, json};

use crate::{common, engines};

/// The name of the MutatingWebhookConfiguration.
const CONFIGURATION: &str = "priority-guard-test";
/// The webhook that runs policy.wasm; the apiserver names it in refusals.
pub const POLICY_WEBHOOK: &str = "priority-guard.webhook.test";

/// What the policy webhook decides with.
#[derive(Clone)]
struct Loaded {
    settings: Value,
    cluster: Arc<ClusterState>,
    /// The ClusterAdmissionPolicy's `mutating`: policy-server refuses a mutation of a policy that is not.
    mutating: bool,
}

/// The webhook server and what it decides with now.
pub struct Webhook {
    server: WebhookServer,
    loaded: Arc<Mutex<Option<Loaded>>>,
    /// The warnings the policy webhook returned since [`Webhook::take_warnings`] was last called.
    warnings: Arc<Mutex<Vec<String>>>,
    round: AtomicU64,
}

/// The one webhook server of the test process, on the control plane's serving certificate.
pub fn webhook(plane: &ControlPlane) -> &'static Webhook {
    static WEBHOOK: OnceLock<Webhook> = OnceLock::new();
    WEBHOOK.get_or_init(|| {
        let loaded: Arc<Mutex<Option<Loaded>>> = Arc::default();
        let warnings: Arc<Mutex<Vec<String>>> = Arc::default();
        let state = Arc::clone(&loaded);
        let returned = Arc::clone(&warnings);
        let handler = move |path: &str, request: &Value| -> Value {
            if let Some(round) = path.strip_prefix("/probe/") {
                return refusal(&format!("webhook probe {round}"));
            }
            let loaded = state.lock().unwrap_or_else(PoisonError::into_inner).clone();
            let response = match loaded {
                Some(loaded) => decide(&loaded, request),
                None => refusal("no settings loaded"),
            };
            if let Some(list) = response["warnings"].as_array() {
                returned
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
            }
            response
        };
        let server = WebhookServer::start(
            &plane.dir().join("apiserver.crt"),
            &plane.dir().join("apiserver.key"),
            Arc::new(handler),
        )
        .unwrap_or_else(|e| panic!("{e:#}"));
        Webhook {
            server,
            loaded,
            warnings,
            round: AtomicU64::new(0),
        }
    })
}

fn refusal(message: &str) -> Value {
    json!({"allowed": false, "status": {"message": message, "code": 400}})
}

/// policy.wasm's AdmissionResponse, as policy-server builds it (a host failure is a refusal naming it).
fn decide(loaded: &Loaded, request: &Value) -> Value {
    let module = common::module();
    let answer = module
        .instance(Arc::clone(&loaded.cluster))
        .and_then(|instance| instance.validate(request, &loaded.settings))
        .and_then(|answer| {
            AdmissionResponse::for_request(request, &answer, loaded.mutating, "policy.wasm")
        });
    match answer {
        Ok(response) => serde_json::to_value(response).expect("an AdmissionResponse is JSON"),
        Err(e) => refusal(&format!("policy.wasm failed: {e}")),
    }
}

/// The Kubewarden ClusterAdmissionPolicy that `priority-guard scaffold policy` writes for the settings: its `rules`
/// are what policy-server registers its webhook for, in a mutating configuration when it is `mutating`, else in a
/// validating one.
fn scaffolded_policy(settings_path: &std::path::Path) -> Value {
    let yaml = engines::stdout(
        std::process::Command::new(engines::cli())
            .args(["scaffold", "policy", "--settings"])
            .arg(settings_path),
    );
    let policy = Value::deserialize(serde_yaml_ng::Deserializer::from_str(&yaml))
        .expect("scaffold policy prints YAML");
    assert!(policy["spec"]["rules"].is_array(), "{policy}");
    policy
}

impl Webhook {
    /// The warnings the policy webhook returned since the last call: the apiserver's own warnings (an unknown
    /// field, ...) are told apart from the policy's by these.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Registers the webhook for these settings on this cluster and returns when the apiserver calls it: the
    /// configuration holds, besides the policy's webhook, a probe for ConfigMaps labelled with this round in the
    /// `pg-sync` Namespace, refused once the configuration is in effect. Returns the configuration.
    pub fn install(
        &self,
        plane: &ControlPlane,
        settings_path: &std::path::Path,
        settings: &Value,
        cluster: Arc<ClusterState>,
    ) -> Value {
        let instance = common::module()
            .instance(Arc::clone(&cluster))
            .expect("instance");
        let validation = instance
            .validate_settings(settings)
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(validation.valid, "{settings}: {validation:?}");
        let scaffolded = scaffolded_policy(settings_path);
        let mutating = scaffolded["spec"]["mutating"].as_bool() == Some(true);
        *self.loaded.lock().unwrap_or_else(PoisonError::into_inner) = Some(Loaded {
            settings: settings.clone(),
            cluster,
            mutating,
        });

        let round = self.round.fetch_add(1, Ordering::Relaxed).to_string();
        let ca = std::fs::read(plane.ca_file()).expect("the test CA");
        let ca = base64::engine::general_purpose::STANDARD.encode(ca);
        let mut common_fields = json!({
            "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "failurePolicy": "Fail",
            "timeoutSeconds": 10,
        });
        if mutating {
            common_fields["reinvocationPolicy"] = json!("Never");
        }
        let mut policy = common_fields.clone();
        policy["name"] = json!(POLICY_WEBHOOK);
        policy["clientConfig"] = json!({"url": self.server.url("/policy"), "caBundle": ca});
        policy["rules"] = scaffolded["spec"]["rules"].clone();
        // Out of the way of the control plane's own probes (ConfigMaps and Pods of `pg-sync`).
        policy["namespaceSelector"] = json!({"matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["pg-sync"]}]});
        let mut probe = common_fields;
        probe["name"] = json!("probe.webhook.test");
        probe["clientConfig"] =
            json!({"url": self.server.url(&format!("/probe/{round}")), "caBundle": ca});
        probe["rules"] = json!([{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
            "resources": ["configmaps"]}]);
        probe["objectSelector"] = json!({"matchLabels": {"pg-webhook-probe": round}});
        let configuration = json!({
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": if mutating { "MutatingWebhookConfiguration" } else { "ValidatingWebhookConfiguration" },
            "metadata": {"name": CONFIGURATION},
            "webhooks": [policy, probe],
        });
        plane
            .apply(&configuration)
            .unwrap_or_else(|e| panic!("the webhook configuration: {e:#}"));
        await_probe(plane, &round, true);
        configuration
    }

    /// Removes the configuration and returns when the apiserver no longer calls the webhook.
    pub fn remove(&self, plane: &ControlPlane, configuration: &Value) {
        let path = envtest::object_path(configuration, true).unwrap_or_else(|e| panic!("{e:#}"));
        plane
            .delete_if_exists(&path)
            .unwrap_or_else(|e| panic!("{e:#}"));
        let round =
            configuration["webhooks"][1]["objectSelector"]["matchLabels"]["pg-webhook-probe"]
                .as_str()
                .expect("the probe's round")
                .to_owned();
        await_probe(plane, &round, false);
        *self.loaded.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }
}

/// Waits until a dry-run ConfigMap of the probe's round is refused by the webhook (`in_effect`) or admitted.
fn await_probe(plane: &ControlPlane, round: &str, in_effect: bool) {
    let probe = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "webhook-probe", "namespace": "pg-sync", "labels": {"pg-webhook-probe": round}}});
    let want = format!("webhook probe {round}");
    plane
        .poll("the webhook configuration to take effect", || {
            let reply = plane.post("/api/v1/namespaces/pg-sync/configmaps?dryRun=All", &probe)?;
            let refused = !reply.ok() && reply.message().contains(&want);
            Ok((refused == in_effect).then_some(()))
        })
        .unwrap_or_else(|e| panic!("{e:#}"));
}
