//! The GGUF container (spec §1): header, metadata, tensor infos and the data section, with
//! every check of the validation checklist (§1.7). It never looks at what the names mean;
//! that is [`super::config`] and [`super::names`].
use std::collections::{HashMap, HashSet};
use std::ops::Range;

use super::cursor::{Cursor, PResult};
use super::types::GgmlType;
use super::value::{Value, ValueType, read_value};

pub const MAGIC: &[u8; 4] = b"GGUF";
/// Caps on the header counts (real Granite files: ≤ ~700 tensors, ~40 keys).
pub const MAX_TENSORS: u64 = 65_536;
pub const MAX_KVS: u64 = 65_536;
/// Longest key (the spec's limit) and tensor name (ggml's GGML_MAX_NAME minus the NUL).
pub const MAX_KEY_BYTES: u64 = 65_535;
pub const MAX_NAME_BYTES: u64 = 63;
/// Largest extent of one dimension.
pub const MAX_EXTENT: u64 = 1 << 40;
pub const MAX_ALIGNMENT: u64 = 1 << 20;
pub const DEFAULT_ALIGNMENT: u64 = 32;
/// Smallest encodings: a KV record (key length, 1-byte key, type, 1-byte value) and a tensor
/// info (name length, 1-byte name, n_dims, one extent, type, offset).
const MIN_KV_BYTES: u64 = 8 + 1 + 4 + 1;
const MIN_TENSOR_BYTES: u64 = 8 + 1 + 4 + 8 + 4 + 8;

/// One tensor-info record, checked against the data section.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// Extents ne0 (contiguous) first, padded to 4 with 1s; `n_dims` says how many were written.
    pub ne: [u64; 4],
    pub n_dims: usize,
    pub ty: GgmlType,
    /// Byte range in the file.
    pub data: Range<usize>,
}

impl TensorInfo {
    pub fn numel(&self) -> u64 {
        self.ne.iter().product()
    }
    /// Rows of ne0 elements.
    pub fn rows(&self) -> u64 {
        self.ne[1] * self.ne[2] * self.ne[3]
    }
    pub fn row_bytes(&self) -> usize {
        (self.ne[0] / self.ty.block * self.ty.bytes) as usize
    }
    /// The written extents, e.g. `[768, 3376]`.
    pub fn dims(&self) -> &[u64] {
        &self.ne[..self.n_dims]
    }
}

/// A parsed container: metadata in file order, tensors in file order.
#[derive(Clone, Debug)]
pub struct Container {
    pub version: u32,
    pub alignment: u64,
    pub kvs: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    /// Start of the data section.
    pub data_start: usize,
    key_index: HashMap<String, usize>,
    tensor_index: HashMap<String, usize>,
}

impl Container {
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.key_index.get(key).map(|&i| &self.kvs[i].1)
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensor_index.get(name).map(|&i| &self.tensors[i])
    }
}

/// Parses and validates the whole container in `buf` (the mapped file).
pub fn parse(buf: &[u8]) -> PResult<Container> {
    if buf.len() < 24 {
        return Err(format!(
            "{} bytes is too short for a GGUF header (24 bytes)",
            buf.len()
        ));
    }
    if &buf[..4] != MAGIC {
        return Err(format!(
            "not a GGUF file: magic is {:02x?}, expected \"GGUF\"",
            &buf[..4]
        ));
    }
    let mut c = Cursor::new(buf, 4);
    let version = check_version(c.u32("version")?)?;
    let n_tensors = c.u64("tensor count")?;
    let n_kvs = c.u64("metadata count")?;
    check_count(
        n_tensors,
        MAX_TENSORS,
        MIN_TENSOR_BYTES,
        "tensor",
        c.remaining(),
    )?;
    check_count(n_kvs, MAX_KVS, MIN_KV_BYTES, "metadata", c.remaining())?;
    let kvs = read_kvs(&mut c, n_kvs as usize)?;
    let key_index: HashMap<String, usize> = kvs
        .iter()
        .enumerate()
        .map(|(i, (k, _))| (k.clone(), i))
        .collect();
    let alignment = alignment(key_index.get("general.alignment").map(|&i| &kvs[i].1))?;
    check_split(&kvs)?;
    let mut infos = Vec::new();
    let mut names = HashSet::new();
    for i in 0..n_tensors as usize {
        let info = read_tensor_info(&mut c, i)?;
        if !names.insert(info.0.clone()) {
            return Err(format!("tensor `{}` appears twice", info.0));
        }
        infos.push(info);
    }
    let data_start = align_up(c.pos() as u64, alignment)
        .filter(|&d| d <= buf.len() as u64)
        .ok_or_else(|| {
            format!(
                "the data section would start past the end of the file ({} bytes)",
                buf.len()
            )
        })?;
    let tensors = place_tensors(infos, data_start, alignment, buf.len() as u64)?;
    let tensor_index = tensors
        .iter()
        .enumerate()
        .map(|(i, t)| (t.name.clone(), i))
        .collect();
    Ok(Container {
        version,
        alignment,
        kvs,
        tensors,
        data_start: data_start as usize,
        key_index,
        tensor_index,
    })
}

