//! `bk sim serve` end to end: the export lines come first, and the token they name logs in.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[test]
fn serve_prints_exports_then_answers() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bk"))
        .args([
            "sim",
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--hosts",
            "20",
            "--seed",
            "1",
            "--fault",
            "gse.*@503:0.5",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("bk runs");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut vars = Vec::new();
    for name in [
        "BK_COMPONENT_API_URL",
        "BK_APP_CODE",
        "BK_APP_SECRET",
        "BK_USERNAME",
        "BK_TOKEN",
    ] {
        let mut line = String::new();
        out.read_line(&mut line).expect("line");
        let prefix = format!("export {name}=");
        assert!(line.starts_with(&prefix), "{line:?}");
        vars.push(
            line[prefix.len()..]
                .trim_end()
                .trim_matches('\'')
                .to_string(),
        );
    }
    assert!(vars[0].starts_with("http://127.0.0.1:"));
    assert_eq!(vars[3], "admin");

    let addr = vars[0].trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!(
        "GET /api/c/compapi/v2/bk_login/is_login/?bk_app_code={}&bk_app_secret={}&bk_token={} \
         HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        pct(&vars[1]),
        pct(&vars[2]),
        pct(&vars[4])
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("\"result\":true"), "{resp}");
    assert!(resp.contains("\"bk_username\":\"admin\""), "{resp}");
}
