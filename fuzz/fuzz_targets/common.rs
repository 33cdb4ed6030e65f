//! What the targets share: the settings requests are decided with, and a namespace lookup.

use priority_guard_sdk::decide::Labels;

/// The README's prod/preprod/dev settings, as JSON: a name rule, a selector rule (so lookups happen), a
/// fallback with a wildcard, defaults and unset classes.
pub const SETTINGS: &str = r#"{"rules":[{"name":"system","namespaces":["kube-system"]},{"name":"production","namespaces":["prod"],"allowedPriorityClasses":["prod-pc"],"defaultPriorityClass":"prod-pc"},{"name":"preproduction","namespaceSelector":{"matchLabels":{"env":"preprod"}},"allowedPriorityClasses":["preprod-pc","dev-pc"],"defaultPriorityClass":"preprod-pc"}],"fallback":{"deniedPriorityClasses":["system-*","prod-pc","preprod-pc"],"defaultPriorityClass":"dev-pc"},"unsetPriorityClasses":["cluster-default"],"mutateWorkloadTemplates":true}"#;

/// Namespaces whose name starts with `pre` are labelled env=preprod; `broken` cannot be looked up.
pub fn labels(namespace: &str) -> Result<Labels, String> {
    if namespace == "broken" {
        return Err("lookup failed".to_owned());
    }
    let mut labels = Labels::new();
    if namespace.starts_with("pre") {
        labels.insert("env".to_owned(), "preprod".to_owned());
    }
    Ok(labels)
}

/// The validate payload Kubewarden sends, with `request` as given (any bytes).
pub fn payload(request: &[u8]) -> Vec<u8> {
    [
        br#"{"request": "#.as_slice(),
        request,
        br#", "settings": "#.as_slice(),
        SETTINGS.as_bytes(),
        b"}".as_slice(),
    ]
    .concat()
}
