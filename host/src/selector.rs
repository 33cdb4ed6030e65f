//! Kubernetes label and field selectors in their string form, as a policy passes them to
//! `list_resources_*`.
//!
//! Label selectors: comma-separated requirements, each one of `key=value`, `key==value`,
//! `key!=value`, `key`, `!key`, `key in (a,b)`, `key notin (a,b)`, `key>N`, `key<N`. As in
//! Kubernetes, `!=` and `notin` also match objects that do not carry the label.
//!
//! Field selectors: comma-separated `field=value`, `field==value` or `field!=value`, where field is
//! `metadata.name` or `metadata.namespace` (the fields every resource type supports).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::error::{HostError, Result};

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
enum LabelOp {
    Exists,
    NotExists,
    Equals(String),
    NotEquals(String),
    In(BTreeSet<String>),
    NotIn(BTreeSet<String>),
    GreaterThan(i64),
    LessThan(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LabelRequirement {
    key: String,
    op: LabelOp,
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    requirements: Vec<LabelRequirement>,
}

/// Splits on commas that are not inside parentheses.
fn split_top_level(text: &str) -> Result<Vec<&str>, String> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth = depth
                    .checked_sub(1)
                    .ok_or_else(|| "unbalanced `)`".to_owned())?;
            }
            ',' if depth == 0 => {
                parts.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return Err("unbalanced `(`".to_owned());
    }
    parts.push(&text[start..]);
    Ok(parts)
}

/// The characters a label key's name part is made of: where a requirement's key ends.
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// A label value, by Kubernetes' rules as priority-guard's sdk checks them everywhere.
fn check_label_value(value: &str) -> Result<(), String> {
    priority_guard_sdk::model::names::label_value(value).map_err(|e| e.to_string())
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name like a non-empty value.
fn check_label_key(key: &str) -> Result<(), String> {
    priority_guard_sdk::model::names::label_key(key).map_err(|e| e.to_string())
}

fn parse_value_set(text: &str) -> Result<BTreeSet<String>, String> {
    let inner = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .ok_or_else(|| format!("expected a parenthesized list of values, got `{text}`"))?;
    let mut values = BTreeSet::new();
    for value in inner.split(',') {
        let value = value.trim();
        check_label_value(value)?;
        values.insert(value.to_owned());
    }
    Ok(values)
}

fn parse_integer(text: &str) -> Result<i64, String> {
    text.parse()
        .map_err(|_| format!("`{text}` is not an integer (required by `<` and `>`)"))
}

fn parse_requirement(term: &str) -> Result<LabelRequirement, String> {
    if let Some(key) = term.strip_prefix('!') {
        let key = key.trim();
        check_label_key(key)?;
        return Ok(LabelRequirement {
            key: key.to_owned(),
            op: LabelOp::NotExists,
        });
    }
    let key_end = term
        .find(|c: char| !(is_name_char(c) || c == '/'))
        .unwrap_or(term.len());
    let key = &term[..key_end];
    check_label_key(key)?;
    let rest = term[key_end..].trim_start();
    let op = if rest.is_empty() {
        LabelOp::Exists
    } else if let Some(value) = rest.strip_prefix("==") {
        let value = value.trim();
        check_label_value(value)?;
        LabelOp::Equals(value.to_owned())
    } else if let Some(value) = rest.strip_prefix("!=") {
        let value = value.trim();
        check_label_value(value)?;
        LabelOp::NotEquals(value.to_owned())
    } else if let Some(value) = rest.strip_prefix('=') {
        let value = value.trim();
        check_label_value(value)?;
        LabelOp::Equals(value.to_owned())
    } else if let Some(value) = rest.strip_prefix('>') {
        LabelOp::GreaterThan(parse_integer(value.trim())?)
    } else if let Some(value) = rest.strip_prefix('<') {
        LabelOp::LessThan(parse_integer(value.trim())?)
    } else if let Some(set) = rest.strip_prefix("notin") {
        LabelOp::NotIn(parse_value_set(set.trim())?)
    } else if let Some(set) = rest.strip_prefix("in") {
        LabelOp::In(parse_value_set(set.trim())?)
    } else {
        return Err(format!("unexpected `{rest}` after key `{key}`"));
    };
    Ok(LabelRequirement {
        key: key.to_owned(),
        op,
    })
}

impl LabelSelector {
    /// Parses the string form of a label selector. An empty (or blank) string selects everything.
    ///
    /// # Errors
    /// [`HostError::LabelSelector`] naming the selector and the problem.
    pub fn parse(selector: &str) -> Result<Self> {
        let error = |message: String| HostError::LabelSelector {
            selector: selector.to_owned(),
            message,
        };
        if selector.trim().is_empty() {
            return Ok(Self::default());
        }
        let requirements = split_top_level(selector)
            .map_err(error)?
            .into_iter()
            .map(|term| {
                let term = term.trim();
                if term.is_empty() {
                    Err("empty requirement".to_owned())
                } else {
                    parse_requirement(term)
                }
            })
            .collect::<Result<Vec<_>, String>>()
            .map_err(error)?;
        Ok(Self { requirements })
    }

    /// Whether a set of labels satisfies every requirement.
    #[must_use]
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|req| {
            let value = labels.get(&req.key).map(String::as_str);
            match (&req.op, value) {
                (LabelOp::Exists, v) => v.is_some(),
                (LabelOp::NotExists, v) => v.is_none(),
                (LabelOp::Equals(want), Some(v)) => v == want,
                (LabelOp::NotEquals(want), Some(v)) => v != want,
                (LabelOp::NotEquals(_) | LabelOp::NotIn(_), None) => true,
                (LabelOp::In(set), Some(v)) => set.contains(v),
                (LabelOp::NotIn(set), Some(v)) => !set.contains(v),
                (LabelOp::GreaterThan(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v > *n),
                (LabelOp::LessThan(n), Some(v)) => v.parse::<i64>().is_ok_and(|v| v < *n),
                (
                    LabelOp::Equals(_)
                    | LabelOp::In(_)
                    | LabelOp::GreaterThan(_)
                    | LabelOp::LessThan(_),
                    None,
                ) => false,
            }
        })
    }

    /// Whether a Kubernetes object's `metadata.labels` satisfy the selector (string values only;
    /// an object without labels has none).
    #[must_use]
    pub fn matches_object(&self, object: &Value) -> bool {
        self.matches(&labels_of(object))
    }
}

