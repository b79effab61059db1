//! The structure of filters and paths: a recursive descent over the tokens of [`crate::token`].
//!
//! Each rule takes the rest of the input and returns what it read with the new rest.
//! The only backtracking is a bounded look-ahead (whitespace and one keyword), and nesting is
//! counted, so parsing is linear in the input and the recursion is at most a few frames per
//! level of [`MAX_DEPTH`].

use crate::ast::{AttrPath, CompValue, Filter, PatchPath};
use crate::error::{Error, ErrorKind, Grammar};
use crate::token::{self, Operator};
use crate::{MAX_DEPTH, MAX_INPUT_LEN};

/// What a rule returns: the rest of the input and the value read, or why it failed.
type PResult<'a, T> = Result<(&'a str, T), Error>;

/// What may start a filter expression.
const EXPRESSION: &str = "attribute path, 'not' or '('";
/// What may start a filter expression inside brackets.
const VALUE_EXPRESSION: &str = "sub-attribute name, 'not' or '('";

/// Where a filter expression sits, which decides what its attribute paths may look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// At the top or in parentheses: full attribute paths and value paths.
    Resource,
    /// Inside `[...]`: plain sub-attribute names, no nested brackets.
    Value,
}

/// One parse of one input.
#[derive(Debug)]
struct Parser<'a> {
    input: &'a str,
    grammar: Grammar,
}

/// Parses a whole filter.
pub(crate) fn filter(input: &str) -> Result<Filter, Error> {
    let p = Parser::new(input, Grammar::Filter)?;
    let rest = token::ws0(input);
    let (rest, filter) = p.or_expr(rest, 0, Scope::Resource)?;
    p.end(rest, "logical operator or end of input")?;
    Ok(filter)
}

/// Parses a whole PATCH path.
pub(crate) fn patch_path(input: &str) -> Result<PatchPath, Error> {
    let p = Parser::new(input, Grammar::Path)?;
    let rest = token::ws0(input);
    let (rest, attr) = p.attr_path(rest, "attribute path")?;
    if !rest.starts_with('[') {
        let expected = match attr.sub_attr {
            None => "'[' or end of input",
            Some(_) => "end of input",
        };
        p.end(rest, expected)?;
        return Ok(PatchPath { attr, filter: None });
    }
    if attr.sub_attr.is_some() {
        return Err(p.error(rest, "end of input (a value filter follows an attribute, not a sub-attribute)"));
    }
    let depth = p.enter(rest, 0)?;
    let (rest, filter) = p.bracketed(rest, depth)?;
    let (rest, sub_attr, expected) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let (rest, sub) = p.name(after_dot, "sub-attribute name")?;
            (rest, Some(sub.to_owned()), "end of input")
        }
        None => (rest, None, "'.' or end of input"),
    };
    p.end(rest, expected)?;
    Ok(PatchPath { attr: AttrPath { sub_attr, ..attr }, filter: Some(filter) })
}

/// Parses a whole attribute path.
pub(crate) fn attr_path(input: &str) -> Result<AttrPath, Error> {
    let p = Parser::new(input, Grammar::Path)?;
    let rest = token::ws0(input);
    let (rest, path) = p.attr_path(rest, "attribute path")?;
    p.end(rest, "end of input")?;
    Ok(path)
}

/// Parses a whole comma-separated list of attribute paths.
pub(crate) fn attr_list(input: &str) -> Result<Vec<AttrPath>, Error> {
    let p = Parser::new(input, Grammar::Path)?;
    let mut rest = token::ws0(input);
    let mut paths = Vec::new();
    loop {
        let (after, path) = p.attr_path(rest, "attribute path")?;
        paths.push(path);
        rest = token::ws0(after);
        match rest.strip_prefix(',') {
            Some(after_comma) => rest = token::ws0(after_comma),
            None => break,
        }
    }
    p.end(rest, "',' or end of input")?;
    Ok(paths)
}

impl<'a> Parser<'a> {
    /// Starts a parse, refusing input over [`MAX_INPUT_LEN`] before reading any of it.
    fn new(input: &'a str, grammar: Grammar) -> Result<Self, Error> {
        if input.len() > MAX_INPUT_LEN {
            return Err(Error::new(ErrorKind::TooLong, grammar, MAX_INPUT_LEN, "at most 8192 bytes"));
        }
        Ok(Parser { input, grammar })
    }

    /// The byte offset of `rest` in the input; `rest` is always a suffix of it.
    fn position(&self, rest: &str) -> usize {
        self.input.len() - rest.len()
    }

    /// A syntax error at the start of `rest`.
    fn error(&self, rest: &str, expected: &'static str) -> Error {
        let kind = match self.grammar {
            Grammar::Filter => ErrorKind::InvalidFilter,
            Grammar::Path => ErrorKind::InvalidPath,
        };
        Error::new(kind, self.grammar, self.position(rest), expected)
    }

