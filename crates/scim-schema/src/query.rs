//! Which list filters a profile answers, as indexed clauses the store can look up.
//!
//! identity-center answers `eq` on a few attributes, alone or in the two documented pairs, and
//! refuses anything else with 400 rather than return an unfiltered list.

use scim_filter::{AttrPath, Filter};

use crate::definition::{ENTERPRISE_USER, ResourceKind};
use crate::error::{Error, ErrorKind, Result};

/// One indexed equality of a list filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Clause {
    /// `id eq`.
    Id(String),
    /// `userName eq` (Users) or `displayName eq` (Groups), case-insensitive.
    Name(String),
    /// `externalId eq`.
    ExternalId(String),
    /// Users: `groups.value eq`: the user is a member of this group.
    MemberOf(String),
    /// Groups: `members.value eq` / `members eq`: the group has this user as a member.
    HasMember(String),
    /// Users: `manager eq` / `manager.value eq`.
    Manager(String),
}

/// The clauses of an identity-center filter: one clause, or `id` with `manager` (Users) or with
/// `members` (Groups), in either order.
pub fn identity_center_clauses(kind: ResourceKind, filter: &Filter) -> Result<Vec<Clause>> {
    let refuse = || Error::new(ErrorKind::InvalidFilter, format!("filter not supported: {filter}"));
    let pairs = filter.eq_conjunction(2).ok_or_else(refuse)?;
    let clauses = pairs
        .into_iter()
        .map(|(path, value)| clause(kind, path, value.to_owned()).ok_or_else(refuse))
        .collect::<Result<Vec<_>>>()?;
    let allowed = match clauses.as_slice() {
        [Clause::Manager(_)] => false,
        [_] => true,
        [Clause::Id(_), Clause::Manager(_)] | [Clause::Manager(_), Clause::Id(_)] => true,
        [Clause::Id(_), Clause::HasMember(_)] | [Clause::HasMember(_), Clause::Id(_)] => true,
        _ => false,
    };
    if allowed { Ok(clauses) } else { Err(refuse()) }
}

/// The canonical filter of validated clauses (`member` spelled `members.value`, `manager` spelled
/// `manager.value`, ...), for a store that answers standard filters.
pub fn to_filter(kind: ResourceKind, clauses: &[Clause]) -> Option<Filter> {
    let compare = |path: AttrPath, value: &str| Filter::Compare {
        path,
        op: scim_filter::CompareOp::Eq,
        value: scim_filter::CompValue::Str(value.to_owned()),
    };
    let name = match kind {
        ResourceKind::User => "userName",
        ResourceKind::Group => "displayName",
    };
    clauses
        .iter()
        .map(|clause| match clause {
            Clause::Id(v) => compare(AttrPath::new("id"), v),
            Clause::Name(v) => compare(AttrPath::new(name), v),
            Clause::ExternalId(v) => compare(AttrPath::new("externalId"), v),
            Clause::MemberOf(v) => compare(AttrPath::with_sub("groups", "value"), v),
            Clause::HasMember(v) => compare(AttrPath::with_sub("members", "value"), v),
            Clause::Manager(v) => compare(
                AttrPath { schema: Some(ENTERPRISE_USER.to_owned()), ..AttrPath::with_sub("manager", "value") },
                v,
            ),
        })
        .reduce(|a, b| Filter::And(Box::new(a), Box::new(b)))
}

