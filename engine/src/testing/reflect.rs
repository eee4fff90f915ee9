//! naga's view of one entry point of a shader variant: the uniform block at binding 0 (size
//! and members, as naga lays them out) and the storage bindings the entry point uses, with
//! their declared access.
use std::collections::BTreeMap;

use naga::{AddressSpace, Module, ScalarKind, StorageAccess, TypeInner};

use crate::gpu::{Access, Scalar};

/// One member of the WGSL parameter struct.
#[derive(Clone, Debug, PartialEq)]
pub struct Member {
    pub name: String,
    pub offset: usize,
    pub size: usize,
    /// Its scalar type, or its elements' (vectors, arrays); `None` for anything else.
    pub scalar: Option<Scalar>,
}

/// The interface of one entry point, as the WGSL declares it.
#[derive(Clone, Debug, Default)]
pub struct Reflection {
    /// The uniform struct at binding 0, if the entry point reads one: its size and members.
    pub uniform: Option<(usize, Vec<Member>)>,
    /// Storage bindings the entry point uses: binding → (name, access).
    pub storage: BTreeMap<u32, (String, Access)>,
    /// Anything else it uses (other groups or address spaces): described, never expected.
    pub other: Vec<String>,
}

/// Parses and validates `wgsl` (a variant's full text) and reflects entry point `entry`.
pub fn reflect(wgsl: &str, entry: &str) -> Result<Reflection, String> {
    let module = naga::front::wgsl::parse_str(wgsl).map_err(|e| e.emit_to_string(wgsl))?;
    let flags = naga::valid::ValidationFlags::all();
    let caps = naga::valid::Capabilities::all();
    let info = naga::valid::Validator::new(flags, caps)
        .validate(&module)
        .map_err(|e| e.emit_to_string(wgsl))?;
    let mut layouter = naga::proc::Layouter::default();
    layouter
        .update(module.to_ctx())
        .map_err(|e| format!("layout: {e}"))?;
    let index = module
        .entry_points
        .iter()
        .position(|e| e.name == entry)
        .ok_or_else(|| format!("no entry point `{entry}`"))?;
    let uses = info.get_entry_point(index);
    let mut out = Reflection::default();
    for (handle, var) in module.global_variables.iter() {
        let (Some(rb), false) = (&var.binding, uses[handle].is_empty()) else {
            continue; // workgroup / private variables, and bindings this entry never touches
        };
        let name = var.name.clone().unwrap_or_default();
        match var.space {
            AddressSpace::Uniform if rb.group == 0 && rb.binding == 0 => {
                let size = layouter[var.ty].size as usize;
                out.uniform = Some((size, members(&module, &layouter, var.ty)));
            }
            AddressSpace::Storage { access } if rb.group == 0 => {
                let a = if access.contains(StorageAccess::STORE) {
                    Access::ReadWrite
                } else {
                    Access::Read
                };
                out.storage.insert(rb.binding, (name, a));
            }
            ref space => out.other.push(format!(
                "`{name}` ({space:?}) at group {} binding {}",
                rb.group, rb.binding
            )),
        }
    }
    Ok(out)
}

fn members(
    module: &Module,
    layouter: &naga::proc::Layouter,
    ty: naga::Handle<naga::Type>,
) -> Vec<Member> {
    let TypeInner::Struct { members, .. } = &module.types[ty].inner else {
        return Vec::new();
    };
    members
        .iter()
        .map(|m| Member {
            name: m.name.clone().unwrap_or_default(),
            offset: m.offset as usize,
            size: layouter[m.ty].size as usize,
            scalar: scalar(module, m.ty),
        })
        .collect()
}

fn scalar(module: &Module, ty: naga::Handle<naga::Type>) -> Option<Scalar> {
    let s = match module.types[ty].inner {
        TypeInner::Scalar(s) | TypeInner::Vector { scalar: s, .. } | TypeInner::Atomic(s) => s,
        TypeInner::Array { base, .. } => return scalar(module, base),
        _ => return None,
    };
    match (s.kind, s.width) {
        (ScalarKind::Uint, 4) => Some(Scalar::U32),
        (ScalarKind::Sint, 4) => Some(Scalar::I32),
        (ScalarKind::Float, 4) => Some(Scalar::F32),
        _ => None,
    }
}
