//! Settings parsing and validation: any bytes give valid settings or field errors, never a panic, and the
//! policy's `validate_settings` answers the same.

#![no_main]

use libfuzzer_sys::fuzz_target;
use priority_guard_sdk::kubewarden::Validator;
use priority_guard_sdk::Settings;

fuzz_target!(|data: &[u8]| {
    let parsed = Settings::from_json_slice(data);
    if let Err(e) = &parsed {
        assert!(!e.errors.is_empty(), "an error names at least one problem");
        for error in &e.errors {
            assert!(!error.field.is_empty() && !error.message.is_empty(), "{error:?}");
        }
    }
    let answer = Validator::validate_settings(data);
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("the answer is JSON");
    assert_eq!(answer["valid"].as_bool(), Some(parsed.is_ok()), "{answer}");
});
