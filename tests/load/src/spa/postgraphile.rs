//! PostGraphile 4.14 beside the gateway: installed from the npm registry into a directory
//! that is never committed (`data/postgraphile/` under the workspace root unless told), and
//! started on a free loopback port against the run's database. It stays in the tool's
//! process group, so that an interrupt from the terminal stops it too; cluster workers
//! exit by themselves when their primary dies.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};

/// The release line the issue measured against.
const LINE: &str = "4.14";

/// Where it is installed unless `--postgraphile-dir` says otherwise: `data/` is ignored by
/// git, so nothing npm writes can be committed.
pub fn default_dir() -> PathBuf {
    // tests/load is two levels below the workspace root.
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .nth(2)
        .unwrap_or(manifest)
        .join("data/postgraphile")
}

/// The version installed in `dir`, if any.
fn installed_version(dir: &Path) -> Option<String> {
    let manifest = dir.join("node_modules/postgraphile/package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    let manifest: serde_json::Value = serde_json::from_str(&text).ok()?;
    manifest["version"].as_str().map(str::to_owned)
}

/// Installs `postgraphile@4.14` into `dir` unless a 4.14 release is there already; returns
/// the version installed.
pub fn ensure_installed(dir: &Path) -> anyhow::Result<String> {
    if let Some(version) = installed_version(dir).filter(|v| v.starts_with(&format!("{LINE}."))) {
        return Ok(version);
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    println!(
        "installing postgraphile@{LINE} from the npm registry into {}",
        dir.display()
    );
    let status = Command::new("npm")
        .args(["install", "--no-audit", "--no-fund", "--prefix"])
        .arg(dir)
        .arg(format!("postgraphile@{LINE}"))
        .stdin(Stdio::null())
        .status()
        .context("running npm (Node 20 and npm are needed for PostGraphile)")?;
    if !status.success() {
        bail!("npm install postgraphile@{LINE} failed ({status})");
    }
    installed_version(dir)
        .with_context(|| format!("npm installed no postgraphile into {}", dir.display()))
}

/// A PostGraphile server, stopped (with its workers) on drop.
pub struct PostGraphile {
    child: Child,
    /// `http://127.0.0.1:port/graphql`.
    pub url: String,
    tail: Arc<Mutex<Vec<String>>>,
}

/// A port free on loopback now (PostGraphile takes no port 0 and says nothing of it).
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl PostGraphile {
    /// Starts the CLI in `dir` against `database_url` with its production settings (no
    /// watch, no GraphiQL, no query log, NODE_ENV=production), `workers` cluster workers
    /// when given, and waits until it answers a query.
    pub async fn start(
        dir: &Path,
        database_url: &str,
        workers: Option<u32>,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let mut command = Command::new(dir.join("node_modules/.bin/postgraphile"));
        command
            .args(["--connection", database_url, "--schema", "public"])
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--disable-query-log", "--disable-graphiql"])
            .env("NODE_ENV", "production")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(workers) = workers {
            command.args(["--cluster-workers", &workers.to_string()]);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting PostGraphile from {}", dir.display()))?;
        let tail = Arc::new(Mutex::new(Vec::new()));
        for stream in gateway_tests::gateway::piped_outputs(&mut child) {
            let tail = tail.clone();
            // Read to the end, so that it never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Ok(mut tail) = tail.lock() {
                        tail.push(line);
                        if tail.len() > 40 {
                            tail.remove(0);
                        }
                    }
                }
            });
        }
        let mut server = Self {
            child,
            url: format!("http://127.0.0.1:{port}/graphql"),
            tail,
        };
        server.wait_until_serving().await?;
        Ok(server)
    }

    async fn wait_until_serving(&mut self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let answer = client
                .post(&self.url)
                .json(&serde_json::json!({ "query": "{ __typename }" }))
                .timeout(Duration::from_secs(5))
                .send()
                .await;
            if let Ok(response) = answer
                && response.status().is_success()
            {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // The readers may still hold the last lines for a moment.
                tokio::time::sleep(Duration::from_millis(100)).await;
                bail!(
                    "PostGraphile exited ({status}); its last lines:\n{}",
                    self.tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        Err(anyhow!(
            "PostGraphile did not answer at {} within 60 s; its last lines:\n{}",
            self.url,
            self.tail()
        ))
    }

    /// Its last lines of output, for an error message.
    pub fn tail(&self) -> String {
        self.tail.lock().map(|t| t.join("\n")).unwrap_or_default()
    }
}

impl Drop for PostGraphile {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
