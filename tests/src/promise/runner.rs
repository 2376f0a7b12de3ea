//! A runner's phone, as the runner page behaves: it reads the notifications cursor once,
//! subscribes to `myNotifications` with `after` set to it, keeps the newest id it has
//! received, and on any closed socket reconnects (first to the other instance, in case its
//! own is gone, then alternating) with `after` = that id, backing off with jitter as the
//! page does. It acknowledges each notification it shows, as the page does:
//! `acknowledgeNotifications(upTo: id)` over HTTP to the instance whose socket brought it
//! (the other one if that fails), so that `EmailPolicy.UNREACHED` does not mail it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

pub const MINE: &str = "subscription($after: String) { myNotifications(after: $after) { id kind eventStatusChange { status } } }";
pub const ACKNOWLEDGE: &str = "mutation($upTo: ID!) { acknowledgeNotifications(upTo: $upTo) }";
/// Acknowledgements in flight at once per fleet: the pages are separate browsers, but the
/// rig's own connections to one port should not become what is measured.
const ACKNOWLEDGING_AT_ONCE: usize = 64;

pub fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// What one runner's phone saw.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Heard {
    /// Each notification id the first time it arrived, with the time (µs since the epoch).
    pub first: HashMap<i64, i64>,
    /// Notifications that arrived again (at-least-once delivery).
    pub repeats: u32,
    /// Sockets opened after the first.
    pub reconnects: u32,
    /// Whether the first subscription was ever live.
    pub subscribed: bool,
    /// Each notification id acknowledged, with the time the gateway answered (µs since
    /// the epoch).
    #[serde(default)]
    pub acked: HashMap<i64, i64>,
    /// The first reconnection, phase by phase, so that a slow one says where it waited.
    #[serde(default)]
    pub moved: Option<Reconnection>,
}

/// When each step of a phone's first reconnection happened (µs since the epoch).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reconnection {
    /// Its first socket closed.
    pub lost: i64,
    /// The attempt that got through began (after the back-off and any failed attempts).
    pub tried: i64,
    /// Attempts before it (refused, timed out or closed before `connection_ack`).
    pub failed: u32,
    /// The WebSocket upgrade was answered.
    pub upgraded: i64,
    /// `connection_ack` arrived (the token checked).
    pub accepted: i64,
}

/// How a fleet's phones acknowledge what they showed (shared by the fleet).
#[derive(Clone)]
pub struct Acknowledge {
    pub client: reqwest::Client,
    /// The instances' HTTP addresses (`http://host:port`), in the order of the phones' `urls`.
    pub addresses: Vec<String>,
    /// Phones that have acknowledged something.
    pub acked: Arc<AtomicUsize>,
    /// Each acknowledgement waits a random time below this first (zero: at once).
    pub jitter: Duration,
    permits: Arc<tokio::sync::Semaphore>,
}

impl Acknowledge {
    /// For phones whose WebSocket URLs are `urls` (`ws://host:port/graphql/ws`).
    pub fn new(urls: &[String], acked: Arc<AtomicUsize>, jitter: Duration) -> Self {
        Self {
            client: reqwest::Client::new(),
            addresses: urls
                .iter()
                .map(|url| {
                    url.replacen("ws://", "http://", 1)
                        .trim_end_matches("/graphql/ws")
                        .to_owned()
                })
                .collect(),
            acked,
            jitter,
            permits: Arc::new(tokio::sync::Semaphore::new(ACKNOWLEDGING_AT_ONCE)),
        }
    }

