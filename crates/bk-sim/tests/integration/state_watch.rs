//! `resource_watch` of the simulator state: cursors, long poll, expiry.

use std::time::{Duration, Instant};

use bk_sim::state::{Call, Outcome, State, StateConfig};
use serde_json::{json, Value};

fn state(timeout_ms: u64) -> State {
    State::new(StateConfig {
        hosts: 200,
        watch_timeout: Duration::from_millis(timeout_ms),
        ..StateConfig::default()
    })
}

async fn watch(s: &State, params: Value) -> Outcome {
    s.handle(&Call {
        component: "cc",
        api: "resource_watch",
        params: &params,
        username: Some("admin"),
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

fn last_cursor(d: &Value) -> String {
    d["bk_events"].as_array().unwrap().last().unwrap()["bk_cursor"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn long_poll_times_out_with_a_resume_cursor() {
    let s = state(300);
    let t0 = Instant::now();
    let d = data(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"]}),
        )
        .await,
    );
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert_eq!(d["bk_watched"], false);
    let evs = d["bk_events"].as_array().unwrap();
    assert_eq!(evs.len(), 1);
    assert!(evs[0]["bk_detail"].is_null());
    assert_eq!(evs[0]["bk_resource"], "host");
    let cursor = evs[0]["bk_cursor"].as_str().unwrap().to_string();
    assert!(!cursor.is_empty());
    // A change after the cursor is delivered from it.
    let hid = s.biz_host_ids(2)[0];
    s.update_host_field(hid, "bk_host_name", json!("x1"))
        .unwrap();
    let d = data(watch(&s, json!({"bk_resource": "host", "bk_fields": ["bk_host_id", "bk_host_name"], "bk_cursor": cursor})).await);
    assert_eq!(d["bk_watched"], true);
    assert_eq!(d["bk_events"][0]["bk_event_type"], "update");
    assert_eq!(
        d["bk_events"][0]["bk_detail"],
        json!({"bk_host_id": hid, "bk_host_name": "x1"})
    );
}

#[tokio::test]
async fn long_poll_wakes_up_on_change() {
    let s = state(10_000);
    let s2 = s.clone();
    let hid = s.biz_host_ids(3)[0];
    let t0 = Instant::now();
    let waiter = tokio::spawn(async move {
        watch(&s2, json!({"bk_resource": "host", "bk_fields": ["bk_host_id", "custom_rack"], "bk_event_types": ["update"]})).await
    });
    tokio::time::sleep(Duration::from_millis(150)).await;
    s.update_host_field(hid, "custom_rack", json!("R01-U01"))
        .unwrap();
    let d = data(waiter.await.unwrap());
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(2), "woke after {took:?}");
    assert_eq!(d["bk_watched"], true);
    assert_eq!(
        d["bk_events"][0]["bk_detail"],
        json!({"bk_host_id": hid, "custom_rack": "R01-U01"})
    );
}

#[tokio::test]
async fn other_resources_do_not_wake_a_watch_with_events() {
    let s = state(400);
    let s2 = s.clone();
    let waiter = tokio::spawn(async move { watch(&s2, json!({"bk_resource": "biz"})).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let hid = s.biz_host_ids(3)[0];
    s.update_host_field(hid, "bk_comment", json!("c")).unwrap();
    let d = data(waiter.await.unwrap());
    assert_eq!(d["bk_watched"], false);
    // The resume cursor skips the host event, and biz events after it arrive.
    let c = last_cursor(&d);
    s.create_business("new-biz");
    let d = data(watch(&s, json!({"bk_resource": "biz", "bk_cursor": c})).await);
    assert_eq!(d["bk_watched"], true);
    assert_eq!(d["bk_events"].as_array().unwrap().len(), 1);
    assert_eq!(d["bk_events"][0]["bk_event_type"], "create");
    assert_eq!(d["bk_events"][0]["bk_detail"]["bk_biz_name"], "new-biz");
}

#[tokio::test]
async fn host_relation_events_on_transfer() {
    let s = state(300);
    let start = data(watch(&s, json!({"bk_resource": "host_relation"})).await);
    let c = last_cursor(&start);
    let hid = s.biz_host_ids(3)[0];
    let old = s.host(hid).unwrap().bk_module_ids;
    let target = s.modules_of(3).into_iter().find(|m| m.3 == 3).unwrap().0;
    s.move_host(hid, target).unwrap();
    let d = data(watch(&s, json!({"bk_resource": "host_relation", "bk_cursor": c})).await);
    let evs = d["bk_events"].as_array().unwrap();
    assert_eq!(evs.len(), old.len() + 1);
    for (e, m) in evs.iter().zip(&old) {
        assert_eq!(e["bk_event_type"], "delete");
        assert_eq!(e["bk_detail"]["bk_module_id"], *m);
        assert_eq!(e["bk_detail"]["bk_host_id"], hid);
    }
    let last = evs.last().unwrap();
    assert_eq!(last["bk_event_type"], "create");
    assert_eq!(
        last["bk_detail"],
        json!({"bk_biz_id": 3, "bk_host_id": hid, "bk_module_id": target,
               "bk_set_id": s.modules_of(3).into_iter().find(|m| m.0 == target).unwrap().1,
               "bk_supplier_account": "0"})
    );
    // Only deletes.
    let d = data(
        watch(
            &s,
            json!({"bk_resource": "host_relation", "bk_cursor": c, "bk_event_types": ["delete"]}),
        )
        .await,
    );
    assert!(d["bk_events"]
        .as_array()
        .unwrap()
        .iter()
        .all(|e| e["bk_event_type"] == "delete"));
}

#[tokio::test]
async fn at_most_200_events_per_answer_and_no_duplicates() {
    let s = state(200);
    let c = last_cursor(&data(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"]}),
        )
        .await,
    ));
    let ids = s.biz_host_ids(3);
    for i in 0..450 {
        s.update_host_field(ids[i % ids.len()], "bk_comment", json!(format!("n{i}")))
            .unwrap();
    }
    let mut cursor = c;
    let mut comments = Vec::new();
    loop {
        let d = data(
            watch(
                &s,
                json!({"bk_resource": "host", "bk_fields": ["bk_comment"], "bk_cursor": cursor}),
            )
            .await,
        );
        if d["bk_watched"] == false {
            break;
        }
        let evs = d["bk_events"].as_array().unwrap();
        assert!(evs.len() <= 200);
        comments.extend(
            evs.iter()
                .map(|e| e["bk_detail"]["bk_comment"].as_str().unwrap().to_string()),
        );
        cursor = last_cursor(&d);
    }
    let want: Vec<String> = (0..450).map(|i| format!("n{i}")).collect();
    assert_eq!(comments, want);
}

#[tokio::test]
async fn expired_and_unknown_cursors() {
    let s = state(100);
    let c = last_cursor(&data(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"]}),
        )
        .await,
    ));
    let hid = s.biz_host_ids(3)[0];
    s.update_host_field(hid, "bk_comment", json!("a")).unwrap();
    s.expire_cursors();
    for bad in [c.as_str(), "garbage", "", "bW9v"] {
        if bad.is_empty() {
            continue;
        }
        match watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"], "bk_cursor": bad}),
        )
        .await
        {
            Outcome::Error { code, message, .. } => {
                assert_eq!(code, 1103007);
                assert_eq!(message, "Event chain node not exist");
            }
            other => panic!("{other:?}"),
        }
    }
    // Restart from now works, and a cursor of another resource is unknown.
    let d = data(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"]}),
        )
        .await,
    );
    let fresh = last_cursor(&d);
    assert!(watch(
        &s,
        json!({"bk_resource": "host", "bk_fields": ["bk_host_id"], "bk_cursor": fresh.clone()})
    )
    .await
    .data()
    .is_some());
    assert_eq!(
        watch(&s, json!({"bk_resource": "biz", "bk_cursor": fresh}))
            .await
            .code(),
        Some(1103007)
    );
}

#[tokio::test]
async fn events_expire_after_the_ttl() {
    let s = State::new(StateConfig {
        hosts: 50,
        watch_timeout: Duration::from_millis(50),
        event_ttl: Duration::from_millis(200),
        ..StateConfig::default()
    });
    let c = last_cursor(&data(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"]}),
        )
        .await,
    ));
    let hid = s.biz_host_ids(3)[0];
    s.update_host_field(hid, "bk_comment", json!("old"))
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.update_host_field(hid, "bk_comment", json!("new"))
        .unwrap();
    assert_eq!(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"], "bk_cursor": c})
        )
        .await
        .code(),
        Some(1103007)
    );
}

