//! A strict JSON reader over borrowed text, for the admission request.
//!
//! The decision reads a handful of fields of a request of several kilobytes. Reading it with serde through
//! `RawValue`s meant four scans of the text (the payload, the request, the object's metadata, its pod spec);
//! this reader reads the payload once, skipping what the decision does not need, and knows where every value it
//! passes is, which lets a default be spliced into the object's text (see [`crate::output::mutation::apply_to_text`]).
//!
//! Strict: RFC 8259 values only (no trailing commas, comments, control characters in strings, invalid escapes,
//! leading zeros or lone surrogates in strings that are read). Skipping nests without recursion, so a deeply
//! nested value the decision does not read costs time, not stack.

use std::borrow::Cow;

/// What a reading error says; the caller adds where.
pub(crate) type Error = String;

/// The kinds of JSON values, for type errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl Kind {
    fn described(self) -> &'static str {
        match self {
            Kind::Object => "an object",
            Kind::Array => "an array",
            Kind::String => "a string",
            Kind::Number => "a number",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
        }
    }
}

/// The deepest object a response can carry: serde_json, which hosts read responses with, reads 127 levels of
/// nesting, and the response is one of them.
pub const MAX_OBJECT_DEPTH: usize = 126;

/// The error for a value of the wrong kind.
pub(crate) fn invalid_type(found: Kind, expected: &str) -> Error {
    format!("invalid type: {}, expected {expected}", found.described())
}

