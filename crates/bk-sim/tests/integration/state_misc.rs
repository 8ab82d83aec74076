//! GSE, bk_login and bk_paas flows of the simulator state.

use std::time::Duration;

use bk_sim::state::{Call, Outcome, State, StateConfig};
use serde_json::{json, Value};

fn state() -> State {
    State::new(StateConfig {
        hosts: 1000,
        job_step: Duration::from_millis(50),
        ..StateConfig::default()
    })
}

async fn call(s: &State, component: &str, api: &str, params: Value, user: Option<&str>) -> Outcome {
    s.handle(&Call {
        component,
        api,
        params: &params,
        username: user,
        request_id: "r",
    })
    .await
    .expect("stateful")
}

fn data(o: Outcome) -> Value {
    match o {
        Outcome::Data(v) => v,
        Outcome::Error { code, message, .. } => panic!("error {code}: {message}"),
    }
}

#[tokio::test]
async fn agent_status_keyed_by_cloud_and_ip() {
    let s = state();
    let snap = s.snapshot_hosts();
    let hosts: Vec<Value> = snap
        .iter()
        .map(|h| json!({"ip": h.host["bk_host_innerip"], "bk_cloud_id": h.host["bk_cloud_id"]}))
        .collect();
    let d = data(
        call(
            &s,
            "gse",
            "get_agent_status",
            json!({"bk_supplier_account": "0", "hosts": hosts}),
            None,
        )
        .await,
    );
    let m = d.as_object().unwrap();
    assert_eq!(m.len(), 1000);
    let offline = m.values().filter(|v| v["bk_agent_alive"] == 0).count();
    assert!((20..=90).contains(&offline), "{offline} offline of 1000");
    for h in &snap {
        let key = format!(
            "{}:{}",
            h.host["bk_cloud_id"],
            h.host["bk_host_innerip"].as_str().unwrap()
        );
        let v = &m[&key];
        assert_eq!(
            v["bk_agent_alive"] == 1,
            s.agent_alive(h.bk_host_id),
            "{key}"
        );
        assert_eq!(v["ip"], h.host["bk_host_innerip"]);
    }
    // Deterministic by seed.
    let again = data(
        call(
            &state(),
            "gse",
            "get_agent_status",
            json!({"bk_supplier_account": "0", "hosts": [
            {"ip": snap[0].host["bk_host_innerip"], "bk_cloud_id": snap[0].host["bk_cloud_id"]}]}),
            None,
        )
        .await,
    );
    let key = format!(
        "{}:{}",
        snap[0].host["bk_cloud_id"],
        snap[0].host["bk_host_innerip"].as_str().unwrap()
    );
    assert_eq!(again[&key], m[&key]);
    // Unknown host: offline; flipping an agent shows.
    let d = data(
        call(
            &s,
            "gse",
            "get_agent_status",
            json!({"bk_supplier_account": "0", "hosts": [{"ip": "1.2.3.4", "bk_cloud_id": 0}]}),
            None,
        )
        .await,
    );
    assert_eq!(d["0:1.2.3.4"]["bk_agent_alive"], 0);
    let h = &snap[1];
    s.set_agent_alive(h.bk_host_id, false);
    let one = json!([{"ip": h.host["bk_host_innerip"], "bk_cloud_id": h.host["bk_cloud_id"]}]);
    let d = data(
        call(
            &s,
            "gse",
            "get_agent_status",
            json!({"bk_supplier_account": "0", "hosts": one.clone()}),
            None,
        )
        .await,
    );
    assert_eq!(
        d.as_object().unwrap().values().next().unwrap()["bk_agent_alive"],
        0
    );
    let info = data(
        call(
            &s,
            "gse",
            "get_agent_info",
            json!({"bk_supplier_account": "0", "hosts": one}),
            None,
        )
        .await,
    );
    let v = info.as_object().unwrap().values().next().unwrap();
    for k in ["ip", "version", "bk_cloud_id", "parent_ip", "parent_port"] {
        assert!(v.get(k).is_some(), "{k}");
    }
    assert!(call(
        &s,
        "gse",
        "get_agent_status",
        json!({"hosts": [{"bk_cloud_id": 0}]}),
        None
    )
    .await
    .code()
    .is_some());
}

