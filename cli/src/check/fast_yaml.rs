//! A fast reader for the plain YAML that Kubernetes manifests are made of, in front of serde_yaml_ng.
//!
//! serde_yaml_ng (libyaml) reads about 13 MB/s here, some 8,000 typical Deployments a second, which was most
//! of the time `check` took. Rendered manifests use a small part of YAML: block mappings and sequences
//! indented with spaces, one-line plain and quoted scalars, and one-line flow collections. This reader
//! handles exactly that part, writing the document as JSON text (which the sdk reads without building a
//! tree), and gives up (`None`) on anything else: block scalars (`|`, `>`), anchors, aliases, tags,
//! directives, multi-line scalars, complex keys, tabs, carriage returns, duplicate keys, escapes other than
//! the simple ones, plain scalars that might resolve to a float or a non-decimal integer, and nesting deeper
//! than [`MAX_DEPTH`]. On `None` the caller parses the document with serde_yaml_ng, which also reports every
//! error: this reader never decides that a document is malformed.
//!
//! Scalars resolve as serde_yaml_ng resolves them into `serde_json::Value` (YAML 1.2 core schema: `null`,
//! `~`, `true`, `False`, decimal integers); the unit tests compare both readers on every fixture and on
//! tricky snippets.
//!
//! While it writes, the reader notes where the top-level fields that name the object (`apiVersion`, `kind` and
//! `metadata`) are in its output ([`Header`]), so that the caller need not read the whole JSON text again to
//! find them. A [`Reader`] keeps its buffers from one document to the next.

use std::borrow::Cow;
use std::ops::Range;

/// Nesting (block and flow collections) beyond which the reader gives up: serde_yaml_ng and serde_json
/// refuse documents nested about 128 deep, and the reader recurses once per level.
pub(crate) const MAX_DEPTH: usize = 100;

/// One line with content: its indentation (spaces), and where its text after them, trailing spaces removed,
/// is in the piece.
#[derive(Debug, Clone, Copy)]
struct Line {
    indent: usize,
    start: usize,
    end: usize,
}

/// Where the top-level fields that name the object are in the JSON text written, as byte ranges of their
/// values (`None` for a field the object does not have).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Header {
    /// `apiVersion`.
    pub api_version: Option<Range<usize>>,
    /// `kind`.
    pub kind: Option<Range<usize>>,
    /// `metadata`.
    pub metadata: Option<Range<usize>>,
    /// When `metadata` is a block mapping, its `name`, `generateName` and `namespace`.
    pub metadata_fields: Option<MetadataFields>,
}

/// Where the fields of `metadata` that name the object are, as byte ranges of their values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MetadataFields {
    /// `name`.
    pub name: Option<Range<usize>>,
    /// `generateName`.
    pub generate_name: Option<Range<usize>>,
    /// `namespace`.
    pub namespace: Option<Range<usize>>,
}

/// The fast reader, with the buffers it reuses.
#[derive(Debug, Default)]
pub(crate) struct Reader {
    lines: Vec<Line>,
    /// The keys of the mappings being read, as ranges of the output (for duplicates).
    keys: Vec<Range<usize>>,
}

/// Reads one YAML document into JSON text (`null` for an empty one), or `None` when it is outside the subset
/// this reader handles.
#[cfg(test)]
pub(crate) fn to_json(piece: &str) -> Option<String> {
    let mut out = String::new();
    Reader::default().read(piece, &mut out)?;
    Some(out)
}

impl Reader {
    /// Reads one YAML document into `out` as JSON text (`null` for an empty one), or `None` when it is outside
    /// the subset this reader handles (`out` then holds a part of the text). With the JSON text comes where the
    /// object's naming fields are when the document is a mapping; `None` for any other document.
    pub(crate) fn read(&mut self, piece: &str, out: &mut String) -> Option<Option<Header>> {
        out.clear();
        self.keys.clear();
        split_lines(piece, &mut self.lines)?;
        let Some(first) = self.lines.first() else {
            out.push_str("null");
            return Some(None);
        };
        let indent = first.indent;
        let mut parser = Parser {
            piece,
            lines: &mut self.lines,
            keys: &mut self.keys,
            pos: 0,
            out,
            depth: 0,
            metadata_next: false,
            header: Header::default(),
        };
        parser.block(indent)?;
        if parser.pos != parser.lines.len() {
            return None;
        }
        let header = parser.header;
        Some(out.starts_with('{').then_some(header))
    }
}

