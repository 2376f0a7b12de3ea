//! The gateway as a child process (the binary `cargo` built beside the caller), and a
//! GraphQL POST for tools that talk to it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// POSTs a GraphQL request body to `address` and returns the JSON answer.
pub async fn post_graphql(
    client: &reqwest::Client,
    address: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> Result<serde_json::Value, String> {
    let mut request = client.post(format!("{address}/graphql")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}

/// The `gateway` binary beside this tool (release when the tool is run with --release).
pub fn gateway_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let dir = if dir.ends_with("deps") {
        dir.parent().map(PathBuf::from).unwrap_or(dir)
    } else {
        dir
    };
    dir.join(format!("gateway{}", std::env::consts::EXE_SUFFIX))
}

/// A free loopback port (bound, then released for the child to take).
pub fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| e.to_string())
}

/// A gateway child process, killed on drop.
pub struct Gateway {
    pub child: Child,
    pub address: String,
    /// The admin listener (metrics), as `http://127.0.0.1:port`.
    pub admin: String,
    /// Its log lines, when started with [`Gateway::start_logged`].
    logs: Option<Arc<Mutex<Vec<String>>>>,
}

impl Gateway {
    /// Starts `gateway serve` with `env` and waits until it serves (/healthz answers 200;
    /// readiness may wait on a Redis that a test keeps down on purpose). Its logs are shown
    /// only when GATEWAY_LOG is set (to a RUST_LOG filter).
    pub async fn start(env: &[(&str, String)]) -> Result<Self, String> {
        Self::spawn(env, None).await
    }

    /// Like [`Gateway::start`], keeping every log line (at `filter`) for [`Gateway::logs`].
    pub async fn start_logged(env: &[(&str, String)], filter: &str) -> Result<Self, String> {
        Self::spawn(env, Some(filter)).await
    }

    async fn spawn(env: &[(&str, String)], capture: Option<&str>) -> Result<Self, String> {
        let port = free_port()?;
        let admin_port = free_port()?;
        let mut command = Command::new(gateway_binary());
        let shown = std::env::var("GATEWAY_LOG").ok();
        let filter = capture
            .map(str::to_owned)
            .or(shown.clone())
            .unwrap_or_else(|| "warn".into());
        command
            .env("BIND", format!("127.0.0.1:{port}"))
            .env("ADMIN_BIND", format!("127.0.0.1:{admin_port}"))
            .env("RUST_LOG", filter)
            .stdin(Stdio::null());
        if capture.is_some() {
            // The gateway logs to standard output.
            command.stdout(Stdio::piped()).stderr(Stdio::null());
        } else if shown.is_none() {
            command.stdout(Stdio::null()).stderr(Stdio::null());
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", gateway_binary().display()))?;
        let logs = child.stdout.take().map(|stdout| {
            let lines = Arc::new(Mutex::new(Vec::new()));
            let sink = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    if let Ok(mut lines) = sink.lock() {
                        lines.push(line);
                    }
                }
            });
            lines
        });
        let gateway = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            admin: format!("http://127.0.0.1:{admin_port}"),
            logs,
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(response) = client
                .get(format!("{}/healthz", gateway.address))
                .send()
                .await
                && response.status().is_success()
            {
                return Ok(gateway);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the gateway did not become ready within 60 s".into())
    }

    /// The log lines so far (none unless started with [`Gateway::start_logged`]).
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .as_ref()
            .and_then(|lines| lines.lock().ok().map(|lines| lines.clone()))
            .unwrap_or_default()
    }

    /// Waits up to `within` for a log line containing every one of `parts`.
    pub async fn wait_for_log(&self, parts: &[&str], within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(line) = self
                .logs()
                .into_iter()
                .find(|line| parts.iter().all(|part| line.contains(part)))
            {
                return Some(line);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory of the gateway process, in KiB (from /proc).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
    }

    /// CPU time (user + system) the gateway has used, in microseconds.
    pub fn cpu_micros(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).ok()?;
        let after_name = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ticks * 1_000_000 / 100)
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A graphql-transport-ws socket to `url` (`ws://address:port/…`) opened from the
/// loopback address `source`, with small buffers (load clients hold thousands). Tens of
/// thousands of sockets from one address to one port make the kernel search long for a
/// free port on every connect, a cost only the load rig would pay: spread them.
pub async fn websocket_from(
    url: &str,
    source: std::net::IpAddr,
) -> Option<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    let target: std::net::SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()?
        .parse()
        .ok()?;
    let mut request = url.into_client_request().ok()?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().ok()?,
    );
    let socket = tokio::net::TcpSocket::new_v4().ok()?;
    socket.bind(std::net::SocketAddr::new(source, 0)).ok()?;
    let stream = socket.connect(target).await.ok()?;
    let config = WebSocketConfig::default()
        .read_buffer_size(4096)
        .write_buffer_size(0);
    let (socket, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .ok()?;
    Some(socket)
}