#[tokio::test]
async fn legacy_proc_commands() {
    let s = state();
    let ip = s.snapshot_hosts()[0].host["bk_host_innerip"].clone();
    let d = data(
        call(
            &s,
            "gse",
            "proc_run_command",
            json!({"session_id": "s1", "cmd": "start", "proc_id": "*.*.*.*", "ipaddr": ip}),
            None,
        )
        .await,
    );
    assert_eq!(d["error_code"], 0);
    let task = d["task_id"].as_str().unwrap().to_string();
    assert!(task.starts_with("GSEPROC:"));
    let r = data(
        call(
            &s,
            "gse",
            "proc_get_task_result_by_id",
            json!({"task_id": task}),
            None,
        )
        .await,
    );
    assert_eq!(r["error_code"], 804);
    tokio::time::sleep(Duration::from_millis(150)).await;
    let r = data(
        call(
            &s,
            "gse",
            "proc_get_task_result_by_id",
            json!({"task_id": task}),
            None,
        )
        .await,
    );
    assert_eq!(r["error_code"], 0);
    let total = r["success"].as_array().unwrap().len() + r["failed"].as_array().unwrap().len();
    assert_eq!(total, 1);
    let d = data(
        call(
            &s,
            "gse",
            "proc_run_command",
            json!({"session_id": "s1", "cmd": "runshell", "proc_id": "x"}),
            None,
        )
        .await,
    );
    assert_ne!(d["error_code"], 0);
}

#[tokio::test]
async fn login_tokens_and_users() {
    let s = state();
    let tok = s.issue_token("alice");
    assert_eq!(s.token_user(&tok).as_deref(), Some("alice"));
    assert_eq!(s.token_user("nope"), None);
    assert_ne!(s.issue_token("alice"), tok);
    let d = data(call(&s, "bk_login", "is_login", json!({"bk_token": tok}), None).await);
    assert_eq!(d, json!({"bk_username": "alice"}));
    assert!(call(
        &s,
        "bk_login",
        "is_login",
        json!({"bk_token": "forged"}),
        None
    )
    .await
    .code()
    .is_some());

    let me = data(call(&s, "bk_login", "get_user", json!({}), Some("bob")).await);
    assert_eq!(me["bk_username"], "bob");
    for k in [
        "qq",
        "bk_role",
        "language",
        "phone",
        "wx_userid",
        "email",
        "chname",
        "time_zone",
    ] {
        assert!(me.get(k).is_some(), "{k}");
    }
    let admin = data(
        call(
            &s,
            "bk_login",
            "get_user",
            json!({"bk_username": "admin"}),
            Some("bob"),
        )
        .await,
    );
    assert_eq!(admin["bk_role"], 1);
    assert!(call(
        &s,
        "bk_login",
        "get_user",
        json!({"bk_username": "ghost"}),
        None
    )
    .await
    .code()
    .is_some());
    let all = data(call(&s, "bk_login", "get_all_users", json!({}), None).await);
    assert!(all.as_array().unwrap().len() >= 5);
    let supers = data(call(&s, "bk_login", "get_all_users", json!({"bk_role": 1}), None).await);
    assert_eq!(supers.as_array().unwrap().len(), 1);
    let batch = data(
        call(
            &s,
            "bk_login",
            "get_batch_users",
            json!({"bk_username_list": ["admin", "carol", "ghost"]}),
            None,
        )
        .await,
    );
    assert_eq!(batch.as_object().unwrap().len(), 2);
    assert_eq!(batch["carol"]["bk_username"], "carol");
    let legacy = data(
        call(
            &s,
            "bk_login",
            "get_batch_user",
            json!({"username_list": "admin;dave"}),
            None,
        )
        .await,
    );
    assert_eq!(legacy["dave"]["username"], "dave");
    assert!(legacy["dave"]["role"].is_string());
}

#[tokio::test]
async fn app_info() {
    let s = state();
    let all = data(call(&s, "bk_paas", "get_app_info", json!({}), None).await);
    let list = all.as_array().unwrap();
    assert!(list.len() > 3);
    assert_eq!(list[0].as_object().unwrap().len(), 2);
    let two = data(
        call(
            &s,
            "bk_paas",
            "get_app_info",
            json!({"target_app_code": "bk_job;bk_cmdb;ghost", "fields": "bk_app_code;creator"}),
            None,
        )
        .await,
    );
    let two = two.as_array().unwrap();
    assert_eq!(two.len(), 2);
    assert!(two[0].get("creator").is_some());
    assert!(two[0].get("bk_app_name").is_none());
}

