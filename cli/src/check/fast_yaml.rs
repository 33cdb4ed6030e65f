//! A fast reader for the plain YAML that Kubernetes manifests are made of, in front of serde_yaml_ng.
//!
//! serde_yaml_ng (libyaml) reads about 13 MB/s here, some 8,000 typical Deployments a second, which was most
//! of the time `check` took. Rendered manifests use a small part of YAML: block mappings and sequences
//! indented with spaces, one-line plain and quoted scalars, and one-line flow collections. This reader
//! handles exactly that part, writing the document as JSON text (which the sdk reads without building a
//! tree), and gives up (`None`) on anything else: block scalars (`|`, `>`), anchors, aliases, tags,
//! directives, multi-line scalars, complex keys, tabs, carriage returns, duplicate keys, escapes other than
//! the simple ones, and plain scalars that might resolve to a float or a non-decimal integer. On `None` the
//! caller parses the document with serde_yaml_ng, which also reports every error: this reader never decides
//! that a document is malformed.
//!
//! Scalars resolve as serde_yaml_ng resolves them into `serde_json::Value` (YAML 1.2 core schema: `null`,
//! `~`, `true`, `False`, decimal integers); the unit tests compare both readers on every fixture and on
//! tricky snippets.

use std::borrow::Cow;
use std::fmt::Write as _;

/// One line with content: its indentation (spaces) and its text after them, trailing spaces removed.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    indent: usize,
    text: &'a str,
}

/// Reads one YAML document into JSON text (`null` for an empty one), or `None` when it is outside the subset
/// this reader handles.
pub(crate) fn to_json(piece: &str) -> Option<String> {
    if piece.bytes().any(|b| b == b'\t' || b == b'\r') || piece.starts_with('\u{feff}') {
        return None;
    }
    let mut lines = Vec::with_capacity(64);
    for raw in piece.lines() {
        let text = raw.trim_start_matches(' ');
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        if text.starts_with("---") || text.starts_with("...") || text.starts_with('%') {
            return None;
        }
        lines.push(Line {
            indent: raw.len() - text.len(),
            text: text.trim_end_matches(' '),
        });
    }
    let Some(first) = lines.first() else {
        return Some("null".to_owned());
    };
    let indent = first.indent;
    let mut parser = Parser {
        lines,
        pos: 0,
        out: String::with_capacity(piece.len()),
    };
    parser.block(indent)?;
    (parser.pos == parser.lines.len()).then_some(parser.out)
}

/// A resolved scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Str(Cow<'a, str>),
}

/// Writes `s` as a JSON string.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

fn write_scalar(out: &mut String, scalar: &Scalar<'_>) {
    match scalar {
        Scalar::Null => out.push_str("null"),
        Scalar::Bool(true) => out.push_str("true"),
        Scalar::Bool(false) => out.push_str("false"),
        Scalar::Unsigned(n) => {
            let _ = write!(out, "{n}");
        }
        Scalar::Signed(n) => {
            let _ = write!(out, "{n}");
        }
        Scalar::Str(s) => write_str(out, s),
    }
}

struct Parser<'a> {
    lines: Vec<Line<'a>>,
    pos: usize,
    out: String,
}

fn is_sequence_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

impl<'a> Parser<'a> {
    fn next_indent(&self) -> Option<usize> {
        self.lines.get(self.pos).map(|l| l.indent)
    }

    /// A block mapping or sequence whose first line is at `indent`.
    fn block(&mut self, indent: usize) -> Option<()> {
        let line = self.lines.get(self.pos)?;
        if line.indent != indent {
            return None;
        }
        if is_sequence_entry(line.text) {
            self.sequence(indent)
        } else {
            self.mapping(indent)
        }
    }

    /// The value of a key or entry with nothing after it on its line: a deeper block, or null.
    fn nested_or_null(&mut self, indent: usize) -> Option<()> {
        match self.next_indent() {
            Some(next) if next > indent => self.block(next),
            _ => {
                self.out.push_str("null");
                Some(())
            }
        }
    }

