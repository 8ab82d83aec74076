//! Request validation against the spec: required parameters, JSON types, enum values and
//! limits, recursively, with the failing field's path in the message.
//!
//! Parameters that came as strings (GET query, form body) are first coerced to the schema's
//! scalar types ([`coerce_params`]). Unknown parameters are accepted and ignored, as the real
//! components do. `pattern` is not checked (no spec uses it yet).

use bk_spec::{Api, Component, EnumRepr, Field, Schema, SchemaKind};
use serde_json::{Map, Number, Value};

/// Why a parameter is invalid.
#[derive(Debug, Clone, PartialEq)]
pub enum Problem {
    /// A required parameter or property is missing.
    Required,
    /// The JSON type is wrong.
    Type {
        /// What the schema wants.
        expected: &'static str,
        /// What came.
        got: &'static str,
    },
    /// Not one of the enum's values.
    NotInEnum {
        /// The allowed values, rendered.
        allowed: String,
    },
    /// Below `minimum`.
    Minimum(String),
    /// Above `maximum`.
    Maximum(String),
    /// Length or item count out of bounds.
    Size(String),
}

/// A validation failure: the dotted path of the field and what is wrong with it.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// `bk_biz_id`, `page.limit`, `hosts[0].ip`.
    pub path: String,
    /// What is wrong.
    pub problem: Problem,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.problem {
            Problem::Required => write!(f, "{}: required", self.path),
            Problem::Type { expected, got } => {
                write!(f, "{}: expected {expected}, got {got}", self.path)
            }
            Problem::NotInEnum { allowed } => {
                write!(f, "{}: must be one of {allowed}", self.path)
            }
            Problem::Minimum(m) => write!(f, "{}: must be >= {m}", self.path),
            Problem::Maximum(m) => write!(f, "{}: must be <= {m}", self.path),
            Problem::Size(s) => write!(f, "{}: {s}", self.path),
        }
    }
}

/// The JSON type name of a value, as used in messages.
pub fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Validates `params` (a JSON object) against the API's parameters; the first problem found,
/// in spec order.
pub fn validate_params(component: &Component, api: &Api, params: &Value) -> Result<(), Invalid> {
    let empty = Map::new();
    let obj = match params {
        Value::Object(m) => m,
        Value::Null => &empty,
        other => {
            return Err(Invalid {
                path: "<body>".into(),
                problem: Problem::Type {
                    expected: "object",
                    got: type_name(other),
                },
            })
        }
    };
    validate_fields(component, &api.params, obj, "")
}

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

fn validate_fields(
    component: &Component,
    fields: &[Field],
    obj: &Map<String, Value>,
    prefix: &str,
) -> Result<(), Invalid> {
    for field in fields {
        let path = join(prefix, &field.name);
        match obj.get(&field.name) {
            None => {
                if field.required {
                    return Err(Invalid {
                        path,
                        problem: Problem::Required,
                    });
                }
            }
            // An explicit null on an optional field reads as "not given".
            Some(Value::Null) if !field.required => {}
            Some(v) => validate_value(component, &field.schema, v, &path, 0)?,
        }
    }
    Ok(())
}

fn type_err(path: &str, expected: &'static str, got: &Value) -> Invalid {
    Invalid {
        path: path.to_string(),
        problem: Problem::Type {
            expected,
            got: type_name(got),
        },
    }
}

