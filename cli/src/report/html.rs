//! The html format: one self-contained page (inline style, no script, nothing fetched), the same tables as the
//! text format, and the preemption matrix drawn as a heat map: one row per namespace whose Pods can preempt, one
//! column per namespace whose Pods are at stake, each cell shaded by the memory at stake.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use anyhow::Result;

use super::tables::{self, Tone};
use super::{Report, cpu, memory};

/// At most this many namespaces (those with the most memory at stake, either way) are drawn in the heat map.
pub(crate) const HEAT_MAP_NAMESPACES: usize = 40;

fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em}\
table{border-collapse:collapse;font-size:.9em}td,th{border:1px solid #ccc;padding:.25em .5em;text-align:left}\
th{background:#f3f3f3}tr.bad td{background:#fde8e8}tr.changed td{background:#fff6dd}\
.skipped{background:#fff3cd;border:1px solid #e0c060;padding:.5em 1em}\
table.heat{margin-bottom:1em}table.heat td{text-align:right;min-width:3em}table.heat th.to{writing-mode:vertical-rl}\
.muted{color:#777}";

/// Writes the page.
pub(crate) fn write(out: &mut dyn Write, report: &Report) -> Result<()> {
    writeln!(out, "<!DOCTYPE html>")?;
    writeln!(out, "<html lang=\"en\"><head><meta charset=\"utf-8\">")?;
    writeln!(out, "<title>priority-guard report</title>")?;
    writeln!(out, "<style>{STYLE}</style></head><body>")?;
    writeln!(out, "<h1>priority-guard report</h1>")?;
    for line in tables::heading(report) {
        writeln!(out, "<p>{}</p>", escape(&line))?;
    }
    if !report.skipped.is_empty() {
        writeln!(
            out,
            "<div class=\"skipped\" id=\"skipped\"><strong>Skipped ({}):</strong><ul>",
            report.skipped.len()
        )?;
        for line in &report.skipped {
            writeln!(out, "<li>{}</li>", escape(line))?;
        }
        writeln!(out, "</ul></div>")?;
    }
    for table in tables::tables(report) {
        writeln!(out, "<h2 id=\"{}\">{}</h2>", table.id, escape(&table.title))?;
        for line in &table.intro {
            writeln!(out, "<p>{}</p>", escape(line))?;
        }
        if table.id == "matrix" {
            heat_map(out, report)?;
        }
        if table.rows.is_empty() {
            writeln!(out, "<p class=\"muted\">{}</p>", escape(table.empty))?;
            continue;
        }
        writeln!(out, "<table class=\"{}\"><thead><tr>", table.id)?;
        for header in &table.headers {
            write!(out, "<th>{}</th>", escape(header))?;
        }
        writeln!(out, "</tr></thead><tbody>")?;
        for (tone, row) in &table.rows {
            let class = match tone {
                Tone::Bad => " class=\"bad\"",
                Tone::Changed => " class=\"changed\"",
                Tone::Plain => "",
            };
            write!(out, "<tr{class}>")?;
            for cell in row {
                write!(out, "<td>{}</td>", escape(cell))?;
            }
            writeln!(out, "</tr>")?;
        }
        writeln!(out, "</tbody></table>")?;
    }
    writeln!(out, "</body></html>")?;
    Ok(())
}

/// The matrix as a heat map of the namespaces with the most memory at stake.
fn heat_map(out: &mut dyn Write, report: &Report) -> Result<()> {
    let matrix = &report.exposure.matrix;
    if matrix.is_empty() {
        return Ok(());
    }
    let mut weight: BTreeMap<&str, u64> = BTreeMap::new();
    for cell in matrix {
        *weight.entry(&cell.from).or_default() += cell.memory_bytes;
        *weight.entry(&cell.to).or_default() += cell.memory_bytes;
    }
    let mut ranked: Vec<(&str, u64)> = weight.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    let shown: BTreeSet<&str> = ranked
        .iter()
        .take(HEAT_MAP_NAMESPACES)
        .map(|(n, _)| *n)
        .collect();
    if ranked.len() > shown.len() {
        writeln!(
            out,
            "<p class=\"muted\">The {} namespaces with the most memory at stake of {}.</p>",
            shown.len(),
            ranked.len()
        )?;
    }
    let cells: BTreeMap<(&str, &str), _> = matrix
        .iter()
        .filter(|c| shown.contains(c.from.as_str()) && shown.contains(c.to.as_str()))
        .map(|c| ((c.from.as_str(), c.to.as_str()), c))
        .collect();
    let largest = cells
        .values()
        .map(|c| c.memory_bytes)
        .max()
        .unwrap_or(0)
        .max(1);
    writeln!(
        out,
        "<table class=\"heat\" id=\"heat-map\"><thead><tr><th>from \\ to</th>"
    )?;
    for to in &shown {
        write!(out, "<th class=\"to\">{}</th>", escape(to))?;
    }
    writeln!(out, "</tr></thead><tbody>")?;
    for from in &shown {
        write!(out, "<tr><th>{}</th>", escape(from))?;
        for to in &shown {
            match cells.get(&(*from, *to)) {
                Some(cell) => {
                    // Lightness from 95% (little at stake) to 45% (the most).
                    let share = cell.memory_bytes as f64 / largest as f64;
                    let lightness = 95.0 - 50.0 * share;
                    write!(
                        out,
                        "<td style=\"background:hsl(0,75%,{lightness:.0}%)\" title=\"{} Pods of {} can \
                         preempt {} Pods of {} ({} CPU, {} memory)\">{}</td>",
                        cell.preemptors,
                        escape(from),
                        cell.victims,
                        escape(to),
                        cpu(cell.cpu_millis),
                        memory(cell.memory_bytes),
                        cell.victims
                    )?;
                }
                None => write!(out, "<td class=\"muted\">·</td>")?,
            }
        }
        writeln!(out, "</tr>")?;
    }
    writeln!(out, "</tbody></table>")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_the_cluster_cannot_open_markup() {
        assert_eq!(
            escape(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
    }
}
