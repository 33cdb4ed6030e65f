//! Test support for the end-to-end suites (`tests/e2e`): Kubernetes' in-process admission for the generated
//! admission policies ([`native`]) and an upper bound of their CEL cost ([`cost`]).

pub mod cost;
pub mod native;
