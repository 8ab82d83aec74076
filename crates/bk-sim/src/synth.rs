//! Deterministic data from schemas: the `data` of APIs that neither the state nor an
//! `example` answers, and valid request parameters (for tests and the CLI).
//!
//! Rules: objects carry all their properties; arrays hold one item (or `min_items`); enums
//! take their first value; integers are 1 (moved into `minimum..=maximum`); numbers 1.0;
//! booleans `true`; strings `"<field>-1"` (formats get a plausible value); maps one key;
//! references are followed through [`Component::resolve`]. Recursive types stop after a few
//! levels with empty arrays and maps.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bk_spec::{Api, Component, Format, Schema, SchemaKind};
use serde_json::{Map, Value};

const MAX_DEPTH: usize = 6;

/// The `data` an API answers when neither the state nor its `example` does: synthesized
/// from the response schema (`null` when the spec has none).
pub fn response_data(component: &Component, api: &Api) -> Value {
    match &api.response {
        Some(schema) => value(component, schema, "data", 0, Mode::All),
        None => Value::Null,
    }
}

/// Valid request parameters for an API, built from its parameter schemas: every parameter
/// (required or not) with a synthesized value that passes validation.
pub fn request_params(component: &Component, api: &Api) -> Value {
    let mut m = Map::new();
    for f in &api.params {
        m.insert(
            f.name.clone(),
            value(component, &f.schema, &f.name, 0, Mode::All),
        );
    }
    Value::Object(m)
}

/// Like [`request_params`], with only the required parameters (and required properties).
pub fn required_params(component: &Component, api: &Api) -> Value {
    let mut m = Map::new();
    for f in api.params.iter().filter(|f| f.required) {
        m.insert(
            f.name.clone(),
            value(component, &f.schema, &f.name, 0, Mode::Required),
        );
    }
    Value::Object(m)
}

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    All,
    Required,
}

fn string_for(format: Option<Format>, field: &str) -> String {
    match format {
        Some(Format::Ip) => "127.0.0.1".into(),
        Some(Format::HostKey) => "0:127.0.0.1".into(),
        Some(Format::Datetime) => "2024-01-01 00:00:00".into(),
        Some(Format::Base64) => STANDARD.encode(format!("{field}-1")),
        Some(Format::EpochMs) => "1704067200000".into(),
        Some(Format::EpochS) => "1704067200".into(),
        None => format!("{field}-1"),
    }
}

fn value(component: &Component, schema: &Schema, field: &str, depth: usize, mode: Mode) -> Value {
    let schema = component.resolve(schema);
    match &schema.kind {
        SchemaKind::Any | SchemaKind::Ref { .. } => Value::Object(Map::new()),
        SchemaKind::Empty => Value::Null,
        SchemaKind::Boolean => Value::Bool(true),
        SchemaKind::String {
            format,
            min_length,
            max_length,
            ..
        } => {
            let mut s = string_for(*format, field);
            if let Some(max) = max_length {
                s = s.chars().take(*max as usize).collect();
            }
            if let Some(min) = min_length {
                while (s.chars().count() as u64) < *min {
                    s.push('x');
                }
            }
            Value::String(s)
        }
        SchemaKind::Integer {
            format,
            minimum,
            maximum,
        } => {
            let mut n: i64 = match format {
                Some(Format::EpochMs) => 1_704_067_200_000,
                Some(Format::EpochS) => 1_704_067_200,
                _ => 1,
            };
            if let Some(min) = minimum {
                n = n.max(*min);
            }
            if let Some(max) = maximum {
                n = n.min(*max);
            }
            Value::from(n)
        }
        SchemaKind::Number { minimum, maximum } => {
            let mut n = 1.0_f64;
            if let Some(min) = minimum {
                n = n.max(*min);
            }
            if let Some(max) = maximum {
                n = n.min(*max);
            }
            serde_json::Number::from_f64(n)
                .map(Value::Number)
                .unwrap_or(Value::from(1))
        }
        SchemaKind::Enum { values, .. } => values
            .first()
            .map(|v| v.value.clone())
            .unwrap_or(Value::Null),
        SchemaKind::Array {
            items,
            min_items,
            max_items,
        } => {
            let mut count: u64 = if depth >= MAX_DEPTH { 0 } else { 1 };
            if let Some(min) = min_items {
                count = count.max(*min);
            }
            if let Some(max) = max_items {
                count = count.min(*max);
            }
            let count = count.min(16);
            Value::Array(
                (0..count)
                    .map(|_| value(component, items, field, depth + 1, mode))
                    .collect(),
            )
        }
        SchemaKind::Map { values, key } => {
            let mut m = Map::new();
            if depth < MAX_DEPTH {
                let k = match key {
                    Some(f) => string_for(Some(*f), field),
                    None => format!("{field}-key"),
                };
                m.insert(k, value(component, values, field, depth + 1, mode));
            }
            Value::Object(m)
        }
        SchemaKind::Object { properties, .. } => {
            let mut m = Map::new();
            for p in properties {
                let include = match mode {
                    Mode::All => depth < MAX_DEPTH || p.required,
                    Mode::Required => p.required,
                };
                if include {
                    m.insert(
                        p.name.clone(),
                        value(component, &p.schema, &p.name, depth + 1, mode),
                    );
                }
            }
            Value::Object(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::{validate_params, validate_value};

    #[test]
    fn synthesized_params_validate_for_every_api() {
        for (c, a) in bk_spec::bundle().apis() {
            let p = request_params(c, a);
            if let Err(e) = validate_params(c, a, &p) {
                panic!("{}.{}: {e}", c.name, a.name);
            }
            let p = required_params(c, a);
            if let Err(e) = validate_params(c, a, &p) {
                panic!("{}.{} (required only): {e}", c.name, a.name);
            }
        }
    }

    #[test]
    fn synthesized_data_matches_response_schema() {
        for (c, a) in bk_spec::bundle().apis() {
            if let Some(schema) = &a.response {
                let d = response_data(c, a);
                if let Err(e) = validate_value(c, schema, &d, "data", 0) {
                    panic!("{}.{}: {e}", c.name, a.name);
                }
            }
        }
    }

    #[test]
    fn deterministic() {
        for (c, a) in bk_spec::bundle().apis() {
            assert_eq!(response_data(c, a), response_data(c, a));
        }
    }
}
