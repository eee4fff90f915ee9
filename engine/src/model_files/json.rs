//! Small helpers for the JSON files of a model folder: Python's `json.dump` writes `Infinity`,
//! `-Infinity` and `NaN` (e.g. `time_step_limit: [0.0, Infinity]`), which strict JSON parsers
//! reject, and every typed read must name the key it failed on.
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::Error;

const POS_INF: &str = "\u{0}pyjson:Infinity";
const NEG_INF: &str = "\u{0}pyjson:-Infinity";
const NAN: &str = "\u{0}pyjson:NaN";

/// Parses JSON that may contain Python's non-finite literals outside strings; they become
/// marker strings that [`as_f64`] understands.
pub(crate) fn parse_python_json(text: &str) -> std::result::Result<Value, String> {
    let mut out = String::with_capacity(text.len());
    let (mut in_str, mut escaped) = (false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_str {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
        } else {
            let literal = [("-Infinity", NEG_INF), ("Infinity", POS_INF), ("NaN", NAN)]
                .into_iter()
                .find(|(lit, _)| rest.starts_with(lit));
            if let Some((lit, marker)) = literal {
                out.push('"');
                out.push_str(&marker.replace('\u{0}', "\\u0000"));
                out.push('"');
                rest = &rest[lit.len()..];
                continue;
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    serde_json::from_str(&out).map_err(|e| e.to_string())
}

/// A number, one of Python's non-finite literals, or transformers 5's tagged float.
pub(crate) fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) if s == POS_INF => Some(f64::INFINITY),
        Value::String(s) if s == NEG_INF => Some(f64::NEG_INFINITY),
        Value::String(s) if s == NAN => Some(f64::NAN),
        // transformers 5 writes non-finite floats as `{"__float__": "Infinity"}`.
        Value::Object(o) if o.len() == 1 => match o.get("__float__")?.as_str()? {
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            "NaN" | "nan" => Some(f64::NAN),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn as_u32(v: &Value) -> Option<u32> {
    v.as_u64().and_then(|n| u32::try_from(n).ok())
}

/// Parses a model file that must hold one JSON object (Python's non-finite literals allowed).
pub(crate) fn parse_object(text: &str, path: &Path) -> Result<Map<String, Value>, Error> {
    let value = parse_python_json(text).map_err(|msg| Error::Format {
        file: path.to_path_buf(),
        msg: format!("invalid JSON: {msg}"),
    })?;
    match value {
        Value::Object(obj) => Ok(obj),
        _ => Err(Error::Format {
            file: path.to_path_buf(),
            msg: format!(
                "{} must be a JSON object",
                path.file_name().map_or("the file".into(), |n| n.to_string_lossy())
            ),
        }),
    }
}

/// Typed access to the keys of one JSON object, producing [`Error::Config`] naming the key.
pub(crate) struct Fields<'a> {
    obj: &'a Map<String, Value>,
    path: PathBuf,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(obj: &'a Map<String, Value>, path: &Path) -> Self {
        Self {
            obj,
            path: path.to_path_buf(),
        }
    }

    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key)
    }

    pub(crate) fn err(&self, field: &str, msg: impl Into<String>) -> Error {
        Error::Config {
            path: self.path.clone(),
            field: field.to_string(),
            msg: msg.into(),
        }
    }

    /// A non-negative integer; absent → `default`; null or any other type is an error.
    pub(crate) fn usize(&self, key: &str, default: usize) -> Result<usize, Error> {
        Ok(self.opt_usize_inner(key, false)?.unwrap_or(default))
    }

    /// A non-negative integer whose Python default is `None`: absent or null → `None`.
    pub(crate) fn opt_usize(&self, key: &str) -> Result<Option<usize>, Error> {
        self.opt_usize_inner(key, true)
    }

    fn opt_usize_inner(&self, key: &str, null_ok: bool) -> Result<Option<usize>, Error> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Null) if null_ok => Ok(None),
            Some(v) => v
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a non-negative integer, got {v}"))),
        }
    }

    /// A token id: absent → `default`, null → `None`.
    pub(crate) fn opt_u32(&self, key: &str, default: Option<u32>) -> Result<Option<u32>, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Null) => Ok(None),
            Some(v) => as_u32(v)
                .map(Some)
                .ok_or_else(|| self.err(key, format!("must be a token id, got {v}"))),
        }
    }

    pub(crate) fn bool(&self, key: &str, default: bool) -> Result<bool, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.err(key, format!("must be true or false, got {v}"))),
        }
    }

    pub(crate) fn f64(&self, key: &str, default: f64) -> Result<f64, Error> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => as_f64(v).ok_or_else(|| self.err(key, format!("must be a number, got {v}"))),
        }
    }

    pub(crate) fn f32(&self, key: &str, default: f32) -> Result<f32, Error> {
        self.f64(key, default as f64).map(|v| v as f32)
    }
}