    /// Goes one level deeper at the start of `rest`, or fails past [`MAX_DEPTH`].
    fn enter(&self, rest: &str, depth: usize) -> Result<usize, Error> {
        if depth >= MAX_DEPTH {
            return Err(Error::new(
                ErrorKind::TooDeep,
                self.grammar,
                self.position(rest),
                "at most 64 levels of nesting",
            ));
        }
        Ok(depth + 1)
    }

    /// Succeeds when only whitespace is left.
    fn end(&self, rest: &str, expected: &'static str) -> Result<(), Error> {
        let rest = token::ws0(rest);
        if rest.is_empty() { Ok(()) } else { Err(self.error(rest, expected)) }
    }

    /// Mandatory whitespace before a token; at the end of the input or of a group the token
    /// itself is what is missing, so the error names it rather than the whitespace.
    fn ws1(&self, rest: &'a str, next: &'static str) -> Result<&'a str, Error> {
        token::ws1(rest).ok_or_else(|| {
            let token_missing = rest.is_empty() || rest.starts_with([')', ']']);
            let expected = if token_missing { next } else { "whitespace" };
            self.error(rest, expected)
        })
    }

    /// `or_expr = and_expr *(SP "or" SP and_expr)`, left-associative.
    fn or_expr(&self, rest: &'a str, depth: usize, scope: Scope) -> PResult<'a, Filter> {
        let (mut rest, mut left) = self.and_expr(rest, depth, scope)?;
        while let Some(after) = logical(rest, "or") {
            let after = self.ws1(after, expression(scope))?;
            let (after, right) = self.and_expr(after, depth, scope)?;
            left = Filter::Or(Box::new(left), Box::new(right));
            rest = after;
        }
        Ok((rest, left))
    }

    /// `and_expr = unary *(SP "and" SP unary)`, left-associative.
    fn and_expr(&self, rest: &'a str, depth: usize, scope: Scope) -> PResult<'a, Filter> {
        let (mut rest, mut left) = self.unary(rest, depth, scope)?;
        while let Some(after) = logical(rest, "and") {
            let after = self.ws1(after, expression(scope))?;
            let (after, right) = self.unary(after, depth, scope)?;
            left = Filter::And(Box::new(left), Box::new(right));
            rest = after;
        }
        Ok((rest, left))
    }

    /// `unary = "not" *SP group / group / attr_expr`.
    fn unary(&self, rest: &'a str, depth: usize, scope: Scope) -> PResult<'a, Filter> {
        if let Some(after_not) = token::keyword(rest, "not") {
            let spaced = token::ws0(after_not);
            if spaced.starts_with('(') {
                let depth = self.enter(rest, depth)?;
                let (rest, inner) = self.group(spaced, depth, scope)?;
                return Ok((rest, Filter::Not(Box::new(inner))));
            }
            // `not` is also a legal attribute name (`not pr`, `not eq "x"`); anything else
            // after it is a `not` missing its parentheses.
            let spaced_out = spaced.len() < after_not.len();
            let operator_next = token::operator(token::word(spaced).1).is_some();
            if spaced.is_empty() || (spaced_out && !operator_next) {
                return Err(self.error(spaced, "'(' after 'not'"));
            }
        }
        if rest.starts_with('(') {
            let depth = self.enter(rest, depth)?;
            return self.group(rest, depth, scope);
        }
        self.attr_expr(rest, depth, scope)
    }

    /// `group = "(" *SP or_expr *SP ")"`, `rest` starting at the parenthesis.
    fn group(&self, rest: &'a str, depth: usize, scope: Scope) -> PResult<'a, Filter> {
        let rest = token::ws0(&rest[1..]);
        let (rest, inner) = self.or_expr(rest, depth, scope)?;
        let rest = token::ws0(rest);
        match rest.strip_prefix(')') {
            Some(rest) => Ok((rest, inner)),
            None => Err(self.error(rest, "logical operator or closing ')'")),
        }
    }

    /// `bracketed = "[" *SP or_expr *SP "]"`, `rest` starting at the bracket.
    fn bracketed(&self, rest: &'a str, depth: usize) -> PResult<'a, Filter> {
        let rest = token::ws0(&rest[1..]);
        let (rest, inner) = self.or_expr(rest, depth, Scope::Value)?;
        let rest = token::ws0(rest);
        match rest.strip_prefix(']') {
            Some(rest) => Ok((rest, inner)),
            None => Err(self.error(rest, "logical operator or closing ']'")),
        }
    }

    /// An expression that starts with an attribute: a comparison, a presence test or a value
    /// path, including the Entra form `attr[filter].sub op value`.
    fn attr_expr(&self, rest: &'a str, depth: usize, scope: Scope) -> PResult<'a, Filter> {
        if scope == Scope::Value {
            let (rest, name) = self.name(rest, VALUE_EXPRESSION)?;
            if rest.starts_with(['.', ':']) {
                return Err(self.error(rest, "whitespace (paths inside brackets are plain sub-attribute names)"));
            }
            if rest.starts_with('[') {
                return Err(self.error(rest, "whitespace (value filters do not nest)"));
            }
            return self.comparison(rest, AttrPath::new(name));
        }
        let (rest, path) = self.attr_path(rest, EXPRESSION)?;
        if !rest.starts_with('[') {
            return self.comparison(rest, path);
        }
        if path.sub_attr.is_some() {
            return Err(self.error(rest, "whitespace (a value filter follows an attribute, not a sub-attribute)"));
        }
        let depth = self.enter(rest, depth)?;
        let (rest, inner) = self.bracketed(rest, depth)?;
        let Some(after_dot) = rest.strip_prefix('.') else {
            return Ok((rest, Filter::ValuePath { attr: path, filter: Box::new(inner) }));
        };
        // Entra sends `emails[type eq "work"].value eq "x"`, which RFC 7644 does not define;
        // it means `emails[type eq "work" and value eq "x"]`, and is read as that. Printing
        // may wrap the bracketed filter in parentheses, so this counts as one level more.
        self.enter(rest, depth)?;
        let (after_sub, sub) = self.name(after_dot, "sub-attribute name")?;
        let (rest, test) = self.comparison(after_sub, AttrPath::new(sub))?;
        Ok((rest, Filter::ValuePath { attr: path, filter: Box::new(Filter::And(Box::new(inner), Box::new(test))) }))
    }

    /// What follows an attribute path: `SP "pr"` or `SP compareOp SP compValue`.
    fn comparison(&self, rest: &'a str, path: AttrPath) -> PResult<'a, Filter> {
        let rest = self.ws1(rest, "comparison operator")?;
        let (after_op, word) = token::word(rest);
        match token::operator(word) {
            Some(Operator::Present) => Ok((after_op, Filter::Present(path))),
            Some(Operator::Compare(op)) => {
                let rest = self.ws1(after_op, "comparison value")?;
                let (rest, value) = self.comp_value(rest)?;
                Ok((rest, Filter::Compare { path, op, value }))
            }
            None => Err(self.error(rest, "comparison operator")),
        }
    }

    /// `compValue = false / null / true / number / string`.
    fn comp_value(&self, rest: &'a str) -> PResult<'a, CompValue> {
        if rest.starts_with('"') {
            return match token::json_string(rest) {
                Ok((rest, text)) => Ok((rest, CompValue::Str(text))),
                Err((offset, expected)) => Err(self.error(&rest[offset..], expected)),
            };
        }
        let (after, bare) = token::bare_value(rest);
        let value = if bare.is_empty() {
            return Err(self.error(rest, "comparison value"));
        } else if bare.eq_ignore_ascii_case("true") {
            CompValue::Bool(true)
        } else if bare.eq_ignore_ascii_case("false") {
            CompValue::Bool(false)
        } else if bare.eq_ignore_ascii_case("null") {
            CompValue::Null
        } else if token::is_json_number(bare) {
            CompValue::Number(bare.to_owned())
        } else {
            // Most often a value someone forgot to quote: `externalId eq jyoung`.
            return Err(self.error(rest, "string literal"));
        };
        Ok((after, value))
    }

    /// `attrPath = [URI ":"] ATTRNAME ["." subAttr]`.
    ///
    /// A path that starts with `urn:` takes its schema up to the last `:` of the run of URN
    /// characters, since schema URNs hold both `:` and `.` (`...:2.0:User:name.givenName`).
    fn attr_path(&self, rest: &'a str, expected: &'static str) -> PResult<'a, AttrPath> {
        let (schema, rest) = if token::starts_with_urn(rest) {
            let (_, run) = token::schema_run(rest);
            // The run starts with `urn:`, so it has a colon; a schema is more than `urn:`.
            match run.rfind(':') {
                Some(colon) if colon > "urn:".len() => (Some(rest[..colon].to_owned()), &rest[colon + 1..]),
                _ => return Err(self.error(rest, "schema URN")),
            }
        } else {
            (None, rest)
        };
        let (rest, name) = self.name(rest, if schema.is_some() { "attribute name" } else { expected })?;
        let (rest, sub_attr) = match rest.strip_prefix('.') {
            Some(after_dot) => {
                let (rest, sub) = self.name(after_dot, "sub-attribute name")?;
                (rest, Some(sub.to_owned()))
            }
            None => (rest, None),
        };
        Ok((rest, AttrPath { schema, name: name.to_owned(), sub_attr }))
    }

    /// One `ATTRNAME`.
    fn name(&self, rest: &'a str, expected: &'static str) -> PResult<'a, &'a str> {
        token::name(rest).ok_or_else(|| self.error(rest, expected))
    }
}

/// Whitespace then the keyword `kw`: the look-ahead of the `and`/`or` loops, which reads
/// nothing when the keyword is not there.
fn logical<'a>(rest: &'a str, kw: &'static str) -> Option<&'a str> {
    token::keyword(token::ws1(rest)?, kw)
}

/// What may start an expression in `scope`.
fn expression(scope: Scope) -> &'static str {
    match scope {
        Scope::Resource => EXPRESSION,
        Scope::Value => VALUE_EXPRESSION,
    }
}

#[cfg(test)]
mod tests;
