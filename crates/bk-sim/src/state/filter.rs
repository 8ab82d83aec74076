//! CMDB query-builder property filters (`host_property_filter`, `biz_property_filter` ...)
//! and the older `{field, operator: $eq ...}` conditions.

use std::cmp::Ordering;

use serde_json::Value;

use super::params::{as_i64, PResult, ParamError};

/// Comparison of a leaf rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `equal`
    Equal,
    /// `not_equal`
    NotEqual,
    /// `in`
    In,
    /// `not_in`
    NotIn,
    /// `less`
    Less,
    /// `less_or_equal`
    LessOrEqual,
    /// `greater`
    Greater,
    /// `greater_or_equal`
    GreaterOrEqual,
    /// `between`
    Between,
    /// `not_between`
    NotBetween,
    /// `begins_with`
    BeginsWith,
    /// `not_begins_with`
    NotBeginsWith,
    /// `contains`
    Contains,
    /// `not_contains`
    NotContains,
    /// `ends_with`
    EndsWith,
    /// `not_ends_with`
    NotEndsWith,
    /// `is_empty`
    IsEmpty,
    /// `is_not_empty`
    IsNotEmpty,
    /// `is_null`
    IsNull,
    /// `is_not_null`
    IsNotNull,
    /// `exist`
    Exist,
    /// `not_exist`
    NotExist,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "equal" => Op::Equal,
            "not_equal" => Op::NotEqual,
            "in" => Op::In,
            "not_in" => Op::NotIn,
            "less" => Op::Less,
            "less_or_equal" => Op::LessOrEqual,
            "greater" => Op::Greater,
            "greater_or_equal" => Op::GreaterOrEqual,
            "between" => Op::Between,
            "not_between" => Op::NotBetween,
            "begins_with" => Op::BeginsWith,
            "not_begins_with" => Op::NotBeginsWith,
            "contains" => Op::Contains,
            "not_contains" => Op::NotContains,
            "ends_with" => Op::EndsWith,
            "not_ends_with" => Op::NotEndsWith,
            "is_empty" => Op::IsEmpty,
            "is_not_empty" => Op::IsNotEmpty,
            "is_null" => Op::IsNull,
            "is_not_null" => Op::IsNotNull,
            "exist" => Op::Exist,
            "not_exist" => Op::NotExist,
            _ => return None,
        })
    }
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Compare one attribute.
    Leaf {
        /// Attribute.
        field: String,
        /// Comparison.
        op: Op,
        /// Operand.
        value: Value,
    },
    /// Combine rules.
    Group {
        /// `AND` (true) or `OR` (false).
        and: bool,
        /// The rules.
        rules: Vec<Rule>,
    },
}

/// Parses a property filter; `None` when absent or empty (`{}`), i.e. everything matches.
/// `max_depth` counts group levels (2 for host lists, 3 for businesses).
pub fn parse(v: Option<&Value>, name: &str, max_depth: usize) -> PResult<Option<Rule>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) if m.is_empty() => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(v) => parse(Some(&v), name, max_depth),
            Err(_) => Err(ParamError::new(name, "must be an object")),
        },
        Some(v) => parse_rule(v, name, 1, max_depth).map(Some),
    }
}

fn parse_rule(v: &Value, name: &str, depth: usize, max_depth: usize) -> PResult<Rule> {
    let Some(m) = v.as_object() else {
        return Err(ParamError::new(name, "rule must be an object"));
    };
    if m.contains_key("condition") || m.contains_key("rules") {
        if depth > max_depth {
            return Err(ParamError::new(name, "is nested too deeply"));
        }
        let and = match m.get("condition").and_then(Value::as_str) {
            Some(c) if c.eq_ignore_ascii_case("AND") => true,
            Some(c) if c.eq_ignore_ascii_case("OR") => false,
            _ => {
                return Err(ParamError::new(
                    format!("{name}.condition"),
                    "must be AND or OR",
                ))
            }
        };
        let Some(rules) = m.get("rules").and_then(Value::as_array) else {
            return Err(ParamError::new(format!("{name}.rules"), "must be an array"));
        };
        if rules.is_empty() {
            return Err(ParamError::new(
                format!("{name}.rules"),
                "must not be empty",
            ));
        }
        if rules.len() > 20 {
            return Err(ParamError::new(
                format!("{name}.rules"),
                "has more than 20 rules",
            ));
        }
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| parse_rule(r, &format!("{name}.rules[{i}]"), depth + 1, max_depth))
            .collect::<PResult<Vec<_>>>()?;
        return Ok(Rule::Group { and, rules });
    }
    let field = match m.get("field").and_then(Value::as_str) {
        Some(f) if !f.is_empty() => f.to_string(),
        _ => return Err(ParamError::new(format!("{name}.field"), "is required")),
    };
    let op = m
        .get("operator")
        .and_then(Value::as_str)
        .and_then(Op::parse)
        .ok_or_else(|| ParamError::new(format!("{name}.operator"), "is not a known operator"))?;
    let value = m.get("value").cloned().unwrap_or(Value::Null);
    let problem = match op {
        Op::In | Op::NotIn => (!value
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.len() <= 500))
        .then_some("must be a non-empty array of at most 500 elements"),
        Op::Between | Op::NotBetween => value
            .as_array()
            .is_none_or(|a| a.len() != 2)
            .then_some("must be an array of two values"),
        Op::BeginsWith
        | Op::NotBeginsWith
        | Op::Contains
        | Op::NotContains
        | Op::EndsWith
        | Op::NotEndsWith => (!value.is_string()).then_some("must be a string"),
        Op::Equal
        | Op::NotEqual
        | Op::Less
        | Op::LessOrEqual
        | Op::Greater
        | Op::GreaterOrEqual => {
            (value.is_array() || value.is_object()).then_some("must be a single value")
        }
        _ => None,
    };
    if let Some(what) = problem {
        return Err(ParamError::new(format!("{name}.value"), what));
    }
    Ok(Rule::Leaf { field, op, value })
}

