//! The shared core of priority-guard.
//!
//! This crate decides which Kubernetes PriorityClass a Pod or workload may use in which namespace, and which
//! class it gets when it names none. It holds the settings model and its validation, the pod-spec paths of every
//! workload kind, a borrowed view of admission requests, the decision, the JSON patch a default produces, every
//! message text, and the CREATE request a manifest stands for, so that manifests are checked by the same
//! decision. From the same model it emits the CEL of the ValidatingAdmissionPolicy and MutatingAdmissionPolicy
//! that make Kubernetes' own admission decide the same way.
//!
//! It does no I/O: no files, no network, no waPC and no wasm-bindgen. What it cannot know by itself, the labels
//! of a namespace and the PriorityClasses of the cluster, it asks for through callbacks, and only when a rule
//! needs them. The same code therefore compiles for the host, `wasm32-wasip1` (the Kubewarden policy) and
//! `wasm32-unknown-unknown` (the browser playground), and every engine decides the same way.
//!
//! # Layers
//!
//! Each module below is a layer, and a layer imports only the layers listed before it (a test over the sources,
//! `tests/layers.rs`, keeps it so):
//!
//! 1. `json` (private): the strict reader of untrusted JSON text and its limits.
//! 2. [`model`]: settings types, workload kinds and their pod-spec paths, selectors, class patterns, names.
//! 3. [`messages`]: every text a user sees.
//! 4. [`read`]: settings from text and their validation, the admission request and Kubewarden payload as
//!    borrowed views, PriorityClass objects, custom kinds' pod specs.
//! 5. [`decide`](mod@decide): the decision, the PriorityClass checks, the outcome with its reason and patch.
//! 6. [`output`]: the mutated object, the CEL and native YAML, the decision of a manifest.
//! 7. [`kubewarden`]: what policy.wasm needs: the validator that owns the settings cache and writes the
//!    response, and the cluster read through the host.
//!
//! How a layer is made fast stays inside it: callers use the entry points re-exported here.
//!
//! # Examples
//!
//! Settings from YAML, as a Kubewarden policy's `settings` are written (feature `yaml`); malformed settings are
//! refused with every field that is wrong:
//!
//! ```
//! # #[cfg(feature = "yaml")] {
//! use priority_guard_sdk::Settings;
//!
//! let settings = Settings::from_yaml(
//!     r"
//! rules:
//!   - name: production
//!     namespaces: [prod]
//!     allowedPriorityClasses: [prod-pc]
//!     defaultPriorityClass: prod-pc
//! ",
//! )
//! .expect("valid settings");
//! assert_eq!(settings.rules[0].name, "production");
//!
//! let error = Settings::from_yaml("rules: [{name: dev, maxPriority: high}]").unwrap_err();
//! assert_eq!(error.errors[0].field, "rules[0].maxPriority");
//! # }
//! ```
//!
//! Deciding an admission request, with the cluster asked for a namespace's labels because a rule selects
//! namespaces by label:
//!
//! ```
//! use priority_guard_sdk::decide::{Labels, Lookups};
//! use priority_guard_sdk::{AdmissionRequestView, Outcome, Settings, decide};
//!
//! let settings = Settings::from_value(serde_json::json!({
//!     "rules": [{"name": "preproduction", "namespaceSelector": {"matchLabels": {"env": "preprod"}},
//!                "allowedPriorityClasses": ["preprod-pc"], "defaultPriorityClass": "preprod-pc"}]
//! }))?;
//! let request = r#"{"uid": "1", "kind": {"group": "", "version": "v1", "kind": "Pod"},
//!     "operation": "CREATE", "namespace": "shop-staging",
//!     "object": {"metadata": {"name": "web"}, "spec": {"containers": [], "priority": 0}}}"#;
//! let view = AdmissionRequestView::from_json(request)?;
//! let cluster = Lookups::new(
//!     |namespace| match namespace {
//!         "shop-staging" => Ok(Labels::from([("env".to_owned(), "preprod".to_owned())])),
//!         other => Err(format!("no namespace {other}")),
//!     },
//!     |_class| Ok(None),
//! );
//! let Outcome::Mutate { rule, class, patch } = decide(&settings, &view, cluster)? else {
//!     panic!("defaulted")
//! };
//! assert_eq!((rule.as_str(), class.as_str()), ("preproduction", "preprod-pc"));
//! // The class is set, and the priority the apiserver filled in from the old class is removed.
//! let paths: Vec<&str> = patch.iter().map(|op| op.path()).collect();
//! assert_eq!(paths, ["/spec/priorityClassName", "/spec/priority"]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The same settings as Kubernetes' own admission policies (feature `yaml` for the text):
//!
//! ```
//! # #[cfg(feature = "yaml")] {
//! use priority_guard_sdk::Settings;
//! use priority_guard_sdk::output::native::{self, Options};
//!
//! let settings = Settings::from_yaml("fallback: {deniedPriorityClasses: [system-*]}").unwrap();
//! let generated = native::generate(&settings, &Options::default());
//! let yaml = native::to_yaml(&generated.documents).unwrap();
//! assert!(yaml.contains("kind: ValidatingAdmissionPolicy\n"));
//! assert!(yaml.contains("kind: ValidatingAdmissionPolicyBinding\n"));
//! # }
//! ```
//!
//! Deciding a manifest is [`output::manifest::ManifestRequest`]'s (see the crate's README), and answering
//! Kubewarden's payloads is [`kubewarden::Validator`]'s.

#![warn(missing_docs)]

pub(crate) mod json;

pub mod decide;
pub mod kubewarden;
pub mod messages;
pub mod model;
pub mod output;
pub mod read;

pub use decide::{AcceptReason, Cluster, DecisionError, Outcome, decide};
pub use model::settings::{Settings, SettingsError};
pub use read::request::{AdmissionRequestView, Payload, PayloadSettings, RequestError};

/// The README's example runs as a test.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
