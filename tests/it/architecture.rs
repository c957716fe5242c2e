//! The house as the README draws it: no crate's files import each other in a circle, and the
//! facade's floors (each file above everything it imports) are the ones in the README's
//! "Architecture" section.
//!
//! Arrows are read from the source text: a path `crate::a::b` names the deepest file it reaches,
//! and `super::x` a sibling file. Test modules are left out: they may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every file of a crate's `src/` as a module path (`eval::splits`; a `mod.rs` is its folder),
/// with the text before its test module. `lib.rs` and `main.rs`, the roof, are left out.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            let name = if prefix.is_empty() {
                stem.clone()
            } else {
                format!("{prefix}::{stem}")
            };
            if path.is_dir() {
                walk(&path, &name, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).unwrap();
                let code = match text.find("#[cfg(test)]\nmod tests") {
                    Some(end) => text[..end].to_string(),
                    None => text,
                };
                let name = match stem.as_str() {
                    "lib" | "main" if prefix.is_empty() => continue,
                    "mod" => prefix.to_string(),
                    _ => name,
                };
                out.insert(name, code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, "", &mut out);
    out
}

/// The files each file imports.
fn arrows(modules: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !(c.is_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect()
    };
    modules
        .iter()
        .map(|(name, code)| {
            let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
            let mut to = BTreeSet::new();
            for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
                for (root, rest) in [("crate::", ""), ("super::", parent)] {
                    for (i, _) in line.match_indices(root) {
                        // The deepest module the path names.
                        let mut path = rest.to_string();
                        let mut found = None;
                        for word in words(&line[i + root.len()..]).into_iter().take(4) {
                            path = if path.is_empty() {
                                word
                            } else {
                                format!("{path}::{word}")
                            };
                            if modules.contains_key(&path) {
                                found = Some(path.clone());
                            }
                        }
                        if let Some(target) = found.filter(|t| t != name) {
                            to.insert(target);
                        }
                    }
                }
            }
            (name.clone(), to)
        })
        .collect()
}

/// A circle of imports, if there is one.
fn circle(arrows: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        arrows: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            return Some(path[start..].to_vec());
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in &arrows[node] {
            if let Some(found) = visit(next, arrows, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    arrows
        .keys()
        .find_map(|node| visit(node, arrows, &mut Vec::new(), &mut done))
}

/// Each file's floor: 1 for a file that imports none, else one above the highest it imports.
/// A house with a circle has no floors.
fn floors(arrows: &BTreeMap<String, BTreeSet<String>>) -> BTreeMap<usize, Vec<String>> {
    if let Some(found) = circle(arrows) {
        panic!("files import in a circle, so there are no floors: {found:?}");
    }
    fn floor(
        node: &str,
        arrows: &BTreeMap<String, BTreeSet<String>>,
        memo: &mut BTreeMap<String, usize>,
    ) -> usize {
        if let Some(&f) = memo.get(node) {
            return f;
        }
        let f = 1 + arrows[node]
            .iter()
            .map(|n| floor(n, arrows, memo))
            .max()
            .unwrap_or(0);
        memo.insert(node.to_string(), f);
        f
    }
    let mut memo = BTreeMap::new();
    let mut out: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for node in arrows.keys() {
        out.entry(floor(node, arrows, &mut memo))
            .or_default()
            .push(node.clone());
    }
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn no_crate_imports_in_a_circle() {
    let mut sources = vec![root().join("src")];
    for entry in std::fs::read_dir(root().join("crates")).unwrap() {
        sources.push(entry.unwrap().path().join("src"));
    }
    for src in sources {
        let modules = modules(&src);
        assert!(modules.len() > 2, "{}: no files read", src.display());
        if let Some(found) = circle(&arrows(&modules)) {
            panic!("{}: files import in a circle: {found:?}", src.display());
        }
    }
}

#[test]
fn the_readme_draws_the_facade_as_it_is() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Architecture")
        .nth(1)
        .expect("README has an Architecture section");
    let drawn: Vec<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("floor "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    let actual: Vec<String> = floors(&arrows(&modules(&root().join("src"))))
        .iter()
        .rev()
        .map(|(floor, files)| format!("{floor}: {}", files.join(" ")))
        .collect();
    assert_eq!(
        drawn, actual,
        "update the README's Architecture section (floors from the top down)"
    );
}

#[test]
fn a_circle_is_found() {
    let modules: BTreeMap<String, String> = [
        ("a", "use crate::b::X;"),
        ("b", "use crate::c::Y;"),
        ("c", "fn f() { crate::a::g() }"),
        ("d", "// crate::a in a comment is no arrow"),
    ]
    .into_iter()
    .map(|(n, c)| (n.to_string(), c.to_string()))
    .collect();
    let arrows = arrows(&modules);
    assert!(arrows["d"].is_empty());
    assert_eq!(circle(&arrows).unwrap(), ["a", "b", "c"]);
    let mut broken = modules.clone();
    broken.insert("c".into(), "fn f() {}".into());
    let arrows = self::arrows(&broken);
    assert_eq!(circle(&arrows), None);
    assert_eq!(floors(&arrows)[&3], ["a"]);
}
