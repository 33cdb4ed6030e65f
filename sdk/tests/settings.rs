//! Settings validation: every refusal names the field it concerns.

use priority_guard_sdk::Settings;
use priority_guard_sdk::model::settings::ClassList;
use rstest::rstest;
use serde_json::{Value, json};

fn fields(settings: Value) -> Vec<String> {
    Settings::from_value(settings)
        .expect_err("settings must be refused")
        .errors
        .into_iter()
        .map(|e| e.field)
        .collect()
}

#[rstest]
#[case::unknown_top_level_key(json!({"rule": []}), "rule")]
#[case::unknown_rule_key(json!({"rules": [{"name": "a", "namespaces": ["a"], "allowedPriorityClass": ["x"]}]}), "rules[0].allowedPriorityClass")]
#[case::wrong_type(json!({"rules": [{"name": "a", "namespaces": "prod"}]}), "rules[0].namespaces")]
#[case::both_lists(json!({"rules": [{"name": "a", "namespaces": ["a"], "allowedPriorityClasses": ["x"], "deniedPriorityClasses": ["y"]}]}), "rules[0]")]
#[case::no_selector(json!({"rules": [{"name": "a", "allowedPriorityClasses": ["x"]}]}), "rules[0]")]
#[case::empty_namespaces_and_no_selector(json!({"rules": [{"name": "a", "namespaces": []}]}), "rules[0]")]
#[case::missing_name(json!({"rules": [{"namespaces": ["a"]}]}), "rules[0].name")]
#[case::invalid_name(json!({"rules": [{"name": "Prod", "namespaces": ["a"]}]}), "rules[0].name")]
#[case::reserved_name(json!({"rules": [{"name": "fallback", "namespaces": ["a"]}]}), "rules[0].name")]
#[case::duplicate_name(json!({"rules": [{"name": "a", "namespaces": ["a"]}, {"name": "a", "namespaces": ["b"]}]}), "rules[1].name")]
#[case::invalid_namespace(json!({"rules": [{"name": "a", "namespaces": ["Prod_NS"]}]}), "rules[0].namespaces[0]")]
#[case::invalid_selector_operator(json!({"rules": [{"name": "a", "namespaceSelector": {"matchExpressions": [{"key": "env", "operator": "Equals", "values": ["x"]}]}}]}), "rules[0].namespaceSelector.matchExpressions[0].operator")]
#[case::unknown_selector_key(json!({"rules": [{"name": "a", "namespaceSelector": {"matchLabel": {"env": "x"}}}]}), "rules[0].namespaceSelector.matchLabel")]
#[case::invalid_pattern(json!({"rules": [{"name": "a", "namespaces": ["a"], "allowedPriorityClasses": ["ok", "sys*tem"]}]}), "rules[0].allowedPriorityClasses[1]")]
#[case::default_not_allowed(json!({"rules": [{"name": "a", "namespaces": ["a"], "allowedPriorityClasses": ["prod-pc"], "defaultPriorityClass": "dev-pc"}]}), "rules[0].defaultPriorityClass")]
#[case::default_denied(json!({"fallback": {"deniedPriorityClasses": ["system-*"], "defaultPriorityClass": "system-x"}}), "fallback.defaultPriorityClass")]
#[case::default_is_a_pattern(json!({"rules": [{"name": "a", "namespaces": ["a"], "defaultPriorityClass": "prod-*"}]}), "rules[0].defaultPriorityClass")]
#[case::default_counts_as_unset(json!({"rules": [{"name": "a", "namespaces": ["a"], "defaultPriorityClass": "low"}], "unsetPriorityClasses": ["low"]}), "rules[0].defaultPriorityClass")]
#[case::fallback_with_namespaces(json!({"fallback": {"namespaces": ["a"]}}), "fallback.namespaces")]
#[case::fallback_with_name(json!({"fallback": {"name": "rest"}}), "fallback.name")]
#[case::invalid_unset_class(json!({"unsetPriorityClasses": ["Low"]}), "unsetPriorityClasses[0]")]
#[case::max_priority_not_int32(json!({"fallback": {"maxPriority": 3000000000u64}}), "fallback.maxPriority")]
#[case::min_priority_not_int32(json!({"fallback": {"minPriority": -3000000000i64}}), "fallback.minPriority")]
#[case::min_priority_above_max_priority(json!({"fallback": {"minPriority": 1000, "maxPriority": 100}}), "fallback.minPriority")]
#[case::max_priority_not_a_number(json!({"rules": [{"name": "a", "namespaces": ["a"], "maxPriority": "high"}]}), "rules[0].maxPriority")]
#[case::unknown_preemption_policy(json!({"rules": [{"name": "a", "namespaces": ["a"], "allowedPreemptionPolicies": ["Never", "Sometimes"]}]}), "rules[0].allowedPreemptionPolicies[1]")]
#[case::repeated_preemption_policy(json!({"fallback": {"allowedPreemptionPolicies": ["Never", "Never"]}}), "fallback.allowedPreemptionPolicies[1]")]
#[case::empty_preemption_policies(json!({"fallback": {"allowedPreemptionPolicies": []}}), "fallback.allowedPreemptionPolicies")]
#[case::unknown_priority_classes_key(json!({"priorityClasses": {"maxvalue": 5}}), "priorityClasses.maxvalue")]
#[case::priority_classes_ceiling_not_int32(json!({"priorityClasses": {"maxValue": -3000000000i64}}), "priorityClasses.maxValue")]
#[case::non_preempting_below_not_int32(json!({"priorityClasses": {"requireNonPreemptingBelow": 3000000000u64}}), "priorityClasses.requireNonPreemptingBelow")]
#[case::global_default_flag_not_bool(json!({"priorityClasses": {"allowGlobalDefault": "no"}}), "priorityClasses.allowGlobalDefault")]
#[case::unknown_rule_action(json!({"rules": [{"name": "a", "namespaces": ["a"], "action": "Dryrun"}]}), "rules[0].action")]
#[case::lowercase_fallback_action(json!({"fallback": {"action": "warn"}}), "fallback.action")]
#[case::action_not_a_string(json!({"fallback": {"action": ["Warn"]}}), "fallback.action")]
#[case::unknown_priority_classes_action(json!({"priorityClasses": {"action": "Enforce"}}), "priorityClasses.action")]
#[case::template_flag_not_bool(json!({"mutateWorkloadTemplates": "yes"}), "mutateWorkloadTemplates")]
// Found by the settings fuzz target: an empty key at the root is about the settings as a whole.
#[case::empty_key_at_the_root(json!({"rules": [], "": {}}), "settings")]
#[case::empty_key_in_a_rule(json!({"rules": [{"": 1}]}), "rules[0].")]
fn refuses_naming_the_field(#[case] settings: Value, #[case] field: &str) {
    assert_eq!(fields(settings), [field]);
}

