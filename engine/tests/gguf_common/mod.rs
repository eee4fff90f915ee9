//! A tiny GGUF writer for the loader tests (test code only): metadata values, tensor infos and
//! data laid out as gguf-py lays them out, with knobs to break any field on purpose.
#![allow(dead_code)]

pub mod model;

use granite_engine::model_files::gguf::container::parse;

/// A metadata value.
#[derive(Clone, Debug)]
pub enum V {
    U8(u8),
    U32(u32),
    I32(i32),
    U64(u64),
    F32(f32),
    Bool(bool),
    Str(String),
    StrArr(Vec<String>),
    I32Arr(Vec<i32>),
    U8Arr(Vec<u8>),
    /// A type id and raw payload bytes, written as they are.
    Raw(u32, Vec<u8>),
}

fn string(out: &mut Vec<u8>, s: &[u8]) {
    out.extend((s.len() as u64).to_le_bytes());
    out.extend(s);
}

impl V {
    fn type_id(&self) -> u32 {
        match self {
            V::U8(_) => 0,
            V::U32(_) => 4,
            V::I32(_) => 5,
            V::F32(_) => 6,
            V::Bool(_) => 7,
            V::Str(_) => 8,
            V::StrArr(_) | V::I32Arr(_) | V::U8Arr(_) => 9,
            V::U64(_) => 10,
            V::Raw(t, _) => *t,
        }
    }
    fn payload(&self, out: &mut Vec<u8>) {
        match self {
            V::U8(v) => out.push(*v),
            V::U32(v) => out.extend(v.to_le_bytes()),
            V::I32(v) => out.extend(v.to_le_bytes()),
            V::U64(v) => out.extend(v.to_le_bytes()),
            V::F32(v) => out.extend(v.to_le_bytes()),
            V::Bool(v) => out.push(*v as u8),
            V::Str(s) => string(out, s.as_bytes()),
            V::StrArr(a) => {
                out.extend(8u32.to_le_bytes());
                out.extend((a.len() as u64).to_le_bytes());
                a.iter().for_each(|s| string(out, s.as_bytes()));
            }
            V::I32Arr(a) => {
                out.extend(5u32.to_le_bytes());
                out.extend((a.len() as u64).to_le_bytes());
                a.iter().for_each(|v| out.extend(v.to_le_bytes()));
            }
            V::U8Arr(a) => {
                out.extend(0u32.to_le_bytes());
                out.extend((a.len() as u64).to_le_bytes());
                out.extend(a);
            }
            V::Raw(_, b) => out.extend(b),
        }
    }
}

/// A tensor: name, extents (ne0 first), ggml type id, data; `offset` overrides the computed one.
#[derive(Clone, Debug)]
pub struct T {
    pub name: String,
    pub ne: Vec<u64>,
    pub ty: u32,
    pub data: Vec<u8>,
    pub offset: Option<u64>,
}