/// Compares two JSON scalars: numbers numerically (numeric strings count as numbers when
/// the other side is a number), strings lexically.
pub fn compare(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(_), _) | (_, Value::Number(_)) => {
            let x = as_f64(a)?;
            let y = as_f64(b)?;
            x.partial_cmp(&y)
        }
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        _ => None,
    }
}

fn as_f64(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => as_i64(v).map(|i| i as f64),
    }
}

/// Whether two values are equal under [`compare`]; a comma-separated multi-IP string
/// also equals each of its parts.
pub fn equals(a: &Value, b: &Value) -> bool {
    if compare(a, b) == Some(Ordering::Equal) {
        return true;
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) if x.contains(',') => {
            x.split(',').any(|p| p.trim() == y)
        }
        (Value::Array(xs), y) => xs.iter().any(|x| equals(x, y)),
        _ => false,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Evaluates a rule; `get` returns an attribute (`None` when the record lacks it).
pub fn eval(rule: &Rule, get: &dyn Fn(&str) -> Option<Value>) -> bool {
    match rule {
        Rule::Group { and, rules } => {
            if *and {
                rules.iter().all(|r| eval(r, get))
            } else {
                rules.iter().any(|r| eval(r, get))
            }
        }
        Rule::Leaf { field, op, value } => {
            let actual = get(field);
            let a = actual.clone().unwrap_or(Value::Null);
            let ord = || compare(&a, value);
            let empty = matches!(&a, Value::Null)
                || a.as_str().is_some_and(str::is_empty)
                || a.as_array().is_some_and(Vec::is_empty);
            let list = || value.as_array().cloned().unwrap_or_default();
            let between = || {
                let l = list();
                l.len() == 2
                    && matches!(
                        compare(&a, &l[0]),
                        Some(Ordering::Greater | Ordering::Equal)
                    )
                    && matches!(compare(&a, &l[1]), Some(Ordering::Less | Ordering::Equal))
            };
            let s = text(&a).to_lowercase();
            let needle = text(value).to_lowercase();
            match op {
                Op::Equal => equals(&a, value),
                Op::NotEqual => !equals(&a, value),
                Op::In => list().iter().any(|v| equals(&a, v)),
                Op::NotIn => !list().iter().any(|v| equals(&a, v)),
                Op::Less => ord() == Some(Ordering::Less),
                Op::LessOrEqual => matches!(ord(), Some(Ordering::Less | Ordering::Equal)),
                Op::Greater => ord() == Some(Ordering::Greater),
                Op::GreaterOrEqual => matches!(ord(), Some(Ordering::Greater | Ordering::Equal)),
                Op::Between => between(),
                Op::NotBetween => !between(),
                Op::BeginsWith => s.starts_with(&needle),
                Op::NotBeginsWith => !s.starts_with(&needle),
                Op::Contains => s.contains(&needle),
                Op::NotContains => !s.contains(&needle),
                Op::EndsWith => s.ends_with(&needle),
                Op::NotEndsWith => !s.ends_with(&needle),
                Op::IsEmpty => empty,
                Op::IsNotEmpty => !empty,
                Op::IsNull => a.is_null(),
                Op::IsNotNull => !a.is_null(),
                Op::Exist => actual.is_some(),
                Op::NotExist => actual.is_none(),
            }
        }
    }
}

/// An old-style condition `{field, operator: $eq|$ne|$in|$nin, value}`.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldCond {
    /// Attribute.
    pub field: String,
    /// `$eq`, `$ne`, `$in` or `$nin`.
    pub op: String,
    /// Operand.
    pub value: Value,
}

