//! The README's bad-input table names a test for every row: each named test must exist, so the
//! table cannot point at a test that was renamed or removed.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `crate/path.rs::mod::name`, `crate/path.rs::{a, b}` or either with a note in brackets.
fn tests_named(cell: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in cell.split(';') {
        let item = item.split(" (").next().unwrap_or("").trim();
        if item.is_empty() {
            continue;
        }
        let (file, names) = item
            .split_once("::")
            .unwrap_or_else(|| panic!("not crate/path::test: {item:?}"));
        let names = names.rsplit("::").next().unwrap_or(names);
        let names = match names.split_once("::{") {
            Some((_, list)) => list,
            None => names,
        };
        let names = names.trim_start_matches('{').trim_end_matches('}');
        for n in names.split(',') {
            out.push((file.to_string(), n.trim().to_string()));
        }
    }
    out
}

#[test]
fn every_row_of_the_bad_input_table_names_tests_that_exist() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("### Bad input: what you see")
        .nth(1)
        .expect("the README has the bad-input section");
    let rows: Vec<&str> = section
        .lines()
        .skip_while(|l| !l.starts_with('|'))
        .take_while(|l| l.starts_with('|'))
        .skip(2) // the header and its rule
        .collect();
    assert!(rows.len() >= 15, "only {} rows", rows.len());
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 3, "{row}");
        let named = tests_named(cells[2]);
        assert!(!named.is_empty(), "a row without a test: {row}");
        for (file, name) in named {
            let path = repo().join("crates").join(&file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{file} (named in the README): {e}"));
            assert!(
                text.contains(&format!("fn {name}(")),
                "{file} has no test {name} (named in the README)"
            );
        }
    }
}
