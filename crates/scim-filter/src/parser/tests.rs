//! Parser tests in the rust-analyzer manner: one line per case, the input and what it must
//! give, which is the canonical text for a success and `Kind@position: expected` for a failure.
//!
//! Every success is also printed and parsed again, and must give the same tree.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests may fail loudly.

use std::fmt::Display;

use crate::ast::{AttrPath, CompValue, CompareOp, Filter, PatchPath};
use crate::{Error, ErrorKind, MAX_DEPTH, MAX_INPUT_LEN};
use crate::{parse_attr_list, parse_attr_path, parse_filter, parse_path};

fn render<T: Display>(result: &Result<T, Error>) -> String {
    match result {
        Ok(value) => value.to_string(),
        Err(e) => format!("{:?}@{}: {}", e.kind(), e.position(), e.expected()),
    }
}

/// Parses `input` as a filter, and checks the outcome and that printing round-trips.
#[track_caller]
fn check(input: &str, expected: &str) {
    let parsed = parse_filter(input);
    assert_eq!(render(&parsed), expected, "filter: {input}");
    if let Ok(filter) = parsed {
        assert_eq!(parse_filter(&filter.to_string()), Ok(filter), "reparse: {input}");
    }
}

/// Parses `input` as a PATCH path, and checks the outcome and that printing round-trips.
#[track_caller]
fn check_path(input: &str, expected: &str) {
    let parsed = parse_path(input);
    assert_eq!(render(&parsed), expected, "path: {input}");
    if let Ok(path) = parsed {
        assert_eq!(parse_path(&path.to_string()), Ok(path), "reparse: {input}");
    }
}

/// Parses `input` as an attribute path, and checks the outcome and that printing round-trips.
#[track_caller]
fn check_attr(input: &str, expected: &str) {
    let parsed = parse_attr_path(input);
    assert_eq!(render(&parsed), expected, "attribute path: {input}");
    if let Ok(path) = parsed {
        assert_eq!(parse_attr_path(&path.to_string()), Ok(path), "reparse: {input}");
    }
}

/// Parses `input` as an attribute list, printed joined by `,`.
#[track_caller]
fn check_list(input: &str, expected: &str) {
    let parsed =
        parse_attr_list(input).map(|paths| paths.iter().map(ToString::to_string).collect::<Vec<_>>().join(","));
    assert_eq!(render(&parsed), expected, "attribute list: {input}");
}

