//! The JSON reader the properties read answers and objects with (`src/plain_json.rs`).

use priority_guard_fuzz_properties::plain_json::from_str;
use serde_json::Value;

#[test]
fn reads_the_raw_value_token_as_an_ordinary_key() {
    let text = r#"{"$serde_json::private::RawValue":{"a":[1,-2,3.5,null,true,"x"]}}"#;
    assert!(serde_json::from_str::<Value>(text).is_err());
    let value = from_str(text).expect("valid JSON");
    assert_eq!(value["$serde_json::private::RawValue"]["a"][2], 3.5);
    assert_eq!(value.to_string(), text);
}

#[test]
fn reads_other_json_as_serde_json_does() {
    let text = r#"{"b":[{"c":18446744073709551615,"d":-9223372036854775808},1e300,"\ud83d\ude00"],"a":{}}"#;
    assert_eq!(
        from_str(text).expect("valid JSON"),
        serde_json::from_str::<Value>(text).expect("valid JSON")
    );
    assert!(from_str("{} x").is_err());
    assert!(from_str(r#"{"a":1e400}"#).is_err());
}
