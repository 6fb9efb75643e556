//! The workspace's layout rules that a reader relies on, checked on the sources themselves:
//! inside every crate, the top-level modules import each other without a circle (`a` uses
//! `crate::b` and `b` uses `crate::a` is refused), so each module can be read knowing only
//! the ones below it. Test code (`mod tests`, `tests.rs`) and comments are left out: a test
//! may reach up, and a doc link is not an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The `src` folder of every crate in the workspace.
fn crate_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("src"), root.join("glue-schema/src"), root.join("sql/src")];
    for entry in std::fs::read_dir(root.join("normalizer")).unwrap() {
        let dir = entry.unwrap().path().join("src");
        if dir.is_dir() {
            dirs.push(dir);
        }
    }
    dirs
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The text of a source file that is not test code and not a comment.
fn code_of(text: &str) -> String {
    let mut code = String::new();
    for line in text.lines() {
        if line.trim_start() == "mod tests {" {
            // The test module comes last in every file of this workspace.
            break;
        }
        if !line.trim_start().starts_with("//") {
            code.push_str(line);
            code.push('\n');
        }
    }
    code
}

/// The top-level modules `code` names after `crate::`, whether in a path (`crate::a::X`) or
/// in a use group (`use crate::{a::X, b}`).
fn crate_modules_named(code: &str) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        item_start = true;
                        continue;
                    }
                    _ if item_start && !c.is_whitespace() => {
                        named.insert(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            named.insert(ident(rest));
        }
    }
    named
}

/// A circle in `edges`, as the modules on it, if there is one.
fn find_circle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|p| p == m) {
            let mut circle = path[start..].to_vec();
            circle.push(m.to_owned());
            return Some(circle);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, path, done) {
                return Some(circle);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges.keys().find_map(|m| visit(m, edges, &mut Vec::new(), &mut done))
}

/// Which top-level module of a crate a file belongs to (`None` for `lib.rs` / `main.rs`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    match first.strip_suffix(".rs") {
        Some("lib" | "main") => None,
        Some(name) => Some(name.to_owned()),
        None => Some(first),
    }
}

#[test]
fn no_crate_has_a_circle_among_its_modules() {
    let mut checked = 0;
    for src in crate_sources() {
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let modules: BTreeSet<String> = files.iter().filter_map(|f| module_of(&src, f)).collect();
        let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for file in &files {
            let Some(module) = module_of(&src, file) else { continue };
            if file.file_name().is_some_and(|n| n == "tests.rs") {
                continue;
            }
            let code = code_of(&std::fs::read_to_string(file).unwrap());
            for named in crate_modules_named(&code) {
                if named != module && modules.contains(&named) {
                    edges.entry(module.clone()).or_default().insert(named);
                }
            }
        }
        if let Some(circle) = find_circle(&edges) {
            panic!("{}: the modules {} import each other in a circle", src.display(), circle.join(" → "));
        }
        checked += modules.len();
    }
    assert!(checked > 30, "only {checked} modules found: is the workspace where this test looks?");
}

#[test]
fn the_check_reads_paths_and_use_groups_and_finds_circles() {
    let code = "use crate::a::X;\nuse crate::{b::{Y, Z}, c};\nfn f() { crate::d::g(); }\n";
    let named: Vec<String> = crate_modules_named(code).into_iter().collect();
    assert_eq!(named, ["a", "b", "c", "d"]);
    let edges: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(find_circle(&edges), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    let mut line = edges.clone();
    line.remove("c");
    assert_eq!(find_circle(&line), None);
}
