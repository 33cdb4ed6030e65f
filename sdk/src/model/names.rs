//! Validation of Kubernetes names, as the apiserver defines them.
//!
//! Each function returns [`InvalidName`], a short lowercase reason that callers prefix with the field it came
//! from.

/// A value that breaks a Kubernetes naming rule; its text says which and how (`"Prod" may contain only
/// lowercase letters, digits and '-'`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidName(pub(crate) String);

/// [`dns_label`], with the reason as text.
fn dns_label_reason(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 63 {
        return Err(format!("\"{value}\" is longer than 63 characters"));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!(
            "\"{value}\" may contain only lowercase letters, digits and '-'"
        ));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return Err(format!(
            "\"{value}\" must start and end with a letter or digit"
        ));
    }
    Ok(())
}

/// [`dns_subdomain`], with the reason as text.
fn dns_subdomain_reason(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("must not be empty".into());
    }
    if value.len() > 253 {
        return Err(format!("\"{value}\" is longer than 253 characters"));
    }
    if !dot_separated_labels(value.as_bytes()) {
        return Err(format!(
            "\"{value}\" is not a valid name: use lowercase letters, digits, '-' and '.', \
             starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

/// Whether `bytes` are DNS labels separated by dots: none empty, each of `a-z`, `0-9` and `-` and starting and
/// ending with a letter or digit. One pass over the bytes (a fresh instance checks every class name of its
/// settings; splitting at the dots was a tenth of validating them).
fn dot_separated_labels(bytes: &[u8]) -> bool {
    let letter_or_digit = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    // Each byte is checked against the one before it, the start counting as a dot.
    let mut previous = b'.';
    for &b in bytes {
        let fits = match b {
            // A label ends with a letter or digit, and is not empty.
            b'.' => letter_or_digit(previous),
            // A label does not start with '-'.
            b'-' => previous != b'.',
            _ => letter_or_digit(b),
        };
        if !fits {
            return false;
        }
        previous = b;
    }
    letter_or_digit(previous)
}

/// The name part of a label key or a label value: at most 63 characters of letters, digits, `-`, `_` and `.`,
/// starting and ending with a letter or digit. Label values may also be empty.
fn label_name(value: &str) -> bool {
    value.len() <= 63
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && value
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && value
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric())
}

/// [`label_key`], with the reason as text.
fn label_key_reason(value: &str) -> Result<(), String> {
    // A byte search, not `split_once('/')`: a character search costs more than these short keys do.
    let (prefix, name) = match value.bytes().position(|b| b == b'/') {
        Some(slash) => (
            value.get(..slash),
            value.get(slash + 1..).unwrap_or_default(),
        ),
        None => (None, value),
    };
    if let Some(prefix) = prefix {
        dns_subdomain_reason(prefix)
            .map_err(|_| format!("\"{value}\" has an invalid prefix \"{prefix}\""))?;
    }
    if !label_name(name) {
        return Err(format!(
            "\"{value}\" is not a valid label key: at most 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit, after an optional DNS prefix and '/'"
        ));
    }
    Ok(())
}

/// [`label_value`], with the reason as text.
fn label_value_reason(value: &str) -> Result<(), String> {
    if value.is_empty() || label_name(value) {
        Ok(())
    } else {
        Err(format!(
            "\"{value}\" is not a valid label value: at most 63 letters, digits, '-', '_' or '.', \
             starting and ending with a letter or digit"
        ))
    }
}

/// A DNS label (RFC 1123): at most 63 characters of `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
/// Namespace names and rule names are DNS labels.
pub fn dns_label(value: &str) -> Result<(), InvalidName> {
    dns_label_reason(value).map_err(InvalidName)
}

/// A DNS subdomain (RFC 1123): at most 253 characters, dot-separated DNS labels. PriorityClass names are DNS
/// subdomains.
pub fn dns_subdomain(value: &str) -> Result<(), InvalidName> {
    dns_subdomain_reason(value).map_err(InvalidName)
}

/// A label key: an optional DNS-subdomain prefix and `/`, then a name.
pub fn label_key(value: &str) -> Result<(), InvalidName> {
    label_key_reason(value).map_err(InvalidName)
}

/// A label value: empty, or at most 63 letters, digits, `-`, `_` and `.`, starting and ending with a letter or
/// digit.
pub fn label_value(value: &str) -> Result<(), InvalidName> {
    label_value_reason(value).map_err(InvalidName)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::plain("prod", true)]
    #[case::with_dash("team-a", true)]
    #[case::digits_only("123", true)]
    #[case::empty("", false)]
    #[case::uppercase("Prod", false)]
    #[case::leading_dash("-prod", false)]
    #[case::trailing_dash("prod-", false)]
    #[case::dot("a.b", false)]
    #[case::too_long(&"a".repeat(64), false)]
    #[case::longest(&"a".repeat(63), true)]
    fn dns_labels(#[case] value: &str, #[case] valid: bool) {
        assert_eq!(dns_label(value).is_ok(), valid, "{value}");
    }

    #[rstest]
    #[case::plain("prod-pc", true)]
    #[case::dotted("system.cluster-critical", true)]
    #[case::empty_part("a..b", false)]
    #[case::wildcard("system-*", false)]
    #[case::uppercase("High", false)]
    #[case::too_long(&"a".repeat(254), false)]
    #[case::leading_dot(".a", false)]
    #[case::trailing_dot("a.", false)]
    #[case::dash_after_dot("a.-b", false)]
    #[case::dash_before_dot("a-.b", false)]
    #[case::dash_inside_parts("a-b.c-d", true)]
    #[case::longest(&"a".repeat(253), true)]
    fn dns_subdomains(#[case] value: &str, #[case] valid: bool) {
        assert_eq!(dns_subdomain(value).is_ok(), valid, "{value}");
    }

    /// The one-pass check against the definition (dot-separated DNS labels), on every string of up to five
    /// characters from an alphabet that has each kind of byte it tells apart.
    #[test]
    fn subdomains_are_dot_separated_labels() {
        let by_definition = |value: &str| {
            value.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
        };
        let alphabet = ['a', '7', '-', '.', 'A', '*'];
        let mut values = vec![String::new()];
        let mut checked = 0;
        for _ in 0..5 {
            values = values
                .iter()
                .flat_map(|v| alphabet.iter().map(move |c| format!("{v}{c}")))
                .collect();
            for value in &values {
                assert_eq!(
                    dns_subdomain(value).is_ok(),
                    by_definition(value),
                    "{value:?}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, 6 + 36 + 216 + 1296 + 7776);
    }

    #[rstest]
    #[case::plain("env", true)]
    #[case::prefixed("kubernetes.io/metadata.name", true)]
    #[case::underscore("team_name", true)]
    #[case::bad_prefix("Bad_Prefix/name", false)]
    #[case::empty_name("example.com/", false)]
    #[case::empty("", false)]
    #[case::space("a b", false)]
    fn label_keys(#[case] value: &str, #[case] valid: bool) {
        assert_eq!(label_key(value).is_ok(), valid, "{value}");
    }

    #[rstest]
    #[case::empty("", true)]
    #[case::plain("Prod_1.x", true)]
    #[case::trailing_dot("prod.", false)]
    #[case::slash("a/b", false)]
    fn label_values(#[case] value: &str, #[case] valid: bool) {
        assert_eq!(label_value(value).is_ok(), valid, "{value}");
    }
}
