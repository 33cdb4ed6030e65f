//! priority-guard as a Kubewarden policy: the waPC registration and the host calls around
//! [`priority_guard_sdk::kubewarden`], which decides every payload and writes every answer.
//!
//! Every answer to a malformed payload is a rejection with a message: no handler returns an error or panics on
//! input.

use std::cell::RefCell;

use kubewarden_policy_sdk::wapc_guest as guest;
use priority_guard_sdk::kubewarden::{HostCluster, Validator};

thread_local! {
    /// The validator of this instance: it keeps the last valid settings, which policy-server sends again with
    /// every request.
    static VALIDATOR: RefCell<Validator> = const { RefCell::new(Validator::new()) };
}

/// Registers the waPC functions policy-server calls.
#[allow(
    unsafe_code,
    reason = "waPC finds its entry point by this exported, unmangled name"
)]
#[unsafe(no_mangle)]
pub extern "C" fn wapc_init() {
    guest::register_function("validate", validate);
    guest::register_function("validate_settings", validate_settings);
    guest::register_function(
        "protocol_version",
        kubewarden_policy_sdk::protocol_version_guest,
    );
}

fn validate(payload: &[u8]) -> guest::CallResult {
    let cluster = HostCluster::new(|request: &[u8]| {
        guest::host_call("kubewarden", "kubernetes", "get_resource", request)
            .map_err(|e| e.to_string())
    });
    Ok(VALIDATOR.with(|validator| validator.borrow_mut().validate(payload, cluster)))
}

fn validate_settings(payload: &[u8]) -> guest::CallResult {
    Ok(Validator::validate_settings(payload))
}
