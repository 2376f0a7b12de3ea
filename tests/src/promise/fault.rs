//! The faults a run can inject, and what they need: a Redis of the run's own
//! ([`OwnRedis`], so stopping it touches nothing else on the machine), and a TCP proxy that holds every byte between
//! one instance and Redis back by a delay.
//!
//! `tc netem` would be the natural tool for the latency fault, but this machine's kernel
//! has no `sch_netem` ("Specified qdisc kind is unknown"), so the delay is applied in user
//! space, per chunk, in both directions. Loss is not emulated (TCP would retransmit it
//! into delay anyway).

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

pub use crate::redis::OwnRedis;

/// Which fault, if any, a run injects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// Nothing breaks.
    None,
    /// Redis stops, and starts again after the outage.
    RedisRestart,
    /// SIGKILL of the instance that holds the relay lease.
    KillRelay,
    /// SIGKILL of the instance that does not hold the relay lease.
    KillOther,
    /// Every gateway connection to PostgreSQL terminated (`pg_terminate_backend`).
    PgTerminate,
    /// Every byte between instance 1 and Redis held back (see the module header).
    RedisLatency,
    /// Every instance restarted, one by one, as a deploy does (SIGTERM: readiness fails,
    /// sockets close with 1001 over a window; started again on the same addresses): the
    /// second instance's drain is under way when the organizer cancels.
    RollingRestart,
}

/// How the phones and the organizer reach the instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// Each phone knows every instance's address: home first, then the other.
    Direct,
    /// Debian's HAProxy with the project's configuration (`deploy/haproxy.cfg`) in front;
    /// one balancer per 9,000 phones (each connection holds two of the 20,000 files a
    /// process may have), as a pair of balancers behind one name would be.
    Haproxy,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::RedisRestart => "redis-restart",
            Self::KillRelay => "kill-instance (relay holder)",
            Self::KillOther => "kill-instance (the other)",
            Self::PgTerminate => "pg-terminate",
            Self::RedisLatency => "redis-latency",
            Self::RollingRestart => "rolling-restart",
        }
    }
}

/// A proxy in front of `target` that delays every chunk by `delay` once switched on.
pub struct LatencyProxy {
    pub port: u16,
    switch: tokio::sync::watch::Sender<Duration>,
}

impl LatencyProxy {
    pub async fn start(target: u16) -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (switch, delay) = tokio::sync::watch::channel(Duration::ZERO);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let delay = delay.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::spawn(pipe(client_read, server_write, delay.clone()));
                    pipe(server_read, client_write, delay).await;
                });
            }
        });
        Ok(Self { port, switch })
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn set_delay(&self, delay: Duration) {
        let _ = self.switch.send(delay);
    }
}

/// Copies `from` to `to`, each chunk delivered `delay` after it was read (order kept).
async fn pipe(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: tokio::sync::watch::Receiver<Duration>,
) {
    let (chunks, mut due) = mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((at, chunk)) = due.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
    });
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let at = tokio::time::Instant::now() + *delay.borrow();
                if chunks.send((at, buffer[..n].to_vec())).is_err() {
                    break;
                }
            }
        }
    }
    drop(chunks);
    let _ = writer.await;
}
