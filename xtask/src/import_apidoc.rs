//! `cargo xtask import-apidoc <component> <doc.md>...`: turn an official BlueKing ESB API doc
//! (Markdown, see `/work/shared/reference/apidocs/README.md`) into a first draft of
//! `specs/<component>/<api>.yaml` (format: `specs/README.md`).
//!
//! What the importer does, per doc:
//! - parses the parameter tables (all known header variants) and nests `#### <name>` sub-tables
//!   into the field they describe;
//! - maps the doc's types (English and Chinese) to spec types, extracts obvious closed enums;
//! - builds the `response` schema from the response tables, or from the example's `data`;
//! - parses the response example, repairing the known kinds of broken JSON, and records every
//!   repair as a `fixups` entry;
//! - never copies Chinese text into the spec: `summary` is `TODO` and descriptions are omitted;
//! - never overwrites hand-written work: an existing spec only gets the top-level keys, request
//!   parameters and response properties it lacks, inserted as text, so re-running on an unchanged
//!   doc is a byte-level no-op.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

/// One row of `inventory.tsv` (component, api, method, path, seen_in, label_zh).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRow {
    pub component: String,
    pub api: String,
    pub method: String,
    pub path: String,
    pub seen_in: Vec<String>,
}

/// What happened to one doc.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    pub file: PathBuf,
    /// The spec file was created or changed.
    pub written: bool,
    /// What could not be parsed or needs a human, each starting with `line N:` when it has a line.
    pub problems: Vec<String>,
}

/// Load `inventory.tsv`. The header row (first column `component`) is skipped; `seen_in` is split
/// on `+` and `,`.
pub fn load_inventory(path: &Path) -> Result<Vec<InventoryRow>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').map(str::trim).collect();
        if i == 0 && cols[0] == "component" {
            continue;
        }
        if cols.len() < 4 {
            return Err(format!(
                "{}:{}: expected at least 4 tab-separated columns (component, api, method, path)",
                path.display(),
                i + 1
            ));
        }
        let seen_in = cols
            .get(4)
            .map(|s| {
                s.split(['+', ','])
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        rows.push(InventoryRow {
            component: cols[0].to_string(),
            api: cols[1].to_string(),
            method: cols[2].to_uppercase(),
            path: cols[3].to_string(),
            seen_in,
        });
    }
    Ok(rows)
}

/// Import each doc into `specs_dir/<component>/<api>.yaml` (api = file stem).
/// `inventory` rows give method/path/seen_in. Per-doc failures are reported in the doc's
/// [`ImportReport`]; `Err` only for failures that stop the whole run.
pub fn run(
    specs_dir: &Path,
    component: &str,
    docs: &[PathBuf],
    inventory: &[InventoryRow],
) -> Result<Vec<ImportReport>, String> {
    if !is_api_name(component) {
        return Err(format!("`{component}` is not a valid component name"));
    }
    let dir = specs_dir.join(component);
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    Ok(docs
        .iter()
        .map(|doc| import_one(&dir, component, doc, inventory))
        .collect())
}

/// Docs in the reference pack that are not API endpoints.
const NOT_ENDPOINTS: &[&str] = &["common", "callback_protocol"];

fn import_one(dir: &Path, component: &str, doc: &Path, inventory: &[InventoryRow]) -> ImportReport {
    let mut report = ImportReport {
        file: doc.to_path_buf(),
        written: false,
        problems: Vec::new(),
    };
    let api = doc
        .file_stem()
        .map(|s| s.to_string_lossy().trim().to_lowercase())
        .unwrap_or_default();
    if NOT_ENDPOINTS.contains(&api.as_str()) {
        report.problems.push(format!(
            "`{api}` is not an API endpoint (shared definitions); skipped"
        ));
        return report;
    }
    if !is_api_name(&api) {
        report.problems.push(format!(
            "file stem `{api}` is not a valid API name; skipped"
        ));
        return report;
    }
    let text = match fs::read_to_string(doc) {
        Ok(t) => t,
        Err(e) => {
            report.problems.push(format!("cannot read: {e}"));
            return report;
        }
    };
    let (spec, mut problems) = build_spec(component, &api, &text, inventory);
    let out = dir.join(format!("{api}.yaml"));
    match write_or_merge(&out, &spec, &mut problems) {
        Ok(w) => report.written = w,
        Err(e) => problems.push(e),
    }
    report.problems = problems;
    report
}

fn is_api_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some('a'..='z'))
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

// ---------------------------------------------------------------------------------------------
// Markdown

mod md {
    #[derive(Debug, Clone)]
    pub struct Heading {
        pub title: String,
        /// A `**name** ...` line used like a heading.
        pub pseudo: bool,
    }
    #[derive(Debug, Clone)]
    pub struct Table {
        pub header: Vec<String>,
        pub rows: Vec<(usize, Vec<String>)>,
        pub line: usize,
    }
    #[derive(Debug, Clone)]
    pub struct Fence {
        pub body: String,
        /// 1-based doc line of the first body line.
        pub line: usize,
    }
    #[derive(Debug, Clone)]
    pub enum Block {
        Heading(Heading),
        Table(Table),
        Fence(Fence),
    }

