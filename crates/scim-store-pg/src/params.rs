//! The parameters of a statement built at run time: typed, numbered as bound, and renumbered
//! when some go unused (PostgreSQL refuses a parameter it cannot type).

use postgres::types::ToSql;

/// One value bound to a statement.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    /// A `text` (never holding U+0000, which PostgreSQL refuses).
    Text(String),
    /// A `bigint`.
    Int(i64),
    /// A `float8`.
    Real(f64),
    /// A `boolean`.
    Bool(bool),
    /// A `text[]`: the labels of a JSON path.
    Path(Vec<String>),
}

impl Param {
    /// The SQL type the placeholder is cast to, so the server never has to guess it.
    fn sql_type(&self) -> &'static str {
        match self {
            Param::Text(_) => "text",
            Param::Int(_) => "bigint",
            Param::Real(_) => "float8",
            Param::Bool(_) => "boolean",
            Param::Path(_) => "text[]",
        }
    }

    fn to_sql(&self) -> &(dyn ToSql + Sync) {
        match self {
            Param::Text(v) => v,
            Param::Int(v) => v,
            Param::Real(v) => v,
            Param::Bool(v) => v,
            Param::Path(v) => v,
        }
    }
}

/// The values bound so far, each named in the SQL as `$n::type`.
///
/// A value may be bound and then not used, when translation folds its fragment to a constant;
/// PostgreSQL refuses a statement with a parameter it cannot type, so [`Params::finish`]
/// renumbers the placeholders the text actually names.
#[derive(Debug, Default)]
pub(crate) struct Params(Vec<Param>);

impl Params {
    /// Binds `value` and returns its placeholder with its cast.
    pub(crate) fn bind(&mut self, value: Param) -> String {
        let placeholder = format!("${}::{}", self.0.len() + 1, value.sql_type());
        self.0.push(value);
        placeholder
    }

    /// How many bound values satisfy `test`.
    #[cfg(test)]
    pub(crate) fn count(&self, test: impl Fn(&Param) -> bool) -> usize {
        self.0.iter().filter(|p| test(p)).count()
    }

    /// `sql` with its placeholders renumbered `$1`, `$2`, ... in order of first use, and the
    /// values in that order.
    pub(crate) fn finish<'a>(&'a self, sql: &str) -> (String, Vec<&'a (dyn ToSql + Sync)>) {
        let mut out = String::with_capacity(sql.len());
        let mut used: Vec<usize> = Vec::new();
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let digits = rest[at + 1..].bytes().take_while(u8::is_ascii_digit).count();
            let number = rest[at + 1..at + 1 + digits].parse::<usize>().ok().filter(|n| (1..=self.0.len()).contains(n));
            match number {
                Some(n) => {
                    let index = used.iter().position(|&u| u == n).unwrap_or_else(|| {
                        used.push(n);
                        used.len() - 1
                    });
                    out.push_str(&format!("${}", index + 1));
                }
                None => out.push_str(&rest[at..at + 1 + digits]),
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_str(rest);
        let values = used.iter().map(|&n| self.0[n - 1].to_sql()).collect();
        (out, values)
    }
}
