//! Running a generated API command: gather the parameters (`-d` JSON, then the flags), check
//! the required ones, call the API through [`bk_runtime::Client::send_raw`], print the result,
//! and with `--page-all` walk every page.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use bk_runtime::{ApiMeta, Client, ErrorKind, RawResponse};
use bk_spec::{Api, Component, Pagination, PaginationStyle, SchemaKind};
use clap::{Arg, ArgAction, ArgMatches};
use serde_json::{Map, Value};

use crate::output::{self, Format, Style};
use crate::profile;
use crate::spec_cmd::{self, DATA, PAGE_ALL, PARAM_ID};

/// Exit code of API and network errors.
pub const EXIT_API: u8 = 1;
/// Exit code of usage and configuration errors.
pub const EXIT_USAGE: u8 = 2;

/// Page size when the spec gives no maximum and the request no size.
const DEFAULT_PAGE_SIZE: u64 = 100;
/// The default page size never exceeds this, even when the spec allows more.
const DEFAULT_PAGE_SIZE_CAP: u64 = 1000;

/// The output flags shared by every API command (global below each component).
pub fn output_args() -> Vec<Arg> {
    vec![
        Arg::new("output")
            .short('o')
            .long("output")
            .value_name("FORMAT")
            .value_parser(["json", "yaml", "table"])
            .global(true)
            .help_heading("Output")
            .help("Output format [default: json, pretty on a terminal]"),
        Arg::new("raw")
            .long("raw")
            .action(ArgAction::SetTrue)
            .global(true)
            .help_heading("Output")
            .help("Print the whole envelope (result, code, message, data, request_id)"),
    ]
}

/// How a command ended, when not well.
enum Failure {
    /// Usage or configuration error: message printed with exit 2.
    Usage(String),
    /// API or network error, already reported: exit 1.
    Api,
}

impl From<String> for Failure {
    fn from(s: String) -> Self {
        Failure::Usage(s)
    }
}

/// Runs `bk <component> <api> ...`; `m` holds the component's matches.
pub fn run(c: &'static Component, m: &ArgMatches) -> ExitCode {
    let Some((name, am)) = m.subcommand() else {
        eprintln!("bk: name an API of {}; see `bk {} --help`", c.name, c.name);
        return ExitCode::from(EXIT_USAGE);
    };
    if c.name == "job" && name == crate::workflow::job::RUN_SCRIPT {
        return crate::workflow::finish(crate::workflow::block_on(
            crate::workflow::job::run_script(am),
        ));
    }
    let Some(api) = c.api(name) else {
        eprintln!("bk: {} has no API {name}", c.name);
        return ExitCode::from(EXIT_USAGE);
    };
    match run_api(c, api, am) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("bk: {msg}");
            ExitCode::from(EXIT_USAGE)
        }
        Err(Failure::Api) => ExitCode::from(EXIT_API),
    }
}

/// The request parameters: `-d` first, the flags over it.
pub fn gather_params(c: &Component, api: &Api, am: &ArgMatches) -> Result<Value, String> {
    let mut params = match am.get_one::<String>(DATA) {
        Some(d) => {
            let text = spec_cmd::json_text(d).map_err(|e| format!("-d: {e}"))?;
            match serde_json::from_str::<Value>(&text) {
                Ok(Value::Object(m)) => m,
                Ok(_) => return Err("-d: expected a JSON object of request parameters".into()),
                Err(e) => return Err(format!("-d: not valid JSON ({e})")),
            }
        }
        None => Map::new(),
    };
    for f in &api.params {
        let id = format!("{PARAM_ID}{}", f.name);
        let Some(values) = am.get_many::<Value>(&id) else {
            continue;
        };
        let is_array = matches!(c.resolve(&f.schema).kind, SchemaKind::Array { .. });
        let v = spec_cmd::flag_value(is_array, values.cloned().collect());
        params.insert(f.name.clone(), v);
    }
    Ok(Value::Object(params))
}

/// The request keys the pager writes, so not required from the user with `--page-all`.
fn paging_keys(p: &Pagination) -> Vec<&str> {
    match p.style {
        PaginationStyle::StartLimit => vec![p.param.as_deref().unwrap_or("page")],
        PaginationStyle::PageNumber => vec![p.param.as_deref().unwrap_or("page"), "page_size"],
        PaginationStyle::StartLength => vec![p.param.as_deref().unwrap_or("start"), "length"],
    }
}

