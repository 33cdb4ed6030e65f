//! The text format: aligned tables for a terminal, refusals in red and defaults in yellow only when standard
//! output is a terminal and `NO_COLOR` is not set.

use std::io::{IsTerminal, Write};

use anyhow::Result;

use super::Report;
use super::tables::{self, Tone};

/// Whether to colour: standard output is a terminal and `NO_COLOR` is unset or empty.
pub(crate) fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(text: &str, tone: Tone, colour: bool) -> String {
    match (colour, tone) {
        (true, Tone::Bad) => format!("\x1b[31m{text}\x1b[0m"),
        (true, Tone::Changed) => format!("\x1b[33m{text}\x1b[0m"),
        _ => text.to_owned(),
    }
}

/// Writes the report.
pub(crate) fn write(out: &mut dyn Write, report: &Report, colour: bool) -> Result<()> {
    writeln!(out, "priority-guard report")?;
    for line in tables::heading(report) {
        writeln!(out, "{line}")?;
    }
    if !report.skipped.is_empty() {
        writeln!(out, "skipped ({}):", report.skipped.len())?;
        for line in &report.skipped {
            writeln!(out, "  - {line}")?;
        }
    }
    for table in tables::tables(report) {
        writeln!(out)?;
        writeln!(out, "== {}", table.title)?;
        for line in &table.intro {
            writeln!(out, "{line}")?;
        }
        if table.rows.is_empty() {
            writeln!(out, "({})", table.empty)?;
            continue;
        }
        let mut widths: Vec<usize> = table.headers.iter().map(|h| h.chars().count()).collect();
        for (_, row) in &table.rows {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |cells: &mut dyn Iterator<Item = String>| -> String {
            let mut text = String::new();
            for (index, (cell, width)) in cells.zip(&widths).enumerate() {
                if index + 1 == widths.len() {
                    text.push_str(&cell);
                } else {
                    text.push_str(&cell);
                    text.push_str(&" ".repeat(width - cell.chars().count() + 2));
                }
            }
            text.trim_end().to_owned()
        };
        writeln!(
            out,
            "{}",
            line(&mut table.headers.iter().map(|h| h.to_uppercase()))
        )?;
        for (tone, row) in &table.rows {
            writeln!(
                out,
                "{}",
                paint(&line(&mut row.iter().cloned()), *tone, colour)
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_red_and_defaults_yellow_only_with_colour() {
        assert_eq!(paint("denied", Tone::Bad, true), "\x1b[31mdenied\x1b[0m");
        assert_eq!(
            paint("defaulted", Tone::Changed, true),
            "\x1b[33mdefaulted\x1b[0m"
        );
        assert_eq!(paint("allowed", Tone::Plain, true), "allowed");
        for tone in [Tone::Bad, Tone::Changed, Tone::Plain] {
            assert_eq!(paint("x", tone, false), "x");
        }
    }
}
