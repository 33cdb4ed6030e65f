//! Finding the input files and cutting them into documents, each with the line it starts on.
//!
//! YAML is cut on lines that are exactly `---`, optionally followed by whitespace and a `# comment` (what
//! `helm template`, `kustomize build` and `kubectl get -o yaml` print). A document's line is its first line
//! that is neither blank nor a comment, from the line after its `---` (the first document from line 1): the
//! `apiVersion:` of an object, not Helm's `# Source:` comment. Each piece is then parsed with serde_yaml_ng, so that a malformed piece
//! is reported at its own line and the next piece is read as usual. Pieces in the plain shapes of rendered
//! manifests are read by a faster reader ([`super::fast_yaml`]) that agrees with serde_yaml_ng and leaves
//! everything else, errors included, to it. (A piece holding several YAML documents, e.g.
//! separated by `--- !tag` or `...`, is still read: its documents all get the piece's line.)
//!
//! JSON input (`.json` files, and other input whose first character is `{` or `[`) is read as a sequence of JSON
//! values; each starts on the line of its first character. JSON cannot be resynchronised after a syntax error,
//! so reading a JSON file stops at its first error.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::fast_yaml::{Header, Reader};

/// Where documents come from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Source {
    /// A file.
    File(PathBuf),
    /// Standard input.
    Stdin,
}

/// Whether a file found in a directory is read: `.yaml`, `.yml` and `.json`.
fn is_manifest_file(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The files a path stands for: itself, or for a directory every `.yaml`, `.yml` and `.json` file under it
/// (recursively, skipping entries whose name starts with `.`), sorted.
pub(crate) fn expand(path: &Path, out: &mut Vec<Source>) -> Result<()> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_dir() {
        out.push(Source::File(path.to_owned()));
        return Ok(());
    }
    let mut found = Vec::new();
    walk(path, &mut found)?;
    found.sort();
    out.extend(found.into_iter().map(Source::File));
    Ok(())
}

fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?;
    for entry in entries {
        let entry =
            entry.with_context(|| format!("cannot read the directory {}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let meta =
            std::fs::metadata(&path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            walk(&path, found)?;
        } else if is_manifest_file(&path) {
            found.push(path);
        }
    }
    Ok(())
}

/// A parsed document, or why it could not be parsed, with its first line.
#[cfg(test)]
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Document {
    /// The 1-based line the document starts on (for an error: the line of the error).
    pub line: usize,
    /// The document as JSON text, or the parser's complaint.
    pub value: Result<String, String>,
}

/// How a text is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Syntax {
    /// YAML documents.
    Yaml,
    /// JSON values one after the other.
    Json,
}

impl Syntax {
    /// `.json` files are JSON, `.yaml` and `.yml` files YAML; anything else is JSON when its first
    /// non-blank character is `{` or `[`.
    pub(crate) fn of(path: Option<&Path>, text: &str) -> Self {
        match path.and_then(|p| p.extension()).and_then(|e| e.to_str()) {
            Some("json") => Syntax::Json,
            Some("yaml" | "yml") => Syntax::Yaml,
            _ if text.trim_start().starts_with(['{', '[']) => Syntax::Json,
            _ => Syntax::Yaml,
        }
    }
}

/// A document as read from a text.
#[derive(Debug)]
pub(crate) enum Item<'b> {
    /// The document as JSON text, with where its naming fields are when the fast reader read it.
    Json {
        json: &'b str,
        header: Option<&'b Header>,
    },
    /// The parser's complaint.
    Error(String),
}

/// What reading reuses from one document to the next.
#[derive(Debug, Default)]
pub(crate) struct Buffers {
    reader: Reader,
    json: String,
}

/// Every document of a text, in order, each with the line it starts on. Empty documents (`null`) are dropped.
pub(crate) fn each(
    text: &str,
    syntax: Syntax,
    buffers: &mut Buffers,
    mut f: impl FnMut(usize, Item<'_>),
) {
    let mut not_null = |line: usize, item: Item<'_>| {
        if !matches!(item, Item::Json { json: "null", .. }) {
            f(line, item);
        }
    };
    match syntax {
        Syntax::Yaml => parse_yaml(text, buffers, &mut not_null),
        Syntax::Json => parse_json(text, &mut not_null),
    }
}

/// Every document of a text, in order, as [`each`] reads them.
#[cfg(test)]
pub(crate) fn parse(text: &str, syntax: Syntax) -> Vec<Document> {
    let mut documents = Vec::new();
    each(text, syntax, &mut Buffers::default(), |line, item| {
        documents.push(Document {
            line,
            value: match item {
                Item::Json { json, .. } => Ok(json.to_owned()),
                Item::Error(message) => Err(message),
            },
        });
    });
    documents
}

