//! Identifiers: case conversion (heck), keyword escaping and validity checks.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Rust's strict and reserved keywords (2021 edition), which need `r#` as identifiers.
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub",
    "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "gen", "macro",
    "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Keywords that cannot be raw identifiers; they get a trailing underscore instead.
const NOT_RAW: &[&str] = &["crate", "self", "Self", "super"];

/// Whether `s` is a Rust keyword.
pub fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// The token text for a field or function name: `type` -> `r#type`, `self` -> `self_`.
pub fn escape(ident: &str) -> String {
    if NOT_RAW.contains(&ident) {
        format!("{ident}_")
    } else if is_keyword(ident) {
        format!("r#{ident}")
    } else {
        ident.to_string()
    }
}

/// `[a-z][a-z0-9_]*`.
pub fn is_snake_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// `[A-Z][A-Za-z0-9]*`.
pub fn is_pascal_ident(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('A'..='Z')) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// A valid Cargo package name: lowercase letters, digits, hyphens and underscores.
pub fn is_crate_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// PascalCase of any name (`list_biz_hosts` -> `ListBizHosts`).
pub fn pascal(s: &str) -> String {
    s.to_upper_camel_case()
}

/// The snake_case Rust name of a wire field name, or `None` when none can be derived
/// (empty, non-ASCII, starts with a digit).
pub fn field_ident(wire: &str) -> Option<String> {
    let snake = wire.to_snake_case();
    is_snake_ident(&snake).then_some(snake)
}

/// A best-effort identifier suggestion for a help message.
pub fn suggest_ident(wire: &str) -> String {
    let cleaned: String = wire
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    let trimmed = cleaned.trim_matches('_');
    if trimmed.is_empty() {
        "field_name".into()
    } else if trimmed.starts_with(|c: char| c.is_ascii_digit()) {
        format!("field_{trimmed}")
    } else {
        trimmed.to_string()
    }
}

/// The variant name for an enum value without an explicit name: strings are PascalCased
/// (`biz_set` -> `BizSet`, `SUSPEND` -> `Suspend`); integers become `V<n>` (`-1` -> `VMinus1`).
pub fn variant_for(value: &serde_json::Value) -> Option<String> {
    match value {
        serde_json::Value::String(s) if s.parse::<i64>().is_ok() => {
            variant_for(&serde_json::Value::from(s.parse::<i64>().ok()?))
        }
        serde_json::Value::String(s) => {
            // `SUSPEND` -> `Suspend`, but keep the word breaks of `bizSet`.
            let base = if s.chars().any(|c| c.is_ascii_lowercase()) {
                s.clone()
            } else {
                s.to_lowercase()
            };
            let p = pascal(&base);
            let p = if p.starts_with(|c: char| c.is_ascii_digit()) {
                format!("V{p}")
            } else {
                p
            };
            is_pascal_ident(&p).then_some(p)
        }
        serde_json::Value::Number(n) => {
            let i = n.as_i64()?;
            Some(if i < 0 {
                format!("VMinus{}", i.unsigned_abs())
            } else {
                format!("V{i}")
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_escaped() {
        assert_eq!(escape("type"), "r#type");
        assert_eq!(escape("self"), "self_");
        assert_eq!(escape("bk_biz_id"), "bk_biz_id");
    }

    #[test]
    fn awkward_names() {
        assert_eq!(field_ident("bkBizID").as_deref(), Some("bk_biz_id"));
        assert_eq!(field_ident("1st"), None);
        assert_eq!(field_ident("名字"), None);
        assert_eq!(
            variant_for(&serde_json::json!("biz_set")).as_deref(),
            Some("BizSet")
        );
        assert_eq!(
            variant_for(&serde_json::json!("SUSPEND")).as_deref(),
            Some("Suspend")
        );
        assert_eq!(
            variant_for(&serde_json::json!(-1)).as_deref(),
            Some("VMinus1")
        );
        assert_eq!(variant_for(&serde_json::json!("")), None);
    }
}
