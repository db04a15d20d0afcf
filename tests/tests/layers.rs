//! The layers of echo-core and echo-std, as docs/DESIGN.md draws them, held
//! against the code: every `crate::` or `super::` path a source file names
//! is an import of the module that defines it, and
//!
//! - a module imports only modules listed below it (no upward import, so
//!   no circle between the layers);
//! - within a folder, the files import each other in no circle (a file and
//!   its folder's `mod.rs` are one unit: the folder's own type and its
//!   parts);
//! - every module is listed, so the list stays the map.
//!
//! It reads the sources as text (comments and string literals removed),
//! which is what the check needs: a path in code is an import, whether in a
//! `use` line or written out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// echo-core's top-level modules, from the top layer down.
const CORE: &[&str] = &[
    "lib",
    "scheduler",
    "runtime",
    "room",
    "timer",
    "recorder",
    "idle",
    "deque",
    "inject",
    "task",
    "inbox",
    "slab",
    "metrics",
    "config",
    "priority",
    "platform",
    "rng",
    "spin",
    "padded",
    "sync",
];

/// echo-std's top-level modules, from the top layer down.
const STD: &[&str] = &[
    "lib",
    "hyper",
    "macro_support",
    "timeline",
    "runtime",
    "task",
    "blocking",
    "tokio_bridge",
    "time",
    "context",
    "console",
    "host",
];

/// Test-only files, left out of the map (`#[cfg(test)]` modules).
const TEST_FILES: &[&str] = &["tests", "test_host", "model_host"];

/// A source file: its module path (`runtime::worker`; a folder's `mod.rs`
/// is the folder's path; `lib.rs` is `lib`).
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(root).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.last().map(String::as_str) == Some("mod") {
        parts.pop();
    }
    parts
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
            if !TEST_FILES.contains(&stem.as_str()) {
                out.push(path);
            }
        }
    }
}

/// The text with comments, string and char literals blanked out, and
/// without the file's unit tests (a `#[cfg(...test...)]` module at its end,
/// the crate's convention).
fn code_only(text: &str) -> String {
    let text = match text
        .find("\nmod tests {")
        .or_else(|| text.find("\nmod tests{"))
    {
        Some(at) => text[..at]
            .rsplit_once("#[cfg(")
            .map_or(text, |(code, _)| code),
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('x' or '\n'); lifetimes have no closing quote.
            i += 1;
            while i < b.len() && b[i] != b'\'' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every path after `crate::` in `code`, with `use` groups expanded.
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `$crate::` or an identifier ending in `crate`
        }
        expand(rest, Vec::new(), &mut out);
    }
    out
}

/// Every path after `super::` in `code`, a file of module `from`, made
/// absolute (`super` is the module above the file's; a chain of them goes
/// up one each). An inline module's `super` is taken as the file's, which
/// only adds paths that resolve to nothing.
fn super_paths(code: &str, from: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("super::") {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + "super::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // the second of `super::super::`, or part of a name
        }
        let mut up = 1;
        while let Some(more) = rest.strip_prefix("super::") {
            rest = more;
            up += 1;
        }
        let Some(base) = from.len().checked_sub(up) else {
            continue;
        };
        expand(rest, from[..base].to_vec(), &mut out);
    }
    out
}

/// Expands the path at the start of `s` (after a `::`), pushing each full
/// path onto `out`.
fn expand(s: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let s = s.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut start = 0;
        for (i, c) in group.char_indices() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    return;
                }
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&group[start..i], prefix.clone(), out);
                    start = i + 1;
                }
                _ => {}
            }
        }
        return;
    }
    let ident: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    if ident.is_empty() {
        if !prefix.is_empty() {
            out.push(prefix);
        }
        return;
    }
    let mut path = prefix;
    path.push(ident.clone());
    let after = &s[ident.len()..];
    match after.strip_prefix("::") {
        Some(next) => expand(next, path, out),
        None => out.push(path),
    }
}

/// The module a path names: its longest prefix that is a module of the
/// crate; a name re-exported at the root resolves to where it comes from.
fn resolve(
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
    root_reexports: &BTreeMap<String, Vec<String>>,
) -> Option<Vec<String>> {
    for len in (1..=path.len()).rev() {
        if modules.contains(&path[..len]) {
            return Some(path[..len].to_vec());
        }
    }
    root_reexports.get(path.first()?).cloned()
}