/// Whether a line separates YAML documents: `---`, then nothing, or whitespace and an optional comment.
fn is_separator(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("---") else {
        return false;
    };
    let rest = rest.strip_suffix('\r').unwrap_or(rest);
    if rest.is_empty() {
        return true;
    }
    rest.starts_with([' ', '\t']) && {
        let rest = rest.trim_start();
        rest.is_empty() || rest.starts_with('#')
    }
}

/// The pieces of a YAML text between separator lines, with the line each starts on.
pub(crate) fn split_yaml(text: &str) -> Vec<(usize, &str)> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    // Lines are counted from one separator to the next: `counted` bytes hold `line - 1` newlines.
    let mut counted = 0;
    let mut line = 1;
    // Only lines that start with `---` may separate documents.
    let at_start = text.starts_with("---").then_some(0);
    let candidates = at_start
        .into_iter()
        .chain(text.match_indices("\n---").map(|(i, _)| i + 1));
    for at in candidates {
        let end = text[at..].find('\n').map_or(text.len(), |e| at + e);
        if !is_separator(&text[at..end]) {
            continue;
        }
        line += text.as_bytes()[counted..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = at;
        pieces.push((start_line, &text[start..at]));
        start = (end + 1).min(text.len());
        start_line = line + 1;
    }
    pieces.push((start_line, &text[start..]));
    pieces
}

/// A YAML error's message without the position serde_yaml_ng appends (it is relative to the piece).
fn yaml_message(error: &serde_yaml_ng::Error) -> String {
    let mut message = error.to_string();
    if let Some(at) = message.find(" at line ") {
        message.truncate(at);
    }
    message
}

/// The number of blank and comment lines that open a piece.
fn leading_comment_lines(piece: &str) -> usize {
    piece
        .lines()
        .take_while(|l| {
            let l = l.trim_start();
            l.is_empty() || l.starts_with('#')
        })
        .count()
}

