//! The engine's import graph has no arrow from production code into test code: no production
//! file refers to `reference` (CPU references) or `testing` (the kernel test harness), which
//! compile only with the `testing` feature, and nothing under `model/` refers to `generate`
//! (the layer above it).
//!
//! Reads the sources, drops comments, string literals and `#[cfg(test)]` items, then resolves
//! every path the code names — `use` trees (nested braces, `self`, globs, renames) and inline
//! `crate::` / `super::` / `self::` paths — to a module path from the crate root. Resolving
//! instead of matching text means `super::super::reference`, `crate::{gpu, testing::poison}` and
//! `crate :: testing` are all caught. The self-test plants such lines and expects them caught.

mod source_files;

use std::path::{Path, PathBuf};

/// Test code, by module path from the crate root.
const TEST_MODULES: &[&str] = &["reference", "testing"];

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Path, // `::`
    Punct(char),
}

/// Rust tokens that can name a path; comments, literals and lifetimes are dropped.
fn lex(src: &str) -> Vec<Tok> {
    let s: Vec<char> = src.chars().collect();
    let (mut i, mut out) = (0, Vec::new());
    while i < s.len() {
        let c = s[i];
        let next = s.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' || (c == 'r' && matches!(next, Some('"' | '#'))) {
            i = skip_string(&s, i);
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let close = (i + 2..s.len().min(i + 12)).find(|&j| s[j] == '\'' && s[j - 1] != '\\');
            i = match close {
                Some(j) if s[i + 1] == '\\' || j == i + 2 => j + 1,
                _ => i + 1,
            };
        } else if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].iter().collect()));
        } else if c == ':' && next == Some(':') {
            out.push(Tok::Path);
            i += 2;
        } else {
            out.push(Tok::Punct(c));
            i += 1;
        }
    }
    out
}

/// Index past the string literal (plain or raw, any number of `#`) that starts at `i`.
fn skip_string(s: &[char], mut i: usize) -> usize {
    if s[i] == 'r' {
        let hashes = s[i + 1..].iter().take_while(|&&c| c == '#').count();
        i += 2 + hashes; // past r, the hashes and the quote
        while i < s.len() {
            if s[i] == '"'
                && s[i + 1..]
                    .iter()
                    .take(hashes)
                    .filter(|&&c| c == '#')
                    .count()
                    == hashes
            {
                return i + 1 + hashes;
            }
            i += 1;
        }
        return i;
    }
    i += 1;
    while i < s.len() && s[i] != '"' {
        i += if s[i] == '\\' { 2 } else { 1 };
    }
    i + 1
}

/// Drops each item marked `#[cfg(test)]`: up to its `;` or the end of its `{ … }` block.
fn strip_cfg_test(toks: Vec<Tok>) -> Vec<Tok> {
    let attr: Vec<Tok> = lex("#[cfg(test)]");
    let (mut out, mut i) = (Vec::new(), 0);
    while i < toks.len() {
        if !toks[i..].starts_with(&attr) {
            out.push(toks[i].clone());
            i += 1;
            continue;
        }
        let mut depth = 0;
        while i < toks.len() {
            match toks[i] {
                Tok::Punct('{') => depth += 1,
                Tok::Punct('}') => depth -= 1,
                _ => {}
            }
            i += 1;
            if depth == 0 && matches!(toks[i - 1], Tok::Punct(';' | '}')) {
                break;
            }
        }
    }
    out
}

fn ident(t: Option<&Tok>) -> Option<&str> {
    match t {
        Some(Tok::Ident(s)) => Some(s),
        _ => None,
    }
}

/// The paths one `use` tree names, each as its segments (`use a::{b, c::d}` → a::b, a::c::d).
fn use_tree(toks: &[Tok], i: &mut usize, prefix: &[String], out: &mut Vec<Vec<String>>) {
    let mut path = prefix.to_vec();
    loop {
        match toks.get(*i) {
            Some(Tok::Path) => *i += 1,
            Some(Tok::Ident(s)) if s == "as" => *i += 2, // the rename names no module
            Some(Tok::Ident(s)) => {
                path.push(s.clone());
                *i += 1;
            }
            Some(Tok::Punct('{')) => {
                *i += 1;
                while !matches!(toks.get(*i), None | Some(Tok::Punct('}'))) {
                    use_tree(toks, i, &path, out);
                    if toks.get(*i) == Some(&Tok::Punct(',')) {
                        *i += 1;
                    }
                }
                *i += 1;
                return;
            }
            Some(Tok::Punct('*')) => *i += 1,
            _ => break,
        }
    }
    out.push(path);
}

/// Every path the tokens name: `use` trees and inline paths rooted at crate / super / self.
fn paths(toks: &[Tok]) -> Vec<(bool, Vec<String>)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if ident(toks.get(i)) == Some("use") {
            i += 1;
            let mut trees = Vec::new();
            use_tree(toks, &mut i, &[], &mut trees);
            out.extend(trees.into_iter().map(|p| (true, p)));
            continue;
        }
        let rooted = matches!(ident(toks.get(i)), Some("crate" | "super" | "self"));
        let after_path = i > 0 && toks[i - 1] == Tok::Path;
        if rooted && !after_path && toks.get(i + 1) == Some(&Tok::Path) {
            let mut p = vec![ident(toks.get(i)).unwrap_or_default().to_string()];
            while toks.get(i + 1) == Some(&Tok::Path) {
                match ident(toks.get(i + 2)) {
                    Some(s) => p.push(s.to_string()),
                    None => break,
                }
                i += 2;
            }
            out.push((false, p));
        }
        i += 1;
    }
    out
}

