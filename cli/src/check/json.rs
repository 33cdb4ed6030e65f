//! `--format json`: one JSON document, stable and versioned (the schema is in the README).
//!
//! ```json
//! {"version": 1, "summary": {...}, "results": [{"file": ..., "line": ..., "verdict": ..., ...}]}
//! ```
//! Fields are only ever added within a version; a change of meaning or a removal bumps `version`.

use std::io::Write;

use anyhow::Result;
use serde::Serialize;

use super::report::{CheckResult, Summary};

/// The version of the JSON output.
pub(crate) const VERSION: u32 = 1;

#[derive(Serialize)]
struct Output<'a> {
    version: u32,
    summary: &'a Summary,
    results: &'a [CheckResult],
}

/// Writes the results, pretty-printed, with a final newline.
pub(crate) fn write(out: &mut dyn Write, results: &[CheckResult], summary: &Summary) -> Result<()> {
    serde_json::to_writer_pretty(
        &mut *out,
        &Output {
            version: VERSION,
            summary,
            results,
        },
    )?;
    writeln!(out)?;
    Ok(())
}
