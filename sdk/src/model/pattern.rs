//! PriorityClass name patterns: an exact name, or a prefix followed by a trailing `*`.

use std::fmt;

use crate::model::names::InvalidName;

/// One entry of `allowedPriorityClasses` or `deniedPriorityClasses`.
///
/// Patterns order by their text, so a `BTreeSet<ClassPattern>` lists them the way messages print them.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassPattern {
    /// The exact name, or the prefix before the `*`.
    text: String,
    wildcard: bool,
}

impl ClassPattern {
    /// Parses `name` or `prefix*`. The prefix may be empty (`*` matches every class); a `*` anywhere but at the
    /// end is refused, and so is a name that is not a valid PriorityClass name.
    pub fn parse(value: &str) -> Result<Self, InvalidName> {
        Self::parse_owned(value.to_owned())
    }

    /// [`ClassPattern::parse`] of a string the pattern keeps: the settings' own text, without another
    /// allocation.
    pub fn parse_owned(mut value: String) -> Result<Self, InvalidName> {
        let wildcard = Self::check(&value).map_err(InvalidName)?;
        if wildcard {
            value.pop();
        }
        Ok(Self {
            text: value,
            wildcard,
        })
    }

    /// Checks `name` or `prefix*`; `true` for a prefix.
    fn check(value: &str) -> Result<bool, String> {
        let (text, wildcard) = match value.strip_suffix('*') {
            Some(prefix) => (prefix, true),
            None => (value, false),
        };
        // Bytes, not `contains('*')`: a character search costs more than these short names do.
        if text.bytes().any(|b| b == b'*') {
            return Err(format!(
                "\"{value}\" may only use '*' as its last character (a prefix wildcard)"
            ));
        }
        if wildcard {
            if !text
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                || text.starts_with(['-', '.'])
            {
                return Err(format!(
                    "\"{value}\" is not a valid prefix: use lowercase letters, digits, '-' and '.'"
                ));
            }
        } else {
            crate::model::names::dns_subdomain(text).map_err(|e| e.to_string())?;
        }
        Ok(wildcard)
    }

    /// Whether the class name matches this pattern.
    pub fn matches(&self, class: &str) -> bool {
        if self.wildcard {
            class.starts_with(&self.text)
        } else {
            class == self.text
        }
    }

    /// The exact name or the prefix (without `*`).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is a prefix pattern.
    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }
}

impl fmt::Display for ClassPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        if self.wildcard {
            f.write_str("*")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;

    #[rstest]
    #[case::exact_matches_itself("prod-pc", "prod-pc", true)]
    #[case::exact_is_not_a_prefix("prod", "prod-pc", false)]
    #[case::prefix_matches("system-*", "system-cluster-critical", true)]
    #[case::prefix_matches_bare_prefix("system-*", "system-", true)]
    #[case::prefix_does_not_match_other("system-*", "sys", false)]
    #[case::star_matches_all("*", "anything", true)]
    fn matching(#[case] pattern: &str, #[case] class: &str, #[case] expected: bool) {
        let pattern = ClassPattern::parse(pattern).expect("valid pattern");
        assert_eq!(pattern.matches(class), expected);
    }

    #[rstest]
    #[case::inner_star("sys*tem")]
    #[case::two_stars("a**")]
    #[case::uppercase("Prod")]
    #[case::empty("")]
    #[case::prefix_with_space("a b*")]
    fn refused(#[case] pattern: &str) {
        assert!(ClassPattern::parse(pattern).is_err(), "{pattern}");
    }

    #[test]
    fn display_round_trips() {
        for text in ["prod-pc", "system-*", "*"] {
            assert_eq!(ClassPattern::parse(text).expect("valid").to_string(), text);
        }
    }
}
