//! Every loop in our shaders ends. Pipelines are built without wgpu's loop bounding
//! (`gpu/pipelines.rs`), which is sound only if no loop can run forever: a driver may treat an
//! endless loop as unreachable. This audits the WGSL source: loops are `for` loops only, and
//! each steps by a non-zero constant, halves down to zero, doubles up from one, or steps by a
//! Params field whose launcher keeps it non-zero (listed below with the reason).

mod source_files;

use std::path::PathBuf;

/// Steps read from Params, by shader, and why each is never zero.
const PARAM_STEPS: &[(&str, &str, &str)] = &[
    (
        "attention_decode.wgsl",
        "+= p.tph",
        "attend.rs: tph = 256 / g.next_power_of_two() with g ≤ DECODE_HEADS (8)",
    ),
    (
        "attention_decode.wgsl",
        "+= p.kt",
        "attend.rs: kt is 1, or a power of two in 1..=8",
    ),
    (
        "attention_decode.wgsl",
        "+= WG / p.kt",
        "attend.rs: kt ≤ 8 < WG (256)",
    ),
];

fn shader_files() -> Vec<PathBuf> {
    source_files::files_under("../shaders", "wgsl")
}

/// The text between `for (` and its matching `)`.
fn for_headers(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(at) = rest.find("for (") {
        let body = &rest[at + 5..];
        let mut depth = 1;
        let end = body
            .char_indices()
            .find(|&(_, c)| {
                depth += match c {
                    '(' => 1,
                    ')' => -1,
                    _ => 0,
                };
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("unbalanced `for (`");
        out.push(body[..end].to_string());
        rest = &body[end..];
    }
    out
}

fn is_constant(step: &str) -> bool {
    let literal = step.trim_end_matches('u');
    let upper = |s: &str| {
        s.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            && s.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
    };
    literal.parse::<u32>().is_ok_and(|n| n > 0) || upper(step)
}

/// Why the loop `init; cond; update` in `file` ends, or `None`.
fn ends(file: &str, header: &str) -> Option<&'static str> {
    let parts: Vec<&str> = header.split(';').map(str::trim).collect();
    let [init, cond, update] = parts[..] else {
        return None;
    };
    let var = update.split([' ', '+', '>', '<']).next()?;
    let op = update[var.len()..].trim();
    if op == "++" {
        return Some("steps by 1");
    }
    if let Some(step) = op.strip_prefix("+= ") {
        if is_constant(step) {
            return Some("steps by a constant");
        }
        return PARAM_STEPS
            .iter()
            .find(|(f, s, _)| *f == file && *s == op)
            .map(|(_, _, why)| *why);
    }
    if op == ">>= 1u" && cond == format!("{var} > 0u") {
        return Some("halves down to zero");
    }
    if op == "<<= 1u" && init.ends_with("= 1u") && cond.starts_with(&format!("{var} < ")) {
        return Some("doubles up from one to a small bound");
    }
    None
}

#[test]
fn every_shader_loop_ends() {
    let files = shader_files();
    assert!(files.len() > 20, "found only {} shaders", files.len());
    let mut loops = 0;
    let mut bad = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let src = std::fs::read_to_string(path).unwrap();
        // Comments may say "loop"; code may not use `loop {` or `while`.
        for (n, line) in src.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("loop {") || code.contains("while ") || code.contains("while(") {
                bad.push(format!(
                    "{name}:{}: a `loop`/`while` (use a bounded `for`)",
                    n + 1
                ));
            }
        }
        for header in for_headers(&src) {
            loops += 1;
            if ends(&name, &header).is_none() {
                bad.push(format!("{name}: `for ({header})` may not end"));
            }
        }
    }
    assert!(
        loops > 150,
        "found only {loops} loops: is the parser broken?"
    );
    assert!(
        bad.is_empty(),
        "loops not known to end:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_audit_rejects_unbounded_steps() {
    assert!(ends("x.wgsl", "var i = 0u; i < n; i += p.step").is_none());
    assert!(ends("x.wgsl", "var i = 0u; i < n; i += 0u").is_none());
    assert!(ends("x.wgsl", "var i = 0u; i < n; i += 1u").is_some());
    assert!(ends("x.wgsl", "var s = n; s > 0u; s >>= 1u").is_some());
    assert!(ends("x.wgsl", "var s = n; s >= 0u; s >>= 1u").is_none());
    assert!(ends("x.wgsl", "var m = 0u; m < n; m <<= 1u").is_none());
    assert!(ends("attention_decode.wgsl", "var j = 0u; j < n; j += p.tph").is_some());
    assert!(ends("matvec.wgsl", "var j = 0u; j < n; j += p.tph").is_none());
}
