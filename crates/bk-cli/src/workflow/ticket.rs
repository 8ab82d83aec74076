//! `bk ticket`: create an ITSM ticket and, with `--wait`, wait for it to reach a terminal
//! status (`FINISHED`, `TERMINATED`, `REVOKED`); `bk ticket wait` waits for an existing one.

use std::time::Duration;

use bk_sdk::itsm::types::Field;
use bk_sdk::itsm::wait::{TicketDone, WaitError, WaitOptions};
use bk_sdk::itsm::TicketMeta;
use bk_sdk::prelude::*;
use clap::{value_parser, Arg, ArgAction, ArgMatches, Command};
use serde_json::{json, Value};

use super::{client, opt, print_rows, Failure, Outcome};

fn wait_args() -> [Arg; 2] {
    [
        Arg::new("timeout")
            .long("timeout")
            .value_name("SECS")
            .value_parser(value_parser!(u64).range(1..))
            .default_value("86400")
            .help("Give up waiting after this long"),
        Arg::new("interval")
            .long("max-interval")
            .value_name("SECS")
            .value_parser(value_parser!(u64).range(1..=3600))
            .default_value("10")
            .help("Longest pause between two status polls (the first is 1 s)"),
    ]
}

/// `bk ticket` and its subcommands.
pub fn command() -> Command {
    Command::new("ticket")
        .about("ITSM tickets: create one and wait for its end")
        .subcommand_required(true)
        .arg_required_else_help(true)
        .subcommand(
            Command::new("create")
                .about("Create a ticket (create_ticket); --wait follows it to a terminal status")
                .long_about(
                    "Create an ITSM ticket of a service. Fields come from --field KEY=VALUE \
                     (string values, repeatable) and --fields JSON (an object of key to value, \
                     or a list of {key, value}); --field wins over --fields for the same key. \
                     Without --wait, print the ticket number. With --wait, poll the status until \
                     FINISHED, TERMINATED or REVOKED; exit 1 unless it ends FINISHED.",
                )
                .args(super::common_args())
                .arg(
                    Arg::new("service_id")
                        .long("service-id")
                        .value_name("ID")
                        .value_parser(value_parser!(i64))
                        .required(true)
                        .help("The ITSM service the ticket belongs to"),
                )
                .arg(
                    Arg::new("creator")
                        .long("creator")
                        .value_name("USER")
                        .help("Who creates the ticket [default: the configured user name]"),
                )
                .arg(
                    Arg::new("field")
                        .long("field")
                        .value_name("KEY=VALUE")
                        .action(ArgAction::Append)
                        .help("A form field (repeatable)"),
                )
                .arg(
                    Arg::new("fields")
                        .long("fields")
                        .value_name("JSON")
                        .help("Form fields as JSON (`@file.json` reads a file)"),
                )
                .arg(
                    Arg::new("callback_url")
                        .long("callback-url")
                        .value_name("URL")
                        .help("URL ITSM calls when the ticket ends"),
                )
                .arg(
                    Arg::new("wait")
                        .long("wait")
                        .action(ArgAction::SetTrue)
                        .help("Wait for a terminal status"),
                )
                .args(wait_args()),
        )
        .subcommand(
            Command::new("wait")
                .about("Wait for an existing ticket to reach a terminal status")
                .args(super::common_args())
                .arg(
                    Arg::new("sn")
                        .value_name("SN")
                        .required(true)
                        .help("Ticket number"),
                )
                .args(wait_args()),
        )
}

/// Runs `bk ticket ...`.
pub async fn run(m: &ArgMatches) -> Outcome {
    match m.subcommand() {
        Some(("create", sm)) => create(sm).await,
        Some(("wait", sm)) => {
            let client = client(sm)?;
            let sn = sm
                .get_one::<String>("sn")
                .ok_or_else(|| Failure::Usage("name the ticket number".into()))?;
            let done = client
                .itsm()
                .wait_ticket(sn, &wait_options(sm))
                .await
                .map_err(wait_failure)?;
            report_done(sm, &done)
        }
        _ => Err(Failure::Usage(
            "name a subcommand of ticket: create or wait".into(),
        )),
    }
}

fn wait_options(m: &ArgMatches) -> WaitOptions {
    WaitOptions {
        max_delay: Duration::from_secs(*m.get_one::<u64>("interval").unwrap_or(&10)),
        timeout: Some(Duration::from_secs(
            *m.get_one::<u64>("timeout").unwrap_or(&86400),
        )),
        ..WaitOptions::default()
    }
}

fn wait_failure(e: WaitError) -> Failure {
    match e {
        WaitError::Api(e) => Failure::from_sdk(&e),
        other => Failure::Failed(other.to_string()),
    }
}

