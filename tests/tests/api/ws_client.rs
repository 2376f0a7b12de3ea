//! A small GraphQL-over-WebSocket client for the tests: either protocol, JSON in and out,
//! close codes observable.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub struct Ws {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    /// The protocol the server chose: [`Ws::settle`] speaks it.
    protocol: String,
    /// Settle steps taken, for the legacy protocol's operation ids.
    settled: usize,
}

pub const TRANSPORT: &str = "graphql-transport-ws";
pub const LEGACY: &str = "graphql-ws";

/// What the server did next.
#[derive(Debug)]
pub enum Received {
    Json(Value),
    Closed(u16),
    Nothing,
}

impl Ws {
    pub async fn connect(url: &str, protocol: &str) -> Self {
        let mut request = url.into_client_request().unwrap();
        request
            .headers_mut()
            .insert("sec-websocket-protocol", protocol.parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(request)
            .await
            .expect("websocket connects");
        assert_eq!(response.headers()["sec-websocket-protocol"], protocol);
        Self::over(socket, protocol)
    }

    fn over(
        socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
        protocol: &str,
    ) -> Self {
        Self {
            socket,
            protocol: protocol.to_owned(),
            settled: 0,
        }
    }

    /// Tries to connect offering `protocols` (none: no header); on refusal, the HTTP status,
    /// `Retry-After` and body.
    pub async fn try_connect(
        url: &str,
        protocols: &[&str],
    ) -> Result<Self, (u16, Option<String>, Value)> {
        let mut request = url.into_client_request().unwrap();
        if !protocols.is_empty() {
            request.headers_mut().insert(
                "sec-websocket-protocol",
                protocols.join(", ").parse().unwrap(),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((socket, response)) => {
                let chosen = response
                    .headers()
                    .get("sec-websocket-protocol")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or(TRANSPORT)
                    .to_owned();
                Ok(Self::over(socket, &chosen))
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .map(|v| v.to_str().unwrap().to_owned());
                let body = response
                    .body()
                    .as_ref()
                    .map(|b| serde_json::from_slice(b).unwrap_or(Value::Null))
                    .unwrap_or(Value::Null);
                Err((status, retry_after, body))
            }
            Err(other) => panic!("websocket connection failed: {other}"),
        }
    }

    /// Sends a text message of `bytes` bytes from its own task (the server may stop
    /// reading part-way) and returns the close code the server answers with.
    pub async fn send_oversized(self, bytes: usize) -> Option<u16> {
        let (mut sink, mut stream) = self.socket.split();
        let sending = tokio::spawn(async move {
            let _ = sink.send(Message::Text("x".repeat(bytes).into())).await;
        });
        let code = loop {
            match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) | Err(_) => break None,
            }
        };
        sending.abort();
        code
    }