/// A position in borrowed JSON text.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// Objects and arrays opened and not closed.
    depth: usize,
    /// The deepest nesting reached since [`Reader::mark`].
    deepest: usize,
    /// Whether a value serde_json may not read (see [`Reader::marks`]) has been passed since [`Reader::mark`].
    suspect: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        Reader {
            text,
            pos: 0,
            depth: 0,
            deepest: 0,
            suspect: false,
        }
    }

    /// Starts measuring what a host reading the next value back would meet: see [`Reader::marks`].
    pub(crate) fn mark(&mut self) {
        self.deepest = self.depth;
        self.suspect = false;
    }

    /// Since [`Reader::mark`] at nesting `base`: the deepest nesting below `base`, and whether a value passed may
    /// be one serde_json cannot read (a number with an exponent or of over 300 characters, which may be beyond a
    /// double, or a string with a surrogate escape, which may be a lone one).
    pub(crate) fn marks(&self, base: usize) -> (usize, bool) {
        (self.deepest.saturating_sub(base), self.suspect)
    }

    pub(crate) fn depth(&self) -> usize {
        self.depth
    }

    fn open(&mut self) {
        self.depth += 1;
        self.deepest = self.deepest.max(self.depth);
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// The text from `start` to the current position.
    pub(crate) fn since(&self, start: usize) -> &'a str {
        self.text.get(start..self.pos).unwrap_or_default()
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn ws(&mut self) {
        self.pos = skip_ws(self.bytes(), self.pos);
    }

    fn byte(&self) -> Option<u8> {
        self.bytes().get(self.pos).copied()
    }

    /// Skips whitespace; the position is then where the next token starts.
    pub(crate) fn start(&mut self) -> usize {
        self.ws();
        self.pos
    }

    /// The kind of the next value (after whitespace), without reading it.
    pub(crate) fn kind(&mut self) -> Result<Kind, Error> {
        self.ws();
        Ok(match self.byte() {
            Some(b'{') => Kind::Object,
            Some(b'[') => Kind::Array,
            Some(b'"') => Kind::String,
            Some(b'-' | b'0'..=b'9') => Kind::Number,
            Some(b't' | b'f') => Kind::Bool,
            Some(b'n') => Kind::Null,
            Some(_) => return Err(self.unexpected("a value")),
            None => return Err(eof()),
        })
    }

    fn unexpected(&self, expected: &str) -> Error {
        match self
            .text
            .get(self.pos..)
            .and_then(|rest| rest.chars().next())
        {
            Some(c) => format!("expected {expected}, found `{}`", c.escape_debug()),
            None => eof(),
        }
    }

    #[inline(always)]
    fn eat(&mut self, byte: u8, expected: &str) -> Result<(), Error> {
        self.ws();
        if self.byte() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected(expected))
        }
    }

    /// Reads `null` if it is next.
    pub(crate) fn null(&mut self) -> Result<bool, Error> {
        // The usual case first, without the dispatch of `kind`: a value that cannot be `null`.
        self.ws();
        if matches!(self.byte(), Some(b) if b != b'n' && VALUE_START[usize::from(b)]) {
            return Ok(false);
        }
        if self.kind()? == Kind::Null {
            self.literal(b"null")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    /// Reads the `{` of an object, or fails with a type error naming `expected`.
    pub(crate) fn begin_object(&mut self, expected: &str) -> Result<(), Error> {
        self.ws();
        if self.byte() == Some(b'{') {
            self.pos += 1;
            self.open();
            return Ok(());
        }
        match self.kind()? {
            Kind::Object => {
                self.pos += 1;
                self.open();
                Ok(())
            }
            other => Err(invalid_type(other, expected)),
        }
    }

    /// Reads the `[` of an array, or fails with a type error naming `expected`.
    pub(crate) fn begin_array(&mut self, expected: &str) -> Result<(), Error> {
        self.ws();
        if self.byte() == Some(b'[') {
            self.pos += 1;
            self.open();
            return Ok(());
        }
        match self.kind()? {
            Kind::Array => {
                self.pos += 1;
                self.open();
                Ok(())
            }
            other => Err(invalid_type(other, expected)),
        }
    }

    /// The next key of an object (and its `:`), `None` after its `}`. `first` is true before the first key and
    /// is cleared.
    pub(crate) fn next_key(&mut self, first: &mut bool) -> Result<Option<Cow<'a, str>>, Error> {
        self.ws();
        let b = self.byte();
        // Tests apart for the first member and the others: in one `match`, `"` and `,` became a jump table, and
        // its indirect jump was a fifth of this function in jitdump profiles.
        if b == Some(b'}') {
            self.pos += 1;
            self.depth = self.depth.saturating_sub(1);
            return Ok(None);
        }
        if *first {
            if b != Some(b'"') {
                return Err(self.unexpected("a key or `}`"));
            }
        } else if b == Some(b',') {
            self.pos += 1;
            self.ws();
        } else {
            return Err(self.unexpected("`,` or `}`"));
        }
        *first = false;
        if self.byte() != Some(b'"') {
            return Err(self.unexpected("a key"));
        }
        let key = self.string_content()?;
        self.eat(b':', "`:`")?;
        Ok(Some(key))
    }

    /// Whether the array has another element (reading the `,` before it), `false` after its `]`.
    pub(crate) fn next_element(&mut self, first: &mut bool) -> Result<bool, Error> {
        self.ws();
        match self.byte() {
            Some(b']') => {
                self.pos += 1;
                self.depth = self.depth.saturating_sub(1);
                Ok(false)
            }
            Some(b',') if !*first => {
                self.pos += 1;
                Ok(true)
            }
            _ if *first => {
                *first = false;
                Ok(true)
            }
            _ => Err(self.unexpected("`,` or `]`")),
        }
    }

    /// Reads a string, or fails with a type error naming `expected`.
    pub(crate) fn string(&mut self, expected: &str) -> Result<Cow<'a, str>, Error> {
        self.ws();
        if self.byte() == Some(b'"') {
            return self.string_content();
        }
        match self.kind()? {
            Kind::String => self.string_content(),
            other => Err(invalid_type(other, expected)),
        }
    }

    /// Reads a string or `null` (`None`), or fails with a type error naming `expected`.
    pub(crate) fn optional_string(
        &mut self,
        expected: &str,
    ) -> Result<Option<Cow<'a, str>>, Error> {
        self.ws();
        if self.byte() == Some(b'"') {
            return self.string_content().map(Some);
        }
        match self.kind()? {
            Kind::String => self.string_content().map(Some),
            Kind::Null => self.literal(b"null").map(|()| None),
            other => Err(invalid_type(other, expected)),
        }
    }

    /// Reads a boolean, or fails with a type error naming `expected`.
    pub(crate) fn bool(&mut self, expected: &str) -> Result<bool, Error> {
        match self.kind()? {
            Kind::Bool if self.byte() == Some(b't') => self.literal(b"true").map(|()| true),
            Kind::Bool => self.literal(b"false").map(|()| false),
            other => Err(invalid_type(other, expected)),
        }
    }

    /// Reads an integer in the range of `i64`, or fails naming `expected` (a fraction or an exponent is no
    /// integer).
    pub(crate) fn integer(&mut self, expected: &str) -> Result<i64, Error> {
        match self.kind()? {
            Kind::Number => {
                let start = self.pos;
                self.pos = skip_number(self.bytes(), start).map_err(|(_, e)| e.to_owned())?;
                let text = self.since(start);
                if text.contains(['.', 'e', 'E']) {
                    return Err(format!(
                        "invalid type: the number {text}, expected {expected}"
                    ));
                }
                text.parse().map_err(|_| {
                    format!("invalid value: {text} is out of range, expected {expected}")
                })
            }
            other => Err(invalid_type(other, expected)),
        }
    }

    /// Reads `null` (`None`) or an integer in the range of `i32` (a PriorityClass `value`, a pod's `priority`).
    pub(crate) fn optional_i32(&mut self) -> Result<Option<i32>, Error> {
        if self.null()? {
            return Ok(None);
        }
        let value = self.integer("an integer")?;
        i32::try_from(value)
            .map(Some)
            .map_err(|_| format!("invalid value: {value} is out of the range of a 32-bit integer"))
    }

    /// Reads the string at the position (its opening quote), borrowed unless it has escapes.
    ///
    /// Inline, where keys and strings are read: a call costs the caller its registers in Cranelift's code. A
    /// string with an escape or an error is read on, out of line.
    #[inline(always)]
    fn string_content(&mut self) -> Result<Cow<'a, str>, Error> {
        self.pos += 1;
        let start = self.pos;
        let end = self.plain_run();
        if self.byte() == Some(b'"') {
            self.pos += 1;
            return Ok(Cow::Borrowed(self.text.get(start..end).unwrap_or_default()));
        }
        self.string_content_after(start, end)
    }

    /// [`Reader::string_content`] from the first byte that needs attention (at `end`; the string started at
    /// `start`).
    #[inline(never)]
    fn string_content_after(&mut self, start: usize, end: usize) -> Result<Cow<'a, str>, Error> {
        let mut owned = String::from(self.text.get(start..end).unwrap_or_default());
        loop {
            match self.byte() {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Cow::Owned(owned));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    owned.push(self.escape()?);
                }
                Some(_) => return Err("control character in a string".to_owned()),
                None => return Err(eof()),
            }
            let run = self.pos;
            let end = self.plain_run();
            owned.push_str(self.text.get(run..end).unwrap_or_default());
        }
    }

    /// Advances over characters that need no attention in a string and returns where they end.
    #[inline(always)]
    fn plain_run(&mut self) -> usize {
        self.pos = plain_run(self.bytes(), self.pos);
        self.pos
    }

    /// Reads an escape after its backslash.
    fn escape(&mut self) -> Result<char, Error> {
        let c = self.byte().ok_or_else(eof)?;
        self.pos += 1;
        Ok(match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                match unit {
                    0xD800..=0xDBFF => {
                        if self.bytes().get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err("lone leading surrogate in a \\u escape".to_owned());
                        }
                        self.pos += 2;
                        let low = self.hex4()?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err("lone leading surrogate in a \\u escape".to_owned());
                        }
                        let code = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
                        char::from_u32(code).ok_or_else(|| "invalid \\u escape".to_owned())?
                    }
                    0xDC00..=0xDFFF => {
                        return Err("lone trailing surrogate in a \\u escape".to_owned());
                    }
                    _ => char::from_u32(unit).ok_or_else(|| "invalid \\u escape".to_owned())?,
                }
            }
            _ => return Err("invalid escape in a string".to_owned()),
        })
    }

    fn hex4(&mut self) -> Result<u32, Error> {
        let digits = self.bytes().get(self.pos..self.pos + 4).ok_or_else(eof)?;
        let mut value = 0;
        for &d in digits {
            let digit = char::from(d)
                .to_digit(16)
                .ok_or_else(|| "invalid \\u escape".to_owned())?;
            value = value * 16 + digit;
        }
        self.pos += 4;
        Ok(value)
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Error> {
        if self.bytes().get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(self.unexpected("a value"))
        }
    }

    /// Skips the next value, checking it, and returns its text.
    ///
    /// The hot loop of reading a request (most of an object is skipped): free functions on a local position,
    /// the string scan inlined, nesting without recursion.
    pub(crate) fn skip(&mut self) -> Result<&'a str, Error> {
        let start = self.skip_from_start()?;
        Ok(self.since(start))
    }

    /// [`Reader::skip`] without the text, which costs a call to slice it (most values skipped are not kept).
    pub(crate) fn skip_over(&mut self) -> Result<(), Error> {
        self.skip_from_start().map(|_| ())
    }

    /// Skips the next value, checking it, and returns where it starts.
    #[inline(never)]
    fn skip_from_start(&mut self) -> Result<usize, Error> {
        let bytes = self.bytes();
        let start = skip_ws(bytes, self.pos);
        let skipped = skip_from(bytes, start);
        self.deepest = self.deepest.max(self.depth + skipped.deepest);
        self.suspect |= skipped.suspect;
        match skipped.end {
            Ok(end) => {
                self.pos = end;
                Ok(start)
            }
            Err((at, message)) => {
                self.pos = at;
                Err(match message.strip_prefix("expected ") {
                    Some(expected) => self.unexpected(expected),
                    None => message.to_owned(),
                })
            }
        }
    }

    /// Skips the next value without checking it again when its text is `known`, the text of an object that an
    /// earlier reader checked: the same bytes are the same valid object, which ends at its closing brace. Returns
    /// its text when it did; the reader has not moved when it did not.
    pub(crate) fn skip_known(&mut self, known: &str) -> Option<&'a str> {
        let start = skip_ws(self.bytes(), self.pos);
        let same = known.starts_with('{')
            && self
                .bytes()
                .get(start..start + known.len())
                .is_some_and(|text| same_bytes(text, known.as_bytes()));
        if !same {
            return None;
        }
        self.pos = start + known.len();
        Some(self.since(start))
    }

    /// Checks that only whitespace is left.
    pub(crate) fn end(&mut self) -> Result<(), Error> {
        self.ws();
        match self.byte() {
            None => Ok(()),
            Some(_) => Err("trailing characters after the value".to_owned()),
        }
    }
}