/// Validates one value against a schema.
pub fn validate_value(
    component: &Component,
    schema: &Schema,
    value: &Value,
    path: &str,
    depth: usize,
) -> Result<(), Invalid> {
    if depth > 64 {
        return Ok(());
    }
    let schema = component.resolve(schema);
    if value.is_null() && schema.nullable {
        return Ok(());
    }
    match &schema.kind {
        SchemaKind::Any | SchemaKind::Empty | SchemaKind::Ref { .. } => Ok(()),
        SchemaKind::Boolean => match value {
            Value::Bool(_) => Ok(()),
            v => Err(type_err(path, "boolean", v)),
        },
        SchemaKind::String {
            min_length,
            max_length,
            ..
        } => match value {
            Value::String(s) => {
                let len = s.chars().count() as u64;
                if let Some(min) = min_length {
                    if len < *min {
                        return Err(Invalid {
                            path: path.into(),
                            problem: Problem::Size(format!("length must be >= {min}")),
                        });
                    }
                }
                if let Some(max) = max_length {
                    if len > *max {
                        return Err(Invalid {
                            path: path.into(),
                            problem: Problem::Size(format!("length must be <= {max}")),
                        });
                    }
                }
                Ok(())
            }
            v => Err(type_err(path, "string", v)),
        },
        SchemaKind::Integer {
            minimum, maximum, ..
        } => {
            let n = match value {
                Value::Number(n) if n.is_i64() => n.as_i64().unwrap_or_default(),
                Value::Number(n) if n.is_u64() => {
                    // Larger than i64::MAX: certainly above any spec'd maximum.
                    return match maximum {
                        Some(m) => Err(Invalid {
                            path: path.into(),
                            problem: Problem::Maximum(m.to_string()),
                        }),
                        None => Err(Invalid {
                            path: path.into(),
                            problem: Problem::Size("integer out of range".into()),
                        }),
                    };
                }
                v => return Err(type_err(path, "integer", v)),
            };
            if let Some(min) = minimum {
                if n < *min {
                    return Err(Invalid {
                        path: path.into(),
                        problem: Problem::Minimum(min.to_string()),
                    });
                }
            }
            if let Some(max) = maximum {
                if n > *max {
                    return Err(Invalid {
                        path: path.into(),
                        problem: Problem::Maximum(max.to_string()),
                    });
                }
            }
            Ok(())
        }
        SchemaKind::Number { minimum, maximum } => {
            let n = match value {
                Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
                v => return Err(type_err(path, "number", v)),
            };
            if let Some(min) = minimum {
                if n < *min {
                    return Err(Invalid {
                        path: path.into(),
                        problem: Problem::Minimum(min.to_string()),
                    });
                }
            }
            if let Some(max) = maximum {
                if n > *max {
                    return Err(Invalid {
                        path: path.into(),
                        problem: Problem::Maximum(max.to_string()),
                    });
                }
            }
            Ok(())
        }
        SchemaKind::Enum { repr, values, .. } => {
            let type_ok = match repr {
                EnumRepr::String => value.is_string(),
                EnumRepr::Integer => value.is_i64() || value.is_u64(),
            };
            if !type_ok {
                let expected = match repr {
                    EnumRepr::String => "string",
                    EnumRepr::Integer => "integer",
                };
                return Err(type_err(path, expected, value));
            }
            if values.iter().any(|v| &v.value == value) {
                Ok(())
            } else {
                let allowed: Vec<String> = values.iter().map(|v| v.value.to_string()).collect();
                Err(Invalid {
                    path: path.into(),
                    problem: Problem::NotInEnum {
                        allowed: format!("[{}]", allowed.join(", ")),
                    },
                })
            }
        }
        SchemaKind::Array {
            items,
            min_items,
            max_items,
        } => {
            let arr = match value {
                Value::Array(a) => a,
                v => return Err(type_err(path, "array", v)),
            };
            let len = arr.len() as u64;
            if let Some(min) = min_items {
                if len < *min {
                    return Err(Invalid {
                        path: path.into(),
                        problem: Problem::Size(format!("must have at least {min} items")),
                    });
                }
            }
            if let Some(max) = max_items {
                if len > *max {
                    return Err(Invalid {
                        path: path.into(),
                        problem: Problem::Size(format!("must have at most {max} items")),
                    });
                }
            }
            for (i, item) in arr.iter().enumerate() {
                validate_value(component, items, item, &format!("{path}[{i}]"), depth + 1)?;
            }
            Ok(())
        }
        SchemaKind::Map { values, .. } => {
            let obj = match value {
                Value::Object(m) => m,
                v => return Err(type_err(path, "object", v)),
            };
            for (k, v) in obj {
                validate_value(component, values, v, &join(path, k), depth + 1)?;
            }
            Ok(())
        }
        SchemaKind::Object { properties, .. } => {
            let obj = match value {
                Value::Object(m) => m,
                v => return Err(type_err(path, "object", v)),
            };
            for field in properties {
                let p = join(path, &field.name);
                match obj.get(&field.name) {
                    None => {
                        if field.required {
                            return Err(Invalid {
                                path: p,
                                problem: Problem::Required,
                            });
                        }
                    }
                    Some(Value::Null) if !field.required => {}
                    Some(v) => validate_value(component, &field.schema, v, &p, depth + 1)?,
                }
            }
            Ok(())
        }
    }
}

