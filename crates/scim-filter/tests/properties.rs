//! Property tests: every tree prints to text that parses back to it, and no input, however
//! mangled, makes a parser panic (this is the crate's fuzz target).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // Tests may fail loudly.

use proptest::prelude::*;
use scim_filter::{
    AttrPath, CompValue, CompareOp, Error, Filter, PatchPath, parse_attr_list, parse_attr_path, parse_filter,
    parse_path,
};

/// Attribute names, keywords among them: `not pr` and `and eq "x"` are valid filters.
fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
        1 => Just("$ref".to_owned()),
        2 => prop::sample::select(vec![
            "and", "or", "not", "NOT", "pr", "eq", "ne", "true", "null", "urn", "notes", "order",
        ])
        .prop_map(str::to_owned),
    ]
}

fn schema() -> impl Strategy<Value = String> {
    "(urn|URN|Urn):[a-zA-Z0-9][a-zA-Z0-9.:_~%+-]{0,24}"
}

fn attr_path() -> impl Strategy<Value = AttrPath> {
    (prop::option::weighted(0.2, schema()), name(), prop::option::weighted(0.3, name()))
        .prop_map(|(schema, name, sub_attr)| AttrPath { schema, name, sub_attr })
}

fn compare_op() -> impl Strategy<Value = CompareOp> {
    prop::sample::select(vec![
        CompareOp::Eq,
        CompareOp::Ne,
        CompareOp::Co,
        CompareOp::Sw,
        CompareOp::Ew,
        CompareOp::Gt,
        CompareOp::Ge,
        CompareOp::Lt,
        CompareOp::Le,
    ])
}

fn comp_value() -> impl Strategy<Value = CompValue> {
    prop_oneof![
        1 => Just(CompValue::Null),
        1 => any::<bool>().prop_map(CompValue::Bool),
        1 => "-?(0|[1-9][0-9]{0,5})(\\.[0-9]{1,4})?([eE][+-]?[0-9]{1,3})?".prop_map(CompValue::Number),
        4 => string().prop_map(CompValue::Str),
    ]
}

/// Strings with what needs escaping: quotes, backslashes, control characters, and any `char`.
fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        prop::collection::vec(any::<char>(), 0..12).prop_map(String::from_iter),
        r#"["\\\x00-\x1f\x7f a-z/\x{2028}\x{1F600}]{0,12}"#,
    ]
}

/// A comparison or presence test on `path`.
fn test_on(path: impl Strategy<Value = AttrPath>) -> impl Strategy<Value = Filter> {
    (path, prop::option::weighted(0.8, (compare_op(), comp_value()))).prop_map(|(path, test)| match test {
        Some((op, value)) => Filter::Compare { path, op, value },
        None => Filter::Present(path),
    })
}