/// The form fields of `--fields` then `--field`, in order, later keys replacing earlier ones.
fn fields(m: &ArgMatches) -> Result<Vec<Field>, Failure> {
    let mut out: Vec<Field> = Vec::new();
    let mut put = |key: String, value: Value| match out.iter_mut().find(|f| f.key == key) {
        Some(f) => f.value = value,
        None => out.push(Field { key, value }),
    };
    if let Some(text) = m.get_one::<String>("fields") {
        let text = match text.strip_prefix('@') {
            Some(path) => std::fs::read_to_string(path)
                .map_err(|e| Failure::Usage(format!("--fields: cannot read {path}: {e}")))?,
            None => text.clone(),
        };
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Failure::Usage(format!("--fields: not JSON: {e}")))?;
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    put(k, v);
                }
            }
            Value::Array(items) => {
                for (i, item) in items.into_iter().enumerate() {
                    let key = item
                        .get("key")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                        .ok_or_else(|| {
                            Failure::Usage(format!("--fields: item {i} has no string `key`"))
                        })?;
                    put(key, item.get("value").cloned().unwrap_or(Value::Null));
                }
            }
            _ => {
                return Err(Failure::Usage(
                    "--fields: expected an object or a list of {key, value}".into(),
                ))
            }
        }
    }
    for f in m.get_many::<String>("field").into_iter().flatten() {
        let Some((k, v)) = f.split_once('=') else {
            return Err(Failure::Usage(format!("--field {f:?}: expected KEY=VALUE")));
        };
        if k.trim().is_empty() {
            return Err(Failure::Usage(format!("--field {f:?}: the key is empty")));
        }
        put(k.trim().to_string(), Value::String(v.to_string()));
    }
    if out.is_empty() {
        return Err(Failure::Usage(
            "a ticket needs form fields: give --field KEY=VALUE or --fields JSON".into(),
        ));
    }
    Ok(out)
}

async fn create(m: &ArgMatches) -> Outcome {
    let fields = fields(m)?;
    let creator = m
        .get_one::<String>("creator")
        .cloned()
        .or_else(|| m.get_one::<String>("username").cloned())
        .or_else(|| std::env::var("BK_USERNAME").ok().filter(|u| !u.is_empty()))
        .ok_or_else(|| {
            Failure::Usage("who creates the ticket? give --creator (or --username)".into())
        })?;
    let service_id = *m
        .get_one::<i64>("service_id")
        .ok_or_else(|| Failure::Usage("--service-id is required".into()))?;
    let client = client(m)?;
    let mut call = client
        .itsm()
        .create_ticket(creator, fields)
        .service_id(service_id);
    if let Some(url) = m.get_one::<String>("callback_url") {
        call = call.meta(TicketMeta {
            callback_url: Some(url.clone()),
            ..Default::default()
        });
    }
    let created = call.send().await?;
    if !m.get_flag("wait") {
        return print_rows(
            m,
            &["sn", "id", "ticket_url"],
            &[vec![
                created.sn.clone(),
                created.id.to_string(),
                opt(created.ticket_url.as_deref()),
            ]],
            &json!({"sn": created.sn, "id": created.id, "ticket_url": created.ticket_url}),
        );
    }
    eprintln!("bk: ticket {} created; waiting for it to end", created.sn);
    let done = client
        .itsm()
        .wait_ticket(&created.sn, &wait_options(m))
        .await
        .map_err(wait_failure)?;
    report_done(m, &done)
}

fn report_done(m: &ArgMatches, done: &TicketDone) -> Outcome {
    print_rows(
        m,
        &["sn", "status", "waited", "ticket_url"],
        &[vec![
            done.sn.clone(),
            done.status.to_string(),
            format!("{:.1?}", done.elapsed),
            opt(done.ticket_url.as_deref()),
        ]],
        &json!({
            "sn": done.sn,
            "status": done.status.to_string(),
            "seconds": done.elapsed.as_secs_f64(),
            "ticket_url": done.ticket_url,
        }),
    )?;
    if done.finished() {
        Ok(())
    } else {
        Err(Failure::Failed(format!(
            "ticket {} ended {}",
            done.sn, done.status
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(args: &[&str]) -> ArgMatches {
        let mut all = vec!["ticket", "create", "--service-id", "1"];
        all.extend_from_slice(args);
        let top = command().try_get_matches_from(all).unwrap();
        top.subcommand().unwrap().1.clone()
    }

    #[test]
    fn fields_merge_json_then_flags() {
        let got = fields(&m(&[
            "--fields",
            r#"{"title": "from json", "count": 3}"#,
            "--field",
            "title=from flag",
            "--field",
            "reason=a=b",
        ]))
        .unwrap();
        let pairs: Vec<(String, Value)> = got.into_iter().map(|f| (f.key, f.value)).collect();
        assert_eq!(
            pairs,
            // JSON object keys come in key order; a --field replaces in place.
            vec![
                ("count".to_string(), json!(3)),
                ("title".to_string(), json!("from flag")),
                ("reason".to_string(), json!("a=b")),
            ]
        );
    }

    #[test]
    fn bad_fields_are_usage_errors() {
        for args in [
            &["--field", "novalue"][..],
            &["--field", "=x"][..],
            &["--fields", "[1]"][..],
            &["--fields", "nope"][..],
            &[][..],
        ] {
            assert!(
                matches!(fields(&m(args)), Err(Failure::Usage(_))),
                "{args:?}"
            );
        }
    }
}