fn parse_yaml(text: &str, buffers: &mut Buffers, f: &mut impl FnMut(usize, Item<'_>)) {
    for (first, piece) in split_yaml(text) {
        let line = first + leading_comment_lines(piece);
        // The common shapes of rendered manifests first; serde_yaml_ng for everything else and for errors.
        if let Some(header) = buffers.reader.read(piece, &mut buffers.json) {
            let json = &buffers.json;
            let header = header.as_ref();
            f(line, Item::Json { json, header });
            continue;
        }
        // libyaml reports an unterminated construct one past the piece's end: the separator's line.
        let last = first + piece.lines().count().max(1) - 1;
        for document in serde_yaml_ng::Deserializer::from_str(piece) {
            match Value::deserialize(document) {
                Ok(value) => {
                    // Serializing a `serde_json::Value` cannot fail.
                    let json = serde_json::to_string(&value).unwrap_or_default();
                    f(
                        line,
                        Item::Json {
                            json: &json,
                            header: None,
                        },
                    );
                }
                Err(error) => {
                    let (at, column) = match error.location() {
                        Some(l) if first + l.line() - 1 <= last => {
                            (first + l.line() - 1, Some(l.column()))
                        }
                        Some(_) => (last, None),
                        None => (line, None),
                    };
                    let position = column.map_or_else(String::new, |c| format!(" (column {c})"));
                    let message = format!("invalid YAML{position}: {}", yaml_message(&error));
                    f(at, Item::Error(message));
                    // libyaml cannot continue after an error; the next piece can.
                    break;
                }
            }
        }
    }
}

fn parse_json(text: &str, f: &mut impl FnMut(usize, Item<'_>)) {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Box<RawValue>>();
    // Lines are counted incrementally: `counted` bytes hold `line - 1` newlines.
    let mut counted = 0;
    let mut line = 1;
    loop {
        let offset = stream.byte_offset();
        let start = text[offset..]
            .find(|c: char| !c.is_ascii_whitespace())
            .map_or(text.len(), |skip| offset + skip);
        line += text.as_bytes()[counted..start]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        counted = start;
        match stream.next() {
            None => break,
            Some(Ok(value)) => f(
                line,
                Item::Json {
                    json: value.get(),
                    header: None,
                },
            ),
            Some(Err(error)) => {
                let mut message = error.to_string();
                if let Some(at) = message.find(" at line ") {
                    message.truncate(at);
                }
                let column = error.column();
                f(
                    error.line().max(1),
                    Item::Error(format!("invalid JSON (column {column}): {message}")),
                );
                break;
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use serde_json::json;

    /// The documents' lines and values.
    fn values(documents: &[Document]) -> Vec<(usize, Result<Value, String>)> {
        documents
            .iter()
            .map(|d| {
                let value = d
                    .value
                    .clone()
                    .map(|json| serde_json::from_str(&json).unwrap());
                (d.line, value)
            })
            .collect()
    }

    #[test]
    fn separators_are_dashes_with_optional_comment() {
        for line in [
            "---",
            "---  ",
            "--- # Source: chart/templates/a.yaml",
            "---\r",
        ] {
            assert!(is_separator(line), "{line:?}");
        }
        for line in ["", "----", "--- a: 1", "---#x", " ---", "a: ---"] {
            assert!(!is_separator(line), "{line:?}");
        }
    }

    /// `split_yaml` as it was first written, line by line: the reference for the faster one.
    fn split_line_by_line(text: &str) -> Vec<(usize, &str)> {
        let mut pieces = Vec::new();
        let mut start = 0;
        let mut start_line = 1;
        let mut offset = 0;
        for (index, line) in text.split_inclusive('\n').enumerate() {
            let content = line.strip_suffix('\n').unwrap_or(line);
            if is_separator(content) {
                pieces.push((start_line, &text[start..offset]));
                start = offset + line.len();
                start_line = index + 2;
            }
            offset += line.len();
        }
        pieces.push((start_line, &text[start..]));
        pieces
    }

    #[test]
    fn split_yaml_cuts_where_the_line_by_line_reference_does() {
        let texts = [
            "",
            "---",
            "---\n",
            "\n---",
            "a: 1\n---",
            "---\na: 1\n---\nb: 2\n",
            "---\n---\n---\n",
            "a: 1\n---\r\nb: 2\r\n--- # Source: x\nc: 3",
            "a: 1\n----\nb: ---\n --- \n---a\n--- a\n---#x\n---\t# tab\n---  \nc: 1\n",
            "a: |\n  ---\n  text\n---\n\n\n# comment\nb: 2\n\n",
            "é: ✓\n---\nü: 1\n--- # ✓\n",
        ];
        for text in texts {
            assert_eq!(split_yaml(text), split_line_by_line(text), "{text:?}");
        }
        let corpus = super::super::bench::corpus(50);
        assert_eq!(split_yaml(&corpus), split_line_by_line(&corpus));
    }

    #[test]
    fn documents_start_on_their_first_line_after_the_separator_that_is_not_a_comment() {
        let text = "a: 1\n---\n# comment\nb: 2\n--- # Source: x\nc: 3\n";
        let lines: Vec<usize> = split_yaml(text).iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [1, 3, 6]);
        let documents = parse(text, Syntax::Yaml);
        assert_eq!(
            values(&documents),
            vec![
                (1, Ok(json!({"a": 1}))),
                (4, Ok(json!({"b": 2}))),
                (6, Ok(json!({"c": 3}))),
            ]
        );
    }

    #[test]
    fn empty_documents_are_dropped_and_leading_separators_are_fine() {
        let documents = parse("---\n---\n# only a comment\n---\na: 1\n---\n", Syntax::Yaml);
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0].line, 5);
        let documents = parse("# Source: a.yaml\n\n  # indented\nb: 2\n", Syntax::Yaml);
        assert_eq!(documents[0].line, 4, "comments and blank lines are skipped");
    }

    #[test]
    fn a_yaml_error_is_reported_at_its_absolute_line_and_the_next_document_is_read() {
        let text = "a: 1\n---\nb: 2\nc: [\n---\nd: 4\n---\ne: @\n";
        let documents = parse(text, Syntax::Yaml);
        assert_eq!(documents.len(), 4);
        assert_eq!(
            documents[1].line, 4,
            "the unclosed line, not the separator after it: {:?}",
            documents[1]
        );
        assert_eq!(documents[3].line, 8, "{:?}", documents[3]);
        let error = documents[3].value.as_ref().unwrap_err();
        assert!(error.starts_with("invalid YAML (column 4)"), "{error}");
        let error = documents[1].value.as_ref().unwrap_err();
        assert!(error.starts_with("invalid YAML"), "{error}");
        assert!(!error.contains(" at line "), "{error}");
        assert_eq!(values(&documents)[2], (6, Ok(json!({"d": 4}))));
    }

    #[test]
    fn json_values_get_the_line_they_start_on() {
        let text = "\n{\"a\": 1}\n\n  {\"b\":\n 2}\n{\"c\": 3}";
        let documents = parse(text, Syntax::Json);
        let lines: Vec<usize> = documents.iter().map(|d| d.line).collect();
        assert_eq!(lines, [2, 4, 6]);
        let documents = parse("{\"a\": 1}\n{\"b\": }\n{\"c\": 1}", Syntax::Json);
        assert_eq!(documents.len(), 2);
        assert_eq!(documents[1].line, 2);
        assert!(documents[1].value.is_err());
    }

    #[test]
    fn syntax_follows_the_extension_then_the_first_character() {
        assert_eq!(Syntax::of(Some(Path::new("a.json")), "a: 1"), Syntax::Json);
        assert_eq!(Syntax::of(Some(Path::new("a.yml")), "{}"), Syntax::Yaml);
        assert_eq!(Syntax::of(None, "  {\"a\": 1}"), Syntax::Json);
        assert_eq!(Syntax::of(None, "a: 1"), Syntax::Yaml);
    }
}
