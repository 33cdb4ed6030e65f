//! Reading the files the commands take, with errors that name the file.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

/// Reads a whole file as bytes.
pub(crate) fn read_bytes(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read the {what} {}", path.display()))
}

/// Reads a whole file as UTF-8 text.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String> {
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the {what} {}", path.display()))
}

/// Parses a JSON or YAML document (JSON first, for its clearer errors on JSON input).
pub(crate) fn parse_json_or_yaml(text: &str) -> Result<Value> {
    match serde_json::from_str(text) {
        Ok(value) => Ok(value),
        Err(json_error) => {
            let looks_like_json = text.trim_start().starts_with(['{', '[']);
            serde_yaml_ng::from_str(text).map_err(|yaml_error| {
                if looks_like_json {
                    anyhow::anyhow!("invalid JSON: {json_error}")
                } else {
                    anyhow::anyhow!("invalid YAML: {yaml_error}")
                }
            })
        }
    }
}

/// Reads a JSON or YAML file into a JSON value.
pub(crate) fn read_json_or_yaml(path: &Path, what: &str) -> Result<Value> {
    let text = read_text(path, what)?;
    parse_json_or_yaml(&text).with_context(|| format!("cannot parse the {what} {}", path.display()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_both_formats() {
        assert_eq!(
            parse_json_or_yaml(r#"{"a": [1]}"#).unwrap(),
            json!({"a": [1]})
        );
        assert_eq!(parse_json_or_yaml("a:\n- 1\n").unwrap(), json!({"a": [1]}));
        assert_eq!(parse_json_or_yaml("").unwrap(), Value::Null);
        let err = parse_json_or_yaml(r#"{"a": [}"#).unwrap_err().to_string();
        assert!(err.starts_with("invalid JSON"), "{err}");
        let err = parse_json_or_yaml("a: [\n").unwrap_err().to_string();
        assert!(err.starts_with("invalid YAML"), "{err}");
    }
}