    /// A one-line value; the next line may not be deeper (that would continue a multi-line scalar).
    fn inline_value(&mut self, text: &'a str, indent: usize) -> Option<()> {
        inline(&mut self.out, text)?;
        if self.next_indent().is_some_and(|next| next > indent) {
            return None;
        }
        Some(())
    }

    fn mapping(&mut self, indent: usize) -> Option<()> {
        let mut keys: Vec<Cow<'a, str>> = Vec::new();
        self.out.push('{');
        while let Some(line) = self.lines.get(self.pos).copied() {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || is_sequence_entry(line.text) {
                return None;
            }
            let (key, rest) = split_key(line.text)?;
            if keys.contains(&key) {
                return None;
            }
            if !keys.is_empty() {
                self.out.push(',');
            }
            write_str(&mut self.out, &key);
            self.out.push(':');
            keys.push(key);
            self.pos += 1;
            if rest.is_empty() || rest.starts_with('#') {
                match self.lines.get(self.pos) {
                    // A sequence may sit at its key's indentation (`containers:` then `- name: ...`).
                    Some(next) if next.indent == indent && is_sequence_entry(next.text) => {
                        self.sequence(indent)?
                    }
                    _ => self.nested_or_null(indent)?,
                }
            } else {
                self.inline_value(rest, indent)?
            }
        }
        self.out.push('}');
        Some(())
    }

    fn sequence(&mut self, indent: usize) -> Option<()> {
        self.out.push('[');
        let mut first = true;
        while let Some(line) = self.lines.get(self.pos).copied() {
            if line.indent < indent || (line.indent == indent && !is_sequence_entry(line.text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            if !first {
                self.out.push(',');
            }
            first = false;
            let rest = line.text[1..].trim_start_matches(' ');
            if rest.is_empty() || rest.starts_with('#') {
                self.pos += 1;
                self.nested_or_null(indent)?;
            } else if is_sequence_entry(rest) {
                return None;
            } else if split_key(rest).is_some() {
                // `- name: web`: a mapping whose keys line up with `name`.
                let column = indent + (line.text.len() - rest.len());
                self.lines[self.pos] = Line {
                    indent: column,
                    text: rest,
                };
                self.mapping(column)?;
            } else {
                self.pos += 1;
                self.inline_value(rest, indent)?;
            }
        }
        self.out.push(']');
        Some(())
    }
}

/// Characters that may not start a plain scalar here (YAML indicators; `-` is checked separately).
const INDICATORS: &[char] = &[
    '?', ':', ',', '[', ']', '{', '}', '#', '&', '*', '!', '|', '>', '\'', '"', '%', '@', '`',
];

/// `key: rest` (or `key:`): the key, and what follows the `:` and its spaces.
fn split_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    if text.starts_with(['"', '\'']) {
        let (key, after) = quoted(text)?;
        let rest = after.strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        return Some((key, rest.trim_start_matches(' ')));
    }
    if text.starts_with(INDICATORS) || text.starts_with('-') || text.starts_with("<<") {
        return None;
    }
    let colon = text
        .match_indices(':')
        .map(|(i, _)| i)
        .find(|&i| matches!(text.as_bytes().get(i + 1), None | Some(b' ')))?;
    let key = text[..colon].trim_end_matches(' ');
    if key.is_empty() || key.len() > 1000 || has_any(key, b"{}[],#&*!|>\"'") {
        return None;
    }
    match plain(key)? {
        Scalar::Str(key) => Some((key, text[colon + 1..].trim_start_matches(' '))),
        _ => None,
    }
}

/// A value written on one line in block context: quoted, flow, or plain, with an optional comment.
fn inline(out: &mut String, text: &str) -> Option<()> {
    let after = match text.as_bytes().first()? {
        b'"' | b'\'' => {
            let (s, after) = quoted(text)?;
            write_str(out, &s);
            after
        }
        b'{' | b'[' => flow(out, text)?,
        _ => {
            if text.starts_with(INDICATORS) || text.starts_with("- ") || text == "-" {
                return None;
            }
            let end = comment_start(text);
            let scalar = text[..end].trim_end_matches(' ');
            if scalar.as_bytes().windows(2).any(|w| w == b": ") || scalar.ends_with(':') {
                return None;
            }
            write_scalar(out, &plain(scalar)?);
            return Some(());
        }
    };
    comment_or_nothing(after).then_some(())
}

/// Whether `text` holds one of `bytes` (all ASCII).
fn has_any(text: &str, bytes: &[u8]) -> bool {
    text.bytes().any(|b| bytes.contains(&b))
}

/// Where a comment starts in a plain scalar's line: the first `#` after a space, else the end.
fn comment_start(text: &str) -> usize {
    let bytes = text.as_bytes();
    (1..bytes.len())
        .find(|&i| bytes[i] == b'#' && bytes[i - 1] == b' ')
        .map_or(bytes.len(), |i| i - 1)
}

/// Whether what follows a value is nothing, or spaces and a comment.
fn comment_or_nothing(after: &str) -> bool {
    let trimmed = after.trim_start_matches(' ');
    trimmed.is_empty() || (trimmed.starts_with('#') && trimmed.len() < after.len())
}

/// A plain scalar, resolved as serde_yaml_ng resolves it; `None` when it might be a float or a non-decimal
/// integer (serde_yaml_ng decides those).
fn plain(s: &str) -> Option<Scalar<'_>> {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Some(Scalar::Null),
        "true" | "True" | "TRUE" => return Some(Scalar::Bool(true)),
        "false" | "False" | "FALSE" => return Some(Scalar::Bool(false)),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return Some(Scalar::Str(Cow::Borrowed(s)));
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
    {
        return if s.starts_with('-') {
            s.parse::<i64>().ok().map(Scalar::Signed)
        } else {
            s.parse::<u64>().ok().map(Scalar::Unsigned)
        };
    }
    let unsigned = s.trim_start_matches(['+', '-']);
    let maybe_number = unsigned.starts_with('.')
        || s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b"+-._xXoObB".contains(&b));
    if maybe_number {
        None
    } else {
        Some(Scalar::Str(Cow::Borrowed(s)))
    }
}

