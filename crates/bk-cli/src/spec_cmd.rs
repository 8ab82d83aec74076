//! The generated API commands: `bk <component> <api>`, built at run time from the spec bundle
//! ([`bk_spec::bundle`]) with clap's builder API. Nothing here lists APIs by hand.
//!
//! Each request parameter becomes a flag named after it in kebab case (`bk_biz_id` ->
//! `--bk-biz-id`, the ESB spelling `--bk_biz_id` is accepted too) whose value is parsed by the
//! parameter's schema into JSON: integers, numbers and booleans by type, enums checked against
//! their values, objects and maps as JSON text (or `@file.json`), arrays as repeated flags or
//! one JSON array.

use bk_spec::{Api, Component, EnumRepr, Field, PaginationStyle, Schema, SchemaKind};
use clap::builder::{PossibleValuesParser, TypedValueParser, ValueParser};
use clap::{Arg, ArgAction, Command};
use serde_json::Value;

/// Prefix of the clap ids of parameter flags (`param:bk_biz_id`), keeping them apart from the
/// ids of the connection and output flags.
pub const PARAM_ID: &str = "param:";

/// Id of `-d/--data`.
pub const DATA: &str = "data";
/// Id of `--page-all`.
pub const PAGE_ALL: &str = "page_all";

/// Long flag names used by `bk` itself; a parameter with such a name gets `--param-<name>`.
const RESERVED: &[&str] = &[
    "profile",
    "endpoint",
    "app-code",
    "app-secret",
    "username",
    "bk-token",
    "api-version",
    "auth-mode",
    "output",
    "raw",
    "data",
    "page-all",
    "help",
];

/// ESB names use `_`; the CLI accepts `-` as well.
pub fn kebab(s: &str) -> String {
    s.replace('_', "-")
}

/// The long flag of a parameter.
pub fn param_long(name: &str) -> String {
    let k = kebab(name);
    if RESERVED.contains(&k.as_str()) {
        format!("param-{k}")
    } else {
        k
    }
}

/// The component with this command name (`cc`, `bk_login` or `bk-login`).
pub fn find_component(name: &str) -> Option<&'static Component> {
    bk_spec::bundle()
        .components
        .iter()
        .find(|c| c.name == name || kebab(&c.name) == name)
}

/// One command per component, each with one subcommand per API; with `only`, the other
/// components get no API commands (a faster start when the command line names a component).
pub fn component_commands(only: Option<&str>) -> Vec<Command> {
    bk_spec::bundle()
        .components
        .iter()
        .map(|c| component_command(c, only.is_none_or(|o| o == c.name)))
        .collect()
}

fn component_command(c: &'static Component, with_apis: bool) -> Command {
    let mut about = c.title.clone();
    if let Some(d) = &c.description {
        about = format!("{about}\n\n{}", d.trim());
    }
    let mut cmd = Command::new(c.name.as_str())
        .about(c.title.clone())
        .long_about(about)
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand_value_name("API")
        .subcommand_help_heading("APIs")
        .after_help(format!(
            "{} APIs. `bk {} <API> --help` shows an API's method, path and parameters.",
            c.apis.len(),
            c.name
        ))
        .args(crate::connection_args());
    let k = kebab(&c.name);
    if k != c.name {
        cmd = cmd.alias(k);
    }
    if c.name == "job" {
        // The script-run workflow sits with the JOB commands, where operators look for it.
        cmd = cmd.subcommand(crate::workflow::job::run_script_command());
    }
    if with_apis {
        for api in &c.apis {
            cmd = cmd.subcommand(api_command(c, api));
        }
    }
    cmd
}

