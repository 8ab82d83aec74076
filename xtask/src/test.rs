//! `cargo xtask test`: the README's test command. Prepares what the tests need that cargo
//! cannot fetch (a Python virtualenv with the official SDK, for the interoperability test
//! against bk-sim), then runs the whole workspace's tests.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The official Python SDK the interoperability test drives bk-sim with.
const PYTHON_PACKAGES: &[&str] = &["bkapi-client-core==1.2.0"];

/// Creates `.venv` with the packages, once; returns its python.
pub fn python_venv(root: &Path) -> Result<PathBuf, String> {
    let venv = root.join(".venv");
    let python = venv.join("bin/python");
    let marker = venv.join(".blueking-rs-packages");
    let wanted = PYTHON_PACKAGES.join("\n");
    if std::fs::read_to_string(&marker).ok().as_deref() == Some(wanted.as_str()) && python.exists()
    {
        return Ok(python);
    }
    run(
        Command::new("python3").args(["-m", "venv"]).arg(&venv),
        "create the Python virtualenv (python3 -m venv)",
    )?;
    run(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(PYTHON_PACKAGES),
        "install the official Python SDK with pip",
    )?;
    std::fs::write(&marker, wanted)
        .map_err(|e| format!("cannot write {}: {e}", marker.display()))?;
    Ok(python)
}

fn run(cmd: &mut Command, what: &str) -> Result<(), String> {
    let status = cmd.status().map_err(|e| format!("cannot {what}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("could not {what} ({status})"))
    }
}

/// Runs `cargo test --workspace` with the virtualenv's python exported for the tests.
pub fn run_tests(root: &Path, extra: &[String]) -> Result<(), String> {
    let python = python_venv(root)?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(
        Command::new(cargo)
            .current_dir(root)
            .env("BK_TEST_PYTHON", &python)
            .args(["test", "--workspace"])
            .args(extra),
        "run the workspace tests",
    )
}
