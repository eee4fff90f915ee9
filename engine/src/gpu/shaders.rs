//! WGSL sources and the tiny preprocessor that turns one file into its variants.
//!
//! A kernel file is plain WGSL plus three line directives, `#if FLAG`, `#else`, `#endif`
//! (nestable), so that the portable path and the feature paths (f16, subgroups) live side by
//! side in one file, and `#include NAME`, which pastes `shaders/include/NAME.wgsl` (helpers that
//! refer to bindings several kernels declare alike). Compile-time constants are prepended as
//! `const NAME: u32 = V;`.
use std::collections::BTreeSet;

/// Every shader file the engine can build, by name. `include_str!` keeps the binary standalone.
macro_rules! shaders {
    ($dir:literal: $($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../shaders/", $dir, $name, ".wgsl")))),*]
    };
}

pub const SHADERS: &[(&str, &str)] = shaders![
    "":
    "common",
    "elementwise",
    "rmsnorm",
    "matvec",
    "matmul",
    "embedding",
    "bandwidth",
    "mamba_conv",
    "mamba_state",
    "mamba_scan",
    "mamba_norm",
    "mamba_ssd_dt",
    "mamba_ssd_cb",
    "mamba_ssd_state",
    "mamba_ssd_scan",
    "mamba_ssd_out",
    "rope",
    "attention_kv",
    "attention_prefill",
    "attention_decode",
    "attention_reduce",
    "sampling",
    "argmax",
    "moe_topk",
    "moe_matvec",
    "moe_combine",
    "moe_route",
    "moe_mm",
];

/// Files only `#include`d by kernels, never built on their own.
pub const INCLUDES: &[(&str, &str)] = shaders!["include/": "load_x8", "matvec_x", "ssd_tile", "expert_rank", "tile_geometry", "argmax_wg", "linear_params"];

pub fn include_source(name: &str) -> Option<&'static str> {
    INCLUDES.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// The flags a shader file (with its includes) tests with `#if`: the variants it can have.
pub fn flags_used(src: &'static str) -> BTreeSet<&'static str> {
    let mut flags = BTreeSet::new();
    for line in src.lines().map(str::trim_start) {
        if let Some(inc) = line
            .strip_prefix("#include ")
            .and_then(|n| include_source(n.trim()))
        {
            flags.extend(flags_used(inc));
        } else if let Some(f) = line.strip_prefix("#if ") {
            flags.insert(f.trim().trim_start_matches('!').trim());
        }
    }
    flags
}

pub fn source(name: &str) -> Option<&'static str> {
    SHADERS.iter().find(|(n, _)| *n == name).map(|(_, s)| *s)
}

/// One buildable variant of a shader file.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Variant {
    pub shader: &'static str,
    pub flags: BTreeSet<&'static str>,
    pub consts: Vec<(&'static str, u32)>,
}

/// Flags with a meaning to the preprocessor prelude; kernels may add their own.
pub const F16: &str = "F16";
pub const SUBGROUPS: &str = "SUBGROUPS";
/// Not a preprocessor flag: tells the pipeline builder to skip WGSL's zero-fill of workgroup
/// memory. Only for kernels that write every workgroup variable before reading it. The GL/Metal/
/// DX12 polyfill of that zero-fill made llvmpipe's GL compiler take minutes on the attention
/// kernels' large workgroup arrays (1.5 s without it).
pub const NO_ZERO_INIT: &str = "NO_ZERO_INIT";

impl Variant {
    /// Full WGSL text: `enable` directives, constants, `common.wgsl`, then the kernel body.
    pub fn wgsl(&self) -> Result<String, String> {
        let body =
            source(self.shader).ok_or_else(|| format!("no shader named `{}`", self.shader))?;
        let mut out = String::new();
        if self.flags.contains(F16) {
            out.push_str("enable f16;\n");
        }
        for (name, value) in &self.consts {
            out.push_str(&format!("const {name}: u32 = {value}u;\n"));
        }
        let common = source("common").unwrap_or_default();
        out.push_str(&preprocess(common, &self.flags).map_err(|e| format!("common.wgsl: {e}"))?);
        out.push_str(
            &preprocess(body, &self.flags).map_err(|e| format!("{}.wgsl: {e}", self.shader))?,
        );
        Ok(out)
    }
}

/// Keeps the lines whose enclosing `#if` conditions hold (`#if !FLAG` negates) and pastes
/// `#include`d files, preprocessed with the same flags.
pub fn preprocess(src: &str, flags: &BTreeSet<&str>) -> Result<String, String> {
    preprocess_at(src, flags, false)
}

fn preprocess_at(src: &str, flags: &BTreeSet<&str>, included: bool) -> Result<String, String> {
    let mut out = String::with_capacity(src.len());
    // Each entry: (this branch active, some branch of this #if already taken).
    let mut stack: Vec<(bool, bool)> = Vec::new();
    let active = |stack: &[(bool, bool)]| stack.iter().all(|&(a, _)| a);
    for (i, line) in src.lines().enumerate() {
        let t = line.trim_start();
        if let Some(cond) = t.strip_prefix("#if ") {
            let cond = cond.trim();
            let on = match cond.strip_prefix('!') {
                Some(f) => !flags.contains(f.trim()),
                None => flags.contains(cond),
            };
            stack.push((on, on));
        } else if t.starts_with("#else") {
            let top = stack
                .last_mut()
                .ok_or(format!("line {}: #else without #if", i + 1))?;
            *top = (!top.1, true);
        } else if t.starts_with("#endif") {
            stack
                .pop()
                .ok_or(format!("line {}: #endif without #if", i + 1))?;
        } else if let Some(name) = t.strip_prefix("#include ").filter(|_| active(&stack)) {
            let name = name.trim();
            let inc = include_source(name)
                .filter(|_| !included)
                .ok_or(format!("line {}: cannot include `{name}`", i + 1))?;
            out.push_str(&preprocess_at(inc, flags, true).map_err(|e| format!("{name}: {e}"))?);
        } else if active(&stack) {
            out.push_str(line);
            out.push('\n');
        } else {
            out.push('\n'); // keep line numbers stable for error messages
        }
    }
    if !stack.is_empty() {
        return Err("unterminated #if".into());
    }
    Ok(out)
}
