//! The HTTP transport on the wire: TLS verification and its opt-out, the connect timeout
//! over the TLS handshake, bodies sent in several chunks and the size limit on them.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use bk_runtime::{RetryPolicy, TimeoutKind};
use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// A self-signed certificate for `localhost` and `127.0.0.1` (not in any root store).
const CERT: &[u8] = include_bytes!("tls/localhost-cert.pem");
const KEY: &[u8] = include_bytes!("tls/localhost-key.pem");

const ENVELOPE: &str = r#"{"result":true,"code":0,"message":"","data":{"ok":1},"request_id":"r"}"#;

/// Reads one request head (the tests send no body: `GET`).
async fn read_head<S: AsyncRead + Unpin>(sock: &mut S) -> bool {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    true
}

/// Serves every connection with `answer` (raw HTTP/1.1 response bytes), then closes it.
async fn serve_raw(answer: Vec<u8>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                if read_head(&mut sock).await {
                    let _ = write_slowly(&mut sock, &answer).await;
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Writes in small pieces with pauses, so that the client receives several chunks.
async fn write_slowly<S: AsyncWrite + Unpin>(sock: &mut S, bytes: &[u8]) -> std::io::Result<()> {
    for piece in bytes.chunks(64) {
        sock.write_all(piece).await?;
        sock.flush().await?;
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    sock.shutdown().await
}

/// A chunked response with `body` cut into chunks of 50 bytes.
fn chunked(body: &str) -> Vec<u8> {
    let mut out =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
            .to_vec();
    for piece in body.as_bytes().chunks(50) {
        out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        out.extend_from_slice(piece);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

fn client(url: &str) -> bk_runtime::ClientBuilder {
    bk_runtime::Client::builder()
        .endpoint(url)
        .app_code(APP_CODE)
        .app_secret(APP_SECRET)
        .retry_policy(RetryPolicy::disabled())
}

#[tokio::test]
async fn body_in_many_chunks_is_read_whole() {
    let long = "x".repeat(3_000);
    let body = json!({"result": true, "code": 0, "message": "", "data": {"s": long}}).to_string();
    let url = serve_raw(chunked(&body)).await;
    let data: Value = client(&url)
        .build()
        .unwrap()
        .send(&GET_API, &json!({}))
        .await
        .unwrap();
    assert_eq!(data["s"].as_str().map(str::len), Some(3_000));
}

#[tokio::test]
async fn undeclared_oversized_body_is_rejected_while_reading() {
    // No Content-Length: the limit is enforced on the chunks as they arrive.
    let body = json!({"result": true, "code": 0, "data": "y".repeat(5_000)}).to_string();
    let url = serve_raw(chunked(&body)).await;
    let e = client(&url)
        .max_response_bytes(1_000)
        .build()
        .unwrap()
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    let (possibly_sent, message) = transport_failure(&e);
    assert!(possibly_sent);
    assert!(
        message.contains("exceeds the limit of 1000 bytes"),
        "{message}"
    );
}

/// A TLS server with the self-signed certificate answering [`ENVELOPE`].
async fn serve_tls() -> String {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(CERT)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(KEY).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(sock).await else {
                    return;
                };
                if read_head(&mut tls).await {
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{ENVELOPE}",
                        ENVELOPE.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                }
            });
        }
    });
    format!("https://localhost:{}", addr.port())
}

#[tokio::test]
async fn tls_certificates_are_verified_by_default() {
    let url = serve_tls().await;
    let e = client(&url)
        .build()
        .unwrap()
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    let (possibly_sent, message) = transport_failure(&e);
    // The handshake is part of connecting: nothing was sent.
    assert!(!possibly_sent, "{e}");
    assert!(message.contains("certificate"), "{message}");
}

#[tokio::test]
async fn danger_accept_invalid_certs_accepts_a_self_signed_server() {
    let url = serve_tls().await;
    let data: Value = client(&url)
        .danger_accept_invalid_certs(true)
        .build()
        .unwrap()
        .send(&GET_API, &json!({}))
        .await
        .unwrap();
    assert_eq!(data, json!({"ok": 1}));
}

#[tokio::test]
async fn connect_timeout_covers_the_tls_handshake() {
    // TCP connects at once, but the server never answers the TLS ClientHello.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    let e = client(&format!("https://127.0.0.1:{}", addr.port()))
        .connect_timeout(Duration::from_millis(200))
        .build()
        .unwrap()
        .send::<_, Value>(&GET_API, &json!({}))
        .await
        .unwrap_err();
    assert_eq!(
        timeout_of(&e),
        (TimeoutKind::Connect, Duration::from_millis(200))
    );
}