/// A single- or double-quoted scalar closed on the same line, and the text after it.
fn quoted(text: &str) -> Option<(Cow<'_, str>, &str)> {
    let quote = text.chars().next()?;
    let body = &text[1..];
    // Without escapes, the scalar is the text up to the closing quote.
    let special: &[u8] = if quote == '"' { b"\"\\" } else { b"'" };
    if let Some(end) = body.bytes().position(|b| special.contains(&b))
        && !body[end..].starts_with('\\')
        && !body[end + 1..].starts_with('\'')
        // Control characters (and, conservatively, every character encoded after 0xC2) take the slow way.
        && !body[..end].bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2)
    {
        return Some((Cow::Borrowed(&body[..end]), &body[end + 1..]));
    }
    let mut out = String::with_capacity(body.len());
    let mut chars = body.char_indices();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            ('\'', '\'') => {
                if body[i + 1..].starts_with('\'') {
                    out.push('\'');
                    chars.next();
                } else {
                    return Some((Cow::Owned(out), &body[i + 1..]));
                }
            }
            ('"', '"') => return Some((Cow::Owned(out), &body[i + 1..])),
            ('"', '\\') => {
                let (_, escaped) = chars.next()?;
                out.push(match escaped {
                    '"' => '"',
                    '\\' => '\\',
                    '/' => '/',
                    'n' => '\n',
                    't' => '\t',
                    _ => return None,
                });
            }
            (_, c) if c.is_control() => return None,
            (_, c) => out.push(c),
        }
    }
    None
}

