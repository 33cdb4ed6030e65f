//! The mutation: whenever a request is defaulted, the mutated object is JSON that differs from the request's
//! object only at the patch's paths, where it has the default class (or no member, for a remove).

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use priority_guard_sdk::kubewarden::Validator;
use priority_guard_sdk::decide::patch::PatchOp;
use priority_guard_sdk::{AdmissionRequestView, Outcome, Settings, decide};
use serde_json::Value;

/// Removes the member at `pointer` (an object member path), if there.
fn remove(value: &mut Value, pointer: &str) {
    let (parent, key) = pointer.rsplit_once('/').expect("a member path");
    let key = key.replace("~1", "/").replace("~0", "~");
    if let Some(parent) = value.pointer_mut(parent).and_then(Value::as_object_mut) {
        parent.remove(&key);
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(view) = AdmissionRequestView::from_json(text) else {
        return;
    };
    let settings = Settings::from_json_slice(common::SETTINGS.as_bytes()).expect("valid settings");
    let Ok(Outcome::Mutate { class, patch, .. }) = decide(&settings, &view, common::labels) else {
        return;
    };
    assert!(!patch.is_empty());
    let answer = Validator::default().validate(&common::payload(data), common::labels);
    let answer: Value = serde_json::from_slice(&answer).expect("the answer is JSON");
    if answer["accepted"] == false {
        // Only an answer a host could not read back is refused: too deep, a number beyond a double, or a lone
        // surrogate escape.
        let message = answer["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("recursion limit exceeded")
                || message.contains("number out of range")
                || message.contains("lone surrogate"),
            "{answer}"
        );
        return;
    }
    let mut mutated = answer["mutated_object"].clone();
    assert!(mutated.is_object(), "{answer}");
    let Ok(mut original) = serde_json::from_str::<Value>(view.object.expect("an object")) else {
        // The original holds what serde_json refuses (a number beyond a double) only where the patch removes it.
        return;
    };
    for op in &patch {
        match op {
            PatchOp::Add { path, value } | PatchOp::Replace { path, value } => {
                assert_eq!(value, &Value::String(class.clone()));
                assert_eq!(mutated.pointer(path), Some(value), "{path}");
            }
            PatchOp::Remove { path } => {
                assert!(original.pointer(path).is_some(), "removes only what is there: {path}");
                assert!(mutated.pointer(path).is_none(), "{path}");
            }
        }
        remove(&mut original, op.path());
        remove(&mut mutated, op.path());
    }
    assert_eq!(original, mutated, "only the patch's paths changed");
});
