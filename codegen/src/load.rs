//! Loading and validating spec files into the [`bk_spec`] model.
//!
//! Every file is parsed with `serde_yaml`; positions come from [`crate::yaml::PosIndex`].
//! The validator walks each document, reports every problem it finds (it never stops at the
//! first), and builds the model only from what is valid. Cross-file checks (references,
//! duplicate names) run once all files of a component are read.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path as FsPath, PathBuf};

use bk_spec::{
    AlsoSeen, Api, Bundle, Cache, Component, EnumRepr, EnumValue, ErrorCode, Field, Fixup, Format,
    Method, NamedType, Pagination, PaginationStyle, Schema, SchemaKind,
};
use serde_yaml::Value;

use crate::diag::{closest, Diagnostic, Diagnostics};
use crate::names;
use crate::yaml::{render, Path, PosIndex, Seg};

/// Name of the per-component metadata file.
pub const COMPONENT_FILE: &str = "_component.yaml";

/// Loads every component under `specs_dir` (one folder each).
///
/// `display_root` is stripped from file names in diagnostics so that they read
/// `specs/cc/x.yaml` rather than an absolute path.
pub fn load_dir(specs_dir: &FsPath, display_root: &FsPath) -> Result<Bundle, Diagnostics> {
    let mut diags = Vec::new();
    let mut components = Vec::new();
    let mut dirs: Vec<PathBuf> = match std::fs::read_dir(specs_dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect(),
        Err(e) => {
            return Err(Diagnostics(vec![Diagnostic {
                file: specs_dir.display().to_string(),
                line: 1,
                column: 1,
                key: String::new(),
                message: format!("cannot read the specs folder: {e}"),
                help: "run from the workspace root, or pass the folder that holds one sub-folder per component".into(),
            }]))
        }
    };
    dirs.sort();
    for dir in dirs {
        let mut files = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().and_then(|x| x.to_str()) == Some("yaml") {
                    let shown = p
                        .strip_prefix(display_root)
                        .unwrap_or(&p)
                        .display()
                        .to_string();
                    match std::fs::read_to_string(&p) {
                        Ok(text) => files.push((shown, text)),
                        Err(e) => diags.push(file_diag(
                            &shown,
                            format!("cannot read the file: {e}"),
                            "check the file's permissions and that it is UTF-8",
                        )),
                    }
                }
            }
        }
        files.sort();
        let folder = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let dir_shown = dir
            .strip_prefix(display_root)
            .unwrap_or(&dir)
            .display()
            .to_string();
        if let Some(c) = load_component(&folder, &dir_shown, &files, &mut diags) {
            components.push(c);
        }
    }
    let mut diags = Diagnostics(diags);
    if diags.is_empty() {
        Ok(Bundle { components })
    } else {
        diags.sort();
        Err(diags)
    }
}

/// Loads one component from in-memory files: `(display name, text)` pairs, where the file
/// named [`COMPONENT_FILE`] holds the metadata. Problems go to `diags`; `None` when the
/// component could not be built at all.
pub fn load_component(
    folder: &str,
    dir_shown: &str,
    files: &[(String, String)],
    diags: &mut Vec<Diagnostic>,
) -> Option<Component> {
    let meta_file = files
        .iter()
        .find(|(name, _)| file_name(name) == COMPONENT_FILE);
    let Some((meta_name, meta_text)) = meta_file else {
        diags.push(file_diag(
            &format!("{dir_shown}/{COMPONENT_FILE}"),
            "the component has no `_component.yaml`".into(),
            "create it with at least `component`, `crate` and `title`",
        ));
        return None;
    };
    let meta = FileCx::parse(meta_name, meta_text, diags).and_then(|mut cx| {
        let meta = cx.component_meta(folder);
        diags.append(&mut cx.diags);
        meta
    });
    let mut apis: Vec<Api> = Vec::new();
    let mut api_files: HashMap<String, String> = HashMap::new();
    for (name, text) in files {
        if file_name(name) == COMPONENT_FILE {
            continue;
        }
        let stem = file_name(name).trim_end_matches(".yaml").to_string();
        let Some(mut fcx) = FileCx::parse(name, text, diags) else {
            continue;
        };
        if let Some(api) = fcx.api(folder, &stem) {
            if let Some(first) = api_files.get(&api.name) {
                fcx.error(
                    &[Seg::Key("api".into())],
                    format!(
                        "duplicate API name `{}`: `{first}` already defines it",
                        api.name
                    ),
                    "give each API its own name, equal to its file name",
                );
            } else {
                api_files.insert(api.name.clone(), name.clone());
                apis.push(api);
            }
        }
        diags.append(&mut fcx.diags);
    }
    let meta = meta?;
    let mut component = Component {
        name: meta.name,
        crate_name: meta.crate_name,
        title: meta.title,
        description: meta.description,
        errors: meta.errors,
        types: meta.types,
        apis,
    };
    component.apis.sort_by(|a, b| a.name.cmp(&b.name));
    check_references(&component, diags, files);
    Some(component)
}

fn file_name(shown: &str) -> &str {
    shown.rsplit(['/', '\\']).next().unwrap_or(shown)
}

fn file_diag(file: &str, message: String, help: &str) -> Diagnostic {
    Diagnostic {
        file: file.into(),
        line: 1,
        column: 1,
        key: String::new(),
        message,
        help: help.into(),
    }
}

struct ComponentMeta {
    name: String,
    crate_name: String,
    title: String,
    description: Option<String>,
    errors: Vec<ErrorCode>,
    types: Vec<NamedType>,
}

