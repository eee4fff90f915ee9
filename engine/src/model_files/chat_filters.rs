//! Template helpers: ordered JSON values (`to_value`), `tojson`, `raise_exception`, `strftime_now`.
use std::sync::Arc;

use minijinja::ErrorKind;
use minijinja::value::{Enumerator, Kwargs, Object, ObjectRepr, Value};

use super::pyfmt::{self, DumpOptions};

/// A JSON object as a template map that keeps insertion order (later keys win on lookup, as
/// with `dict.update`).
#[derive(Debug)]
pub(super) struct JsonMap(pub(super) Vec<(String, Value)>);

impl Object for JsonMap {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Map
    }
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    }
    fn enumerate(self: &Arc<Self>) -> Enumerator {
        let mut keys: Vec<&str> = Vec::new();
        for (k, _) in &self.0 {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        Enumerator::Values(keys.into_iter().map(Value::from).collect())
    }
}

/// serde_json → template value, keeping object key order.
pub fn to_value(v: &serde_json::Value) -> Value {
    use serde_json::Value as J;
    match v {
        J::Null => Value::from(()),
        J::Bool(b) => Value::from(*b),
        J::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        J::String(s) => Value::from(s.as_str()),
        J::Array(items) => Value::from(items.iter().map(to_value).collect::<Vec<_>>()),
        J::Object(map) => Value::from_object(JsonMap(
            map.iter().map(|(k, v)| (k.clone(), to_value(v))).collect(),
        )),
    }
}

/// Longest `tojson` indent accepted (real templates use 2 or 4).
const MAX_TOJSON_INDENT: usize = 256;

/// transformers' `tojson(x, ensure_ascii=False, indent=None, separators=None,
/// sort_keys=False)`.
pub(super) fn tojson(
    value: &Value,
    ensure_ascii: Option<bool>,
    indent: Option<Value>,
    kwargs: Kwargs,
) -> std::result::Result<Value, minijinja::Error> {
    let ensure_ascii = kwargs
        .get::<Option<bool>>("ensure_ascii")?
        .or(ensure_ascii)
        .unwrap_or(false);
    let indent = match kwargs.get::<Option<Value>>("indent")?.or(indent) {
        None => None,
        Some(v) if v.is_none() => None,
        Some(v) => {
            // Checked before allocating: the indent is repeated once per nesting level.
            let width = match v.as_str() {
                Some(s) => s.chars().count(),
                None => usize::try_from(v.clone()).map_err(|_| {
                    minijinja::Error::new(
                        ErrorKind::InvalidOperation,
                        format!("tojson: bad indent {v}"),
                    )
                })?,
            };
            if width > MAX_TOJSON_INDENT {
                return Err(minijinja::Error::new(
                    ErrorKind::InvalidOperation,
                    format!(
                        "tojson: indent of {width} characters exceeds the limit of {MAX_TOJSON_INDENT}"
                    ),
                ));
            }
            Some(v.as_str().map_or_else(|| " ".repeat(width), str::to_string))
        }
    };
    let separators = match kwargs.get::<Option<Vec<String>>>("separators")? {
        None => None,
        Some(s) if s.len() == 2 => Some((s[0].clone(), s[1].clone())),
        Some(_) => {
            return Err(minijinja::Error::new(
                ErrorKind::InvalidOperation,
                "tojson: separators must be (item_separator, key_separator)",
            ));
        }
    };
    let sort_keys = kwargs.get::<Option<bool>>("sort_keys")?.unwrap_or(false);
    kwargs.assert_all_used()?;
    let opts = DumpOptions {
        ensure_ascii,
        indent,
        separators,
        sort_keys,
    };
    // A plain (not "safe") string: the environment does no auto-escaping anyway.
    pyfmt::dumps(value, &opts).map(Value::from)
}

pub(super) fn raise_exception(msg: String) -> std::result::Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        ErrorKind::InvalidOperation,
        format!("raise_exception: {msg}"),
    ))
}

pub(super) fn strftime_now(fmt: String) -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    pyfmt::strftime(secs, &fmt)
}
