//! An answer sent before the request body was read whole ends its connection
//! (`Connection: close`, then a gentle close), so a keep-alive client never writes its
//! next request into a connection the gateway has given up.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::on_both_databases;

/// Over the tests' MAX_BODY_BYTES (64 KiB).
const OVERSIZED: usize = 400 * 1024;

fn host_port(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Why a connection did not end cleanly.
#[derive(Debug, thiserror::Error)]
enum NotClosed {
    #[error("still open after {0:?}")]
    StillOpen(Duration),
    #[error("{error} after {received:?}")]
    Reset {
        error: std::io::Error,
        received: Vec<u8>,
    },
}

/// Reads until the gateway closes (a reset is an error) or `within` passes.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<String, NotClosed> {
    let mut received = Vec::new();
    let mut buffer = [0_u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return Err(NotClosed::StillOpen(within)),
            Ok(Err(error)) => return Err(NotClosed::Reset { error, received }),
            Ok(Ok(0)) => return Ok(String::from_utf8_lossy(&received).into_owned()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

async fn a_keep_alive_client_survives_oversized_bodies(backend: Backend) {
    let app = spawn_app(backend).await;
    // One connection at a time, kept alive between requests, as a server-side SPA's agent.
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(1)
        .http1_only()
        .build()
        .unwrap();
    let oversized =
        json!({ "query": format!("{{ __typename }} #{}", "x".repeat(OVERSIZED)) }).to_string();
    for round in 0..200 {
        let refused = client
            .post(app.graphql_url())
            .header("content-type", "application/json")
            .body(oversized.clone())
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: the oversized request failed: {e}"));
        assert_eq!(
            refused.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "round {round}"
        );
        assert_eq!(refused.headers()["connection"], "close", "round {round}");
        let body: Value = refused.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "PAYLOAD_TOO_LARGE");
        let answered = client
            .post(app.graphql_url())
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap_or_else(|e| panic!("round {round}: the next request failed: {e}"));
        assert_eq!(answered.status(), StatusCode::OK, "round {round}");
        // A body read whole keeps its connection.
        assert!(
            answered.headers().get("connection").is_none(),
            "round {round}"
        );
        let body: Value = answered.json().await.unwrap();
        assert_eq!(body["data"]["__typename"], "Query");
    }
}
on_both_databases!(a_keep_alive_client_survives_oversized_bodies);

async fn a_declared_length_over_the_limit_is_refused_before_continue(backend: Backend) {
    let app = spawn_app(backend).await;
    for round in 0..200 {
        let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
        stream
            .write_all(
                format!(
                    "POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
                     Content-Length: {OVERSIZED}\r\nExpect: 100-continue\r\n\r\n"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        // No body is sent: a 413 must come from the header alone, and the connection end.
        let answer = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(
            answer.starts_with("HTTP/1.1 413"),
            "round {round}: {answer}"
        );
        assert!(!answer.contains("100 Continue"), "round {round}: {answer}");
        assert!(
            answer.to_ascii_lowercase().contains("connection: close"),
            "{answer}"
        );
    }
    // Even an absurd length is refused from the header, not held.
    let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
              Content-Length: 99999999999\r\n\r\n{",
        )
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
}
on_both_databases!(a_declared_length_over_the_limit_is_refused_before_continue);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_cut_at_the_limit_is_answered_and_closed_without_a_reset() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
              Transfer-Encoding: chunked\r\n\r\n",
        )
        .await
        .unwrap();
    // 128 KiB in 8 KiB chunks: the limit is met half-way, and the client goes on writing
    // what it had started, as a real one does, before it reads the answer.
    let chunk = format!("2000\r\n{}\r\n", "x".repeat(0x2000));
    for _ in 0..16 {
        if stream.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let answer = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("connection: close"),
        "{answer}"
    );
    assert!(answer.contains("PAYLOAD_TOO_LARGE"), "{answer}");
}