#[tokio::test]
async fn garbage_params_never_panic() {
    let s = State::new(StateConfig {
        hosts: 100,
        job_step: Duration::from_millis(1),
        watch_timeout: Duration::from_millis(1),
        ..StateConfig::default()
    });
    let apis: &[(&str, &[&str])] = &[
        (
            "cc",
            &[
                "search_business",
                "list_biz_hosts",
                "list_biz_hosts_topo",
                "search_host",
                "get_mainline_object_topo",
                "search_biz_inst_topo",
                "resource_watch",
                "transfer_host_module",
                "update_host",
                "batch_update_host",
                "add_host_to_resource",
                "get_biz_internal_module",
                "transfer_host_to_idlemodule",
                "transfer_host_to_faultmodule",
                "transfer_host_to_recyclemodule",
                "transfer_host_to_resourcemodule",
                "transfer_host_across_biz",
                "delete_host",
            ],
        ),
        (
            "jobv3",
            &[
                "fast_execute_script",
                "fast_transfer_file",
                "execute_job_plan",
                "get_job_instance_status",
                "get_job_instance_ip_log",
                "batch_get_job_instance_ip_log",
                "operate_job_instance",
            ],
        ),
        (
            "gse",
            &[
                "get_agent_status",
                "get_agent_info",
                "proc_run_command",
                "proc_get_task_result_by_id",
            ],
        ),
        (
            "itsm",
            &[
                "create_ticket",
                "get_ticket_status",
                "get_tickets",
                "operate_ticket",
                "token_verify",
                "ticket_approval_result",
            ],
        ),
        (
            "bk_login",
            &[
                "is_login",
                "get_user",
                "get_all_users",
                "get_all_user",
                "get_batch_users",
                "get_batch_user",
                "get_batch_users_platform_role",
            ],
        ),
        ("bk_paas", &["get_app_info"]),
    ];
    let weird = [
        Value::Null,
        json!(i64::MAX),
        json!(i64::MIN),
        json!(-1),
        json!(0),
        json!(1.5e300),
        json!("x"),
        json!(""),
        json!("[1,2"),
        json!([]),
        json!([null, {"a": []}]),
        json!({}),
        json!({"condition": "AND", "rules": [{"field": "bk_host_id", "operator": "between", "value": [1]}]}),
        json!({"start": i64::MAX, "limit": i64::MAX, "sort": "-,,"}),
        json!({"0": {"bk_host_innerip": "999.1.1.1"}}),
    ];
    let keys = [
        "bk_biz_id",
        "page",
        "fields",
        "host_property_filter",
        "set_property_filter",
        "module_property_filter",
        "bk_set_ids",
        "set_cond",
        "bk_module_ids",
        "module_cond",
        "condition",
        "biz_property_filter",
        "ip",
        "level",
        "bk_resource",
        "bk_fields",
        "bk_cursor",
        "bk_start_from",
        "bk_event_types",
        "bk_host_id",
        "bk_module_id",
        "is_increment",
        "data",
        "update",
        "host_info",
        "src_bk_biz_id",
        "dst_bk_biz_id",
        "bk_scope_type",
        "bk_scope_id",
        "script_content",
        "script_param",
        "script_id",
        "script_version_id",
        "script_language",
        "timeout",
        "account_alias",
        "account_id",
        "target_server",
        "file_target_path",
        "file_source_list",
        "job_plan_id",
        "global_var_list",
        "job_instance_id",
        "step_instance_id",
        "return_ip_result",
        "host_id_list",
        "ip_list",
        "operation_code",
        "hosts",
        "session_id",
        "cmd",
        "proc_id",
        "task_id",
        "creator",
        "meta",
        "sn",
        "sns",
        "operator",
        "action_type",
        "action_message",
        "page_size",
        "token",
        "bk_token",
        "bk_username",
        "bk_username_list",
        "username_list",
        "bk_role",
        "target_app_code",
        "callback_url",
    ];
    for (component, list) in apis {
        for api in *list {
            let mut n = 0usize;
            for w in &weird {
                // One weird value for every key at once, and each key alone.
                let mut all = serde_json::Map::new();
                for k in keys {
                    all.insert(k.to_string(), w.clone());
                }
                let mut variants = vec![Value::Object(all), w.clone()];
                for k in keys.iter().step_by(11) {
                    variants.push(json!({ *k: w }));
                }
                for p in variants {
                    let o = s
                        .handle(&Call {
                            component,
                            api,
                            params: &p,
                            username: None,
                            request_id: "r",
                        })
                        .await;
                    assert!(o.is_some(), "{component}.{api}");
                    n += 1;
                }
            }
            assert!(n > 0);
        }
    }
}