/// Checks one crate; returns the problems found.
///
/// Paths are `crate::` and `super::` paths; `self::` paths name a file's
/// own submodules, which are below it.
fn check(root: &Path, layers: &[&str]) -> Vec<String> {
    let mut files = Vec::new();
    sources(root, &mut files);
    let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(root, f)).collect();
    let lib = code_only(&fs::read_to_string(root.join("lib.rs")).unwrap());
    // `pub use a::b::{X, Y}` at the root: X and Y come from a::b.
    let mut root_reexports = BTreeMap::new();
    for line in lib.split(';') {
        let line = line.trim();
        if let Some(path) = line.strip_prefix("pub use ") {
            let mut paths = Vec::new();
            expand(path, Vec::new(), &mut paths);
            for p in paths {
                if let (Some(name), Some(module)) = (
                    p.last(),
                    resolve(&p[..p.len() - 1], &modules, &BTreeMap::new()),
                ) {
                    root_reexports.insert(name.clone(), module);
                }
            }
        }
    }
    let rank = |m: &[String]| -> Option<usize> {
        let top = m.first().map_or("lib", String::as_str);
        layers.iter().position(|l| *l == top)
    };
    let mut problems = Vec::new();
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for file in &files {
        let from = module_of(root, file);
        let Some(from_rank) = rank(&from) else {
            problems.push(format!(
                "{}: module `{}` is not in the layer list",
                root.display(),
                from.join("::")
            ));
            continue;
        };
        let code = code_only(&fs::read_to_string(file).unwrap());
        let mut paths = crate_paths(&code);
        paths.extend(super_paths(&code, &from));
        for path in paths {
            let Some(to) = resolve(&path, &modules, &root_reexports) else {
                continue;
            };
            if to == from || to.is_empty() {
                continue;
            }
            let to_rank = rank(&to).unwrap_or(usize::MAX);
            if from.first() != to.first() && to_rank < from_rank {
                problems.push(format!(
                    "{}: `{}` imports `crate::{}` from the layer above it",
                    file.display(),
                    from.join("::"),
                    path.join("::")
                ));
            }
            edges.entry(from.clone()).or_default().insert(to);
        }
    }
    // Circles among the files of one folder (a folder's mod.rs and its
    // files are one unit, so edges to or from the folder itself are left
    // out, and so are edges into other folders).
    let sibling = |a: &Vec<String>, b: &Vec<String>| {
        a.len() == b.len() && a.len() > 1 && a[..a.len() - 1] == b[..b.len() - 1]
    };
    let graph: BTreeMap<&Vec<String>, Vec<&Vec<String>>> = edges
        .iter()
        .map(|(a, tos)| (a, tos.iter().filter(|b| sibling(a, b)).collect()))
        .collect();
    let mut state: BTreeMap<&Vec<String>, u8> = BTreeMap::new();
    fn visit<'a>(
        n: &'a Vec<String>,
        graph: &BTreeMap<&'a Vec<String>, Vec<&'a Vec<String>>>,
        state: &mut BTreeMap<&'a Vec<String>, u8>,
        stack: &mut Vec<&'a Vec<String>>,
        problems: &mut Vec<String>,
    ) {
        state.insert(n, 1);
        stack.push(n);
        for &m in graph.get(n).into_iter().flatten() {
            match state.get(m) {
                Some(1) => {
                    let at = stack.iter().position(|x| *x == m).unwrap();
                    let circle: Vec<String> = stack[at..].iter().map(|x| x.join("::")).collect();
                    problems.push(format!(
                        "import circle: {} -> {}",
                        circle.join(" -> "),
                        m.join("::")
                    ));
                }
                Some(_) => {}
                None => visit(m, graph, state, stack, problems),
            }
        }
        stack.pop();
        state.insert(n, 2);
    }
    for n in graph.keys() {
        if !state.contains_key(n) {
            visit(n, &graph, &mut state, &mut Vec::new(), &mut problems);
        }
    }
    problems
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

#[test]
fn echo_core_imports_run_down_its_layers() {
    let problems = check(&repo().join("echo-core/src"), CORE);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn echo_std_imports_run_down_its_layers() {
    let problems = check(&repo().join("echo-std/src"), STD);
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

/// The check itself: an upward import and a circle are found.
#[test]
fn the_check_finds_an_upward_import_and_a_circle() {
    let dir = std::env::temp_dir().join(format!("echo-layers-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(dir.join("a")).unwrap();
    // A trailing comma in a group, as rustfmt leaves multi-line ones.
    fs::write(dir.join("lib.rs"), "mod a; mod b; pub use b::{Thing,};").unwrap();
    fs::write(dir.join("a/mod.rs"), "mod x; mod y; use crate::b::Thing;").unwrap();
    fs::write(dir.join("a/x.rs"), "use crate::a::y::Y; pub struct X;").unwrap();
    // A sibling named through `super::` is an import too.
    fs::write(dir.join("a/y.rs"), "use super::{x::X}; pub struct Y;").unwrap();
    // b is below a, and imports it: upward. (A comment naming crate::a
    // is not an import.)
    fs::write(
        dir.join("b.rs"),
        "// crate::a::x\npub struct Thing(crate::a::x::X);",
    )
    .unwrap();
    let problems = check(&dir, &["lib", "a", "b"]);
    let _ = fs::remove_dir_all(&dir);
    assert!(
        problems
            .iter()
            .any(|p| p.contains("`b` imports `crate::a::x::X`")),
        "{problems:?}"
    );
    assert!(
        problems
            .iter()
            .any(|p| p.contains("import circle: a::x -> a::y -> a::x")),
        "{problems:?}"
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
}
