//! Test support for the end-to-end suites (`tests/e2e`): Kubernetes' in-process admission for the generated
//! admission policies ([`native`]), the apiserver's Priority plugin that runs again after a mutation
//! ([`priority_plugin`]), the random cases of the differential suite ([`random`]) and its comparison of the two
//! engines ([`differential`]), an upper bound of their CEL cost ([`cost`]), and a real etcd and kube-apiserver
//! ([`envtest`]) with a test webhook server for policy.wasm ([`webhook`]).

/// The policy.wasm this build tests: built by `build.rs` as `make policy.wasm` builds it (or
/// `PRIORITY_GUARD_POLICY_WASM`).
pub const POLICY_WASM: &str = env!("POLICY_WASM");

pub mod cost;
pub mod differential;
pub mod envtest;
pub mod native;
pub mod priority_plugin;
pub mod random;
pub mod webhook;
