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
) -> anyhow::Result<serde_json::Value> {
    let mut request = client.post(format!("{address}/graphql")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await?;
    let status = response.status();
    let text = response.text().await?;
    // A balancer's own error page is not JSON: say what came instead.
    serde_json::from_str(&text).map_err(|error| {
        let start: String = text.chars().take(300).collect();
        anyhow::anyhow!("{address} answered {status} with what is not JSON ({error}): {start}")
    })
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

/// Why a gateway child did not come to serve.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("starting {binary}: {source}")]
    Spawn {
        binary: String,
        source: std::io::Error,
    },
    #[error("the gateway exited ({status}) before serving; its last lines:\n{tail}")]
    Exited {
        status: std::process::ExitStatus,
        tail: String,
    },
    /// Another process answered at the address the child reported.
    #[error("{0}")]
    Foreign(String),
    #[error("the gateway did not serve within 60 s; its last lines:\n{0}")]
    TimedOut(String),
}

/// What a child gateway has printed: its log lines (all of them when captured, else the
/// last [`TAIL`]) and the addresses it announced.
#[derive(Default)]
struct Output {
    lines: std::collections::VecDeque<String>,
    keep_all: bool,
    listening: Option<String>,
    admin: Option<String>,
}

/// Lines kept for an error message when the logs are not captured.
const TAIL: usize = 40;

impl Output {
    fn push(&mut self, line: String) {
        // `listening on http://…` and `admin on http://…`, plain or inside a JSON log line.
        for (prefix, slot) in [
            ("listening on ", &mut self.listening),
            ("admin on ", &mut self.admin),
        ] {
            if slot.is_none()
                && let Some(at) = line.find(prefix)
            {
                let address: String = line[at + prefix.len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && *c != '"')
                    .collect();
                if address.starts_with("http://") {
                    *slot = Some(address);
                }
            }
        }
        self.lines.push_back(line);
        if !self.keep_all && self.lines.len() > TAIL {
            self.lines.pop_front();
        }
    }

    fn tail(&self) -> String {
        let skip = self.lines.len().saturating_sub(TAIL);
        self.lines
            .iter()
            .skip(skip)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A gateway child process, killed on drop.
pub struct Gateway {
    pub child: Child,
    /// The public listener, as `http://127.0.0.1:port`: the address the child reported.
    pub address: String,
    /// The admin listener (metrics), as `http://127.0.0.1:port`; empty with `ADMIN_BIND=off`.
    pub admin: String,
    /// The `INSTANCE_ID` it was started with; its /healthz names it.
    pub instance: String,
    output: Arc<Mutex<Output>>,
}

/// A distinct instance id for every gateway this process starts.
fn fresh_instance_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("test-{}-{n}", std::process::id())
}

impl Gateway {
    /// Starts `gateway serve` with `env` on `BIND=127.0.0.1:0` and `ADMIN_BIND=127.0.0.1:0`
    /// (unless `env` says otherwise), reads the addresses it reports, and waits until its
    /// own /healthz answers (readiness may wait on a Redis that a test keeps down on
    /// purpose). Its logs are shown only when GATEWAY_LOG is set (to a RUST_LOG filter).
    pub async fn start(env: &[(&str, String)]) -> Result<Self, StartError> {
        Self::spawn(Command::new(gateway_binary()), env, None).await
    }

    /// Like [`Gateway::start`], keeping every log line (at `filter`) for [`Gateway::logs`].
    pub async fn start_logged(env: &[(&str, String)], filter: &str) -> Result<Self, StartError> {
        Self::spawn(Command::new(gateway_binary()), env, Some(filter)).await
    }

    /// Like [`Gateway::start`] with a command of the caller's that execs the gateway (a
    /// shell that raises the open-file limit first, say).
    pub async fn start_command(
        command: Command,
        env: &[(&str, String)],
    ) -> Result<Self, StartError> {
        Self::spawn(command, env, None).await
    }

    async fn spawn(
        mut command: Command,
        env: &[(&str, String)],
        capture: Option<&str>,
    ) -> Result<Self, StartError> {
        let shown = std::env::var("GATEWAY_LOG").ok();
        let filter = capture
            .map(str::to_owned)
            .or(shown.clone())
            .unwrap_or_else(|| "warn".into());
        let instance = env
            .iter()
            .find(|(key, _)| *key == "INSTANCE_ID")
            .map(|(_, value)| value.clone())
            .unwrap_or_else(fresh_instance_id);
        command
            .env("BIND", "127.0.0.1:0")
            .env("ADMIN_BIND", "127.0.0.1:0")
            .env("INSTANCE_ID", &instance)
            .env("RUST_LOG", filter)
            .stdin(Stdio::null())
            // The gateway logs to standard output and says there where it listens; a
            // failure to start is on standard error.
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in env {
            command.env(key, value);
        }
        let admin_off = env
            .iter()
            .any(|(key, value)| *key == "ADMIN_BIND" && value == "off");
        let mut child = command.spawn().map_err(|source| StartError::Spawn {
            binary: gateway_binary().display().to_string(),
            source,
        })?;
        let output = Arc::new(Mutex::new(Output {
            keep_all: capture.is_some(),
            ..Output::default()
        }));
        let echo = shown.is_some() && capture.is_none();
        for stream in piped_outputs(&mut child) {
            let sink = output.clone();
            // Read to the end, so that the child never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if echo {
                        eprintln!("{line}");
                    }
                    if let Ok(mut output) = sink.lock() {
                        output.push(line);
                    }
                }
            });
        }
        let mut gateway = Self {
            child,
            address: String::new(),
            admin: String::new(),
            instance,
            output,
        };
        gateway.wait_until_serving(admin_off).await?;
        Ok(gateway)
    }

    /// Waits for the addresses the child reports, then for its own health answer. Fails at
    /// once, with its last lines, when the child has exited.
    async fn wait_until_serving(&mut self, admin_off: bool) -> Result<(), StartError> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                // The readers may still hold the last lines for a moment.
                tokio::time::sleep(Duration::from_millis(100)).await;
                return Err(StartError::Exited {
                    status,
                    tail: self.tail(),
                });
            }
            let (listening, admin) = self
                .output
                .lock()
                .map(|o| (o.listening.clone(), o.admin.clone()))
                .unwrap_or_default();
            if let Some(listening) = listening
                && (admin.is_some() || admin_off)
            {
                self.address = listening;
                self.admin = admin.unwrap_or_default();
                match health_of(&client, &self.address, &self.instance).await {
                    Ok(()) => return Ok(()),
                    Err(Health::Foreign(message)) => return Err(StartError::Foreign(message)),
                    Err(Health::NotYet) => {}
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Err(StartError::TimedOut(self.tail()))
    }

    fn tail(&self) -> String {
        self.output.lock().map(|o| o.tail()).unwrap_or_default()
    }

    /// The log lines so far (none unless started with [`Gateway::start_logged`]).
    pub fn logs(&self) -> Vec<String> {
        self.output
            .lock()
            .ok()
            .filter(|o| o.keep_all)
            .map(|o| o.lines.iter().cloned().collect())
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

/// Why a health answer was not taken.
pub enum Health {
    /// No answer yet, or not a success.
    NotYet,
    /// A process other than the expected one answered.
    Foreign(String),
}

/// Asks `address`'s /healthz and takes the answer only from the instance `expected`: a
/// process that took the address of one that died is not the one a test started.
pub async fn health_of(
    client: &reqwest::Client,
    address: &str,
    expected: &str,
) -> Result<(), Health> {
    let response = client
        .get(format!("{address}/healthz"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .map_err(|_| Health::NotYet)?;
    if !response.status().is_success() {
        return Err(Health::NotYet);
    }
    let body: serde_json::Value = response.json().await.map_err(|_| Health::NotYet)?;
    match body["instance"].as_str() {
        Some(instance) if instance == expected => Ok(()),
        other => Err(Health::Foreign(format!(
            "{address}/healthz was answered by {other:?}, not by the gateway started as {expected:?}"
        ))),
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
    websocket_speaking(url, source, None).await
}

/// [`websocket_from`], the upgrade saying `Accept-Language: language` as a browser in that
/// locale does.
pub async fn websocket_speaking(
    url: &str,
    source: std::net::IpAddr,
    language: Option<&str>,
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
    if let Some(language) = language {
        request
            .headers_mut()
            .insert("accept-language", language.parse().ok()?);
    }
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

/// A child's piped stdout and stderr, each to be read to its end on a thread of its own
/// (a child blocks on a full pipe).
pub fn piped_outputs(child: &mut std::process::Child) -> Vec<Box<dyn std::io::Read + Send>> {
    let stdout = child
        .stdout
        .take()
        .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
    let stderr = child
        .stderr
        .take()
        .map(|s| Box::new(s) as Box<dyn std::io::Read + Send>);
    stdout.into_iter().chain(stderr).collect()
}