    /// Acknowledges up to `id` for the runner of `token`, first on instance `first`, then
    /// alternating, a few times with back-off; records when it was answered.
    async fn up_to(
        self,
        token: String,
        id: i64,
        first: usize,
        acked: Arc<Mutex<HashMap<i64, i64>>>,
    ) {
        if !self.jitter.is_zero() {
            let wait = rand_below(self.jitter.as_millis() as u64);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
        let Ok(_permit) = self.permits.acquire().await else {
            return;
        };
        let body = json!({ "query": ACKNOWLEDGE, "variables": { "upTo": id.to_string() } });
        let mut last = String::new();
        for attempt in 0..6usize {
            let address = &self.addresses[(first + attempt) % self.addresses.len()];
            match crate::post_graphql(&self.client, address, Some(&token), &body).await {
                Ok(answer) if answer["data"]["acknowledgeNotifications"].is_number() => {
                    let mut acked = acked.lock().unwrap_or_else(|e| e.into_inner());
                    if acked.is_empty() {
                        self.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    acked.insert(id, now_micros());
                    return;
                }
                Ok(answer) => last = answer.to_string(),
                Err(error) => last = format!("{error:#}"),
            }
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
        }
        eprintln!("a phone could not acknowledge notification {id}: {last}");
    }
}

/// One phone: `home` is the index in `urls` of the instance it starts on.
pub struct Phone {
    pub urls: Vec<String>,
    pub home: usize,
    pub token: String,
    /// The cursor read before subscribing.
    pub cursor: i64,
    /// Phones that have heard something past the cursor (shared by a fleet).
    pub told: Arc<AtomicUsize>,
    /// The loopback address it connects from (127.0.0.2 and up): tens of thousands of
    /// sockets from one address to one port leave the kernel searching long for a free
    /// ephemeral port on every connect, which only this rig would pay, not the gateway.
    pub source: IpAddr,
    /// How it acknowledges what it showed; `None`: it does not.
    pub acknowledge: Option<Acknowledge>,
}

impl Phone {
    /// Runs until `stop` turns true; says `ready` once the first subscription is sent.
    pub async fn run(
        self,
        ready: tokio::sync::mpsc::Sender<()>,
        stop: watch::Receiver<bool>,
    ) -> Heard {
        let acked = Arc::new(Mutex::new(HashMap::new()));
        let mut heard = self.listen(ready, stop, &acked).await;
        heard.acked = acked.lock().unwrap_or_else(|e| e.into_inner()).clone();
        heard
    }

    async fn listen(
        &self,
        ready: tokio::sync::mpsc::Sender<()>,
        mut stop: watch::Receiver<bool>,
        acked: &Arc<Mutex<HashMap<i64, i64>>>,
    ) -> Heard {
        let mut heard = Heard::default();
        let mut last = self.cursor;
        let mut attempt = 0u32;
        let mut ready = Some(ready);
        // The first reconnection's steps, while it is under way.
        let mut moving: Option<Reconnection> = None;
        while !*stop.borrow() {
            // The home instance first; after a lost socket, the other one first.
            let instance = (self.home + attempt as usize) % self.urls.len();
            let url = &self.urls[instance];
            let mut steps = Reconnection {
                tried: now_micros(),
                ..Reconnection::default()
            };
            if let Some(mut socket) = self.open(url, last, &mut steps).await {
                if let Some(ready) = ready.take() {
                    let _ = ready.send(()).await;
                    heard.subscribed = true;
                } else {
                    heard.reconnects += 1;
                    if let Some(moving) = moving.take() {
                        heard.moved = Some(Reconnection {
                            lost: moving.lost,
                            failed: moving.failed,
                            ..steps
                        });
                    }
                }
                attempt = 0;
                loop {
                    let message = tokio::select! {
                        message = socket.next() => message,
                        _ = stop.changed() => {
                            let _ = socket.close(None).await;
                            return heard;
                        }
                    };
                    let Some(Ok(Message::Text(text))) = message else {
                        match message {
                            Some(Ok(_)) => continue,
                            _ => break,
                        }
                    };
                    let Ok(value) = serde_json::from_str::<Value>(&text) else {
                        break;
                    };
                    match value["type"].as_str() {
                        Some("next") => {
                            let id = value["payload"]["data"]["myNotifications"]["id"]
                                .as_str()
                                .and_then(|id| id.parse::<i64>().ok());
                            if let Some(id) = id {
                                if heard.first.is_empty() {
                                    self.told.fetch_add(1, Ordering::Relaxed);
                                }
                                match heard.first.entry(id) {
                                    std::collections::hash_map::Entry::Occupied(_) => {
                                        heard.repeats += 1
                                    }
                                    std::collections::hash_map::Entry::Vacant(first) => {
                                        first.insert(now_micros());
                                        // Shown: the page acknowledges it, without
                                        // holding up the socket.
                                        if let Some(acknowledge) = &self.acknowledge {
                                            tokio::spawn(acknowledge.clone().up_to(
                                                self.token.clone(),
                                                id,
                                                instance,
                                                acked.clone(),
                                            ));
                                        }
                                    }
                                }
                                last = last.max(id);
                            }
                        }
                        Some("ping") => {
                            let _ = socket
                                .send(Message::Text(json!({ "type": "pong" }).to_string().into()))
                                .await;
                        }
                        Some("error" | "complete") => break,
                        _ => {}
                    }
                }
                if heard.moved.is_none() {
                    moving.get_or_insert_with(|| Reconnection {
                        lost: now_micros(),
                        ..Reconnection::default()
                    });
                }
            } else if let Some(moving) = &mut moving {
                moving.failed += 1;
            }
            attempt += 1;
            // The runner page's back-off (server/web/live.js, retryDelayMs): the first
            // anywhere in the next second, so that thousands of phones whose instance died
            // do not all arrive at the same moment; then exponential from 1 s, at most
            // 30 s, half of it jitter.
            let (base, jitter) = if attempt == 1 {
                (Duration::ZERO, Duration::from_millis(rand_below(1000)))
            } else {
                let ceiling = (1000u64 << (attempt - 1).min(5)).min(30_000);
                (
                    Duration::from_millis(ceiling / 2),
                    Duration::from_millis(rand_below(ceiling / 2)),
                )
            };
            tokio::select! {
                () = tokio::time::sleep(base + jitter) => {}
                _ = stop.changed() => {}
            }
        }
        heard
    }

    /// Connects, initialises with the token and subscribes after `after`.
    async fn open(
        &self,
        url: &str,
        after: i64,
        steps: &mut Reconnection,
    ) -> Option<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
        let mut socket = tokio::time::timeout(
            Duration::from_secs(5),
            crate::gateway::websocket_from(url, self.source),
        )
        .await
        .ok()??;
        steps.upgraded = now_micros();
        let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", self.token) } });
        socket
            .send(Message::Text(init.to_string().into()))
            .await
            .ok()?;
        tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(Ok(message)) = socket.next().await {
                if let Message::Text(text) = message
                    && serde_json::from_str::<Value>(&text).ok()?["type"] == "connection_ack"
                {
                    return Some(());
                }
            }
            None
        })
        .await
        .ok()??;
        steps.accepted = now_micros();
        let subscribe = json!({ "id": "mine", "type": "subscribe",
            "payload": { "query": MINE, "variables": { "after": after.to_string() } } });
        socket
            .send(Message::Text(subscribe.to_string().into()))
            .await
            .ok()?;
        Some(socket)
    }
}