/// Names the required parameters missing from `params`.
pub fn missing_required(api: &Api, params: &Value, page_all: bool) -> Vec<String> {
    let skip: Vec<&str> = match (&api.pagination, page_all) {
        (Some(p), true) => paging_keys(p),
        _ => Vec::new(),
    };
    api.params
        .iter()
        .filter(|f| f.required && !skip.contains(&f.name.as_str()))
        .filter(|f| params.get(&f.name).is_none_or(Value::is_null))
        .map(|f| {
            let long = spec_cmd::param_long(&f.name);
            if long == spec_cmd::kebab(&f.name) && long == f.name {
                format!("--{long}")
            } else {
                format!("--{long} ({})", f.name)
            }
        })
        .collect()
}

fn find_meta(component: &str, api: &str) -> Option<&'static ApiMeta> {
    bk_sdk::registries()
        .into_iter()
        .filter(|(c, _)| *c == component)
        .flat_map(|(_, apis)| apis.iter())
        .find(|e| e.meta.name == api)
        .map(|e| e.meta)
}

fn run_api(c: &'static Component, api: &'static Api, am: &ArgMatches) -> Result<(), Failure> {
    let params = gather_params(c, api, am)?;
    let page_all = am
        .try_get_one::<bool>(PAGE_ALL)
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false);
    let missing = missing_required(api, &params, page_all);
    if !missing.is_empty() {
        let mut msg = format!(
            "{} {}: missing required parameter{}: {}\n  pass {} as flags or in -d JSON; see `bk {} {} --help`",
            c.name,
            api.name,
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", "),
            if missing.len() == 1 { "it" } else { "them" },
            c.name,
            api.name
        );
        if api.pagination.is_some() && !page_all {
            msg.push_str("\n  (--page-all fills the paging parameters)");
        }
        return Err(Failure::Usage(msg));
    }
    let format = am
        .try_get_one::<String>("output")
        .ok()
        .flatten()
        .and_then(|s| Format::parse(s))
        .unwrap_or(Format::Json);
    let raw = am
        .try_get_one::<bool>("raw")
        .ok()
        .flatten()
        .copied()
        .unwrap_or(false);
    let meta = find_meta(&c.name, &api.name).ok_or_else(|| {
        format!(
            "{}.{} is in the specs but not in this build of the SDK",
            c.name, api.name
        )
    })?;
    let flags = profile::Flags::from_matches(am);
    let client = profile::client_builder(&flags)?
        .build()
        .map_err(|e| match e.kind() {
            ErrorKind::Config { message } => format!("configuration: {message}"),
            _ => e.to_string(),
        })?;
    let style = Style {
        format,
        pretty: std::io::stdout().is_terminal(),
        component: &c.name,
        items: api.pagination.as_ref().map(|p| p.items.as_str()),
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async {
        match (&api.pagination, page_all) {
            (Some(p), true) => page_all_items(&client, meta, p, params, &style).await,
            _ => call_once(&client, meta, params, raw, &style).await,
        }
    })
}

/// Writes to stdout; a closed pipe (`bk ... | head`) ends the command quietly.
fn emit(v: &Value, style: &Style<'_>) -> Result<(), Failure> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match output::write_value(&mut out, v, style).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => Err(Failure::Usage(format!("cannot write to stdout: {e}"))),
    }
}

fn envelope(raw: &RawResponse) -> Value {
    let data = serde_json::from_str::<Value>(raw.data.get()).unwrap_or(Value::Null);
    let mut m = Map::new();
    m.insert("result".into(), raw.result.into());
    m.insert("code".into(), raw.code.into());
    m.insert("message".into(), raw.message.clone().into());
    m.insert("data".into(), data);
    m.insert(
        "request_id".into(),
        raw.request_id
            .clone()
            .map(Value::String)
            .unwrap_or(Value::Null),
    );
    if let Some(p) = &raw.permission {
        m.insert("permission".into(), p.clone());
    }
    Value::Object(m)
}