fn check_version(v: u32) -> PResult<u32> {
    match v {
        2 | 3 => Ok(v),
        1 => Err(
            "GGUFv1 unsupported (version 1 files use 32-bit counts; reconvert the model)".into(),
        ),
        _ if v & 0xFFFF == 0 && v != 0 => Err(format!(
            "big-endian GGUF unsupported (version field reads {v:#010x}, a byte-swapped version)"
        )),
        _ => Err(format!("GGUF version {v} unsupported (expected 2 or 3)")),
    }
}

fn check_count(n: u64, cap: u64, min: u64, what: &str, remaining: usize) -> PResult<()> {
    if n > cap {
        return Err(format!("{what} count {n} exceeds the limit of {cap}"));
    }
    if n * min > remaining as u64 {
        return Err(format!(
            "{what} count {n} needs at least {} bytes but only {remaining} remain in the file",
            n * min
        ));
    }
    Ok(())
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> PResult<&'a str> {
    std::str::from_utf8(bytes).map_err(|e| format!("{what} is not valid UTF-8 ({e})"))
}

fn read_kvs(c: &mut Cursor, n: usize) -> PResult<Vec<(String, Value)>> {
    let mut kvs: Vec<(String, Value)> = Vec::new();
    let mut seen = HashSet::new();
    for i in 0..n {
        let what = format!("metadata key #{i}");
        let r = c.string(MAX_KEY_BYTES, &what)?;
        let key = utf8(c.slice(r), &what)?.to_string();
        if key.is_empty() || key.contains('\0') {
            return Err(format!("{what} {key:?} is empty or contains NUL"));
        }
        if !seen.insert(key.clone()) {
            return Err(format!("metadata key `{key}` appears twice"));
        }
        let id = c.u32(&key)?;
        let ty = ValueType::from_id(id).ok_or_else(|| {
            format!("metadata `{key}`: value type {id} is not a GGUF value type (0..=12)")
        })?;
        let value = read_value(c, ty, &format!("metadata `{key}`"))?;
        kvs.push((key, value));
    }
    Ok(kvs)
}

fn alignment(v: Option<&Value>) -> PResult<u64> {
    match v {
        None => Ok(DEFAULT_ALIGNMENT),
        Some(Value::Int {
            ty: ValueType::U32,
            v,
        }) => {
            let a = *v as u64;
            if a == 0 || !a.is_power_of_two() || a > MAX_ALIGNMENT {
                Err(format!(
                    "general.alignment = {a}: must be a power of two from 1 to {MAX_ALIGNMENT}"
                ))
            } else {
                Ok(a)
            }
        }
        Some(other) => Err(format!(
            "general.alignment must be UINT32, found {}",
            other.type_name()
        )),
    }
}