/// Checks that every reference names a type of the component, and that generated Rust type
/// names are unique within the component. Positions are recovered by re-indexing the file
/// that holds the reference.
fn check_references(c: &Component, diags: &mut Vec<Diagnostic>, files: &[(String, String)]) {
    let known: BTreeSet<&str> = c.types.iter().map(|t| t.name.as_str()).collect();
    let file_of = |api: Option<&str>| -> (String, PosIndex) {
        let wanted = match api {
            Some(a) => format!("{a}.yaml"),
            None => COMPONENT_FILE.to_string(),
        };
        files
            .iter()
            .find(|(n, _)| file_name(n) == wanted)
            .map(|(n, t)| (n.clone(), PosIndex::build(t)))
            .unwrap_or_default()
    };
    // (owner api or None for _component.yaml, yaml path, referenced name)
    let mut refs: Vec<(Option<&str>, Path, &str)> = Vec::new();
    let mut type_names: Vec<(Option<&str>, Path, &str)> = Vec::new();
    for t in &c.types {
        let base = vec![Seg::Key("types".into()), Seg::Key(t.name.clone())];
        type_names.push((None, base.clone(), t.name.as_str()));
        collect(&t.schema, base, None, &mut refs, &mut type_names, false);
    }
    for a in &c.apis {
        for f in &a.params {
            let base = vec![Seg::Key("request".into()), Seg::Key(f.name.clone())];
            collect(
                &f.schema,
                base,
                Some(&a.name),
                &mut refs,
                &mut type_names,
                true,
            );
        }
        if let Some(r) = &a.response {
            collect(
                r,
                vec![Seg::Key("response".into())],
                Some(&a.name),
                &mut refs,
                &mut type_names,
                true,
            );
        }
    }
    let mut by_file: HashMap<Option<&str>, (String, PosIndex)> = HashMap::new();
    for (owner, path, name) in refs {
        if known.contains(name) {
            continue;
        }
        let (file, idx) = by_file.entry(owner).or_insert_with(|| file_of(owner));
        let mut type_path = path.clone();
        type_path.push(Seg::Key("type".into()));
        let pos = idx.pos(&type_path);
        let help = match closest(name, known.iter().copied()) {
            Some(s) => format!("did you mean `{s}`? Types are defined under `types` in {COMPONENT_FILE}"),
            None => format!(
                "use a primitive type (string, integer, number, boolean, array, map, object, any) or define `{name}` under `types` in {COMPONENT_FILE}"
            ),
        };
        diags.push(Diagnostic {
            file: file.clone(),
            line: pos.line,
            column: pos.column,
            key: render(&type_path),
            message: format!("unknown type `{name}`"),
            help,
        });
    }
    let mut seen: HashMap<&str, (Option<&str>, Path)> = HashMap::new();
    for (owner, path, name) in type_names {
        if let Some((first_owner, first_path)) = seen.get(name) {
            let (file, idx) = by_file.entry(owner).or_insert_with(|| file_of(owner));
            let pos = idx.pos(&path);
            let first = match first_owner {
                Some(a) => format!("{a}.yaml at `{}`", render(first_path)),
                None => format!("{COMPONENT_FILE} at `{}`", render(first_path)),
            };
            diags.push(Diagnostic {
                file: file.clone(),
                line: pos.line,
                column: pos.column,
                key: render(&path),
                message: format!("generated type name `{name}` is already used by {first}"),
                help: "set a distinct `title` on this object or enum".into(),
            });
        } else {
            seen.insert(name, (owner, path));
        }
    }
}

fn collect<'a>(
    s: &'a Schema,
    path: Path,
    owner: Option<&'a str>,
    refs: &mut Vec<(Option<&'a str>, Path, &'a str)>,
    names: &mut Vec<(Option<&'a str>, Path, &'a str)>,
    record_root_name: bool,
) {
    match &s.kind {
        SchemaKind::Ref { name } => refs.push((owner, path, name)),
        SchemaKind::Array { items, .. } => {
            let mut p = path;
            p.push(Seg::Key("items".into()));
            collect(items, p, owner, refs, names, true);
        }
        SchemaKind::Map { values, .. } => {
            let mut p = path;
            p.push(Seg::Key("values".into()));
            collect(values, p, owner, refs, names, true);
        }
        SchemaKind::Object {
            rust_type,
            properties,
            ..
        } => {
            if record_root_name {
                names.push((owner, path.clone(), rust_type));
            }
            for f in properties {
                let mut p = path.clone();
                p.push(Seg::Key("properties".into()));
                p.push(Seg::Key(f.name.clone()));
                collect(&f.schema, p, owner, refs, names, true);
            }
        }
        SchemaKind::Enum { rust_type, .. } if record_root_name => {
            names.push((owner, path, rust_type));
        }
        _ => {}
    }
}

/// Per-file validation state.
struct FileCx {
    file: String,
    idx: PosIndex,
    root: Value,
    diags: Vec<Diagnostic>,
}

const PRIMITIVES: &[&str] = &[
    "string", "integer", "number", "boolean", "array", "map", "object", "any", "empty",
];

impl FileCx {
    fn parse(file: &str, text: &str, diags: &mut Vec<Diagnostic>) -> Option<FileCx> {
        match serde_yaml::from_str::<Value>(text) {
            Ok(root) => Some(FileCx {
                file: file.to_string(),
                idx: PosIndex::build(text),
                root,
                diags: Vec::new(),
            }),
            Err(e) => {
                let (line, column) = e
                    .location()
                    .map(|l| (l.line(), l.column()))
                    .unwrap_or((1, 1));
                let msg = e.to_string();
                // serde_yaml appends " at line X column Y"; the position is reported separately.
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                diags.push(Diagnostic {
                    file: file.to_string(),
                    line,
                    column,
                    key: String::new(),
                    message: format!("YAML syntax error: {msg}"),
                    help: "fix the YAML syntax; quote strings that contain `: `, `#` or start with a special character".into(),
                });
                None
            }
        }
    }