fn api_command(c: &'static Component, api: &'static Api) -> Command {
    let mut long = format!(
        "{}\n\n{} {}",
        api.summary.trim(),
        api.method.as_str(),
        api.path_for("/v2")
    );
    if let Some(d) = &api.deprecated {
        long.push_str("\n\nDEPRECATED");
        if !d.trim().is_empty() {
            long.push_str(&format!(": {}", d.trim()));
        }
    }
    if let Some(d) = &api.description {
        long.push_str(&format!("\n\n{}", d.trim()));
    }
    if let Some(p) = &api.pagination {
        let how = match p.style {
            PaginationStyle::StartLimit => format!(
                "`{}: {{start, limit}}`",
                p.param.as_deref().unwrap_or("page")
            ),
            PaginationStyle::PageNumber => format!(
                "`{}` (from 1) and `page_size`",
                p.param.as_deref().unwrap_or("page")
            ),
            PaginationStyle::StartLength => {
                format!("`{}` and `length`", p.param.as_deref().unwrap_or("start"))
            }
        };
        long.push_str(&format!("\n\nPaged by {how}"));
        if let Some(m) = p.max_limit {
            long.push_str(&format!(", at most {m} per page"));
        }
        long.push_str("; --page-all walks every page.");
    }
    let required: Vec<String> = api
        .params
        .iter()
        .filter(|f| f.required)
        .map(|f| format!("--{}", param_long(&f.name)))
        .collect();
    let mut after = String::new();
    if !required.is_empty() {
        after.push_str(&format!("Required: {}. ", required.join(", ")));
    }
    after.push_str(
        "Flags override the same keys of -d. Prints the response's `data`; --raw prints the \
         whole envelope.",
    );

    let mut cmd = Command::new(api.name.as_str())
        .about(api.summary.trim().to_string())
        .long_about(long)
        .after_help(after)
        .arg(
            Arg::new(DATA)
                .short('d')
                .long("data")
                .value_name("JSON|@FILE")
                .help("Request parameters as a JSON object, or @file.json (@- for stdin)")
                .long_help(
                    "Request parameters as a JSON object, or @file.json to read them from a \
                     file (@- reads standard input). Parameter flags are merged into it and \
                     win over its keys.",
                )
                .help_heading("Input"),
        );
    let k = kebab(&api.name);
    if k != api.name {
        cmd = cmd.alias(k);
    }
    if api.pagination.is_some() {
        cmd = cmd.arg(
            Arg::new(PAGE_ALL)
                .long("page-all")
                .action(ArgAction::SetTrue)
                .conflicts_with("raw")
                .help("Follow the pagination and print every item, one JSON document a line")
                .help_heading("Input"),
        );
    }
    for f in &api.params {
        cmd = cmd.arg(param_arg(c, f));
    }
    cmd
}

/// A short description of a schema, for `--help`.
fn type_name(c: &Component, s: &Schema) -> String {
    let s = c.resolve(s);
    match &s.kind {
        SchemaKind::String { format, .. } => match format {
            Some(f) => format!("string, {}", f.name()),
            None => "string".into(),
        },
        SchemaKind::Integer { format, .. } => match format {
            Some(f) => format!("integer, {}", f.name()),
            None => "integer".into(),
        },
        SchemaKind::Number { .. } => "number".into(),
        SchemaKind::Boolean => "boolean".into(),
        SchemaKind::Any => "any JSON".into(),
        SchemaKind::Empty => "nothing".into(),
        SchemaKind::Array { items, .. } => format!("array of {}", type_name(c, items)),
        SchemaKind::Map { .. } => "JSON object".into(),
        SchemaKind::Object { .. } => "JSON object".into(),
        SchemaKind::Enum { repr, .. } => match repr {
            EnumRepr::String => "string enum".into(),
            EnumRepr::Integer => "integer enum".into(),
        },
        SchemaKind::Ref { name } => name.clone(),
    }
}

