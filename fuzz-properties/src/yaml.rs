//! The fast YAML reader of `priority-guard check` against serde_yaml_ng.

use serde::Deserialize as _;
use serde_json::Value;

/// The reader, from the CLI's source: the CLI is a binary crate, and the reader is self-contained (std only), so
/// including its file is how the fuzzer reaches the very code `check` runs.
#[allow(dead_code, unreachable_pub)]
#[path = "../../cli/src/check/fast_yaml.rs"]
mod fast_yaml;

/// The fast YAML reader of `check` on any text as one document: it gives up (and `check` hands the document to
/// serde_yaml_ng) or it reads exactly the value serde_yaml_ng reads; it never reads a document serde_yaml_ng
/// refuses, nor a different value.
pub fn fast_yaml(data: &[u8]) {
    let Ok(piece) = std::str::from_utf8(data) else {
        return;
    };
    let mut json = String::new();
    if fast_yaml::Reader::default()
        .read(piece, &mut json)
        .is_none()
    {
        return;
    }
    let fast: Value = serde_json::from_str(&json)
        .unwrap_or_else(|e| panic!("the fast reader wrote no JSON ({e}): {json:?} for {piece:?}"));
    let mut documents = serde_yaml_ng::Deserializer::from_str(piece);
    let slow = match documents.next() {
        Some(document) => Value::deserialize(document).unwrap_or_else(|e| {
            panic!("the fast reader read what serde_yaml_ng refuses ({e}): {piece:?}")
        }),
        None => Value::Null,
    };
    assert!(
        documents.next().is_none(),
        "the fast reader read one document where serde_yaml_ng reads more: {piece:?}"
    );
    assert_eq!(fast, slow, "{piece:?}");
}
