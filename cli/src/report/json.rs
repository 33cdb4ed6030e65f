//! The json format: the [`Report`] as it is (docs/report.md lists its fields; `version` changes when a field
//! changes meaning or goes away).

use std::io::Write;

use anyhow::Result;

use super::Report;

/// Writes the report, pretty-printed, with a final newline.
pub(crate) fn write(out: &mut dyn Write, report: &Report) -> Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    writeln!(out)?;
    Ok(())
}