impl T {
    pub fn f32(name: &str, ne: &[u64], values: &[f32]) -> T {
        T {
            name: name.into(),
            ne: ne.to_vec(),
            ty: 0,
            data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            offset: None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Writer {
    pub magic: [u8; 4],
    pub version: u32,
    pub kvs: Vec<(String, V)>,
    pub tensors: Vec<T>,
    pub alignment: u64,
    /// Override the header counts.
    pub tensor_count: Option<u64>,
    pub kv_count: Option<u64>,
}

impl Default for Writer {
    fn default() -> Self {
        Writer {
            magic: *b"GGUF",
            version: 3,
            kvs: Vec::new(),
            tensors: Vec::new(),
            alignment: 32,
            tensor_count: None,
            kv_count: None,
        }
    }
}

impl Writer {
    pub fn kv(mut self, k: &str, v: V) -> Self {
        self.kvs.push((k.into(), v));
        self
    }
    pub fn tensor(mut self, t: T) -> Self {
        self.tensors.push(t);
        self
    }

    /// The file bytes: header, metadata, tensor infos, padding, data (each tensor padded).
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend(self.magic);
        out.extend(self.version.to_le_bytes());
        out.extend(
            self.tensor_count
                .unwrap_or(self.tensors.len() as u64)
                .to_le_bytes(),
        );
        out.extend(self.kv_count.unwrap_or(self.kvs.len() as u64).to_le_bytes());
        for (k, v) in &self.kvs {
            string(&mut out, k.as_bytes());
            out.extend(v.type_id().to_le_bytes());
            v.payload(&mut out);
        }
        let a = self.alignment as usize;
        let mut offset = 0u64;
        for t in &self.tensors {
            string(&mut out, t.name.as_bytes());
            out.extend((t.ne.len() as u32).to_le_bytes());
            t.ne.iter().for_each(|e| out.extend(e.to_le_bytes()));
            out.extend(t.ty.to_le_bytes());
            out.extend(t.offset.unwrap_or(offset).to_le_bytes());
            offset += (t.data.len() as u64).div_ceil(a as u64) * a as u64;
        }
        out.resize(out.len().div_ceil(a) * a, 0);
        for t in &self.tensors {
            out.extend(&t.data);
            out.resize(out.len().div_ceil(a) * a, 0);
        }
        out
    }

    pub fn write(&self, path: &std::path::Path) {
        std::fs::write(path, self.bytes()).expect("write gguf");
    }
}

/// f32 → f16 bits (round to nearest even) through `half`.
pub fn f16_bits(v: f32) -> u16 {
    half::f16::from_f32(v).to_bits()
}

/// ggml's reference Q8_0 quantiser (`quantize_row_q8_0_ref`): d = max|x| / 127 per block of 32,
/// q = round(x / d); the block stores d as f16.
pub fn quantize_q8_0(x: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    for b in x.chunks(32) {
        let amax = b.iter().fold(0f32, |m, v| m.max(v.abs()));
        let d = amax / 127.0;
        let id = if d != 0.0 { 1.0 / d } else { 0.0 };
        out.extend(f16_bits(d).to_le_bytes());
        out.extend(b.iter().map(|v| (v * id).round() as i8 as u8));
    }
    out
}

impl Writer {
    /// Replaces (or adds) one metadata value.
    pub fn set_kv(mut self, key: &str, v: V) -> Self {
        match self.kvs.iter_mut().find(|(k, _)| k == key) {
            Some(kv) => kv.1 = v,
            None => self.kvs.push((key.into(), v)),
        }
        self
    }
}

/// Writes `w` to a temporary file and returns the error `gguf::open` gives for it (panics if
/// the file is accepted).
pub fn open_err(w: &Writer) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("granite-gguf-{}-{n}.gguf", std::process::id()));
    w.write(&path);
    let result = granite_engine::model_files::gguf::open(&path);
    let _ = std::fs::remove_file(&path);
    match result {
        Ok(_) => panic!("accepted"),
        Err(e) => e.to_string(),
    }
}

/// A small valid container: two metadata keys, two F32 tensors.
pub fn valid() -> Writer {
    Writer::default()
        .kv("general.architecture", V::Str("granite".into()))
        .kv("general.name", V::Str("tiny".into()))
        .tensor(T::f32("a.weight", &[4], &[1.0, 2.0, 3.0, 4.0]))
        .tensor(T::f32("b.weight", &[8, 2], &[0.5; 16]))
}

/// `bytes` must fail to parse with an error containing `needle`.
#[track_caller]
pub fn rejects(bytes: &[u8], needle: &str) {
    match parse(bytes) {
        Ok(_) => panic!("accepted; expected an error containing {needle:?}"),
        Err(e) => assert!(
            e.contains(needle),
            "error {e:?} does not contain {needle:?}"
        ),
    }
}

#[track_caller]
pub fn rejects_w(w: &Writer, needle: &str) {
    rejects(&w.bytes(), needle);
}
