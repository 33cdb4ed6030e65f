//! Test support for the end-to-end suites (`tests/e2e`): Kubernetes' in-process admission for the generated
//! admission policies ([`native`]).

pub mod native;
