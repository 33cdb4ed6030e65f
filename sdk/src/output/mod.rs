//! What is made from a decision or from the settings: the mutated object ([`mutation`]), the CEL and the
//! native admission policies ([`cel`], [`native`]), the decision of a manifest outside the cluster
//! ([`manifest`]), and that decision described for people ([`describe`]).

pub mod cel;
pub mod describe;
pub mod manifest;
pub mod mutation;
pub mod native;