    pub fn parse(src: &str) -> Vec<Block> {
        let lines: Vec<&str> = src.lines().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < lines.len() {
            let t = lines[i].trim();
            if t.starts_with("```") || t.starts_with("~~~") {
                let marker = &t[..3];
                let start = i + 1;
                let mut j = start;
                while j < lines.len() && !lines[j].trim().starts_with(marker) {
                    j += 1;
                }
                out.push(Block::Fence(Fence {
                    body: lines[start..j].join("\n"),
                    line: start + 1,
                }));
                i = j + 1;
                continue;
            }
            if t.starts_with('#') {
                let level = t.chars().take_while(|c| *c == '#').count();
                if level <= 6 {
                    let title = t[level..].trim().trim_end_matches('#').trim();
                    out.push(Block::Heading(Heading {
                        title: decode_entities(title),
                        pseudo: false,
                    }));
                    i += 1;
                    continue;
                }
            }
            if let Some(rest) = t.strip_prefix("**") {
                if let Some(end) = rest.find("**") {
                    let inner = rest[..end].trim().trim_matches('`');
                    if inner.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                        out.push(Block::Heading(Heading {
                            title: decode_entities(&t.replace("**", "")),
                            pseudo: true,
                        }));
                        i += 1;
                        continue;
                    }
                }
            }
            if t.contains('|') && i + 1 < lines.len() && is_separator(lines[i + 1]) {
                let header = split_row(t);
                let mut rows = Vec::new();
                let mut j = i + 2;
                while j < lines.len() {
                    let r = lines[j].trim();
                    if r.is_empty()
                        || !r.contains('|')
                        || r.starts_with('#')
                        || r.starts_with("```")
                    {
                        break;
                    }
                    rows.push((j + 1, split_row(r)));
                    j += 1;
                }
                out.push(Block::Table(Table {
                    header,
                    rows,
                    line: i + 1,
                }));
                i = j;
                continue;
            }
            i += 1;
        }
        out
    }

    fn is_separator(line: &str) -> bool {
        let t = line.trim();
        t.contains('-')
            && t.contains('|')
            && t.chars().all(|c| matches!(c, '|' | '-' | ':' | ' ' | '\t'))
    }

    fn split_row(t: &str) -> Vec<String> {
        let t = t.trim();
        let t = t.strip_prefix('|').unwrap_or(t);
        let t = t.strip_suffix('|').unwrap_or(t);
        let mut cells = Vec::new();
        let mut cur = String::new();
        let mut chars = t.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\\' && chars.peek() == Some(&'|') {
                cur.push('|');
                chars.next();
            } else if c == '|' {
                cells.push(std::mem::take(&mut cur));
            } else {
                cur.push(c);
            }
        }
        cells.push(cur);
        cells
            .into_iter()
            .map(|c| {
                decode_entities(
                    &c.replace("<br>", " ")
                        .replace("<br/>", " ")
                        .replace("<br />", " "),
                )
                .trim()
                .to_string()
            })
            .collect()
    }

    /// Decode the HTML entities found in the docs (`&#34;`, `&quot;`, `&#x27;`, ...).
    pub fn decode_entities(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(p) = rest.find('&') {
            out.push_str(&rest[..p]);
            let after = &rest[p + 1..];
            let decoded = after.find(';').filter(|&e| e <= 8).and_then(|e| {
                let ent = &after[..e];
                let c = match ent {
                    "quot" => Some('"'),
                    "amp" => Some('&'),
                    "lt" => Some('<'),
                    "gt" => Some('>'),
                    "apos" => Some('\''),
                    "nbsp" => Some(' '),
                    _ => {
                        if let Some(h) = ent.strip_prefix("#x").or_else(|| ent.strip_prefix("#X")) {
                            u32::from_str_radix(h, 16).ok().and_then(char::from_u32)
                        } else if let Some(d) = ent.strip_prefix('#') {
                            d.parse::<u32>().ok().and_then(char::from_u32)
                        } else {
                            None
                        }
                    }
                };
                c.map(|c| (c, e))
            });
            match decoded {
                Some((c, e)) => {
                    out.push(c);
                    rest = &after[e + 1..];
                }
                None => {
                    out.push('&');
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Schema tree built from the doc

#[derive(Debug, Clone, PartialEq)]
enum Ty {
    Str,
    Int,
    Num,
    Bool,
    Any,
    Object,
    Array(Box<Ty>),
}

#[derive(Debug, Clone, PartialEq)]
enum EVal {
    Int(i64),
    Str(String),
}

#[derive(Debug, Clone)]
struct Node {
    name: String,
    ty: Ty,
    required: bool,
    enum_vals: Vec<EVal>,
    /// The doc's description; used for heuristics only, never written to a spec.
    desc: String,
    line: usize,
    /// Properties of the object (for arrays: of the innermost item object).
    children: Vec<Node>,
    additional: bool,
    deprecated: bool,
    nullable: bool,
    /// Created for a `#### a.b` sub-table whose parent table did not list `b`.
    implicit: bool,
    format: Option<&'static str>,
}

impl Node {
    fn new(name: &str, ty: Ty, line: usize) -> Node {
        Node {
            name: name.to_string(),
            ty,
            required: false,
            enum_vals: Vec::new(),
            desc: String::new(),
            line,
            children: Vec::new(),
            additional: false,
            deprecated: false,
            nullable: false,
            implicit: false,
            format: None,
        }
    }
}

/// Map a doc type to a spec type and whether it may be null (`string 或者 null`, `bool | null`);
/// `None` when the type is not understood.
fn parse_type_n(raw: &str) -> Option<(Ty, bool)> {
    let cleaned = raw
        .replace("\\[", "[")
        .replace("\\]", "]")
        .replace("\\_", "_");
    let lower = cleaned.trim().to_lowercase();
    let alts: Vec<&str> = lower
        .split(['|', '/', '、'])
        .flat_map(|a| a.split("或者"))
        .flat_map(|a| a.split(" or "))
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect();
    if alts.len() > 1 {
        let non_null: Vec<&str> = alts
            .iter()
            .copied()
            .filter(|a| *a != "null" && *a != "none")
            .collect();
        if non_null.len() == 1 && non_null.len() < alts.len() {
            return parse_type(non_null[0]).map(|t| (t, true));
        }
        return None;
    }
    let words: Vec<&str> = lower.split_whitespace().collect();
    match words.as_slice() {
        [t, "array" | "list" | "数组" | "列表"] => {
            return parse_type(t).map(|t| (Ty::Array(Box::new(t)), false))
        }
        [_, "map" | "dict"] => return Some((Ty::Object, false)),
        ["enum", rest @ ..] if !rest.is_empty() => {
            return parse_type(&rest.join(" ")).map(|t| (t, false))
        }
        _ => {}
    }
    parse_type(&cleaned).map(|t| (t, false))
}

/// Map a doc type to a spec type; `None` when the type is not understood.
fn parse_type(raw: &str) -> Option<Ty> {
    let s: String = raw
        .trim()
        .trim_matches(|c| c == '`' || c == '*')
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if s.is_empty() {
        return None;
    }
    let scalar = |s: &str| -> Option<Ty> {
        Some(match s {
            "string" | "str" | "字符串" | "char" | "text" | "varchar" | "文本" | "字符" => {
                Ty::Str
            }
            "int" | "integer" | "long" | "int32" | "int64" | "uint" | "uint32" | "uint64"
            | "数字" | "整数" | "整型" | "短整型" | "长整型" | "longint" | "bigint" => {
                Ty::Int
            }
            "float" | "double" | "number" | "decimal" | "float64" | "float32" | "浮点"
            | "浮点数" | "浮点型" => Ty::Num,
            "bool" | "boolean" | "布尔" | "布尔值" | "布尔型" => Ty::Bool,
            "object" | "dict" | "map" | "json" | "obj" | "struct" | "对象" | "字典"
            | "dictionary" | "hash" | "jsonobject" => Ty::Object,
            "array" | "list" | "数组" | "列表" | "set" | "tuple" | "slice" | "jsonarray" => {
                Ty::Array(Box::new(Ty::Any))
            }
            _ => return None,
        })
    };
    if let Some(t) = scalar(&s) {
        return Some(t);
    }
    if s.starts_with("map[")
        || s.starts_with("map<")
        || s.starts_with("dict[")
        || s.starts_with("dict<")
    {
        return Some(Ty::Object);
    }
    // []T
    if let Some(inner) = s.strip_prefix("[]") {
        return parse_type(inner).map(|t| Ty::Array(Box::new(t)));
    }
    // T[]
    if let Some(inner) = s.strip_suffix("[]") {
        return parse_type(inner).map(|t| Ty::Array(Box::new(t)));
    }
    // array[T], list<T>, array(T), 数组[T]
    for prefix in ["array", "list", "数组", "列表"] {
        if let Some(rest) = s.strip_prefix(prefix) {
            let pairs = [('[', ']'), ('<', '>'), ('(', ')'), ('（', '）')];
            for (open, close) in pairs {
                if let Some(inner) = rest.strip_prefix(open).and_then(|r| r.strip_suffix(close)) {
                    // `list[user]`: an item type named by a sub-table
                    let named = inner.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                    return parse_type(inner)
                        .or_else(|| named.then_some(Ty::Any))
                        .map(|t| Ty::Array(Box::new(t)));
                }
            }
            if let Some(inner) = rest.strip_prefix("of") {
                return parse_type(inner.trim_end_matches('s')).map(|t| Ty::Array(Box::new(t)));
            }
        }
    }
    None
}

fn is_container(t: &Ty) -> bool {
    match t {
        Ty::Object | Ty::Any => true,
        Ty::Array(inner) => is_container(inner),
        _ => false,
    }
}

/// Turn the innermost `any` of a container type into `object` (a sub-table describes it).
fn objectify(t: &Ty) -> Ty {
    match t {
        Ty::Any | Ty::Object => Ty::Object,
        Ty::Array(inner) => Ty::Array(Box::new(objectify(inner))),
        other => other.clone(),
    }
}

fn parse_required(raw: &str) -> bool {
    let s = raw.trim().trim_matches('*').to_lowercase();
    [
        "是", "yes", "true", "y", "required", "必选", "必须", "必填", "√", "✓", "✔",
    ]
    .iter()
    .any(|w| s == *w || (w.chars().count() == 1 && !w.is_ascii() && s.starts_with(w)))
}

// --- enums

/// Closed value sets that a description lists clearly: `1: a; 2: b`, `0为x，1为y`,
/// `可选值: biz - ..., biz_set - ...`, `可选值 equal,not_equal,in`.
fn extract_enum(desc: &str, ty: &Ty) -> Vec<EVal> {
    match ty {
        Ty::Int => numeric_enum(desc).into_iter().map(EVal::Int).collect(),
        Ty::Str => {
            let s = string_enum(desc);
            if !s.is_empty() {
                return s.into_iter().map(EVal::Str).collect();
            }
            numeric_enum(desc)
                .into_iter()
                .map(|v| EVal::Str(v.to_string()))
                .collect()
        }
        _ => Vec::new(),
    }
}

fn numeric_enum(desc: &str) -> Vec<i64> {
    if desc.contains("范围") || desc.contains("range") {
        return Vec::new();
    }
    let chars: Vec<char> = desc.chars().collect();
    let mut vals = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let boundary_ok = i == 0 || {
            let p = chars[i - 1];
            p.is_whitespace() || "，,;；:：(（、。".contains(p) || !p.is_ascii()
        };
        let neg = c == '-' && i + 1 < chars.len() && chars[i + 1].is_ascii_digit();
        if boundary_ok && (c.is_ascii_digit() || neg) {
            let start = i;
            let mut j = if neg { i + 1 } else { i };
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let num: String = chars[start..j].iter().collect();
            let mut k = j;
            while k < chars.len() && chars[k] == ' ' {
                k += 1;
            }
            let rest: String = chars[k..chars.len().min(k + 2)].iter().collect();
            let sep_len = if rest.starts_with("表示") || rest.starts_with("代表") {
                2
            } else if rest.starts_with([':', '：', '-', '=', '为', '是']) {
                1
            } else {
                0
            };
            if sep_len > 0 {
                let mut m = k + sep_len;
                while m < chars.len() && chars[m] == ' ' {
                    m += 1;
                }
                if m < chars.len() && !chars[m].is_ascii_digit() && !"，,;；。".contains(chars[m])
                {
                    if let Ok(v) = num.parse::<i64>() {
                        vals.push(v);
                    }
                }
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    let distinct: BTreeSet<i64> = vals.iter().copied().collect();
    if vals.len() >= 2 && distinct.len() == vals.len() {
        vals
    } else {
        Vec::new()
    }
}

fn string_enum(desc: &str) -> Vec<String> {
    const KEYS: &[&str] = &[
        "可选值",
        "可选项",
        "枚举值",
        "可取值",
        "取值为",
        "取值：",
        "取值:",
        "possible values",
        "allowed values",
    ];
    let Some((pos, klen)) = KEYS
        .iter()
        .filter_map(|k| desc.find(k).map(|p| (p, k.len())))
        .min()
    else {
        return Vec::new();
    };
    let rest = desc[pos + klen..]
        .trim_start_matches(|c: char| c.is_whitespace() || ":：为有是".contains(c));
    let end = rest.find(['。', '\n', '；', ';']).unwrap_or(rest.len());
    let list = &rest[..end];
    let mut vals: Vec<String> = Vec::new();
    for seg in list.split([',', '，', '、', '/', '|']) {
        let seg = seg
            .trim()
            .trim_matches(|c| c == '"' || c == '\'' || c == '`' || c == '“' || c == '”');
        if seg.is_empty() {
            continue;
        }
        let ident: String = seg
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.' || *c == '-')
            .collect();
        let ident = ident.trim_end_matches(['-', '.']).to_string();
        if ident.is_empty()
            || !ident.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            || seg.chars().count() > 40
        {
            return Vec::new();
        }
        let tail = seg[ident.len()..].trim_start();
        let tail = tail.trim_start_matches(['"', '\'', '`', '”']);
        let ok_tail = tail.is_empty()
            || tail.starts_with(['-', ':', '：', '(', '（', '为', '表'])
            || !tail.starts_with(|c: char| c.is_ascii());
        if !ok_tail {
            return Vec::new();
        }
        if vals.contains(&ident) {
            return Vec::new();
        }
        vals.push(ident);
    }
    if vals.len() >= 2 {
        vals
    } else {
        Vec::new()
    }
}

// --- tables

struct Cols {
    name: usize,
    ty: usize,
    req: Option<usize>,
    desc: Option<usize>,
}

fn columns(header: &[String]) -> Option<Cols> {
    let mut name = None;
    let mut ty = None;
    let mut req = None;
    let mut desc = None;
    for (i, h) in header.iter().enumerate() {
        let h = h
            .trim()
            .trim_matches(|c| c == '*' || c == '`')
            .trim()
            .to_lowercase();
        if name.is_none()
            && [
                "字段",
                "字段名",
                "字段名称",
                "名称",
                "参数",
                "参数名",
                "参数名称",
                "属性",
                "属性名",
                "field",
                "name",
                "key",
                "parameter",
                "param",
                "field name",
                "键值",
                "键",
                "列名称",
                "列名",
                "选项名",
            ]
            .contains(&h.as_str())
        {
            name = Some(i);
        } else if ty.is_none() && (h.contains("类型") || h == "type" || h == "data type") {
            ty = Some(i);
        } else if req.is_none()
            && (h.contains("必选")
                || h.contains("必须")
                || h.contains("必填")
                || h == "required"
                || h == "必要")
        {
            req = Some(i);
        } else if desc.is_none()
            && (h.contains("描述")
                || h.contains("说明")
                || h.contains("备注")
                || h.contains("含义")
                || h == "description"
                || h == "desc")
        {
            desc = Some(i);
        }
    }
    Some(Cols {
        name: name?,
        ty: ty?,
        req,
        desc,
    })
}

/// The field name in a table cell: `bk_biz_id`, `` `page` ``, `**data**`, `info[x]`, `page.start`.
/// `Err` when the cell holds something else (several names, prose).
fn clean_name(raw: &str) -> Result<String, ()> {
    let s = raw
        .trim()
        .trim_start_matches(|c: char| c.is_whitespace() || "-└├─│|>".contains(c))
        .replace(['`', '*'], "");
    let s = s.trim();
    let ident: String = s
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "_.-$@[]".contains(*c))
        .collect();
    let mut name = ident.clone();
    for suffix in ["[x]", "[X]", "[]", "[0]", "[n]", "[i]"] {
        name = name.replace(suffix, "");
    }
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '$')
        || name.contains(['[', ']'])
    {
        return Err(());
    }
    let tail = s[ident.len()..].trim();
    if tail.is_empty() || tail.starts_with(['(', '（']) {
        Ok(name.trim_end_matches('.').to_string())
    } else {
        Err(())
    }
}

/// `strip`: prefixes removed from dotted row names (`instances.bk_host_id` in the `instances`
/// sub-table).
fn table_fields(
    t: &md::Table,
    cols: &Cols,
    strip: &[String],
    problems: &mut Vec<String>,
) -> Vec<Node> {
    let mut out: Vec<Node> = Vec::new();
    for (line, cells) in &t.rows {
        let cell = |i: usize| cells.get(i).map(String::as_str).unwrap_or("");
        let raw_name = cell(cols.name);
        if raw_name.trim().is_empty() {
            if cells.iter().any(|c| !c.trim().is_empty()) {
                problems.push(format!(
                    "line {line}: table row without a field name; skipped"
                ));
            }
            continue;
        }
        let Ok(mut name) = clean_name(raw_name) else {
            problems.push(format!(
                "line {line}: field name `{}` is not an identifier; row skipped",
                raw_name.trim()
            ));
            continue;
        };
        for p in strip {
            if let Some(rest) = name.strip_prefix(p.as_str()) {
                name = rest.to_string();
                break;
            }
        }
        let raw_ty = cell(cols.ty);
        let (ty, nullable) = match parse_type_n(raw_ty) {
            Some(t) => t,
            None => {
                problems.push(format!(
                    "line {line}: field `{name}`: unknown type `{}`, using any",
                    raw_ty.trim()
                ));
                (Ty::Any, false)
            }
        };
        let desc = cols.desc.map(|i| cell(i).to_string()).unwrap_or_default();
        let mut node = Node::new(&name, ty, *line);
        node.nullable = nullable;
        node.required = cols.req.map(|i| parse_required(cell(i))).unwrap_or(false);
        node.enum_vals = extract_enum(&desc, &node.ty);
        let dl = desc.to_lowercase();
        node.deprecated = dl.contains("废弃")
            || dl.contains("deprecated")
            || dl.contains("不推荐使用")
            || dl.contains("弃用");
        if node.ty == Ty::Str && dl.contains("base64") {
            node.format = Some("base64");
        }
        node.desc = desc;
        // `a.b` rows nest under an earlier `a` of the same table.
        if name.contains('.') {
            let segs: Vec<&str> = name.split('.').collect();
            let mut list = &mut out;
            let mut ok = true;
            for seg in &segs[..segs.len() - 1] {
                match list
                    .iter()
                    .position(|n| n.name == *seg && is_container(&n.ty))
                {
                    Some(p) => {
                        list[p].ty = objectify(&list[p].ty);
                        list = &mut list[p].children;
                    }
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                node.name = segs[segs.len() - 1].to_string();
                list.push(node);
            } else {
                problems.push(format!(
                    "line {line}: dotted field `{name}` has no parent in its table; row skipped"
                ));
            }
            continue;
        }
        if out.iter().any(|n| n.name == node.name) {
            problems.push(format!(
                "line {line}: field `{name}` listed twice; kept the first"
            ));
            continue;
        }
        out.push(node);
    }
    out
}

// --- attaching sub-tables

fn node_at<'a>(nodes: &'a mut [Node], path: &[usize]) -> &'a mut Node {
    let (first, rest) = path.split_first().expect("non-empty path");
    let mut n = &mut nodes[*first];
    for i in rest {
        n = &mut n.children[*i];
    }
    n
}

fn bfs(nodes: &[Node], pred: &dyn Fn(&Node) -> bool) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut queue: std::collections::VecDeque<(Vec<usize>, &Node)> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (vec![i], n))
        .collect();
    while let Some((p, n)) = queue.pop_front() {
        if pred(n) {
            out.push(p.clone());
        }
        for (i, c) in n.children.iter().enumerate() {
            let mut cp = p.clone();
            cp.push(i);
            queue.push_back((cp, c));
        }
    }
    out
}

fn has_word(text: &str, word: &str) -> bool {
    let is_id = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut start = 0;
    while let Some(p) = text[start..].find(word) {
        let a = start + p;
        let b = a + word.len();
        let before_ok = text[..a].chars().next_back().is_none_or(|c| !is_id(c));
        let mut after = text[b..].chars();
        let after_ok = match after.next() {
            None => true,
            Some('.') => !after.next().is_some_and(|c| c.is_ascii_alphabetic()),
            Some(c) => !is_id(c),
        };
        if before_ok && after_ok {
            return true;
        }
        start = a + 1;
        while !text.is_char_boundary(start) {
            start += 1;
        }
    }
    false
}

struct Tree {
    root: Vec<Node>,
    aliases: Vec<(String, Vec<usize>)>,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            root: Vec::new(),
            aliases: Vec::new(),
        }
    }

    fn add_root(&mut self, fields: Vec<Node>, problems: &mut Vec<String>) {
        for f in fields {
            if self.root.iter().any(|n| n.name == f.name) {
                problems.push(format!(
                    "line {}: field `{}` listed twice; kept the first",
                    f.line, f.name
                ));
            } else {
                self.root.push(f);
            }
        }
    }

    fn resolve_one(&self, name: &str) -> Option<Vec<usize>> {
        let empty_container = |n: &Node| is_container(&n.ty) && n.children.is_empty();
        if let Some(p) = bfs(&self.root, &|n| n.name == name && empty_container(n))
            .into_iter()
            .next()
        {
            return Some(p);
        }
        if let Some((_, p)) = self.aliases.iter().find(|(a, _)| a == name) {
            return Some(p.clone());
        }
        if let Some(p) = bfs(&self.root, &|n| {
            empty_container(n) && has_word(&n.desc, name)
        })
        .into_iter()
        .next()
        {
            return Some(p);
        }
        if let Some(p) = bfs(&self.root, &|n| n.name == name && is_container(&n.ty))
            .into_iter()
            .next()
        {
            return Some(p);
        }
        let lower = name.to_lowercase();
        bfs(&self.root, &|n| {
            let nl = n.name.to_lowercase();
            empty_container(n)
                && (nl == lower
                    || nl == format!("{lower}s")
                    || nl == format!("{lower}_list")
                    || format!("{nl}s") == lower)
        })
        .into_iter()
        .next()
    }

    fn node(&self, path: &[usize]) -> &Node {
        let mut n = &self.root[path[0]];
        for i in &path[1..] {
            n = &n.children[*i];
        }
        n
    }

    /// Candidates for the first segment of a dotted sub-table name, best first.
    fn first_candidates(&self, name: &str) -> Vec<Vec<usize>> {
        let mut c: Vec<Vec<usize>> = self
            .aliases
            .iter()
            .filter(|(a, _)| a == name)
            .map(|(_, p)| p.clone())
            .collect();
        c.extend(bfs(&self.root, &|n| n.name == name && is_container(&n.ty)));
        c.extend(bfs(&self.root, &|n| {
            is_container(&n.ty) && has_word(&n.desc, name)
        }));
        c
    }

    /// Resolve a sub-table name to a field path. `Err(Some(parent))` when everything but the
    /// last segment resolved (the last field can be created under `parent`).
    fn resolve(&self, segs: &[&str]) -> Result<Vec<usize>, Option<Vec<usize>>> {
        if segs.len() == 1 {
            return self.resolve_one(segs[0]).ok_or(None);
        }
        let mut parent_only = None;
        for mut path in self.first_candidates(segs[0]) {
            let mut ok = true;
            for (k, seg) in segs[1..].iter().enumerate() {
                let node = self.node(&path);
                match node.children.iter().position(|c| c.name == *seg) {
                    Some(i) => path.push(i),
                    None => {
                        if k == segs.len() - 2 && is_container(&node.ty) && parent_only.is_none() {
                            parent_only = Some(path.clone());
                        }
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                return Ok(path);
            }
        }
        Err(parent_only)
    }

    /// Attach the fields of sub-table `name` (maybe a dot path) to the field it describes.
    /// With `implicit_root`, a single-segment name that matches nothing becomes a new root field
    /// (`#### data.biz` when the `data` table did not list `biz`).
    fn attach(
        &mut self,
        name: &str,
        fields: Vec<Node>,
        line: usize,
        implicit_root: bool,
        problems: &mut Vec<String>,
    ) {
        let segs: Vec<&str> = name.split('.').filter(|s| !s.is_empty()).collect();
        if segs.is_empty() {
            self.add_root(fields, problems);
            return;
        }
        let path = match self.resolve(&segs) {
            Ok(p) => p,
            Err(parent) => {
                let last = segs[segs.len() - 1];
                let mut n = Node::new(last, Ty::Any, line);
                n.implicit = true;
                match parent {
                    Some(pp) => {
                        let parent = node_at(&mut self.root, &pp);
                        parent.ty = objectify(&parent.ty);
                        parent.children.push(n);
                        let mut p = pp;
                        p.push(parent.children.len() - 1);
                        p
                    }
                    None if implicit_root
                        && segs.len() == 1
                        && !self.root.iter().any(|r| r.name == last) =>
                    {
                        self.root.push(n);
                        vec![self.root.len() - 1]
                    }
                    None => {
                        problems.push(format!(
                            "line {line}: sub-table `{name}` does not match any object or array field; dropped"
                        ));
                        return;
                    }
                }
            }
        };
        let node = node_at(&mut self.root, &path);
        if !is_container(&node.ty) {
            problems.push(format!(
                "line {line}: sub-table `{name}` describes field `{}` whose doc type is not an object or array; dropped",
                node.name
            ));
            return;
        }
        node.ty = objectify(&node.ty);
        for f in fields {
            if !node.children.iter().any(|c| c.name == f.name) {
                node.children.push(f);
            }
        }
        if node.name != name && !self.aliases.iter().any(|(a, _)| a == name) {
            self.aliases.push((name.to_string(), path));
        }
    }
}

/// The field name a sub-table heading refers to: `page`, `data.info`, `data字段说明`,
/// `info[x]`, `重复事项配置信息（repeat）`, `**data** 字段简析`.
fn heading_name(title: &str) -> Option<String> {
    let t = title.replace(['`', '*'], "");
    let t = t.trim().trim_matches(['"', '“', '”']).trim();
    let take_path = |s: &str| -> String {
        let raw: String = s
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || "_.[]".contains(*c))
            .collect();
        // drop `[x]`, `[n]`, `[item]` index markers
        let mut p = String::new();
        let mut depth = 0;
        for c in raw.chars() {
            match c {
                '[' => depth += 1,
                ']' => depth -= 1,
                c if depth == 0 => p.push(c),
                _ => {}
            }
        }
        p.trim_matches('.').to_string()
    };
    if t.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        let p = take_path(t);
        if !p.is_empty() && !p.contains(['[', ']']) {
            return Some(p);
        }
    }
    // `拨测任务配置列表--conf_list`, `屏蔽事件列表：shield_list`, `"strategy"`
    for sep in ["--", "——", "：", ":"] {
        if let Some(pos) = t.rfind(sep) {
            let after = t[pos + sep.len()..].trim().trim_end_matches(['"', '”']);
            let p = take_path(after);
            if !p.is_empty()
                && p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && p.len() == after.len()
            {
                return Some(p);
            }
        }
    }
    for open in ['(', '（'] {
        if let Some(pos) = t.find(open) {
            let inner = &t[pos + open.len_utf8()..];
            let p = take_path(inner);
            let after = inner[p.len()..].trim_start();
            if !p.is_empty()
                && p.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && after.starts_with([')', '）'])
            {
                return Some(p);
            }
        }
    }
    None
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Region {
    None,
    Request,
    RequestExample,
    ResponseExample,
    Example,
    Response,
    Other,
}