fn value_name(c: &Component, s: &Schema) -> &'static str {
    match &c.resolve(s).kind {
        SchemaKind::String { .. } => "STRING",
        SchemaKind::Integer { .. } => "INT",
        SchemaKind::Number { .. } => "NUMBER",
        SchemaKind::Boolean => "BOOL",
        SchemaKind::Enum { .. } => "VALUE",
        SchemaKind::Array { items, .. } => match &c.resolve(items).kind {
            SchemaKind::Object { .. } | SchemaKind::Map { .. } | SchemaKind::Array { .. } => "JSON",
            _ => "ITEM|JSON",
        },
        _ => "JSON",
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

fn param_arg(c: &'static Component, f: &'static Field) -> Arg {
    let schema = c.resolve(&f.schema);
    let long = param_long(&f.name);
    let ty = type_name(c, &f.schema);
    let req = if f.required { ", required" } else { "" };
    let desc = f
        .schema
        .description
        .as_deref()
        .or(schema.description.as_deref())
        .unwrap_or("");
    let short_help = if first_line(desc).is_empty() {
        format!("[{ty}{req}]")
    } else {
        format!("{} [{ty}{req}]", first_line(desc))
    };
    let mut long_help = if desc.trim().is_empty() {
        format!("`{}` [{ty}{req}]", f.name)
    } else {
        format!("{}\n`{}` [{ty}{req}]", desc.trim(), f.name)
    };
    if let Some(d) = &f.schema.default {
        long_help.push_str(&format!("\nServer default: {d}"));
    }
    if let Some(e) = f.schema.example.as_ref().or(schema.example.as_ref()) {
        long_help.push_str(&format!("\nExample: {e}"));
    }
    if let Some(d) = &f.schema.deprecated {
        long_help.push_str(&format!("\nDeprecated. {d}"));
    }
    if long != kebab(&f.name) {
        long_help.push_str(&format!(
            "\n(flag renamed: --{} belongs to bk itself)",
            kebab(&f.name)
        ));
    }
    let mut arg = Arg::new(format!("{PARAM_ID}{}", f.name))
        .long(long.clone())
        .value_name(value_name(c, &f.schema))
        .help(short_help)
        .long_help(long_help)
        .help_heading("Parameters");
    if f.name != long && long == kebab(&f.name) {
        arg = arg.alias(f.name.clone());
    }
    match &schema.kind {
        SchemaKind::Boolean => arg
            .num_args(0..=1)
            .default_missing_value("true")
            .value_parser(ValueParser::new(parse_bool_value)),
        SchemaKind::Array { items, .. } => {
            let items: &'static Schema = c.resolve(items);
            arg.action(ArgAction::Append)
                .value_parser(ValueParser::new(move |s: &str| {
                    parse_array_arg(c, items, s)
                }))
        }
        SchemaKind::Enum { repr, values, .. } => {
            let names: Vec<String> = values
                .iter()
                .map(|v| match &v.value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let repr = *repr;
            arg.value_parser(ValueParser::new(PossibleValuesParser::new(names).map(
                move |s: String| {
                    match repr {
                        EnumRepr::Integer => s
                            .parse::<i64>()
                            .map(Value::from)
                            .unwrap_or(Value::String(s)),
                        EnumRepr::String => Value::String(s),
                    }
                },
            )))
        }
        _ => arg.value_parser(ValueParser::new(move |s: &str| parse_value(c, schema, s))),
    }
}

fn parse_bool_value(s: &str) -> Result<Value, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(Value::Bool(true)),
        "false" | "0" | "no" | "off" => Ok(Value::Bool(false)),
        _ => Err(format!("expected true or false, got {s:?}")),
    }
}

/// Text of a JSON argument: itself, or the contents of `@file` (`@-`: standard input).
pub fn json_text(s: &str) -> Result<String, String> {
    match s.strip_prefix('@') {
        Some("-") => {
            let mut buf = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut buf)
                .map_err(|e| format!("cannot read standard input: {e}"))?;
            Ok(buf)
        }
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}")),
        None => Ok(s.to_string()),
    }
}

fn parse_json(s: &str) -> Result<Value, String> {
    let text = json_text(s)?;
    serde_json::from_str(&text).map_err(|e| format!("not valid JSON ({e})"))
}

