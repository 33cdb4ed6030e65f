//! `--format text`: one line per checked object (`file:line: subject: verdict: message`), malformed documents,
//! not-checked documents with `--verbose`, and a summary line.

use std::io::Write;

use anyhow::Result;

use super::report::{CheckResult, Summary, Verdict};

/// Writes the results.
pub(crate) fn write(
    out: &mut dyn Write,
    results: &[CheckResult],
    summary: &Summary,
    verbose: bool,
) -> Result<()> {
    for result in results {
        match result.verdict {
            Verdict::NotChecked if !verbose => continue,
            Verdict::Malformed => writeln!(
                out,
                "{}:{}: malformed: {}",
                result.file, result.line, result.message
            )?,
            verdict => writeln!(
                out,
                "{}:{}: {}: {}: {}",
                result.file,
                result.line,
                result.subject(),
                verdict.word(),
                result.message
            )?,
        }
    }
    writeln!(out, "priority-guard: {}", summary.line())?;
    Ok(())
}
