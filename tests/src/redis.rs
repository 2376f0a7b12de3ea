//! A redis-server of a test's (or a load run's) own, so that stopping or restarting it
//! touches no other test and nothing else on the machine.
//!
//! Redis cannot be told to take port 0 (that turns TCP off), so the port is drawn at
//! random below the kernel's ephemeral range (where no client socket is ever given one),
//! and the server that answers there is taken only if it reports the pid of the child
//! started: a port another test's Redis holds is seen, and another port drawn.

use std::hash::{BuildHasher, Hasher};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Ports drawn from here: under 32768, where Linux's ephemeral range starts.
const PORTS: std::ops::Range<u16> = 20_000..32_000;

/// A Redis server of one's own; stopped when dropped.
pub struct OwnRedis {
    pub port: u16,
    child: Option<Child>,
}

impl OwnRedis {
    pub async fn start() -> Result<Self, RedisStartError> {
        let mut last = String::new();
        for _ in 0..20 {
            let mut redis = Self {
                port: random_port(),
                child: None,
            };
            match redis.spawn().await {
                Ok(()) => return Ok(redis),
                Err(RedisStartError::Taken(why)) => last = why,
                Err(failed) => return Err(failed),
            }
        }
        Err(RedisStartError::NoFreePort(last))
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) -> Result<(), RedisStartError> {
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| RedisStartError::Failed(format!("starting redis-server: {e}")))?;
        let pid = child.id();
        for _ in 0..200 {
            if let Ok(Some(status)) = child.try_wait() {
                // redis-server exits when it cannot bind.
                return Err(RedisStartError::Taken(format!(
                    "redis-server on port {} exited ({status})",
                    self.port
                )));
            }
            match server_pid(self.port).await {
                Some(answered) if answered == pid => {
                    self.child = Some(child);
                    return Ok(());
                }
                Some(other) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(RedisStartError::Taken(format!(
                        "port {} is answered by redis-server pid {other}, not {pid}",
                        self.port
                    )));
                }
                None => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(RedisStartError::Failed(format!(
            "redis-server on port {} did not answer within 4 s",
            self.port
        )))
    }

    /// Stops it hard (its clients see their connections drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops it and starts a new one on the same port: its clients reconnect to the address
    /// they know. Fails, rather than going on with another server, if the port was taken.
    pub async fn restart(&mut self) -> Result<(), RedisStartError> {
        self.stop();
        self.spawn().await
    }
}

/// Why a Redis of one's own did not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisStartError {
    /// The port is someone else's: draw another.
    #[error("{0}")]
    Taken(String),
    #[error("{0}")]
    Failed(String),
    #[error("no free port for redis-server in 20 draws; the last: {0}")]
    NoFreePort(String),
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

fn random_port() -> u16 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    let span = u64::from(PORTS.end - PORTS.start);
    PORTS.start + u16::try_from(hasher.finish() % span).unwrap_or(0)
}

/// The pid the Redis server on `port` reports (`INFO server`), if one answers.
async fn server_pid(port: u16) -> Option<u32> {
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"INFO server\r\n").await.ok()?;
        let mut answer = Vec::new();
        let mut buffer = [0_u8; 4096];
        loop {
            let read = stream.read(&mut buffer).await.ok()?;
            if read == 0 {
                return None;
            }
            answer.extend_from_slice(&buffer[..read]);
            let text = String::from_utf8_lossy(&answer);
            if let Some(line) = text.lines().find(|l| l.starts_with("process_id:")) {
                return line.trim_start_matches("process_id:").trim().parse().ok();
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(1), exchange)
        .await
        .ok()
        .flatten()
}

/// A loopback port that refuses every connection for as long as this value lives: bound
/// (so nothing else can take it) but never listening. A Redis that is down, say.
pub struct RefusingPort {
    _socket: tokio::net::TcpSocket,
    pub port: u16,
}

impl RefusingPort {
    pub fn new() -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.bind(std::net::SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let port = socket.local_addr()?.port();
        Ok(Self {
            _socket: socket,
            port,
        })
    }
}
