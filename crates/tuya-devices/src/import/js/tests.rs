//! Tests of the JavaScript-literal reader.
use super::*;
use serde_json::json;

fn p(s: &str) -> Value {
    parse(s, 0).unwrap_or_else(|e| panic!("{s:?}: {e}")).value
}

fn e(s: &str) -> String {
    parse(s, 0).unwrap_err().to_string()
}

#[test]
fn util_inspect_output() {
    let text = "[\n  {\n    name: 'Desk lamp',\n    id: '0120015260091453a970',\n    key: 'a1b2c3d4e5f6g7h8'\n  },\n  { name: \"It's mine\", id: 'bf3', key: `q'w\"e<r>t&y12345` }\n]\n";
    assert_eq!(
        p(text),
        json!([
            {"name": "Desk lamp", "id": "0120015260091453a970", "key": "a1b2c3d4e5f6g7h8"},
            {"name": "It's mine", "id": "bf3", "key": "q'w\"e<r>t&y12345"}
        ])
    );
}

#[test]
fn escapes_in_every_quote_style() {
    assert_eq!(p(r"'a\'b'"), json!("a'b"));
    assert_eq!(p(r#""a\"b""#), json!("a\"b"));
    assert_eq!(p(r"`a\`b`"), json!("a`b"));
    assert_eq!(
        p(r"'\\ \n \t \x41 \u0042 \u{1F600} \/ \q'"),
        json!("\\ \n \t A B 😀 / q")
    );
    assert_eq!(p(r"'\ud83d\ude00 \ud800x \0'"), json!("😀 \u{fffd}x \0"));
    assert_eq!(p("`two\nlines`"), json!("two\nlines"));
    assert_eq!(p("'con\\\ntinued'"), json!("continued"));
    assert_eq!(p("'abc' +\n  'def'"), json!("abcdef"));
    assert_eq!(p("'k3y!<&>\"{}[]:,'"), json!("k3y!<&>\"{}[]:,"));
}

#[test]
fn names_values_commas_and_comments() {
    assert_eq!(
        p("{ a: 1, 'b-c': -2.5e3, \"d\": true, $e_1: null, f: undefined, 7: [1, 2,], é: false, }"),
        json!({"a": 1, "b-c": -2500.0, "d": true, "$e_1": null, "f": null, "7": [1, 2], "é": false})
    );
    assert_eq!(p("// note\n[ /* x */ 1 ]"), json!([1]));
    assert_eq!(p("\u{feff}[]"), json!([]));
    assert_eq!(
        p("[{}, [], {a: {b: {}}}]"),
        json!([{}, [], {"a": {"b": {}}}])
    );
}

#[test]
fn plain_json_is_read_as_serde_json_reads_it() {
    let text = r#"[{"name":"x","id":"y","key":"k\u0026\"\\","mapping":{"1":{"values":{"min":0,"max":1000,"scale":1.5}}},"sub":false}]"#;
    assert_eq!(p(text), serde_json::from_str::<Value>(text).unwrap());
}

#[test]
fn node_cut_lists_are_counted() {
    let r = parse("[ 1, 2, ... 3 more items ]", 0).unwrap();
    assert_eq!(r.value, json!([1, 2]));
    assert_eq!(r.cut, 3);
    assert_eq!(parse("[1, ... 1 more item]", 0).unwrap().cut, 1);
    assert!(e("[1, ...]").contains("`...`"));
}

#[test]
fn errors_have_a_position_and_name_the_cause() {
    assert_eq!(
        e("[\n  {\n    name: 1 2"),
        "line 3, column 13: expected `,` or `}` after a property, found text"
    );
    assert_eq!(
        e("[\n  { key: secretkey }"),
        "line 2, column 10: expected a value, found unquoted text (strings must be quoted)"
    );
    assert_eq!(
        e("{ a 1 }"),
        "line 1, column 5: expected `:` after a property name, found text"
    );
    assert_eq!(
        e("['abc\n']"),
        "line 1, column 2: this string is not closed before the end of its line"
    );
    assert_eq!(e("'abc"), "line 1, column 1: this string is not closed");
    assert_eq!(
        e("[1] x"),
        "line 1, column 5: expected the end of the input after the value, found text"
    );
    assert_eq!(
        e(""),
        "line 1, column 1: expected a value, found the end of the input"
    );
    assert_eq!(e("[1,,]"), "line 1, column 4: expected a value, found `,`");
    assert_eq!(
        e("'\\x4'"),
        "line 1, column 2: a malformed \\x or \\u escape in a string"
    );
    assert_eq!(
        e("'\\u{110000}'"),
        "line 1, column 2: a malformed \\u escape in a string"
    );
    assert_eq!(
        e("01"),
        "line 1, column 1: expected a value, found a malformed number"
    );
    assert_eq!(e("/* x"), "line 1, column 1: this comment is not closed");
    assert!(e("{ a: 1 ] ").contains("found `]`"));
}

#[test]
fn errors_never_echo_the_text_they_stopped_at() {
    for bad in [
        "[{ key: 'Zq9!Zq9!Zq9!Zq9!' 'Zq9!' }]",
        "{key: Zq9Zq9Zq9}",
        "[Zq9 Zq9]",
        "{Zq9 Zq9}",
        "[1 ~Zq9]",
    ] {
        let msg = e(bad);
        assert!(!msg.contains("Zq9") && !msg.contains('~'), "{bad}: {msg}");
    }
}

#[test]
fn nesting_is_bounded() {
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse(&ok, 0).is_ok());
    let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    assert_eq!(
        e(&deep),
        format!(
            "line 1, column {}: nested deeper than {MAX_DEPTH} levels",
            MAX_DEPTH + 1
        )
    );
    // Far deeper than any stack would allow unbounded: still an error, not a crash.
    let very = "{a:".repeat(100_000);
    assert!(matches!(parse(&very, 0), Err(ImportError::TooDeep { .. })));
}

#[test]
fn line_and_column_count_characters() {
    assert_eq!(line_col("ab\ncé\nx", 7), (3, 1));
    assert_eq!(line_col("ab\ncéd", 6), (2, 3));
}

proptest::proptest! {
    #[test]
    fn random_input_never_panics(s in "\\PC{0,200}") {
        let _ = parse(&s, 0);
    }

    #[test]
    fn random_inspect_like_input_never_panics(s in "[\\[\\]{}:,'\"`\\\\ \\n.a-z0-9+/*-]{0,120}") {
        let _ = parse(&s, 0);
    }

    #[test]
    fn strings_round_trip_through_json_escapes(s in "\\PC{0,40}") {
        let json = serde_json::to_string(&s).unwrap();
        proptest::prop_assert_eq!(parse(&json, 0).unwrap().value, Value::String(s));
    }
}