/// A cheap random number below `n` (jitter needs no more).
fn rand_below(n: u64) -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = u64::from(nanos).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (std::process::id() as u64);
    (mixed >> 17) % n.max(1)
}

/// Which phones a process runs: runner indexes `first..first + count`, each homed on
/// `urls[index % urls.len()]`, signed in with the tokens of `prefix`, subscribing after
/// `cursor`, acknowledging what they show when `acknowledge` is set.
pub struct Fleet {
    pub urls: Vec<String>,
    pub prefix: String,
    pub first: usize,
    pub count: usize,
    pub cursor: i64,
    pub acknowledge: Option<Acknowledge>,
}

/// Runs a fleet's phones in this process; says once all are subscribed (how many
/// managed), and returns what each heard, by runner index, once `stop` turns true. `told`
/// counts the phones that have heard anything past the cursor, as they do.
pub async fn run_phones(
    fleet: Fleet,
    subscribed: tokio::sync::oneshot::Sender<usize>,
    told: Arc<AtomicUsize>,
    stop: watch::Receiver<bool>,
) -> Vec<(usize, Heard)> {
    let Fleet {
        urls,
        prefix,
        first,
        count,
        cursor,
        acknowledge,
    } = fleet;
    let (ready, mut readies) = tokio::sync::mpsc::channel(count.max(1));
    let mut phones = Vec::with_capacity(count);
    for index in first..first + count {
        let phone = Phone {
            home: index % urls.len(),
            urls: urls.clone(),
            token: crate::accounts::runner_token(&prefix, index),
            cursor,
            told: told.clone(),
            source: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + (index % 200) as u8)),
            acknowledge: acknowledge.clone(),
        };
        phones.push((index, tokio::spawn(phone.run(ready.clone(), stop.clone()))));
        if index % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop(ready);
    let mut ready = 0;
    while ready < count {
        match tokio::time::timeout(Duration::from_secs(60), readies.recv()).await {
            Ok(Some(())) => ready += 1,
            _ => break,
        }
    }
    let _ = subscribed.send(ready);
    let mut heard = Vec::with_capacity(count);
    for (index, phone) in phones {
        heard.push((index, phone.await.unwrap_or_default()));
    }
    heard
}