/// The string-valued `metadata.labels` of an object.
#[must_use]
pub fn labels_of(object: &Value) -> BTreeMap<String, String> {
    object
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|labels| {
            labels
                .iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The fields a field selector may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Name,
    Namespace,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FieldRequirement {
    field: Field,
    equal: bool,
    value: String,
}

/// A parsed field selector; the empty selector matches everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

impl FieldSelector {
    /// Parses the string form of a field selector. An empty (or blank) string selects everything.
    ///
    /// # Errors
    /// [`HostError::FieldSelector`] for a malformed requirement or a field other than
    /// `metadata.name` and `metadata.namespace`.
    pub fn parse(selector: &str) -> Result<Self> {
        let error = |message: String| HostError::FieldSelector {
            selector: selector.to_owned(),
            message,
        };
        if selector.trim().is_empty() {
            return Ok(Self::default());
        }
        let mut requirements = Vec::new();
        for term in selector.split(',') {
            let term = term.trim();
            let (field, equal, value) = if let Some((f, v)) = term.split_once("!=") {
                (f, false, v)
            } else if let Some((f, v)) = term.split_once("==") {
                (f, true, v)
            } else if let Some((f, v)) = term.split_once('=') {
                (f, true, v)
            } else {
                return Err(error(format!(
                    "`{term}` is not of the form field=value or field!=value"
                )));
            };
            let field = match field.trim() {
                "metadata.name" => Field::Name,
                "metadata.namespace" => Field::Namespace,
                other => {
                    return Err(error(format!(
                        "field `{other}` is not supported (only metadata.name and metadata.namespace are)"
                    )));
                }
            };
            requirements.push(FieldRequirement {
                field,
                equal,
                value: value.trim().to_owned(),
            });
        }
        Ok(Self { requirements })
    }

    /// Whether an object satisfies every requirement; a missing field counts as the empty string.
    #[must_use]
    pub fn matches_object(&self, object: &Value) -> bool {
        self.requirements.iter().all(|req| {
            let pointer = match req.field {
                Field::Name => "/metadata/name",
                Field::Namespace => "/metadata/namespace",
            };
            let actual = object
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or("");
            (actual == req.value) == req.equal
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use serde_json::json;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn label_selector_table() {
        let prod = labels(&[
            ("env", "prod"),
            ("tier", "web"),
            ("kubernetes.io/metadata.name", "a"),
        ]);
        let dev = labels(&[("env", "dev"), ("rank", "5")]);
        let none = labels(&[]);
        // (selector, matches prod, matches dev, matches none)
        let table: &[(&str, bool, bool, bool)] = &[
            ("", true, true, true),
            ("   ", true, true, true),
            ("env=prod", true, false, false),
            ("env==prod", true, false, false),
            ("env = prod", true, false, false),
            ("env!=prod", false, true, true),
            ("env", true, true, false),
            ("!env", false, false, true),
            ("! tier", false, true, true),
            ("env in (prod,dev)", true, true, false),
            ("env in (prod, staging)", true, false, false),
            ("env notin (prod)", false, true, true),
            ("env notin (prod,dev)", false, false, true),
            ("env=prod,tier=web", true, false, false),
            ("env=prod, tier!=web", false, false, false),
            ("env in (prod,dev),!tier", false, true, false),
            ("kubernetes.io/metadata.name=a", true, false, false),
            ("rank>3", false, true, false),
            ("rank<3", false, false, false),
            ("env=", false, false, false),
            ("env!=", true, true, true),
        ];
        for (selector, p, d, n) in table {
            let parsed =
                LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
            assert_eq!(parsed.matches(&prod), *p, "{selector} on prod");
            assert_eq!(parsed.matches(&dev), *d, "{selector} on dev");
            assert_eq!(parsed.matches(&none), *n, "{selector} on no labels");
        }
    }

    #[test]
    fn label_selector_parse_errors() {
        for bad in [
            "env=prod,",
            ",env",
            "env in prod",
            "env in (prod",
            "env notin prod)",
            "env=a=b",
            "env=-bad",
            "env ~ x",
            "rank>x",
            "-env",
            "Bad_Prefix.io/name=x",
            "!",
        ] {
            let err = LabelSelector::parse(bad).unwrap_err();
            assert!(
                matches!(&err, HostError::LabelSelector { selector, .. } if selector == bad),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn label_selector_on_objects() {
        let ns = json!({"metadata": {"name": "a", "labels": {"env": "prod", "n": 3}}});
        assert!(
            LabelSelector::parse("env=prod")
                .unwrap()
                .matches_object(&ns)
        );
        // non-string label values are ignored
        assert!(!LabelSelector::parse("n").unwrap().matches_object(&ns));
        assert!(
            LabelSelector::parse("!env")
                .unwrap()
                .matches_object(&json!({}))
        );
    }

    #[test]
    fn field_selector() {
        let pod = json!({"metadata": {"name": "web", "namespace": "prod"}});
        let node = json!({"metadata": {"name": "n1"}});
        let table: &[(&str, bool, bool)] = &[
            ("", true, true),
            ("metadata.name=web", true, false),
            ("metadata.name==web", true, false),
            ("metadata.name!=web", false, true),
            ("metadata.namespace=prod,metadata.name=web", true, false),
            ("metadata.namespace!=prod", false, true),
            ("metadata.namespace=", false, true),
        ];
        for (selector, on_pod, on_node) in table {
            let parsed = FieldSelector::parse(selector).unwrap();
            assert_eq!(parsed.matches_object(&pod), *on_pod, "{selector} on pod");
            assert_eq!(parsed.matches_object(&node), *on_node, "{selector} on node");
        }
        assert!(
            FieldSelector::parse("status.phase=Running")
                .unwrap_err()
                .to_string()
                .contains("not supported")
        );
        assert!(FieldSelector::parse("metadata.name").is_err());
    }
}
