//! Debian's HAProxy in front of gateway instances, started by the tests with the
//! project's own configuration (`deploy/haproxy.cfg`), its addresses given through the
//! environment as a deployment gives them.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, anyhow};
use tokio::process::{Child, Command};

use crate::Gateway;

/// One row of the statistics page (`/stats;csv`): each value by its column name.
type StatisticsRow = std::collections::HashMap<String, String>;

/// The balancer's connection cap in tests: two descriptors each, within the 20,000 files
/// a process may hold on the test machine.
pub const TEST_MAXCONN: usize = 9000;

pub struct Haproxy {
    child: Child,
    /// `http://127.0.0.1:port`
    pub address: String,
    /// Its statistics page (`http://127.0.0.1:port/stats`).
    stats: String,
}

impl Haproxy {
    /// The configuration the tests and a deployment use.
    pub fn config() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy.cfg")
    }

    /// HAProxy in front of `a` and `b`, once it routes to both (their readiness checked).
    pub async fn start(a: &Gateway, b: &Gateway) -> anyhow::Result<Self> {
        Self::start_with(a, b, TEST_MAXCONN).await
    }

    /// [`Haproxy::start`] holding at most `maxconn` connections at once (two descriptors
    /// each: a process limited to 20,000 files holds about 9,900).
    pub async fn start_with(a: &Gateway, b: &Gateway, maxconn: usize) -> anyhow::Result<Self> {
        let mut last = None;
        // HAProxy cannot take port 0 and tell us: free ports are chosen, and taken again
        // if someone else got one first.
        for _ in 0..5 {
            let free = || -> std::io::Result<u16> {
                Ok(std::net::TcpListener::bind("127.0.0.1:0")?
                    .local_addr()?
                    .port())
            };
            match Self::start_on((free()?, free()?), a, b, maxconn).await {
                Ok(started) => return Ok(started),
                Err(error) => last = Some(error),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("HAProxy did not start")))
    }

    async fn start_on(
        (port, stats): (u16, u16),
        a: &Gateway,
        b: &Gateway,
        maxconn: usize,
    ) -> anyhow::Result<Self> {
        let hostport = |g: &Gateway| g.address.trim_start_matches("http://").to_owned();
        let admin_port = |g: &Gateway| g.admin.rsplit(':').next().unwrap_or_default().to_owned();
        let child = Command::new("haproxy")
            .arg("-db")
            .arg("-f")
            .arg(Self::config())
            .env("LB_BIND", format!("127.0.0.1:{port}"))
            .env("LB_MAXCONN", maxconn.to_string())
            .env("LB_STATS_BIND", format!("127.0.0.1:{stats}"))
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
        let mut balancer = Self {
            child,
            address: format!("http://127.0.0.1:{port}"),
            stats: format!("http://127.0.0.1:{stats}/stats"),
        };
        balancer.wait_for_both().await?;
        Ok(balancer)
    }

    /// Waits until the balancer routes to both instances (each passed its checks, as its
    /// statistics say: asking through it would not tell, since `leastconn` sends every
    /// request to the instance with fewer sockets), for up to 20 s; fails at once if
    /// HAProxy has exited.
    pub async fn wait_for_both(&mut self) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait()? {
                let mut stderr = String::new();
                if let Some(mut err) = self.child.stderr.take() {
                    use tokio::io::AsyncReadExt;
                    let _ = err.read_to_string(&mut stderr).await;
                }
                return Err(anyhow!("haproxy exited ({status}): {stderr}"));
            }
            if let Ok(rows) = self.statistics().await {
                let up = rows
                    .iter()
                    .filter(|row| {
                        row.get("pxname").map(String::as_str) == Some("gateways")
                            && row.get("svname").is_some_and(|s| s.starts_with("gw"))
                            && row.get("status").map(String::as_str) == Some("UP")
                    })
                    .count();
                if up == 2 {
                    return Ok(());
                }
            }
            if tokio::time::Instant::now() > deadline {
                return Err(anyhow!(
                    "haproxy did not route to both instances within 20 s"
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The statistics page's rows, each by column name.
    async fn statistics(&self) -> anyhow::Result<Vec<StatisticsRow>> {
        let csv = reqwest::get(format!("{};csv", self.stats))
            .await?
            .error_for_status()?
            .text()
            .await?;
        let mut lines = csv.lines();
        let header: Vec<String> = lines
            .next()
            .context("an empty statistics page")?
            .trim_start_matches("# ")
            .split(',')
            .map(str::to_owned)
            .collect();
        Ok(lines
            .map(|line| {
                header
                    .iter()
                    .cloned()
                    .zip(line.split(',').map(str::to_owned))
                    .collect()
            })
            .collect())
    }

    /// `ws://127.0.0.1:port/graphql/ws`
    pub fn ws_url(&self) -> String {
        format!("{}/graphql/ws", self.address.replace("http://", "ws://"))
    }

    /// Responses the balancer has answered with a 5xx, its own (no instance to take the
    /// request) and the instances' alike: its frontend's `hrsp_5xx`.
    pub async fn responses_5xx(&self) -> anyhow::Result<u64> {
        self.statistics()
            .await?
            .iter()
            .find(|row| {
                row.get("pxname").map(String::as_str) == Some("gateway")
                    && row.get("svname").map(String::as_str) == Some("FRONTEND")
            })
            .and_then(|row| row.get("hrsp_5xx")?.parse().ok())
            .context("no gateway frontend in the statistics")
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