/// Parses one flag value by its schema.
pub fn parse_value(c: &Component, schema: &Schema, s: &str) -> Result<Value, String> {
    let schema = c.resolve(schema);
    match &schema.kind {
        SchemaKind::String { .. } => Ok(Value::String(s.to_string())),
        SchemaKind::Integer { .. } => s
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("expected an integer, got {s:?}")),
        SchemaKind::Number { .. } => s
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| format!("expected a number, got {s:?}")),
        SchemaKind::Boolean => parse_bool_value(s),
        SchemaKind::Enum { repr, values, .. } => {
            let v = match repr {
                EnumRepr::Integer => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("expected an integer, got {s:?}"))?,
                EnumRepr::String => Value::String(s.to_string()),
            };
            if values.iter().any(|e| e.value == v) {
                Ok(v)
            } else {
                let all: Vec<String> = values.iter().map(|e| e.value.to_string()).collect();
                Err(format!("{s:?} is not one of {}", all.join(", ")))
            }
        }
        SchemaKind::Object { .. } | SchemaKind::Map { .. } => {
            let v = parse_json(s)?;
            if v.is_object() {
                Ok(v)
            } else {
                Err("expected a JSON object".into())
            }
        }
        SchemaKind::Array { .. } => {
            let v = parse_json(s)?;
            if v.is_array() {
                Ok(v)
            } else {
                Err("expected a JSON array".into())
            }
        }
        // Any JSON; text that is not JSON is taken as a string.
        SchemaKind::Any | SchemaKind::Empty | SchemaKind::Ref { .. } => {
            Ok(parse_json(s).unwrap_or_else(|_| Value::String(s.to_string())))
        }
    }
}

/// Marks one occurrence of an array flag that held a whole JSON array (to be spread).
const SPREAD: &str = "\u{0}spread";

/// One occurrence of an array flag: a JSON array (`[1,2]`, `@file`) or one item.
fn parse_array_arg(c: &Component, items: &Schema, s: &str) -> Result<Value, String> {
    let t = s.trim_start();
    let item_is_array = matches!(c.resolve(items).kind, SchemaKind::Array { .. });
    if !item_is_array && (t.starts_with('[') || t.starts_with('@')) {
        let v = parse_json(s)?;
        return match v {
            Value::Array(_) => Ok(serde_json::json!({ SPREAD: v })),
            _ => Err("expected a JSON array".into()),
        };
    }
    parse_value(c, items, s)
}

/// The JSON value of a parameter flag given `values` (one per occurrence).
pub fn flag_value(schema_is_array: bool, values: Vec<Value>) -> Value {
    if !schema_is_array {
        return values.into_iter().last().unwrap_or(Value::Null);
    }
    let mut out = Vec::new();
    for v in values {
        match v {
            Value::Object(mut m) if m.len() == 1 && m.contains_key(SPREAD) => {
                if let Some(Value::Array(a)) = m.remove(SPREAD) {
                    out.extend(a);
                }
            }
            v => out.push(v),
        }
    }
    Value::Array(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cc() -> &'static Component {
        find_component("cc").expect("cc")
    }

    #[test]
    fn every_component_is_a_command_and_kebab_finds_it() {
        assert!(find_component("bk-login").is_some());
        assert!(find_component("bk_login").is_some());
        assert!(find_component("nope").is_none());
        let cmds = component_commands(None);
        assert_eq!(cmds.len(), bk_spec::bundle().components.len());
    }

    #[test]
    fn parses_by_schema() {
        let c = cc();
        let api = c.api("list_biz_hosts_topo").unwrap();
        let biz = &api.param("bk_biz_id").unwrap().schema;
        assert_eq!(parse_value(c, biz, "2").unwrap(), Value::from(2));
        assert!(parse_value(c, biz, "two").is_err());
        let page = &api.param("page").unwrap().schema;
        assert_eq!(
            parse_value(c, page, r#"{"start":0,"limit":10}"#).unwrap()["limit"],
            10
        );
        assert!(parse_value(c, page, "[1]").is_err());
        let fields = match &c.resolve(&api.param("fields").unwrap().schema).kind {
            SchemaKind::Array { items, .. } => items.clone(),
            _ => panic!("fields is an array"),
        };
        let a = parse_array_arg(c, &fields, r#"["a","b"]"#).unwrap();
        let b = parse_array_arg(c, &fields, "c").unwrap();
        assert_eq!(
            flag_value(true, vec![a, b]),
            serde_json::json!(["a", "b", "c"])
        );
    }

    #[test]
    fn reserved_names_are_renamed() {
        assert_eq!(param_long("data"), "param-data");
        assert_eq!(param_long("bk_token"), "param-bk-token");
        assert_eq!(param_long("bk_biz_id"), "bk-biz-id");
    }
}
