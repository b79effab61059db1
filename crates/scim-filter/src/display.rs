//! The canonical text of each syntax tree: lowercase keywords, single spaces, JSON-escaped
//! strings, and parentheses only where the tree needs them.
//!
//! Parsing the printed text gives back the same tree for every tree the parser produces.
//! Trees it cannot produce may print as text that does not parse: a value path on a
//! sub-attribute (`name.x[...]`), a value path or a qualified path inside brackets, a schema
//! that is not `urn:` and more, or names outside the `ATTRNAME` grammar.

use std::fmt;

use crate::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::token;

impl fmt::Display for AttrPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(schema) = &self.schema {
            write!(f, "{schema}:")?;
        }
        f.write_str(&self.name)?;
        if let Some(sub) = &self.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CompValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CompValue::Null => f.write_str("null"),
            CompValue::Bool(true) => f.write_str("true"),
            CompValue::Bool(false) => f.write_str("false"),
            CompValue::Number(text) => f.write_str(text),
            CompValue::Str(text) => token::write_json_string(text, f),
        }
    }
}

impl fmt::Display for PatchPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(filter) = &self.filter else {
            return self.attr.fmt(f);
        };
        if let Some(schema) = &self.attr.schema {
            write!(f, "{schema}:")?;
        }
        write!(f, "{}[", self.attr.name)?;
        write_filter(filter, f)?;
        f.write_str("]")?;
        if let Some(sub) = &self.attr.sub_attr {
            write!(f, ".{sub}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_filter(self, f)
    }
}

fn write_filter(filter: &Filter, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    match filter {
        Filter::Compare { path, op, value } => write!(f, "{path} {op} {value}"),
        Filter::Present(path) => write!(f, "{path} pr"),
        Filter::Not(inner) => {
            f.write_str("not (")?;
            write_filter(inner, f)?;
            f.write_str(")")
        }
        Filter::ValuePath { attr, filter } => {
            write!(f, "{attr}[")?;
            write_filter(filter, f)?;
            f.write_str("]")
        }
        Filter::And(..) | Filter::Or(..) => write_chain(filter, f),
    }
}

/// Writes a chain of one logical operator.
///
/// `a or b or c` parses to `Or(Or(a, b), c)`: chains grow down the left, as long as the input
/// allows, so the left spine is walked in a loop rather than by recursion.
/// Parentheses go where the operand binds more loosely than the operator, or as loosely on
/// the right, since both operators associate to the left.
fn write_chain(chain: &Filter, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let (keyword, strength) = match chain {
        Filter::Or(..) => (" or ", OR),
        _ => (" and ", AND),
    };
    let mut right_operands = Vec::new();
    let mut leftmost = chain;
    while let Filter::Or(left, right) | Filter::And(left, right) = leftmost {
        if binding(leftmost) != strength {
            break;
        }
        right_operands.push(&**right);
        leftmost = left;
    }
    write_operand(leftmost, binding(leftmost) < strength, f)?;
    for right in right_operands.into_iter().rev() {
        f.write_str(keyword)?;
        write_operand(right, binding(right) <= strength, f)?;
    }
    Ok(())
}

/// How tightly `or` binds, the loosest.
const OR: u8 = 1;
/// How tightly `and` binds.
const AND: u8 = 2;
/// How tightly everything else binds: it is printed whole, with its own delimiters if any.
const ATOM: u8 = 3;

fn binding(filter: &Filter) -> u8 {
    match filter {
        Filter::Or(..) => OR,
        Filter::And(..) => AND,
        _ => ATOM,
    }
}

fn write_operand(operand: &Filter, parenthesise: bool, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    if parenthesise {
        f.write_str("(")?;
        write_filter(operand, f)?;
        f.write_str(")")
    } else {
        write_filter(operand, f)
    }
}
