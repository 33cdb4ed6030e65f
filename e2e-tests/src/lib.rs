//! Test-only crate: see `tests/e2e.rs`.
