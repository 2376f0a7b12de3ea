//! The fleet behind a real load balancer: Debian's HAProxy, with the project's own
//! `deploy/haproxy.cfg`, in front of two instances on one PostgreSQL and Redis. HTTP and
//! WebSocket go through it; runners' sockets spread over both; one instance told to stop
//! (SIGTERM) fails its readiness first, so the balancer stops sending to it before it
//! closes, and no request through the balancer meanwhile gets a 5xx; its runners, closed
//! with 1001, reconnect through the balancer, replay from their cursor, and hear the
//! cancellation made while they moved.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use gateway_tests::haproxy::Haproxy;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::alerts_cluster::{demo_database, instance};
use crate::helpers::marathon;

const RUNNERS: usize = 20;

/// A runner's page through the balancer: subscribes to the marathon's status changes
/// after `cursor` (a status change id), reconnecting whenever its socket closes, until it
/// hears a cancellation; returns the instances it was served by (from its close codes).
async fn page(ws_url: String, event: String, cursor: String, within: Duration) -> Option<u32> {
    let deadline = tokio::time::Instant::now() + within;
    let mut closes = 0;
    let mut cursor = cursor;
    loop {
        let mut request = ws_url.clone().into_client_request().ok()?;
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().ok()?,
        );
        let Ok((mut socket, _)) = tokio_tungstenite::connect_async(request).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let init = json!({ "type": "connection_init" }).to_string();
        socket.send(Message::Text(init.into())).await.ok()?;
        let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
            "query": "subscription($e: ID, $a: String) { eventStatusChanged(eventId: $e, after: $a) { id status } }",
            "variables": { "e": event, "a": cursor } } });
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .ok()?;
        loop {
            let next = tokio::time::timeout_at(deadline, socket.next())
                .await
                .ok()?;
            match next {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).ok()?;
                    if value["type"] == "next" {
                        let change = &value["payload"]["data"]["eventStatusChanged"];
                        cursor = change["id"].as_str()?.to_owned();
                        if change["status"] == "CANCELLED" {
                            return Some(closes);
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    closes += 1;
                    break;
                }
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_haproxy_a_stopping_instance_costs_no_request_and_no_runner() {
    let (database, organizer) = demo_database().await;
    let prefix = crate::helpers::unique_name("gwlb");
    let env = [
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("SHUTDOWN_READINESS_DELAY_MS", "1500"),
        ("SHUTDOWN_WS_SPREAD_MS", "500"),
    ];
    let mut a = instance(&database, "redis://127.0.0.1:6379", &prefix, &env).await;
    let b = instance(&database, "redis://127.0.0.1:6379", &prefix, &env).await;
    let lb = Haproxy::start(&a, &b).await.expect("haproxy in front");
    let client = reqwest::Client::new();
    let query = |q: &'static str, v: Value, token: Option<&str>| {
        let mut request = client
            .post(format!("{}/graphql", lb.address))
            .json(&json!({ "query": q, "variables": v }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request
    };
    let body: Value = query(
        "query($s: String!) { eventBySlug(slug: $s) { id statusHistory { id } } }",
        json!({ "s": marathon() }),
        None,
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let event = body["data"]["eventBySlug"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cursor = body["data"]["eventBySlug"]["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["id"].as_str()?.parse::<i64>().ok())
        .max()
        .unwrap_or(0)
        .to_string();

    let pages: Vec<_> = (0..RUNNERS)
        .map(|_| {
            tokio::spawn(page(
                lb.ws_url(),
                event.clone(),
                cursor.clone(),
                Duration::from_secs(60),
            ))
        })
        .collect();
    // Both instances hold sockets: the balancer spreads them (leastconn).
    let sockets = |g: &gateway_tests::Gateway| {
        let url = format!("{}/metrics", g.admin);
        let client = client.clone();
        async move {
            let text = client.get(url).send().await.ok()?.text().await.ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("gateway_websocket_connections "))
                .and_then(|v| v.trim().parse::<f64>().ok())
        }
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (on_a, on_b) = (
            sockets(&a).await.unwrap_or(0.0),
            sockets(&b).await.unwrap_or(0.0),
        );
        if on_a + on_b >= RUNNERS as f64 {
            assert!(on_a >= 1.0 && on_b >= 1.0, "spread: {on_a} and {on_b}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{on_a} + {on_b} sockets"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Requests keep coming through the balancer while A stops.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = tokio::spawn({
        let (client, url, stop) = (
            client.clone(),
            format!("{}/graphql", lb.address),
            stop.clone(),
        );
        async move {
            let mut statuses = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let status = client
                    .post(&url)
                    .json(&json!({ "query": "{ events(first: 1) { edges { cursor } } }" }))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                statuses.push(status);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            statuses
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = a.pid().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    let exited = tokio::task::spawn_blocking(move || a.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(exited.success(), "A stopped cleanly: {exited}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let statuses = traffic.await.unwrap();
    assert!(statuses.len() > 50, "{} requests", statuses.len());
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        statuses.len()
    );

    // Changed through the balancer while A's runners moved: every page hears it.
    let body: Value = query(
        "mutation($i: ChangeEventStatusInput!) { changeEventStatus(input: $i) { status } }",
        json!({ "i": { "eventId": event, "status": "CANCELLED", "reason": "Public events are banned" } }),
        Some(&organizer),
    )
    .send()
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(
        body["data"]["changeEventStatus"]["status"], "CANCELLED",
        "{body}"
    );
    let mut moved = 0;
    for page in pages {
        let closes = page
            .await
            .unwrap()
            .expect("every runner hears the cancellation");
        moved += usize::from(closes > 0);
    }
    assert!(moved >= 1, "some runners were on A and moved");
    lb.stop().await;
    drop((b, database));
}

/// What one socket on a draining instance saw: when the cancellation arrived, and when the
/// instance closed it.
#[derive(Debug, Default)]
struct Drained {
    told: Option<tokio::time::Instant>,
    closed: Option<tokio::time::Instant>,
}

/// A subscriber to the marathon's status changes from now on, straight to `ws_url`, that
/// notes when it hears a cancellation and when its socket is closed.
async fn watch_until_closed(ws_url: String, event: String, within: Duration) -> Drained {
    let mut seen = Drained::default();
    let mut request = ws_url.into_client_request().unwrap();
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    let init = json!({ "type": "connection_init" }).to_string();
    socket.send(Message::Text(init.into())).await.unwrap();
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": {
        "query": "subscription($e: ID) { eventStatusChanged(eventId: $e) { status } }",
        "variables": { "e": event } } });
    socket
        .send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, socket.next()).await {
            Ok(Some(Ok(Message::Text(text)))) => {
                let value: Value = serde_json::from_str(&text).unwrap();
                if value["type"] == "next"
                    && value["payload"]["data"]["eventStatusChanged"]["status"] == "CANCELLED"
                {
                    seen.told.get_or_insert_with(tokio::time::Instant::now);
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) => {
                seen.closed = Some(tokio::time::Instant::now());
                return seen;
            }
            Ok(Some(Ok(_))) => {}
            Err(_) => return seen,
        }
    }
}

/// An instance told to stop closes its sockets at moments spread over a window, and until
/// it closes one it still tells that runner: a change made on another instance during the
/// drain reaches every socket still open (the live feed stops after the last socket, not
/// with the listener). Before, the feed stopped with the listener and those runners heard
/// only after reconnecting, all at once, on the survivor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_instance_still_tells_the_runners_it_holds() {
    let (database, organizer) = demo_database().await;
    let prefix = crate::helpers::unique_name("gwdrain");
    let env = [
        ("SHUTDOWN_READINESS_DELAY_MS", "200"),
        ("SHUTDOWN_WS_SPREAD_MS", "12000"),
        ("SHUTDOWN_GRACE_MS", "20000"),
    ];
    let mut a = instance(&database, "redis://127.0.0.1:6379", &prefix, &env).await;
    let b = instance(&database, "redis://127.0.0.1:6379", &prefix, &env).await;
    let client = reqwest::Client::new();
    let body: Value = client
        .post(format!("{}/graphql", b.address))
        .json(
            &json!({ "query": "query($s: String!) { eventBySlug(slug: $s) { id } }",
            "variables": { "s": marathon() } }),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let event = body["data"]["eventBySlug"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let ws_url = format!("{}/graphql/ws", a.address.replace("http://", "ws://"));
    let sockets: Vec<_> = (0..12)
        .map(|_| {
            tokio::spawn(watch_until_closed(
                ws_url.clone(),
                event.clone(),
                Duration::from_secs(30),
            ))
        })
        .collect();
    // Every socket subscribed on A before it is told to stop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let page = reqwest::get(format!("{}/metrics", a.admin))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let live = page
            .lines()
            .find_map(|l| {
                l.strip_prefix("gateway_subscriptions ")?
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or(0.0);
        if live >= 12.0 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{live} subscribed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::process::Command::new("kill")
        .args(["-TERM", &a.pid().to_string()])
        .status()
        .unwrap();
    // Past the readiness delay: A's listener is closed and its sockets are closing.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let body: Value = client
        .post(format!("{}/graphql", b.address))
        .bearer_auth(&organizer)
        .json(&json!({ "query": "mutation($i: ChangeEventStatusInput!) { changeEventStatus(input: $i) { status } }",
            "variables": { "i": { "eventId": event, "status": "CANCELLED", "reason": "Public events are banned" } } }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let committed = tokio::time::Instant::now();
    assert_eq!(
        body["data"]["changeEventStatus"]["status"], "CANCELLED",
        "{body}"
    );
    let mut open_at_the_change = 0;
    for socket in sockets {
        let seen = socket.await.unwrap();
        let closed = seen.closed.expect("A closed every socket");
        // Still open well after the change: it must have been told, before its close.
        if closed > committed + Duration::from_millis(500) {
            open_at_the_change += 1;
            let told = seen.told.unwrap_or_else(|| {
                panic!("an open socket on the draining instance was not told: {seen:?}")
            });
            assert!(told < closed, "{seen:?}");
        }
    }
    assert!(
        open_at_the_change > 0,
        "no socket was still open at the change"
    );
    let _ = tokio::task::spawn_blocking(move || a.child.wait()).await;
    drop((b, database));
}