/// The lines of `piece` that hold more than spaces or a comment; `None` when the piece has a tab, a carriage
/// return, a byte order mark, a line starting with `---`, `...` or `%`, or a character YAML does not allow.
fn split_lines(piece: &str, lines: &mut Vec<Line>) -> Option<()> {
    lines.clear();
    if piece.starts_with('\u{feff}') {
        return None;
    }
    // serde_yaml_ng refuses a document with a character outside YAML's printable set, even in a comment, and
    // breaks lines where this reader would not, so the reader gives up: ASCII controls stop a line (`line_stop`),
    // the others are looked for here.
    if !piece.is_ascii() && piece.chars().any(is_non_ascii_control) {
        return None;
    }
    let bytes = piece.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let line_start = i;
        while i < bytes.len() && bytes[i] == b' ' {
            i += 1;
        }
        let start = i;
        i = line_stop(bytes, i);
        match bytes.get(i) {
            None | Some(b'\n') => {}
            // A tab, a carriage return or another control character.
            Some(_) => return None,
        }
        let mut end = i;
        while end > start && bytes[end - 1] == b' ' {
            end -= 1;
        }
        i += 1;
        let text = &bytes[start..end];
        match text.first() {
            None | Some(b'#') => continue,
            Some(b'%') => return None,
            _ if text.starts_with(b"---") || text.starts_with(b"...") => return None,
            _ => {}
        }
        lines.push(Line {
            indent: start - line_start,
            start,
            end,
        });
    }
    Some(())
}

/// Whether `c`, not ASCII, is a character serde_yaml_ng's libyaml does not read as text: a C1 control, U+FFFE or
/// U+FFFF (outside YAML's printable set: "control characters are not allowed"), or NEL, LS and PS (U+0085,
/// U+2028, U+2029), which libyaml takes as line breaks, or a byte order mark (U+FEFF), which libyaml skips at the
/// start of a line and refuses elsewhere.
fn is_non_ascii_control(c: char) -> bool {
    matches!(
        c,
        '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
    )
}

/// [`BYTES`]: a newline, tab, carriage return or other ASCII control character (DEL too), which ends the text of
/// a line.
const LINE_STOP: u8 = 1;
/// [`BYTES`]: a `:`, which may end a key, or a byte a plain key may not hold (flow indicators, `#`, `&`, `*`,
/// `!`, `|`, `>`, quotes).
const KEY_STOP: u8 = 2;
/// [`BYTES`]: a byte that JSON strings escape (`"`, `\`, control characters).
const ESCAPED: u8 = 4;

/// What each byte is to the scans above, looked up rather than compared one by one.
static BYTES: [u8; 256] = {
    let mut table = [0; 256];
    let mut c = 0;
    while c < 0x20 {
        table[c] |= LINE_STOP;
        c += 1;
    }
    table[0x7f] |= LINE_STOP;
    let key_stops = b":{}[],#&*!|>\"'";
    let mut i = 0;
    while i < key_stops.len() {
        table[key_stops[i] as usize] |= KEY_STOP;
        i += 1;
    }
    let mut b = 0;
    while b < 0x20 {
        table[b] |= ESCAPED;
        b += 1;
    }
    table[b'"' as usize] |= ESCAPED;
    table[b'\\' as usize] |= ESCAPED;
    table
};

/// Where the first newline, tab, carriage return or other ASCII control character at or after `from` is (else the
/// end): eight bytes at a time, as lines are some 30 bytes long.
fn line_stop(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // The high bit of each byte of `word` equal to `b`: exact for the lowest such byte, which is all that is
    // looked at.
    let matches = |word: u64, b: u8| {
        let x = word ^ (ONES * u64::from(b));
        x.wrapping_sub(ONES) & !x & HIGH
    };
    // The high bit of each byte of `word` below 0x20 (the C0 controls, newline, tab and carriage return among
    // them): exact for the lowest such byte, as above.
    let controls = |word: u64| word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = controls(word) | matches(word, 0x7f);
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < bytes.len() && BYTES[usize::from(bytes[i])] & LINE_STOP == 0 {
        i += 1;
    }
    i
}