/// Whether two texts are the same, compared eight bytes at a time (the byte-by-byte `memcmp` of policy.wasm
/// was 5% of a hot request, which compares the settings it was sent with those of the last request).
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let words = |chunk: &[u8]| chunk.first_chunk::<8>().map(|w| u64::from_le_bytes(*w));
    (&mut x).zip(&mut y).all(|(p, q)| words(p) == words(q)) && x.remainder() == y.remainder()
}

/// Where a skip failed, and why; a reason that starts with `expected` gets what was found added.
type SkipError = (usize, &'static str);

/// Skips whitespace. The usual case, compact JSON, is one range test: LLVM folds an equality test for each
/// whitespace byte into the `match` that follows, and its jump table cost an indirect jump per token.
#[inline(always)]
fn skip_ws(bytes: &[u8], pos: usize) -> usize {
    match bytes.get(pos) {
        Some(&b) if b > b' ' => pos,
        _ => skip_ws_bytes(bytes, pos),
    }
}

fn skip_ws_bytes(bytes: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\n' | b'\r' | b'\t') = bytes.get(pos) {
        pos += 1;
    }
    pos
}

/// What [`skip_from`] found.
struct Skipped {
    /// Where the value ends, or where and why it is not valid.
    end: Result<usize, SkipError>,
    /// The deepest nesting reached.
    deepest: usize,
    /// Whether a number with an exponent, or of over 300 characters, or a surrogate escape was skipped.
    suspect: bool,
}

