//! The crate's files import each other without circles: a file that another file
//! imports from never imports from that file, directly or through others. Read
//! from the source's `use` declarations and `crate::`/`super::` paths, with
//! re-exports followed to the file that defines the name, so a module root that
//! re-exports its parts does not count as a part itself.
#![cfg(not(any(loom, miri)))] // reads the source tree

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A source file, by its module path (`engine::snapshot::load`).
type Module = Vec<String>;

fn modules(src: &Path) -> BTreeMap<Module, String> {
    let mut found = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative: PathBuf = path.strip_prefix(src).unwrap().with_extension("");
            let mut module: Module = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if module == ["lib"] {
                module.clear();
            }
            found.insert(module, std::fs::read_to_string(&path).unwrap());
        }
    }
    found
}

/// The source without comments and string literals' contents, roughly: enough to
/// keep doc examples and messages from looking like imports.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| {
            let trimmed = line.trim_start();
            if trimmed.starts_with("//") {
                ""
            } else {
                line.split("//").next().unwrap_or("")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Every path a file names: `use` trees expanded, and `crate::`/`super::` paths in
/// expressions.
fn paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(start) = rest.find("use ") {
        let before = &rest[..start];
        rest = &rest[start + 4..];
        if before
            .chars()
            .last()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            continue;
        }
        // A re-export is what a file offers, not what it uses: paths through it are
        // followed to the defining file instead.
        if before.ends_with("pub ") || before.ends_with("pub(crate) ") {
            if let Some(end) = rest.find(';') {
                rest = &rest[end..];
            }
            continue;
        }
        let Some(end) = rest.find(';') else { break };
        expand(
            &rest[..end].replace(char::is_whitespace, ""),
            Vec::new(),
            &mut out,
        );
        rest = &rest[end..];
    }
    let code: String = code
        .split(';')
        .filter(|statement| {
            let statement = statement.trim_start();
            !(statement.starts_with("pub use ") || statement.starts_with("pub(crate) use "))
        })
        .collect::<Vec<_>>()
        .join(";");
    for prefix in ["crate::", "super::"] {
        let mut rest = code.as_str();
        while let Some(start) = rest.find(prefix) {
            rest = &rest[start..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                .unwrap_or(rest.len());
            let path: Vec<String> = rest[..end]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
            // A path ending in `::` opens a use tree (`crate::engine::{a, b}`),
            // which the `use` pass expanded.
            if !rest[..end].ends_with("::") {
                out.push(path);
            }
            rest = &rest[end.max(1)..];
        }
    }
    out
}

/// Expands a `use` tree (`a::{b, c::{d, e}}`) into its paths.
fn expand(tree: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Some(open) = tree.find('{') {
        let mut head = prefix;
        head.extend(
            tree[..open]
                .split("::")
                .filter(|s| !s.is_empty())
                .map(str::to_owned),
        );
        let inner = &tree[open + 1..tree.len() - 1];
        let mut depth = 0;
        let mut from = 0;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&inner[from..i], head.clone(), out);
                    from = i + 1;
                }
                _ => {}
            }
        }
        expand(&inner[from..], head, out);
    } else if !tree.is_empty() {
        let mut path = prefix;
        let tree = tree.split(" as ").next().unwrap_or(tree);
        path.extend(tree.split("::").map(str::to_owned));
        out.push(path);
    }
}

/// The file a path leads to from `module`: the longest prefix that is a file, and
/// for a name that file only re-exports, the file it comes from.
fn resolve(
    modules: &BTreeMap<Module, String>,
    module: &Module,
    path: &[String],
    depth: usize,
) -> Option<Module> {
    let mut absolute: Module = match path.first().map(String::as_str) {
        Some("crate") => Vec::new(),
        Some("super") => module[..module.len().saturating_sub(1)].to_vec(),
        Some("self") => module.clone(),
        Some(first) if modules.contains_key(&[module.clone(), vec![first.to_owned()]].concat()) => {
            module.clone()
        }
        _ => return None, // std, other crates, local names
    };
    let skip = usize::from(matches!(
        path.first().map(String::as_str),
        Some("crate" | "super" | "self")
    ));
    let mut name = None;
    for segment in &path[skip..] {
        if segment == "super" {
            absolute.pop();
            continue;
        }
        let mut next = absolute.clone();
        next.push(segment.clone());
        if modules.contains_key(&next) {
            absolute = next;
        } else {
            name = Some(segment.clone());
            break;
        }
    }
    if let (Some(name), true) = (name, depth < 4) {
        // A re-export: follow it to where the name is defined.
        let text = code(&modules[&absolute]);
        for line in text.split(';') {
            let line = line.trim();
            let Some(tree) = line
                .strip_prefix("pub use ")
                .or(line.strip_prefix("pub(crate) use "))
            else {
                continue;
            };
            let mut reexported = Vec::new();
            expand(
                &tree.replace(char::is_whitespace, ""),
                Vec::new(),
                &mut reexported,
            );
            for path in reexported.iter().filter(|p| p.last() == Some(&name)) {
                if let Some(found) = resolve(modules, &absolute, path, depth + 1) {
                    return Some(found);
                }
            }
        }
    }
    Some(absolute)
}

#[test]
fn no_file_of_the_crate_imports_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let modules = modules(&src);
    let mut arrows: BTreeMap<Module, BTreeSet<Module>> = BTreeMap::new();
    for (module, text) in &modules {
        let code = code(text);
        // Tests inside a file may reach anywhere.
        let code = code.split("#[cfg(test)]").next().unwrap_or(&code);
        let code = code.split("#[cfg(all(test").next().unwrap_or(code);
        for path in paths(code) {
            if let Some(target) = resolve(&modules, module, &path, 0) {
                if &target != module {
                    arrows.entry(module.clone()).or_default().insert(target);
                }
            }
        }
    }
    if std::env::var_os("SEQLANE_STRUCTURE_DEBUG").is_some() {
        for (from, to) in &arrows {
            eprintln!("{from:?} -> {to:?}");
        }
    }
    // A depth-first search for a path back to where it started.
    fn circle(
        arrows: &BTreeMap<Module, BTreeSet<Module>>,
        at: &Module,
        trail: &mut Vec<Module>,
        done: &mut BTreeSet<Module>,
    ) -> Option<Vec<Module>> {
        if let Some(start) = trail.iter().position(|m| m == at) {
            return Some(trail[start..].to_vec());
        }
        if !done.insert(at.clone()) {
            return None;
        }
        trail.push(at.clone());
        for next in arrows.get(at).into_iter().flatten() {
            if let Some(found) = circle(arrows, next, trail, done) {
                return Some(found);
            }
        }
        trail.pop();
        None
    }
    let mut done = BTreeSet::new();
    for module in modules.keys() {
        if let Some(found) = circle(&arrows, module, &mut Vec::new(), &mut done) {
            let names: Vec<String> = found
                .iter()
                .map(|m| {
                    if m.is_empty() {
                        "lib".to_owned()
                    } else {
                        m.join("::")
                    }
                })
                .collect();
            panic!("an import circle: {}", names.join(" -> "));
        }
    }
    assert!(
        arrows.len() > 20,
        "the scan found too few imports: {arrows:?}"
    );
}
