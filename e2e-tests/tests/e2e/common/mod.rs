//! Loading policy.wasm once, and the fixture files.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use priority_guard_host::{
    ClusterState, HostOptions, PolicyInstance, PolicyMetadata, PolicyModule,
};

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The repository's metadata.yml.
pub fn metadata() -> PolicyMetadata {
    let text =
        std::fs::read_to_string(root().join("metadata.yml")).expect("metadata.yml is readable");
    PolicyMetadata::from_yaml(&text).expect("metadata.yml parses")
}

/// policy.wasm, compiled once, granted what metadata.yml grants.
pub fn module() -> &'static PolicyModule {
    static MODULE: OnceLock<PolicyModule> = OnceLock::new();
    MODULE.get_or_init(|| {
        let wasm = std::fs::read(env!("POLICY_WASM")).expect("policy.wasm was built");
        let metadata = metadata();
        let options = HostOptions {
            allowed_resources: Some(metadata.allowed_resources()),
            allow_mutations: Some(metadata.mutating),
            ..HostOptions::default()
        };
        PolicyModule::from_bytes(&wasm, options).expect("policy.wasm loads")
    })
}

/// A fresh instance answering lookups from `cluster`.
pub fn instance(cluster: ClusterState) -> PolicyInstance {
    module().instance(Arc::new(cluster)).expect("instance")
}

/// Reads a YAML file as JSON.
pub fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The scenarios under fixtures/: folders with settings.yaml, cluster.yaml, expected.yaml and requests/.
pub fn scenarios() -> BTreeSet<PathBuf> {
    std::fs::read_dir(root().join("fixtures"))
        .expect("fixtures/ exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.join("settings.yaml").is_file())
        .collect()
}

/// The objects of a scenario's cluster file (`fixtures/*/cluster.yaml`): every YAML document, a List's items in its
/// place.
pub fn cluster_objects(text: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize as _;
    let mut objects = Vec::new();
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let doc = serde_json::Value::deserialize(doc).expect("cluster.yaml parses");
        match doc.get("items").and_then(serde_json::Value::as_array) {
            Some(items) => objects.extend(items.iter().cloned()),
            None => objects.push(doc),
        }
    }
    objects
}
