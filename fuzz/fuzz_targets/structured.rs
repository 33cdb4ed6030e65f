//! The `structured` target: the properties of `priority_guard_fuzz_properties::structured`, which `fuzz-properties/tests/replay.rs`
//! also checks on every kept input.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| priority_guard_fuzz_properties::structured(data));
