//! The markdown format, for a pull request or an issue: the same tables as the text format.

use std::io::Write;

use anyhow::Result;

use super::Report;
use super::tables;

/// A cell's text with the characters that would break a table row escaped.
fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('\n', " ")
}

/// Writes the report.
pub(crate) fn write(out: &mut dyn Write, report: &Report) -> Result<()> {
    writeln!(out, "# priority-guard report")?;
    writeln!(out)?;
    for line in tables::heading(report) {
        writeln!(out, "- {}", cell(&line))?;
    }
    if !report.skipped.is_empty() {
        writeln!(out)?;
        writeln!(out, "**Skipped ({}):**", report.skipped.len())?;
        writeln!(out)?;
        for line in &report.skipped {
            writeln!(out, "- {}", cell(line))?;
        }
    }
    for table in tables::tables(report) {
        writeln!(out)?;
        writeln!(out, "## {}", table.title)?;
        writeln!(out)?;
        for line in &table.intro {
            writeln!(out, "{}", cell(line))?;
            writeln!(out)?;
        }
        if table.rows.is_empty() {
            writeln!(out, "_{}_", table.empty)?;
            continue;
        }
        writeln!(out, "| {} |", table.headers.join(" | "))?;
        writeln!(
            out,
            "|{}",
            table.headers.iter().map(|_| "---|").collect::<String>()
        )?;
        for (_, row) in &table.rows {
            let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
            writeln!(out, "| {} |", cells.join(" | "))?;
        }
    }
    Ok(())
}
