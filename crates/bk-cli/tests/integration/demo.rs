//! The README's first command: `bk demo` walks the whole integration story against the
//! embedded simulator and succeeds.

use std::process::Command;

#[test]
fn demo_runs_the_whole_story() {
    let out = Command::new(env!("CARGO_BIN_EXE_bk"))
        .args(["demo", "--hosts", "2000", "--seed", "7"])
        .env_clear()
        .output()
        .expect("run bk demo");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "bk demo failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("synced 2000 hosts"), "{stdout}");
    assert!(stdout.contains("lookup 0:"), "{stdout}");
    assert!(
        stdout.contains("mainline model: biz -> set -> module -> host"),
        "{stdout}"
    );
    assert!(stdout.contains("agents online"), "{stdout}");
    // One host is made to fail on purpose: its log must be shown.
    assert!(stdout.contains("1 host(s) failed"), "{stdout}");
    assert!(stdout.contains("log of failed host"), "{stdout}");
    // The script went out as plain text through `script_content_text` and comes back in the log.
    assert!(
        stdout.contains("echo \"disk usage on $(hostname)\""),
        "{stdout}"
    );
    assert!(stdout.contains("verified callback"), "{stdout}");
    assert!(stdout.contains("approve_result true"), "{stdout}");
    assert!(
        stdout.contains("(terminal: true, approved: true)"),
        "{stdout}"
    );
}
