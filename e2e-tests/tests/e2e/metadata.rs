//! metadata.yml says what the policy does, artifacthub-pkg.yml repeats it, and the sdk's kind table (plus the
//! PriorityClass objects of the `priorityClasses` settings) is the truth.

use std::collections::BTreeSet;

use priority_guard_sdk::kinds::KINDS;
use priority_guard_sdk::priority_classes;
use serde_json::Value;

use crate::common;

/// (group, resource, operation) triples from a list of admission rules.
fn triples(rules: &Value) -> BTreeSet<(String, String, String)> {
    let mut out = BTreeSet::new();
    for rule in rules.as_array().expect("rules is a list") {
        for group in rule["apiGroups"].as_array().expect("apiGroups") {
            for resource in rule["resources"].as_array().expect("resources") {
                for op in rule["operations"].as_array().expect("operations") {
                    out.insert((
                        group.as_str().expect("group").to_owned(),
                        resource.as_str().expect("resource").to_owned(),
                        op.as_str().expect("op").to_owned(),
                    ));
                }
            }
        }
    }
    out
}

#[test]
fn metadata_rules_cover_exactly_the_kinds_the_sdk_checks() {
    let metadata = common::metadata();
    let want: BTreeSet<_> = KINDS
        .iter()
        .flat_map(|k| {
            k.operations()
                .iter()
                .map(move |op| (k.group.to_owned(), k.resource.to_owned(), (*op).to_owned()))
        })
        .chain(priority_classes::OPERATIONS.iter().map(|op| {
            (
                priority_classes::GROUP.to_owned(),
                priority_classes::RESOURCE.to_owned(),
                (*op).to_owned(),
            )
        }))
        .collect();
    assert_eq!(triples(metadata.rules.as_ref().expect("rules")), want);
    assert!(metadata.mutating);
    assert_eq!(
        metadata.allowed_resources(),
        BTreeSet::from([
            ("v1".to_owned(), "Namespace".to_owned()),
            (
                priority_classes::API_VERSION.to_owned(),
                priority_classes::KIND.to_owned()
            ),
        ]),
        "the policy reads Namespaces and PriorityClasses and nothing else"
    );
    assert_eq!(metadata.other["executionMode"], "kubewarden-wapc");
    assert_eq!(metadata.other["backgroundAudit"], true);
}

#[test]
fn artifacthub_package_agrees_with_metadata() {
    let metadata = common::metadata();
    let annotations = metadata.annotations.clone().expect("annotations");
    let pkg = common::yaml(&common::root().join("artifacthub-pkg.yml"));
    assert_eq!(pkg["version"], annotations["io.kubewarden.policy.version"]);
    assert_eq!(pkg["name"], annotations["io.kubewarden.policy.title"]);
    assert_eq!(
        pkg["description"],
        annotations["io.kubewarden.policy.description"]
    );
    assert_eq!(pkg["license"], annotations["io.kubewarden.policy.license"]);
    assert_eq!(
        pkg["containersImages"][0]["image"].as_str().expect("image"),
        format!(
            "{}:v{}",
            annotations["io.kubewarden.policy.ociUrl"]
                .as_str()
                .expect("ociUrl"),
            annotations["io.kubewarden.policy.version"]
                .as_str()
                .expect("version")
        )
    );
    let pkg_annotations = &pkg["annotations"];
    assert_eq!(
        pkg_annotations["kubewarden/mutation"],
        metadata.mutating.to_string()
    );
    let rules: Value = serde_yaml_ng::from_str(
        pkg_annotations["kubewarden/rules"]
            .as_str()
            .expect("rules text"),
    )
    .expect("yaml");
    assert_eq!(
        triples(&rules),
        triples(metadata.rules.as_ref().expect("rules"))
    );
    let resources: Value = serde_yaml_ng::from_str(
        pkg_annotations["kubewarden/contextAwareResources"]
            .as_str()
            .expect("resources text"),
    )
    .expect("yaml");
    assert_eq!(
        resources,
        serde_json::to_value(&metadata.context_aware_resources).expect("json")
    );
}