#[test]
fn every_problem_is_reported_in_document_order() {
    let fields = fields(json!({"rules": [
        {"name": "Bad", "namespaces": ["a"]},
        {"name": "b", "namespaces": ["b"], "allowedPriorityClasses": ["x"], "defaultPriorityClass": "y"},
    ]}));
    assert_eq!(fields, ["rules[0].name", "rules[1].defaultPriorityClass"]);
}

#[test]
fn a_repeated_rule_name_points_at_its_first_use() {
    let err = Settings::from_value(json!({"rules": [
        {"name": "Bad", "namespaces": ["a"]},
        {"name": "a", "namespaces": ["a"]},
        {"name": "Bad", "namespaces": ["b"]},
        {"name": "a", "namespaces": ["c"]},
        {"name": "a", "namespaces": ["d"]},
    ]}))
    .expect_err("repeated names");
    let messages: Vec<String> = err.errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            r#"rules[0].name: "Bad" may contain only lowercase letters, digits and '-'"#,
            r#"rules[2].name: "Bad" may contain only lowercase letters, digits and '-'"#,
            r#"rules[3].name: "a" is already the name of rules[1]"#,
            r#"rules[4].name: "a" is already the name of rules[1]"#,
        ]
    );
}

#[test]
fn unknown_key_message_names_the_key() {
    let err = Settings::from_value(
        json!({"rules": [{"name": "a", "namespaces": ["a"], "allowedPriorityClass": ["x"]}]}),
    )
    .expect_err("unknown key");
    let text = err.to_string();
    assert!(
        text.starts_with(
            "rules[0].allowedPriorityClass: unknown field `allowedPriorityClass`, expected one of"
        ),
        "{text}"
    );
}

#[rstest]
#[case::empty_object(json!({}))]
#[case::null(Value::Null)]
fn empty_settings_restrict_nothing(#[case] settings: Value) {
    let settings = Settings::from_value(settings).expect("valid");
    assert!(settings.rules.is_empty());
    assert!(settings.fallback.is_none());
}

