//! bk_login (users, login tickets) and bk_paas (`get_app_info`).
//!
//! The users are the configured default user (a super administrator) and a fixed list of
//! colleagues ([`super::topo::USERS`]). `bk_token`s are issued by [`State::issue_token`] and
//! checked by `is_login` and the protocol layer's user auth.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use serde_json::{json, Map, Value};
use sha1::Sha1;

use super::params::{self, ParamError};
use super::topo::USERS;
use super::{Call, Outcome, State, StateConfig};

/// Code of an unknown user or invalid token (the ESB's generic code).
pub const LOGIN_ERROR: i64 = 1306000;

/// One user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Login name.
    pub username: String,
    /// Display name.
    pub chname: String,
    /// Platform role (0 ordinary, 1 super admin, 2 developer, 3 functional, 4 auditor).
    pub role: i64,
    /// Email.
    pub email: String,
    /// Phone.
    pub phone: String,
    /// QQ.
    pub qq: String,
}

impl User {
    fn v2(&self) -> Value {
        json!({
            "bk_username": self.username,
            "qq": self.qq,
            "bk_role": self.role,
            "language": "zh-cn",
            "phone": self.phone,
            "wx_userid": "",
            "email": self.email,
            "chname": self.chname,
            "time_zone": "Asia/Shanghai",
        })
    }

    fn legacy(&self) -> Value {
        json!({
            "username": self.username,
            "qq": self.qq,
            "phone": self.phone,
            "role": self.role.to_string(),
            "email": self.email,
            "chname": self.chname,
        })
    }
}

/// Users and issued tokens.
#[derive(Debug)]
pub struct LoginState {
    users: Vec<User>,
    tokens: Mutex<HashMap<String, String>>,
    counter: Mutex<u64>,
}

impl LoginState {
    /// The users of `cfg`.
    pub fn new(cfg: &StateConfig) -> LoginState {
        let mut users = vec![User {
            username: cfg.username.clone(),
            chname: cfg.username.clone(),
            role: 1,
            email: format!("{}@bk-sim.invalid", cfg.username),
            phone: "13800000000".into(),
            qq: "10000".into(),
        }];
        let names = ["Alice", "Bob", "Carol", "Dave", "Erin", "Frank"];
        for (i, u) in USERS.iter().enumerate() {
            if *u == cfg.username {
                continue;
            }
            users.push(User {
                username: (*u).to_string(),
                chname: names.get(i).copied().unwrap_or(u).to_string(),
                role: [0, 2, 3, 0, 4, 2][i % 6],
                email: format!("{u}@bk-sim.invalid"),
                phone: format!("138000000{:02}", i + 1),
                qq: format!("{}", 10001 + i),
            });
        }
        LoginState {
            users,
            tokens: Mutex::new(HashMap::new()),
            counter: Mutex::new(0),
        }
    }

    /// Issues a token for `username`.
    pub fn issue_token(&self, seed: u64, username: &str) -> String {
        let n = {
            let mut c = self.counter.lock().unwrap_or_else(|e| e.into_inner());
            *c += 1;
            *c
        };
        let key = format!("bk-sim-login-{seed}");
        let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(key.as_bytes()).expect("any key length");
        mac.update(format!("{username}\n{n}\n{}", super::time::now_ms()).as_bytes());
        let token = format!("bksim-{}", hex::encode(mac.finalize().into_bytes()));
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), username.to_string());
        token
    }

    /// The owner of a token.
    pub fn token_user(&self, token: &str) -> Option<String> {
        self.tokens
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
            .cloned()
    }

    fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.username == name)
    }
}

fn invalid(e: ParamError) -> Outcome {
    Outcome::error(LOGIN_ERROR, e.to_string())
}

macro_rules! tryp {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return invalid(e),
        }
    };
}

/// Dispatches the bk_login and bk_paas APIs handled here.
pub fn handle(state: &State, call: &Call<'_>) -> Option<Outcome> {
    match (call.component, call.api) {
        ("bk_login", "is_login" | "get_user" | "get_all_users" | "get_all_user")
        | ("bk_login", "get_batch_users" | "get_batch_user" | "get_batch_users_platform_role")
        | ("bk_paas", "get_app_info") => Some(answer(state, call)),
        _ => None,
    }
}