/// Which part of the doc a heading starts; `None` for a sub-heading (a sub-table name).
fn classify(title: &str) -> Option<Region> {
    let t: String = title
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let has = |ws: &[&str]| ws.iter().any(|w| t.contains(w));
    if has(&["示例", "样例", "例子", "example", "sample"]) {
        if has(&["请求", "request", "输入"]) {
            return Some(Region::RequestExample);
        }
        if has(&[
            "返回", "响应", "结果", "response", "return", "result", "输出",
        ]) {
            return Some(Region::ResponseExample);
        }
        return Some(Region::Example);
    }
    if has(&[
        "mcp",
        "功能描述",
        "functiondescription",
        "注意事项",
        "错误码",
        "errorcode",
    ]) {
        return Some(Region::Other);
    }
    if has(&[
        "返回结果",
        "响应参数",
        "返回参数",
        "返回值",
        "返回说明",
        "response",
        "returnresult",
        "输出参数",
    ]) {
        return Some(Region::Response);
    }
    if has(&[
        "请求参数",
        "接口参数",
        "输入参数",
        "requestparam",
        "parameters",
        "interfaceparam",
    ]) {
        return Some(Region::Request);
    }
    None
}

fn looks_like_envelope(body: &str) -> bool {
    body.contains("\"result\"") || (body.contains("\"code\"") && body.contains("\"message\""))
}

// ---------------------------------------------------------------------------------------------
// JSON repair

mod jsonfix {
    #[derive(Debug, Clone, PartialEq)]
    enum Tok {
        Ws(String),
        Str(String),
        SqStr(String),
        P(char),
        Comment(String),
        Word(String),
    }

