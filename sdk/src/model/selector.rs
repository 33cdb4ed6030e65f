//! Kubernetes label selectors (`matchLabels` and `matchExpressions`) for matching namespaces.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A label selector as written in the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LabelSelectorDoc {
    /// Labels that must all be present with these values.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<String, String>>,
    /// Requirements that must all hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<RequirementDoc>>,
}

/// One `matchExpressions` entry as written in the settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RequirementDoc {
    /// The label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists` or `DoesNotExist`.
    pub operator: String,
    /// The values for `In` and `NotIn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<String>>,
}

/// A validated label selector. An empty selector matches every namespace, as in Kubernetes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LabelSelector {
    /// Every requirement, `matchLabels` first (as `In` with one value), in the order written.
    pub requirements: Vec<Requirement>,
}

/// A single validated requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    /// The label key.
    pub key: String,
    /// The operator and its values.
    pub operator: Operator,
}

/// A requirement's operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operator {
    /// The label is present and its value is one of these.
    In(BTreeSet<String>),
    /// The label is absent, or its value is none of these.
    NotIn(BTreeSet<String>),
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
}

impl LabelSelector {
    /// Validates a selector; `field` names it in error messages (e.g. `rules[0].namespaceSelector`).
    /// (`field` is written out only for an error: a fresh instance validates its settings on its first request.)
    pub(crate) fn from_doc(
        doc: &LabelSelectorDoc,
        field: &dyn std::fmt::Display,
    ) -> Result<Self, Vec<(String, String)>> {
        let mut errors = Vec::new();
        let mut requirements = Vec::new();
        for (key, value) in doc.match_labels.iter().flatten() {
            if let Err(e) = crate::model::names::label_key(key).map_err(|e| e.to_string()) {
                errors.push((format!("{field}.matchLabels"), e));
            }
            if let Err(e) = crate::model::names::label_value(value).map_err(|e| e.to_string()) {
                errors.push((format!("{field}.matchLabels.{key}"), e));
            }
            requirements.push(Requirement {
                key: key.clone(),
                operator: Operator::In(BTreeSet::from([value.clone()])),
            });
        }
        for (i, expr) in doc.match_expressions.iter().flatten().enumerate() {
            let at = format!("{field}.matchExpressions[{i}]");
            if let Err(e) = crate::model::names::label_key(&expr.key).map_err(|e| e.to_string()) {
                errors.push((format!("{at}.key"), e));
            }
            let values: BTreeSet<String> = expr.values.iter().flatten().cloned().collect();
            for value in &values {
                if let Err(e) = crate::model::names::label_value(value).map_err(|e| e.to_string()) {
                    errors.push((format!("{at}.values"), e));
                }
            }
            let operator = match expr.operator.as_str() {
                "In" | "NotIn" => {
                    if values.is_empty() {
                        errors.push((
                            format!("{at}.values"),
                            format!("operator {} needs at least one value", expr.operator),
                        ));
                    }
                    if expr.operator == "In" {
                        Operator::In(values)
                    } else {
                        Operator::NotIn(values)
                    }
                }
                "Exists" | "DoesNotExist" => {
                    if !values.is_empty() {
                        errors.push((
                            format!("{at}.values"),
                            format!("operator {} takes no values", expr.operator),
                        ));
                    }
                    if expr.operator == "Exists" {
                        Operator::Exists
                    } else {
                        Operator::DoesNotExist
                    }
                }
                other => {
                    errors.push((
                        format!("{at}.operator"),
                        format!(
                            "\"{other}\" is not a supported operator (use In, NotIn, Exists or DoesNotExist)"
                        ),
                    ));
                    continue;
                }
            };
            requirements.push(Requirement {
                key: expr.key.clone(),
                operator,
            });
        }
        if errors.is_empty() {
            Ok(Self { requirements })
        } else {
            Err(errors)
        }
    }

    /// Whether the labels satisfy every requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| {
            let value = labels.get(&r.key);
            match &r.operator {
                Operator::In(values) => value.is_some_and(|v| values.contains(v)),
                Operator::NotIn(values) => value.is_none_or(|v| !values.contains(v)),
                Operator::Exists => value.is_some(),
                Operator::DoesNotExist => value.is_none(),
            }
        })
    }

    /// Whether the selector has no requirement and so matches every namespace without looking at its labels.
    pub fn is_empty(&self) -> bool {
        self.requirements.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    fn selector(yaml_like: serde_json::Value) -> LabelSelector {
        let doc: LabelSelectorDoc = serde_json::from_value(yaml_like).expect("selector doc");
        LabelSelector::from_doc(&doc, &"s").expect("valid selector")
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[rstest]
    #[case::match_labels_equal(serde_json::json!({"matchLabels": {"env": "prod"}}), &[("env", "prod")], true)]
    #[case::match_labels_other_value(serde_json::json!({"matchLabels": {"env": "prod"}}), &[("env", "dev")], false)]
    #[case::match_labels_missing(serde_json::json!({"matchLabels": {"env": "prod"}}), &[], false)]
    #[case::in_listed(serde_json::json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev", "test"]}]}), &[("env", "test")], true)]
    #[case::in_absent(serde_json::json!({"matchExpressions": [{"key": "env", "operator": "In", "values": ["dev"]}]}), &[], false)]
    #[case::not_in_absent_matches(serde_json::json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}), &[], true)]
    #[case::not_in_listed(serde_json::json!({"matchExpressions": [{"key": "env", "operator": "NotIn", "values": ["prod"]}]}), &[("env", "prod")], false)]
    #[case::exists(serde_json::json!({"matchExpressions": [{"key": "team", "operator": "Exists"}]}), &[("team", "")], true)]
    #[case::does_not_exist(serde_json::json!({"matchExpressions": [{"key": "team", "operator": "DoesNotExist"}]}), &[("team", "a")], false)]
    #[case::all_must_hold(serde_json::json!({"matchLabels": {"env": "prod"}, "matchExpressions": [{"key": "team", "operator": "Exists"}]}), &[("env", "prod")], false)]
    #[case::empty_matches_all(serde_json::json!({}), &[], true)]
    fn matching(
        #[case] doc: serde_json::Value,
        #[case] pairs: &[(&str, &str)],
        #[case] expected: bool,
    ) {
        assert_eq!(selector(doc).matches(&labels(pairs)), expected);
    }

    #[rstest]
    #[case::unknown_operator(serde_json::json!({"matchExpressions": [{"key": "env", "operator": "Gt", "values": ["1"]}]}), "s.matchExpressions[0].operator")]
    #[case::in_without_values(serde_json::json!({"matchExpressions": [{"key": "env", "operator": "In"}]}), "s.matchExpressions[0].values")]
    #[case::exists_with_values(serde_json::json!({"matchExpressions": [{"key": "env", "operator": "Exists", "values": ["x"]}]}), "s.matchExpressions[0].values")]
    #[case::bad_key(serde_json::json!({"matchLabels": {"bad key": "x"}}), "s.matchLabels")]
    #[case::bad_value(serde_json::json!({"matchLabels": {"env": "-x"}}), "s.matchLabels.env")]
    fn refused(#[case] doc: serde_json::Value, #[case] field: &str) {
        let doc: LabelSelectorDoc = serde_json::from_value(doc).expect("selector doc");
        let errors = LabelSelector::from_doc(&doc, &"s").expect_err("invalid selector");
        assert_eq!(errors[0].0, field);
    }
}