/// A resolved scalar.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scalar<'a> {
    Null,
    Bool(bool),
    /// A decimal integer, as JSON writes it.
    Int(&'a str),
    Str(Cow<'a, str>),
}

/// Writes `s` as a JSON string.
fn write_str(out: &mut String, s: &str) {
    if !s.bytes().any(|b| BYTES[usize::from(b)] & ESCAPED != 0) {
        out.reserve(s.len() + 2);
        out.push('"');
        out.push_str(s);
        out.push('"');
        return;
    }
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
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.push_str("\\u00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
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
        Scalar::Int(n) => out.push_str(n),
        Scalar::Str(s) => write_str(out, s),
    }
}

struct Parser<'p, 'o> {
    piece: &'p str,
    lines: &'o mut [Line],
    keys: &'o mut Vec<Range<usize>>,
    pos: usize,
    out: &'o mut String,
    /// The collections being read around the current position.
    depth: usize,
    /// Set while the value of the top-level `metadata` is read, until a collection starts.
    metadata_next: bool,
    header: Header,
}

fn is_sequence_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// Whether the key just written (the range of the output) is already among `keys`; else adds it.
fn is_duplicate(out: &str, keys: &mut Vec<Range<usize>>, from: usize, key: Range<usize>) -> bool {
    let out = out.as_bytes();
    let written = &out[key.clone()];
    if keys[from..]
        .iter()
        .any(|k| k.len() == written.len() && &out[k.clone()] == written)
    {
        return true;
    }
    keys.push(key);
    false
}

impl<'p> Parser<'p, '_> {
    fn text(&self, line: Line) -> &'p str {
        &self.piece[line.start..line.end]
    }

    fn next_indent(&self) -> Option<usize> {
        self.lines.get(self.pos).map(|l| l.indent)
    }

    /// Enters a collection; `None` when that is one too deep.
    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        self.metadata_next = false;
        (self.depth <= MAX_DEPTH).then_some(())
    }

    /// A block mapping or sequence whose first line is at `indent`.
    fn block(&mut self, indent: usize) -> Option<()> {
        let line = *self.lines.get(self.pos)?;
        if line.indent != indent {
            return None;
        }
        if is_sequence_entry(self.text(line)) {
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
    fn inline_value(&mut self, text: &'p str, indent: usize) -> Option<()> {
        inline(self.out, self.keys, text, self.depth)?;
        if self.next_indent().is_some_and(|next| next > indent) {
            return None;
        }
        Some(())
    }

    fn mapping(&mut self, indent: usize) -> Option<()> {
        let is_metadata = self.metadata_next;
        self.enter()?;
        let top = self.depth == 1;
        if is_metadata {
            self.header.metadata_fields = Some(MetadataFields::default());
        }
        let keys_from = self.keys.len();
        self.out.push('{');
        while let Some(line) = self.lines.get(self.pos).copied() {
            if line.indent < indent {
                break;
            }
            let text = self.text(line);
            if line.indent > indent || is_sequence_entry(text) {
                return None;
            }
            let (key, rest) = split_key(text)?;
            if self.keys.len() > keys_from {
                self.out.push(',');
            }
            let key_start = self.out.len() + 1;
            write_str(self.out, &key);
            let key_end = self.out.len() - 1;
            if is_duplicate(self.out, self.keys, keys_from, key_start..key_end) {
                return None;
            }
            self.out.push(':');
            self.pos += 1;
            let value_start = self.out.len();
            if rest.is_empty() || rest.starts_with('#') {
                self.metadata_next = top && key == "metadata";
                match self.lines.get(self.pos) {
                    // A sequence may sit at its key's indentation (`containers:` then `- name: ...`).
                    Some(&next) if next.indent == indent && is_sequence_entry(self.text(next)) => {
                        self.sequence(indent)?
                    }
                    _ => self.nested_or_null(indent)?,
                }
                self.metadata_next = false;
            } else {
                self.inline_value(rest, indent)?
            }
            let header = &mut self.header;
            let field = match (top, is_metadata, &*key) {
                (true, _, "apiVersion") => &mut header.api_version,
                (true, _, "kind") => &mut header.kind,
                (true, _, "metadata") => &mut header.metadata,
                (_, true, "name" | "generateName" | "namespace") => {
                    let Some(fields) = &mut header.metadata_fields else {
                        continue;
                    };
                    match &*key {
                        "name" => &mut fields.name,
                        "generateName" => &mut fields.generate_name,
                        _ => &mut fields.namespace,
                    }
                }
                _ => continue,
            };
            *field = Some(value_start..self.out.len());
        }
        self.keys.truncate(keys_from);
        self.out.push('}');
        self.depth -= 1;
        Some(())
    }

    fn sequence(&mut self, indent: usize) -> Option<()> {
        self.enter()?;
        self.out.push('[');
        let mut first = true;
        while let Some(line) = self.lines.get(self.pos).copied() {
            let text = self.text(line);
            if line.indent < indent || (line.indent == indent && !is_sequence_entry(text)) {
                break;
            }
            if line.indent > indent {
                return None;
            }
            if !first {
                self.out.push(',');
            }
            first = false;
            let rest = text[1..].trim_start_matches(' ');
            if rest.is_empty() || rest.starts_with('#') {
                self.pos += 1;
                self.nested_or_null(indent)?;
            } else if is_sequence_entry(rest) {
                return None;
            } else if split_key(rest).is_some() {
                // `- name: web`: a mapping whose keys line up with `name`.
                let skipped = text.len() - rest.len();
                self.lines[self.pos] = Line {
                    indent: indent + skipped,
                    start: line.start + skipped,
                    end: line.end,
                };
                self.mapping(indent + skipped)?;
            } else {
                self.pos += 1;
                self.inline_value(rest, indent)?;
            }
        }
        self.out.push(']');
        self.depth -= 1;
        Some(())
    }
}

/// Whether a byte is a YAML indicator that may not start a plain scalar here (`-` is checked separately).
fn is_indicator(b: u8) -> bool {
    matches!(
        b,
        b'?' | b':'
            | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'#'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    )
}

fn starts_with_indicator(text: &str) -> bool {
    text.as_bytes().first().is_some_and(|&b| is_indicator(b))
}

/// `key: rest` (or `key:`): the key, and what follows the `:` and its spaces.
/// The longest key, as written (quotes and escapes included), that the reader reads: libyaml takes a key only
/// when its `:` comes within 1,024 characters of its start (YAML's limit on implicit keys), and bytes are at least
/// as many as characters.
const MAX_KEY_BYTES: usize = 1000;

/// With the `raw_value` feature (which the workspace enables), serde_json reads an object whose first key is
/// this token as a `RawValue`: the path through serde_yaml_ng and `serde_json::Value` takes `{token: 1}` for `1`
/// and refuses `{token: null}`. The reader gives up on the key rather than read the document otherwise.
const RAW_VALUE_TOKEN: &str = "$serde_json::private::RawValue";

fn split_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    split_any_key(text).filter(|(key, _)| key != RAW_VALUE_TOKEN)
}