    fn lex(s: &str) -> Vec<Tok> {
        let cs: Vec<char> = s.chars().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < cs.len() {
            let c = cs[i];
            if c.is_whitespace() {
                let st = i;
                while i < cs.len() && cs[i].is_whitespace() {
                    i += 1;
                }
                out.push(Tok::Ws(cs[st..i].iter().collect()));
            } else if c == '"' || c == '\'' {
                let st = i;
                i += 1;
                while i < cs.len() && cs[i] != c {
                    if cs[i] == '\\' {
                        i += 1;
                    }
                    i += 1;
                }
                i = (i + 1).min(cs.len());
                let raw: String = cs[st..i].iter().collect();
                if c == '"' {
                    out.push(Tok::Str(raw));
                } else {
                    let inner: String =
                        cs[st + 1..i.saturating_sub(1).max(st + 1)].iter().collect();
                    out.push(Tok::SqStr(inner));
                }
            } else if c == '/' && cs.get(i + 1) == Some(&'/') || c == '#' {
                let st = i;
                while i < cs.len() && cs[i] != '\n' {
                    i += 1;
                }
                out.push(Tok::Comment(cs[st..i].iter().collect()));
            } else if c == '/' && cs.get(i + 1) == Some(&'*') {
                let st = i;
                i += 2;
                while i < cs.len() && !(cs[i] == '*' && cs.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i = (i + 2).min(cs.len());
                // keep the line structure
                let nl = cs[st..i].iter().filter(|c| **c == '\n').count();
                out.push(Tok::Comment(cs[st..i].iter().collect()));
                if nl > 0 {
                    out.push(Tok::Ws("\n".repeat(nl)));
                }
            } else if "{}[]:,".contains(c) {
                out.push(Tok::P(c));
                i += 1;
            } else {
                let st = i;
                let ends_word = |i: usize| {
                    cs[i].is_whitespace()
                        || "{}[]:,\"'".contains(cs[i])
                        || (cs[i] == '/' && cs.get(i + 1) == Some(&'/'))
                };
                while i < cs.len() && !ends_word(i) {
                    i += 1;
                }
                out.push(Tok::Word(cs[st..i].iter().collect()));
            }
        }
        out
    }

    fn render(toks: &[Tok]) -> String {
        let mut s = String::new();
        for t in toks {
            match t {
                Tok::Ws(x) | Tok::Str(x) | Tok::Word(x) => s.push_str(x),
                Tok::Comment(x) => {
                    // a comment that was not removed keeps the text invalid, as it was
                    s.push_str(x);
                }
                Tok::SqStr(x) => {
                    s.push('\'');
                    s.push_str(x);
                    s.push('\'');
                }
                Tok::P(c) => s.push(*c),
            }
        }
        s
    }

    fn sig(t: &Tok) -> bool {
        !matches!(t, Tok::Ws(_) | Tok::Comment(_))
    }
    fn prev_sig(toks: &[Tok], i: usize) -> Option<usize> {
        (0..i).rev().find(|&j| sig(&toks[j]))
    }
    fn next_sig(toks: &[Tok], i: usize) -> Option<usize> {
        (i + 1..toks.len()).find(|&j| sig(&toks[j]))
    }
    fn is_number(w: &str) -> bool {
        let w = w.strip_prefix('-').unwrap_or(w);
        !w.is_empty() && w.starts_with(|c: char| c.is_ascii_digit()) && w.parse::<f64>().is_ok()
    }
    fn is_value_end(t: &Tok) -> bool {
        match t {
            Tok::P('}') | Tok::P(']') | Tok::Str(_) | Tok::SqStr(_) => true,
            Tok::Word(w) => is_number(w) || matches!(w.as_str(), "true" | "false" | "null"),
            _ => false,
        }
    }

    fn strip_comments(t: &mut Vec<Tok>) -> bool {
        let n = t.len();
        t.retain(|x| !matches!(x, Tok::Comment(_)));
        t.len() != n
    }

    fn trailing_commas(t: &mut Vec<Tok>) -> bool {
        let mut changed = false;
        let mut i = 0;
        while i < t.len() {
            if t[i] == Tok::P(',') {
                let n = next_sig(t, i);
                if n.is_none() || matches!(n.map(|j| &t[j]), Some(Tok::P('}')) | Some(Tok::P(']')))
                {
                    t.remove(i);
                    changed = true;
                    continue;
                }
            }
            i += 1;
        }
        changed
    }

    fn ellipses(t: &mut Vec<Tok>) -> bool {
        let is_ell = |x: &Tok| matches!(x, Tok::Word(w) if w.chars().all(|c| c == '.' || c == '…') && (w.len() >= 2 || w == "…"));
        if !t.iter().any(is_ell) {
            return false;
        }
        let mut i = 0;
        while i < t.len() {
            if is_ell(&t[i]) {
                if matches!(prev_sig(t, i).map(|j| &t[j]), Some(Tok::P(':'))) {
                    t[i] = Tok::Word("null".into());
                } else {
                    t.remove(i);
                    continue;
                }
            }
            i += 1;
        }
        // commas left dangling: `[, x]`, `a, , b`, `x, ]`
        let mut i = 0;
        while i < t.len() {
            if t[i] == Tok::P(',')
                && matches!(
                    prev_sig(t, i).map(|j| &t[j]),
                    None | Some(Tok::P(',')) | Some(Tok::P('[')) | Some(Tok::P('{'))
                )
            {
                t.remove(i);
                continue;
            }
            i += 1;
        }
        trailing_commas(t);
        true
    }

    fn single_quotes(t: &mut [Tok]) -> bool {
        let mut changed = false;
        for x in t.iter_mut() {
            if let Tok::SqStr(inner) = x {
                let mut s = String::from("\"");
                let mut cs = inner.chars().peekable();
                while let Some(c) = cs.next() {
                    match c {
                        '\\' if cs.peek() == Some(&'\'') => {
                            s.push('\'');
                            cs.next();
                        }
                        '\\' => {
                            s.push('\\');
                            if let Some(n) = cs.next() {
                                s.push(n);
                            }
                        }
                        '"' => s.push_str("\\\""),
                        c => s.push(c),
                    }
                }
                s.push('"');
                *x = Tok::Str(s);
                changed = true;
            }
        }
        changed
    }

    fn numeric_keys(t: &mut [Tok]) -> bool {
        let mut changed = false;
        for i in 0..t.len() {
            if let Tok::Word(w) = &t[i] {
                if is_number(w)
                    && matches!(next_sig(t, i).map(|j| &t[j]), Some(Tok::P(':')))
                    && matches!(
                        prev_sig(t, i).map(|j| &t[j]),
                        Some(Tok::P('{')) | Some(Tok::P(','))
                    )
                {
                    t[i] = Tok::Str(format!("\"{w}\""));
                    changed = true;
                }
            }
        }
        changed
    }

    fn missing_commas(t: &mut Vec<Tok>) -> bool {
        let mut changed = false;
        let mut i = 0;
        while i < t.len() {
            if sig(&t[i]) {
                if let Some(p) = prev_sig(t, i) {
                    let next_ok = matches!(t[i], Tok::Str(_) | Tok::SqStr(_))
                        || (t[p] == Tok::P('}') && t[i] == Tok::P('{'));
                    if next_ok && is_value_end(&t[p]) {
                        t.insert(p + 1, Tok::P(','));
                        changed = true;
                        i += 1;
                    }
                }
            }
            i += 1;
        }
        changed
    }

    fn python_literals(t: &mut [Tok]) -> bool {
        let mut changed = false;
        for x in t.iter_mut() {
            if let Tok::Word(w) = x {
                let r = match w.as_str() {
                    "True" => "true",
                    "False" => "false",
                    "None" => "null",
                    _ => continue,
                };
                *w = r.to_string();
                changed = true;
            }
        }
        changed
    }

    fn bare_identifiers(t: &mut [Tok]) -> bool {
        let mut changed = false;
        for i in 0..t.len() {
            if let Tok::Word(w) = &t[i] {
                let ident = w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                    && w.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
                if ident
                    && !matches!(w.as_str(), "true" | "false" | "null")
                    && matches!(prev_sig(t, i).map(|j| &t[j]), Some(Tok::P(':')))
                {
                    t[i] = Tok::Str(format!("\"{w}\""));
                    changed = true;
                }
            }
        }
        changed
    }

    type Repair = fn(&mut Vec<Tok>) -> bool;

    /// Repairs in the order they are tried: `(fixup name suffix, what, function)`.
    const REPAIRS: &[(&str, &str, Repair)] = &[
        (
            "comments",
            "had `//` comments; removed them.",
            strip_comments,
        ),
        (
            "trailing_commas",
            "had trailing commas; removed them.",
            trailing_commas,
        ),
        (
            "ellipses",
            "elided content with `...`; removed the ellipses.",
            ellipses,
        ),
        (
            "single_quotes",
            "used single-quoted strings; converted them to double quotes.",
            |t| single_quotes(t),
        ),
        (
            "numeric_keys",
            "had unquoted numeric object keys; quoted them.",
            |t| numeric_keys(t),
        ),
        (
            "missing_commas",
            "was missing commas between members; inserted them.",
            missing_commas,
        ),
        (
            "python_literals",
            "used Python literals (True/False/None); converted them to JSON.",
            |t| python_literals(t),
        ),
        (
            "bare_identifiers",
            "had unquoted identifier values; quoted them as strings.",
            |t| bare_identifiers(t),
        ),
    ];

    #[derive(Debug)]
    pub struct Parsed {
        pub value: Option<serde_json::Value>,
        /// `(name suffix, what)` of every repair that was needed.
        pub fixes: Vec<(&'static str, &'static str)>,
        /// When parsing failed: 1-based line inside the text, and the error.
        pub error: Option<(usize, String)>,
    }

    pub fn parse(src: &str) -> Parsed {
        match serde_json::from_str::<serde_json::Value>(src) {
            Ok(v) => {
                return Parsed {
                    value: Some(v),
                    fixes: Vec::new(),
                    error: None,
                }
            }
            Err(_) if src.trim().is_empty() => {
                return Parsed {
                    value: None,
                    fixes: Vec::new(),
                    error: Some((1, "empty block".into())),
                }
            }
            Err(_) => {}
        }
        let mut toks = lex(src);
        let mut fixes = Vec::new();
        let mut last_err = None;
        for (name, what, f) in REPAIRS {
            if f(&mut toks) {
                fixes.push((*name, *what));
                match serde_json::from_str::<serde_json::Value>(&render(&toks)) {
                    Ok(v) => {
                        return Parsed {
                            value: Some(v),
                            fixes,
                            error: None,
                        }
                    }
                    Err(e) => last_err = Some((e.line(), e.to_string())),
                }
            }
        }
        let err = last_err.unwrap_or_else(|| {
            let e = serde_json::from_str::<serde_json::Value>(src).unwrap_err();
            (e.line(), e.to_string())
        });
        Parsed {
            value: None,
            fixes,
            error: Some(err),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Inference and refinement from examples

fn infer(name: &str, v: &serde_json::Value, line: usize) -> Node {
    use serde_json::Value as V;
    match v {
        V::Null => Node::new(name, Ty::Any, line),
        V::Bool(_) => Node::new(name, Ty::Bool, line),
        V::Number(n) => Node::new(name, if n.is_f64() { Ty::Num } else { Ty::Int }, line),
        V::String(_) => Node::new(name, Ty::Str, line),
        V::Object(m) => {
            let mut n = Node::new(name, Ty::Object, line);
            n.children = m.iter().map(|(k, v)| infer(k, v, line)).collect();
            mark_additional(&mut n);
            n
        }
        V::Array(a) => {
            let mut item: Option<Node> = None;
            for e in a {
                let inf = infer(name, e, line);
                item = Some(match item {
                    None => inf,
                    Some(mut it) => {
                        if it.ty == Ty::Any {
                            inf
                        } else {
                            if it.ty == inf.ty {
                                merge_children(&mut it.children, inf.children);
                            }
                            it
                        }
                    }
                });
            }
            let item = item.unwrap_or_else(|| Node::new(name, Ty::Any, line));
            let mut n = Node::new(name, Ty::Array(Box::new(item.ty)), line);
            n.children = item.children;
            n.additional = item.additional;
            n
        }
    }
}

fn merge_children(into: &mut Vec<Node>, from: Vec<Node>) {
    for f in from {
        match into.iter_mut().find(|n| n.name == f.name) {
            Some(n) => {
                if n.ty == Ty::Any {
                    *n = f;
                    n.nullable = true;
                } else if f.ty == Ty::Any {
                    n.nullable = true;
                } else if n.ty == f.ty {
                    merge_children(&mut n.children, f.children);
                }
            }
            None => into.push(f),
        }
    }
}

/// A CMDB host keeps user-defined attributes: flatten unknown fields into a map.
fn mark_additional(n: &mut Node) {
    let has = |k: &str| n.children.iter().any(|c| c.name == k);
    if has("bk_host_id") && (has("bk_host_innerip") || has("bk_host_name")) {
        n.additional = true;
    }
}

fn ty_word(t: &Ty) -> &'static str {
    match t {
        Ty::Str => "string",
        Ty::Int => "integer",
        Ty::Num => "number",
        Ty::Bool => "boolean",
        Ty::Any => "any",
        Ty::Object => "object",
        Ty::Array(_) => "array",
    }
}

/// Fill what the tables leave open (array items, untyped fields) from an example value, and
/// report scalars whose doc type disagrees with the example.
fn refine(
    n: &mut Node,
    v: &serde_json::Value,
    path: &str,
    response: bool,
    problems: &mut Vec<String>,
) {
    use serde_json::Value as V;
    if v.is_null() {
        if response && n.ty != Ty::Any {
            n.nullable = true;
        }
        return;
    }
    match (&n.ty, v) {
        (Ty::Any, _) if response && n.children.is_empty() => {
            let inf = infer(&n.name, v, n.line);
            n.ty = inf.ty;
            n.children = inf.children;
            n.additional = inf.additional;
        }
        (Ty::Object, V::Array(a)) if n.implicit && a.iter().any(|e| e.is_object()) => {
            n.ty = Ty::Array(Box::new(Ty::Object));
            refine(n, v, path, response, problems);
        }
        (Ty::Object, V::Object(m)) => {
            for c in n.children.iter_mut() {
                if let Some(cv) = m.get(&c.name) {
                    let p = format!("{path}.{}", c.name);
                    refine(c, cv, &p, response, problems);
                }
            }
            mark_additional(n);
        }
        (Ty::Array(inner), V::Array(a)) => {
            if **inner == Ty::Any && n.children.is_empty() {
                if !a.is_empty() {
                    let inf = infer(&n.name, v, n.line);
                    n.ty = inf.ty;
                    n.children = inf.children;
                    n.additional = inf.additional;
                }
            } else if !n.children.is_empty() {
                // refine the item object against the first element that is an object
                let mut item = Node::new(&n.name, (**inner).clone(), n.line);
                item.children = std::mem::take(&mut n.children);
                for e in a {
                    refine(&mut item, e, &format!("{path}[]"), response, problems);
                }
                n.children = item.children;
                n.additional = n.additional || item.additional;
            }
        }
        (Ty::Int, V::Number(x)) if x.is_f64() && response => problems.push(format!(
            "line {}: response field `{path}`: doc type integer but the example has a fractional number",
            n.line
        )),
        (Ty::Int, V::Number(_)) | (Ty::Num, V::Number(_)) | (Ty::Str, V::String(_)) | (Ty::Bool, V::Bool(_)) => {}
        (Ty::Int | Ty::Num | Ty::Str | Ty::Bool, _) if response => {
            let got = match v {
                V::Bool(_) => "boolean",
                V::Number(_) => "number",
                V::String(_) => "string",
                V::Array(_) => "array",
                V::Object(_) => "object",
                V::Null => "null",
            };
            problems.push(format!(
                "line {}: response field `{path}`: doc type {} but the example has a {got}",
                n.line,
                ty_word(&n.ty)
            ));
        }
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// YAML values and emitter

#[derive(Debug, Clone, PartialEq)]
enum Y {
    Null,
    Bool(bool),
    Int(i128),
    Float(String),
    Str(String),
    Seq(Vec<Y>),
    Map(Vec<(String, Y)>),
}

impl Y {
    fn s(s: &str) -> Y {
        Y::Str(s.to_string())
    }
    fn depth(&self) -> usize {
        match self {
            Y::Seq(v) => 1 + v.iter().map(Y::depth).max().unwrap_or(0),
            Y::Map(m) => 1 + m.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }
    fn from_json(v: &serde_json::Value) -> Y {
        use serde_json::Value as V;
        match v {
            V::Null => Y::Null,
            V::Bool(b) => Y::Bool(*b),
            V::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Y::Int(i as i128)
                } else if let Some(u) = n.as_u64() {
                    Y::Int(u as i128)
                } else {
                    let s = n.to_string();
                    Y::Float(if s.contains(['.', 'e', 'E']) {
                        s
                    } else {
                        format!("{s}.0")
                    })
                }
            }
            V::String(s) => Y::Str(s.clone()),
            V::Array(a) => Y::Seq(a.iter().map(Y::from_json).collect()),
            V::Object(m) => Y::Map(
                m.iter()
                    .map(|(k, v)| (k.clone(), Y::from_json(v)))
                    .collect(),
            ),
        }
    }
}

const MAX_WIDTH: usize = 100;

fn plain_ok(s: &str, flow: bool) -> bool {
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '/') {
        return false;
    }
    let lower = s.to_lowercase();
    if [
        "true", "false", "null", "yes", "no", "on", "off", "y", "n", "~",
    ]
    .contains(&lower.as_str())
    {
        return false;
    }
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c) || (!flow && "{}".contains(c)))
}

fn quote(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            '\r' => o.push_str("\\r"),
            c if (c as u32) < 0x20
                || (0x7f..=0x9f).contains(&(c as u32))
                || c == '\u{feff}'
                || c == '\u{2028}'
                || c == '\u{2029}' =>
            {
                o.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn scalar(v: &Y, flow: bool) -> String {
    match v {
        Y::Null => "null".into(),
        Y::Bool(b) => b.to_string(),
        Y::Int(i) => i.to_string(),
        Y::Float(f) => f.clone(),
        Y::Str(s) => {
            if plain_ok(s, flow) {
                s.clone()
            } else {
                quote(s)
            }
        }
        Y::Seq(v) if v.is_empty() => "[]".into(),
        Y::Map(m) if m.is_empty() => "{}".into(),
        _ => flow_str(v),
    }
}

fn key_str(k: &str) -> String {
    if plain_ok(k, true) {
        k.to_string()
    } else {
        quote(k)
    }
}

fn flow_str(v: &Y) -> String {
    match v {
        Y::Seq(items) if !items.is_empty() => {
            format!(
                "[{}]",
                items.iter().map(flow_str).collect::<Vec<_>>().join(", ")
            )
        }
        Y::Map(m) if !m.is_empty() => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", key_str(k), flow_str(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        other => scalar(other, true),
    }
}

fn is_scalar(v: &Y) -> bool {
    match v {
        Y::Seq(s) => s.is_empty(),
        Y::Map(m) => m.is_empty(),
        _ => true,
    }
}

fn fits_flow(v: &Y, prefix: usize) -> bool {
    v.depth() <= 2 && prefix + flow_str(v).chars().count() <= MAX_WIDTH
}

fn emit_entry(out: &mut String, indent: usize, key: &str, v: &Y, force_block: bool) {
    let pad = " ".repeat(indent);
    let k = key_str(key);
    if is_scalar(v) {
        out.push_str(&format!("{pad}{k}: {}\n", scalar(v, false)));
        return;
    }
    if !force_block && fits_flow(v, indent + k.chars().count() + 2) {
        out.push_str(&format!("{pad}{k}: {}\n", flow_str(v)));
        return;
    }
    out.push_str(&format!("{pad}{k}:\n"));
    match v {
        Y::Map(m) => {
            for (k2, v2) in m {
                emit_entry(out, indent + 2, k2, v2, false);
            }
        }
        Y::Seq(items) => {
            for it in items {
                emit_item(out, indent + 2, it);
            }
        }
        _ => unreachable!(),
    }
}

fn emit_item(out: &mut String, indent: usize, v: &Y) {
    let pad = " ".repeat(indent);
    if is_scalar(v) {
        out.push_str(&format!("{pad}- {}\n", scalar(v, false)));
        return;
    }
    if fits_flow(v, indent + 2) {
        out.push_str(&format!("{pad}- {}\n", flow_str(v)));
        return;
    }
    match v {
        Y::Map(m) => {
            let mut tmp = String::new();
            for (k, v2) in m {
                emit_entry(&mut tmp, indent + 2, k, v2, false);
            }
            // replace the first line's indentation with the dash
            out.push_str(&pad);
            out.push_str("- ");
            out.push_str(&tmp[indent + 2..]);
        }
        Y::Seq(items) => {
            out.push_str(&format!("{pad}-\n"));
            for it in items {
                emit_item(out, indent + 2, it);
            }
        }
        _ => unreachable!(),
    }
}

/// Top-level keys always written in block style.
const BLOCK_KEYS: &[&str] = &["pagination", "fixups", "request", "response", "example"];

fn emit_top(key: &str, v: &Y) -> String {
    let mut s = String::new();
    emit_entry(&mut s, 0, key, v, BLOCK_KEYS.contains(&key));
    if key == "idempotent" {
        s = format!("{}  # guessed from the API name; check\n", s.trim_end());
    }
    if key == "summary" && *v == Y::s("TODO") {
        s = format!(
            "{}  # one English sentence in our own words\n",
            s.trim_end()
        );
    }
    s
}

/// Canonical order of the top-level keys (specs/README.md).
const TOP_ORDER: &[&str] = &[
    "api",
    "method",
    "path",
    "summary",
    "description",
    "doc",
    "seen_in",
    "also_seen",
    "idempotent",
    "deprecated",
    "cache",
    "pagination",
    "sensitive",
    "fixups",
    "request",
    "response",
    "example",
];

fn emit_doc(spec: &[(String, Y)]) -> String {
    spec.iter().map(|(k, v)| emit_top(k, v)).collect()
}

// ---------------------------------------------------------------------------------------------
// Building the spec

const GET_APIS: &[(&str, &[&str])] = &[
    (
        "cc",
        &[
            "get_biz_internal_module",
            "get_service_template",
            "list_set_template_related_service_template",
            "get_host_base_info",
            "search_biz_inst_topo",
            "get_custom_query_data",
            "get_custom_query_detail",
        ],
    ),
    (
        "job",
        &[
            "get_cron_list",
            "get_job_detail",
            "get_job_instance_global_var_value",
            "get_job_instance_log",
            "get_job_instance_status",
            "get_job_list",
            "get_os_account",
            "get_own_db_account_list",
            "get_proc_result",
            "get_public_script_list",
            "get_script_detail",
            "get_script_list",
        ],
    ),
    (
        "itsm",
        &[
            "callback_failed_ticket",
            "get_service_catalogs",
            "get_service_detail",
            "get_service_roles",
            "get_services",
            "get_ticket_info",
            "get_ticket_logs",
            "get_ticket_status",
            "get_workflow_detail",
        ],
    ),
    ("usermanage", &["*"]),
    ("bk_login", &["get_user", "get_all_users", "is_login"]),
    ("bk_paas", &["get_app_info"]),
    ("cmsi", &["get_msg_type"]),
    ("esb", &["get_systems", "get_api_public_key"]),
];

fn guess_idempotent(api: &str) -> bool {
    let name = api.strip_prefix("metadata_").unwrap_or(api);
    const PREFIXES: &[&str] = &[
        "get_",
        "search_",
        "list_",
        "find_",
        "query_",
        "count",
        "check",
        "is_",
        "statistic",
        "read",
        "retrieve_",
    ];
    const SUFFIXES: &[&str] = &["_list", "_detail", "_info", "_status"];
    PREFIXES.iter().any(|p| name.starts_with(p)) || SUFFIXES.iter().any(|s| name.ends_with(s))
}

/// The largest page size a description states (`最大500`, `不超过1000`, `max 500`).
fn max_limit(desc: &str) -> Option<i64> {
    for key in ["最大", "最多", "不超过", "上限", "max", "<="] {
        let lower = desc.to_lowercase();
        let mut start = 0;
        while let Some(p) = lower[start..].find(key) {
            let after = &lower[start + p + key.len()..];
            let skipped: String = after.chars().take_while(|c| !c.is_ascii_digit()).collect();
            if skipped.chars().count() <= 4 && !skipped.contains(['，', ',', '。']) {
                let digits: String = after[skipped.len()..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                if let Ok(v) = digits.parse::<i64>() {
                    return Some(v);
                }
            }
            start += p + key.len();
        }
    }
    None
}

fn schema_y(n: &Node, include_required: bool) -> Y {
    fn ty_y(ty: &Ty, children: &[Node], additional: bool) -> Vec<(String, Y)> {
        let mut m = vec![("type".to_string(), Y::s(ty_word(ty)))];
        match ty {
            Ty::Array(inner) => m.push(("items".into(), Y::Map(ty_y(inner, children, additional)))),
            Ty::Object => {
                if additional {
                    m.push(("additional_properties".into(), Y::Bool(true)));
                }
                if !children.is_empty() {
                    m.push(("properties".into(), props_y(children)));
                }
            }
            _ => {}
        }
        m
    }
    let mut base = ty_y(&n.ty, &n.children, n.additional);
    let mut extra = Vec::new();
    if let Some(f) = n.format {
        extra.push(("format".to_string(), Y::s(f)));
    }
    if !n.enum_vals.is_empty() {
        extra.push((
            "enum".to_string(),
            Y::Seq(
                n.enum_vals
                    .iter()
                    .map(|e| match e {
                        EVal::Int(i) => Y::Int(*i as i128),
                        EVal::Str(s) => Y::Str(s.clone()),
                    })
                    .collect(),
            ),
        ));
    }
    if include_required && n.required {
        extra.push(("required".to_string(), Y::Bool(true)));
    }
    if n.nullable {
        extra.push(("nullable".to_string(), Y::Bool(true)));
    }
    if n.deprecated {
        extra.push(("deprecated".to_string(), Y::Bool(true)));
    }
    for (i, e) in extra.into_iter().enumerate() {
        base.insert(1 + i, e);
    }
    Y::Map(base)
}

fn props_y(children: &[Node]) -> Y {
    Y::Map(
        children
            .iter()
            .map(|c| (c.name.clone(), schema_y(c, true)))
            .collect(),
    )
}

fn sensitive_paths(nodes: &[Node], prefix: &str, out: &mut Vec<String>) {
    for n in nodes {
        let path = if prefix.is_empty() {
            n.name.clone()
        } else {
            format!("{prefix}.{}", n.name)
        };
        let l = n.name.to_lowercase();
        if ["secret", "token", "password", "passwd"]
            .iter()
            .any(|w| l.contains(w))
        {
            out.push(path.clone());
        }
        if n.ty == Ty::Object {
            sensitive_paths(&n.children, &path, out);
        }
    }
}

/// Build the spec for one doc: ordered top-level entries, and the problems found.
fn build_spec(
    component: &str,
    api: &str,
    text: &str,
    inventory: &[InventoryRow],
) -> (Vec<(String, Y)>, Vec<String>) {
    let mut problems = Vec::new();
    let blocks = md::parse(text);

    let mut region = Region::None;
    let mut heading: Option<(String, bool)> = None; // (title, is a region heading)
    let mut req = Tree::new();
    let mut resp = Tree::new();
    let mut data_ty: Option<(Ty, usize)> = None;
    let mut resp_tables = false;
    let mut req_fence: Option<&md::Fence> = None;
    let mut resp_fence: Option<&md::Fence> = None;
    let mut envelope_fences: Vec<&md::Fence> = Vec::new();
    const AUTH: &[&str] = &["bk_app_code", "bk_app_secret"];

    for b in &blocks {
        match b {
            md::Block::Heading(h) => {
                let c = if h.pseudo { None } else { classify(&h.title) };
                if let Some(r) = c {
                    region = r;
                }
                heading = Some((h.title.clone(), c.is_some()));
            }
            md::Block::Fence(f) => {
                let env = looks_like_envelope(&f.body);
                if env {
                    envelope_fences.push(f);
                }
                match region {
                    Region::ResponseExample if resp_fence.is_none() => resp_fence = Some(f),
                    Region::RequestExample if req_fence.is_none() => req_fence = Some(f),
                    Region::Example | Region::Request | Region::Response => {
                        if env && resp_fence.is_none() {
                            resp_fence = Some(f);
                        } else if !env && req_fence.is_none() && region != Region::Response {
                            req_fence = Some(f);
                        }
                    }
                    _ => {}
                }
            }
            md::Block::Table(t) => {
                if !matches!(region, Region::Request | Region::Response) {
                    continue;
                }
                let Some(cols) = columns(&t.header) else {
                    problems.push(format!(
                        "line {}: table header `{}` is not a field table; skipped",
                        t.line,
                        t.header.join(" | ")
                    ));
                    continue;
                };
                let (title, is_region) = heading.clone().unwrap_or_default();
                let name = if is_region || heading.is_none() {
                    None
                } else {
                    heading_name(&title)
                };
                let mut strip: Vec<String> = Vec::new();
                if let Some(n) = &name {
                    strip.push(format!("{n}."));
                    if let Some(last) = n.rsplit('.').next() {
                        strip.push(format!("{last}."));
                    }
                }
                if region == Region::Response {
                    strip.push("data.".into());
                }
                let mut fields = table_fields(t, &cols, &strip, &mut problems);
                if !is_region && heading.is_some() && name.is_none() {
                    problems.push(format!(
                        "line {}: table under heading `{title}` names no field; skipped",
                        t.line
                    ));
                    continue;
                }
                if region == Region::Request {
                    fields.retain(|f| !AUTH.contains(&f.name.as_str()));
                    match name {
                        None => req.add_root(fields, &mut problems),
                        Some(n) => req.attach(&n, fields, t.line, false, &mut problems),
                    }
                } else {
                    let env_names = [
                        "result",
                        "code",
                        "message",
                        "data",
                        "request_id",
                        "permission",
                    ];
                    let is_env = matches!(name.as_deref(), None | Some("response"))
                        && fields
                            .iter()
                            .filter(|f| env_names.contains(&f.name.as_str()))
                            .count()
                            >= 3;
                    if is_env {
                        if let Some(d) = fields.iter().find(|f| f.name == "data") {
                            data_ty = Some((d.ty.clone(), d.line));
                        }
                        continue;
                    }
                    resp_tables = true;
                    match name.as_deref() {
                        None | Some("response") | Some("data") => {
                            resp.add_root(fields, &mut problems)
                        }
                        Some(n) => {
                            let stripped = n.strip_prefix("data.");
                            let implicit = stripped.is_some();
                            resp.attach(
                                stripped.unwrap_or(n),
                                fields,
                                t.line,
                                implicit,
                                &mut problems,
                            )
                        }
                    }
                }
            }
        }
    }
    if resp_fence.is_none() {
        resp_fence = envelope_fences
            .into_iter()
            .rfind(|f| req_fence.is_none_or(|r| r.line != f.line));
    }

    // --- response example
    let mut fixups: Vec<Y> = Vec::new();
    let mut example: Option<serde_json::Value> = None;
    match resp_fence {
        None => problems.push("no response example found".to_string()),
        Some(f) => {
            let parsed = jsonfix::parse(&f.body);
            match parsed.value {
                Some(v) => {
                    for (name, what) in &parsed.fixes {
                        fixups.push(Y::Map(vec![
                            ("name".into(), Y::Str(format!("response_example_{name}"))),
                            (
                                "what".into(),
                                Y::Str(format!("The doc's response example {what}")),
                            ),
                        ]));
                    }
                    let envelope = v.as_object().is_some_and(|m| {
                        m.contains_key("result")
                            || m.contains_key("code")
                            || m.contains_key("message")
                    });
                    example = if envelope {
                        v.get("data").cloned()
                    } else {
                        Some(v)
                    };
                }
                None => {
                    let (l, e) = parsed.error.unwrap_or((1, "unknown error".into()));
                    problems.push(format!(
                        "line {}: response example is not valid JSON even after repairs ({e}); example omitted",
                        f.line + l - 1
                    ));
                }
            }
        }
    }
    let example = example.filter(|v| !v.is_null());

    // --- response schema
    let resp_line = data_ty.as_ref().map(|d| d.1).unwrap_or(0);
    let mut response: Option<Node> = if resp_tables {
        let mut array = matches!(data_ty, Some((Ty::Array(_), _)));
        match (&example, array) {
            (Some(serde_json::Value::Object(_)), true) => {
                problems.push(format!("line {resp_line}: doc says `data` is an array but the example has an object; used object"));
                array = false;
            }
            (Some(serde_json::Value::Array(_)), false) => array = true,
            _ => {}
        }
        let mut n = Node::new(
            "data",
            if array {
                Ty::Array(Box::new(Ty::Object))
            } else {
                Ty::Object
            },
            resp_line,
        );
        n.children = std::mem::take(&mut resp.root);
        mark_additional(&mut n);
        Some(n)
    } else if let Some((t, line)) = &data_ty {
        match (t, &example) {
            (Ty::Object | Ty::Any | Ty::Array(_), Some(ex)) => Some(infer("data", ex, *line)),
            (Ty::Any, None) => None,
            (t, _) => Some(Node::new("data", t.clone(), *line)),
        }
    } else {
        example.as_ref().map(|ex| infer("data", ex, 0))
    };
    if let (Some(r), Some(ex)) = (response.as_mut(), example.as_ref()) {
        refine(r, ex, "data", true, &mut problems);
    }
    if response.as_ref().is_some_and(|r| r.ty == Ty::Any) {
        response = None;
    }

    // --- request: fill array items from the request example
    if let Some(f) = req_fence {
        if let Some(serde_json::Value::Object(m)) = jsonfix::parse(&f.body).value {
            for n in req.root.iter_mut() {
                if let Some(v) = m.get(&n.name) {
                    let p = n.name.clone();
                    refine(n, v, &p, false, &mut problems);
                }
            }
        }
    }
    fn items_any(nodes: &[Node], prefix: &str, out: &mut Vec<String>) {
        for n in nodes {
            let p = if prefix.is_empty() {
                n.name.clone()
            } else {
                format!("{prefix}.{}", n.name)
            };
            if n.ty == Ty::Array(Box::new(Ty::Any)) {
                out.push(format!(
                    "line {}: request field `{p}`: array item type unknown, using any",
                    n.line
                ));
            }
            items_any(&n.children, &p, out);
        }
    }
    items_any(&req.root, "", &mut problems);

    // --- top-level keys
    let row = inventory
        .iter()
        .find(|r| r.component == component && r.api == api);
    let (method, path, seen_in) = match row {
        Some(r) => (r.method.clone(), r.path.clone(), r.seen_in.clone()),
        None => {
            problems.push("not in inventory: method and path guessed".to_string());
            let get = GET_APIS
                .iter()
                .any(|(c, apis)| *c == component && (apis.contains(&api) || apis.contains(&"*")));
            (
                if get { "GET" } else { "POST" }.to_string(),
                format!("/api/c/compapi{{bk_api_ver}}/{component}/{api}/"),
                Vec::new(),
            )
        }
    };
    let mut spec: Vec<(String, Y)> = vec![
        ("api".into(), Y::s(api)),
        ("method".into(), Y::Str(method)),
        ("path".into(), Y::Str(path)),
        ("summary".into(), Y::s("TODO")),
        ("doc".into(), Y::Str(format!("{component}/{api}.md"))),
    ];
    if !seen_in.is_empty() {
        spec.push((
            "seen_in".into(),
            Y::Seq(seen_in.into_iter().map(Y::Str).collect()),
        ));
    }
    spec.push(("idempotent".into(), Y::Bool(guess_idempotent(api))));

    // pagination
    let resp_props: &[Node] = match &response {
        Some(r) if r.ty == Ty::Object => &r.children,
        _ => &[],
    };
    let resp_is_list = response
        .as_ref()
        .is_some_and(|r| matches!(r.ty, Ty::Array(_)));
    let find_req = |name: &str| req.root.iter().find(|n| n.name == name);
    let items_path = |cands: &[&str]| -> Option<String> {
        if resp_is_list {
            return Some(String::new());
        }
        cands
            .iter()
            .find(|c| {
                resp_props
                    .iter()
                    .any(|p| p.name == **c && matches!(p.ty, Ty::Array(_)))
            })
            .map(|c| c.to_string())
    };
    let total_path = || {
        ["count", "total", "total_count"]
            .iter()
            .find(|c| resp_props.iter().any(|p| p.name == **c && p.ty == Ty::Int))
            .map(|c| c.to_string())
    };
    let mut pagination: Option<(&str, Option<&Node>, Option<&Node>)> = None; // (style, param, limit field)
    if let Some(page) = find_req("page").filter(|p| p.ty == Ty::Object) {
        let start = page.children.iter().any(|c| c.name == "start");
        let limit = page.children.iter().find(|c| c.name == "limit");
        if start && limit.is_some() {
            pagination = Some(("start_limit", Some(page), limit));
        }
    } else if let (Some(p), Some(ps)) = (find_req("page"), find_req("page_size")) {
        if p.ty == Ty::Int && ps.ty == Ty::Int {
            pagination = Some(("page_number", None, Some(ps)));
        }
    } else if let (Some(s), Some(l)) = (find_req("start"), find_req("length")) {
        if s.ty == Ty::Int && l.ty == Ty::Int {
            pagination = Some(("start_length", None, Some(l)));
        }
    }
    if let Some((style, param, limit)) = pagination {
        let cands: &[&str] = match style {
            "start_limit" => &["info", "items", "list", "data"],
            "page_number" => &["items", "results", "info", "list", "data"],
            _ => &["data", "items", "info", "list"],
        };
        match items_path(cands) {
            Some(items) => {
                let mut p = vec![("style".to_string(), Y::s(style))];
                if let Some(param) = param {
                    p.push(("param".into(), Y::Str(param.name.clone())));
                }
                let ml = limit.and_then(|l| max_limit(&l.desc)).or_else(|| param.and_then(|p| max_limit(&p.desc)));
                if let Some(ml) = ml {
                    p.push(("max_limit".into(), Y::Int(ml as i128)));
                }
                p.push(("items".into(), Y::Str(items)));
                if let Some(t) = total_path() {
                    p.push(("total".into(), Y::Str(t)));
                }
                spec.push(("pagination".into(), Y::Map(p)));
            }
            None => problems.push(format!(
                "request looks paged ({style}) but the item list in the response was not found; pagination omitted"
            )),
        }
    }

    let mut seen = BTreeSet::new();
    problems.retain(|p| seen.insert(p.clone()));

    let mut sens = Vec::new();
    sensitive_paths(&req.root, "", &mut sens);
    if !sens.is_empty() {
        spec.push((
            "sensitive".into(),
            Y::Seq(sens.into_iter().map(Y::Str).collect()),
        ));
    }
    if !fixups.is_empty() {
        spec.push(("fixups".into(), Y::Seq(fixups)));
    }
    if !req.root.is_empty() {
        spec.push(("request".into(), props_y(&req.root)));
    }
    if let Some(r) = &response {
        spec.push(("response".into(), schema_y(r, false)));
    }
    if let Some(ex) = &example {
        spec.push(("example".into(), Y::from_json(ex)));
    }
    (spec, problems)
}

// ---------------------------------------------------------------------------------------------
// Writing and merging

type Entries = Vec<(String, Y)>;

fn yaml_key_str(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        serde_yaml::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn yaml_keys(v: Option<&serde_yaml::Value>) -> Option<Vec<String>> {
    match v {
        Some(serde_yaml::Value::Mapping(m)) => Some(m.keys().filter_map(yaml_key_str).collect()),
        _ => None,
    }
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Find `key:` (with nothing but a comment after it) at exactly `indent` in `lines[from..to]`;
/// returns (key line, end of its block, indent of its children).
fn find_block(
    lines: &[&str],
    from: usize,
    to: usize,
    indent: usize,
    key: &str,
) -> Option<(usize, usize, usize)> {
    let want = format!("{key}:");
    let mut i = from;
    while i < to {
        let l = lines[i];
        if !is_blank_or_comment(l) && indent_of(l) == indent {
            let t = l.trim();
            if t == want || (t.starts_with(&want) && t[want.len()..].trim_start().starts_with('#'))
            {
                let mut end = i + 1;
                let mut j = i + 1;
                let mut child = None;
                while j < to {
                    let lj = lines[j];
                    if lj.trim().is_empty() {
                        j += 1;
                        continue;
                    }
                    if indent_of(lj) <= indent
                        && !(lj.trim().starts_with('#') && indent_of(lj) > indent)
                    {
                        if lj.trim().starts_with('#') {
                            j += 1;
                            continue;
                        }
                        break;
                    }
                    if child.is_none() && !lj.trim().starts_with('#') {
                        child = Some(indent_of(lj));
                    }
                    end = j + 1;
                    j += 1;
                }
                return Some((i, end, child?));
            }
            if t.starts_with(&want) {
                return None; // inline value, cannot insert into it
            }
        }
        i += 1;
    }
    None
}

/// Write a new spec, or fill the keys an existing one lacks. Returns whether the file changed.
fn write_or_merge(
    out: &Path,
    spec: &[(String, Y)],
    problems: &mut Vec<String>,
) -> Result<bool, String> {
    let fresh = emit_doc(spec);
    if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&fresh) {
        return Err(format!(
            "internal error: generated YAML does not parse ({e}); nothing written"
        ));
    }
    let existing = match fs::read_to_string(out) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            fs::write(out, &fresh).map_err(|e| format!("{}: {e}", out.display()))?;
            return Ok(true);
        }
        Err(e) => return Err(format!("{}: {e}", out.display())),
    };
    let merged = merge_text(&existing, spec)
        .map_err(|e| format!("{}: {e}; left unchanged", out.display()))?;
    match merged {
        None => Ok(false),
        Some((text, added)) => {
            fs::write(out, &text).map_err(|e| format!("{}: {e}", out.display()))?;
            problems.push(format!(
                "existing spec kept; added from the doc: {}",
                added.join(", ")
            ));
            Ok(true)
        }
    }
}

/// Merge into an existing spec text: keep everything that is there, insert (as text, so comments
/// and formatting survive) the top-level keys, request parameters and response properties it
/// lacks. `Ok(None)` when nothing is missing.
fn merge_text(
    existing: &str,
    spec: &[(String, Y)],
) -> Result<Option<(String, Vec<String>)>, String> {
    let old: serde_yaml::Value = serde_yaml::from_str(existing)
        .map_err(|e| format!("existing spec is not valid YAML ({e})"))?;
    let Some(old_map) = old.as_mapping() else {
        return Err("existing spec is not a YAML mapping".into());
    };
    let old_keys: Vec<String> = old_map.keys().filter_map(yaml_key_str).collect();
    let lines: Vec<&str> = existing.lines().collect();
    let mut inserts: Vec<(usize, String)> = Vec::new();
    let mut added: Vec<String> = Vec::new();

    for (key, val) in spec {
        if old_keys.contains(key) {
            // fill missing request parameters / response properties
            let (field_map, block_path): (Option<&Entries>, &[&str]) = match (key.as_str(), val) {
                ("request", Y::Map(m)) => (Some(m), &["request"]),
                ("response", Y::Map(m)) => match m.iter().find(|(k, _)| k == "properties") {
                    Some((_, Y::Map(p))) => (Some(p), &["response", "properties"]),
                    _ => (None, &[]),
                },
                _ => (None, &[]),
            };
            let Some(fields) = field_map else { continue };
            let old_fields = match block_path {
                ["request"] => yaml_keys(old.get("request")),
                _ => yaml_keys(old.get("response").and_then(|r| r.get("properties"))),
            };
            let Some(old_fields) = old_fields else {
                continue;
            };
            let missing: Vec<&(String, Y)> = fields
                .iter()
                .filter(|(k, _)| !old_fields.contains(k))
                .collect();
            if missing.is_empty() {
                continue;
            }
            let mut range = (0usize, lines.len(), 0usize);
            for seg in block_path {
                match find_block(&lines, range.0, range.1, range.2, seg) {
                    Some((k, end, child)) => range = (k + 1, end, child),
                    None => {
                        return Err(format!(
                            "cannot add `{}` to `{}` (not a block mapping)",
                            missing
                                .iter()
                                .map(|(k, _)| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            block_path.join(".")
                        ))
                    }
                }
            }
            let mut text = String::new();
            for (k, v) in &missing {
                emit_entry(&mut text, range.2, k, v, false);
                added.push(format!("{}.{k}", block_path.join(".")));
            }
            inserts.push((range.1, text));
            continue;
        }
        // a missing top-level key goes before the first existing key that follows it
        let order = |k: &str| {
            TOP_ORDER
                .iter()
                .position(|o| *o == k)
                .unwrap_or(TOP_ORDER.len())
        };
        let my = order(key);
        let pos = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| indent_of(l) == 0 && !is_blank_or_comment(l))
            .find(|(_, l)| {
                let k = l.split(':').next().unwrap_or("").trim().trim_matches('"');
                old_keys.iter().any(|o| o == k) && order(k) > my
            })
            .map(|(i, _)| i)
            .unwrap_or(lines.len());
        inserts.push((pos, emit_top(key, val)));
        added.push(key.clone());
    }
    if inserts.is_empty() {
        return Ok(None);
    }
    let mut out = String::new();
    for i in 0..=lines.len() {
        for (_, t) in inserts.iter().filter(|(p, _)| *p == i) {
            out.push_str(t);
        }
        if i < lines.len() {
            out.push_str(lines[i]);
            out.push('\n');
        }
    }
    if let Err(e) = serde_yaml::from_str::<serde_yaml::Value>(&out) {
        return Err(format!("merging would produce invalid YAML ({e})"));
    }
    Ok(Some((out, added)))
}

// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(doc: &str) -> (Vec<(String, Y)>, Vec<String>) {
        build_spec("cc", "list_things", doc, &[])
    }
    fn yaml_of(doc: &str) -> serde_yaml::Value {
        let (spec, _) = spec_of(doc);
        let text = emit_doc(&spec);
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }
    fn y(text: &str) -> serde_yaml::Value {
        serde_yaml::from_str(text).unwrap()
    }
    fn doc_with_table(header: &str, rows: &str) -> String {
        format!(
            "### 功能描述\n\nx\n\n### 请求参数\n\n{{{{ common_args_desc }}}}\n\n#### 接口参数\n\n{header}\n|---|---|---|---|\n{rows}\n\n### 返回结果示例\n\n```json\n{{\"result\": true, \"code\": 0, \"message\": \"\", \"data\": null}}\n```\n"
        )
    }

    #[test]
    fn header_variants() {
        for header in [
            "| 字段 | 类型 | 必选 | 描述 |",
            "| 字段名 | 类型 | 必选 | 描述 |",
            "| 字段 | 类型 | 必须 | 描述 |",
            "| Field | Type | Required | Description |",
        ] {
            let v = yaml_of(&doc_with_table(
                header,
                "| bk_biz_id | int | 是 | x |\n| name | string | 否 | y |",
            ));
            assert_eq!(
                v["request"]["bk_biz_id"],
                y("{type: integer, required: true}"),
                "{header}"
            );
            assert_eq!(v["request"]["name"], y("{type: string}"), "{header}");
        }
        // three-column variants without a required column
        for header in ["| 字段 | 类型 | 描述 |", "| 名称 | 类型 | 说明 |"] {
            let doc = format!("### 请求参数\n\n#### 接口参数\n\n{header}\n|---|---|---|\n| ids | list<int> | x |\n");
            let v = yaml_of(&doc);
            assert_eq!(
                v["request"]["ids"],
                y("{type: array, items: {type: integer}}"),
                "{header}"
            );
        }
    }

    #[test]
    fn nested_tables_and_entities() {
        let doc = "### 请求参数\n\n#### 接口参数\n\n| 字段 | 类型 | 必选 | 描述 |\n|--|--|--|--|\n\
| page | object | 是 | 分页 |\n| filter | object | 否 | 过滤 |\n| target_server | object | 否 | 目标服务器，见server定义 |\n\
| script_param | string | 否 | 参数 &#34;a b&#34; Base64 |\n\n\
#### filter\n\n| 字段 | 类型 | 必选 | 描述 |\n|--|--|--|--|\n| rules | array | 否 | 规则 |\n\n\
#### rules\n\n| 字段 | 类型 | 必选 | 描述 |\n|--|--|--|--|\n| field | string | 是 | f |\n| operator | string | 是 | 操作符,可选值 equal,not_equal,in |\n\n\
#### server\n\n| 字段 | 类型 | 必选 | 描述 |\n|--|--|--|--|\n| host_id_list | array | 否 | ids |\n\n\
#### page\n\n| 字段 | 类型 | 必选 | 描述 |\n|--|--|--|--|\n| start | int | 是 | s |\n| limit | int | 是 | 每页限制条数,最大500 |\n\n\
### 返回结果示例\n\n```json\n{\"result\": true, \"code\": 0, \"message\": \"\", \"data\": {\"count\": 1, \"info\": [{\"bk_host_id\": 1, \"bk_host_innerip\": \"1.1.1.1\", \"x\": 2.5}]}}\n```\n\n\
### 返回结果参数说明\n\n#### response\n\n| 字段 | 类型 | 描述 |\n|--|--|--|\n| result | bool | r |\n| code | int | c |\n| message | string | m |\n| data | object | d |\n\n\
#### data\n\n| 字段 | 类型 | 描述 |\n|--|--|--|\n| count | int | c |\n| info | array | i |\n\n\
#### data.info\n\n| 字段 | 类型 | 描述 |\n|--|--|--|\n| bk_host_id | int | id |\n| bk_host_innerip | string | ip |\n";
        let (spec, problems) = spec_of(doc);
        let text = emit_doc(&spec);
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(
            v["request"]["page"],
            y("{type: object, required: true, properties: {start: {type: integer, required: true}, limit: {type: integer, required: true}}}")
        );
        assert_eq!(
            v["request"]["filter"]["properties"]["rules"]["items"]["properties"]["operator"],
            y("{type: string, enum: [equal, not_equal, in], required: true}")
        );
        assert_eq!(
            v["request"]["target_server"]["properties"]["host_id_list"]["type"],
            y("array")
        );
        assert_eq!(
            v["request"]["script_param"],
            y("{type: string, format: base64}")
        );
        assert_eq!(
            v["pagination"],
            y("{style: start_limit, param: page, max_limit: 500, items: info, total: count}")
        );
        let info = &v["response"]["properties"]["info"];
        assert_eq!(info["items"]["additional_properties"], y("true"));
        assert_eq!(
            info["items"]["properties"]["bk_host_id"],
            y("{type: integer}")
        );
        assert_eq!(v["example"]["count"], y("1"));
        assert!(v.get("fixups").is_none());
        assert!(
            problems.iter().any(|p| p.contains("host_id_list")),
            "{problems:?}"
        );
    }

    #[test]
    fn type_mapping() {
        let cases = [
            ("字符串", Some(Ty::Str)),
            ("整数", Some(Ty::Int)),
            ("数字", Some(Ty::Int)),
            ("long", Some(Ty::Int)),
            ("Boolean", Some(Ty::Bool)),
            ("布尔", Some(Ty::Bool)),
            ("double", Some(Ty::Num)),
            ("dict", Some(Ty::Object)),
            ("json", Some(Ty::Object)),
            ("数组", Some(Ty::Array(Box::new(Ty::Any)))),
            ("array[object]", Some(Ty::Array(Box::new(Ty::Object)))),
            ("list<int>", Some(Ty::Array(Box::new(Ty::Int)))),
            ("[]int", Some(Ty::Array(Box::new(Ty::Int)))),
            ("string[]", Some(Ty::Array(Box::new(Ty::Str)))),
            ("map[string]string", Some(Ty::Object)),
            ("-", None),
            ("int/string", None),
        ];
        for (raw, want) in cases {
            assert_eq!(parse_type(raw), want, "{raw}");
        }
        let (_, problems) = spec_of(&doc_with_table(
            "| 字段 | 类型 | 必须 | 描述 |",
            "| value | - | 否 | x |",
        ));
        assert!(
            problems.iter().any(|p| p.contains("unknown type `-`")),
            "{problems:?}"
        );
        for (r, want) in [
            ("是", true),
            ("Y", true),
            ("yes", true),
            ("true", true),
            ("否", false),
            ("", false),
        ] {
            assert_eq!(parse_required(r), want, "{r}");
        }
    }

    #[test]
    fn enums_are_conservative() {
        assert_eq!(
            extract_enum(
                "资源范围类型。可选值: biz - 业务，biz_set - 业务集",
                &Ty::Str
            ),
            vec![EVal::Str("biz".into()), EVal::Str("biz_set".into())]
        );
        assert_eq!(
            extract_enum("脚本语言：1 - shell, 2 - bat, 3 - perl。当使用", &Ty::Int),
            vec![EVal::Int(1), EVal::Int(2), EVal::Int(3)]
        );
        assert_eq!(
            extract_enum("0为未注册，1为运行中，2为停止", &Ty::Int),
            vec![EVal::Int(0), EVal::Int(1), EVal::Int(2)]
        );
        assert!(
            extract_enum("脚本执行超时时间，秒。默认7200，取值范围1-86400", &Ty::Int).is_empty()
        );
        assert!(extract_enum("错误编码。 0表示success，>0表示失败错误", &Ty::Int).is_empty());
        assert!(extract_enum("格式：2019-01-01 10:00:00", &Ty::Str).is_empty());
        assert!(extract_enum("业务id", &Ty::Int).is_empty());
        assert!(extract_enum("可选值 就是这些 foo", &Ty::Str).is_empty());
    }

    fn repaired(src: &str) -> (serde_json::Value, Vec<&'static str>) {
        let p = jsonfix::parse(src);
        (
            p.value.unwrap_or_else(|| panic!("{:?}", p.error)),
            p.fixes.iter().map(|f| f.0).collect(),
        )
    }

    #[test]
    fn json_repairs() {
        let (v, f) = repaired("{\"a\": 1}");
        assert_eq!(v, serde_json::json!({"a": 1}));
        assert!(f.is_empty());
        let (v, f) = repaired("{\n  // note\n  \"a\": \"http://x\", # py\n}");
        assert_eq!(v, serde_json::json!({"a": "http://x"}));
        assert_eq!(f, ["comments", "trailing_commas"]);
        let (v, f) = repaired("{\"a\": [1, 2, ...], \"b\": {\"c\": 1, .....}}");
        assert_eq!(v, serde_json::json!({"a": [1, 2], "b": {"c": 1}}));
        assert_eq!(f, ["ellipses"]);
        let (v, f) = repaired("{'a': 'it\\'s \"q\"'}");
        assert_eq!(v, serde_json::json!({"a": "it's \"q\""}));
        assert_eq!(f, ["single_quotes"]);
        let (v, f) = repaired("{1: true, 11: \"flowA\"}");
        assert_eq!(v, serde_json::json!({"1": true, "11": "flowA"}));
        assert_eq!(f, ["numeric_keys"]);
        let (v, f) = repaired("{\"a\": {\"x\": 1}\n \"b\": 2\n \"c\": \"s\"\n \"d\": [{} {}]}");
        assert_eq!(
            v,
            serde_json::json!({"a": {"x": 1}, "b": 2, "c": "s", "d": [{}, {}]})
        );
        assert_eq!(f, ["missing_commas"]);
        let (v, f) = repaired("{\"a\": True, \"b\": None}");
        assert_eq!(v, serde_json::json!({"a": true, "b": null}));
        assert_eq!(f, ["python_literals"]);
        let (v, f) = repaired("{\"task_url\": task_url}");
        assert_eq!(v, serde_json::json!({"task_url": "task_url"}));
        assert_eq!(f, ["bare_identifiers"]);
        let p = jsonfix::parse("{\n\"a\": 1,\n 这是 一段 说明 }");
        assert!(p.value.is_none());
        assert!(p.error.is_some());
    }

    #[test]
    fn fixups_recorded_and_failures_reported() {
        let doc = "### 返回结果示例\n\n```python\n{\n  \"result\": True,\n  \"data\": {\"a\": 1,},\n}\n```\n";
        let v = yaml_of(doc);
        assert_eq!(v["example"], y("{a: 1}"));
        let names: Vec<_> = v["fixups"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "response_example_trailing_commas",
                "response_example_python_literals"
            ]
        );
        assert_eq!(
            v["response"],
            y("{type: object, properties: {a: {type: integer}}}")
        );
        let doc = "### 返回结果示例\n\n```json\n{\n  \"result\": true,\n  \"data\": { 这里 省略 }\n}\n```\n";
        let (spec, problems) = spec_of(doc);
        assert!(!spec.iter().any(|(k, _)| k == "example"));
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("line 6: response example")),
            "{problems:?}"
        );
    }

    #[test]
    fn monitor_headings_and_chinese_types() {
        let doc = "### 请求参数\n\n#### 接口参数\n\n| 字段 | 类型 | 必选 | 描述 |\n|--|--|--|--|\n| bk_biz_id | 整数 | 是 | 业务 |\n| name | 字符串 | 否 | 名称 |\n\n\
#### 示例数据\n\n```json\n{\"bk_biz_id\": 2}\n```\n\n### 响应参数\n\n| 字段 | 类型 | 描述 |\n|--|--|--|\n| result | bool | r |\n| code | int | c |\n| message | string | m |\n| data | list | d |\n\n\
#### data字段说明\n\n| 字段 | 类型 | 描述 |\n|--|--|--|\n| id | int | x |\n| status | int | 状态。1: 正常; 2: 停用 |\n\n#### 结果示例\n\n```json\n{\"result\": true, \"code\": 200, \"message\": \"OK\", \"data\": [{\"id\": 1, \"status\": 1}]}\n```\n";
        let v = yaml_of(doc);
        assert_eq!(
            v["request"]["bk_biz_id"],
            y("{type: integer, required: true}")
        );
        assert_eq!(v["request"]["name"], y("{type: string}"));
        assert_eq!(
            v["response"],
            y("{type: array, items: {type: object, properties: {id: {type: integer}, status: {type: integer, enum: [1, 2]}}}}")
        );
        assert_eq!(v["example"], y("[{id: 1, status: 1}]"));
    }

    #[test]
    fn top_level_keys_and_quoting() {
        let inv = vec![InventoryRow {
            component: "cc".into(),
            api: "list_things".into(),
            method: "GET".into(),
            path: "/api/c/compapi{bk_api_ver}/cc/list_things/".into(),
            seen_in: vec!["bk-log".into(), "bkapi-component-open".into()],
        }];
        let doc = "### 返回结果示例\n\n```json\n{\"result\": true, \"data\": {\"v\": \"1\", \"t\": \"true\", \"s\": \"中文\", \"k\": {\"1\": null}}}\n```\n";
        let (spec, problems) = build_spec("cc", "list_things", doc, &inv);
        assert!(!problems.iter().any(|p| p.contains("inventory")));
        let text = emit_doc(&spec);
        assert!(text.starts_with("api: list_things\nmethod: GET\npath: /api/c/compapi{bk_api_ver}/cc/list_things/\nsummary: TODO"), "{text}");
        assert!(
            text.contains("seen_in: [bk-log, bkapi-component-open]\nidempotent: true  #"),
            "{text}"
        );
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(v["example"]["v"], serde_yaml::Value::String("1".into()));
        assert_eq!(v["example"]["t"], serde_yaml::Value::String("true".into()));
        assert_eq!(v["example"]["k"]["1"], serde_yaml::Value::Null);
        let (spec, problems) = build_spec("usermanage", "list_users", doc, &[]);
        assert!(problems.iter().any(|p| p.contains("not in inventory")));
        assert_eq!(spec[1].1, Y::s("GET"));
        let (spec, _) = build_spec("cc", "create_thing", doc, &[]);
        assert_eq!(spec[1].1, Y::s("POST"));
        assert!(spec
            .iter()
            .any(|(k, v)| k == "idempotent" && *v == Y::Bool(false)));
        // no Chinese text anywhere except example values
        assert!(text.split("example:").next().unwrap().is_ascii());
    }

    fn tmpdir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("import_apidoc_test_{}_{name}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    const DOC: &str = "### 请求参数\n\n#### 接口参数\n\n| 字段 | 类型 | 必选 | 描述 |\n|--|--|--|--|\n| bk_biz_id | int | 是 | 业务 |\n| bk_token | string | 否 | t |\n\n\
### 返回结果示例\n\n```json\n{\"result\": true, \"code\": 0, \"message\": \"\", \"data\": {\"count\": 1, \"info\": [{\"id\": 1}],}}\n```\n\n\
### 返回结果参数说明\n\n#### data\n\n| 字段 | 类型 | 描述 |\n|--|--|--|\n| count | int | c |\n| info | array | i |\n";

    #[test]
    fn rerun_is_a_noop_and_hand_edits_survive() {
        let dir = tmpdir("rerun");
        let doc = dir.join("search_things.md");
        fs::write(&doc, DOC).unwrap();
        let specs = dir.join("specs");
        let r = run(&specs, "cc", std::slice::from_ref(&doc), &[]).unwrap();
        assert!(r[0].written, "{r:?}");
        let out = specs.join("cc/search_things.yaml");
        let first = fs::read_to_string(&out).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&first).unwrap();
        assert_eq!(v["sensitive"], y("[bk_token]"));
        assert_eq!(
            v["fixups"][0]["name"],
            y("response_example_trailing_commas")
        );
        assert_eq!(
            v["response"]["properties"]["info"]["items"],
            y("{type: object, properties: {id: {type: integer}}}")
        );

        let r = run(&specs, "cc", std::slice::from_ref(&doc), &[]).unwrap();
        assert!(!r[0].written);
        assert_eq!(fs::read_to_string(&out).unwrap(), first);

        // hand edits: summary, a description, a changed type, a removed request field, a comment
        let edited = first
            .replace(
                "summary: TODO  # one English sentence in our own words",
                "summary: Search things.\n# hand-written note",
            )
            .replace(
                "  bk_biz_id: { type: integer, required: true }",
                "  bk_biz_id: { type: integer, required: true, description: Business id. }",
            )
            .replace("  bk_token: { type: string }\n", "")
            .replace(
                "    count: { type: integer }",
                "    count: { type: integer, minimum: 0 }",
            );
        assert_ne!(edited, first);
        fs::write(&out, &edited).unwrap();
        let r = run(&specs, "cc", std::slice::from_ref(&doc), &[]).unwrap();
        assert!(r[0].written, "{r:?}");
        let merged = fs::read_to_string(&out).unwrap();
        assert!(
            merged.contains("summary: Search things.\n# hand-written note\n"),
            "{merged}"
        );
        assert!(merged.contains("description: Business id."));
        assert!(merged.contains("count: { type: integer, minimum: 0 }"));
        let v: serde_yaml::Value = serde_yaml::from_str(&merged).unwrap();
        assert_eq!(v["request"]["bk_token"], y("{type: string}"));
        // and now it is stable again
        let r = run(&specs, "cc", std::slice::from_ref(&doc), &[]).unwrap();
        assert!(!r[0].written);
        assert_eq!(fs::read_to_string(&out).unwrap(), merged);

        // a missing top-level key is inserted in canonical position; missing response property too
        let edited = merged
            .replace("  bk_token: { type: string }\n", "")
            .replace("    info:\n", "    xinfo:\n");
        let edited = {
            let mut lines: Vec<&str> = edited.lines().collect();
            let s = lines
                .iter()
                .position(|l| l.starts_with("sensitive:"))
                .unwrap();
            lines.drain(s..s + 1);
            lines.join("\n") + "\n"
        };
        fs::write(&out, &edited).unwrap();
        let r = run(&specs, "cc", std::slice::from_ref(&doc), &[]).unwrap();
        assert!(r[0].written);
        let again = fs::read_to_string(&out).unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&again).unwrap();
        assert_eq!(v["sensitive"], y("[bk_token]"));
        assert!(
            v["response"]["properties"].get("info").is_some()
                && v["response"]["properties"].get("xinfo").is_some()
        );
        let keys: Vec<String> = v
            .as_mapping()
            .unwrap()
            .keys()
            .map(|k| k.as_str().unwrap().to_string())
            .collect();
        let si = keys.iter().position(|k| k == "sensitive").unwrap();
        assert_eq!(keys[si + 1], "fixups", "{keys:?}");
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn inline_request_is_not_clobbered() {
        let dir = tmpdir("inline");
        let doc = dir.join("search_things.md");
        fs::write(&doc, DOC).unwrap();
        let specs = dir.join("specs");
        fs::create_dir_all(specs.join("cc")).unwrap();
        let out = specs.join("cc/search_things.yaml");
        let hand = "api: search_things\nmethod: POST\npath: /api/c/compapi{bk_api_ver}/cc/search_things/\nsummary: S.\nidempotent: true\nrequest: { bk_biz_id: { type: integer } }\n";
        fs::write(&out, hand).unwrap();
        let r = run(&specs, "cc", std::slice::from_ref(&doc), &[]).unwrap();
        assert!(!r[0].written);
        assert!(
            r[0].problems.iter().any(|p| p.contains("left unchanged")),
            "{r:?}"
        );
        assert_eq!(fs::read_to_string(&out).unwrap(), hand);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn inventory_loading() {
        let dir = tmpdir("inv");
        let p = dir.join("inv.tsv");
        fs::write(&p, "component\tapi\tmethod\tpath\tseen_in\tlabel_zh\ncc\tx\tget\t/p/\tbk-log+bkapi-component-open\t标签\n").unwrap();
        let rows = load_inventory(&p).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].method, "GET");
        assert_eq!(rows[0].seen_in, ["bk-log", "bkapi-component-open"]);
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn heading_names() {
        assert_eq!(heading_name("data.info").as_deref(), Some("data.info"));
        assert_eq!(heading_name("data字段说明").as_deref(), Some("data"));
        assert_eq!(heading_name("info[x]").as_deref(), Some("info"));
        assert_eq!(
            heading_name("重复事项配置信息（repeat）").as_deref(),
            Some("repeat")
        );
        assert_eq!(heading_name("执行参数（plugin_id为2时）"), None);
        assert_eq!(heading_name("组合过滤规则"), None);
        assert_eq!(
            heading_name("拨测任务配置列表--conf_list").as_deref(),
            Some("conf_list")
        );
        assert_eq!(heading_name("\"strategy\"").as_deref(), Some("strategy"));
        assert_eq!(heading_name("data[item]").as_deref(), Some("data"));
        assert_eq!(
            heading_name("data.info.process_instances[x].process 字段说明").as_deref(),
            Some("data.info.process_instances.process")
        );
        assert_eq!(classify("返回结果参数说明"), Some(Region::Response));
        assert_eq!(classify("示例数据"), Some(Region::Example));
        assert_eq!(classify("接口参数"), Some(Region::Request));
        assert_eq!(classify("data"), None);
    }
}
