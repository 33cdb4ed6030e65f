//! End-to-end tests: the real policy.wasm under the wasmtime waPC host, driven with AdmissionReview fixtures.

mod apiserver;
mod bounded;
mod common;
mod cost;
mod differential;
mod docs;
mod engines;
mod fixtures;
mod kwctl;
mod malformed;
mod metadata;
mod report;
mod webhook;
