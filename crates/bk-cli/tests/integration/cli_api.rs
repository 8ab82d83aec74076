//! `bk <component> <api>` against a bk-sim: GET and POST APIs, kebab aliases, `--page-all`,
//! each output format, `--raw`, API, network, usage and configuration errors, `-d @file`.

use crate::common;

use common::Env;
use serde_json::Value;

/// The business with the most hosts, and its host count.
fn busiest_biz(env: &Env) -> (i64, u64) {
    let bizs = env
        .bk(&["cc", "search_business", "--fields", "bk_biz_id"])
        .ok()
        .json();
    let mut best = (0, 0);
    for b in bizs["info"].as_array().expect("info") {
        let id = b["bk_biz_id"].as_i64().expect("bk_biz_id");
        let page = env
            .bk(&[
                "cc",
                "list_biz_hosts_topo",
                "--bk-biz-id",
                &id.to_string(),
                "--fields",
                "bk_host_id",
                "--page",
                r#"{"start":0,"limit":1}"#,
            ])
            .ok()
            .json();
        let count = page["count"].as_u64().expect("count");
        if count > best.1 {
            best = (id, count);
        }
    }
    best
}

#[test]
fn get_api_prints_data_compact() {
    let env = Env::new(20);
    let r = env.bk(&["bk_login", "get_user"]).ok();
    // Not a terminal: one compact document.
    assert_eq!(r.stdout.lines().count(), 1, "{r:#?}");
    assert_eq!(r.json()["bk_username"], "admin");
    let stats = env.sim.handle().stats();
    assert_eq!(stats.executions_of("bk_login.get_user"), 1);
    let reqs = env.sim.handle().requests();
    assert_eq!(reqs.last().expect("a request").method, "GET");
}

#[test]
fn post_api_with_array_flags() {
    let env = Env::new(20);
    let r = env
        .bk(&[
            "cc",
            "search_business",
            "--fields",
            "bk_biz_id",
            "--fields",
            "bk_biz_name",
        ])
        .ok();
    let data = r.json();
    assert!(data["count"].as_u64().expect("count") >= 1, "{data}");
    let first = &data["info"][0];
    assert!(first.get("bk_biz_id").is_some() && first.get("bk_biz_name").is_some());
    let reqs = env.sim.handle().requests();
    assert_eq!(reqs.last().expect("a request").method, "POST");
}

#[test]
fn kebab_aliases_run_the_same_api() {
    let env = Env::new(20);
    let a = env.bk(&["bk_login", "get_user"]).ok().json();
    let b = env.bk(&["bk-login", "get-user"]).ok().json();
    assert_eq!(a, b);
    let r = env
        .bk(&[
            "cc",
            "list-biz-hosts-topo",
            "--bk_biz_id",
            "2",
            "--fields",
            "bk_host_id",
            "--page",
            r#"{"limit":1}"#,
        ])
        .ok();
    assert!(r.json()["count"].is_u64(), "{r:#?}");
}

#[test]
fn page_all_streams_every_item_as_json_lines() {
    let env = Env::new(150);
    let (biz, count) = busiest_biz(&env);
    assert!(count > 7, "busiest business has {count} hosts");
    let before = env.sim.handle().stats().calls_of("cc.list_biz_hosts_topo");
    let r = env
        .bk(&[
            "cc",
            "list_biz_hosts_topo",
            "--bk-biz-id",
            &biz.to_string(),
            "--fields",
            "bk_host_id",
            "--page",
            r#"{"limit":7}"#,
            "--page-all",
        ])
        .ok();
    let ids: Vec<i64> = r
        .stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("each line is JSON");
            v["host"]["bk_host_id"].as_i64().expect("bk_host_id")
        })
        .collect();
    assert_eq!(ids.len() as u64, count, "{r:#?}");
    let mut uniq = ids.clone();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), ids.len(), "no host twice");
    let calls = env.sim.handle().stats().calls_of("cc.list_biz_hosts_topo") - before;
    assert_eq!(calls, count.div_ceil(7), "one call per page");

    // The page parameter is required, but --page-all fills it in.
    let r = env
        .bk(&[
            "cc",
            "list_biz_hosts_topo",
            "--bk-biz-id",
            &biz.to_string(),
            "--fields",
            "bk_host_id",
            "--page-all",
            "-o",
            "table",
        ])
        .ok();
    assert_eq!(r.stdout.lines().count() as u64, count + 1, "{r:#?}");
    assert!(r.stdout.starts_with("bk_host_id"), "{r:#?}");
}

