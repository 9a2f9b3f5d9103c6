//! The layering drawn in docs/architecture.md, checked: read from the `use` lines of
//! src/, no module imports from a layer above its own. A new top-level module must
//! be given a layer here and in the doc.

use std::path::Path;

/// Each top-level module of src/ and its layer; a module may import from its own
/// layer and those below.
const LAYERS: &[(&str, u8)] = &[
    ("proto", 0),
    ("reason", 0),
    ("clock", 0),
    ("crypto", 0),
    ("domain", 1),
    ("token", 2),
    ("password", 2),
    ("offload", 2),
    ("store", 2),
    ("config", 2),
    ("auth", 3),
    ("grpc", 4),
    ("verifier", 4),
    ("http", 4),
    ("server", 5),
    ("admin", 5),
    ("bench", 6),
    ("telemetry", 6),
    ("healthcheck", 6),
    ("cli", 7),
    ("main", 7),
    ("lib", 7),
];

fn layer(module: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == module).map(|(_, l)| *l)
}

/// The top-level modules a `use` statement names (`use crate::a::…;`,
/// `use crate::{a::…, b};`).
fn imported(statement: &str) -> Vec<String> {
    let Some(rest) = statement.strip_prefix("crate::") else {
        return Vec::new();
    };
    let names = match rest.strip_prefix('{') {
        Some(group) => group.split(',').map(str::trim).collect::<Vec<_>>(),
        None => vec![rest],
    };
    names
        .into_iter()
        .filter_map(|n| n.split("::").next())
        .map(|n| {
            n.trim_matches(|c: char| !c.is_alphanumeric() && c != '_')
                .to_owned()
        })
        .filter(|n| !n.is_empty())
        .collect()
}

fn check(dir: &Path, violations: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            check(&path, violations);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") {
            continue;
        }
        let relative = path.strip_prefix("src").unwrap();
        let top = relative.iter().next().unwrap().to_str().unwrap();
        let top = top.trim_end_matches(".rs");
        let own = layer(top).unwrap_or_else(|| panic!("src/{top} has no layer in LAYERS"));
        let text = std::fs::read_to_string(&path).unwrap();
        // Statements may span lines: join each `use …;` first.
        let mut statement = String::new();
        for line in text.lines().map(str::trim) {
            if statement.is_empty() && !line.starts_with("use ") && !line.starts_with("pub use ") {
                continue;
            }
            statement.push_str(line);
            if !line.ends_with(';') {
                continue;
            }
            let body = statement
                .trim_start_matches("pub ")
                .trim_start_matches("use ")
                .replace(' ', "");
            for module in imported(&body) {
                if let Some(theirs) = layer(&module)
                    && theirs > own
                {
                    violations.push(format!("{}: {top} imports {module}", path.display()));
                }
            }
            statement.clear();
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let mut violations = Vec::new();
    check(Path::new("src"), &mut violations);
    assert!(violations.is_empty(), "{violations:#?}");
}

#[test]
fn the_check_reads_grouped_and_nested_imports() {
    assert_eq!(imported("crate::auth::{Auth,AuthError};"), vec!["auth"]);
    assert_eq!(
        imported("crate::{auth::{IssuedTokens},domain::User};"),
        vec!["auth", "domain"]
    );
    assert!(imported("super::x;").is_empty());
}
