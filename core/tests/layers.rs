//! The layer rule of `dyntag-core` (see the crate's top doc comment): a module imports only
//! from its own layer or from the layers before it. Every `crate::` and `super::` path in the
//! sources is resolved to the layer it names; one that runs back up fails the test, naming
//! the file, the line and the path.

use std::path::{Path, PathBuf};

/// The layers, lowest first.
const LAYERS: [&str; 4] = ["store", "model", "scoring", "service"];

/// The items the crate root re-exports (`pub use <module>::…` in `lib.rs`), with the layer
/// they come from; `None` for `error`, which every layer shares. Read from `lib.rs` itself,
/// so a new re-export cannot open a path around the rule.
fn root_items(lib: &str) -> Vec<(String, Option<&'static str>)> {
    let mut out = vec![("error".to_string(), None)];
    for statement in lib.split(';') {
        let Some(rest) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let Some((module, items)) = rest.split_once("::") else {
            continue;
        };
        let layer = rank(module.trim()).map(|i| LAYERS[i]);
        let items = items.trim().trim_start_matches('{').trim_end_matches('}');
        for item in items.split(',') {
            // `a::b::Name` or `Name as Alias`: the name the root exports.
            let item = item.trim();
            let name = item
                .rsplit(" as ")
                .next()
                .unwrap_or(item)
                .rsplit("::")
                .next()
                .unwrap_or(item)
                .trim();
            if !name.is_empty() {
                out.push((name.to_string(), layer));
            }
        }
    }
    out
}

fn rank(layer: &str) -> Option<usize> {
    LAYERS.iter().position(|l| *l == layer)
}

/// The module path of a source file: `model/tags/mod.rs` → `[model, tags]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    if file != "mod.rs" && file != "lib.rs" {
        parts.push(file.trim_end_matches(".rs").to_string());
    }
    parts
}

/// The layer a path from the crate root names, `None` for shared or unknown items.
fn layer_of_root_path(
    first: &str,
    roots: &[(String, Option<&'static str>)],
) -> Option<&'static str> {
    if let Some(i) = rank(first) {
        return Some(LAYERS[i]);
    }
    roots
        .iter()
        .find(|(name, _)| name == first)
        .and_then(|(_, layer)| *layer)
}

/// The first segments of the paths a `crate::…` or `super::…` use names, after `start`
/// (the text right after `crate::` or after the chain of `super::`). A group
/// `{a::x, b}` names `a` and `b`.
fn first_segments(start: &str) -> Vec<String> {
    let s = start.trim_start();
    if let Some(group) = s.strip_prefix('{') {
        let mut depth = 0;
        let mut item = String::new();
        let mut out = Vec::new();
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    out.push(std::mem::take(&mut item));
                    continue;
                }
                _ => {}
            }
            item.push(c);
        }
        out.push(item);
        return out
            .iter()
            .filter_map(|i| first_segments(i).into_iter().next())
            .filter(|s| !s.is_empty() && s != "self")
            .collect();
    }
    let word: String = s
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    vec![word]
}

