//! The front ends (the CLI in src/, the viewer in viewer/src/, the server in server/src/)
//! reach the engine only through its front door: every `granite_engine::` path they name starts with an item the crate root
//! exports, never with one of the internal modules. (Without the `testing` feature those
//! modules are private and such a path would not compile; test builds enable the feature, so
//! this test keeps the rule where the compiler cannot.)
use std::path::{Path, PathBuf};

/// The engine's internal modules: public only with the `testing` feature.
const INTERNAL: [&str; 9] = [
    "bench",
    "error",
    "generate",
    "gpu",
    "kernels",
    "model",
    "model_files",
    "reference",
    "testing",
];

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

/// The first path segment of every `granite_engine::…` path in `src`, including each item of a
/// `granite_engine::{a, b::c}` group.
fn first_segments(src: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut out = Vec::new();
    for (at, _) in src.match_indices("granite_engine::") {
        let rest = src[at + "granite_engine::".len()..].trim_start();
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 0;
            let mut item_start = true;
            for (i, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => item_start = true,
                    c if item_start && !c.is_whitespace() => {
                        out.push(ident(&group[i..]));
                        item_start = false;
                    }
                    _ => {}
                }
            }
        } else {
            out.push(ident(rest));
        }
    }
    out
}

fn violations(src: &str) -> Vec<String> {
    first_segments(src)
        .into_iter()
        .filter(|s| INTERNAL.contains(&s.as_str()))
        .collect()
}

#[test]
fn front_ends_use_only_the_front_door() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    rust_files(&root.join("viewer/src"), &mut files);
    rust_files(&root.join("server/src"), &mut files);
    assert!(files.len() > 30, "found only {} files", files.len());
    let mut bad = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).unwrap();
        for v in violations(&src) {
            bad.push(format!("{}: granite_engine::{v}", f.display()));
        }
    }
    assert!(
        bad.is_empty(),
        "front ends reach past the front door:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_check_sees_planted_internal_paths() {
    let planted = "use granite_engine::gpu::Gpu;\n\
                   use granite_engine::{Engine, model_files::{Tokenizer, ChatTemplate}};\n\
                   let x = granite_engine::kernels::sampling::SamplingParams::default();";
    assert_eq!(violations(planted), ["gpu", "model_files", "kernels"]);
    let clean = "use granite_engine::{Engine, Input, inspect::report};\n\
                 fn f(e: granite_engine::Error) {}";
    assert!(violations(clean).is_empty(), "{:?}", violations(clean));
}

/// A server's scheduler thread owns the engine and its sessions; request handlers share the
/// engine's figures: the front door's types must cross threads.
#[test]
fn front_door_types_cross_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send_sync::<granite_engine::Engine>();
    send_sync::<granite_engine::Device>();
    send::<granite_engine::Session>();
    send::<granite_engine::Snapshot>();
    send_sync::<granite_engine::Event>();
    send_sync::<granite_engine::Error>();
}
