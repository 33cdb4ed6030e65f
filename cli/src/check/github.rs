//! `--format github`: GitHub Actions workflow commands, which the runner shows as annotations on the files.
//!
//! Denied and malformed documents are `::error`, warned documents (a `Warn` or `Audit` rule's refusal)
//! `::warning`, defaults `::notice`; allowed and not-checked documents print
//! nothing. The summary ends the output as a plain line. Values are escaped as the runner expects: `%`, `\r`
//! and `\n` in messages, and also `:` and `,` in properties.

use std::io::Write;

use anyhow::Result;

use super::report::{CheckResult, Summary, Verdict};

/// The annotations' title.
const TITLE: &str = "priority-guard";

fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// Writes the results.
pub(crate) fn write(out: &mut dyn Write, results: &[CheckResult], summary: &Summary) -> Result<()> {
    for result in results {
        let (command, message) = match result.verdict {
            Verdict::Denied => ("error", result.message.clone()),
            Verdict::Malformed => ("error", format!("malformed document: {}", result.message)),
            Verdict::Warned => ("warning", result.message.clone()),
            Verdict::Defaulted => (
                "notice",
                format!("{}: {}", result.subject(), result.message),
            ),
            Verdict::Allowed | Verdict::NotChecked => continue,
        };
        writeln!(
            out,
            "::{command} file={},line={},title={}::{}",
            escape_property(&result.file),
            result.line,
            escape_property(TITLE),
            escape_data(&message)
        )?;
    }
    writeln!(out, "priority-guard: {}", summary.line())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_the_runner_expects() {
        assert_eq!(escape_data("100%\r\nok: a,b"), "100%25%0D%0Aok: a,b");
        assert_eq!(escape_property("a:b,c%"), "a%3Ab%2Cc%25");
    }
}
