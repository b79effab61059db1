//! Lexical tokens, recognised with nom: whitespace, names, keywords and literals.
//!
//! Every function here looks at the start of its input and either recognises one token or
//! reports that it is absent; none of them allocates except to unescape a string, and none
//! backtracks over more than the token it tries.
//! Positions are left to the caller, which knows where its slice starts in the whole input.

use nom::{
    IResult, Parser,
    branch::alt,
    bytes::complete::{tag, tag_no_case, take_till, take_while, take_while_m_n},
    character::complete::{char, digit0, digit1, one_of, satisfy, space0, space1},
    combinator::{all_consuming, opt, recognize},
    sequence::preceded,
};

use crate::ast::CompareOp;

type Res<'a, T> = IResult<&'a str, T>;

/// The characters of an `ATTRNAME` after its first letter (RFC 7643 section 2.1).
pub(crate) fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// The characters a schema URN prefix is made of: URN characters (RFC 8141) less those the
/// filter grammar uses as delimiters (`(`, `)`, `,`, `[`, `]`, whitespace, quotes).
fn is_schema_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:%!$&'*+;=@/".contains(c)
}

/// What ends an unquoted value: whatever the grammar gives a meaning of its own.
fn is_value_delimiter(c: char) -> bool {
    matches!(c, ' ' | '\t' | '(' | ')' | '[' | ']' | '"' | ',')
}

/// Skips optional spaces and tabs.
pub(crate) fn ws0(i: &str) -> &str {
    let r: Res<'_, &str> = space0(i);
    r.map_or(i, |(rest, _)| rest)
}

/// Skips one or more spaces and tabs, or returns `None` when there is none.
pub(crate) fn ws1(i: &str) -> Option<&str> {
    let r: Res<'_, &str> = space1(i);
    r.ok().map(|(rest, _)| rest)
}

/// An attribute name: `["$"] ALPHA *(ALPHA / DIGIT / "-" / "_")`; the `$` admits `$ref`.
pub(crate) fn name(i: &str) -> Option<(&str, &str)> {
    let r: Res<'_, &str> =
        recognize((opt(char('$')), satisfy(|c: char| c.is_ascii_alphabetic()), take_while(is_name_char))).parse(i);
    r.ok()
}

/// A keyword (`and`, `or`, `not`), in any case, that is not the start of a longer name.
pub(crate) fn keyword<'a>(i: &'a str, kw: &'static str) -> Option<&'a str> {
    let r: Res<'a, &str> = tag_no_case(kw).parse(i);
    let (rest, _) = r.ok()?;
    if rest.starts_with(is_name_char) { None } else { Some(rest) }
}

/// A maximal run of name characters, possibly empty; operators are read as such a word.
pub(crate) fn word(i: &str) -> (&str, &str) {
    let r: Res<'_, &str> = take_while(is_name_char).parse(i);
    r.unwrap_or((i, ""))
}

/// An operator after an attribute path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    /// One of the comparison operators that take a value.
    Compare(CompareOp),
    /// `pr`.
    Present,
}

/// Reads `word` as an operator, ignoring ASCII case.
pub(crate) fn operator(word: &str) -> Option<Operator> {
    const OPERATORS: [(&str, Operator); 10] = [
        ("eq", Operator::Compare(CompareOp::Eq)),
        ("ne", Operator::Compare(CompareOp::Ne)),
        ("co", Operator::Compare(CompareOp::Co)),
        ("sw", Operator::Compare(CompareOp::Sw)),
        ("ew", Operator::Compare(CompareOp::Ew)),
        ("gt", Operator::Compare(CompareOp::Gt)),
        ("ge", Operator::Compare(CompareOp::Ge)),
        ("lt", Operator::Compare(CompareOp::Lt)),
        ("le", Operator::Compare(CompareOp::Le)),
        ("pr", Operator::Present),
    ];
    OPERATORS.iter().find(|(text, _)| text.eq_ignore_ascii_case(word)).map(|&(_, op)| op)
}

/// Whether `i` starts with a schema URN (`urn:`, in any case).
pub(crate) fn starts_with_urn(i: &str) -> bool {
    let r: Res<'_, &str> = tag_no_case("urn:").parse(i);
    r.is_ok()
}

/// The run of URN characters that holds a schema prefix, the attribute name and maybe a
/// sub-attribute; the caller splits it at its last `:`.
pub(crate) fn schema_run(i: &str) -> (&str, &str) {
    let r: Res<'_, &str> = take_while(is_schema_char).parse(i);
    r.unwrap_or((i, ""))
}

