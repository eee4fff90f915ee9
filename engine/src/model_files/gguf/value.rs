//! Metadata values (spec §1.2). Scalars are kept decoded; strings and arrays as ranges of the
//! mapped file, so a 100 000-entry vocabulary costs one range per string and no copies.
use std::ops::Range;

use super::cursor::{Cursor, PResult};

/// Longest string value (llama.cpp's cap; Granite's longest is a chat template of a few KB).
pub const MAX_VALUE_BYTES: u64 = 64 << 20;
/// Most elements in one array (Granite's largest: 100 352 tokens).
pub const MAX_ARRAY_LEN: u64 = 64 << 20;

/// The metadata value type ids 0..=12.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    U8,
    I8,
    U16,
    I16,
    U32,
    I32,
    F32,
    Bool,
    Str,
    Array,
    U64,
    I64,
    F64,
}

impl ValueType {
    pub fn from_id(id: u32) -> Option<ValueType> {
        use ValueType::*;
        const ALL: [ValueType; 13] = [
            U8, I8, U16, I16, U32, I32, F32, Bool, Str, Array, U64, I64, F64,
        ];
        ALL.get(usize::try_from(id).ok()?).copied()
    }

    /// Encoded size of a fixed-size element; strings report their minimum (the length field).
    fn min_size(self) -> u64 {
        use ValueType::*;
        match self {
            U8 | I8 | Bool => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | Str => 8,
            Array => 12,
        }
    }

    pub fn name(self) -> &'static str {
        use ValueType::*;
        match self {
            U8 => "UINT8",
            I8 => "INT8",
            U16 => "UINT16",
            I16 => "INT16",
            U32 => "UINT32",
            I32 => "INT32",
            F32 => "FLOAT32",
            Bool => "BOOL",
            Str => "STRING",
            Array => "ARRAY",
            U64 => "UINT64",
            I64 => "INT64",
            F64 => "FLOAT64",
        }
    }
}

/// One metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Any integer type, widened; `ty` keeps the declared type for checks and display.
    Int {
        ty: ValueType,
        v: i128,
    },
    F32(f32),
    F64(f64),
    Bool(bool),
    Str(Range<usize>),
    Array(ArrayValue),
}

/// An array: for strings the range of every element, else the element bytes back to back.
#[derive(Clone, Debug, PartialEq)]
pub struct ArrayValue {
    pub elem: ValueType,
    pub len: usize,
    /// Fixed-size elements: their bytes. Strings: empty (see `strings`).
    pub data: Range<usize>,
    pub strings: Vec<Range<usize>>,
}

impl Value {
    pub fn type_name(&self) -> String {
        match self {
            Value::Int { ty, .. } => ty.name().into(),
            Value::F32(_) => "FLOAT32".into(),
            Value::F64(_) => "FLOAT64".into(),
            Value::Bool(_) => "BOOL".into(),
            Value::Str(_) => "STRING".into(),
            Value::Array(a) => format!("ARRAY<{}>", a.elem.name()),
        }
    }
}

/// Reads a value of type `ty`; `what` names the key in errors.
pub fn read_value(c: &mut Cursor, ty: ValueType, what: &str) -> PResult<Value> {
    use ValueType::*;
    Ok(match ty {
        U8 => int(ty, c.u8(what)?),
        I8 => int(ty, c.u8(what)? as i8),
        U16 => int(ty, c.u16(what)?),
        I16 => int(ty, c.u16(what)? as i16),
        U32 => int(ty, c.u32(what)?),
        I32 => int(ty, c.u32(what)? as i32),
        U64 => int(ty, c.u64(what)?),
        I64 => int(ty, c.u64(what)? as i64),
        F32 => Value::F32(f32::from_bits(c.u32(what)?)),
        F64 => Value::F64(f64::from_bits(c.u64(what)?)),
        Bool => match c.u8(what)? {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(format!("{what}: BOOL byte is {b}, must be 0 or 1")),
        },
        Str => Value::Str(c.string(MAX_VALUE_BYTES, what)?),
        Array => Value::Array(read_array(c, what)?),
    })
}

fn int(ty: ValueType, v: impl Into<i128>) -> Value {
    Value::Int { ty, v: v.into() }
}

fn read_array(c: &mut Cursor, what: &str) -> PResult<ArrayValue> {
    let id = c.u32(what)?;
    let elem = ValueType::from_id(id).ok_or_else(|| {
        format!("{what}: array element type {id} is not a GGUF value type (0..=12)")
    })?;
    if elem == ValueType::Array {
        return Err(format!("{what}: nested arrays are not supported"));
    }
    let len = c.u64(what)?;
    if len > MAX_ARRAY_LEN {
        return Err(format!(
            "{what}: array of {len} elements, over the limit of {MAX_ARRAY_LEN}"
        ));
    }
    // Checked before any allocation: the elements must at least fit in what is left.
    let min = len * elem.min_size();
    if min > c.remaining() as u64 {
        return Err(format!(
            "{what}: array of {len} {} needs at least {min} bytes but {} remain in the file",
            elem.name(),
            c.remaining()
        ));
    }
    let len_usize = len as usize;
    if elem == ValueType::Str {
        let mut strings = Vec::with_capacity(len_usize);
        for i in 0..len_usize {
            strings.push(c.string(MAX_VALUE_BYTES, &format!("{what}[{i}]"))?);
        }
        return Ok(ArrayValue {
            elem,
            len: len_usize,
            data: 0..0,
            strings,
        });
    }
    let start = c.pos();
    for _ in 0..len_usize {
        if elem == ValueType::Bool {
            read_value(c, elem, what)?;
        }
    }
    let data = if elem == ValueType::Bool {
        start..c.pos()
    } else {
        c.take(min, what)?
    };
    Ok(ArrayValue {
        elem,
        len: len_usize,
        data,
        strings: Vec::new(),
    })
}

impl ArrayValue {
    /// Element `i` of an integer array, widened.
    pub fn int_at(&self, bytes: &[u8], i: usize) -> Option<i128> {
        let size = self.elem.min_size() as usize;
        let b = bytes.get(self.data.start + i * size..self.data.start + (i + 1) * size)?;
        let mut c = Cursor::new(b, 0);
        match read_value(&mut c, self.elem, "").ok()? {
            Value::Int { v, .. } => Some(v),
            _ => None,
        }
    }
}