/// Reports an API or network error on stderr.
fn report(meta: &ApiMeta, e: &bk_runtime::Error) -> Failure {
    eprintln!("bk: error: {e}");
    if let Some(c) = e.code() {
        eprintln!("  code: {c}");
    }
    if let Some(m) = e.message().filter(|m| !m.is_empty()) {
        eprintln!("  message: {m}");
    }
    if let Some(id) = e.request_id() {
        eprintln!("  request_id: {id}");
    }
    if let Some(p) = e.permission() {
        eprintln!("  permission: {p}");
    }
    match e.kind() {
        ErrorKind::Config { .. } | ErrorKind::InvalidRequest { .. } => Failure::Usage(format!(
            "{}.{}: the request could not be made",
            meta.component, meta.name
        )),
        _ => Failure::Api,
    }
}

/// Reports a `result: false` envelope on stderr.
fn report_envelope(meta: &ApiMeta, raw: &RawResponse) -> Failure {
    eprintln!(
        "bk: error: {}.{} failed: API error {}: {:?}",
        meta.component, meta.name, raw.code, raw.message
    );
    eprintln!("  code: {}", raw.code);
    if !raw.message.is_empty() {
        eprintln!("  message: {}", raw.message);
    }
    if let Some(id) = &raw.request_id {
        eprintln!("  request_id: {id}");
    }
    if let Some(p) = &raw.permission {
        eprintln!("  permission: {p}");
    }
    Failure::Api
}

async fn call_once(
    client: &Client,
    meta: &'static ApiMeta,
    params: Value,
    raw: bool,
    style: &Style<'_>,
) -> Result<(), Failure> {
    let resp = client
        .send_raw(meta, params)
        .await
        .map_err(|e| report(meta, &e))?;
    if raw {
        // The envelope as sent, also on `result: false`; the error goes to stderr too.
        let style = Style {
            format: match style.format {
                Format::Table => Format::Json,
                f => f,
            },
            ..*style
        };
        emit(&envelope(&resp), &style)?;
        return if resp.result {
            Ok(())
        } else {
            Err(report_envelope(meta, &resp))
        };
    }
    if !resp.result {
        return Err(report_envelope(meta, &resp));
    }
    let data = serde_json::from_str::<Value>(resp.data.get()).unwrap_or(Value::Null);
    emit(&data, style)
}

