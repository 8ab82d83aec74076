//! Every answer of the stateful flows matches its spec's response schema strictly: no
//! unknown fields (unless the type keeps them), required fields present, JSON types and enum
//! values as declared, `null` only where nullable.

use std::time::Duration;

use base64::Engine;
use bk_sim::state::{Call, Outcome, State, StateConfig};
use bk_spec::{Component, EnumRepr, Schema, SchemaKind};
use serde_json::{json, Value};

fn check(c: &Component, s: &Schema, v: &Value, path: &str, errs: &mut Vec<String>) {
    let nullable = s.nullable;
    let s = c.resolve(s);
    if v.is_null() {
        if !(nullable || s.nullable || matches!(s.kind, SchemaKind::Any | SchemaKind::Empty)) {
            errs.push(format!("{path}: null but not nullable"));
        }
        return;
    }
    match &s.kind {
        SchemaKind::String { .. } => {
            if !v.is_string() {
                errs.push(format!("{path}: want string, got {v}"));
            }
        }
        SchemaKind::Integer { .. } => {
            if !(v.is_i64() || v.is_u64()) {
                errs.push(format!("{path}: want integer, got {v}"));
            }
        }
        SchemaKind::Number { .. } => {
            if !v.is_number() {
                errs.push(format!("{path}: want number, got {v}"));
            }
        }
        SchemaKind::Boolean => {
            if !v.is_boolean() {
                errs.push(format!("{path}: want boolean, got {v}"));
            }
        }
        SchemaKind::Any | SchemaKind::Empty => {}
        SchemaKind::Array { items, .. } => match v.as_array() {
            Some(a) => {
                for (i, x) in a.iter().enumerate() {
                    check(c, items, x, &format!("{path}[{i}]"), errs);
                }
            }
            None => errs.push(format!("{path}: want array, got {v}")),
        },
        SchemaKind::Map { values, .. } => match v.as_object() {
            Some(m) => {
                for (k, x) in m {
                    check(c, values, x, &format!("{path}.{k}"), errs);
                }
            }
            None => errs.push(format!("{path}: want map, got {v}")),
        },
        SchemaKind::Object {
            properties,
            additional_properties,
            ..
        } => match v.as_object() {
            Some(m) => {
                for p in properties {
                    match m.get(&p.name) {
                        Some(x) => check(c, &p.schema, x, &format!("{path}.{}", p.name), errs),
                        None if p.required => {
                            errs.push(format!("{path}.{}: required but missing", p.name))
                        }
                        None => {}
                    }
                }
                if !additional_properties {
                    for k in m.keys() {
                        if !properties.iter().any(|p| &p.name == k) {
                            errs.push(format!("{path}.{k}: not in the schema"));
                        }
                    }
                }
            }
            None => errs.push(format!("{path}: want object, got {v}")),
        },
        SchemaKind::Enum { repr, values, .. } => {
            let ok_type = match repr {
                EnumRepr::String => v.is_string(),
                EnumRepr::Integer => v.is_i64(),
            };
            if !ok_type {
                errs.push(format!("{path}: enum of wrong type: {v}"));
            } else if !values.iter().any(|e| &e.value == v) {
                errs.push(format!("{path}: {v} is not one of the enum values"));
            }
        }
        SchemaKind::Ref { name } => errs.push(format!("{path}: dangling reference {name}")),
    }
}

struct Checker {
    s: State,
    checked: Vec<String>,
    errs: Vec<String>,
}

