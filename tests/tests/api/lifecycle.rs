//! Slow clients and stopping: a client that sends half its headers, or stalls its body, is
//! cut off; SIGTERM stops the gateway in order (readiness first, then the listener and the
//! WebSockets with 1001, then everything else) within its grace, even with a client that
//! never finishes its request.

use std::time::{Duration, Instant};

use gateway_tests::{Backend, Gateway, TestDatabase};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::alerts::STATUS_CHANGED;
use crate::helpers::{error_code, spawn_app_with};
use crate::ws_client::{Received, TRANSPORT, Ws};

fn host_port(address: &str) -> String {
    address.trim_start_matches("http://").to_owned()
}

/// Reads until the peer closes (or `within` passes); what was read.
async fn read_to_close(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return None,
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&received).into()),
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_half_its_headers_is_cut_off() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.http.header_timeout = Duration::from_millis(500);
    })
    .await;
    let mut stream = TcpStream::connect(host_port(&app.address)).await.unwrap();
    stream
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Ty")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_to_close(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "the connection was held open for 5 s");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stalls_is_answered_408() {
    let app = spawn_app_with(Backend::Sqlite, |s| {
        s.http.body_timeout = Duration::from_millis(500);
    })
    .await;
    let mut stream = TcpStream::connect(host_port(&app.address)).await.unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 100\r\nConnection: close\r\n\r\n{\"query\":",
        )
        .await
        .unwrap();
    let answer = read_to_close(&mut stream, Duration::from_secs(5))
        .await
        .expect("answered and closed within 5 s");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(error_code(&body), "REQUEST_TIMEOUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_in_order_within_the_grace_even_with_a_stalled_client() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let mut gateway = Gateway::start(&[
        ("DATABASE_URL", database.url.clone()),
        ("SHUTDOWN_GRACE_MS", "4000".into()),
        ("SHUTDOWN_READINESS_DELAY_MS", "1000".into()),
        ("SHUTDOWN_WS_SPREAD_MS", "500".into()),
        // Longer than the grace: only the deadline can end the stalled request.
        ("HTTP_HEADER_TIMEOUT_MS", "60000".into()),
        ("HTTP_BODY_TIMEOUT_MS", "60000".into()),
    ])
    .await
    .unwrap();
    let ws_url = format!("{}/graphql/ws", gateway.address.replace("http://", "ws://"));
    let mut subscriber = Ws::init(&ws_url, TRANSPORT, None).await;
    subscriber
        .subscribe(TRANSPORT, "s", STATUS_CHANGED, json!({}))
        .await;
    // A request whose body never finishes arriving.
    let mut stalled = TcpStream::connect(host_port(&gateway.address))
        .await
        .unwrap();
    stalled
        .write_all(b"POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        .await
        .unwrap();
    // Time for the server to take the stalled request up: a half-sent request shows
    // nothing a test can watch for (no log line, no answer), so this stays a wait.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let signalled = Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &gateway.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());

    // 1. Readiness goes first, while the listener still answers. The signal reaches the
    // process a moment after `kill` returns: a probe sent meanwhile may still read 200.
    let client = reqwest::Client::new();
    let ready = loop {
        let ready = client
            .get(format!("{}/readyz", gateway.admin))
            .send()
            .await
            .unwrap();
        if ready.status() != 200 || signalled.elapsed() > Duration::from_millis(900) {
            break ready;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(ready.status(), 503);
    assert_eq!(ready.json::<Value>().await.unwrap()["draining"], true);
    let readiness_at = signalled.elapsed();
    assert!(
        readiness_at < Duration::from_millis(900),
        "{readiness_at:?}"
    );

    // 2. After the readiness delay, the WebSocket is closed with 1001 within the spread.
    let closed = match subscriber.next(Duration::from_secs(5)).await {
        Received::Closed(code) => code,
        other => panic!("expected a close, got {other:?}"),
    };
    let closed_at = signalled.elapsed();
    assert_eq!(closed, 1001);
    assert!(
        closed_at >= Duration::from_millis(1000) && closed_at < Duration::from_millis(2500),
        "closed {closed_at:?} after SIGTERM"
    );

    // 3. The process exits by the grace's deadline, the stalled request notwithstanding.
    let exited_at = loop {
        if gateway.child.try_wait().unwrap().is_some() {
            break signalled.elapsed();
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(8),
            "still running 8 s after SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(exited_at > closed_at, "{exited_at:?} vs {closed_at:?}");
    assert!(
        exited_at < Duration::from_millis(5500),
        "exited {exited_at:?} after SIGTERM"
    );
    // The stalled client's connection went with it.
    assert!(
        read_to_close(&mut stalled, Duration::from_secs(2))
            .await
            .is_some()
    );
}