/// A flow collection (`{...}` or `[...]`) closed on the same line; returns the text after it.
fn flow<'t>(out: &mut String, text: &'t str) -> Option<&'t str> {
    let mapping = text.starts_with('{');
    let close = if mapping { '}' } else { ']' };
    out.push(if mapping { '{' } else { '[' });
    let mut rest = text[1..].trim_start_matches(' ');
    let mut keys: Vec<Cow<'t, str>> = Vec::new();
    let mut first = true;
    loop {
        if let Some(after) = rest.strip_prefix(close) {
            out.push(close);
            return Some(after);
        }
        if !first {
            out.push(',');
        }
        first = false;
        if mapping {
            let (key, after) = flow_key(rest)?;
            if keys.contains(&key) {
                return None;
            }
            write_str(out, &key);
            out.push(':');
            keys.push(key);
            rest = flow_value(out, after.trim_start_matches(' '))?;
        } else {
            rest = flow_value(out, rest)?;
        }
        rest = rest.trim_start_matches(' ');
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start_matches(' ');
        } else if !rest.starts_with(close) {
            return None;
        }
    }
}

/// `key: ` in a flow mapping: the key, and the text after `:`.
fn flow_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    if text.starts_with(['"', '\'']) {
        let (key, after) = quoted(text)?;
        return Some((key, after.trim_start_matches(' ').strip_prefix(':')?));
    }
    let colon = text.find(':')?;
    let key = text[..colon].trim_end_matches(' ');
    if !text[colon + 1..].starts_with(' ')
        || key.is_empty()
        || key.starts_with(INDICATORS)
        || key.starts_with('-')
        || has_any(key, b"{}[],#\"'")
    {
        return None;
    }
    match plain(key)? {
        Scalar::Str(key) => Some((key, &text[colon + 1..])),
        _ => None,
    }
}

