//! Shared by the `cli_*` tests: a bk-sim on 127.0.0.1:0 in a Tokio runtime of the test, and
//! the built `bk` run against it with a clean environment.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use bk_sim::{SimConfig, StateConfig};

pub struct Env {
    pub sim: bk_sim::Sim,
    pub dir: tempfile::TempDir,
    // Last: the simulator's tasks run on it.
    pub rt: tokio::runtime::Runtime,
}

impl Env {
    /// A simulator with `hosts` CMDB hosts.
    pub fn new(hosts: usize) -> Env {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let sim = {
            let _g = rt.enter();
            bk_sim::spawn(SimConfig {
                state: StateConfig {
                    hosts,
                    ..StateConfig::default()
                },
                ..SimConfig::default()
            })
            .expect("sim starts")
        };
        Env {
            sim,
            dir: tempfile::tempdir().expect("temp dir"),
            rt,
        }
    }

    /// The profile file of this test (absent until written).
    pub fn config_file(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// `bk` with nothing but `BK_CONFIG_FILE` in its environment.
    pub fn bare(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bk"));
        c.env_clear()
            .env("BK_CONFIG_FILE", self.config_file())
            .stdin(Stdio::null());
        c
    }

    /// `bk` with the simulator's endpoint, app and user in its environment.
    pub fn cmd(&self) -> Command {
        let h = self.sim.handle();
        let mut c = self.bare();
        c.env("BK_COMPONENT_API_URL", self.sim.url())
            .env("BK_APP_CODE", h.app_code())
            .env("BK_APP_SECRET", h.app_secret())
            .env("BK_USERNAME", "admin");
        c
    }

    /// Runs `bk args...` against the simulator.
    pub fn bk(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().expect("bk runs"))
    }

    /// A file in the test's directory.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    }
}

/// Runs `cmd` with `input` on its standard input.
pub fn run_with_input(cmd: &mut Command, input: &str) -> Run {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bk runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    Run::from(child.wait_with_output().expect("bk ends"))
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

impl Run {
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "bk failed: {self:#?}");
        self
    }

    #[track_caller]
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {self:#?}"))
    }
}
