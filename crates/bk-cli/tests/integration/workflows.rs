//! The workflow commands against a bk-sim: `bk topo sync/show/find` (and `--watch` following
//! a change), `bk job run-script` with and without `--wait` (a failing host's log comes
//! back, exit 1), `bk agent status` from CMDB and from the mirror, `bk ticket create --wait`.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::Env;
use bk_sim::state::HostSelector;

/// A business with hosts, and some of its hosts with live agents: (biz, [(id, ip)]).
fn live_hosts(env: &Env, n: usize) -> (i64, Vec<(i64, String)>) {
    let st = env.sim.handle();
    let st = st.state();
    for biz in st.biz_ids().into_iter().filter(|b| *b != 1) {
        let hosts: Vec<(i64, String)> = st
            .snapshot_hosts()
            .into_iter()
            .filter(|h| h.bk_biz_id == biz && st.agent_alive(h.bk_host_id))
            .filter_map(|h| {
                let ip = h.host.get("bk_host_innerip")?.as_str()?.to_string();
                Some((h.bk_host_id, ip))
            })
            .take(n)
            .collect();
        if hosts.len() == n {
            return (biz, hosts);
        }
    }
    panic!("no business with {n} live hosts");
}

#[test]
fn topo_sync_show_find_and_a_second_sync_catches_up() {
    let env = Env::new(600);
    let db = env.dir.path().join("topo.db");
    let db = db.to_str().unwrap();
    let hosts = env.sim.handle().state().host_count();

    let first = env
        .bk(&["topo", "sync", "--db", db, "-o", "json"])
        .ok()
        .json();
    assert_eq!(first["how"], "full sync");
    assert_eq!(first["hosts"].as_u64(), Some(hosts as u64));

    // The tree: every business with its host count, which add up to all hosts.
    let tree = env
        .bk(&["topo", "show", "--db", db, "-o", "json"])
        .ok()
        .json();
    let bizs = tree.as_array().expect("a list of businesses");
    let total: u64 = bizs.iter().map(|b| b["hosts"].as_u64().unwrap()).sum();
    assert_eq!(total, hosts as u64);
    assert!(bizs[0]["sets"][0]["modules"].is_array(), "{tree}");
    let table = env.bk(&["topo", "show", "--db", db, "--depth", "set"]).ok();
    assert!(table.stdout.starts_with("level"), "{table:#?}");
    assert!(table.stdout.contains("  set"), "{table:#?}");
    assert!(!table.stdout.contains("module"), "{table:#?}");

    // Find by IP and by id: the host with its placement.
    let (_, some) = live_hosts(&env, 1);
    let (id, ip) = &some[0];
    let found = env
        .bk(&["topo", "find", "--db", db, "--ip", ip, "-o", "json"])
        .ok()
        .json();
    assert!(
        found
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["bk_host_id"] == *id),
        "{found}"
    );
    let by_id = env
        .bk(&["topo", "find", "--db", db, "--host-id", &id.to_string()])
        .ok();
    assert!(
        by_id.stdout.contains(ip.as_str()) && by_id.stdout.contains(" / "),
        "{by_id:#?}"
    );
    let none = env.bk(&["topo", "find", "--db", db, "--ip", "192.0.2.1"]);
    assert_eq!(none.code, 1, "{none:#?}");

    // A change in CMDB, then a second sync applies just the events, without a full sync.
    let st = env.sim.handle();
    st.state()
        .update_host_field(*id, "bk_comment", serde_json::json!("changed by the test"))
        .unwrap();
    let t = Instant::now();
    let second = env
        .bk(&["topo", "sync", "--db", db, "-o", "json"])
        .ok()
        .json();
    assert_eq!(second["how"], "caught up", "{second}");
    assert!(second["events"].as_u64().unwrap() >= 1, "{second}");
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    let found = env
        .bk(&[
            "topo",
            "find",
            "--db",
            db,
            "--host-id",
            &id.to_string(),
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(found[0]["host"]["bk_comment"], "changed by the test");

    // Reading a mirror that does not exist is a usage error naming the fix.
    let missing = env.bk(&["topo", "show", "--db", "/nonexistent/topo.db"]);
    assert_eq!(missing.code, 2, "{missing:#?}");
    assert!(missing.stderr.contains("bk topo sync"), "{missing:#?}");
}

#[test]
fn topo_sync_watch_prints_changes_as_they_happen() {
    let env = Env::new(300);
    let db = env.dir.path().join("watch.db");
    let mut child = env
        .cmd()
        .args(["topo", "sync", "--watch", "--db", db.to_str().unwrap()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bk runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // Header and summary of the full sync.
    let header = lines.next().unwrap().unwrap();
    assert!(header.starts_with("sync"), "{header}");
    let summary = lines.next().unwrap().unwrap();
    assert!(summary.starts_with("full sync"), "{summary}");
    let (_, some) = live_hosts(&env, 1);
    env.sim
        .handle()
        .state()
        .update_host_field(some[0].0, "operator", serde_json::json!("watcher"))
        .unwrap();
    let line = lines.next().unwrap().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.contains("applied") && line.contains("hosts +0 -0 ~1"),
        "{line}"
    );
}

#[test]
fn job_run_script_waits_and_reports_failed_hosts_with_logs() {
    let env = Env::new(400);
    let (biz, hosts) = live_hosts(&env, 3);
    let bad = hosts[2].0;
    env.sim
        .handle()
        .state()
        .set_failing_hosts(vec![HostSelector::Id(bad)]);
    let script = env.write("check.sh", "#!/bin/bash\necho checking\n");
    let ids: Vec<String> = hosts.iter().map(|h| h.0.to_string()).collect();
    let run = env.bk(&[
        "job",
        "run-script",
        "--biz",
        &biz.to_string(),
        "--hosts",
        &ids.join(","),
        "--file",
        script.to_str().unwrap(),
        "--wait",
        "--timeout",
        "120",
    ]);
    assert_eq!(run.code, 1, "a failed host fails the command: {run:#?}");
    assert!(run.stderr.contains("did not succeed"), "{run:#?}");
    let table = &run.stdout;
    assert!(table.starts_with("step"), "{run:#?}");
    for (id, ip) in &hosts {
        assert!(
            table.contains(&id.to_string()) && table.contains(ip.as_str()),
            "{run:#?}"
        );
    }
    assert!(
        table.contains(&format!("--- log of host {bad}")),
        "the failed host's log is printed: {run:#?}"
    );
    // Progress goes to stderr, one line per change, when stderr is not a terminal.
    assert!(run.stderr.contains(" job "), "{run:#?}");

    // Healthy hosts, JSON: success and per-host exit codes.
    env.sim.handle().state().set_failing_hosts(vec![]);
    let ok = env
        .bk(&[
            "job",
            "run-script",
            "--biz",
            &biz.to_string(),
            "--ips",
            &hosts[0].1,
            "--script",
            "uptime",
            "--wait",
            "--no-progress",
            "-o",
            "json",
        ])
        .ok();
    let v = ok.json();
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["hosts"][0]["exit_code"], 0, "{v}");
    assert!(ok.stderr.is_empty(), "--no-progress is quiet: {ok:#?}");

    // JOB v2 (older deployments): by IP, the failing host's log comes back too.
    env.sim
        .handle()
        .state()
        .set_failing_hosts(vec![HostSelector::Id(bad)]);
    let ips: Vec<String> = hosts.iter().map(|h| h.1.clone()).collect();
    let v2 = env.bk(&[
        "job",
        "run-script",
        "--api",
        "v2",
        "--biz",
        &biz.to_string(),
        "--ips",
        &ips.join(","),
        "--script",
        "echo v2",
        "--wait",
        "--no-progress",
        "-o",
        "json",
    ]);
    assert_eq!(v2.code, 1, "{v2:#?}");
    let v = v2.json();
    let failed: Vec<&serde_json::Value> = v["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["succeeded"] == false)
        .collect();
    assert_eq!(failed.len(), 1, "{v}");
    assert_eq!(failed[0]["ip"], hosts[2].1.as_str(), "{v}");
    assert!(
        failed[0]["log"].as_str().unwrap().contains("echo v2"),
        "{v}"
    );
    let r = env.bk(&[
        "job",
        "run-script",
        "--api",
        "v2",
        "--biz",
        "2",
        "--hosts",
        "1",
        "--script",
        "true",
    ]);
    assert_eq!(r.code, 2, "v2 takes IPs only: {r:#?}");
    env.sim.handle().state().set_failing_hosts(vec![]);

    // Without --wait: just the job instance id.
    let started = env
        .bk(&[
            "job",
            "run-script",
            "--biz",
            &biz.to_string(),
            "--hosts",
            &ids[0],
            "--script",
            "true",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert!(
        started["job_instance_id"].as_i64().unwrap() > 0,
        "{started}"
    );

    // Usage errors: no script, an unreadable file, a bad host id.
    let r = env.bk(&["job", "run-script", "--biz", "2", "--hosts", "1"]);
    assert_eq!(r.code, 2, "{r:#?}");
    let r = env.bk(&[
        "job",
        "run-script",
        "--biz",
        "2",
        "--hosts",
        "1",
        "--file",
        "/nonexistent.sh",
    ]);
    assert_eq!(r.code, 2, "{r:#?}");
    assert!(r.stderr.contains("/nonexistent.sh"), "{r:#?}");
    let r = env.bk(&[
        "job",
        "run-script",
        "--biz",
        "2",
        "--hosts",
        "x",
        "--script",
        "true",
    ]);
    assert_eq!(r.code, 2, "{r:#?}");
}

#[test]
fn agent_status_of_a_business_from_cmdb_and_from_the_mirror() {
    let env = Env::new(500);
    let (biz, _) = live_hosts(&env, 1);
    let st = env.sim.handle();
    let st = st.state();
    let ids = st.biz_host_ids(biz);
    let live = ids.iter().filter(|id| st.agent_alive(**id)).count();

    let v = env
        .bk(&["agent", "status", "--biz", &biz.to_string(), "-o", "json"])
        .ok()
        .json();
    let rows = v.as_array().unwrap();
    assert_eq!(rows.len(), ids.len());
    let online = rows.iter().filter(|r| r["alive"] == "online").count();
    assert_eq!(online, live);

    let db = env.dir.path().join("agents.db");
    let db = db.to_str().unwrap();
    env.bk(&["topo", "sync", "--db", db]).ok();
    let t = env
        .bk(&[
            "agent",
            "status",
            "--biz",
            &biz.to_string(),
            "--db",
            db,
            "--offline",
        ])
        .ok();
    assert!(t.stdout.starts_with("bk_host_id"), "{t:#?}");
    assert_eq!(t.stdout.lines().count() - 1, ids.len() - live, "{t:#?}");
    assert!(
        t.stderr
            .contains(&format!("{} hosts: {live} online", ids.len())),
        "{t:#?}"
    );
}

#[test]
fn ticket_create_waits_for_the_end() {
    let env = Env::new(50);
    // The simulator approves tickets on its own after 2 s.
    let v = env
        .bk(&[
            "ticket",
            "create",
            "--service-id",
            "1",
            "--field",
            "title=Expand disk",
            "--fields",
            r#"{"reason": "disk at 85%"}"#,
            "--wait",
            "-o",
            "json",
        ])
        .ok()
        .json();
    assert_eq!(v["status"], "FINISHED", "{v}");
    assert!(v["sn"].as_str().unwrap().len() > 4, "{v}");
    let sn = v["sn"].as_str().unwrap().to_string();
    let again = env.bk(&["ticket", "wait", &sn, "-o", "json"]).ok().json();
    assert_eq!(again["status"], "FINISHED");

    let created = env
        .bk(&[
            "ticket",
            "create",
            "--service-id",
            "1",
            "--field",
            "title=x",
        ])
        .ok();
    assert!(created.stdout.starts_with("sn"), "{created:#?}");
    let r = env.bk(&["ticket", "create", "--service-id", "1"]);
    assert_eq!(r.code, 2, "no fields is a usage error: {r:#?}");
}