fn answer(state: &State, call: &Call<'_>) -> Outcome {
    let p = call.params;
    let login = &state.inner.login;
    match (call.component, call.api) {
        ("bk_login", "is_login") => {
            let token = tryp!(params::req_str(p, "bk_token"));
            match login.token_user(&token) {
                Some(u) => Outcome::Data(json!({"bk_username": u})),
                None => Outcome::error(LOGIN_ERROR, "bk_token is invalid or has expired"),
            }
        }
        ("bk_login", "get_user") => {
            let name = tryp!(params::opt_str(p, "bk_username"))
                .filter(|s| !s.is_empty())
                .or_else(|| call.username.map(str::to_string))
                .unwrap_or_else(|| state.inner.cfg.username.clone());
            match login.user(&name) {
                Some(u) => Outcome::Data(u.v2()),
                None => Outcome::error(LOGIN_ERROR, format!("user {name} does not exist")),
            }
        }
        ("bk_login", "get_all_users") => {
            let role = tryp!(params::opt_i64(p, "bk_role"));
            Outcome::Data(Value::Array(
                login
                    .users
                    .iter()
                    .filter(|u| role.is_none_or(|r| r == u.role))
                    .map(User::v2)
                    .collect(),
            ))
        }
        ("bk_login", "get_all_user") => {
            let role = tryp!(params::opt_i64(p, "role"));
            Outcome::Data(Value::Array(
                login
                    .users
                    .iter()
                    .filter(|u| role.is_none_or(|r| r == u.role))
                    .map(User::legacy)
                    .collect(),
            ))
        }
        ("bk_login", "get_batch_users") => {
            let names = tryp!(params::opt_str_list(p, "bk_username_list"));
            let Some(names) = names else {
                return invalid(ParamError::new("bk_username_list", "is required"));
            };
            let mut m = Map::new();
            for n in names {
                if let Some(u) = login.user(&n) {
                    m.insert(n, u.v2());
                }
            }
            Outcome::Data(Value::Object(m))
        }
        ("bk_login", "get_batch_user") => {
            let names = tryp!(params::req_str(p, "username_list"));
            let mut m = Map::new();
            for n in names.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                if let Some(u) = login.user(n) {
                    m.insert(n.to_string(), u.legacy());
                }
            }
            Outcome::Data(Value::Object(m))
        }
        ("bk_login", "get_batch_users_platform_role") => {
            let names = tryp!(params::opt_str_list(p, "bk_username_list")).unwrap_or_default();
            let mut m = Map::new();
            for n in names {
                if let Some(u) = login.user(&n) {
                    m.insert(n, json!({"bk_job": [u.role], "bk_cmdb": [u.role]}));
                }
            }
            Outcome::Data(Value::Object(m))
        }
        ("bk_paas", "get_app_info") => get_app_info(state, p),
        _ => Outcome::error(LOGIN_ERROR, "not a login API"),
    }
}

fn get_app_info(state: &State, p: &Value) -> Outcome {
    let admin = state.inner.cfg.username.clone();
    let apps: Vec<(&str, &str, &str)> = vec![
        (
            "bk-sim-demo",
            "bk-sim demo app",
            "The app the simulator knows by default.",
        ),
        ("bk_cmdb", "配置平台", "Configuration management database."),
        ("bk_job", "作业平台", "Script execution and file transfer."),
        ("bk_itsm", "流程服务", "IT service management."),
        ("bk_sops", "标准运维", "Standard operations."),
        ("bk_monitorv3", "监控平台", "Monitoring."),
        ("bk_log_search", "日志平台", "Log search."),
    ];
    let wanted: Option<Vec<String>> = match params::opt_str(p, "target_app_code") {
        Ok(Some(s)) if !s.trim().is_empty() => Some(
            s.split(';')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect(),
        ),
        Ok(_) => None,
        Err(e) => return invalid(e),
    };
    let fields: Vec<String> = match params::opt_str(p, "fields") {
        Ok(Some(s)) if !s.trim().is_empty() => s
            .split(';')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect(),
        Ok(_) => vec!["bk_app_code".into(), "bk_app_name".into()],
        Err(e) => return invalid(e),
    };
    let list: Vec<Value> = apps
        .iter()
        .filter(|(code, _, _)| wanted.as_ref().is_none_or(|w| w.iter().any(|x| x == code)))
        .map(|(code, name, intro)| {
            let full = json!({
                "bk_app_code": code,
                "bk_app_name": name,
                "introduction": intro,
                "creator": admin,
                "developer": admin,
            });
            let mut m = Map::new();
            m.insert("bk_app_code".into(), json!(code));
            for f in &fields {
                if let Some(v) = full.get(f) {
                    m.insert(f.clone(), v.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    Outcome::Data(Value::Array(list))
}
