//! Printing responses: JSON (pretty on a terminal, compact otherwise), YAML, or a table for
//! list-like data with columns picked by what the rows are (hosts, JOB instances, ITSM
//! tickets, else the first few scalar keys).

use std::io::Write;

use serde_json::Value;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON; pretty when stdout is a terminal.
    Json,
    /// YAML.
    Yaml,
    /// A text table for lists, key/value lines for objects.
    Table,
}

impl Format {
    /// Parses the `--output` value.
    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "json" => Some(Format::Json),
            "yaml" => Some(Format::Yaml),
            "table" => Some(Format::Table),
            _ => None,
        }
    }
}

/// How to print one value.
#[derive(Debug, Clone, Copy)]
pub struct Style<'a> {
    /// The format.
    pub format: Format,
    /// Pretty JSON (stdout is a terminal).
    pub pretty: bool,
    /// The ESB component, to pick table columns.
    pub component: &'a str,
    /// Dot path of the items in `data` (from the spec's pagination), to find the rows.
    pub items: Option<&'a str>,
}

/// Writes `v` in `style`, ending with a newline.
pub fn write_value(out: &mut dyn Write, v: &Value, style: &Style<'_>) -> std::io::Result<()> {
    match style.format {
        Format::Json => {
            let text = if style.pretty {
                serde_json::to_string_pretty(v)
            } else {
                serde_json::to_string(v)
            }
            .map_err(std::io::Error::other)?;
            writeln!(out, "{text}")
        }
        Format::Yaml => {
            let text = serde_yaml::to_string(v).map_err(std::io::Error::other)?;
            out.write_all(text.as_bytes())
        }
        Format::Table => {
            let text = match rows_of(v, style.items) {
                Some(rows) => table(rows, style.component),
                None => key_values(v),
            };
            out.write_all(text.as_bytes())
        }
    }
}

/// Follows a dot path (`a.b`); the empty path is `v` itself.
pub fn at_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |v, k| v.get(k))
}

/// The rows of list-like data: `data` itself, the spec's items path, or a well-known list key.
fn rows_of<'v>(v: &'v Value, items: Option<&str>) -> Option<&'v [Value]> {
    if let Value::Array(a) = v {
        return Some(a);
    }
    if let Some(Value::Array(a)) = items.and_then(|p| at_path(v, p)) {
        return Some(a);
    }
    for key in ["info", "items", "data", "list", "results", "rows"] {
        if let Some(Value::Array(a)) = v.get(key) {
            return Some(a);
        }
    }
    None
}

/// A table column: its header and the dot paths tried in order for a cell.
struct Column {
    header: String,
    paths: Vec<String>,
}

fn col(header: &str, paths: &[&str], prefix: &str) -> Column {
    Column {
        header: header.to_string(),
        paths: paths.iter().map(|p| format!("{prefix}{p}")).collect(),
    }
}

/// The columns for `rows`.
fn columns(rows: &[Value], component: &str) -> Vec<Column> {
    let first = rows.iter().find(|r| r.is_object());
    let Some(first) = first else {
        return Vec::new();
    };
    let has = |k: &str| first.get(k).is_some();
    // Hosts, bare (list_biz_hosts) or under `host` (list_biz_hosts_topo).
    let host_prefix = if has("bk_host_id") {
        Some("")
    } else if first
        .get("host")
        .and_then(|h| h.get("bk_host_id"))
        .is_some()
    {
        Some("host.")
    } else {
        None
    };
    let chosen: Vec<Column> = if let Some(p) = host_prefix {
        vec![
            col("bk_host_id", &["bk_host_id"], p),
            col(
                "bk_host_innerip",
                &["bk_host_innerip", "bk_host_innerip_v6"],
                p,
            ),
            col("bk_cloud_id", &["bk_cloud_id"], p),
            col("bk_host_name", &["bk_host_name"], p),
            col("os", &["bk_os_name", "bk_os_type", "os"], p),
        ]
    } else if has("sn") && (has("current_status") || has("title")) {
        // ITSM tickets.
        vec![
            col("sn", &["sn"], ""),
            col("id", &["id"], ""),
            col("title", &["title"], ""),
            col("current_status", &["current_status", "status"], ""),
            col("creator", &["creator"], ""),
            col("create_at", &["create_at", "create_time"], ""),
        ]
    } else if matches!(component, "job" | "jobv3")
        || has("job_instance_id")
        || has("bk_job_id")
        || has("step_instance_id")
    {
        // JOB instances, plans, templates, scripts.
        vec![
            col("id", &["job_instance_id", "bk_job_id", "id"], ""),
            col("name", &["name", "job_instance_name"], ""),
            col("status", &["status"], ""),
            col("operator", &["operator", "creator", "last_modify_user"], ""),
            col(
                "create_time",
                &["create_time", "start_time", "last_modify_time"],
                "",
            ),
        ]
    } else {
        Vec::new()
    };
    let chosen: Vec<Column> = chosen
        .into_iter()
        .filter(|c| rows.iter().any(|r| cell(r, c).is_some()))
        .collect();
    if !chosen.is_empty() {
        return chosen;
    }
    // Else the first few scalar keys: ids first, then names, then the rest.
    let Value::Object(m) = first else {
        return Vec::new();
    };
    let scalar: Vec<&String> = m
        .iter()
        .filter(|(_, v)| !v.is_object() && !v.is_array())
        .map(|(k, _)| k)
        .collect();
    let rank = |k: &str| {
        if k == "id" || k.ends_with("_id") {
            0
        } else if k == "name" || k.ends_with("_name") {
            1
        } else {
            2
        }
    };
    let mut keys = scalar;
    keys.sort_by_key(|k| rank(k));
    keys.into_iter()
        .take(6)
        .map(|k| col(k, &[k.as_str()], ""))
        .collect()
}

