//! The typed syntax tree shared by filters, attribute paths and PATCH paths.
//!
//! Names are kept exactly as written; SCIM compares them case-insensitively, so consumers
//! use [`AttrPath::is`] and friends rather than `==` on the strings.

/// An attribute path: `[schema-urn ":"] name ["." sub-attribute]`.
///
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value` has
/// `schema = Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User")`,
/// `name = "manager"` and `sub_attr = Some("value")`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AttrPath {
    /// The schema URN prefix, without the final `:`, when the path was fully qualified.
    pub schema: Option<String>,
    /// The attribute name, as written.
    pub name: String,
    /// The sub-attribute name, as written, when the path had one.
    pub sub_attr: Option<String>,
}

/// A comparison operator of RFC 7644 section 3.4.2.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `co`: contains.
    Co,
    /// `sw`: starts with.
    Sw,
    /// `ew`: ends with.
    Ew,
    /// `gt`: greater than.
    Gt,
    /// `ge`: greater than or equal.
    Ge,
    /// `lt`: less than.
    Lt,
    /// `le`: less than or equal.
    Le,
}

/// A literal on the right of a comparison.
///
/// Date-times are strings in SCIM filters; whether a string compares as a date-time is decided
/// by the attribute's type, which the grammar does not know.
#[derive(Debug, Clone, PartialEq)]
pub enum CompValue {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A JSON number, kept as its text so that printing it back is exact.
    Number(String),
    /// A JSON string, escapes resolved.
    Str(String),
}

/// A filter expression.
///
/// Grouping parentheses leave no node of their own: they only shape the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attrPath compareOp compValue`.
    Compare {
        /// The attribute compared.
        path: AttrPath,
        /// The operator.
        op: CompareOp,
        /// The literal.
        value: CompValue,
    },
    /// `attrPath pr`.
    Present(AttrPath),
    /// `left and right`.
    And(Box<Filter>, Box<Filter>),
    /// `left or right`.
    Or(Box<Filter>, Box<Filter>),
    /// `not (inner)`.
    Not(Box<Filter>),
    /// `attr[inner]`: some value of the multi-valued `attr` satisfies `inner`, whose paths name
    /// sub-attributes of `attr`. `attr.sub_attr` is always `None` here.
    ValuePath {
        /// The multi-valued attribute.
        attr: AttrPath,
        /// The filter each value is tested against.
        filter: Box<Filter>,
    },
}

/// A PATCH operation's `path` (RFC 7644 section 3.5.2): `attrPath` or `valuePath [subAttr]`.
///
/// `emails[type eq "work"].value` has `attr = emails.value` (the sub-attribute applies after the
/// filter) and `filter = Some(type eq "work")`; `name.givenName` has no filter.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute, with the sub-attribute the path ends in, if any.
    pub attr: AttrPath,
    /// The value filter between brackets, if any.
    pub filter: Option<Filter>,
}

impl AttrPath {
    /// A path of one attribute name, without schema or sub-attribute: `AttrPath::new("userName")`.
    pub fn new(name: impl Into<String>) -> Self {
        AttrPath { schema: None, name: name.into(), sub_attr: None }
    }

    /// A path of an attribute and one of its sub-attributes, without schema:
    /// `AttrPath::with_sub("name", "givenName")` is `name.givenName`.
    pub fn with_sub(name: impl Into<String>, sub: impl Into<String>) -> Self {
        AttrPath { schema: None, name: name.into(), sub_attr: Some(sub.into()) }
    }

    /// Whether this path names the attribute `name` itself, not one of its sub-attributes.
    ///
    /// Names compare ignoring ASCII case, as SCIM attribute names do, and the schema prefix is
    /// ignored: `urn:ietf:params:scim:schemas:core:2.0:User:userName` is `userName`.
    /// Whether a schema prefix belongs to the resource is the caller's question.
    ///
    /// ```
    /// use scim_filter::parse_attr_path;
    ///
    /// assert!(parse_attr_path("USERNAME").unwrap().is("userName"));
    /// assert!(!parse_attr_path("name.givenName").unwrap().is("name"));
    /// ```
    #[must_use]
    pub fn is(&self, name: &str) -> bool {
        self.sub_attr.is_none() && self.name.eq_ignore_ascii_case(name)
    }

    /// Whether this path names the sub-attribute `sub` of the attribute `name`, ignoring ASCII
    /// case and the schema prefix like [`AttrPath::is`].
    ///
    /// ```
    /// use scim_filter::parse_attr_path;
    ///
    /// assert!(parse_attr_path("members.value").unwrap().is_sub("members", "value"));
    /// assert!(!parse_attr_path("members").unwrap().is_sub("members", "value"));
    /// ```
    #[must_use]
    pub fn is_sub(&self, name: &str, sub: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            && self.sub_attr.as_deref().is_some_and(|own| own.eq_ignore_ascii_case(sub))
    }
}

impl CompareOp {
    /// The operator as the canonical form writes it, in lowercase: `"eq"`, `"ge"` and so on.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }
}

impl Filter {
    /// The operands of a chain of one logical operator, in order: `a and b and c` gives
    /// `[a, b, c]` however the `and`s nest, and `(a or b) and c` gives `[a or b, c]`. Any other
    /// filter is its own only operand. Iterative, so chains as long as the input allows never
    /// deepen the stack.
    pub fn operands(&self) -> Vec<&Filter> {
        let is_or = matches!(self, Filter::Or(..));
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(node) = stack.pop() {
            match node {
                Filter::And(a, b) if !is_or => stack.extend([&**b, &**a]),
                Filter::Or(a, b) if is_or => stack.extend([&**b, &**a]),
                other => out.push(other),
            }
        }
        out
    }