/// An unquoted value candidate: everything up to the next delimiter, possibly empty.
pub(crate) fn bare_value(i: &str) -> (&str, &str) {
    let r: Res<'_, &str> = take_till(is_value_delimiter).parse(i);
    r.unwrap_or((i, ""))
}

/// Whether `s` is exactly a JSON number (RFC 8259 section 6).
pub(crate) fn is_json_number(s: &str) -> bool {
    let int = alt((tag("0"), recognize((satisfy(|c: char| matches!(c, '1'..='9')), digit0))));
    let frac = opt((char('.'), digit1));
    let exp = opt((one_of("eE"), opt(one_of("+-")), digit1));
    let r: Res<'_, &str> = all_consuming(recognize((opt(char('-')), int, frac, exp))).parse(s);
    r.is_ok()
}

/// What went wrong in a string literal: the byte offset from the opening quote, and what was
/// expected there.
pub(crate) type StringError = (usize, &'static str);

/// A JSON string literal (RFC 8259 section 7), `i` starting at its opening quote.
///
/// Returns the rest of the input after the closing quote and the unescaped text.
pub(crate) fn json_string(i: &str) -> Result<(&str, String), StringError> {
    let Some(mut rest) = i.strip_prefix('"') else {
        return Err((0, "string literal"));
    };
    let mut out = String::new();
    loop {
        let r: Res<'_, &str> = take_till(|c: char| c == '"' || c == '\\' || c < ' ').parse(rest);
        let (after, chunk) = r.unwrap_or((rest, ""));
        out.push_str(chunk);
        rest = after;
        let offset = i.len() - rest.len();
        match rest.chars().next() {
            None => return Err((offset, "closing '\"'")),
            Some('"') => return Ok((&rest[1..], out)),
            Some('\\') => {
                let (after, c) = escape(rest).map_err(|expected| (offset, expected))?;
                out.push(c);
                rest = after;
            }
            Some(_) => return Err((offset, "escape sequence for control character")),
        }
    }
}

/// One escape sequence, `i` starting at its backslash.
fn escape(i: &str) -> Result<(&str, char), &'static str> {
    let body = &i[1..];
    let c = match body.chars().next() {
        Some('"') => '"',
        Some('\\') => '\\',
        Some('/') => '/',
        Some('b') => '\u{8}',
        Some('f') => '\u{c}',
        Some('n') => '\n',
        Some('r') => '\r',
        Some('t') => '\t',
        Some('u') => return unicode_escape(i),
        _ => return Err("escape sequence"),
    };
    Ok((&body[1..], c))
}

/// `\uXXXX`, `i` starting at its backslash.
fn hex_escape(i: &str) -> Option<(&str, u16)> {
    let r: Res<'_, &str> = preceded(tag("\\u"), take_while_m_n(4, 4, |c: char| c.is_ascii_hexdigit())).parse(i);
    let (rest, hex) = r.ok()?;
    let unit = u16::from_str_radix(hex, 16).ok()?;
    Some((rest, unit))
}

/// A `\uXXXX` escape, or a surrogate pair of them, `i` starting at the first backslash.
fn unicode_escape(i: &str) -> Result<(&str, char), &'static str> {
    let (rest, unit) = hex_escape(i).ok_or("four hex digits after '\\u'")?;
    let (rest, scalar) = match unit {
        0xD800..=0xDBFF => {
            let (rest, low) = hex_escape(rest)
                .filter(|(_, low)| (0xDC00..=0xDFFF).contains(low))
                .ok_or("low surrogate escape after high surrogate")?;
            let high = u32::from(unit - 0xD800);
            let low = u32::from(low - 0xDC00);
            (rest, 0x10000 + ((high << 10) | low))
        }
        0xDC00..=0xDFFF => return Err("high surrogate escape before low surrogate"),
        _ => (rest, u32::from(unit)),
    };
    // Every value built above is a scalar value; the check only keeps this free of panics.
    char::from_u32(scalar).map(|c| (rest, c)).ok_or("escape of a Unicode scalar value")
}

/// Writes `s` as a JSON string literal: quotes, backslashes and control characters escaped,
/// everything else as is.
pub(crate) fn write_json_string(s: &str, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    use std::fmt::Write;
    f.write_char('"')?;
    let mut plain = 0;
    for (at, c) in s.char_indices() {
        let escaped = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            c if c < ' ' => "",
            _ => continue,
        };
        f.write_str(&s[plain..at])?;
        if escaped.is_empty() {
            write!(f, "\\u{:04x}", u32::from(c))?;
        } else {
            f.write_str(escaped)?;
        }
        plain = at + c.len_utf8();
    }
    f.write_str(&s[plain..])?;
    f.write_char('"')
}