/// Split models (`split.count` > 1) keep tensors in several files; not handled yet.
fn check_split(kvs: &[(String, Value)]) -> PResult<()> {
    let count = kvs.iter().find(|(k, _)| k == "split.count").map(|(_, v)| v);
    match count {
        None => Ok(()),
        Some(Value::Int { v: 1, .. }) => Ok(()),
        Some(v) => Err(format!(
            "split GGUF not supported yet (split.count = {v:?}); merge the parts with llama-gguf-split --merge"
        )),
    }
}

fn align_up(x: u64, a: u64) -> Option<u64> {
    x.checked_add(a - 1).map(|v| v / a * a)
}

/// (name, extents, n_dims, type, offset) before placement.
type RawInfo = (String, [u64; 4], usize, GgmlType, u64);

fn read_tensor_info(c: &mut Cursor, i: usize) -> PResult<RawInfo> {
    let what = format!("tensor name #{i}");
    let r = c.string(MAX_KEY_BYTES, &what)?;
    let name = utf8(c.slice(r.clone()), &what)?.to_string();
    if name.is_empty() || r.len() as u64 > MAX_NAME_BYTES {
        return Err(format!(
            "{what} {name:?} must be 1 to {MAX_NAME_BYTES} bytes, is {}",
            r.len()
        ));
    }
    let n_dims = c.u32(&name)?;
    if !(1..=4).contains(&n_dims) {
        return Err(format!(
            "tensor `{name}`: {n_dims} dimensions, must be 1 to 4"
        ));
    }
    let mut ne = [1u64; 4];
    for (d, e) in ne.iter_mut().enumerate().take(n_dims as usize) {
        *e = c.u64(&name)?;
        if *e == 0 || *e > MAX_EXTENT {
            return Err(format!(
                "tensor `{name}`: extent {d} is {}, must be 1 to 2^40",
                *e
            ));
        }
    }
    let id = c.u32(&name)?;
    let ty = GgmlType::from_id(id)
        .ok_or_else(|| format!("tensor `{name}`: type id {id} is unknown or removed from ggml"))?;
    if !ne[0].is_multiple_of(ty.block) {
        return Err(format!(
            "tensor `{name}`: first extent {} is not a multiple of the {ty} block size {}",
            ne[0], ty.block
        ));
    }
    let offset = c.u64(&name)?;
    Ok((name, ne, n_dims as usize, ty, offset))
}

/// Checks llama.cpp's strict layout: in file order each offset is the running sum of the
/// previous sizes, each padded to the alignment; so tensors are aligned, ordered and disjoint.
fn place_tensors(
    infos: Vec<RawInfo>,
    data_start: u64,
    align: u64,
    file_len: u64,
) -> PResult<Vec<TensorInfo>> {
    let mut expected = 0u64;
    let mut out = Vec::with_capacity(infos.len());
    for (name, ne, n_dims, ty, offset) in infos {
        let numel = ne.iter().try_fold(1u64, |a, &e| a.checked_mul(e));
        let nbytes = numel
            .and_then(|n| ty.bytes_for(n))
            .filter(|&b| usize::try_from(b).is_ok())
            .ok_or_else(|| format!("tensor `{name}`: size of {ne:?} {ty} overflows"))?;
        if !offset.is_multiple_of(align) {
            return Err(format!(
                "tensor `{name}`: offset {offset} is not a multiple of the alignment {align}"
            ));
        }
        if offset != expected {
            return Err(format!(
                "tensor `{name}`: offset {offset}, but the previous tensors end at {expected} \
                 (tensors must follow each other in file order without gaps or overlaps)"
            ));
        }
        let start = data_start.checked_add(offset);
        let end = start
            .and_then(|s| s.checked_add(nbytes))
            .filter(|&e| e <= file_len);
        let (Some(start), Some(end)) = (start, end) else {
            return Err(format!(
                "tensor `{name}`: {nbytes} bytes at data offset {offset} run past the end of the file ({file_len} bytes)"
            ));
        };
        expected = offset
            .checked_add(nbytes)
            .and_then(|e| align_up(e, align))
            .ok_or_else(|| format!("tensor `{name}`: offsets overflow"))?;
        out.push(TensorInfo {
            name,
            ne,
            n_dims,
            ty,
            data: start as usize..end as usize,
        });
    }
    Ok(out)
}
