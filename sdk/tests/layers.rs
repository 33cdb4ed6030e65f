//! The sdk's layers import only downward: each top-level module of `sdk/src` (a folder) uses only the layers
//! listed before it, no module imports itself back through others, and there are at most seven layers. The
//! graph is read from the `use crate::` lines and `crate::` paths of the sources, so a new import that points
//! upward fails here, with the file that has it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The layers, lowest first, as `sdk/src/lib.rs` states them.
const LAYERS: &[&str] = &[
    "json",
    "model",
    "messages",
    "read",
    "decide",
    "output",
    "kubewarden",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("sdk/src is readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module a source file is (`model::settings` for `src/model/settings.rs`, `model` for
/// `src/model/mod.rs`).
fn module_of(src: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// The `crate::a::b` paths a file uses outside its tests, as module paths (`a::b`), with `{a, b}` groups
/// of `use crate::{...}` lines expanded one level.
fn imports(text: &str) -> BTreeSet<String> {
    // Outside tests and comments: a doc link to a higher layer is not an import.
    let code: String = text
        .split("#[cfg(test)]")
        .next()
        .unwrap_or_default()
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let code = code.as_str();
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if rest.starts_with('{') {
            let group = &rest[1..rest.find('}').unwrap_or(rest.len())];
            for item in group.split(',') {
                let item = item.trim();
                let head: String = item
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                if !head.is_empty() {
                    found.insert(head);
                }
            }
            continue;
        }
        let path: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
            .collect();
        found.insert(path);
    }
    found
}

fn layer_of(module: &str) -> &str {
    module.split("::").next().unwrap_or_default()
}

#[test]
fn layers_import_only_downward_without_cycles() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut upward = Vec::new();
    for file in &files {
        let module = module_of(&src, file);
        if module == "lib" {
            continue;
        }
        let text = std::fs::read_to_string(file).expect("readable");
        let rank = LAYERS.iter().position(|l| *l == layer_of(&module));
        assert!(
            rank.is_some(),
            "{} is in no layer: put it in one of {LAYERS:?}",
            file.display()
        );
        for path in imports(&text) {
            // The longest module that the path names (`model::settings::Settings` -> `model::settings`).
            let mut target = path.as_str();
            while !modules.contains(target) {
                match target.rsplit_once("::") {
                    Some((parent, _)) => target = parent,
                    None => break,
                }
            }
            if !modules.contains(target) || target == module {
                continue;
            }
            let target_rank = LAYERS.iter().position(|l| *l == layer_of(target));
            if target_rank > rank {
                upward.push(format!("{} uses crate::{path}", file.display()));
            }
            graph
                .entry(module.clone())
                .or_default()
                .insert(target.to_owned());
        }
    }
    assert!(
        upward.is_empty(),
        "imports that point up a layer:\n{}",
        upward.join("\n")
    );
    assert!(LAYERS.len() <= 7);

    // No cycle among the files either (a layer's modules import each other one way).
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, bool>,
        stack: &mut Vec<String>,
    ) {
        match state.get(node) {
            Some(true) => return,
            Some(false) => {
                let from = stack.iter().position(|n| n == node).unwrap_or(0);
                panic!("import cycle: {} -> {node}", stack[from..].join(" -> "));
            }
            None => {}
        }
        state.insert(node.to_owned(), false);
        stack.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            // A module's own submodules and its parent are one unit: `a` declares `a::b`.
            if next.starts_with(&format!("{node}::")) || node.starts_with(&format!("{next}::")) {
                continue;
            }
            visit(next, graph, state, stack);
        }
        stack.pop();
        state.insert(node.to_owned(), true);
    }
    let mut state = BTreeMap::new();
    for node in graph.keys() {
        visit(node, &graph, &mut state, &mut Vec::new());
    }
}