    /// Closes normally (1000) and returns what the server answered: its close frame's
    /// code, or `None` if the connection just ended (RFC 6455 wants a close back).
    pub async fn close_normally(mut self) -> Option<u16> {
        use tokio_tungstenite::tungstenite::protocol::CloseFrame;
        use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
        self.socket
            .send(Message::Close(Some(CloseFrame {
                code: CloseCode::Normal,
                reason: "done".into(),
            })))
            .await
            .ok()?;
        loop {
            match tokio::time::timeout(Duration::from_secs(5), self.socket.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => {
                    return frame.map(|f| u16::from(f.code));
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_)) | None) | Err(_) => return None,
            }
        }
    }

    /// Connects and completes `connection_init` (with a bearer token, if given).
    pub async fn init(url: &str, protocol: &str, token: Option<&str>) -> Self {
        let mut ws = Self::connect(url, protocol).await;
        let payload = match token {
            Some(token) => json!({ "authorization": format!("Bearer {token}") }),
            None => json!({}),
        };
        ws.send(json!({ "type": "connection_init", "payload": payload }))
            .await;
        match ws.next(Duration::from_secs(10)).await {
            Received::Json(ack) => assert_eq!(ack["type"], "connection_ack", "{ack}"),
            other => panic!("no connection_ack: {other:?}"),
        }
        ws
    }

    pub async fn send(&mut self, value: Value) {
        self.socket
            .send(Message::Text(value.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.socket
            .send(Message::Text(text.to_owned().into()))
            .await
            .expect("send");
    }

    /// Starts an operation (`subscribe` or, on the legacy protocol, `start`).
    pub async fn subscribe(&mut self, protocol: &str, id: &str, query: &str, variables: Value) {
        let kind = if protocol == LEGACY {
            "start"
        } else {
            "subscribe"
        };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } })).await;
    }

    /// The next message that is not a ping, keep-alive or pong (pings are answered).
    pub async fn next(&mut self, wait: Duration) -> Received {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.socket.next()).await {
                Err(_) => return Received::Nothing,
                Ok(None) => return Received::Closed(1006),
                Ok(Some(Err(_))) => return Received::Closed(1006),
                Ok(Some(Ok(message))) => message,
            };
            match message {
                Message::Text(text) => {
                    let value: Value = serde_json::from_str(&text).expect("server sends JSON");
                    match value["type"].as_str() {
                        Some("ping") => self.send(json!({ "type": "pong" })).await,
                        Some("ka") => {}
                        _ => return Received::Json(value),
                    }
                }
                Message::Close(frame) => {
                    return frame
                        .map(|f| Received::Closed(u16::from(f.code)))
                        .unwrap_or(Received::Closed(1005));
                }
                _ => {}
            }
        }
    }

    /// The settle step: proves that every message sent before it has been handled. The
    /// server reads a socket's messages one after another, so its answer to a `ping`
    /// (graphql-transport-ws) comes after each earlier `subscribe` took effect: a change
    /// made from now on reaches those subscriptions, and a refusal of one would have come
    /// first. The legacy protocol has no ping: a one-field query plays its part (its
    /// answer too is sent only after the earlier messages were handled). Anything else
    /// arriving first fails the test.
    pub async fn settle(&mut self) {
        let wait = Duration::from_secs(10);
        if self.protocol == LEGACY {
            self.settled += 1;
            let id = format!("settle-{}", self.settled);
            self.subscribe(LEGACY, &id, "{ __typename }", json!({}))
                .await;
            match self.next(wait).await {
                Received::Json(m) if m["id"] == id.as_str() && m["type"] == "data" => {}
                other => panic!("expected the settle query's data, got {other:?}"),
            }
            match self.next(wait).await {
                Received::Json(m) if m["id"] == id.as_str() && m["type"] == "complete" => {}
                other => panic!("expected the settle query's complete, got {other:?}"),
            }
        } else {
            self.send(json!({ "type": "ping" })).await;
            match self.next(wait).await {
                Received::Json(m) if m == json!({ "type": "pong" }) => {}
                other => panic!("expected the pong that settles the socket, got {other:?}"),
            }
        }
    }

    /// The next payload of operation `id` (`next` or `data`), failing on anything else.
    pub async fn payload(&mut self, id: &str) -> Value {
        match self.next(Duration::from_secs(15)).await {
            Received::Json(message)
                if message["id"] == id
                    && (message["type"] == "next" || message["type"] == "data") =>
            {
                message["payload"].clone()
            }
            other => panic!("expected a payload for {id}, got {other:?}"),
        }
    }

    /// Asserts that nothing more arrives within `wait`. Proof by waiting: use it only where
    /// no later message can prove the same by its order ([`Ws::settle`], or a sentinel
    /// change whose frame must be the next one), and say why at the call.
    pub async fn expect_silence(&mut self, wait: Duration) {
        match self.next(wait).await {
            Received::Nothing => {}
            other => panic!("expected nothing more, got {other:?}"),
        }
    }

    pub async fn expect_close(&mut self, wait: Duration) -> u16 {
        match self.next(wait).await {
            Received::Closed(code) => code,
            other => panic!("expected the server to close, got {other:?}"),
        }
    }
}