/// The violations of the layer rule in one file's `source`, whose module path is `module`.
fn violations(
    module: &[String],
    source: &str,
    roots: &[(String, Option<&'static str>)],
) -> Vec<String> {
    let Some(own) = module.first().and_then(|m| rank(m)) else {
        return Vec::new(); // lib.rs, error.rs: the root may name every layer
    };
    // Joined so that a `use crate::{…}` group over several lines reads as one.
    let code: String = source
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .map(|(n, l)| format!("{l} \u{1}{}\n", n + 1))
        .collect();
    let mut out = Vec::new();
    // An alias of the crate or of an ancestor would hide the paths below it.
    for alias in [
        "use crate as ",
        "use crate::{self as ",
        "use super::super as ",
    ] {
        if code.contains(alias) {
            out.push(format!(
                "`{}…` hides the layer of what it names",
                alias.trim()
            ));
        }
    }
    for (at, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        let before = code[..at].chars().last();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue; // `dyntag_core::…`, or the second `super::` of a chain
        }
        let mut rest = &code[at..];
        let base: Vec<String> = if let Some(r) = rest.strip_prefix("crate::") {
            rest = r;
            Vec::new()
        } else {
            let mut up = 0;
            while let Some(r) = rest.strip_prefix("super::") {
                rest = r;
                up += 1;
            }
            module[..module.len().saturating_sub(up)].to_vec()
        };
        let line = code[at..]
            .split('\u{1}')
            .nth(1)
            .and_then(|s| s.split('\n').next())
            .unwrap_or("?")
            .to_string();
        let end = rest.char_indices().nth(2000).map_or(rest.len(), |(i, _)| i);
        let rest = without_line_marks(&rest[..end]);
        for first in first_segments(&rest) {
            let target = match base.first() {
                Some(layer) => rank(layer).map(|i| LAYERS[i]),
                None => layer_of_root_path(&first, roots),
            };
            if let Some(target) = target
                && rank(target).is_some_and(|t| t > own)
            {
                let shown = if base.is_empty() { "crate" } else { "super" };
                out.push(format!(
                    "line {line}: {shown}::{first}… names the {target} layer, above {}",
                    LAYERS[own]
                ));
            }
        }
    }
    out
}

/// `text` without the line numbers `violations` appends to each line.
fn without_line_marks(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_mark = false;
    for c in text.chars() {
        match c {
            '\u{1}' => in_mark = true,
            '\n' => {
                in_mark = false;
                out.push(c);
            }
            _ if !in_mark => out.push(c),
            _ => {}
        }
    }
    out
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source folder") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_module_imports_from_a_layer_above_its_own() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &mut files);
    files.sort();
    let roots = root_items(&std::fs::read_to_string(root.join("lib.rs")).expect("lib.rs"));
    assert!(
        roots
            .iter()
            .any(|(name, layer)| name == "Catalog" && *layer == Some("service")),
        "the re-exports of lib.rs were not read: {roots:?}"
    );
    let mut found = Vec::new();
    let mut per_layer = [0usize; 4];
    for f in &files {
        let relative = f.strip_prefix(&root).expect("under src");
        let module = module_path(relative);
        if let Some(i) = module.first().and_then(|m| rank(m)) {
            per_layer[i] += 1;
        }
        let source = std::fs::read_to_string(f).expect("readable source");
        for v in violations(&module, &source, &roots) {
            found.push(format!("{}: {v}", relative.display()));
        }
    }
    // The walk saw every layer (a rename of a folder would otherwise pass silently).
    for (layer, n) in LAYERS.iter().zip(per_layer) {
        assert!(n > 0, "no source file in layer folder '{layer}/'");
    }
    assert!(
        found.is_empty(),
        "imports that run back up the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_an_import_that_runs_back_up() {
    let roots = root_items(
        "pub use error::{CatalogError, Result};\npub use model::Modality;\npub use service::{\n    Catalog, CatalogConfig,\n};",
    );
    let violations = |m: &[String], s: &str| violations(m, s, &roots);
    let model = vec!["model".to_string(), "tags".to_string()];
    assert_eq!(
        violations(&model, "use crate::store::Store;\n"),
        Vec::<String>::new()
    );
    assert_eq!(
        violations(&model, "use super::names;\n"),
        Vec::<String>::new()
    );
    assert_eq!(
        violations(&model, "use crate::service::jobs::JobKey;\n"),
        vec!["line 1: crate::service… names the service layer, above model"]
    );
    // In a group over several lines, and through a root re-export.
    let grouped =
        "use crate::{\n    CatalogError,\n    scoring::head,\n};\nfn f(c: &crate::Catalog) {}\n";
    assert_eq!(
        violations(&model, grouped),
        vec![
            "line 1: crate::scoring… names the scoring layer, above model",
            "line 5: crate::Catalog… names the service layer, above model",
        ]
    );
    // `super::super` from model/tags/names reaches the model layer; from store/ it may
    // not reach the scoring layer.
    let names = vec!["model".into(), "tags".into(), "names".into()];
    assert!(violations(&names, "use super::super::dataset::now;\n").is_empty());
    // Comments are not imports.
    assert!(violations(&model, "/// see [`crate::service::jobs`]\n").is_empty());
    let store = vec!["store".to_string()];
    assert_eq!(
        violations(&store, "let x = crate::Modality::Visual;\n").len(),
        1
    );
    // An alias of the crate is refused.
    assert_eq!(violations(&store, "use crate as c;\n").len(), 1);
}
