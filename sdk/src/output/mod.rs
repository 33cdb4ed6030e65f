//! What is made from a decision or from the settings: the mutated object ([`mutation`]), the CEL and the
//! native admission policies ([`cel`], [`native`]), and the decision of a manifest outside the cluster
//! ([`manifest`]).

pub mod cel;
pub mod manifest;
pub mod mutation;
pub mod native;