#[test]
fn output_formats() {
    let env = Env::new(30);
    let base = [
        "cc",
        "list_biz_hosts_topo",
        "--bk-biz-id",
        "2",
        "--fields",
        "bk_host_id",
        "--fields",
        "bk_host_innerip",
        "--fields",
        "bk_cloud_id",
        "--fields",
        "bk_host_name",
        "--fields",
        "bk_os_type",
        "--page",
        r#"{"limit":500}"#,
    ];
    let json = env.bk(&base).ok().json();
    let n = json["info"].as_array().expect("info").len();
    assert!(n > 0);

    let mut args = base.to_vec();
    args.extend(["-o", "json"]);
    assert_eq!(env.bk(&args).ok().json(), json);

    let mut args = base.to_vec();
    args.extend(["--output", "yaml"]);
    let r = env.bk(&args).ok();
    let yaml: Value = serde_yaml::from_str(&r.stdout).expect("YAML");
    assert_eq!(yaml, json);

    let mut args = base.to_vec();
    args.extend(["-o", "table"]);
    let r = env.bk(&args).ok();
    let lines: Vec<&str> = r.stdout.lines().collect();
    let header: Vec<&str> = lines[0].split_whitespace().collect();
    assert_eq!(
        header,
        [
            "bk_host_id",
            "bk_host_innerip",
            "bk_cloud_id",
            "bk_host_name",
            "os"
        ],
        "{r:#?}"
    );
    assert_eq!(lines.len(), n + 1);
    let first_id = json["info"][0]["host"]["bk_host_id"].to_string();
    assert!(lines[1].starts_with(&first_id), "{r:#?}");

    // Not a list: key/value lines.
    let r = env.bk(&["bk_login", "get_user", "-o", "table"]).ok();
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("bk_username") && l.ends_with("admin")),
        "{r:#?}"
    );
}

#[test]
fn raw_prints_the_envelope() {
    let env = Env::new(20);
    let r = env.bk(&["bk_login", "get_user", "--raw"]).ok();
    let v = r.json();
    assert_eq!(v["result"], true);
    assert_eq!(v["code"], 0);
    assert_eq!(v["data"]["bk_username"], "admin");
    let id = v["request_id"].as_str().expect("request_id");
    let last = env.sim.handle().requests().pop().expect("a request");
    assert_eq!(id, last.request_id);
}

#[test]
fn api_error_exits_1_with_code_and_request_id() {
    let env = Env::new(20);
    let args = [
        "cc",
        "list_biz_hosts_topo",
        "--bk-biz-id",
        "2",
        "--fields",
        "bk_host_id",
        "--page",
        r#"{"start":0,"limit":501}"#,
    ];
    let r = env.bk(&args);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stdout.is_empty(), "{r:#?}");
    let last = env.sim.handle().requests().pop().expect("a request");
    assert_eq!(last.code, Some(1199035));
    assert!(r.stderr.contains("code: 1199035"), "{r:#?}");
    assert!(
        r.stderr
            .contains(&format!("request_id: {}", last.request_id)),
        "{r:#?}"
    );

    // --raw: the failed envelope on stdout, the error on stderr, still exit 1.
    let mut raw = args.to_vec();
    raw.push("--raw");
    let r = env.bk(&raw);
    assert_eq!(r.code, 1, "{r:#?}");
    let v = r.json();
    assert_eq!(v["result"], false);
    assert_eq!(v["code"], 1199035);
    assert!(r.stderr.contains("code: 1199035"), "{r:#?}");
}

#[test]
fn network_error_exits_1() {
    let env = Env::new(5);
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let r = env.bk(&[
        "bk_login",
        "get_user",
        "--endpoint",
        &format!("http://127.0.0.1:{port}"),
    ]);
    assert_eq!(r.code, 1, "{r:#?}");
    assert!(r.stderr.contains("bk: error:"), "{r:#?}");
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::new(5);
    let r = env.bk(&["cc", "list_biz_hosts_topo", "--fields", "bk_host_id"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("missing required parameters"), "{r:#?}");
    assert!(
        r.stderr.contains("--bk-biz-id") && r.stderr.contains("--page"),
        "{r:#?}"
    );
    assert!(!r.stderr.contains("--fields"), "{r:#?}");
    assert_eq!(env.sim.handle().stats().requests, 0, "nothing was sent");

    // A value of the wrong type.
    let r = env.bk(&["cc", "list_biz_hosts_topo", "--bk-biz-id", "two"]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("--bk-biz-id"), "{r:#?}");
    // An unknown API, bad JSON in -d.
    assert_eq!(env.bk(&["cc", "no_such_api"]).code, 2);
    assert_eq!(env.bk(&["cc", "search_business", "-d", "{nope"]).code, 2);

    // No configuration at all.
    let r = common::Run::from(
        env.bare()
            .args(["bk_login", "get_user"])
            .output()
            .expect("bk runs"),
    );
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("BK_COMPONENT_API_URL"), "{r:#?}");
}

#[test]
fn data_file_is_merged_and_flags_win() {
    let env = Env::new(60);
    let (biz, count) = busiest_biz(&env);
    assert!(count > 3);
    let file = env.write(
        "req.json",
        r#"{"bk_biz_id": 987654, "fields": ["bk_host_id", "bk_host_innerip"], "page": {"start": 0, "limit": 3}}"#,
    );
    let at = format!("@{}", file.display());
    let r = env
        .bk(&[
            "cc",
            "list_biz_hosts_topo",
            "-d",
            &at,
            "--bk-biz-id",
            &biz.to_string(),
        ])
        .ok();
    let v = r.json();
    // The flag's business (with hosts), the file's page size and fields.
    assert_eq!(v["count"].as_u64(), Some(count), "{r:#?}");
    let info = v["info"].as_array().expect("info");
    assert_eq!(info.len(), 3);
    assert!(info[0]["host"].get("bk_host_innerip").is_some(), "{r:#?}");

    // Inline JSON too.
    let r = env
        .bk(&[
            "cc",
            "search_business",
            "-d",
            r#"{"fields": ["bk_biz_id"]}"#,
        ])
        .ok();
    assert!(r.json()["info"][0].get("bk_biz_name").is_none(), "{r:#?}");
}
