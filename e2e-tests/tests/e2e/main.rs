//! End-to-end tests: the real policy.wasm under the wasmtime waPC host, driven with AdmissionReview fixtures.

mod common;
mod cost;
mod differential;
mod docs;
mod fixtures;
mod malformed;
mod metadata;