/// Parses a list of old-style conditions.
pub fn parse_conds(v: Option<&Value>, name: &str) -> PResult<Vec<FieldCond>> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let Some(a) = v.as_array() else {
        return Err(ParamError::new(name, "must be an array"));
    };
    a.iter()
        .enumerate()
        .map(|(i, c)| {
            let field = c
                .get("field")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .ok_or_else(|| ParamError::new(format!("{name}[{i}].field"), "is required"))?;
            let op = c
                .get("operator")
                .and_then(Value::as_str)
                .filter(|o| matches!(*o, "$eq" | "$ne" | "$in" | "$nin" | "$regex"))
                .ok_or_else(|| {
                    ParamError::new(format!("{name}[{i}].operator"), "is not supported")
                })?;
            let value = c.get("value").cloned().unwrap_or(Value::Null);
            if matches!(op, "$in" | "$nin") && !value.is_array() {
                return Err(ParamError::new(
                    format!("{name}[{i}].value"),
                    "must be an array",
                ));
            }
            Ok(FieldCond {
                field: field.to_string(),
                op: op.to_string(),
                value,
            })
        })
        .collect()
}

/// Whether a record passes every old-style condition.
pub fn eval_conds(conds: &[FieldCond], get: &dyn Fn(&str) -> Option<Value>) -> bool {
    conds.iter().all(|c| {
        let a = get(&c.field).unwrap_or(Value::Null);
        let list = || c.value.as_array().cloned().unwrap_or_default();
        match c.op.as_str() {
            "$eq" => equals(&a, &c.value),
            "$ne" => !equals(&a, &c.value),
            "$in" => list().iter().any(|v| equals(&a, v)),
            "$nin" => !list().iter().any(|v| equals(&a, v)),
            "$regex" => text(&a).contains(&text(&c.value)),
            _ => false,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(name: &str) -> Option<Value> {
        match name {
            "bk_host_id" => Some(json!(5)),
            "bk_host_innerip" => Some(json!("10.0.0.5")),
            "bk_cloud_id" => Some(json!(0)),
            "n" => Some(Value::Null),
            _ => None,
        }
    }

    #[test]
    fn evaluates() {
        let f = json!({"condition": "AND", "rules": [
            {"field": "bk_host_innerip", "operator": "in", "value": ["10.0.0.5", "10.0.0.6"]},
            {"condition": "OR", "rules": [
                {"field": "bk_host_id", "operator": "equal", "value": 5},
                {"field": "bk_cloud_id", "operator": "equal", "value": 1}
            ]}
        ]});
        let r = parse(Some(&f), "host_property_filter", 2).unwrap().unwrap();
        assert!(eval(&r, &rec));
        let f = json!({"condition": "AND", "rules": [
            {"field": "bk_host_id", "operator": "between", "value": [6, 9]}]});
        let r = parse(Some(&f), "f", 2).unwrap().unwrap();
        assert!(!eval(&r, &rec));
        let f = json!({"condition": "AND", "rules": [
            {"field": "n", "operator": "is_empty"},
            {"field": "zz", "operator": "not_exist"},
            {"field": "bk_host_innerip", "operator": "begins_with", "value": "10.0"}]});
        assert!(eval(&parse(Some(&f), "f", 2).unwrap().unwrap(), &rec));
    }

    #[test]
    fn rejects_bad_filters() {
        for f in [
            json!({"condition": "XOR", "rules": [{"field": "a", "operator": "equal", "value": 1}]}),
            json!({"condition": "AND", "rules": []}),
            json!({"condition": "AND", "rules": [{"field": "a", "operator": "like", "value": 1}]}),
            json!({"condition": "AND", "rules": [{"field": "a", "operator": "in", "value": 1}]}),
            json!({"condition": "AND", "rules": [{"condition": "OR", "rules": [
                {"condition": "OR", "rules": [{"field": "a", "operator": "equal", "value": 1}]}]}]}),
            json!([1]),
        ] {
            assert!(parse(Some(&f), "f", 2).is_err(), "{f}");
        }
        assert_eq!(parse(Some(&json!({})), "f", 2).unwrap(), None);
        assert_eq!(parse(None, "f", 2).unwrap(), None);
    }

    #[test]
    fn old_conditions() {
        let c = parse_conds(
            Some(&json!([{"field": "bk_host_id", "operator": "$in", "value": [5]}])),
            "c",
        )
        .unwrap();
        assert!(eval_conds(&c, &rec));
        assert!(parse_conds(
            Some(&json!([{"field": "x", "operator": "$gt", "value": 1}])),
            "c"
        )
        .is_err());
    }
}