/// Skips the value at `pos` (after whitespace) and says where it ends.
///
/// The nesting and the flags are local variables, not fields behind a reference: policy.wasm kept those in
/// linear memory, with stores at every object and array opened and closed.
fn skip_from(bytes: &[u8], mut pos: usize) -> Skipped {
    let mut open = Nesting::default();
    let mut deeper = Vec::new();
    let mut suspect = false;
    // `?` for the labelled block: an error ends the skip with the nesting reached so far.
    macro_rules! or_end {
        ($label:lifetime, $result:expr) => {
            match $result {
                Ok(value) => value,
                Err(e) => break $label Err(e),
            }
        };
    }
    let end = 'skip: loop {
        pos = skip_ws(bytes, pos);
        // A string, the most common value, is told apart before the `match`, by a test LLVM cannot fold into
        // the `match`'s jump table: an indirect jump per value mispredicts as the values' kinds alternate.
        if bytes
            .get(pos)
            .is_some_and(|&b| STRING_START[usize::from(b)])
        {
            pos = or_end!('skip, skip_string_at(bytes, pos + 1, &mut suspect));
        } else {
            // Any value but a string (strings are told apart above).
            match bytes.get(pos) {
                Some(b'{') => {
                    pos = skip_ws(bytes, pos + 1);
                    if bytes.get(pos) == Some(&b'}') {
                        pos += 1;
                        open.deepest = open.deepest.max(open.depth + 1);
                    } else {
                        open.push(true, &mut deeper);
                        pos = or_end!('skip, skip_key(bytes, pos, &mut suspect));
                        continue 'skip;
                    }
                }
                Some(b'[') => {
                    pos = skip_ws(bytes, pos + 1);
                    if bytes.get(pos) == Some(&b']') {
                        pos += 1;
                        open.deepest = open.deepest.max(open.depth + 1);
                    } else {
                        open.push(false, &mut deeper);
                        continue 'skip;
                    }
                }
                Some(b'-' | b'0'..=b'9') => {
                    let start = pos;
                    let exponent;
                    (pos, exponent) = or_end!('skip, skip_number_seeing_exponent(bytes, pos));
                    if exponent || pos - start > 300 {
                        suspect = true;
                    }
                }
                Some(b't') => pos = or_end!('skip, skip_literal(bytes, pos, b"true")),
                Some(b'f') => pos = or_end!('skip, skip_literal(bytes, pos, b"false")),
                Some(b'n') => pos = or_end!('skip, skip_literal(bytes, pos, b"null")),
                Some(_) => break Err((pos, "expected a value")),
                None => break Err((pos, EOF)),
            }
        }
        // After a value: close what it ends, or go on to the next member or element. Two tests, no jump table:
        // a comma, or the closer of what is open (a byte that depends on the nesting).
        loop {
            let Some(in_object) = open.top() else {
                break 'skip Ok(pos);
            };
            pos = skip_ws(bytes, pos);
            let b = bytes.get(pos).copied();
            if b == Some(b',') {
                pos = skip_ws(bytes, pos + 1);
                if in_object {
                    pos = or_end!('skip, skip_key(bytes, pos, &mut suspect));
                }
                continue 'skip;
            }
            let closer = if in_object { b'}' } else { b']' };
            if b == Some(closer) {
                pos += 1;
                open.pop(&mut deeper);
                continue;
            }
            break 'skip Err(match b {
                None => (pos, EOF),
                Some(_) if in_object => (pos, "expected `,` or `}`"),
                Some(_) => (pos, "expected `,` or `]`"),
            });
        }
    };
    Skipped {
        end,
        deepest: open.deepest,
        suspect,
    }
}

/// Which bytes start a string (`"`), as a table.
static STRING_START: [bool; 256] = {
    let mut table = [false; 256];
    table[b'"' as usize] = true;
    table
};

/// Which bytes start a value: `"`, `{`, `[`, `-`, digits, and the first letters of `true`, `false` and `null`.
static VALUE_START: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = matches!(
            b as u8,
            b'"' | b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
        );
        b += 1;
    }
    table
};

/// Skips a key and its `:` at `pos`. A key is a string like any other: `surrogate` is set as
/// [`skip_string_at`] sets it, since a mutated object echoes its keys to the host as much as its values.
#[inline(always)]
fn skip_key(bytes: &[u8], pos: usize, surrogate: &mut bool) -> Result<usize, SkipError> {
    if bytes.get(pos) != Some(&b'"') {
        return Err((pos, "expected a key"));
    }
    let pos = skip_ws(bytes, skip_string_at(bytes, pos + 1, surrogate)?);
    match bytes.get(pos) {
        Some(b':') => Ok(pos + 1),
        Some(_) => Err((pos, "expected `:`")),
        None => Err((pos, EOF)),
    }
}

/// Skips a string's content and closing quote from `pos` (after its opening quote), checking its escapes.
/// `surrogate` is set when a `\u` escape is a UTF-16 surrogate: JSON's grammar allows a lone one, which
/// serde_json refuses when it reads the string.
#[inline(always)]
fn skip_string_at(bytes: &[u8], mut pos: usize, surrogate: &mut bool) -> Result<usize, SkipError> {
    loop {
        pos = plain_run(bytes, pos);
        match bytes.get(pos) {
            Some(b'"') => return Ok(pos + 1),
            Some(b'\\') => match bytes.get(pos + 1) {
                Some(b'u') => {
                    let hex = bytes.get(pos + 2..pos + 6).ok_or((pos, EOF))?;
                    if !hex.iter().all(u8::is_ascii_hexdigit) {
                        return Err((pos, INVALID_UNICODE));
                    }
                    if matches!(
                        hex,
                        [b'd' | b'D', b'8'..=b'9' | b'a'..=b'f' | b'A'..=b'F', ..]
                    ) {
                        *surrogate = true;
                    }
                    pos += 6;
                }
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => pos += 2,
                Some(_) => return Err((pos, INVALID_ESCAPE)),
                None => return Err((pos, EOF)),
            },
            Some(_) => return Err((pos, CONTROL)),
            None => return Err((pos, EOF)),
        }
    }
}

/// Advances over characters that need no attention in a string (not `"`, `\`, or a control character).
#[inline(always)]
fn plain_run(bytes: &[u8], pos: usize) -> usize {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    let pos = match plain_run_simd128(bytes, pos) {
        Ok(found) => return found,
        Err(last_sixteen) => last_sixteen,
    };
    plain_run_words(bytes, pos)
}

/// [`plain_run`] sixteen bytes at a time with Wasm SIMD: `Ok` with the first byte that needs attention, or `Err`
/// with where fewer than sixteen bytes are left (policy.wasm is built with `simd128`: see `.cargo/config.toml`).
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
#[inline(always)]
fn plain_run_simd128(bytes: &[u8], mut pos: usize) -> Result<usize, usize> {
    use core::arch::wasm32::{u8x16, u8x16_bitmask, u8x16_eq, u8x16_lt, u8x16_splat, v128_or};
    while let Some(b) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<16>) {
        // Sixteen lanes from consecutive bytes: one `v128.load`.
        let v = u8x16(
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
            b[14], b[15],
        );
        let flagged = v128_or(
            v128_or(
                u8x16_eq(v, u8x16_splat(b'"')),
                u8x16_eq(v, u8x16_splat(b'\\')),
            ),
            u8x16_lt(v, u8x16_splat(0x20)),
        );
        let mask = u8x16_bitmask(flagged);
        if mask != 0 {
            return Ok(pos + mask.trailing_zeros() as usize);
        }
        pos += 16;
    }
    Err(pos)
}

/// [`plain_run`] eight bytes at a time in a `u64`, then byte by byte.
#[inline(always)]
fn plain_run_words(bytes: &[u8], mut pos: usize) -> usize {
    // Eight bytes at a time: a byte is flagged when it is `"`, `\` or below 0x20.
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    // `first_chunk` borrows the eight bytes as an array, which compiles to one load; copying them out of the
    // slice called a copy function for every word in the size-optimised policy.wasm.
    while let Some(word) = bytes.get(pos..).and_then(<[u8]>::first_chunk::<8>) {
        let x = u64::from_le_bytes(*word);
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let flagged = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x);
        let flagged = flagged & HIGHS;
        if flagged != 0 {
            // The lowest flagged byte is exact (a borrow only flags bytes after a true match): it is the first
            // byte that needs attention, with no byte-by-byte search.
            return pos + (flagged.trailing_zeros() / 8) as usize;
        }
        pos += 8;
    }
    while let Some(&b) = bytes.get(pos) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            break;
        }
        pos += 1;
    }
    pos
}