fn cell(row: &Value, c: &Column) -> Option<String> {
    c.paths
        .iter()
        .find_map(|p| at_path(row, p).filter(|v| !v.is_null()))
        .map(scalar_text)
}

/// A value as a table cell: strings bare, others as compact JSON, cut at 60 characters.
fn scalar_text(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let s = s.replace(['\n', '\t'], " ");
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(59).collect();
        format!("{cut}…")
    } else {
        s
    }
}

/// Terminal columns of `s`: East Asian wide characters (CJK, Hangul, fullwidth forms) take
/// two, the rest one.
fn width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// A text table: a header line, then one line per row, columns padded to their widest cell.
pub fn render_table(headers: &[String], body: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| width(h)).collect();
    for r in body {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(width(c));
        }
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                l.push_str(c);
                l.push_str(&" ".repeat(widths[i] - width(c) + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers, &mut out);
    for r in body {
        line(r, &mut out);
    }
    out
}

/// A table of `rows`.
fn table(rows: &[Value], component: &str) -> String {
    let cols = columns(rows, component);
    if cols.is_empty() {
        // Rows of scalars.
        let body: Vec<Vec<String>> = rows.iter().map(|r| vec![scalar_text(r)]).collect();
        return render_table(&["value".to_string()], &body);
    }
    let headers: Vec<String> = cols.iter().map(|c| c.header.clone()).collect();
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            cols.iter()
                .map(|c| cell(r, c).unwrap_or_default())
                .collect()
        })
        .collect();
    render_table(&headers, &body)
}

/// Key/value lines for data that is not a list.
fn key_values(v: &Value) -> String {
    match v {
        Value::Object(m) => {
            let body: Vec<Vec<String>> = m
                .iter()
                .map(|(k, v)| vec![k.clone(), scalar_text(v)])
                .collect();
            render_table(&["key".to_string(), "value".to_string()], &body)
        }
        other => format!("{}\n", scalar_text(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn style(format: Format) -> Style<'static> {
        Style {
            format,
            pretty: false,
            component: "cc",
            items: Some("info"),
        }
    }

    fn print(v: &Value, s: &Style<'_>) -> String {
        let mut out = Vec::new();
        write_value(&mut out, v, s).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn host_topo_table() {
        let v = json!({"count": 2, "info": [
            {"host": {"bk_host_id": 1, "bk_host_innerip": "10.0.0.1", "bk_cloud_id": 0, "bk_os_type": "1"}, "topo": []},
            {"host": {"bk_host_id": 22, "bk_host_innerip": "10.0.0.2", "bk_cloud_id": 0, "bk_host_name": "web"}, "topo": []},
        ]});
        let t = print(&v, &style(Format::Table));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 3, "{t}");
        assert!(lines[0].starts_with("bk_host_id  bk_host_innerip"), "{t}");
        assert!(lines[0].ends_with("os"), "{t}");
        assert!(lines[2].contains("web"), "{t}");
    }

    #[test]
    fn tickets_and_generic() {
        let v = json!({"items": [{"sn": "NO1", "id": 1, "title": "a", "current_status": "RUNNING", "creator": "admin"}]});
        let t = print(
            &v,
            &Style {
                component: "itsm",
                items: Some("items"),
                ..style(Format::Table)
            },
        );
        assert!(t.starts_with("sn"), "{t}");
        let v = json!([{"z": 1, "bk_biz_id": 2, "bk_biz_name": "x", "nested": {}}]);
        let t = print(&v, &style(Format::Table));
        assert!(t.starts_with("bk_biz_id  bk_biz_name  z"), "{t}");
        let t = print(&json!({"a": 1}), &style(Format::Table));
        assert!(t.contains("a    1"), "{t}");
    }

    #[test]
    fn wide_characters_align() {
        let t = print(
            &json!([{"bk_biz_id": 1, "bk_biz_name": "资源池"}, {"bk_biz_id": 2, "bk_biz_name": "x"}]),
            &style(Format::Table),
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(width(lines[0]), "bk_biz_id  bk_biz_name".len(), "{t}");
        assert_eq!(width("资源池"), 6);
    }

    #[test]
    fn json_and_yaml() {
        let v = json!({"a": [1, 2]});
        assert_eq!(print(&v, &style(Format::Json)), "{\"a\":[1,2]}\n");
        assert!(print(
            &v,
            &Style {
                pretty: true,
                ..style(Format::Json)
            }
        )
        .contains("\n  \"a\""));
        assert_eq!(print(&v, &style(Format::Yaml)), "a:\n- 1\n- 2\n");
    }
}