    /// The clauses of a filter in the subset AWS IAM Identity Center accepts: `path eq "string"`,
    /// or up to `max_clauses` of them joined by `and`.
    ///
    /// Returns the clauses in the order written when the filter is a single string equality or
    /// a left-nested chain of `and` of them (which is what `a eq "x" and b eq "y" and ...`
    /// parses to) with at most `max_clauses` clauses.
    /// Returns `None` for anything else: another operator, `or`, `not`, a value path, `pr`, a
    /// value that is not a string literal, an `and` grouped to the right, or too many clauses.
    /// Which attributes may appear is the caller's decision.
    ///
    /// ```
    /// use scim_filter::parse_filter;
    ///
    /// let f = parse_filter(r#"id eq "g" and members eq "u""#).unwrap();
    /// let clauses = f.eq_conjunction(2).unwrap();
    /// assert_eq!(clauses.len(), 2);
    /// assert!(clauses[0].0.is("id") && clauses[0].1 == "g");
    /// assert!(clauses[1].0.is("members") && clauses[1].1 == "u");
    ///
    /// assert!(f.eq_conjunction(1).is_none());
    /// assert!(parse_filter(r#"active eq true"#).unwrap().eq_conjunction(2).is_none());
    /// assert!(parse_filter(r#"a eq "x" or b eq "y""#).unwrap().eq_conjunction(2).is_none());
    /// ```
    #[must_use]
    pub fn eq_conjunction(&self, max_clauses: usize) -> Option<Vec<(&AttrPath, &str)>> {
        let mut clauses = Vec::new();
        let mut node = self;
        // Walk down the left spine, taking each right operand as a clause; no recursion, so a
        // chain of any length is fine.
        loop {
            let (left, clause) = match node {
                Filter::And(left, right) => (Some(&**left), &**right),
                other => (None, other),
            };
            let Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(value) } = clause else {
                return None;
            };
            clauses.push((path, value.as_str()));
            if clauses.len() > max_clauses {
                return None;
            }
            match left {
                Some(left) => node = left,
                None => break,
            }
        }
        clauses.reverse();
        Some(clauses)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests may fail loudly.
mod tests {
    use super::*;
    use crate::parse_filter;

    #[test]
    fn operands_flatten_one_operator_only() {
        let texts =
            |f: &str| -> Vec<String> { parse_filter(f).unwrap().operands().iter().map(|o| o.to_string()).collect() };
        assert_eq!(texts("a pr and (b pr and c pr) and d pr"), ["a pr", "b pr", "c pr", "d pr"]);
        assert_eq!(texts("(a pr or b pr) and c pr"), ["a pr or b pr", "c pr"]);
        assert_eq!(texts("a pr or b pr and c pr"), ["a pr", "b pr and c pr"]);
        assert_eq!(texts("not (a pr)"), ["not (a pr)"]);
        let long = vec!["x pr"; 1000].join(" or ");
        assert_eq!(parse_filter(&long).unwrap().operands().len(), 1000);
    }

    fn clauses(filter: &str, max: usize) -> Option<Vec<String>> {
        let filter = parse_filter(filter).unwrap();
        let clauses = filter.eq_conjunction(max)?;
        Some(clauses.iter().map(|(path, value)| format!("{path}={value}")).collect())
    }

    #[test]
    fn eq_conjunction_accepts_string_equalities_joined_by_and() {
        assert_eq!(clauses(r#"userName eq "bjensen""#, 1).unwrap(), ["userName=bjensen"]);
        assert_eq!(clauses(r#"id eq "g" and members eq "u""#, 2).unwrap(), ["id=g", "members=u"]);
        assert_eq!(
            clauses(r#"a eq "1" AND b.c EQ "2" and urn:x:y:d eq "3""#, 3).unwrap(),
            ["a=1", "b.c=2", "urn:x:y:d=3"]
        );
        assert_eq!(clauses(r#"(a eq "1") and (b eq "2")"#, 2).unwrap(), ["a=1", "b=2"]);
    }

    #[test]
    fn eq_conjunction_refuses_everything_else() {
        for filter in [
            r#"a ne "x""#,
            r#"a co "x""#,
            "a pr",
            "a eq 1",
            "a eq true",
            "a eq null",
            r#"a eq "x" or b eq "y""#,
            r#"not (a eq "x")"#,
            r#"emails[type eq "work"]"#,
            r#"a eq "x" and b pr"#,
            r#"a pr and b eq "x""#,
            r#"a eq "x" and (b eq "y" and c eq "z")"#,
            r#"a eq "x" and not (b eq "y")"#,
        ] {
            assert_eq!(clauses(filter, 8), None, "{filter}");
        }
        assert_eq!(clauses(r#"a eq "x" and b eq "y""#, 1), None);
        assert_eq!(clauses(r#"a eq "x""#, 0), None);
    }

    #[test]
    fn attr_path_helpers() {
        let path = AttrPath::new("userName");
        assert!(path.is("USERNAME") && !path.is("user"));
        let qualified = crate::parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:userName").unwrap();
        assert!(qualified.is("username"));
        let sub = AttrPath::with_sub("members", "value");
        assert!(!sub.is("members"));
        assert!(sub.is_sub("Members", "VALUE"));
        assert!(!sub.is_sub("members", "display"));
        assert!(!path.is_sub("userName", "x"));
        assert_eq!(sub.to_string(), "members.value");
        assert_eq!(CompareOp::Ge.to_string(), "ge");
        assert_eq!(CompValue::Str("a\"b\u{1}".into()).to_string(), r#""a\"b\u0001""#);
        assert_eq!(CompValue::Null.to_string(), "null");
    }
}