/// Coerces string-valued parameters (from a query string or a form body) to the types their
/// schemas want: integers, numbers, booleans, integer enums; JSON text for arrays, maps and
/// objects, and comma-separated lists for arrays of scalars. Values that do not convert are
/// left as they are, so that validation reports them.
pub fn coerce_params(component: &Component, api: &Api, params: &mut Map<String, Value>) {
    for field in &api.params {
        if let Some(v) = params.get_mut(&field.name) {
            if let Value::String(s) = v {
                if let Some(c) = coerce_str(component, &field.schema, s, 0) {
                    *v = c;
                }
            }
        }
    }
}

fn coerce_str(component: &Component, schema: &Schema, s: &str, depth: usize) -> Option<Value> {
    let schema = component.resolve(schema);
    let t = s.trim();
    match &schema.kind {
        SchemaKind::Integer { .. }
        | SchemaKind::Enum {
            repr: EnumRepr::Integer,
            ..
        } => t
            .parse::<i64>()
            .ok()
            .map(Value::from)
            .or_else(|| t.parse::<u64>().ok().map(Value::from)),
        SchemaKind::Number { .. } => t
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map(Value::Number),
        SchemaKind::Boolean => match t.to_ascii_lowercase().as_str() {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        SchemaKind::Array { items, .. } => {
            if t.starts_with('[') {
                return serde_json::from_str(t).ok();
            }
            if depth > 0 {
                return None;
            }
            if t.is_empty() {
                return Some(Value::Array(Vec::new()));
            }
            let parts = t
                .split(',')
                .map(|p| coerce_str(component, items, p, depth + 1).unwrap_or(Value::from(p)))
                .collect();
            Some(Value::Array(parts))
        }
        SchemaKind::Map { .. } | SchemaKind::Object { .. } if t.starts_with('{') => {
            serde_json::from_str(t).ok()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cc() -> &'static Component {
        bk_spec::bundle().component("cc").expect("cc component")
    }

    #[test]
    fn required_and_nested_type() {
        let c = cc();
        let api = c.api("list_biz_hosts_topo").expect("api");
        let e = validate_params(c, api, &json!({})).unwrap_err();
        assert_eq!(e.to_string(), "bk_biz_id: required");
        let e = validate_params(
            c,
            api,
            &json!({"bk_biz_id": 2, "page": {"limit": "10"}, "fields": ["bk_host_id"]}),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "page.limit: expected integer, got string");
        let e = validate_params(
            c,
            api,
            &json!({"bk_biz_id": 2, "page": {"limit": 501}, "fields": ["bk_host_id"]}),
        )
        .unwrap_err();
        assert_eq!(e.problem, Problem::Maximum("500".into()));
        assert!(validate_params(
            c,
            api,
            &json!({"bk_biz_id": 2, "page": {"limit": 10}, "fields": ["bk_host_id"]})
        )
        .is_ok());
    }

    #[test]
    fn coercion_of_query_strings() {
        let c = bk_spec::bundle().component("jobv3").expect("jobv3");
        let api = c.api("get_job_instance_status").expect("api");
        let mut m = Map::new();
        m.insert("bk_scope_type".into(), json!("biz"));
        m.insert("bk_scope_id".into(), json!("2"));
        m.insert("job_instance_id".into(), json!("123"));
        m.insert("return_ip_result".into(), json!("true"));
        coerce_params(c, api, &mut m);
        assert_eq!(m["job_instance_id"], json!(123));
        assert_eq!(m["return_ip_result"], json!(true));
        assert_eq!(m["bk_scope_id"], json!("2"));
        assert!(validate_params(c, api, &Value::Object(m)).is_ok());
    }
}