fn skip_digits(bytes: &[u8], mut pos: usize) -> (usize, bool) {
    let start = pos;
    while let Some(b'0'..=b'9') = bytes.get(pos) {
        pos += 1;
    }
    (pos, pos > start)
}

fn skip_number(bytes: &[u8], pos: usize) -> Result<usize, SkipError> {
    skip_number_seeing_exponent(bytes, pos).map(|(end, _)| end)
}

/// [`skip_number`], saying whether the number has an exponent.
#[inline(always)]
fn skip_number_seeing_exponent(bytes: &[u8], mut pos: usize) -> Result<(usize, bool), SkipError> {
    let invalid = |pos| (pos, INVALID_NUMBER);
    if bytes.get(pos) == Some(&b'-') {
        pos += 1;
    }
    match bytes.get(pos) {
        Some(b'0') => pos += 1,
        Some(b'1'..=b'9') => pos = skip_digits(bytes, pos).0,
        _ => return Err(invalid(pos)),
    }
    if bytes.get(pos) == Some(&b'.') {
        let (end, any) = skip_digits(bytes, pos + 1);
        if !any {
            return Err(invalid(end));
        }
        pos = end;
    }
    if let Some(b'e' | b'E') = bytes.get(pos) {
        pos += 1;
        if let Some(b'+' | b'-') = bytes.get(pos) {
            pos += 1;
        }
        let (end, any) = skip_digits(bytes, pos);
        if !any {
            return Err(invalid(end));
        }
        return Ok((end, true));
    }
    Ok((pos, false))
}

fn skip_literal(bytes: &[u8], pos: usize, word: &[u8]) -> Result<usize, SkipError> {
    if bytes.get(pos..pos + word.len()) == Some(word) {
        Ok(pos + word.len())
    } else {
        Err((pos, "expected a value"))
    }
}

const EOF: &str = "unexpected end of the input";
const CONTROL: &str = "control character in a string";
const INVALID_ESCAPE: &str = "invalid escape in a string";
const INVALID_UNICODE: &str = "invalid \\u escape";
const INVALID_NUMBER: &str = "invalid number";