/// A value inside a flow collection; returns the text after it.
fn flow_value<'t>(out: &mut String, text: &'t str) -> Option<&'t str> {
    match text.as_bytes().first()? {
        b'{' | b'[' => flow(out, text),
        b'"' | b'\'' => {
            let (s, after) = quoted(text)?;
            write_str(out, &s);
            Some(after)
        }
        _ => {
            if text.starts_with(INDICATORS) || text.starts_with("- ") {
                return None;
            }
            let end = text
                .bytes()
                .position(|b| matches!(b, b',' | b']' | b'}'))
                .unwrap_or(text.len());
            let scalar = text[..end].trim_end_matches(' ');
            if scalar.is_empty() || has_any(scalar, b":#[{\"'") {
                return None;
            }
            write_scalar(out, &plain(scalar)?);
            Some(&text[end..])
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "a failed unwrap is a failed test")]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::Value;

    /// What the fast reader reads, as a value.
    fn parse(piece: &str) -> Option<Value> {
        to_json(piece).map(|json| serde_json::from_str(&json).expect("the fast reader writes JSON"))
    }

    /// What serde_yaml_ng reads from `piece`: its one document, or `None` for an error.
    fn slow(piece: &str) -> Option<Value> {
        let mut documents = serde_yaml_ng::Deserializer::from_str(piece);
        let value = match documents.next() {
            Some(d) => Value::deserialize(d).ok()?,
            None => Value::Null,
        };
        documents.next().is_none().then_some(value)
    }

    /// The fast reader either gives up or agrees with serde_yaml_ng.
    fn agrees(piece: &str) -> bool {
        match parse(piece) {
            None => true,
            Some(fast) => {
                let slow = slow(piece);
                assert_eq!(Some(&fast), slow.as_ref(), "{piece:?}");
                true
            }
        }
    }

    #[test]
    fn agrees_with_serde_yaml_ng_or_gives_up_on_tricky_snippets() {
        let snippets = [
            "a: 1\nb: -2\nc: 0\nd: -0\ne: 18446744073709551615\nf: -9223372036854775808\n",
            "a: 100m\nb: 128Mi\nc: 25%\nd: 12:30\ne: v1.2\nf: -flag\ng: 1Gi\n",
            "a: 1\nb: -2\nc: 0\nd: -0\ne: 007\nf: 0x1F\ng: 1e3\nh: 1.5\ni: .inf\nj: -.INF\nk: .nan\n",
            "a: +5\nb: 1_000\nc: 18446744073709551616\nd: 0o17\ne: 0b11\nf: inf\ng: nan\nh: -inf\n",
            "a: ~\nb: null\nc: Null\nd: true\ne: False\nf: yes\ng: on\nh: 'true'\ni: \"1\"\n",
            "a: 100m\nb: 128Mi\nc: 25%\nd: 1.4.3\ne: v1.2\nf: 2024-01-01\ng: 12:30\nh: 1.0e+3\n",
            "a: x # comment\nb: x#y\nc: 'it''s'\nd: \"q\\\"x\\\\\\n\"\ne: \"\\u0041\"\nf: \"a\\x41\"\n",
            "a: [1, two, \"3\", {b: c}]\nd: {e: [], f: {}, g: 'h'}\ni: []\nj: {}\nk: [a,b]\n",
            "a: {b: c,}\nd: [e, ]\nf: {g: h} # c\ni: {\"j\":1}\nk: {l:m}\nn: [o: p]\n",
            "a:\n  - b\n  - c: d\n    e: f\n  -\n    g: h\n  - - i\n",
            "a:\n- b\n- c\nd: e\n",
            "a: |\n  text\nb: >-\n  folded\n",
            "a: &x 1\nb: *x\nc: !!str 1\n<<: {d: e}\n",
            "a: multi\n  line\nb: 'multi\n  line'\n",
            "a: 1\na: 2\n",
            "? a\n: b\n",
            "a: b: c\n",
            "a:b\n",
            "- a\n- b\n",
            "  a: 1\n  b: 2\n",
            "a: 1\n b: 2\n",
            "a:\n  b: 1\n c: 2\n",
            "a: - b\n",
            "a: \"unclosed\n",
            "a: [unclosed\n",
            "a: b\t# tab\n",
            "\"quoted key\": 1\n'single': 2\n",
            "a: 'x' y\n",
            "a: \"x\"# no space\n",
            "key with spaces: value with spaces\n",
            "a: -\n",
            "a: --flag=1\nb: -x\n",
            "a:\n",
            "a:\nb:\n  c:\n",
            "# only a comment\n",
            "",
            "a: émoji ✓\n",
            "1: a\n",
            "true: a\n",
            "a: [1.5, 0x10, -.inf]\n",
            "a: {b: 1.5}\n",
            "a: x:y\nb: http://example.com/a\n",
            "a: '#not a comment'\nb: x # c: d\n",
            "a: \"\"\nb: ''\n",
            "a: { }\nb: [ ]\n",
            "- {a: 1}\n- [b]\n- 'c'\n",
            "a:\n  - name: x\n    env:\n      - {name: A, value: b}\n  - name: y\n",
        ];
        let mut read = 0;
        for snippet in snippets {
            assert!(agrees(snippet));
            read += usize::from(parse(snippet).is_some());
        }
        assert!(read >= 20, "the fast reader read only {read} snippets");
    }

    #[test]
    fn reads_rendered_manifests_without_falling_back() {
        let corpus = super::super::bench::corpus(24);
        let mut pieces: Vec<String> = super::super::documents::split_yaml(&corpus)
            .into_iter()
            .map(|(_, p)| p.to_owned())
            .collect();
        let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/check-fixtures");
        for file in [
            "manifests/helm-output.yaml",
            "manifests/namespaces.yaml",
            "manifests/nested/kustomize.yml",
            "exit/allowed.yaml",
        ] {
            let text = std::fs::read_to_string(format!("{fixtures}/{file}")).unwrap();
            pieces.extend(
                super::super::documents::split_yaml(&text)
                    .into_iter()
                    .map(|(_, p)| p.to_owned()),
            );
        }
        for piece in &pieces {
            let fast = parse(piece);
            assert!(fast.is_some(), "fell back on {piece}");
            assert_eq!(fast, slow(piece), "{piece}");
        }
    }

    #[test]
    fn malformed_yaml_is_left_to_serde_yaml_ng() {
        for piece in [
            "a: [\n",
            "a: {b\n",
            "a: 'x\n",
            "a:\n - b\n c: d\n",
            "a: b\n- c\n",
        ] {
            assert_eq!(parse(piece), None, "{piece:?}");
        }
    }
}
