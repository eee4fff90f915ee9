//! config.json helpers of the loader tests: parse a value, set or drop a key, expect an error.
use std::path::Path;

use granite_engine::model_files::ModelConfig;
use serde_json::Value;

use super::assert_err_contains;

pub fn parse(v: &Value) -> Result<ModelConfig, granite_engine::Error> {
    ModelConfig::from_json_str(&v.to_string(), Path::new("/m/config.json"))
}

pub fn with(mut v: Value, key: &str, val: Value) -> Value {
    v.as_object_mut().unwrap().insert(key.into(), val);
    v
}

pub fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

pub fn bad(v: Value, field: &str, extra: &[&str]) -> String {
    let mut needles = vec!["config.json", field];
    needles.extend_from_slice(extra);
    assert_err_contains(parse(&v), &needles)
}