/// Moves the reader to the value at `pointer` (members by name, array elements by index).
pub(crate) fn locate(r: &mut Reader<'_>, pointer: &str) -> Result<(), &'static str> {
    const MISSING: &str = "its parent is not an object";
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        match r.kind().map_err(|_| MISSING)? {
            Kind::Object => {
                r.begin_object("an object").map_err(|_| MISSING)?;
                let mut first = true;
                loop {
                    match r.next_key(&mut first).map_err(|_| MISSING)? {
                        Some(key) if key == token => break,
                        Some(_) => {
                            r.skip().map_err(|_| MISSING)?;
                        }
                        None => return Err(MISSING),
                    }
                }
            }
            Kind::Array => {
                let index: usize = token.parse().map_err(|_| MISSING)?;
                r.begin_array("an array").map_err(|_| MISSING)?;
                let mut first = true;
                for _ in 0..index {
                    if !r.next_element(&mut first).map_err(|_| MISSING)? {
                        return Err(MISSING);
                    }
                    r.skip().map_err(|_| MISSING)?;
                }
                if !r.next_element(&mut first).map_err(|_| MISSING)? {
                    return Err(MISSING);
                }
            }
            _ => return Err(MISSING),
        }
    }
    Ok(())
}

/// Checks that JSON text can be read back by hosts that parse responses with serde_json (policy-server, kwctl):
/// at most `max_depth` levels of nesting, and no number beyond the range of a double (as serde_json reads it).
/// The text is JSON already.
pub(crate) fn readable_by_hosts(text: &str, max_depth: usize) -> Result<(), &'static str> {
    let bytes = text.as_bytes();
    let mut pos = 0;
    let mut depth = 0usize;
    while let Some(&b) = bytes.get(pos) {
        match b {
            b'"' => {
                let mut surrogate = false;
                let end = skip_string_at(bytes, pos + 1, &mut surrogate).map_err(|(_, e)| e)?;
                if surrogate {
                    // Read it, which refuses a lone surrogate as serde_json does.
                    let mut r = Reader::new(text.get(pos..end).unwrap_or_default());
                    r.string("a string").map_err(
                        |_| "lone surrogate: the object holds a \\u escape of half a character",
                    )?;
                }
                pos = end;
                continue;
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > max_depth {
                    return Err(
                        "recursion limit exceeded: the object nests deeper than a response may hold",
                    );
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let end = skip_number(bytes, pos).map_err(|(_, e)| e)?;
                let number = text.get(pos..end).unwrap_or_default();
                if (number.contains(['e', 'E']) || number.len() > 300) && beyond_a_double(number) {
                    return Err("number out of range: the object holds a number beyond a double");
                }
                pos = end;
                continue;
            }
            _ => {}
        }
        pos += 1;
    }
    Ok(())
}

/// Numbers this close to the largest double count as beyond it (see [`beyond_a_double`]).
const NEAR_MAX: f64 = f64::MAX * (1.0 - 1e-12);

/// Whether serde_json, which hosts read responses with, may refuse this JSON number as out of range.
///
/// It refuses what it reads as infinite, and it reads less exactly than the standard library near the largest
/// double: `1.7976931348623158e308` is the largest double, but too large for serde_json. Its error there is a few
/// units in the last place, so every number within a millionth of a millionth of the largest double counts as
/// beyond it too: a default may be refused that a host could have read, never the other way round. (serde_json's
/// own reader is not used: it brought 21 KB into policy.wasm.)
fn beyond_a_double(number: &str) -> bool {
    number
        .parse::<f64>()
        .map_or(true, |v| v.is_nan() || v.abs() >= NEAR_MAX)
}

fn eof() -> Error {
    EOF.to_owned()
}

/// The objects and arrays a skip is inside: a bit per level, `true` for an object, the last 64 levels here and
/// those before in a list of their own (`deeper`), kept apart so that these fields stay in registers (with the
/// list among them, policy.wasm kept them all in linear memory).
#[derive(Default)]
struct Nesting {
    depth: usize,
    bits: u64,
    /// The deepest nesting reached.
    deepest: usize,
}

impl Nesting {
    #[inline(always)]
    fn push(&mut self, object: bool, deeper: &mut Vec<u64>) {
        if self.depth > 0 && self.depth.is_multiple_of(64) {
            set_aside(deeper, self.bits);
            self.bits = 0;
        }
        self.bits = (self.bits << 1) | u64::from(object);
        self.depth += 1;
        self.deepest = self.deepest.max(self.depth);
    }

    #[inline(always)]
    fn pop(&mut self, deeper: &mut Vec<u64>) {
        self.depth -= 1;
        self.bits >>= 1;
        if self.depth > 0 && self.depth.is_multiple_of(64) {
            self.bits = take_back(deeper);
        }
    }

    #[inline(always)]
    fn top(&self) -> Option<bool> {
        (self.depth > 0).then_some(self.bits & 1 == 1)
    }
}

#[cold]
#[inline(never)]
fn set_aside(deeper: &mut Vec<u64>, bits: u64) {
    deeper.push(bits);
}

