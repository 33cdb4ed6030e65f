//! The shared core of priority-guard.
//!
//! This crate decides which Kubernetes PriorityClass a Pod or workload may use in which namespace, and which
//! class it gets when it names none. It holds the settings model and its validation ([`settings`]), the pod-spec
//! paths of every workload kind ([`kinds`]), a borrowed view of admission requests ([`request`]), the decision
//! ([`decision`]), the JSON patch a default produces ([`mutation`]), every message text ([`messages`]), and the
//! CREATE request a manifest stands for, so that manifests are checked by the same decision ([`manifest`]). From
//! the same model it emits the CEL ([`cel`]) of the ValidatingAdmissionPolicy and MutatingAdmissionPolicy that
//! make Kubernetes' own admission decide the same way ([`native`]).
//!
//! It does no I/O: no files, no network, no waPC and no wasm-bindgen. The one thing it cannot know by itself,
//! the labels of a namespace, is asked for through a callback, and only when a rule's `namespaceSelector`
//! needs them. The same code therefore compiles for the host, `wasm32-wasip1` (the Kubewarden policy) and
//! `wasm32-unknown-unknown` (the browser playground), and every engine decides the same way.

pub mod cel;
pub mod custom;
pub mod decision;
pub(crate) mod json;
pub mod kinds;
pub mod manifest;
pub mod messages;
pub mod mutation;
pub mod names;
pub mod native;
pub mod pattern;
pub mod priority_classes;
pub mod request;
pub mod selector;
pub mod settings;
mod settings_reader;

pub use decision::{AcceptReason, DecisionError, Outcome, decide, decide_in_cluster};
pub use request::{AdmissionRequestView, Payload, PayloadSettings, RequestError};
pub use settings::{Settings, SettingsError};