/// A request number as the APIs send it (JSON number or numeric string).
fn num(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Where the walk starts and how big the pages are: (offset, size).
fn start_of(p: &Pagination, params: &Value) -> (u64, u64) {
    let (offset, size) = match p.style {
        PaginationStyle::StartLimit => {
            let page = params.get(p.param.as_deref().unwrap_or("page"));
            (
                num(page.and_then(|x| x.get("start"))).unwrap_or(0),
                num(page.and_then(|x| x.get("limit"))),
            )
        }
        PaginationStyle::PageNumber => {
            let size = num(params.get("page_size"));
            let page = num(params.get(p.param.as_deref().unwrap_or("page"))).unwrap_or(1);
            (page.saturating_sub(1) * size.unwrap_or(1).max(1), size)
        }
        PaginationStyle::StartLength => (
            num(params.get(p.param.as_deref().unwrap_or("start"))).unwrap_or(0),
            num(params.get("length")),
        ),
    };
    let default = match p.max_limit {
        Some(m) => u64::from(m).clamp(1, DEFAULT_PAGE_SIZE_CAP),
        None => DEFAULT_PAGE_SIZE,
    };
    let mut size = size.filter(|s| *s > 0).unwrap_or(default);
    if let Some(m) = p.max_limit {
        size = size.min(u64::from(m).max(1));
    }
    (offset, size)
}

/// Writes the page at `offset` of `size` records into `params` (other keys of a CMDB page
/// object, `sort` and `enable_count`, are kept).
fn set_page(p: &Pagination, params: &mut Value, offset: u64, size: u64) {
    let Value::Object(obj) = params else {
        return;
    };
    match p.style {
        PaginationStyle::StartLimit => {
            let page = obj
                .entry(p.param.as_deref().unwrap_or("page"))
                .or_insert_with(|| Value::Object(Map::new()));
            if !page.is_object() {
                *page = Value::Object(Map::new());
            }
            if let Value::Object(m) = page {
                m.insert("start".into(), offset.into());
                m.insert("limit".into(), size.into());
            }
        }
        PaginationStyle::PageNumber => {
            obj.insert(
                p.param.as_deref().unwrap_or("page").into(),
                (offset / size + 1).into(),
            );
            obj.insert("page_size".into(), size.into());
        }
        PaginationStyle::StartLength => {
            obj.insert(p.param.as_deref().unwrap_or("start").into(), offset.into());
            obj.insert("length".into(), size.into());
        }
    }
}

/// Walks every page. JSON items stream as one compact document a line; YAML and tables are
/// printed once all items are in.
async fn page_all_items(
    client: &Client,
    meta: &'static ApiMeta,
    p: &Pagination,
    mut params: Value,
    style: &Style<'_>,
) -> Result<(), Failure> {
    let (mut offset, size) = start_of(p, &params);
    let stream = style.format == Format::Json;
    let line = Style {
        pretty: false,
        ..*style
    };
    let mut all = Vec::new();
    loop {
        set_page(p, &mut params, offset, size);
        let resp = client
            .send_raw(meta, params.clone())
            .await
            .map_err(|e| report(meta, &e))?;
        if !resp.result {
            return Err(report_envelope(meta, &resp));
        }
        let data = serde_json::from_str::<Value>(resp.data.get()).unwrap_or(Value::Null);
        let items = match output::at_path(&data, &p.items) {
            Some(Value::Array(a)) => a.clone(),
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                eprintln!(
                    "bk: error: {}.{}: `{}` of the response is not a list",
                    meta.component, meta.name, p.items
                );
                return Err(Failure::Api);
            }
        };
        let total = p
            .total
            .as_deref()
            .and_then(|t| output::at_path(&data, t))
            .and_then(|t| num(Some(t)));
        let n = items.len() as u64;
        if stream {
            for item in &items {
                emit(item, &line)?;
            }
        } else {
            all.extend(items);
        }
        offset += n;
        let done = n == 0
            || match total {
                Some(t) => offset >= t,
                None => n < size,
            };
        if done {
            break;
        }
    }
    if !stream {
        emit(&Value::Array(all), style)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pag(style: PaginationStyle, max: Option<u32>) -> Pagination {
        Pagination {
            style,
            param: None,
            max_limit: max,
            items: "info".into(),
            total: Some("count".into()),
        }
    }

    #[test]
    fn page_positions() {
        let p = pag(PaginationStyle::StartLimit, Some(500));
        let mut v = json!({"page": {"start": 10, "limit": 20, "sort": "x"}});
        assert_eq!(start_of(&p, &v), (10, 20));
        set_page(&p, &mut v, 30, 20);
        assert_eq!(v, json!({"page": {"start": 30, "limit": 20, "sort": "x"}}));
        assert_eq!(start_of(&p, &json!({})), (0, 500));
        assert_eq!(start_of(&p, &json!({"page": {"limit": 9999}})), (0, 500));

        let p = pag(PaginationStyle::PageNumber, Some(10_000));
        let mut v = json!({"page": 3, "page_size": 10});
        assert_eq!(start_of(&p, &v), (20, 10));
        set_page(&p, &mut v, 30, 10);
        assert_eq!(v, json!({"page": 4, "page_size": 10}));
        assert_eq!(start_of(&p, &json!({})), (0, 1000));

        let p = pag(PaginationStyle::StartLength, None);
        let mut v = json!({});
        assert_eq!(start_of(&p, &v), (0, 100));
        set_page(&p, &mut v, 100, 100);
        assert_eq!(v, json!({"start": 100, "length": 100}));
    }

    #[test]
    fn required_params_named_and_paging_exempt() {
        let api = bk_spec::bundle().api("cc", "list_biz_hosts_topo").unwrap();
        let missing = missing_required(api, &json!({"fields": ["bk_host_id"]}), false);
        assert_eq!(missing, vec!["--bk-biz-id (bk_biz_id)", "--page"]);
        let missing = missing_required(api, &json!({"fields": ["bk_host_id"]}), true);
        assert_eq!(missing, vec!["--bk-biz-id (bk_biz_id)"]);
    }

    #[test]
    fn every_spec_api_has_meta() {
        for (c, a) in bk_spec::bundle().apis() {
            assert!(
                find_meta(&c.name, &a.name).is_some(),
                "{}.{}",
                c.name,
                a.name
            );
        }
    }
}
