//! docs/SEMANTICS.md names, row by row, the tests that prove each behaviour;
//! this keeps those names honest: every `file::test` it cites must be a test
//! function in `tests/file.rs`, and every `module::path::test` in `src/`.

use std::collections::BTreeSet;
use std::path::Path;

/// The `a::b` names inside backticks.
fn cited(doc: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for chunk in doc.split('`').skip(1).step_by(2) {
        let ok = chunk.contains("::")
            && chunk
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && chunk.split("::").all(|p| !p.is_empty());
        if ok {
            out.insert(chunk.to_string());
        }
    }
    out
}

#[test]
fn every_test_the_semantics_doc_names_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join("docs/SEMANTICS.md")).unwrap();
    let names = cited(&doc);
    assert!(names.len() > 50, "found only {} test names", names.len());
    let mut missing = Vec::new();
    let mut checked = 0;
    for name in &names {
        let parts: Vec<&str> = name.split("::").collect();
        let (file, test) = (parts[0], parts[parts.len() - 1]);
        let test_file = root.join("tests").join(format!("{file}.rs"));
        let source = if test_file.exists() {
            std::fs::read_to_string(&test_file).unwrap()
        } else {
            // A unit test: src/<path>.rs or src/<path>/mod.rs, the path
            // being the name minus `tests::test`.
            let modules: Vec<&str> = parts[..parts.len() - 1]
                .iter()
                .copied()
                .filter(|p| *p != "tests")
                .collect();
            let base = root.join("src").join(modules.join("/"));
            let candidates = [base.with_extension("rs"), base.join("mod.rs")];
            match candidates.iter().find(|p| p.exists()) {
                Some(p) => std::fs::read_to_string(p).unwrap(),
                // Not a test reference (a type path such as
                // `synfin::api::tokio`): nothing to check.
                None => continue,
            }
        };
        checked += 1;
        // A test function, or a row of `api_rows.rs`'s `rows!` macro (run
        // there through both APIs).
        if !source.contains(&format!("fn {test}(")) && !source.contains(&format!("\n    {test}(")) {
            missing.push(name.clone());
        }
    }
    assert!(checked > 50, "checked only {checked} names");
    assert!(
        missing.is_empty(),
        "docs/SEMANTICS.md names tests that do not exist: {missing:?}"
    );
}