#[cold]
#[inline(never)]
fn take_back(deeper: &mut Vec<u64>) -> u64 {
    deeper.pop().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn skipped(text: &str) -> Result<&str, Error> {
        let mut reader = Reader::new(text);
        let value = reader.skip()?;
        reader.end()?;
        Ok(value)
    }

    #[test]
    fn skips_what_serde_json_accepts() {
        for text in [
            r#"{"a": [1, -2.5e+3, 0, true, false, null, "x\"y\\\u00e9\ud83d\ude00"], "b": {}, "c": []}"#,
            "[[[[]]], {}, [{}], {\"k\": {\"k\": [1]}}]",
            "\"a long string with no escapes at all, longer than eight bytes\"",
            " 0 ",
            "-0.0e-0",
            "\"é ü 日本\"",
        ] {
            serde_json::from_str::<serde_json::Value>(text).expect(text);
            assert_eq!(skipped(text), Ok(text.trim()), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:1}",
            "01",
            "1.",
            "1e",
            "-",
            "tru",
            "nul",
            "\"a\u{1}b\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "[1}",
            "{\"a\":1]",
            "\"unterminated",
            "[1 2]",
            "1 2",
        ] {
            assert!(
                serde_json::from_str::<serde_json::Value>(text).is_err(),
                "serde_json refuses {text:?}"
            );
            assert!(skipped(text).is_err(), "{text:?}");
        }
    }

    /// Every fixture request, and many single-byte mutations of each, is accepted by the reader exactly when
    /// serde_json accepts it.
    #[test]
    fn accepts_what_serde_json_accepts_on_mutated_requests() {
        let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../fixtures"));
        let mut texts = Vec::new();
        for scenario in std::fs::read_dir(root).expect("fixtures") {
            let requests = scenario.expect("entry").path().join("requests");
            for file in std::fs::read_dir(requests).into_iter().flatten() {
                let text = std::fs::read_to_string(file.expect("entry").path()).expect("text");
                texts.push(text);
            }
        }
        assert!(texts.len() > 50, "{} requests", texts.len());
        let replacements = b"{}[],:\"\\ 0-1eE.+tfnulx\t\n";
        let mut seed: u64 = 0x5eed_2026;
        let mut next = move || {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) as usize
        };
        let (mut cases, mut accepted) = (0, 0);
        for text in &texts {
            for _ in 0..200 {
                let mut bytes = text.clone().into_bytes();
                for _ in 0..1 + next() % 2 {
                    let at = next() % bytes.len();
                    bytes[at] = replacements[next() % replacements.len()];
                }
                let Ok(mutated) = String::from_utf8(bytes) else {
                    continue;
                };
                let theirs = serde_json::from_str::<serde::de::IgnoredAny>(&mutated).is_ok();
                let ours = skipped(&mutated).is_ok();
                assert_eq!(ours, theirs, "{mutated}");
                cases += 1;
                accepted += usize::from(ours);
            }
        }
        assert!(
            cases > 10_000 && accepted > 100,
            "{cases} cases, {accepted} accepted"
        );
    }

    #[test]
    fn skipped_escapes_are_checked_as_serde_json_checks_them() {
        for text in [
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\ud83d\ude00""#,
            r#""\u00""#,
            r#""\uZZZZ""#,
            r#""\'""#,
        ] {
            let theirs = serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok();
            assert_eq!(skipped(text).is_ok(), theirs, "{text}");
        }
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        let depth = 100_000;
        let text = format!("{}1{}", "[{\"a\":".repeat(depth), "}]".repeat(depth));
        assert_eq!(skipped(&text).map(str::len), Ok(text.len()));
        let unbalanced = format!("{}{}", "[".repeat(depth), "]".repeat(depth - 1));
        assert!(skipped(&unbalanced).is_err());
        let crossed = format!("{}}}", "[".repeat(70));
        assert!(skipped(&crossed).is_err());
    }

    #[test]
    fn what_hosts_cannot_read_back_is_found() {
        assert_eq!(
            readable_by_hosts(r#"{"a":[1,-2.5e3,"[[[\"","1e400"]}"#, 2),
            Ok(())
        );
        assert!(readable_by_hosts("[[[1]]]", 2).is_err());
        assert_eq!(readable_by_hosts("[[[1]]]", 3), Ok(()));
        assert!(readable_by_hosts(r#"{"a":1e400}"#, 2).is_err());
        assert!(readable_by_hosts(r#"{"a":-1E+400}"#, 2).is_err());
        assert_eq!(readable_by_hosts(r#"{"a":1e-400}"#, 2), Ok(()));
        let huge = format!("[{}]", "9".repeat(400));
        assert!(readable_by_hosts(&huge, 2).is_err());
    }

    #[test]
    fn numbers_out_of_range_are_those_serde_json_refuses() {
        // policy.wasm decides with the standard library's parse what hosts read with serde_json (whose own
        // reader is not in the module): the same numbers must overflow. Around the largest double, with 17 to
        // 400 significant digits, exponents far out, and in both signs.
        let mut numbers = vec![
            "1e400".to_owned(),
            "1e308".to_owned(),
            "1e309".to_owned(),
            "1e-400".to_owned(),
            "0e99999999999999999999".to_owned(),
            "1e99999999999999999999".to_owned(),
            "1e-99999999999999999999".to_owned(),
            format!("{}e-100", "1".repeat(400)),
            format!("0.{}e309", "9".repeat(300)),
        ];
        for mantissa in [
            "1.7976931348623157",
            "1.79769313486231570",
            "1.7976931348623158",
            "1.797693134862315807",
            "1.7976931348623159",
            "1.797693134862316",
            "1.8",
            "17976931348623157",
            "0.17976931348623159",
        ] {
            for exponent in [
                "e308", "E+308", "e307", "e309", "e292", "e291", "e-324", "e-325",
            ] {
                numbers.push(format!("{mantissa}{exponent}"));
            }
        }
        let max = "179769313486231570814527423731704356798070567525844996598917476803157260780028538760589558632766878171540458953514382464234321326889464182768467546703537516986049910576551282076245490090389328944075868508455133942304583236903222948165808559332123348274797826204144723168738177180919299881250404026184124858368";
        for digits in [max.len() - 1, max.len(), max.len() + 1] {
            for last in ["0", "4", "5", "9"] {
                let body: String = max
                    .chars()
                    .chain(std::iter::repeat('0'))
                    .take(digits)
                    .collect();
                numbers.push(format!("{}{last}", &body[..body.len() - 1]));
                numbers.push(format!("{body}.{last}"));
            }
        }
        let (mut overflowing, mut near) = (0, 0);
        for number in numbers {
            for text in [number.clone(), format!("-{number}")] {
                let theirs = serde_json::from_str::<f64>(&text).is_err();
                let ours = readable_by_hosts(&format!("[{text}]"), 2).is_err();
                assert!(
                    ours || !theirs,
                    "{text}: serde_json refuses it, the check lets it through"
                );
                let exact = text.parse::<f64>().expect("a JSON number parses");
                if exact.abs() < NEAR_MAX || exact.is_infinite() {
                    assert_eq!(
                        ours, theirs,
                        "{text}: away from the largest double both agree"
                    );
                } else {
                    near += 1;
                    assert!(ours, "{text}: near the largest double, refused");
                }
                overflowing += usize::from(theirs);
            }
        }
        assert!(
            overflowing > 20,
            "{overflowing} overflowing numbers checked"
        );
        assert!(near > 10, "{near} numbers near the largest double checked");
    }

    #[test]
    fn strings_are_read_borrowed_or_unescaped() {
        let mut reader = Reader::new(r#""plain-but-longer-than-eight""#);
        assert!(matches!(
            reader.string("s"),
            Ok(Cow::Borrowed("plain-but-longer-than-eight"))
        ));
        let mut reader = Reader::new(r#""a\u002db\n\ud83d\ude00\"""#);
        assert_eq!(reader.string("s").as_deref(), Ok("a-b\n\u{1f600}\""));
        for lone in [r#""\ud83d""#, r#""\ude00""#, r#""\ud83dx""#] {
            assert!(Reader::new(lone).string("s").is_err(), "{lone}");
        }
    }

    #[test]
    fn type_errors_name_what_was_found_and_expected() {
        let mut reader = Reader::new("7");
        assert_eq!(
            reader.string("a class name"),
            Err("invalid type: a number, expected a class name".to_owned())
        );
        let mut reader = Reader::new("[]");
        assert_eq!(
            reader.begin_object("an object"),
            Err("invalid type: an array, expected an object".to_owned())
        );
    }

    #[test]
    fn plain_runs_stop_at_the_first_byte_that_needs_attention() {
        // Every byte that stops a run (and some that do not: 0x20, 0x7f, UTF-8 bytes) at every place in a
        // 20-byte text after every start, with a second stopping byte after it: the word-at-a-time scan must
        // agree with a byte-by-byte one, also when a borrow flags bytes after the first stop.
        let stops = (0..0x20).chain([b'"', b'\\']);
        let fillers = [b'a', b' ', 0x7f, 0xc3, 0xa9, b'!', b'#', b'[', b']'];
        for stop in stops.chain(fillers) {
            for filler in fillers {
                for at in 0..20 {
                    let mut text = vec![filler; 20];
                    text[at] = stop;
                    if at + 1 < text.len() {
                        text[at + 1] = 0;
                    }
                    for start in 0..=text.len() {
                        let expected = (start..text.len())
                            .find(|&i| matches!(text[i], b'"' | b'\\' | 0..0x20))
                            .unwrap_or(text.len());
                        assert_eq!(plain_run(&text, start), expected, "{text:?} from {start}");
                    }
                }
            }
        }
    }

    #[test]
    fn known_objects_are_skipped_only_when_the_text_is_the_same() {
        let known = r#"{"rules": [{"name": "a"}], "x": "0123456789"}"#;
        let text = format!(r#"[ {known}, {known} ]"#);
        let mut r = Reader::new(&text);
        r.begin_array("a list").expect("list");
        let mut first = true;
        assert!(r.next_element(&mut first).expect("element"));
        assert_eq!(r.skip_known(known), Some(known));
        assert!(r.next_element(&mut first).expect("element"));
        let before = r.pos();
        assert_eq!(
            r.skip_known(&known.replace('9', "8")),
            None,
            "differs in the last word"
        );
        assert_eq!(
            r.skip_known(&format!("{known}]")),
            None,
            "not followed by the same"
        );
        assert_eq!(
            r.skip_known("[1]"),
            None,
            "only objects end where their text ends"
        );
        assert_eq!(r.pos(), before, "not moved");
        assert_eq!(r.skip(), Ok(known));
        for (a, b) in [
            ("", ""),
            ("abcdefghi", "abcdefghi"),
            ("abcdefgh", "abcdefgh"),
        ] {
            assert!(same_bytes(a.as_bytes(), b.as_bytes()));
        }
        for (a, b) in [
            ("abcdefghi", "abcdefghj"),
            ("abcdefgh", "abcdefgx"),
            ("ab", "abc"),
        ] {
            assert!(!same_bytes(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
    }

    #[test]
    fn objects_are_read_key_by_key() {
        let mut reader = Reader::new(r#" { "a" : 1 , "b\u0063" : [2] } "#);
        reader.begin_object("o").expect("object");
        let mut first = true;
        let mut key =
            |reader: &mut Reader<'_>| reader.next_key(&mut first).map(|k| k.map(Cow::into_owned));
        assert_eq!(key(&mut reader), Ok(Some("a".to_owned())));
        assert_eq!(reader.skip(), Ok("1"));
        assert_eq!(key(&mut reader), Ok(Some("bc".to_owned())));
        assert_eq!(reader.skip(), Ok("[2]"));
        assert_eq!(key(&mut reader), Ok(None));
        assert_eq!(reader.end(), Ok(()));
    }
}
