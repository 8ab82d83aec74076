//! Shell completions and `--help` texts.

use std::process::Command;

fn bk(args: &[&str]) -> (i32, String, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_bk"))
        .args(args)
        .env_clear()
        .output()
        .expect("bk runs");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn completions_cover_the_generated_commands() {
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = bk(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(out.len() > 1000, "{shell}: {} bytes", out.len());
        assert!(out.contains("list_biz_hosts_topo"), "{shell}");
        assert!(out.contains("bk-biz-id"), "{shell}");
    }
    let (code, _, _) = bk(&["completions", "tcsh"]);
    assert_eq!(code, 2);
}

#[test]
fn help_documents_precedence_and_apis() {
    let (code, out, _) = bk(&["--help"]);
    assert_eq!(code, 0);
    for needle in [
        "flags: --endpoint",
        "environment: BK_COMPONENT_API_URL",
        "config.toml",
        "Exit codes: 0 success, 1 API or network error",
        "2 usage or configuration error",
        "bk topo sync",
        "topo ",
        "agent ",
        "ticket ",
        "cc ",
        "bk_login",
        "configure",
        "completions",
        "sim",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }

    let (code, out, _) = bk(&["cc", "list-biz-hosts-topo", "--help"]);
    assert_eq!(code, 0);
    for needle in [
        "List the hosts of a business",
        "POST /api/c/compapi/v2/cc/list_biz_hosts_topo/",
        "--bk-biz-id <INT>",
        "[integer, required]",
        "--page-all",
        "Required: --bk-biz-id, --page, --fields",
    ] {
        assert!(out.contains(needle), "{needle:?} not in:\n{out}");
    }

    let (code, out, _) = bk(&["bk_login", "get_user", "--help"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("GET /api/c/compapi/v2/bk_login/get_user/"),
        "{out}"
    );

    // `bk cc` alone lists its APIs.
    let (code, _, err) = bk(&["cc"]);
    assert_eq!(code, 2);
    assert!(err.contains("search_business"), "{err}");
}
