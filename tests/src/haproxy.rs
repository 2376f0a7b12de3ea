//! Debian's HAProxy in front of gateway instances, started by the tests with the
//! project's own configuration (`deploy/haproxy.cfg`), its addresses given through the
//! environment as a deployment gives them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::process::{Child, Command};

use crate::Gateway;

/// The balancer's connection cap in tests: two descriptors each, within the 20,000 files
/// a process may hold on the test machine.
const TEST_MAXCONN: &str = "9000";

pub struct Haproxy {
    child: Child,
    /// `http://127.0.0.1:port`
    pub address: String,
}

impl Haproxy {
    /// The configuration the tests and a deployment use.
    pub fn config() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy.cfg")
    }

    /// HAProxy in front of `a` and `b`, once it routes to both (their readiness checked).
    pub async fn start(a: &Gateway, b: &Gateway) -> anyhow::Result<Self> {
        let mut last = None;
        // HAProxy cannot take port 0 and tell us: a free port is chosen, and taken again
        // if someone else got it first.
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            match Self::start_on(port, a, b).await {
                Ok(started) => return Ok(started),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("HAProxy did not start")))
    }

    async fn start_on(port: u16, a: &Gateway, b: &Gateway) -> anyhow::Result<Self> {
        let hostport = |g: &Gateway| g.address.trim_start_matches("http://").to_owned();
        let admin_port = |g: &Gateway| g.admin.rsplit(':').next().unwrap_or_default().to_owned();
        let mut child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(Self::config())
            .env("LB_BIND", format!("127.0.0.1:{port}"))
            .env("LB_MAXCONN", TEST_MAXCONN)
            .env("GATEWAY_1", hostport(a))
            .env("GATEWAY_1_ADMIN_PORT", admin_port(a))
            .env("GATEWAY_2", hostport(b))
            .env("GATEWAY_2_ADMIN_PORT", admin_port(b))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting haproxy (apt-get install haproxy)")?;
        let address = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait()? {
                let mut stderr = String::new();
                if let Some(mut err) = child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = err.read_to_string(&mut stderr).await;
                }
                return Err(anyhow!("haproxy exited ({status}): {stderr}"));
            }
            // Up once both instances passed their checks: two answers from two instances.
            let mut seen = std::collections::HashSet::new();
            for _ in 0..6 {
                if let Ok(response) = client.get(format!("{address}/healthz")).send().await
                    && response.status().is_success()
                    && let Ok(body) = response.json::<serde_json::Value>().await
                    && let Some(instance) = body["instance"].as_str()
                {
                    seen.insert(instance.to_owned());
                }
            }
            if seen.len() == 2 {
                return Ok(Self { child, address });
            }
            if tokio::time::Instant::now() > deadline {
                return Err(anyhow!(
                    "haproxy did not route to both instances within 20 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `ws://127.0.0.1:port/graphql/ws`
    pub fn ws_url(&self) -> String {
        format!("{}/graphql/ws", self.address.replace("http://", "ws://"))
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