#[tokio::test]
async fn start_from_a_time() {
    let s = state(100);
    let hid = s.biz_host_ids(3)[0];
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 1;
    s.update_host_field(hid, "bk_comment", json!("t")).unwrap();
    let d = data(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_comment"], "bk_start_from": before}),
        )
        .await,
    );
    assert_eq!(d["bk_watched"], true);
    assert_eq!(d["bk_events"][0]["bk_detail"]["bk_comment"], "t");
    // A start time in the future waits for new events only.
    let d = data(
        watch(&s, json!({"bk_resource": "host", "bk_fields": ["bk_comment"], "bk_start_from": before + 3600})).await,
    );
    assert_eq!(d["bk_watched"], false);
}

#[tokio::test]
async fn topology_events_for_biz_set_module() {
    let s = state(100);
    let cb = last_cursor(&data(watch(&s, json!({"bk_resource": "biz"})).await));
    let cs = last_cursor(&data(watch(&s, json!({"bk_resource": "set"})).await));
    let cm = last_cursor(&data(watch(&s, json!({"bk_resource": "module"})).await));
    let b = s.create_business("shop");
    let set = s.create_set(b, "shop-set").unwrap();
    let m = s.create_module(set, "shop-api").unwrap();
    s.rename("module", m, "shop-api-v2").unwrap();
    s.delete_module(m).unwrap();
    s.delete_set(set).unwrap();
    let d = data(watch(&s, json!({"bk_resource": "biz", "bk_cursor": cb})).await);
    assert_eq!(d["bk_events"].as_array().unwrap().len(), 1);
    let d = data(watch(&s, json!({"bk_resource": "set", "bk_cursor": cs, "bk_fields": ["bk_set_id", "bk_set_name"]})).await);
    let kinds: Vec<&str> = d["bk_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["bk_event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["create", "create", "delete"]);
    assert_eq!(
        d["bk_events"][1]["bk_detail"],
        json!({"bk_set_id": set, "bk_set_name": "shop-set"})
    );
    let d = data(
        watch(
            &s,
            json!({"bk_resource": "module", "bk_cursor": cm, "bk_fields": ["bk_module_name"]}),
        )
        .await,
    );
    let names: Vec<(String, String)> = d["bk_events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["bk_event_type"].as_str().unwrap().to_string(),
                e["bk_detail"]["bk_module_name"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(names.len(), 6); // 3 built-in + shop-api create, update, delete
    assert_eq!(names[4], ("update".to_string(), "shop-api-v2".to_string()));
    assert_eq!(names[5].0, "delete");
}

#[tokio::test]
async fn bad_requests() {
    let s = state(50);
    for p in [
        json!({"bk_resource": "host"}),
        json!({"bk_resource": "host", "bk_fields": []}),
        json!({"bk_resource": "nothing"}),
        json!({}),
        json!({"bk_resource": "biz", "bk_event_types": ["rename"]}),
    ] {
        assert_eq!(watch(&s, p.clone()).await.code(), Some(1199006), "{p}");
    }
}

#[tokio::test]
async fn mirror_converges_with_snapshot() {
    // A client mirror built from list + watch equals the simulator's truth.
    let s = state(300);
    let mut mirror: std::collections::BTreeMap<i64, Value> = Default::default();
    for h in s.snapshot_hosts() {
        mirror.insert(h.bk_host_id, Value::Object(h.host));
    }
    let c = last_cursor(&data(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": ["bk_host_id"]}),
        )
        .await,
    ));
    let ids = s.biz_host_ids(4);
    s.update_host_field(ids[0], "operator", json!("erin"))
        .unwrap();
    s.delete_host(ids[1]).unwrap();
    let new = s
        .add_host(bk_sim::state::NewHost {
            innerip: "10.99.0.1".into(),
            ..Default::default()
        })
        .unwrap();
    let all_fields: Vec<String> = s.snapshot_hosts()[0].host.keys().cloned().collect();
    let d = data(
        watch(
            &s,
            json!({"bk_resource": "host", "bk_fields": all_fields, "bk_cursor": c}),
        )
        .await,
    );
    for e in d["bk_events"].as_array().unwrap() {
        let id = e["bk_detail"]["bk_host_id"].as_i64().unwrap();
        match e["bk_event_type"].as_str().unwrap() {
            "delete" => {
                mirror.remove(&id);
            }
            _ => {
                mirror.insert(id, e["bk_detail"].clone());
            }
        }
    }
    let truth: std::collections::BTreeMap<i64, Value> = s
        .snapshot_hosts()
        .into_iter()
        .map(|h| (h.bk_host_id, Value::Object(h.host)))
        .collect();
    assert!(truth.contains_key(&new));
    assert_eq!(mirror, truth);
}