fn split_any_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    if text.starts_with(['"', '\'']) {
        let (key, after) = quoted(text)?;
        if text.len() - after.len() > MAX_KEY_BYTES {
            return None;
        }
        let rest = after.strip_prefix(':')?;
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        return Some((key, rest.trim_start_matches(' ')));
    }
    if starts_with_indicator(text) || text.starts_with('-') || text.starts_with("<<") {
        return None;
    }
    // The first `:` followed by a space or the end; the key before it may not hold a flow indicator, `#`,
    // `&`, `*`, `!`, `|`, `>` or a quote.
    let bytes = text.as_bytes();
    let mut colon = 0;
    loop {
        while colon < bytes.len() && BYTES[usize::from(bytes[colon])] & KEY_STOP == 0 {
            colon += 1;
        }
        match bytes.get(colon) {
            Some(b':') if matches!(bytes.get(colon + 1), None | Some(b' ')) => break,
            Some(b':') => colon += 1,
            _ => return None,
        }
    }
    let key = text[..colon].trim_end_matches(' ');
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return None;
    }
    match plain(key)? {
        Scalar::Str(key) => Some((key, text[colon + 1..].trim_start_matches(' '))),
        _ => None,
    }
}

/// A value written on one line in block context: quoted, flow, or plain, with an optional comment.
fn inline(out: &mut String, keys: &mut Vec<Range<usize>>, text: &str, depth: usize) -> Option<()> {
    let after = match text.as_bytes().first()? {
        b'"' | b'\'' => {
            let (s, after) = quoted(text)?;
            write_str(out, &s);
            after
        }
        b'{' | b'[' => flow(out, keys, text, depth)?,
        _ => {
            if starts_with_indicator(text) || text.starts_with("- ") || text == "-" {
                return None;
            }
            // The scalar ends before a comment (`#` after a space); a `: ` or a final `:` in it would make it a
            // mapping.
            let bytes = text.as_bytes();
            let mut end = bytes.len();
            for i in 1..bytes.len() {
                match bytes[i] {
                    b'#' if bytes[i - 1] == b' ' => {
                        end = i - 1;
                        break;
                    }
                    b':' if matches!(bytes.get(i + 1), None | Some(b' ')) => return None,
                    _ => {}
                }
            }
            write_scalar(out, &plain(text[..end].trim_end_matches(' '))?);
            return Some(());
        }
    };
    comment_or_nothing(after).then_some(())
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
        // In range of `i64` (negative) or `u64`, the text is how JSON writes the number, but for `-0`.
        let fits = if s.starts_with('-') {
            s.parse::<i64>().is_ok()
        } else {
            s.parse::<u64>().is_ok()
        };
        return fits.then_some(Scalar::Int(if s == "-0" { "0" } else { s }));
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
fn flow<'t>(
    out: &mut String,
    keys: &mut Vec<Range<usize>>,
    text: &'t str,
    depth: usize,
) -> Option<&'t str> {
    let depth = depth + 1;
    if depth > MAX_DEPTH {
        return None;
    }
    let mapping = text.starts_with('{');
    let close = if mapping { '}' } else { ']' };
    out.push(if mapping { '{' } else { '[' });
    let mut rest = text[1..].trim_start_matches(' ');
    let keys_from = keys.len();
    let mut first = true;
    loop {
        if let Some(after) = rest.strip_prefix(close) {
            out.push(close);
            keys.truncate(keys_from);
            return Some(after);
        }
        if !first {
            out.push(',');
        }
        first = false;
        if mapping {
            let (key, after) = flow_key(rest)?;
            let key_start = out.len() + 1;
            write_str(out, &key);
            if is_duplicate(out, keys, keys_from, key_start..out.len() - 1) {
                return None;
            }
            out.push(':');
            rest = flow_value(out, keys, after.trim_start_matches(' '), depth)?;
        } else {
            rest = flow_value(out, keys, rest, depth)?;
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
    any_flow_key(text).filter(|(key, _)| key != RAW_VALUE_TOKEN)
}

fn any_flow_key(text: &str) -> Option<(Cow<'_, str>, &str)> {
    if text.starts_with(['"', '\'']) {
        let (key, after) = quoted(text)?;
        if text.len() - after.len() > MAX_KEY_BYTES {
            return None;
        }
        return Some((key, after.trim_start_matches(' ').strip_prefix(':')?));
    }
    let colon = text.find(':')?;
    let key = text[..colon].trim_end_matches(' ');
    if !text[colon + 1..].starts_with(' ')
        || key.is_empty()
        || key.len() > MAX_KEY_BYTES
        || starts_with_indicator(key)
        || key.starts_with('-')
        || key
            .bytes()
            .any(|b| matches!(b, b'{' | b'}' | b'[' | b']' | b',' | b'#' | b'"' | b'\''))
    {
        return None;
    }
    match plain(key)? {
        Scalar::Str(key) => Some((key, &text[colon + 1..])),
        _ => None,
    }
}

/// A value inside a flow collection; returns the text after it.
fn flow_value<'t>(
    out: &mut String,
    keys: &mut Vec<Range<usize>>,
    text: &'t str,
    depth: usize,
) -> Option<&'t str> {
    match text.as_bytes().first()? {
        b'{' | b'[' => flow(out, keys, text, depth),
        b'"' | b'\'' => {
            let (s, after) = quoted(text)?;
            write_str(out, &s);
            Some(after)
        }
        _ => {
            if starts_with_indicator(text) || text.starts_with("- ") {
                return None;
            }
            let end = text
                .bytes()
                .position(|b| matches!(b, b',' | b']' | b'}'))
                .unwrap_or(text.len());
            let scalar = text[..end].trim_end_matches(' ');
            if scalar.is_empty()
                || scalar
                    .bytes()
                    .any(|b| matches!(b, b':' | b'#' | b'[' | b'{' | b'"' | b'\''))
            {
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

    /// The value at `range` of the reader's output.
    fn at(json: &str, range: Option<&Range<usize>>) -> Option<Value> {
        range.map(|r| serde_json::from_str(&json[r.clone()]).unwrap())
    }

    #[test]
    fn the_header_points_at_the_top_level_naming_fields() {
        let pieces = [
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  namespace: b\n  generateName: c-\n",
            "kind: Pod # c\nmetadata:\n  labels: {name: x, namespace: y}\n  annotations:\n    name: x\n",
            "'apiVersion': \"v\\\"1\"\n\"metadata\":\n  \"name\": 7\n  namespace:\n    - a\nspec:\n  kind: x\n",
            "spec:\n  metadata:\n    name: x\n  apiVersion: y\nitems:\n  - kind: Pod\n    metadata:\n      name: z\n",
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: a\n",
            "metadata: {name: a}\nkind: Pod\n",
            "metadata:\n- name: a\n",
            "metadata:\nkind: [Pod]\n",
            "metadata: null\napiVersion: 3\n",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name:\n  namespace: ~\n",
            "a: b\n",
        ];
        for piece in pieces {
            let mut json = String::new();
            let header = Reader::default().read(piece, &mut json).unwrap().unwrap();
            let value: Value = serde_json::from_str(&json).unwrap();
            for (range, field) in [
                (&header.api_version, "apiVersion"),
                (&header.kind, "kind"),
                (&header.metadata, "metadata"),
            ] {
                assert_eq!(
                    at(&json, range.as_ref()),
                    value.get(field).cloned(),
                    "{piece}"
                );
            }
            let block = header
                .metadata
                .as_ref()
                .is_some_and(|m| json[m.clone()].starts_with('{'))
                && (piece.contains("metadata:\n") || piece.contains("metadata\":\n"));
            assert_eq!(header.metadata_fields.is_some(), block, "{piece}");
            if let Some(fields) = &header.metadata_fields {
                for (range, field) in [
                    (&fields.name, "name"),
                    (&fields.generate_name, "generateName"),
                    (&fields.namespace, "namespace"),
                ] {
                    let expected = value["metadata"].get(field).cloned();
                    assert_eq!(at(&json, range.as_ref()), expected, "{piece}");
                }
            }
        }
        for piece in ["- a\n", "- kind: Pod\n", "# nothing\n"] {
            let header = Reader::default().read(piece, &mut String::new()).unwrap();
            assert_eq!(header, None, "{piece}");
        }
    }

    #[test]
    fn deep_nesting_is_left_to_serde_yaml_ng() {
        let flow = |depth: usize| format!("a: {}{}\n", "[".repeat(depth), "]".repeat(depth));
        let block = |depth: usize| {
            (0..depth)
                .map(|level| format!("{}k:\n", " ".repeat(level)))
                .collect::<String>()
        };
        for piece in [flow(MAX_DEPTH - 1), block(MAX_DEPTH)] {
            assert!(parse(&piece).is_some(), "{piece}");
            assert!(agrees(&piece));
        }
        // serde_yaml_ng refuses the deepest ones; the reader must not recurse without end either.
        for piece in [flow(MAX_DEPTH), block(MAX_DEPTH + 1), flow(100_000)] {
            assert_eq!(parse(&piece), None);
        }
    }

    #[test]
    fn a_reader_reused_after_giving_up_reads_the_next_document_afresh() {
        let mut reader = Reader::default();
        let mut out = String::new();
        for piece in [
            "a:\n  b: [1, {c: d, c: e}]\n",
            "a: {b: 1\n",
            "a:\n  - b: 1\n    b: 2\n",
        ] {
            assert_eq!(reader.read(piece, &mut out), None, "{piece}");
        }
        let piece = "a: {b: 1}\nc:\n  - b: 2\n    d: [b, b]\n";
        reader.read(piece, &mut out).unwrap();
        assert_eq!(serde_json::from_str::<Value>(&out).ok(), slow(piece));
    }

    #[test]
    fn line_stop_finds_the_first_newline_tab_carriage_return_or_other_control() {
        let text = "0123456789abcdef0123456789abcdef";
        let stops = (0u8..0x20).chain([0x7f]).map(char::from);
        for stop in stops {
            for at in 0..text.len() {
                let mut line = text.to_owned();
                line.replace_range(at..=at, &stop.to_string());
                // A later stop, and bytes that a word-wise comparison could mistake for one (the high bit set).
                line.push_str("\n\u{8a}\u{0b}");
                for from in 0..=at {
                    assert_eq!(line_stop(line.as_bytes(), from), at, "{line:?} from {from}");
                }
                assert_eq!(line_stop(line.as_bytes(), at + 1), text.len(), "{line:?}");
            }
        }
        assert_eq!(line_stop(b"abc", 0), 3);
        assert_eq!(line_stop(b"", 0), 0);
        assert_eq!(line_stop(b"\x8a\x8d\x89\xa0 abcdefgh\x0b", 0), 13);
    }

    /// Found by the `fast_yaml` fuzz target: a NUL in a comment, which serde_yaml_ng refuses ("control characters
    /// are not allowed") and the reader read. Every character outside YAML's printable set, and the line breaks
    /// beyond ASCII, make it give up.
    #[test]
    fn characters_yaml_does_not_allow_make_the_reader_give_up() {
        let controls = (0u8..0x20)
            .filter(|b| !matches!(b, b'\n'))
            .map(char::from)
            .chain([
                '\u{7f}', '\u{80}', '\u{85}', '\u{9f}', '\u{2028}', '\u{2029}', '\u{feff}',
                '\u{fffe}', '\u{ffff}',
            ]);
        for c in controls {
            for piece in [
                format!("# a comment {c}\na: 1\n"),
                format!("a: 1\n{c}b: 2\n"),
                format!("a: b{c}c\n"),
                format!("a: \"b{c}\"\n"),
            ] {
                assert_eq!(parse(&piece), None, "{piece:?}");
                assert!(agrees(&piece));
            }
        }
        // Printable characters beyond ASCII are read.
        assert!(parse("a: b\u{a0}c é\n").is_some());
    }

    /// Found by the `fast_yaml` fuzz target: serde_json's `Value` reads an object whose first key is its RawValue
    /// token as the value it holds, or refuses it, so the slow path does not read such a document as written.
    #[test]
    fn serde_jsons_raw_value_token_as_a_key_makes_the_reader_give_up() {
        for piece in [
            "$serde_json::private::RawValue:\n",
            "a:\n  \"$serde_json::private::RawValue\": 1\n",
            "a: {$serde_json::private::RawValue: 1}\n",
        ] {
            assert_eq!(parse(piece), None, "{piece:?}");
        }
        assert!(parse("$serde_json::private::Other: 1\n").is_some());
    }

    /// Found by the `fast_yaml` fuzz target: a double-quoted key of some 1,500 characters, which libyaml does not
    /// take as a key (implicit keys end within 1,024 characters) and the reader read.
    #[test]
    fn keys_longer_than_libyaml_takes_make_the_reader_give_up() {
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        for piece in [
            format!("\"{long}\": v\n"),
            format!("'{long}': v\n"),
            format!("{long}: v\n"),
            format!("a: {{\"{long}\": v}}\n"),
            format!("a: {{{long}: v}}\n"),
        ] {
            assert_eq!(parse(&piece), None, "{piece:.40}");
            assert!(agrees(&piece));
        }
        let short = "k".repeat(MAX_KEY_BYTES - 2);
        assert!(parse(&format!("\"{short}\": v\n")).is_some());
        assert!(agrees("a: b\u{a0}c é ✓\n"));
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