/// Combines `leaf` with `and`, `or` and `not`, a few levels deep.
fn logical(leaf: BoxedStrategy<Filter>) -> impl Strategy<Value = Filter> {
    leaf.prop_recursive(4, 24, 2, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::And(Box::new(l), Box::new(r))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| Filter::Or(Box::new(l), Box::new(r))),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

/// A filter as it may stand between brackets: plain sub-attribute names, no value paths.
fn value_filter() -> impl Strategy<Value = Filter> {
    logical(test_on(name().prop_map(AttrPath::new)).boxed())
}

/// Any filter the parser can produce.
fn filter() -> impl Strategy<Value = Filter> {
    let value_path =
        (prop::option::weighted(0.2, schema()), name(), value_filter()).prop_map(|(schema, name, filter)| {
            Filter::ValuePath { attr: AttrPath { schema, name, sub_attr: None }, filter: Box::new(filter) }
        });
    logical(prop_oneof![4 => test_on(attr_path()), 1 => value_path].boxed())
}

fn patch_path() -> impl Strategy<Value = PatchPath> {
    prop_oneof![
        attr_path().prop_map(|attr| PatchPath { attr, filter: None }),
        (prop::option::weighted(0.2, schema()), name(), prop::option::of(name()), value_filter()).prop_map(
            |(schema, name, sub_attr, filter)| PatchPath {
                attr: AttrPath { schema, name, sub_attr },
                filter: Some(filter),
            }
        ),
    ]
}

/// Text made of the grammar's own tokens, glued at random: closer to valid input than
/// arbitrary strings, so it reaches deeper into the parser.
fn token_soup() -> impl Strategy<Value = String> {
    let tokens = vec![
        " ",
        " ",
        "\t",
        "(",
        ")",
        "[",
        "]",
        ".",
        ":",
        ",",
        "\"",
        "\\",
        "\\u",
        "d83d",
        "\\ude00",
        "and",
        "or",
        "not",
        "NOT",
        "eq",
        "pr",
        "co",
        "gt",
        "true",
        "null",
        "1",
        "-",
        "2.5e3",
        "0",
        "emails",
        "type",
        "value",
        "userName",
        "$ref",
        "urn:",
        "urn:ietf:params:scim:",
        "2.0",
        "User",
        "\"x\"",
        "\"\\n\"",
        "é",
        "\u{0}",
    ];
    prop::collection::vec(prop::sample::select(tokens), 0..40).prop_map(|parts| parts.concat())
}

/// Parses `input` with every entry point: none may panic, errors must point inside the input,
/// and whatever parses must print to text that parses back to the same.
fn parse_everything(input: &str) {
    fn check_error(input: &str, err: &Error) {
        assert!(err.position() <= input.len(), "{input:?}: {err}");
        assert!(input.is_char_boundary(err.position()), "{input:?}: {err}");
        assert!(!err.expected().is_empty());
    }
    match parse_filter(input) {
        Ok(f) => assert_eq!(parse_filter(&f.to_string()), Ok(f), "{input:?}"),
        Err(e) => check_error(input, &e),
    }
    match parse_path(input) {
        Ok(p) => assert_eq!(parse_path(&p.to_string()), Ok(p), "{input:?}"),
        Err(e) => check_error(input, &e),
    }
    match parse_attr_path(input) {
        Ok(p) => assert_eq!(parse_attr_path(&p.to_string()), Ok(p), "{input:?}"),
        Err(e) => check_error(input, &e),
    }
    match parse_attr_list(input) {
        Ok(list) => {
            let printed = list.iter().map(ToString::to_string).collect::<Vec<_>>();
            assert_eq!(parse_attr_list(&printed.join(",")), Ok(list), "{input:?}");
        }
        Err(e) => check_error(input, &e),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn filters_print_and_parse_back(f in filter()) {
        let printed = f.to_string();
        prop_assert_eq!(parse_filter(&printed), Ok(f), "{}", printed);
    }

    #[test]
    fn patch_paths_print_and_parse_back(p in patch_path()) {
        let printed = p.to_string();
        prop_assert_eq!(parse_path(&printed), Ok(p), "{}", printed);
    }

    #[test]
    fn attr_lists_print_and_parse_back(list in prop::collection::vec(attr_path(), 1..5)) {
        let printed = list.iter().map(ToString::to_string).collect::<Vec<_>>().join(" , ");
        prop_assert_eq!(parse_attr_list(&printed), Ok(list), "{}", printed);
    }

    #[test]
    fn arbitrary_strings_never_panic(input in string()) {
        parse_everything(&input);
    }

    #[test]
    fn token_soup_never_panics(input in token_soup()) {
        parse_everything(&input);
    }

    #[test]
    fn mangled_filters_never_panic(f in filter(), cut in any::<prop::sample::Index>(), junk in token_soup()) {
        // Valid text with a random tail replaced: errors at every depth and position.
        let printed = f.to_string();
        let mut at = cut.index(printed.len() + 1);
        while !printed.is_char_boundary(at) {
            at -= 1;
        }
        parse_everything(&format!("{}{junk}", &printed[..at]));
    }
}
