//! Lenient readers of request parameters. GET parameters arrive as strings, so numbers and
//! booleans are also accepted in their string forms.

use serde_json::{Map, Value};

/// A parameter problem: the name of the offending parameter and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamError {
    /// Dot path of the parameter.
    pub name: String,
    /// What is wrong.
    pub what: &'static str,
}

impl ParamError {
    /// A problem with `name`.
    pub fn new(name: impl Into<String>, what: &'static str) -> ParamError {
        ParamError {
            name: name.into(),
            what,
        }
    }
}

impl std::fmt::Display for ParamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.what)
    }
}

/// Result of reading a parameter.
pub type PResult<T> = Result<T, ParamError>;

/// The value as an integer, accepting integral floats and numeric strings.
pub fn as_i64(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The value as a boolean, accepting `"true"`/`"false"`/`"1"`/`"0"` and 0/1.
pub fn as_bool(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" | "" => Some(false),
            _ => None,
        },
        _ => None,
    }
}

/// The value as a string: strings as they are, numbers and booleans printed.
pub fn as_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Looks `key` up in an object; `null` counts as absent.
pub fn get<'a>(params: &'a Value, key: &str) -> Option<&'a Value> {
    params.get(key).filter(|v| !v.is_null())
}

/// An optional integer parameter.
pub fn opt_i64(params: &Value, key: &str) -> PResult<Option<i64>> {
    match get(params, key) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v) => as_i64(v)
            .map(Some)
            .ok_or_else(|| ParamError::new(key, "must be an integer")),
    }
}

/// A required integer parameter.
pub fn req_i64(params: &Value, key: &str) -> PResult<i64> {
    opt_i64(params, key)?.ok_or_else(|| ParamError::new(key, "is required"))
}

/// An optional boolean parameter.
pub fn opt_bool(params: &Value, key: &str) -> PResult<Option<bool>> {
    match get(params, key) {
        None => Ok(None),
        Some(v) => as_bool(v)
            .map(Some)
            .ok_or_else(|| ParamError::new(key, "must be a boolean")),
    }
}

/// An optional string parameter (numbers are printed).
pub fn opt_str(params: &Value, key: &str) -> PResult<Option<String>> {
    match get(params, key) {
        None => Ok(None),
        Some(v) => as_string(v)
            .map(Some)
            .ok_or_else(|| ParamError::new(key, "must be a string")),
    }
}

/// A required, non-empty string parameter.
pub fn req_str(params: &Value, key: &str) -> PResult<String> {
    match opt_str(params, key)? {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(ParamError::new(key, "is required")),
    }
}

/// An optional array parameter. A JSON-looking string (GET query) is parsed.
pub fn opt_array(params: &Value, key: &str) -> PResult<Option<Vec<Value>>> {
    match get(params, key) {
        None => Ok(None),
        Some(Value::Array(a)) => Ok(Some(a.clone())),
        Some(Value::String(s)) if s.trim_start().starts_with('[') => {
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Array(a)) => Ok(Some(a)),
                _ => Err(ParamError::new(key, "must be an array")),
            }
        }
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(_) => Err(ParamError::new(key, "must be an array")),
    }
}

/// An optional object parameter. A JSON-looking string (GET query) is parsed.
pub fn opt_object(params: &Value, key: &str) -> PResult<Option<Map<String, Value>>> {
    match get(params, key) {
        None => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m.clone())),
        Some(Value::String(s)) if s.trim_start().starts_with('{') => {
            match serde_json::from_str::<Value>(s) {
                Ok(Value::Object(m)) => Ok(Some(m)),
                _ => Err(ParamError::new(key, "must be an object")),
            }
        }
        Some(_) => Err(ParamError::new(key, "must be an object")),
    }
}

/// An optional list of integers.
pub fn opt_i64_list(params: &Value, key: &str) -> PResult<Option<Vec<i64>>> {
    match opt_array(params, key)? {
        None => Ok(None),
        Some(a) => a
            .iter()
            .map(|v| as_i64(v).ok_or_else(|| ParamError::new(key, "must hold integers")))
            .collect::<PResult<Vec<_>>>()
            .map(Some),
    }
}

/// An optional list of strings.
pub fn opt_str_list(params: &Value, key: &str) -> PResult<Option<Vec<String>>> {
    match opt_array(params, key)? {
        None => Ok(None),
        Some(a) => a
            .iter()
            .map(|v| as_string(v).ok_or_else(|| ParamError::new(key, "must hold strings")))
            .collect::<PResult<Vec<_>>>()
            .map(Some),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lenient() {
        let p = json!({"a": "12", "b": 3.0, "c": "true", "d": "[1,2]", "e": null, "f": "x"});
        assert_eq!(opt_i64(&p, "a").unwrap(), Some(12));
        assert_eq!(opt_i64(&p, "b").unwrap(), Some(3));
        assert_eq!(opt_bool(&p, "c").unwrap(), Some(true));
        assert_eq!(opt_i64_list(&p, "d").unwrap(), Some(vec![1, 2]));
        assert_eq!(opt_i64(&p, "e").unwrap(), None);
        assert!(opt_i64(&p, "f").is_err());
        assert!(req_i64(&p, "zz").is_err());
        assert!(opt_i64(&json!([1]), "a").unwrap().is_none());
    }
}