fn clause(kind: ResourceKind, path: &AttrPath, value: String) -> Option<Clause> {
    let is = |name: &str, sub: Option<&str>| {
        path.name.eq_ignore_ascii_case(name)
            && match (&path.sub_attr, sub) {
                (None, None) => true,
                (Some(s), Some(want)) => s.eq_ignore_ascii_case(want),
                _ => false,
            }
    };
    let core = path.schema.as_deref().is_none_or(|urn| urn.eq_ignore_ascii_case(kind.schema().id));
    let enterprise = path.schema.as_deref().is_none_or(|urn| urn.eq_ignore_ascii_case(ENTERPRISE_USER));
    match kind {
        ResourceKind::User if core && is("userName", None) => Some(Clause::Name(value)),
        ResourceKind::User if core && is("groups", Some("value")) => Some(Clause::MemberOf(value)),
        ResourceKind::User if enterprise && (is("manager", None) || is("manager", Some("value"))) => {
            Some(Clause::Manager(value))
        }
        ResourceKind::Group if core && is("displayName", None) => Some(Clause::Name(value)),
        ResourceKind::Group if core && (is("members", Some("value")) || is("members", None) || is("member", None)) => {
            Some(Clause::HasMember(value))
        }
        _ if path.schema.is_none() && is("id", None) => Some(Clause::Id(value)),
        _ if path.schema.is_none() && is("externalId", None) => Some(Clause::ExternalId(value)),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn check(kind: ResourceKind, filter: &str, expected: Option<Vec<Clause>>) {
        let parsed = scim_filter::parse_filter(filter).unwrap();
        assert_eq!(identity_center_clauses(kind, &parsed).ok(), expected, "{filter}");
    }

    #[test]
    fn documented_user_filters() {
        use Clause::*;
        let u = ResourceKind::User;
        check(u, r#"userName eq "a@b""#, Some(vec![Name("a@b".into())]));
        check(u, r#"USERNAME EQ "a""#, Some(vec![Name("a".into())]));
        check(u, r#"externalId eq "x""#, Some(vec![ExternalId("x".into())]));
        check(u, r#"id eq "x""#, Some(vec![Id("x".into())]));
        check(u, r#"groups.value eq "g""#, Some(vec![MemberOf("g".into())]));
        check(u, r#"id eq "x" and manager eq "m""#, Some(vec![Id("x".into()), Manager("m".into())]));
        check(u, r#"manager eq "m" and id eq "x""#, Some(vec![Manager("m".into()), Id("x".into())]));
        for refused in [
            r#"manager eq "m""#,
            r#"userName ne "a""#,
            r#"userName eq "a" or userName eq "b""#,
            r#"userName eq "a" and externalId eq "b""#,
            r#"emails.value eq "a""#,
            r#"emails[type eq "work"].value eq "a""#,
            r#"displayName eq "a""#,
            "active eq true",
            r#"id eq "a" and id eq "b" and id eq "c""#,
            "title pr",
        ] {
            check(u, refused, None);
        }
    }

    #[test]
    fn canonical_filters_of_clauses() {
        let parsed = scim_filter::parse_filter(r#"member eq "u" and id eq "g""#).unwrap();
        let clauses = identity_center_clauses(ResourceKind::Group, &parsed).unwrap();
        let canonical = to_filter(ResourceKind::Group, &clauses).unwrap();
        assert_eq!(canonical.to_string(), r#"members.value eq "u" and id eq "g""#);
        let parsed = scim_filter::parse_filter(r#"id eq "x" and manager eq "m""#).unwrap();
        let clauses = identity_center_clauses(ResourceKind::User, &parsed).unwrap();
        assert_eq!(
            to_filter(ResourceKind::User, &clauses).unwrap().to_string(),
            r#"id eq "x" and urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m""#
        );
        assert_eq!(to_filter(ResourceKind::User, &[]), None);
    }

    #[test]
    fn documented_group_filters() {
        use Clause::*;
        let g = ResourceKind::Group;
        check(g, r#"displayName eq "G""#, Some(vec![Name("G".into())]));
        check(g, r#"members.value eq "u""#, Some(vec![HasMember("u".into())]));
        check(g, r#"id eq "g" and members eq "u""#, Some(vec![Id("g".into()), HasMember("u".into())]));
        check(g, r#"member eq "u" and id eq "g""#, Some(vec![HasMember("u".into()), Id("g".into())]));
        check(g, r#"userName eq "a""#, None);
        check(g, r#"displayName co "a""#, None);
    }
}