    fn error(&mut self, path: &[Seg], message: String, help: impl Into<String>) {
        let pos = self.idx.pos(path);
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            key: render(path),
            message,
            help: help.into(),
        });
    }

    fn value_error(&mut self, path: &[Seg], message: String, help: impl Into<String>) {
        let pos = self.idx.value_pos(path);
        self.diags.push(Diagnostic {
            file: self.file.clone(),
            line: pos.line,
            column: pos.column,
            key: render(path),
            message,
            help: help.into(),
        });
    }

    /// Expects a mapping with string keys; reports unknown and missing keys.
    fn map<'v>(
        &mut self,
        v: &'v Value,
        path: &[Seg],
        allowed: &[&str],
        required: &[&str],
        what: &str,
    ) -> Option<BTreeMap<String, &'v Value>> {
        let Some(m) = v.as_mapping() else {
            self.value_error(
                path,
                format!("{what} must be a mapping, found {}", kind_of(v)),
                format!("write {what} as `key: value` lines"),
            );
            return None;
        };
        let mut out = BTreeMap::new();
        for (k, val) in m {
            let Some(k) = k.as_str() else {
                self.value_error(
                    path,
                    format!("keys of {what} must be strings, found {}", kind_of(k)),
                    "quote the key",
                );
                continue;
            };
            let mut kp = path.to_vec();
            kp.push(Seg::Key(k.to_string()));
            if !allowed.contains(&k) {
                let help = if k.contains(' ') {
                    "this looks like the rest of a text cut at a comma: inside `{ ... }` a comma ends the value, so quote the text (`description: \"a, b\"`)".to_string()
                } else {
                    match closest(k, allowed.iter().copied()) {
                        Some(s) => {
                            format!("did you mean `{s}`? Allowed here: {}", allowed.join(", "))
                        }
                        None => format!("remove it; allowed here: {}", allowed.join(", ")),
                    }
                };
                self.error(&kp, format!("unknown key `{k}` in {what}"), help);
                continue;
            }
            out.insert(k.to_string(), val);
        }
        for r in required {
            if !out.contains_key(*r) && !m.contains_key(Value::String((*r).to_string())) {
                self.error(
                    path,
                    format!("missing required key `{r}` in {what}"),
                    format!("add `{r}: ...` (see specs/README.md)"),
                );
            }
        }
        Some(out)
    }

    fn string(&mut self, m: &BTreeMap<String, &Value>, key: &str, path: &[Seg]) -> Option<String> {
        let v = m.get(key)?;
        match v {
            Value::String(s) => Some(s.clone()),
            other => {
                let p = child(path, key);
                self.value_error(
                    &p,
                    format!("`{key}` must be a string, found {}", kind_of(other)),
                    "quote the value",
                );
                None
            }
        }
    }

    fn boolean(&mut self, m: &BTreeMap<String, &Value>, key: &str, path: &[Seg]) -> Option<bool> {
        let v = m.get(key)?;
        match v {
            Value::Bool(b) => Some(*b),
            other => {
                let p = child(path, key);
                self.value_error(
                    &p,
                    format!("`{key}` must be true or false, found {}", kind_of(other)),
                    "write `true` or `false`",
                );
                None
            }
        }
    }

    fn int(&mut self, m: &BTreeMap<String, &Value>, key: &str, path: &[Seg]) -> Option<i64> {
        let v = m.get(key)?;
        match v.as_i64() {
            Some(i) => Some(i),
            None => {
                let p = child(path, key);
                self.value_error(
                    &p,
                    format!("`{key}` must be an integer, found {}", kind_of(v)),
                    "write a whole number",
                );
                None
            }
        }
    }

    fn uint(&mut self, m: &BTreeMap<String, &Value>, key: &str, path: &[Seg]) -> Option<u64> {
        let i = self.int(m, key, path)?;
        if i < 0 {
            self.value_error(
                &child(path, key),
                format!("`{key}` must not be negative"),
                "write zero or a positive number",
            );
            return None;
        }
        Some(i as u64)
    }

    fn float(&mut self, m: &BTreeMap<String, &Value>, key: &str, path: &[Seg]) -> Option<f64> {
        let v = m.get(key)?;
        match v.as_f64() {
            Some(f) => Some(f),
            None => {
                self.value_error(
                    &child(path, key),
                    format!("`{key}` must be a number, found {}", kind_of(v)),
                    "write a number",
                );
                None
            }
        }
    }

    fn string_list(
        &mut self,
        m: &BTreeMap<String, &Value>,
        key: &str,
        path: &[Seg],
    ) -> Vec<String> {
        let Some(v) = m.get(key) else {
            return Vec::new();
        };
        let p = child(path, key);
        let Some(seq) = v.as_sequence() else {
            self.value_error(
                &p,
                format!("`{key}` must be a list, found {}", kind_of(v)),
                format!("write `{key}: [a, b]`"),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in seq.iter().enumerate() {
            match item.as_str() {
                Some(s) => out.push(s.to_string()),
                None => self.value_error(
                    &child_i(&p, i),
                    format!("items of `{key}` must be strings, found {}", kind_of(item)),
                    "quote the item",
                ),
            }
        }
        out
    }

    /// `deprecated: true | false | "text"`.
    fn deprecated(&mut self, m: &BTreeMap<String, &Value>, path: &[Seg]) -> Option<String> {
        match m.get("deprecated")? {
            Value::Bool(true) => Some(String::new()),
            Value::Bool(false) => None,
            Value::String(s) => Some(s.clone()),
            other => {
                self.value_error(
                    &child(path, "deprecated"),
                    format!(
                        "`deprecated` must be true, false or a string, found {}",
                        kind_of(other)
                    ),
                    "write `deprecated: true` or name the replacement",
                );
                None
            }
        }
    }

    fn json(&mut self, v: &Value, path: &[Seg]) -> Option<serde_json::Value> {
        match serde_json::to_value(v) {
            Ok(j) => Some(j),
            Err(e) => {
                self.value_error(
                    path,
                    format!("value cannot be represented as JSON: {e}"),
                    "use string keys and JSON-compatible values",
                );
                None
            }
        }
    }

    // ---- _component.yaml --------------------------------------------------------------

    fn component_meta(&mut self, folder: &str) -> Option<ComponentMeta> {
        let root = self.root.clone();
        let m = self.map(
            &root,
            &[],
            &[
                "component",
                "crate",
                "title",
                "description",
                "errors",
                "types",
            ],
            &["component", "crate", "title"],
            "the component file",
        )?;
        let name = self.string(&m, "component", &[]);
        if let Some(n) = &name {
            if n != folder {
                self.value_error(
                    &child(&[], "component"),
                    format!("component `{n}` does not match its folder `{folder}`"),
                    format!("write `component: {folder}` or move the folder"),
                );
            }
        }
        let crate_name = self.string(&m, "crate", &[]);
        if let Some(c) = &crate_name {
            if !names::is_crate_name(c) {
                self.value_error(
                    &child(&[], "crate"),
                    format!("invalid crate name `{c}`"),
                    format!(
                        "use lowercase letters, digits and hyphens, e.g. `bk-{}`",
                        folder.replace('_', "-")
                    ),
                );
            }
        }
        let title = self.string(&m, "title", &[]);
        let description = self.string(&m, "description", &[]);
        let mut errors = Vec::new();
        if let Some(v) = m.get("errors") {
            let p = child(&[], "errors");
            match v.as_sequence() {
                Some(seq) => {
                    let mut codes = BTreeSet::new();
                    for (i, e) in seq.iter().enumerate() {
                        let ep = child_i(&p, i);
                        let Some(em) = self.map(
                            e,
                            &ep,
                            &["code", "name", "meaning"],
                            &["code", "meaning"],
                            "an error code",
                        ) else {
                            continue;
                        };
                        let code = self.int(&em, "code", &ep);
                        let ename = self.string(&em, "name", &ep);
                        if let Some(n) = &ename {
                            if !names::is_snake_ident(n) {
                                self.value_error(
                                    &child(&ep, "name"),
                                    format!("invalid error name `{n}`"),
                                    "use snake_case: lowercase letters, digits and underscores",
                                );
                            }
                        }
                        let meaning = self.string(&em, "meaning", &ep);
                        if let Some(c) = code {
                            if !codes.insert(c) {
                                self.value_error(
                                    &child(&ep, "code"),
                                    format!("duplicate error code {c}"),
                                    "list each code once",
                                );
                                continue;
                            }
                        }
                        if let (Some(code), Some(meaning)) = (code, meaning) {
                            errors.push(ErrorCode {
                                code,
                                name: ename,
                                meaning,
                            });
                        }
                    }
                }
                None => self.value_error(
                    &p,
                    format!("`errors` must be a list, found {}", kind_of(v)),
                    "write `errors:` followed by `- {code: 1, meaning: ...}` items",
                ),
            }
        }
        errors.sort_by_key(|e| e.code);
        let mut types = Vec::new();
        if let Some(v) = m.get("types") {
            let p = child(&[], "types");
            match v.as_mapping() {
                Some(tm) => {
                    for (k, tv) in tm {
                        let Some(tname) = k.as_str() else {
                            self.value_error(
                                &p,
                                "type names must be strings".into(),
                                "quote the name",
                            );
                            continue;
                        };
                        let tp = child(&p, tname);
                        if !names::is_pascal_ident(tname) || PRIMITIVES.contains(&tname) {
                            self.error(
                                &tp,
                                format!("invalid type name `{tname}`"),
                                format!("use PascalCase, e.g. `{}`", names::pascal(tname)),
                            );
                            continue;
                        }
                        if let Some(schema) = self.schema(tv, &tp, tname, SchemaCtx::Named) {
                            types.push(NamedType {
                                name: tname.to_string(),
                                schema,
                            });
                        }
                    }
                }
                None => self.value_error(
                    &p,
                    format!(
                        "`types` must be a mapping of type names to schemas, found {}",
                        kind_of(v)
                    ),
                    "write `types:` followed by `Name: {type: object, ...}` entries",
                ),
            }
        }
        types.sort_by(|a, b| a.name.cmp(&b.name));
        Some(ComponentMeta {
            name: name?,
            crate_name: crate_name?,
            title: title?,
            description,
            errors,
            types,
        })
    }

    // ---- <api>.yaml ---------------------------------------------------------------------

    fn api(&mut self, component: &str, stem: &str) -> Option<Api> {
        const KEYS: &[&str] = &[
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
        let root = self.root.clone();
        let m = self.map(
            &root,
            &[],
            KEYS,
            &["api", "method", "path", "summary", "idempotent"],
            "an API spec",
        )?;
        let name = self.string(&m, "api", &[]);
        if let Some(n) = &name {
            if !names::is_snake_ident(n) {
                self.value_error(
                    &child(&[], "api"),
                    format!("invalid API name `{n}`"),
                    "use lowercase letters, digits and underscores, starting with a letter",
                );
            } else if n != stem {
                self.value_error(
                    &child(&[], "api"),
                    format!("API `{n}` does not match its file name `{stem}.yaml`"),
                    format!("rename the file to `{n}.yaml` or write `api: {stem}`"),
                );
            }
        }
        let method = self.method(&m, &[]);
        let path = self.string(&m, "path", &[]);
        if let (Some(p), Some(n)) = (&path, &name) {
            // The path names the component; the API part is normally the API name, but a few
            // real APIs differ (itsm `token_verify` is `/itsm/token/verify/`).
            let prefix = format!("/api/c/compapi{{bk_api_ver}}/{component}/");
            let rest = p.strip_prefix(&prefix).unwrap_or("");
            let rest_ok = rest.ends_with('/')
                && rest.len() > 1
                && rest.trim_end_matches('/').split('/').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .chars()
                            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
                });
            if !rest_ok {
                self.value_error(
                    &child(&[], "path"),
                    format!("path `{p}` does not match component `{component}` and API `{n}`"),
                    format!("write `path: {prefix}{n}/`"),
                );
            }
        }
        let summary = self.string(&m, "summary", &[]);
        if let Some(s) = &summary {
            if s.trim().is_empty() {
                self.value_error(
                    &child(&[], "summary"),
                    "`summary` is empty".into(),
                    "write one English sentence saying what the API does",
                );
            }
        }
        let description = self.string(&m, "description", &[]);
        let doc = self.string(&m, "doc", &[]);
        let seen_in = self.string_list(&m, "seen_in", &[]);
        let also_seen = self.also_seen(&m);
        let idempotent = self.boolean(&m, "idempotent", &[]);
        let deprecated = self.deprecated(&m, &[]);
        let cache = self.cache(&m);
        let sensitive = self.string_list(&m, "sensitive", &[]);
        let fixups = self.fixups(&m);
        let api_pascal = names::pascal(stem);
        let mut params = Vec::new();
        if let Some(v) = m.get("request") {
            let p = child(&[], "request");
            if let Some(props) = self.properties(v, &p, &format!("{api_pascal}Request")) {
                params = props;
            }
        }
        for s in &sensitive {
            let first = s.split('.').next().unwrap_or(s);
            if !params.iter().any(|f| f.name == first) {
                self.value_error(
                    &child(&[], "sensitive"),
                    format!("`sensitive` names `{s}`, which is not a request parameter"),
                    "list request parameter names (dot paths for nested fields)",
                );
            }
        }
        let response = match m.get("response") {
            Some(v) => self.schema(
                v,
                &child(&[], "response"),
                &format!("{api_pascal}Response"),
                SchemaCtx::Named,
            ),
            None => None,
        };
        let pagination = self.pagination(&m, &params);
        let example = match m.get("example") {
            Some(v) => self.json(v, &child(&[], "example")),
            None => None,
        };
        Some(Api {
            name: name?,
            method: method?,
            path: path?,
            summary: summary?,
            description,
            doc,
            seen_in,
            also_seen,
            idempotent: idempotent?,
            deprecated,
            cache,
            pagination,
            sensitive,
            fixups,
            params,
            response,
            example,
        })
    }

    fn also_seen(&mut self, m: &BTreeMap<String, &Value>) -> Vec<AlsoSeen> {
        let Some(v) = m.get("also_seen") else {
            return Vec::new();
        };
        let p = child(&[], "also_seen");
        let Some(seq) = v.as_sequence() else {
            self.value_error(
                &p,
                "`also_seen` must be a list".into(),
                "write `also_seen: [{source: bk-log, method: GET}]`",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in seq.iter().enumerate() {
            let ip = child_i(&p, i);
            let Some(im) = self.map(
                item,
                &ip,
                &["source", "method", "path", "note"],
                &["source"],
                "an `also_seen` entry",
            ) else {
                continue;
            };
            let method = self.method(&im, &ip);
            if let Some(source) = self.string(&im, "source", &ip) {
                out.push(AlsoSeen {
                    source,
                    method,
                    path: self.string(&im, "path", &ip),
                    note: self.string(&im, "note", &ip),
                });
            }
        }
        out
    }

    /// The `method` key of `m`: GET or POST, the only methods ESB channels accept.
    fn method(&mut self, m: &BTreeMap<String, &Value>, path: &[Seg]) -> Option<Method> {
        let s = self.string(m, "method", path)?;
        match s.as_str() {
            "GET" => Some(Method::Get),
            "POST" => Some(Method::Post),
            other => {
                let help =
                    if other.eq_ignore_ascii_case("get") || other.eq_ignore_ascii_case("post") {
                        format!("write it in capitals: `{}`", other.to_ascii_uppercase())
                    } else {
                        "the ESB accepts only GET and POST".to_string()
                    };
                self.value_error(
                    &child(path, "method"),
                    format!("method `{other}` is not GET or POST"),
                    help,
                );
                None
            }
        }
    }

    fn cache(&mut self, m: &BTreeMap<String, &Value>) -> Option<Cache> {
        let v = m.get("cache")?;
        let p = child(&[], "cache");
        let cm = self.map(v, &p, &["ttl"], &["ttl"], "`cache`")?;
        let ttl = self.uint(&cm, "ttl", &p)?;
        if ttl == 0 || ttl > u64::from(u32::MAX) {
            self.value_error(
                &child(&p, "ttl"),
                format!("cache ttl {ttl} is out of range"),
                "give the time to live in seconds, at least 1",
            );
            return None;
        }
        Some(Cache { ttl: ttl as u32 })
    }

    fn fixups(&mut self, m: &BTreeMap<String, &Value>) -> Vec<Fixup> {
        let Some(v) = m.get("fixups") else {
            return Vec::new();
        };
        let p = child(&[], "fixups");
        let Some(seq) = v.as_sequence() else {
            self.value_error(
                &p,
                "`fixups` must be a list".into(),
                "write `fixups:` followed by `- {name: ..., what: ...}` items",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (i, item) in seq.iter().enumerate() {
            let ip = child_i(&p, i);
            let Some(fm) = self.map(item, &ip, &["name", "what"], &["name", "what"], "a fixup")
            else {
                continue;
            };
            let name = self.string(&fm, "name", &ip);
            if let Some(n) = &name {
                if !names::is_snake_ident(n) {
                    self.value_error(
                        &child(&ip, "name"),
                        format!("invalid fixup name `{n}`"),
                        "use a snake_case name, e.g. `response_example_trailing_commas`",
                    );
                }
            }
            if let (Some(name), Some(what)) = (name, self.string(&fm, "what", &ip)) {
                out.push(Fixup { name, what });
            }
        }
        out
    }

    fn pagination(&mut self, m: &BTreeMap<String, &Value>, params: &[Field]) -> Option<Pagination> {
        let v = m.get("pagination")?;
        let p = child(&[], "pagination");
        let pm = self.map(
            v,
            &p,
            &["style", "param", "max_limit", "items", "total"],
            &["style"],
            "`pagination`",
        )?;
        let style = match self.string(&pm, "style", &p)?.as_str() {
            "start_limit" => PaginationStyle::StartLimit,
            "page_number" => PaginationStyle::PageNumber,
            "start_length" => PaginationStyle::StartLength,
            other => {
                self.value_error(&child(&p, "style"), format!("unknown pagination style `{other}`"), "use start_limit (CMDB page object), page_number (ITSM page/page_size) or start_length (JOB start/length)");
                return None;
            }
        };
        let param = self.string(&pm, "param", &p);
        let needed: Vec<String> = match style {
            PaginationStyle::StartLimit => vec![param.clone().unwrap_or_else(|| "page".into())],
            PaginationStyle::PageNumber => vec!["page".into(), "page_size".into()],
            PaginationStyle::StartLength => vec!["start".into(), "length".into()],
        };
        if param.is_some() && style != PaginationStyle::StartLimit {
            self.error(
                &child(&p, "param"),
                "`param` applies only to style start_limit".into(),
                "remove `param`",
            );
        }
        for n in &needed {
            if !params.iter().any(|f| &f.name == n) {
                self.error(&child(&p, "style"), format!("pagination style needs request parameter `{n}`, which the spec does not declare"), format!("declare `{n}` under `request`, or fix the style"));
            }
        }
        let max_limit = match self.uint(&pm, "max_limit", &p) {
            Some(x) if x == 0 || x > u64::from(u32::MAX) => {
                self.value_error(
                    &child(&p, "max_limit"),
                    "`max_limit` must be at least 1".into(),
                    "give the largest page size the server accepts",
                );
                None
            }
            other => other.map(|x| x as u32),
        };
        let items = self.string(&pm, "items", &p).unwrap_or_default();
        let total = self.string(&pm, "total", &p);
        Some(Pagination {
            style,
            param,
            max_limit,
            items,
            total,
        })
    }

    // ---- schemas ------------------------------------------------------------------------

    /// A map of field name to schema (request parameters or object properties).
    fn properties(&mut self, v: &Value, path: &[Seg], parent_type: &str) -> Option<Vec<Field>> {
        let Some(m) = v.as_mapping() else {
            self.value_error(
                path,
                format!(
                    "expected a mapping of field names to schemas, found {}",
                    kind_of(v)
                ),
                "write `name: {type: string}` lines",
            );
            return None;
        };
        let mut fields: Vec<Field> = Vec::new();
        let mut rust_names: HashMap<String, String> = HashMap::new();
        for (k, fv) in m {
            let Some(fname) = k.as_str() else {
                self.value_error(
                    path,
                    format!("field names must be strings, found {}", kind_of(k)),
                    "quote the field name",
                );
                continue;
            };
            let fp = child(path, fname);
            let hint = format!("{parent_type}{}", names::pascal(fname));
            let Some(schema) = self.schema(fv, &fp, &hint, SchemaCtx::Field) else {
                continue;
            };
            let required = fv.get("required").and_then(Value::as_bool).unwrap_or(false);
            let explicit = fv.get("rust_name").and_then(Value::as_str);
            let rust_name = match explicit {
                Some(r) => {
                    if !names::is_snake_ident(r) {
                        self.value_error(
                            &child(&fp, "rust_name"),
                            format!("invalid identifier `{r}`"),
                            "use lowercase letters, digits and underscores, starting with a letter",
                        );
                        continue;
                    }
                    r.to_string()
                }
                None => match names::field_ident(fname) {
                    Some(r) => r,
                    None => {
                        self.error(
                            &fp,
                            format!("field `{fname}` has no valid Rust identifier"),
                            format!(
                                "add `rust_name: {}` (a snake_case name) to this field",
                                names::suggest_ident(fname)
                            ),
                        );
                        continue;
                    }
                },
            };
            if let Some(other) = rust_names.get(&rust_name) {
                self.error(
                    &fp,
                    format!("fields `{other}` and `{fname}` both become `{rust_name}` in Rust"),
                    "set `rust_name` on one of them",
                );
                continue;
            }
            rust_names.insert(rust_name.clone(), fname.to_string());
            fields.push(Field {
                name: fname.to_string(),
                rust_name,
                required,
                schema,
            });
        }
        Some(fields)
    }

    fn schema(
        &mut self,
        v: &Value,
        path: &[Seg],
        name_hint: &str,
        ctx: SchemaCtx,
    ) -> Option<Schema> {
        let Some(raw) = v.as_mapping() else {
            let help = match v.as_str() {
                Some(s) => format!("write `{{ type: {s} }}`"),
                None => "write a mapping such as `{ type: string }`".into(),
            };
            self.value_error(
                path,
                format!("a schema must be a mapping, found {}", kind_of(v)),
                help,
            );
            return None;
        };
        let ty = raw.get("type").and_then(Value::as_str).map(str::to_string);
        let mut allowed: Vec<&str> = vec![
            "type",
            "description",
            "default",
            "nullable",
            "deprecated",
            "sensitive",
            "example",
        ];
        if ctx == SchemaCtx::Field {
            allowed.extend(["required", "rust_name"]);
        }
        match ty.as_deref() {
            Some("string") => allowed.extend([
                "enum",
                "format",
                "min_length",
                "max_length",
                "pattern",
                "title",
            ]),
            Some("integer") => allowed.extend(["enum", "format", "minimum", "maximum", "title"]),
            Some("number") => allowed.extend(["minimum", "maximum"]),
            Some("array") => allowed.extend(["items", "min_items", "max_items"]),
            Some("map") => allowed.extend(["values", "key"]),
            Some("object") => allowed.extend(["properties", "additional_properties", "title"]),
            _ => {}
        }
        let m = self.map(v, path, &allowed, &["type"], "a schema")?;
        let Some(ty) = ty else {
            if raw.contains_key("type") {
                self.value_error(
                    &child(path, "type"),
                    "`type` must be a string".into(),
                    "write e.g. `type: string`",
                );
            }
            return None;
        };
        if ctx == SchemaCtx::Field {
            self.boolean(&m, "required", path);
        }
        let title = self.string(&m, "title", path);
        if let Some(t) = &title {
            if !names::is_pascal_ident(t) {
                self.value_error(
                    &child(path, "title"),
                    format!("invalid type name `{t}`"),
                    format!("use PascalCase, e.g. `{}`", names::pascal(t)),
                );
            }
        }
        let rust_type = title.unwrap_or_else(|| name_hint.to_string());
        let kind = match ty.as_str() {
            "string" | "integer" if m.contains_key("enum") => {
                self.enumeration(&m, path, &ty, rust_type)?
            }
            "string" => SchemaKind::String {
                format: self.format(&m, "format", path),
                min_length: self.uint(&m, "min_length", path),
                max_length: self.uint(&m, "max_length", path),
                pattern: self.string(&m, "pattern", path),
            },
            "integer" => {
                let format = self.format(&m, "format", path);
                let minimum = self.int(&m, "minimum", path);
                let maximum = self.int(&m, "maximum", path);
                if let (Some(lo), Some(hi)) = (minimum, maximum) {
                    if lo > hi {
                        self.value_error(
                            &child(path, "minimum"),
                            format!("minimum {lo} is larger than maximum {hi}"),
                            "swap or fix the limits",
                        );
                    }
                }
                SchemaKind::Integer {
                    format,
                    minimum,
                    maximum,
                }
            }
            "number" => SchemaKind::Number {
                minimum: self.float(&m, "minimum", path),
                maximum: self.float(&m, "maximum", path),
            },
            "boolean" => SchemaKind::Boolean,
            "any" => SchemaKind::Any,
            "empty" => SchemaKind::Empty,
            "array" => {
                let Some(items) = m.get("items") else {
                    self.error(
                        path,
                        "missing required key `items` in an array schema".into(),
                        "add `items: { type: ... }` describing the elements",
                    );
                    return None;
                };
                // A field's list of objects is named after the field (`...Info`); a list at the
                // root of a type (a response that is a list) names its items `...Item`.
                let hint = if ctx == SchemaCtx::Named {
                    format!("{name_hint}Item")
                } else {
                    name_hint.to_string()
                };
                let items = self.schema(items, &child(path, "items"), &hint, SchemaCtx::Named)?;
                SchemaKind::Array {
                    items: Box::new(items),
                    min_items: self.uint(&m, "min_items", path),
                    max_items: self.uint(&m, "max_items", path),
                }
            }
            "map" => {
                let Some(values) = m.get("values") else {
                    self.error(
                        path,
                        "missing required key `values` in a map schema".into(),
                        "add `values: { type: ... }` describing the map's values",
                    );
                    return None;
                };
                let key = self.format(&m, "key", path);
                let values = self.schema(
                    values,
                    &child(path, "values"),
                    &format!("{name_hint}Value"),
                    SchemaCtx::Named,
                )?;
                SchemaKind::Map {
                    values: Box::new(values),
                    key,
                }
            }
            "object" => {
                let properties = match m.get("properties") {
                    Some(pv) => self.properties(pv, &child(path, "properties"), &rust_type)?,
                    None => Vec::new(),
                };
                let additional = self
                    .boolean(&m, "additional_properties", path)
                    .unwrap_or(false);
                SchemaKind::Object {
                    rust_type,
                    properties,
                    additional_properties: additional,
                }
            }
            other if names::is_pascal_ident(other) => SchemaKind::Ref {
                name: other.to_string(),
            },
            other => {
                let help = match closest(other, PRIMITIVES.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "use string, integer, number, boolean, array, map, object, any, or a PascalCase type from _component.yaml".into(),
                };
                self.value_error(
                    &child(path, "type"),
                    format!("unknown type `{other}`"),
                    help,
                );
                return None;
            }
        };
        let default = match m.get("default") {
            Some(d) => self.json(d, &child(path, "default")),
            None => None,
        };
        let example = match m.get("example") {
            Some(d) => self.json(d, &child(path, "example")),
            None => None,
        };
        Some(Schema {
            kind,
            description: self.string(&m, "description", path),
            nullable: self.boolean(&m, "nullable", path).unwrap_or(false),
            deprecated: self.deprecated(&m, path),
            sensitive: self.boolean(&m, "sensitive", path).unwrap_or(false),
            default,
            example,
        })
    }

    fn format(&mut self, m: &BTreeMap<String, &Value>, key: &str, path: &[Seg]) -> Option<Format> {
        let s = self.string(m, key, path)?;
        match Format::ALL.iter().find(|(n, _)| *n == s) {
            Some((_, f)) => Some(*f),
            None => {
                let names: Vec<&str> = Format::ALL.iter().map(|(n, _)| *n).collect();
                let help = match closest(&s, names.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("use one of: {}", names.join(", ")),
                };
                self.value_error(&child(path, key), format!("unknown format `{s}`"), help);
                None
            }
        }
    }

    fn enumeration(
        &mut self,
        m: &BTreeMap<String, &Value>,
        path: &[Seg],
        ty: &str,
        rust_type: String,
    ) -> Option<SchemaKind> {
        let ep = child(path, "enum");
        let v = m.get("enum")?;
        let Some(seq) = v.as_sequence() else {
            self.value_error(
                &ep,
                "`enum` must be a list of values".into(),
                "write `enum: [a, b]`",
            );
            return None;
        };
        if seq.is_empty() {
            self.value_error(
                &ep,
                "`enum` is empty".into(),
                "list at least one value, or remove `enum`",
            );
            return None;
        }
        let repr = if ty == "integer" {
            EnumRepr::Integer
        } else {
            EnumRepr::String
        };
        let mut values: Vec<EnumValue> = Vec::new();
        let mut seen_values: HashMap<String, usize> = HashMap::new();
        let mut seen_variants: HashMap<String, usize> = HashMap::new();
        let mut ok = true;
        for (i, item) in seq.iter().enumerate() {
            let ip = child_i(&ep, i);
            let (value, explicit_name, description) = match item {
                Value::Mapping(_) => {
                    let Some(im) = self.map(
                        item,
                        &ip,
                        &["value", "name", "description"],
                        &["value"],
                        "an enum value",
                    ) else {
                        ok = false;
                        continue;
                    };
                    let name = self.string(&im, "name", &ip);
                    let desc = self.string(&im, "description", &ip);
                    (
                        (*im.get("value").unwrap_or(&&Value::Null)).clone(),
                        name,
                        desc,
                    )
                }
                other => (other.clone(), None, None),
            };
            let json = match (repr, &value) {
                (EnumRepr::String, Value::String(s)) => serde_json::Value::String(s.clone()),
                (EnumRepr::Integer, Value::Number(n)) if n.as_i64().is_some() => {
                    serde_json::Value::from(n.as_i64().unwrap_or_default())
                }
                (_, other) => {
                    let want = if repr == EnumRepr::Integer {
                        "an integer"
                    } else {
                        "a string"
                    };
                    self.value_error(
                        &ip,
                        format!(
                            "enum value must be {want} (the schema's type is {ty}), found {}",
                            kind_of(other)
                        ),
                        if repr == EnumRepr::String {
                            "quote the value"
                        } else {
                            "write a whole number"
                        },
                    );
                    ok = false;
                    continue;
                }
            };
            let key = json.to_string();
            if let Some(first) = seen_values.get(&key) {
                self.value_error(
                    &ip,
                    format!("duplicate enum value {key} (first at index {first})"),
                    "list each value once",
                );
                ok = false;
                continue;
            }
            seen_values.insert(key, i);
            let variant = match &explicit_name {
                Some(n) => {
                    let p = names::pascal(n);
                    if !names::is_pascal_ident(&p) {
                        self.value_error(
                            &child(&ip, "name"),
                            format!("enum value name `{n}` is not a valid identifier"),
                            "use letters, digits and underscores, starting with a letter",
                        );
                        ok = false;
                        continue;
                    }
                    p
                }
                None => match names::variant_for(&json) {
                    Some(v) => v,
                    None => {
                        self.value_error(
                            &ip,
                            format!("enum value {json} has no valid Rust variant name"),
                            "write it as `{ value: ..., name: some_name }`",
                        );
                        ok = false;
                        continue;
                    }
                },
            };
            if variant == "Unknown" {
                self.value_error(
                    &ip,
                    "enum variant name `Unknown` is reserved for values the spec does not list"
                        .into(),
                    "give this value another `name`",
                );
                ok = false;
                continue;
            }
            if let Some(first) = seen_variants.get(&variant) {
                self.value_error(
                    &ip,
                    format!("enum values at index {first} and {i} both become variant `{variant}`"),
                    "give one of them a distinct `name`",
                );
                ok = false;
                continue;
            }
            seen_variants.insert(variant.clone(), i);
            values.push(EnumValue {
                value: json,
                variant,
                description,
            });
        }
        ok.then_some(SchemaKind::Enum {
            rust_type,
            repr,
            values,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SchemaCtx {
    /// A request parameter or object property: may carry `required` and `rust_name`.
    Field,
    /// A named type, a response root, array items or map values.
    Named,
}

fn child(path: &[Seg], key: &str) -> Path {
    let mut p = path.to_vec();
    p.push(Seg::Key(key.to_string()));
    p
}

fn child_i(path: &[Seg], i: usize) -> Path {
    let mut p = path.to_vec();
    p.push(Seg::Index(i));
    p
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}