#[test]
fn rfc7644_filter_examples() {
    check(r#"userName eq "bjensen""#, r#"userName eq "bjensen""#);
    check(r#"name.familyName co "O'Malley""#, r#"name.familyName co "O'Malley""#);
    check(r#"userName sw "J""#, r#"userName sw "J""#);
    check(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
    );
    check("title pr", "title pr");
    check(r#"meta.lastModified gt "2011-05-13T04:42:34Z""#, r#"meta.lastModified gt "2011-05-13T04:42:34Z""#);
    check(r#"meta.lastModified ge "2011-05-13T04:42:34Z""#, r#"meta.lastModified ge "2011-05-13T04:42:34Z""#);
    check(r#"meta.lastModified lt "2011-05-13T04:42:34Z""#, r#"meta.lastModified lt "2011-05-13T04:42:34Z""#);
    check(r#"meta.lastModified le "2011-05-13T04:42:34Z""#, r#"meta.lastModified le "2011-05-13T04:42:34Z""#);
    check(r#"title pr and userType eq "Employee""#, r#"title pr and userType eq "Employee""#);
    check(r#"title pr or userType eq "Intern""#, r#"title pr or userType eq "Intern""#);
    check(
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
        r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
    );
    check(
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
    );
    check(
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
        r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
    );
    check(
        r#"userType eq "Employee" and (emails.type eq "work")"#,
        r#"userType eq "Employee" and emails.type eq "work""#,
    );
    check(
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
        r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
    );
    check(
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
    );
    check(r#"userName Eq "john""#, r#"userName eq "john""#);
    check(
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
    );
}

#[test]
fn identity_provider_filters() {
    check(r#"userName eq "test.user@okta.local""#, r#"userName eq "test.user@okta.local""#);
    check(r#"userName eq "onelogin-test-user01""#, r#"userName eq "onelogin-test-user01""#);
    check(r#"username eq "TEST_USER_CAPS""#, r#"username eq "TEST_USER_CAPS""#);
    check(
        r#"externalId eq "9a8b7c6d-1234-5678-9abc-def012345678""#,
        r#"externalId eq "9a8b7c6d-1234-5678-9abc-def012345678""#,
    );
    check(r#"id eq "g" and members eq "u""#, r#"id eq "g" and members eq "u""#);
    check(r#"members.value eq "u""#, r#"members.value eq "u""#);
    check(r#"groups.value eq "g""#, r#"groups.value eq "g""#);
    check(r#"displayName eq "x""#, r#"displayName eq "x""#);
    check(r#"displayName eq "Sales & Marketing""#, r#"displayName eq "Sales & Marketing""#);
    check(r#"emails.value eq "a@example.com""#, r#"emails.value eq "a@example.com""#);
    check(r#"emails[type eq "work"].value eq "x""#, r#"emails[type eq "work" and value eq "x"]"#);
    check(r#"emails[type eq "work"].value pr"#, r#"emails[type eq "work" and value pr]"#);
    check(
        r#"emails[type eq "work" or type eq "home"].value eq "x""#,
        r#"emails[(type eq "work" or type eq "home") and value eq "x"]"#,
    );
    check(
        r#"emails[type eq "work" and primary eq true].value eq "x""#,
        r#"emails[type eq "work" and primary eq true and value eq "x"]"#,
    );
    check(
        r#"addresses[type eq "work"].streetAddress co "Main""#,
        r#"addresses[type eq "work" and streetAddress co "Main"]"#,
    );
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "26118915""#,
    );
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "x" and id eq "y""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager eq "x" and id eq "y""#,
    );
    check("externalId eq jyoung", "InvalidFilter@14: string literal");
    check(r#"active eq "True""#, r#"active eq "True""#);
}

#[test]
fn keywords_and_literals_ignore_case() {
    check(r#"userName EQ "x""#, r#"userName eq "x""#);
    check("title PR", "title pr");
    check("title Pr", "title pr");
    check("a pr AND b pr", "a pr and b pr");
    check("a pr And b pr", "a pr and b pr");
    check("a pr Or b pr", "a pr or b pr");
    check("NOT (a pr)", "not (a pr)");
    check("Not(a pr)", "not (a pr)");
    check("active eq TRUE", "active eq true");
    check("active eq False", "active eq false");
    check("manager eq NULL", "manager eq null");
    check(r#"a NE "x""#, r#"a ne "x""#);
    check(r#"a Co "x""#, r#"a co "x""#);
    check(r#"a SW "x""#, r#"a sw "x""#);
    check(r#"a eW "x""#, r#"a ew "x""#);
    check("a GT 1", "a gt 1");
    check("a Ge 1", "a ge 1");
    check("a lT 1", "a lt 1");
    check("a LE 1", "a le 1");
}

#[test]
fn whitespace() {
    check(r#"  userName eq "x"  "#, r#"userName eq "x""#);
    check("userName  eq\t\"x\"", r#"userName eq "x""#);
    check("\ttitle pr\t", "title pr");
    check("( a pr )", "a pr");
    check("((a pr))", "a pr");
    check(r#"emails[ type eq "work" ]"#, r#"emails[type eq "work"]"#);
    check("not(a pr)", "not (a pr)");
    check("not   ( a pr )", "not (a pr)");
    check("a pr   and    b pr", "a pr and b pr");
    check(r#"userNameeq"x""#, "InvalidFilter@10: whitespace");
    check(r#"userName eq"x""#, "InvalidFilter@11: whitespace");
    check("a pr and(b pr)", "InvalidFilter@8: whitespace");
    check("a pr andb pr", "InvalidFilter@5: logical operator or end of input");
    check("a\npr", "InvalidFilter@1: whitespace");
    check("", "InvalidFilter@0: attribute path, 'not' or '('");
    check("   ", "InvalidFilter@3: attribute path, 'not' or '('");
}

#[test]
fn precedence_and_grouping() {
    check("a pr or b pr and c pr", "a pr or b pr and c pr");
    check("a pr and b pr or c pr", "a pr and b pr or c pr");
    check("(a pr or b pr) and c pr", "(a pr or b pr) and c pr");
    check("a pr and (b pr or c pr)", "a pr and (b pr or c pr)");
    check("a pr or (b pr or c pr)", "a pr or (b pr or c pr)");
    check("(a pr or b pr) or c pr", "a pr or b pr or c pr");
    check("a pr and (b pr and c pr)", "a pr and (b pr and c pr)");
    check("(a pr and b pr) and c pr", "a pr and b pr and c pr");
    check("a pr or (b pr and c pr)", "a pr or b pr and c pr");
    check("(a pr and b pr) or c pr", "a pr and b pr or c pr");
    check("not (a pr) and b pr", "not (a pr) and b pr");
    check("not (a pr and b pr) or not (c pr)", "not (a pr and b pr) or not (c pr)");
    check("not (not (a pr))", "not (not (a pr))");
    check("not ((a pr))", "not (a pr)");
    check("a pr and not (b pr or c pr)", "a pr and not (b pr or c pr)");
    check("(a pr or b pr) and (c pr or d pr)", "(a pr or b pr) and (c pr or d pr)");
    check("a pr or b pr and c pr or d pr", "a pr or b pr and c pr or d pr");
}

#[test]
fn comparison_values() {
    check("a eq 1", "a eq 1");
    check("a eq -1", "a eq -1");
    check("a eq 0", "a eq 0");
    check("a eq 2.5e3", "a eq 2.5e3");
    check("a eq 1E-7", "a eq 1E-7");
    check("a eq -0.5", "a eq -0.5");
    check("a eq 6.02e+23", "a eq 6.02e+23");
    check("a eq 12345678901234567890123", "a eq 12345678901234567890123");
    check(r#"a eq """#, r#"a eq """#);
    check(r#"a eq "\u00e9""#, r#"a eq "é""#);
    check(r#"a eq "\ud83d\ude00""#, r#"a eq "😀""#);
    check(r#"a eq "tab\there""#, r#"a eq "tab\there""#);
    check(r#"a eq "q\"uote""#, r#"a eq "q\"uote""#);
    check(r#"a eq "back\\slash""#, r#"a eq "back\\slash""#);
    check(r#"a eq "\/""#, r#"a eq "/""#);
    check(r#"a eq "\u0001""#, r#"a eq "\u0001""#);
    check(r#"a eq "\b\f\n\r""#, r#"a eq "\b\f\n\r""#);
    check(r#"a eq "\u0022""#, r#"a eq "\"""#);
    check(r#"a eq "日本語""#, r#"a eq "日本語""#);
    check(r#"a eq "(not) [a] and or""#, r#"a eq "(not) [a] and or""#);
    check("a eq 01", "InvalidFilter@5: string literal");
    check("a eq 1.", "InvalidFilter@5: string literal");
    check("a eq .5", "InvalidFilter@5: string literal");
    check("a eq +1", "InvalidFilter@5: string literal");
    check("a eq -", "InvalidFilter@5: string literal");
    check("a eq 1e", "InvalidFilter@5: string literal");
    check("a eq 2011-05-13", "InvalidFilter@5: string literal");
    check("a eq truex", "InvalidFilter@5: string literal");
    check("a eq 'x'", "InvalidFilter@5: string literal");
    check(r#"a eq "x"#, r#"InvalidFilter@7: closing '"'"#);
    check(r#"a eq "\x""#, "InvalidFilter@6: escape sequence");
    check(r#"a eq "\"#, "InvalidFilter@6: escape sequence");
    check(r#"a eq "\u12""#, r"InvalidFilter@6: four hex digits after '\u'");
    check(r#"a eq "\ud800""#, "InvalidFilter@6: low surrogate escape after high surrogate");
    check(r#"a eq "\ud800\u0041""#, "InvalidFilter@6: low surrogate escape after high surrogate");
    check(r#"a eq "\udc00""#, "InvalidFilter@6: high surrogate escape before low surrogate");
    check("a eq \"a\tb\"", "InvalidFilter@7: escape sequence for control character");
    check("a eq", "InvalidFilter@4: comparison value");
    check("a eq ", "InvalidFilter@5: comparison value");
    check("a eq )", "InvalidFilter@5: comparison value");
    check(r#"a eq "x"y"#, "InvalidFilter@8: logical operator or end of input");
    check("a eq 1 2", "InvalidFilter@7: logical operator or end of input");
    check("a pr 1", "InvalidFilter@5: logical operator or end of input");
}

#[test]
fn attribute_names() {
    check(r#"$ref eq "x""#, r#"$ref eq "x""#);
    check(r#"members.$ref eq "x""#, r#"members.$ref eq "x""#);
    check("x-y_z1 pr", "x-y_z1 pr");
    check("a1.b2 pr", "a1.b2 pr");
    check("1a pr", "InvalidFilter@0: attribute path, 'not' or '('");
    check("_a pr", "InvalidFilter@0: attribute path, 'not' or '('");
    check("$ pr", "InvalidFilter@0: attribute path, 'not' or '('");
    check("é eq \"x\"", "InvalidFilter@0: attribute path, 'not' or '('");
    check(r#""x" eq userName"#, "InvalidFilter@0: attribute path, 'not' or '('");
    check("a..b pr", "InvalidFilter@2: sub-attribute name");
    check("a. pr", "InvalidFilter@2: sub-attribute name");
    check("a.b.c pr", "InvalidFilter@3: whitespace");
    check("userName", "InvalidFilter@8: comparison operator");
    check("userName ", "InvalidFilter@9: comparison operator");
    check(r#"userName equals "x""#, "InvalidFilter@9: comparison operator");
    check(r#"userName eqx "x""#, "InvalidFilter@9: comparison operator");
    check(r#"userName "x""#, "InvalidFilter@9: comparison operator");
    check(r#"userName eq-1"#, "InvalidFilter@9: comparison operator");
}

#[test]
fn keywords_as_attribute_names() {
    check("not pr", "not pr");
    check(r#"not eq "x""#, r#"not eq "x""#);
    check("and pr and or pr", "and pr and or pr");
    check("or pr or and pr", "or pr or and pr");
    check("pr pr", "pr pr");
    check(r#"eq eq "eq""#, r#"eq eq "eq""#);
    check("notes pr", "notes pr");
    check(r#"nothing eq "x""#, r#"nothing eq "x""#);
    check(r#"android eq "x" or order pr"#, r#"android eq "x" or order pr"#);
    check(r#"not[type eq "x"]"#, r#"not[type eq "x"]"#);
    check("not", "InvalidFilter@3: '(' after 'not'");
    check("not ", "InvalidFilter@4: '(' after 'not'");
    check("not a pr", "InvalidFilter@4: '(' after 'not'");
    check("a pr and not b pr", "InvalidFilter@13: '(' after 'not'");
}

#[test]
fn logical_operator_errors() {
    check("a pr and", "InvalidFilter@8: attribute path, 'not' or '('");
    check("a pr and ", "InvalidFilter@9: attribute path, 'not' or '('");
    check("a pr or", "InvalidFilter@7: attribute path, 'not' or '('");
    check("a pr b pr", "InvalidFilter@5: logical operator or end of input");
    check("a pr xor b pr", "InvalidFilter@5: logical operator or end of input");
    check("a pr)", "InvalidFilter@4: logical operator or end of input");
    check("(a pr", "InvalidFilter@5: logical operator or closing ')'");
    check("(a pr b pr)", "InvalidFilter@6: logical operator or closing ')'");
    check("()", "InvalidFilter@1: attribute path, 'not' or '('");
    check("not ()", "InvalidFilter@5: attribute path, 'not' or '('");
    check("a pr and and", "InvalidFilter@12: comparison operator");
    check(r#"a eq "x" and or b eq "y""#, "InvalidFilter@16: comparison operator");
    check("a pr && b pr", "InvalidFilter@5: logical operator or end of input");
}

#[test]
fn value_paths() {
    check(r#"emails[type eq "work"]"#, r#"emails[type eq "work"]"#);
    check(r#"emails[type eq "work" and primary eq true]"#, r#"emails[type eq "work" and primary eq true]"#);
    check(r#"emails[not (type eq "work")]"#, r#"emails[not (type eq "work")]"#);
    check(
        r#"emails[(type eq "work" or type eq "home") and primary eq true]"#,
        r#"emails[(type eq "work" or type eq "home") and primary eq true]"#,
    );
    check(
        r#"emails[type eq "work"] and emails[primary eq true]"#,
        r#"emails[type eq "work"] and emails[primary eq true]"#,
    );
    check(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]"#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"]"#,
    );
    check(r#"not (emails[value pr])"#, r#"not (emails[value pr])"#);
    check("emails[value pr]", "emails[value pr]");
    check("emails[]", "InvalidFilter@7: sub-attribute name, 'not' or '('");
    check(r#"emails[type eq "work""#, "InvalidFilter@21: logical operator or closing ']'");
    check(r#"emails[type eq "work")"#, "InvalidFilter@21: logical operator or closing ']'");
    check(r#"emails[type[value eq "x"] eq "y"]"#, "InvalidFilter@11: whitespace (value filters do not nest)");
    check(
        r#"emails[type.value eq "x"]"#,
        "InvalidFilter@11: whitespace (paths inside brackets are plain sub-attribute names)",
    );
    check(
        r#"emails[urn:x:y:type eq "x"]"#,
        "InvalidFilter@10: whitespace (paths inside brackets are plain sub-attribute names)",
    );
    check("name.x[a pr]", "InvalidFilter@6: whitespace (a value filter follows an attribute, not a sub-attribute)");
    check(r#"emails[type eq "work"]."#, "InvalidFilter@23: sub-attribute name");
    check(r#"emails[type eq "work"].value"#, "InvalidFilter@28: comparison operator");
    check(r#"emails[type eq "work"].value.x eq "y""#, "InvalidFilter@28: whitespace");
    check(r#"emails [type eq "x"]"#, "InvalidFilter@7: comparison operator");
    check(r#"emails[type eq "work"]]"#, "InvalidFilter@22: logical operator or end of input");
    check(r#"emails[type eq "work"] pr"#, "InvalidFilter@23: logical operator or end of input");
    check("emails[1 pr]", "InvalidFilter@7: sub-attribute name, 'not' or '('");
    check("emails[a pr and]", "InvalidFilter@15: sub-attribute name, 'not' or '('");
    check("emails[type eq]", "InvalidFilter@14: comparison value");
    check("emails[type]", "InvalidFilter@11: comparison operator");
    check("(a pr and)", "InvalidFilter@9: attribute path, 'not' or '('");
    check("(a eq)", "InvalidFilter@5: comparison value");
}

#[test]
fn schema_urns() {
    check(
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
        r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#,
    );
    check(
        r#"URN:IETF:params:scim:schemas:core:2.0:User:userName eq "x""#,
        r#"URN:IETF:params:scim:schemas:core:2.0:User:userName eq "x""#,
    );
    check("urn:a:x pr", "urn:a:x pr");
    check("urn:okta:app-1_x:1.0:user:custom:costCenter pr", "urn:okta:app-1_x:1.0:user:custom:costCenter pr");
    check("urn:x pr", "InvalidFilter@0: schema URN");
    check("urn: pr", "InvalidFilter@0: schema URN");
    check("urn::x pr", "InvalidFilter@0: schema URN");
    check("urn:a: pr", "InvalidFilter@6: attribute name");
    check("urn:a:1x pr", "InvalidFilter@6: attribute name");
    check("urn:a:b.c.d pr", "InvalidFilter@9: whitespace");
    check("urn pr", "urn pr");
}

#[test]
fn patch_paths() {
    check_path(
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
        r#"members[value eq "2819c223-7f76-453a-919d-413861904646"]"#,
    );
    check_path(r#"members[value eq "id"]"#, r#"members[value eq "id"]"#);
    check_path(r#"members[VALUE EQ "id"]"#, r#"members[VALUE eq "id"]"#);
    check_path(r#"emails[type eq "work"].value"#, r#"emails[type eq "work"].value"#);
    check_path(r#"addresses[type eq "work"].streetAddress"#, r#"addresses[type eq "work"].streetAddress"#);
    check_path(r#"addresses[type eq "work"].postalCode"#, r#"addresses[type eq "work"].postalCode"#);
    check_path(r#"phoneNumbers[type eq "work"].value"#, r#"phoneNumbers[type eq "work"].value"#);
    check_path(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager",
    );
    check_path(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    );
    check_path(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
    );
    check_path(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value"#,
        r#"urn:ietf:params:scim:schemas:core:2.0:User:emails[type eq "work"].value"#,
    );
    check_path("name.givenName", "name.givenName");
    check_path("name.familyName", "name.familyName");
    check_path("active", "active");
    check_path("members", "members");
    check_path("displayName", "displayName");
    check_path(" emails[ type eq \"work\" ] ", r#"emails[type eq "work"]"#);
    check_path(
        r#"emails[type eq "work" and primary eq true].value"#,
        r#"emails[type eq "work" and primary eq true].value"#,
    );
    check_path(r#"members[value eq "a" or value eq "b"]"#, r#"members[value eq "a" or value eq "b"]"#);
    check_path("", "InvalidPath@0: attribute path");
    check_path(r#""members""#, "InvalidPath@0: attribute path");
    check_path(r#"emails[type eq "work""#, "InvalidPath@21: logical operator or closing ']'");
    check_path(r#"emails[type eq "work"].value.x"#, "InvalidPath@28: end of input");
    check_path(r#"emails[type eq "work"]x"#, "InvalidPath@22: '.' or end of input");
    check_path(r#"members[value eq "x"][value eq "y"]"#, "InvalidPath@21: '.' or end of input");
    check_path("name.givenName.x", "InvalidPath@14: end of input");
    check_path("members x", "InvalidPath@8: '[' or end of input");
    check_path(
        r#"name.givenName[type eq "x"]"#,
        "InvalidPath@14: end of input (a value filter follows an attribute, not a sub-attribute)",
    );
    check_path(r#"emails[type eq "work"]."#, "InvalidPath@23: sub-attribute name");
    check_path(r#"emails[type[x eq "y"] eq "z"]"#, "InvalidPath@11: whitespace (value filters do not nest)");
    check_path(r#"emails[type eq "work"].value eq "x""#, "InvalidPath@29: end of input");
    check_path("members[]", "InvalidPath@8: sub-attribute name, 'not' or '('");
    check_path("members[value eq jyoung]", "InvalidPath@17: string literal");
    check_path("urn:x", "InvalidPath@0: schema URN");
}

#[test]
fn attribute_paths_and_lists() {
    check_attr("userName", "userName");
    check_attr(" userName\t", "userName");
    check_attr("name.familyName", "name.familyName");
    check_attr("meta.lastModified", "meta.lastModified");
    check_attr(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value",
    );
    check_attr("", "InvalidPath@0: attribute path");
    check_attr("name.", "InvalidPath@5: sub-attribute name");
    check_attr("name givenName", "InvalidPath@5: end of input");
    check_attr("name[", "InvalidPath@4: end of input");
    check_attr("name,", "InvalidPath@4: end of input");

    check_list("userName", "userName");
    check_list("userName,name.familyName", "userName,name.familyName");
    check_list("userName , emails", "userName,emails");
    check_list(" userName,\temails ", "userName,emails");
    check_list(
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager,userName",
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager,userName",
    );
    check_list("", "InvalidPath@0: attribute path");
    check_list("a,", "InvalidPath@2: attribute path");
    check_list("a,,b", "InvalidPath@2: attribute path");
    check_list("a b", "InvalidPath@2: ',' or end of input");
    check_list("a;b", "InvalidPath@1: ',' or end of input");
}

#[test]
fn trees_have_the_expected_shape() {
    let pr = |name: &str| Filter::Present(AttrPath::new(name));
    let and = |l, r| Filter::And(Box::new(l), Box::new(r));
    let or = |l, r| Filter::Or(Box::new(l), Box::new(r));
    let eq =
        |path: AttrPath, value: &str| Filter::Compare { path, op: CompareOp::Eq, value: CompValue::Str(value.into()) };

    assert_eq!(parse_filter("a pr or b pr and c pr"), Ok(or(pr("a"), and(pr("b"), pr("c")))));
    assert_eq!(parse_filter("a pr and b pr and c pr"), Ok(and(and(pr("a"), pr("b")), pr("c"))));
    assert_eq!(parse_filter("a pr or b pr or c pr"), Ok(or(or(pr("a"), pr("b")), pr("c"))));
    assert_eq!(parse_filter("not (a pr)"), Ok(Filter::Not(Box::new(pr("a")))));
    assert_eq!(
        parse_filter(r#"emails[type eq "work"].value eq "x@y""#),
        Ok(Filter::ValuePath {
            attr: AttrPath::new("emails"),
            filter: Box::new(and(eq(AttrPath::new("type"), "work"), eq(AttrPath::new("value"), "x@y"))),
        })
    );
    assert_eq!(
        parse_filter(r#"emails[type eq "work"].value pr"#),
        Ok(Filter::ValuePath {
            attr: AttrPath::new("emails"),
            filter: Box::new(and(eq(AttrPath::new("type"), "work"), pr("value"))),
        })
    );
    assert_eq!(
        parse_filter("a eq 2.5e3"),
        Ok(Filter::Compare { path: AttrPath::new("a"), op: CompareOp::Eq, value: CompValue::Number("2.5e3".into()) })
    );
    assert_eq!(parse_filter(r#"a eq "\ud83d\ude00\n""#), Ok(eq(AttrPath::new("a"), "😀\n")));
}

#[test]
fn schema_urns_split_at_the_last_colon() {
    let manager = parse_attr_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value").unwrap();
    assert_eq!(
        manager,
        AttrPath {
            schema: Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User".into()),
            name: "manager".into(),
            sub_attr: Some("value".into()),
        }
    );
    let family = parse_attr_path("urn:ietf:params:scim:schemas:core:2.0:User:name.familyName").unwrap();
    assert_eq!(
        family,
        AttrPath {
            schema: Some("urn:ietf:params:scim:schemas:core:2.0:User".into()),
            name: "name".into(),
            sub_attr: Some("familyName".into()),
        }
    );
    // A bare schema URN splits the same way; the caller recognises it by joining the parts.
    let bare = parse_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User").unwrap();
    assert_eq!(bare.attr.schema.as_deref(), Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0"));
    assert_eq!(bare.attr.name, "User");
}

#[test]
fn patch_path_sub_attribute_goes_into_attr() {
    assert_eq!(
        parse_path(r#"emails[type eq "work"].value"#),
        Ok(PatchPath {
            attr: AttrPath::with_sub("emails", "value"),
            filter: Some(Filter::Compare {
                path: AttrPath::new("type"),
                op: CompareOp::Eq,
                value: CompValue::Str("work".into()),
            }),
        })
    );
    assert_eq!(
        parse_path("name.givenName"),
        Ok(PatchPath { attr: AttrPath::with_sub("name", "givenName"), filter: None })
    );
}

#[test]
fn error_messages() {
    let err = parse_filter(r#"displayName xx "x""#).unwrap_err();
    assert_eq!(err.to_string(), "invalid filter at position 12: expected comparison operator");
    let err = parse_path("members x").unwrap_err();
    assert_eq!(err.to_string(), "invalid path at position 8: expected '[' or end of input");
    let err = parse_filter(&"a".repeat(MAX_INPUT_LEN + 1)).unwrap_err();
    assert_eq!(err.to_string(), "filter too long: more than 8192 bytes");
    assert_eq!(err.expected(), format!("at most {MAX_INPUT_LEN} bytes"));
    let deep = format!("{}a pr{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
    let err = parse_filter(&deep).unwrap_err();
    assert_eq!(
        err.to_string(),
        "filter nested too deeply at position 64: at most 64 levels of parentheses, 'not' and brackets"
    );
    assert_eq!(err.expected(), format!("at most {MAX_DEPTH} levels of nesting"));
    let err: Box<dyn std::error::Error> = Box::new(err);
    assert!(err.source().is_none());
}

#[test]
fn nesting_is_limited() {
    let nested =
        |open: &str, close: &str, levels: usize| format!("{}a pr{}", open.repeat(levels), close.repeat(levels));
    assert!(parse_filter(&nested("(", ")", MAX_DEPTH)).is_ok());
    let err = parse_filter(&nested("(", ")", MAX_DEPTH + 1)).unwrap_err();
    assert_eq!((err.kind(), err.position()), (ErrorKind::TooDeep, MAX_DEPTH));

    assert!(parse_filter(&nested("not (", ")", MAX_DEPTH)).is_ok());
    let err = parse_filter(&nested("not (", ")", MAX_DEPTH + 1)).unwrap_err();
    assert_eq!((err.kind(), err.position()), (ErrorKind::TooDeep, 5 * MAX_DEPTH));

    // Brackets count: 63 parentheses and a value path are 64 levels, one more is too many.
    let value_path = |levels: usize| format!("{}emails[(value pr)]{}", "(".repeat(levels), ")".repeat(levels));
    assert!(parse_filter(&value_path(MAX_DEPTH - 2)).is_ok());
    let err = parse_filter(&value_path(MAX_DEPTH - 1)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooDeep);

    // The Entra form counts its brackets twice, since it may print with parentheses added.
    let entra = |levels: usize| {
        format!("{}emails[type eq \"a\" or type eq \"b\"].value pr{}", "(".repeat(levels), ")".repeat(levels))
    };
    let printed = parse_filter(&entra(MAX_DEPTH - 2)).unwrap().to_string();
    assert!(parse_filter(&printed).is_ok());
    assert_eq!(parse_filter(&entra(MAX_DEPTH - 1)).unwrap_err().kind(), ErrorKind::TooDeep);

    // Far deeper than any stack could take by recursion stops at the limit.
    let err = parse_filter(&"(".repeat(MAX_INPUT_LEN)).unwrap_err();
    assert_eq!((err.kind(), err.position()), (ErrorKind::TooDeep, MAX_DEPTH));
    let err = parse_filter(&"not(".repeat(MAX_INPUT_LEN / 4)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooDeep);
    let err = parse_path(&format!("a[{}", "(".repeat(MAX_INPUT_LEN - 2))).unwrap_err();
    assert_eq!((err.kind(), err.position()), (ErrorKind::TooDeep, 1 + MAX_DEPTH));
}

#[test]
fn length_is_limited() {
    let longest = format!("a eq \"{}\"", "x".repeat(MAX_INPUT_LEN - 7));
    assert_eq!(longest.len(), MAX_INPUT_LEN);
    assert!(parse_filter(&longest).is_ok());
    let longer = format!("{longest} ");
    let err = parse_filter(&longer).unwrap_err();
    assert_eq!((err.kind(), err.position()), (ErrorKind::TooLong, MAX_INPUT_LEN));
    for err in
        [parse_path(&longer).unwrap_err(), parse_attr_path(&longer).unwrap_err(), parse_attr_list(&longer).unwrap_err()]
    {
        assert_eq!(err.kind(), ErrorKind::TooLong);
        assert_eq!(err.to_string(), "path too long: more than 8192 bytes");
    }
}

#[test]
fn long_chains_parse_in_linear_time() {
    // A chain of `or` as long as the limit allows, each operand itself a 64-deep group: the
    // worst case for a parser that backtracks over groups.
    let clause = r#"a eq "1" or "#;
    let chain = clause.repeat(MAX_INPUT_LEN / clause.len());
    let chain = format!("{chain}a pr");
    let filter = parse_filter(&chain).unwrap();
    assert_eq!(parse_filter(&filter.to_string()), Ok(filter));

    let deep = format!("{}a pr{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
    let mut deep_chain = deep.clone();
    while deep_chain.len() + deep.len() + 5 < MAX_INPUT_LEN {
        deep_chain.push_str(" and ");
        deep_chain.push_str(&deep);
    }
    let started = std::time::Instant::now();
    for _ in 0..10 {
        parse_filter(&deep_chain).unwrap();
        parse_filter(&chain).unwrap();
    }
    // Generous for a debug build on a busy machine; exponential behaviour would take hours.
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[test]
fn errors_point_inside_the_input_on_char_boundaries() {
    for input in ["é", "aé", "a eq é", "a eq \"é", "emails[é]", "a pr andé", "urn:é:x pr"] {
        let err = parse_filter(input).unwrap_err();
        assert!(err.position() <= input.len(), "{input}");
        assert!(input.is_char_boundary(err.position()), "{input}");
    }
}