#[test]
fn valid_settings_keep_order_and_sort_lists() {
    let settings = Settings::from_value(json!({
        "rules": [
            {"name": "z-first", "namespaces": ["b", "a"], "allowedPriorityClasses": ["prod-pc", "crit-*"]},
            {"name": "a-second", "namespaceSelector": {}, "requirePriorityClass": true},
        ],
        "fallback": {"deniedPriorityClasses": ["system-*"]},
    }))
    .expect("valid");
    let names: Vec<&str> = settings.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        ["z-first", "a-second"],
        "rule order is the order written"
    );
    let ClassList::Allowed(allowed) = &settings.rules[0].policy.classes else {
        panic!("expected an allowed list");
    };
    let allowed: Vec<String> = allowed.iter().map(ToString::to_string).collect();
    assert_eq!(allowed, ["crit-*", "prod-pc"]);
    assert!(settings.rules[1].policy.require_priority_class);
}

#[test]
fn syntax_errors_in_json_text_are_refused() {
    let err = Settings::from_json_slice(b"{\"rules\": [").expect_err("truncated");
    assert_eq!(err.errors[0].field, "settings");
}

/// Every place of a JSON value, as a JSON pointer.
fn pointers(value: &Value, at: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                pointers(v, format!("{at}/{k}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                pointers(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

/// The settings reader of policy.wasm (the sdk's own, on text) and serde's derived reader of `SettingsDoc` (what
/// the settings' Kubernetes-style schema means) accept the same settings, read them alike, and refuse at the same
/// field: every fixture's settings, and each with every place replaced by a value of each JSON type.
#[test]
fn the_settings_reader_agrees_with_the_documented_schema() {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"));
    let mut documents = Vec::new();
    for entry in std::fs::read_dir(root).expect("fixtures") {
        let path = entry.expect("entry").path().join("settings.yaml");
        if let Ok(text) = std::fs::read_to_string(&path) {
            let value: Value = serde_yaml_ng::from_str(&text).expect("YAML settings");
            documents.push(value);
        }
    }
    assert!(documents.len() >= 5, "{} fixtures", documents.len());
    let replacements = [
        json!(null),
        json!(7),
        json!(-3000000000i64),
        json!(1.5),
        json!(true),
        json!("x"),
        json!([]),
        json!(["x"]),
        json!({}),
        json!({"unknownField": 1}),
    ];
    let mut cases = 0;
    let (mut accepted, mut refused) = (0, 0);
    for document in &documents {
        let mut places = Vec::new();
        pointers(document, String::new(), &mut places);
        let mut variants = vec![document.clone()];
        for place in &places {
            for replacement in &replacements {
                let mut variant = document.clone();
                match variant.pointer_mut(place) {
                    Some(slot) => *slot = replacement.clone(),
                    None => continue,
                }
                variants.push(variant);
            }
        }
        for variant in variants {
            cases += 1;
            let ours = Settings::from_value(variant.clone());
            assert_eq!(
                Settings::from_checked_json(&variant.to_string()),
                ours,
                "text checked already: {variant}"
            );
            let schema: Result<priority_guard_sdk::model::settings::SettingsDoc, _> =
                serde_path_to_error::deserialize(if variant.is_null() {
                    json!({})
                } else {
                    variant.clone()
                });
            match (&ours, schema) {
                (Ok(settings), Ok(doc)) => {
                    accepted += 1;
                    assert_eq!(
                        Some(settings),
                        Settings::from_doc(&doc).ok().as_ref(),
                        "{variant}"
                    );
                }
                (Err(ours), _)
                    if ours.errors[0].message == "invalid type: an array, expected an object" =>
                {
                    // serde's derived structs also read a list of their fields in order (`[]` is a rule with
                    // every field absent); the settings reader refuses that, as nobody means it.
                    refused += 1;
                }
                (Err(ours), Ok(doc)) => {
                    // Read alike; refused by validation, with the same fields.
                    refused += 1;
                    let validation = Settings::from_doc(&doc).expect_err(&variant.to_string());
                    assert_eq!(ours, &validation, "{variant}");
                }
                (Err(ours), Err(schema)) => {
                    refused += 1;
                    assert_eq!(ours.errors.len(), 1, "{variant}: {ours}");
                    let path = schema.path().to_string();
                    let field = if path == "." {
                        "settings".to_owned()
                    } else {
                        path
                    };
                    assert_eq!(
                        ours.errors[0].field, field,
                        "{variant}: serde says {schema}"
                    );
                }
                (Ok(_), Err(schema)) => panic!("{variant}: accepted, but serde refuses: {schema}"),
            }
        }
    }
    assert!(
        cases > 500 && accepted > 10 && refused > 400,
        "{cases} cases, {accepted} accepted, {refused} refused"
    );
}