impl Checker {
    async fn call(&mut self, component: &str, api: &str, params: Value) -> Value {
        let o = self
            .s
            .handle(&Call {
                component,
                api,
                params: &params,
                username: Some("admin"),
                request_id: "r",
            })
            .await
            .unwrap_or_else(|| panic!("{component}.{api} is not stateful"));
        let data = match o {
            Outcome::Data(v) => v,
            Outcome::Error { code, message, .. } => {
                panic!("{component}.{api}: error {code}: {message}")
            }
        };
        let bundle = bk_spec::bundle();
        match bundle.component(component).zip(bundle.api(component, api)) {
            Some((c, a)) => {
                if let Some(schema) = &a.response {
                    let before = self.errs.len();
                    check(
                        c,
                        schema,
                        &data,
                        &format!("{component}.{api}"),
                        &mut self.errs,
                    );
                    if self.errs.len() == before {
                        self.checked.push(format!("{component}.{api}"));
                    }
                }
            }
            None => eprintln!("{component}.{api}: no spec in the bundle; not checked"),
        }
        data
    }
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn the_checker_catches_mismatches() {
    let b = bk_spec::bundle();
    let c = b.component("gse").unwrap();
    let a = b.api("gse", "get_agent_status").unwrap();
    let mut errs = Vec::new();
    check(
        c,
        a.response.as_ref().unwrap(),
        &json!({"0:1.1.1.1": {"ip": "1.1.1.1", "bk_agent_alive": 1}}),
        "ok",
        &mut errs,
    );
    assert!(errs.is_empty(), "{errs:?}");
    for bad in [
        json!({"0:1.1.1.1": {"ip": "1.1.1.1"}}),
        json!({"0:1.1.1.1": {"ip": 5, "bk_agent_alive": 1}}),
        json!({"0:1.1.1.1": {"ip": "1.1.1.1", "bk_agent_alive": 7}}),
        json!({"0:1.1.1.1": {"ip": "1.1.1.1", "bk_agent_alive": 1, "extra": 1}}),
        json!([]),
    ] {
        let mut errs = Vec::new();
        check(c, a.response.as_ref().unwrap(), &bad, "bad", &mut errs);
        assert!(!errs.is_empty(), "{bad} passed");
    }
}

#[tokio::test]
async fn answers_match_the_spec_schemas() {
    let s = State::new(StateConfig {
        hosts: 300,
        job_step: Duration::from_millis(40),
        watch_timeout: Duration::from_millis(50),
        itsm_auto_approve: None,
        ..StateConfig::default()
    });
    let mut k = Checker {
        s: s.clone(),
        checked: Vec::new(),
        errs: Vec::new(),
    };
    // CC.
    k.call("cc", "search_business", json!({})).await;
    k.call(
        "cc",
        "list_biz_hosts_topo",
        json!({"bk_biz_id": 3, "page": {"limit": 50}, "fields": []}),
    )
    .await;
    k.call(
        "cc",
        "list_biz_hosts",
        json!({"bk_biz_id": 3, "page": {"limit": 50}, "fields": []}),
    )
    .await;
    k.call(
        "cc",
        "search_host",
        json!({"bk_biz_id": 3, "page": {"limit": 20}}),
    )
    .await;
    k.call("cc", "get_mainline_object_topo", json!({})).await;
    k.call(
        "cc",
        "search_biz_inst_topo",
        json!({"bk_biz_id": 2, "level": -1}),
    )
    .await;
    let w = k
        .call(
            "cc",
            "resource_watch",
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"]}),
        )
        .await;
    let cursor = w["bk_events"][0]["bk_cursor"].clone();
    let hid = s.biz_host_ids(3)[0];
    s.update_host_field(hid, "bk_comment", json!("schema"))
        .unwrap();
    k.call("cc", "resource_watch", json!({"bk_resource": "host", "bk_fields": ["bk_host_id", "bk_comment"], "bk_cursor": cursor})).await;
    k.call(
        "cc",
        "resource_watch",
        json!({"bk_resource": "host_relation"}),
    )
    .await;
    k.call("cc", "get_biz_internal_module", json!({"bk_biz_id": 3}))
        .await;
    k.call(
        "cc",
        "add_host_to_resource",
        json!({"host_info": {"0": {"bk_host_innerip": "10.200.0.1"}}}),
    )
    .await;
    k.call(
        "cc",
        "update_host",
        json!({"bk_host_id": hid.to_string(), "data": {"bk_comment": "s2"}}),
    )
    .await;
    k.call(
        "cc",
        "transfer_host_to_idlemodule",
        json!({"bk_biz_id": 3, "bk_host_id": [hid]}),
    )
    .await;
    // JOB.
    let hosts: Vec<i64> = s.biz_host_ids(3).into_iter().take(6).collect();
    s.set_failing_hosts(vec![hosts[1].into()]);
    let scope = |mut v: Value| {
        v["bk_scope_type"] = json!("biz");
        v["bk_scope_id"] = json!("3");
        v
    };
    let j = k
        .call(
            "jobv3",
            "fast_execute_script",
            scope(
                json!({"script_content": b64("echo a"), "account_alias": "root",
            "target_server": {"host_id_list": hosts}}),
            ),
        )
        .await;
    let jid = j["job_instance_id"].clone();
    let sid = j["step_instance_id"].clone();
    k.call(
        "jobv3",
        "get_job_instance_status",
        scope(json!({"job_instance_id": jid, "return_ip_result": true})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    k.call(
        "jobv3",
        "get_job_instance_status",
        scope(json!({"job_instance_id": jid, "return_ip_result": true})),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    k.call(
        "jobv3",
        "get_job_instance_status",
        scope(json!({"job_instance_id": jid, "return_ip_result": true})),
    )
    .await;
    k.call(
        "jobv3",
        "get_job_instance_status",
        scope(json!({"job_instance_id": jid})),
    )
    .await;
    k.call(
        "jobv3",
        "get_job_instance_ip_log",
        scope(json!({"job_instance_id": jid, "step_instance_id": sid, "bk_host_id": hosts[0]})),
    )
    .await;
    k.call(
        "jobv3",
        "batch_get_job_instance_ip_log",
        scope(json!({"job_instance_id": jid, "step_instance_id": sid, "host_id_list": hosts})),
    )
    .await;
    let f = k
        .call("jobv3", "fast_transfer_file", scope(json!({"account_alias": "root", "file_target_path": "/tmp/",
            "file_source_list": [{"file_list": ["/a"], "account": {"alias": "root"}, "server": {"host_id_list": [hosts[0]]}}],
            "target_server": {"host_id_list": [hosts[2]]}})))
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    k.call(
        "jobv3",
        "get_job_instance_ip_log",
        scope(json!({"job_instance_id": f["job_instance_id"],
        "step_instance_id": f["step_instance_id"], "bk_host_id": hosts[2]})),
    )
    .await;
    k.call(
        "jobv3",
        "batch_get_job_instance_ip_log",
        scope(json!({"job_instance_id": f["job_instance_id"],
        "step_instance_id": f["step_instance_id"], "host_id_list": [hosts[0], hosts[2]]})),
    )
    .await;
    let p = k
        .call(
            "jobv3",
            "execute_job_plan",
            scope(json!({"job_plan_id": 1})),
        )
        .await;
    k.call(
        "jobv3",
        "operate_job_instance",
        scope(json!({"job_instance_id": p["job_instance_id"], "operation_code": 1})),
    )
    .await;
    // GSE.
    let snap = s.host(hosts[0]).unwrap();
    let hs = json!([{"ip": snap.host["bk_host_innerip"], "bk_cloud_id": snap.host["bk_cloud_id"]}, {"ip": "9.9.9.9", "bk_cloud_id": 0}]);
    k.call(
        "gse",
        "get_agent_status",
        json!({"bk_supplier_account": "0", "hosts": hs.clone()}),
    )
    .await;
    k.call(
        "gse",
        "get_agent_info",
        json!({"bk_supplier_account": "0", "hosts": hs}),
    )
    .await;
    let t = k
        .call(
            "gse",
            "proc_run_command",
            json!({"session_id": "s", "cmd": "start", "proc_id": "*"}),
        )
        .await;
    k.call(
        "gse",
        "proc_get_task_result_by_id",
        json!({"task_id": t["task_id"]}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    k.call(
        "gse",
        "proc_get_task_result_by_id",
        json!({"task_id": t["task_id"]}),
    )
    .await;
    // ITSM.
    let t = k
        .call("itsm", "create_ticket", json!({"creator": "alice", "fields": [{"key": "title", "value": "x"}], "service_id": 1}))
        .await;
    k.call("itsm", "get_ticket_status", json!({"sn": t["sn"]}))
        .await;
    k.call("itsm", "operate_ticket", json!({"sn": t["sn"], "operator": "alice", "action_type": "SUSPEND", "action_message": "m"})).await;
    k.call("itsm", "get_ticket_status", json!({"sn": t["sn"]}))
        .await;
    k.call("itsm", "get_tickets", json!({"page": 1, "page_size": 5}))
        .await;
    s.approve(t["sn"].as_str().unwrap(), "alice", true)
        .await
        .unwrap();
    k.call("itsm", "get_tickets", json!({})).await;
    k.call("itsm", "get_ticket_status", json!({"sn": t["sn"]}))
        .await;
    k.call("itsm", "ticket_approval_result", json!({"sn": [t["sn"]]}))
        .await;
    k.call("itsm", "token_verify", json!({"token": "x"})).await;
    // Login and PaaS.
    let tok = s.issue_token("admin");
    k.call("bk_login", "is_login", json!({"bk_token": tok}))
        .await;
    k.call("bk_login", "get_user", json!({})).await;
    k.call("bk_login", "get_all_users", json!({})).await;
    k.call("bk_login", "get_all_user", json!({})).await;
    k.call(
        "bk_login",
        "get_batch_users",
        json!({"bk_username_list": ["admin", "bob"]}),
    )
    .await;
    k.call(
        "bk_login",
        "get_batch_user",
        json!({"username_list": "admin;bob"}),
    )
    .await;
    k.call(
        "bk_login",
        "get_batch_users_platform_role",
        json!({"bk_username_list": ["admin"]}),
    )
    .await;
    k.call(
        "bk_paas",
        "get_app_info",
        json!({"fields": "bk_app_code;bk_app_name;introduction;creator;developer"}),
    )
    .await;

    eprintln!("checked against the spec: {}", k.checked.join(", "));
    assert!(
        k.errs.is_empty(),
        "schema mismatches:\n{}",
        k.errs.join("\n")
    );
}

/// JOB v2 (component `job`) answers, every state of a job: waiting, running, finished with
/// a failed host, force-stopped; scripts and plans; a file job started through v3.
#[tokio::test]
async fn job_v2_answers_match_the_spec_schemas() {
    let s = State::new(StateConfig {
        hosts: 300,
        job_step: Duration::from_millis(40),
        ..StateConfig::default()
    });
    let mut k = Checker {
        s: s.clone(),
        checked: Vec::new(),
        errs: Vec::new(),
    };
    let hosts: Vec<i64> = s.biz_host_ids(3).into_iter().take(4).collect();
    s.set_failing_hosts(vec![hosts[1].into()]);
    let ips: Vec<Value> = hosts
        .iter()
        .map(|h| {
            let snap = s.host(*h).unwrap();
            json!({"ip": snap.host["bk_host_innerip"], "bk_cloud_id": snap.host["bk_cloud_id"]})
        })
        .collect();
    let j = k
        .call(
            "job",
            "fast_execute_script",
            json!({"bk_biz_id": 3, "account": "root", "script_content": b64("echo a"),
                "script_param": b64("-v"), "script_type": 1, "script_timeout": 600,
                "target_server": {"ip_list": ips}}),
        )
        .await;
    let id = j["job_instance_id"].clone();
    let q = json!({"bk_biz_id": 3, "job_instance_id": id});
    for wait_ms in [0, 60, 100] {
        tokio::time::sleep(Duration::from_millis(wait_ms)).await;
        k.call("job", "get_job_instance_status", q.clone()).await;
        k.call("job", "get_job_instance_log", q.clone()).await;
    }
    let done = k.call("job", "get_job_instance_status", q.clone()).await;
    assert_eq!(done["is_finished"], json!(true));
    assert_eq!(done["job_instance"]["status"], json!(4));
    let p = k
        .call(
            "job",
            "execute_job",
            json!({"bk_biz_id": 3, "bk_job_id": 7, "global_vars": [
                {"name": "greeting", "value": "hi"},
                {"id": 2, "target_server": {"ip_list": [ips[0]]}}]}),
        )
        .await;
    let pq = json!({"bk_biz_id": 3, "job_instance_id": p["job_instance_id"]});
    tokio::time::sleep(Duration::from_millis(50)).await;
    k.call(
        "job",
        "operate_job_instance",
        json!({"bk_biz_id": 3, "job_instance_id": p["job_instance_id"], "operation_code": 1}),
    )
    .await;
    k.call("job", "get_job_instance_status", pq.clone()).await;
    tokio::time::sleep(Duration::from_millis(60)).await;
    let stopped = k.call("job", "get_job_instance_status", pq.clone()).await;
    assert_eq!(stopped["job_instance"]["status"], json!(11));
    assert_eq!(stopped["job_instance"]["bk_job_id"], json!(7));
    k.call("job", "get_job_instance_log", pq).await;
    // A file job started through v3 is visible through v2.
    let f = k
        .call(
            "jobv3",
            "fast_transfer_file",
            json!({"bk_scope_type": "biz", "bk_scope_id": "3",
            "account_alias": "root", "file_target_path": "/tmp/",
            "file_source_list": [{"file_list": ["/a"], "server": {"host_id_list": [hosts[0]]}}],
            "target_server": {"host_id_list": [hosts[2]]}}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(150)).await;
    let fq = json!({"bk_biz_id": 3, "job_instance_id": f["job_instance_id"]});
    k.call("job", "get_job_instance_status", fq.clone()).await;
    let logs = k.call("job", "get_job_instance_log", fq).await;
    assert!(logs[0]["step_results"][0]["ip_logs"][0]["log_content"]
        .as_str()
        .is_some_and(|l| l.contains("download")));
    eprintln!("checked against the spec: {}", k.checked.join(", "));
    assert!(
        k.errs.is_empty(),
        "schema mismatches:\n{}",
        k.errs.join("\n")
    );
    for api in [
        "fast_execute_script",
        "execute_job",
        "get_job_instance_status",
        "get_job_instance_log",
        "operate_job_instance",
    ] {
        let name = format!("job.{api}");
        assert!(k.checked.contains(&name), "{name} not checked");
    }
}