/// `path` as a module path from the crate root, seen from module `module`. A `use` path with
/// no root keyword is relative to `module` (2018 paths); others (std::…, wgpu::…) stay as
/// they are and never name a crate module at the root.
fn resolve(module: &[String], is_use: bool, path: &[String]) -> Vec<String> {
    let mut at: Vec<String> = module.to_vec();
    let mut segs = path.iter().peekable();
    match segs.peek().map(|s| s.as_str()) {
        Some("crate" | "granite_engine") => at.clear(),
        Some("super" | "self") => {}
        _ if is_use && module.is_empty() => {}
        _ => return path.to_vec(),
    }
    for s in segs {
        match s.as_str() {
            "crate" | "granite_engine" => at.clear(),
            "self" => {}
            "super" => {
                at.pop();
            }
            _ => at.push(s.clone()),
        }
    }
    at
}

/// A file's module path: `src/kernels/mamba/mod.rs` → kernels::mamba, `src/lib.rs` → root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut m: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().into_owned())
        .collect();
    let file = m.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib") {
        m.push(stem.to_string());
    }
    m
}

/// The forbidden references of one file (`rel` is its path under `src/`).
fn violations(rel: &Path, src: &str) -> Vec<String> {
    let module = module_of(rel);
    if module
        .first()
        .is_some_and(|m| TEST_MODULES.contains(&m.as_str()))
    {
        return Vec::new(); // test code may use test code
    }
    let mut bad = Vec::new();
    for (is_use, path) in paths(&strip_cfg_test(lex(src))) {
        let target = resolve(&module, is_use, &path);
        let first = target.first().map(String::as_str).unwrap_or_default();
        let why = if TEST_MODULES.contains(&first) {
            "production code refers to test code"
        } else if module.first().is_some_and(|m| m == "model") && first == "generate" {
            "model refers to generate, the layer above it"
        } else {
            continue;
        };
        bad.push(format!("{}: `{}`: {why}", rel.display(), path.join("::")));
    }
    bad
}

fn engine_sources() -> Vec<(PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let read = |path: PathBuf| {
        let text = std::fs::read_to_string(&path).expect("source is readable");
        let rel = path.strip_prefix(&src).expect("under src/").to_path_buf();
        (rel, text)
    };
    source_files::files_under("src", "rs")
        .into_iter()
        .map(read)
        .collect()
}

#[test]
fn production_code_does_not_import_test_code_and_model_does_not_import_generate() {
    let files = engine_sources();
    // The scan must cover the layers it guards, or it could pass by reading nothing.
    for dir in ["kernels", "model", "gpu", "generate", "model_files"] {
        let n = files.iter().filter(|(p, _)| p.starts_with(dir)).count();
        assert!(n > 0, "no source files found under src/{dir}");
    }
    let bad: Vec<String> = files.iter().flat_map(|(p, s)| violations(p, s)).collect();
    assert!(bad.is_empty(), "forbidden imports:\n{}", bad.join("\n"));
}

#[test]
fn lib_declares_the_test_modules_only_with_the_testing_feature() {
    let lib = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/lib.rs"))
        .expect("lib.rs is readable");
    let lines: Vec<&str> = lib.lines().collect();
    for m in TEST_MODULES {
        let at = lines
            .iter()
            .position(|l| l.trim() == format!("pub mod {m};"))
            .unwrap_or_else(|| panic!("lib.rs declares no `pub mod {m};`"));
        let attr = at
            .checked_sub(1)
            .map(|i| lines[i].trim())
            .unwrap_or_default();
        assert!(
            attr.starts_with("#[cfg(") && attr.contains("feature = \"testing\""),
            "`pub mod {m};` is not gated on the testing feature (line before: `{attr}`)"
        );
    }
}

#[test]
fn the_checker_catches_planted_imports_and_ignores_comments_strings_and_unit_tests() {
    let planted = [
        (
            "kernels/mamba/mod.rs",
            "use crate::reference::mamba::MambaHostWeights;",
        ),
        (
            "kernels/moe/mod.rs",
            "use crate::{gpu::Gpu, testing::poison};",
        ),
        ("kernels/moe/mod.rs", "use super::super::testing as t;"),
        (
            "kernels/attention/write.rs",
            "let v = crate :: reference::attention::rope(x);",
        ),
        (
            "gpu/recorder.rs",
            "fn f() { super::super::testing::poison(g, b) }",
        ),
        (
            "model/mod.rs",
            "let n = crate::generate::prefill_chunk(gpu);",
        ),
        (
            "model/mamba.rs",
            "use super::super::{generate::PREFILL_CHUNK, gpu};",
        ),
        ("lib.rs", "use reference::norm::rmsnorm;"),
        ("bench.rs", "use self::super::testing::Rng;"),
    ];
    for (file, line) in planted {
        let found = violations(Path::new(file), line);
        assert_eq!(found.len(), 1, "{file}: `{line}` gave {found:?}");
    }
    let clean = r##"
        // use crate::reference::mamba;
        /* crate::testing::poison(gpu, b) /* nested */ crate::reference */
        const A: &str = "crate::testing::poison";
        const B: &str = r#"use crate::reference::x;"#;
        fn f<'a>(c: char) -> bool { c == '"' || c == '\'' }
        use crate::gpu::{Gpu, shaders::{self, Variant}};
        #[cfg(test)]
        mod tests {
            use crate::testing::for_each_path;
            fn g() { crate::reference::norm::rmsnorm(&[], &[], 0, 0.0); }
        }
        pub fn h() -> crate::Result<()> { crate::kernels::linear::x() }
    "##;
    let found = violations(Path::new("kernels/linear.rs"), clean);
    assert!(found.is_empty(), "false positives: {found:?}");
    // Test code itself may use test code.
    let own = "use crate::testing::Rng; use super::attention::rope;";
    assert!(violations(Path::new("reference/mamba.rs"), own).is_empty());
}
