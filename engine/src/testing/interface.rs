//! Shader interfaces checked against their launchers, not mirrored by hand.
//!
//! A launcher states everything a dispatch asks of its shader: the variant (file, flags) and
//! entry point it built, the `Params` block it uploads at binding 0 (declared with `uniform!`,
//! so its layout comes from the struct itself) and each storage binding with the access it
//! means (`Bind::read` / `Bind::write`). Every GPU context the test harness opens runs
//! [`check`] on every dispatch recorded on it (`Gpu::check_dispatches`), which compares that
//! statement with naga's reflection of the variant's WGSL:
//! - each flag the launcher sets is one the shader (or its includes) tests with `#if`;
//! - the WGSL uniform struct has the Rust block's size, and member by member (padding aside)
//!   its names, offsets, sizes and scalar types;
//! - the bindings the entry point uses are exactly the ones bound, each declared
//!   `var<storage, read>` where the launcher only reads and `read_write` where it writes.
//!
//! So the launchers stay the one source of truth, and the kernel tests, which drive every
//! launcher on every path, check every variant they run; `engine/tests/shader_interfaces.rs`
//! drives whole models to make sure every entry point of every shader is among them, and
//! plants mismatches the check must reject.
use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::reflect::{Reflection, reflect};
use crate::gpu::shaders::{self, F16, NO_ZERO_INIT, SUBGROUPS};
use crate::gpu::{Access, DispatchInterface, Field};

/// Flags the device or the pipeline builder sets on every variant, read by the prelude or the
/// builder rather than by the kernel file.
const DEVICE_FLAGS: &[&str] = &[F16, SUBGROUPS, NO_ZERO_INIT];

static CHECKED: Mutex<Option<HashSet<DispatchInterface>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The hook the harness installs: panics, naming every disagreement, when a dispatch does not
/// match its shader. Each distinct interface is checked once per process.
pub fn check(d: &DispatchInterface) {
    if lock(&CHECKED).get_or_insert_default().contains(d) {
        return;
    }
    let bad = mismatches(d);
    assert!(
        bad.is_empty(),
        "{}::{} {:?}: the launcher and the shader disagree:\n  {}",
        d.variant.shader,
        d.entry,
        d.variant.flags,
        bad.join("\n  ")
    );
    lock(&CHECKED).get_or_insert_default().insert(d.clone());
}

/// Every interface checked (and found matching) so far in this process.
pub fn checked() -> Vec<DispatchInterface> {
    let set = lock(&CHECKED);
    set.iter().flatten().cloned().collect()
}

/// What is wrong with `d` against its variant's WGSL; empty when they match.
pub fn mismatches(d: &DispatchInterface) -> Vec<String> {
    match d.variant.wgsl() {
        Ok(wgsl) => mismatches_with(d, &wgsl),
        Err(e) => vec![format!("the variant does not preprocess: {e}")],
    }
}

/// [`mismatches`] against the given WGSL text instead of the variant's own (for tests that
/// plant a change in the shader).
pub fn mismatches_with(d: &DispatchInterface, wgsl: &str) -> Vec<String> {
    let mut bad = unread_flags(d);
    match reflected(wgsl, d.entry) {
        Ok(r) => {
            bad.extend(uniform_mismatches(d, &r));
            bad.extend(binding_mismatches(d, &r));
        }
        Err(e) => bad.push(format!("naga rejects the variant: {e}")),
    }
    bad
}

/// Reflections by (WGSL text, entry point): parsing and validating a variant takes
/// milliseconds, and a test records the same few variants many times.
fn reflected(wgsl: &str, entry: &str) -> Result<Reflection, String> {
    type Cache = HashMap<(String, String), Result<Reflection, String>>;
    static CACHE: Mutex<Option<Cache>> = Mutex::new(None);
    let key = (wgsl.to_string(), entry.to_string());
    if let Some(r) = lock(&CACHE).get_or_insert_default().get(&key) {
        return r.clone();
    }
    let r = reflect(wgsl, entry);
    lock(&CACHE).get_or_insert_default().insert(key, r.clone());
    r
}

/// The flags every `#if` of the shader file, its includes and `common.wgsl` tests.
pub fn flags_read(shader: &str) -> HashSet<&'static str> {
    [shader, "common"]
        .iter()
        .filter_map(|s| shaders::source(s))
        .flat_map(shaders::flags_used)
        .collect()
}

fn unread_flags(d: &DispatchInterface) -> Vec<String> {
    let read = flags_read(d.variant.shader);
    d.variant
        .flags
        .iter()
        .filter(|f| !DEVICE_FLAGS.contains(f) && !read.contains(*f))
        .map(|f| format!("flag `{f}` is set, but no `#if {f}` reads it"))
        .collect()
}

fn uniform_mismatches(d: &DispatchInterface, r: &Reflection) -> Vec<String> {
    let Some((size, members)) = &r.uniform else {
        return vec![format!(
            "the launcher uploads a {}-byte parameter block, but the entry point reads no \
             uniform at binding 0",
            d.params_size
        )];
    };
    let mut bad = Vec::new();
    if *size != d.params_size {
        bad.push(format!(
            "Params is {} bytes in Rust, {size} in WGSL",
            d.params_size
        ));
    }
    // Padding (`_` names) may be split differently on the two sides (`[u32; 2]` or two u32s);
    // with the sizes equal, every other field must match by position, offset, size and type.
    let fields: Vec<&Field> = d
        .params
        .iter()
        .filter(|f| !f.name.starts_with('_'))
        .collect();
    let members: Vec<_> = members
        .iter()
        .filter(|m| !m.name.starts_with('_'))
        .collect();
    if members.len() != fields.len() {
        bad.push(format!(
            "Params has {} fields in Rust, {} in WGSL (padding aside)",
            fields.len(),
            members.len()
        ));
    }
    for (f, m) in fields.into_iter().zip(members) {
        let same = f.offset == m.offset
            && f.size == m.size
            && m.scalar == Some(f.scalar)
            && f.name == m.name;
        if !same {
            bad.push(format!("Params field {} ≠ WGSL member {m:?}", describe(f)));
        }
    }
    bad
}

fn describe(f: &Field) -> String {
    format!(
        "`{}` ({:?} at byte {}, {} bytes)",
        f.name, f.scalar, f.offset, f.size
    )
}

fn binding_mismatches(d: &DispatchInterface, r: &Reflection) -> Vec<String> {
    let mut bad: Vec<String> = r.other.iter().map(|o| format!("unexpected {o}")).collect();
    let mut bound = HashSet::new();
    for &(binding, access) in &d.binds {
        if !bound.insert(binding) {
            bad.push(format!("binding {binding} is bound twice"));
        }
        match r.storage.get(&binding) {
            None => bad.push(format!(
                "binding {binding} is bound, but the entry point uses no storage binding there"
            )),
            Some((name, declared)) if *declared != access => bad.push(format!(
                "binding {binding} (`{name}`): the launcher {}, the WGSL declares it {}",
                match access {
                    Access::Read => "only reads it",
                    Access::ReadWrite => "writes it",
                },
                match declared {
                    Access::Read => "`read`",
                    Access::ReadWrite => "`read_write`",
                }
            )),
            Some(_) => {}
        }
    }
    for (binding, (name, _)) in &r.storage {
        if !bound.contains(binding) {
            bad.push(format!(
                "binding {binding} (`{name}`) is used by the entry point but not bound"
            ));
        }
    }
    bad
}
