//! Micro-benchmarks of the SDK's hot paths (`cargo bench -p bk-bench --bench hot_paths`).
//!
//! - `request/*`: building a request the way `bk_runtime::request::build` does (which is
//!   crate-private): the typed request serialized to a JSON object, the credentials added,
//!   the body or query written, the URI built on the pre-parsed endpoint (no full URL
//!   parse), the client's base headers cloned; and
//!   signing it with the public `bk_runtime::signature::sign` (signature mode).
//! - `decode_500_hosts/*`: a real 500-host `list_biz_hosts_topo` envelope from bk-sim,
//!   decoded by the runtime's own code (`bk_runtime::__bench::decode_response`): in one pass
//!   as `Client::send` does, and in two (envelope with `data` kept raw, then `data`), the
//!   general path the runtime takes for everything but a clean success; and the untyped
//!   path (envelope, then `data` into `serde_json::Value`) against a plain `Value` parse.

use std::hint::black_box;

use bk_bench::fixtures::{hosts_topo_envelope, hosts_topo_request};
use bk_runtime::signature;
use bk_runtime::Method;
use bk_sdk::cc::operations::list_biz_hosts_topo::ListBizHostsTopoResponse;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use http::header::{
    HeaderMap, HeaderName, HeaderValue, ACCEPT, ACCEPT_LANGUAGE, CONTENT_TYPE, USER_AGENT,
};
use serde_json::{Map, Value};

const ENDPOINT: &str = "http://127.0.0.1:8080";
const APP_CODE: &str = "bk-sim-demo";
const APP_SECRET: &str = "bk-sim-demo-secret-0b5e7c2a9d4f";

fn base_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    let lang = HeaderValue::from_static("en");
    h.insert(HeaderName::from_static("blueking-language"), lang.clone());
    h.insert(ACCEPT_LANGUAGE, lang);
    h.insert(USER_AGENT, HeaderValue::from_static("blueking-rs/0.1.0"));
    h.insert(ACCEPT, HeaderValue::from_static("*/*"));
    let mut auth = Map::new();
    auth.insert("bk_app_code".into(), APP_CODE.into());
    auth.insert("bk_app_secret".into(), APP_SECRET.into());
    auth.insert("bk_username".into(), "admin".into());
    let mut v = HeaderValue::from_str(&Value::Object(auth).to_string()).unwrap();
    v.set_sensitive(true);
    h.insert(HeaderName::from_static("x-bkapi-authorization"), v);
    h
}

/// The endpoint + path as text, `{bk_api_ver}` substituted (the endpoint was parsed once).
fn location(path: &str) -> String {
    let path = path.replace("{bk_api_ver}", "/v2");
    let mut text = String::with_capacity(ENDPOINT.len() + path.len() + 64);
    text.push_str(ENDPOINT);
    text.push_str(&path);
    text
}

/// The form-encoded query appended, parsed as an `http::Uri`.
fn uri(mut text: String, query: &[(String, String)]) -> http::Uri {
    if !query.is_empty() {
        text.push('?');
        let start = text.len();
        url::form_urlencoded::Serializer::for_suffix(&mut text, start).extend_pairs(query);
    }
    http::Uri::try_from(text).unwrap()
}

fn request(c: &mut Criterion) {
    let headers = base_headers();
    let req = hosts_topo_request();
    let mut g = c.benchmark_group("request");
    g.bench_function("build_get_user", |b| {
        b.iter(|| {
            let params = serde_json::to_value(black_box(&Map::<String, Value>::new())).unwrap();
            let text = location("/api/c/compapi{bk_api_ver}/bk_login/get_user/");
            let headers = headers.clone();
            let query: Vec<(String, String)> = match params {
                Value::Object(m) => m.into_iter().map(|(k, v)| (k, v.to_string())).collect(),
                _ => Vec::new(),
            };
            black_box((uri(text, &query), headers))
        })
    });
    g.bench_function("build_post_hosts_topo", |b| {
        b.iter(|| {
            let Value::Object(body) = serde_json::to_value(black_box(&req)).unwrap() else {
                unreachable!()
            };
            let url = uri(
                location("/api/c/compapi{bk_api_ver}/cc/list_biz_hosts_topo/"),
                &[],
            );
            let mut headers = headers.clone();
            let body = Value::Object(body);
            let text = body.to_string();
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            black_box((url, headers, bytes::Bytes::from(text), body))
        })
    });
    let get_params: Vec<(String, String)> = vec![
        ("bk_app_code".into(), APP_CODE.into()),
        ("bk_username".into(), "admin".into()),
        ("bk_timestamp".into(), "1700000000".into()),
        ("bk_nonce".into(), "12345".into()),
    ];
    g.bench_function("sign_get_user", |b| {
        b.iter(|| {
            signature::sign(
                APP_SECRET,
                Method::Get,
                "/api/c/compapi/v2/bk_login/get_user/",
                black_box(&get_params),
            )
        })
    });
    let mut body = serde_json::to_value(&req).unwrap();
    body["bk_app_code"] = APP_CODE.into();
    body["bk_username"] = "admin".into();
    let post_params: Vec<(String, String)> = vec![
        ("bk_timestamp".into(), "1700000000".into()),
        ("bk_nonce".into(), "12345".into()),
        ("data".into(), body.to_string()),
    ];
    g.bench_function("sign_post_hosts_topo", |b| {
        b.iter(|| {
            signature::sign(
                APP_SECRET,
                Method::Post,
                "/api/c/compapi/v2/cc/list_biz_hosts_topo/",
                black_box(&post_params),
            )
        })
    });
    g.finish();
}

fn decode(c: &mut Criterion) {
    let envelope = hosts_topo_envelope().expect("a 500-host page from bk-sim");
    let body = bytes::Bytes::from(envelope.clone());
    let typed: ListBizHostsTopoResponse =
        bk_runtime::__bench::decode_response(200, body.clone(), true).unwrap();
    assert_eq!(typed.info.len(), 500, "the fixture is a full page");
    let mut g = c.benchmark_group("decode_500_hosts");
    g.throughput(Throughput::Bytes(envelope.len() as u64));
    g.bench_function("one_pass_typed", |b| {
        b.iter(|| {
            let r: ListBizHostsTopoResponse =
                bk_runtime::__bench::decode_response(200, black_box(body.clone()), true).unwrap();
            black_box(r)
        })
    });
    g.bench_function("two_pass_typed", |b| {
        b.iter(|| {
            let r: ListBizHostsTopoResponse =
                bk_runtime::__bench::decode_response(200, black_box(body.clone()), false).unwrap();
            black_box(r)
        })
    });
    // The untyped path (`Client::call`): the envelope with `data` kept raw, then `Value`.
    g.bench_function("envelope_then_value", |b| {
        b.iter(|| {
            let r: Value =
                bk_runtime::__bench::decode_response(200, black_box(body.clone()), false).unwrap();
            black_box(r)
        })
    });
    g.bench_function("value_only", |b| {
        b.iter(|| {
            let r: Value = serde_json::from_str(black_box(&envelope)).unwrap();
            black_box(r)
        })
    });
    g.finish();
}

criterion_group!(benches, request, decode);
criterion_main!(benches);
