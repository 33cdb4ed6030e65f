//! The decision on arbitrary request JSON: the kubewarden validator always answers with a ValidationResponse, whose
//! verdict is the sdk's decision, and never panics.

#![no_main]

#[path = "common.rs"]
mod common;

use libfuzzer_sys::fuzz_target;
use priority_guard_sdk::kubewarden::Validator;
use priority_guard_sdk::{AdmissionRequestView, Outcome, Settings, decide};

fuzz_target!(|data: &[u8]| {
    let answer = Validator::default().validate(&common::payload(data), common::labels);
    let answer: serde_json::Value = serde_json::from_slice(&answer).expect("the answer is JSON");
    let accepted = answer["accepted"].as_bool().expect("accepted is a bool");
    if !accepted {
        let message = answer["message"].as_str().expect("a rejection has a message");
        assert!(!message.is_empty());
        assert!(matches!(answer["code"].as_u64(), Some(400 | 403)), "{answer}");
        assert!(answer["mutated_object"].is_null());
    }
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(!accepted, "invalid UTF-8 is refused");
        return;
    };
    let settings = Settings::from_json_slice(common::SETTINGS.as_bytes()).expect("valid settings");
    // The request as the glue sees it: the payload's `request` member (data may be more than one value).
    let Ok(view) = AdmissionRequestView::from_json(text) else {
        return;
    };
    match decide(&settings, &view, common::labels) {
        Ok(ref outcome @ Outcome::Reject { .. }) if outcome.refuses() => {
            assert!(!accepted, "{answer}");
        }
        Err(_) => assert!(!accepted, "{answer}"),
        // A Warn or Audit rule's refusal: let through with the message (and its default, whose object may still
        // fail to be read).
        Ok(Outcome::Reject { .. }) => {
            assert!(
                !accepted || !answer["warnings"].is_null() || !answer["audit_annotations"].is_null(),
                "{answer}"
            );
        }
        Ok(Outcome::Accept { .. }) => {
            assert!(accepted, "{answer}");
            assert!(answer["mutated_object"].is_null());
        }
        // A default also needs the whole object to be read, which may still fail.
        Ok(Outcome::Mutate { .. }) => {
            assert!(!accepted || answer["mutated_object"].is_object(), "{answer}");
        }
    }
});
