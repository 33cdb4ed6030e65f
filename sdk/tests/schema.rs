//! The settings schema is written once, as the reader's tables ([`wire_fields`]). The serde wire types (which the
//! CLI's scaffold writes YAML with) and the settings reference for users must name the same fields: a field added
//! to one and not the others fails here.

use std::collections::BTreeSet;

use priority_guard_sdk::model::custom::CustomWorkloadDoc;
use priority_guard_sdk::model::selector::{LabelSelectorDoc, RequirementDoc};
use priority_guard_sdk::model::settings::{PriorityClassesDoc, RuleDoc, SettingsDoc};
use priority_guard_sdk::read::settings::wire_fields;
use serde::de::DeserializeOwned;

/// The fields a serde wire type knows, as its derived deserializer lists them when refusing an unknown one.
fn serde_fields<T: DeserializeOwned + std::fmt::Debug>() -> BTreeSet<String> {
    let error = serde_json::from_str::<T>(r#"{"not-a-field": 1}"#)
        .expect_err("unknown fields are refused")
        .to_string();
    let (_, expected) = error
        .split_once("expected one of ")
        .or_else(|| error.split_once("expected "))
        .unwrap_or_else(|| panic!("no field list in {error:?}"));
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn reader_fields(wire_type: &str) -> BTreeSet<String> {
    wire_fields()
        .into_iter()
        .find(|(name, _)| *name == wire_type)
        .unwrap_or_else(|| panic!("no wire type {wire_type}"))
        .1
        .iter()
        .map(|field| (*field).to_owned())
        .collect()
}

#[test]
fn serde_types_and_the_reader_name_the_same_fields() {
    let pairs = [
        ("settings", serde_fields::<SettingsDoc>()),
        ("rule", serde_fields::<RuleDoc>()),
        ("labelSelector", serde_fields::<LabelSelectorDoc>()),
        ("labelSelectorRequirement", serde_fields::<RequirementDoc>()),
        ("customWorkload", serde_fields::<CustomWorkloadDoc>()),
        ("priorityClasses", serde_fields::<PriorityClassesDoc>()),
    ];
    assert_eq!(
        pairs.len(),
        wire_fields().len(),
        "a wire type without serde"
    );
    for (wire_type, serde) in pairs {
        assert!(!serde.is_empty(), "{wire_type}");
        assert_eq!(reader_fields(wire_type), serde, "{wire_type}");
    }
}

#[test]
fn every_field_is_in_the_settings_reference() {
    let reference = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/settings.md");
    let text = std::fs::read_to_string(reference).expect("docs/settings.md");
    let missing: Vec<String> = wire_fields()
        .into_iter()
        .flat_map(|(wire_type, fields)| {
            fields
                .iter()
                .filter(|field| !text.contains(&format!("`{field}`")))
                .map(move |field| format!("{wire_type}.{field}"))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "fields the settings reference does not document: {missing:?}"
    );
}
