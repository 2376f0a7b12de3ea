//! One round of load on one server: `connections` tasks, each with a client of its own
//! holding one keep-alive connection, POSTing the same document back to back for a fixed
//! time. An answer counts when it is a 200 of exactly the length of the answer checked
//! before the rounds (both servers answer the same text while nothing changes), which is
//! cheaper than parsing it and stricter than the status alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;

/// A server and what it is asked.
pub struct Target {
    pub name: &'static str,
    /// Its GraphQL endpoint.
    pub url: String,
    /// The request body, JSON.
    pub body: String,
    /// The length of its checked answer.
    pub answer_len: usize,
}

/// What one round measured.
pub struct Round {
    /// Answers that counted.
    pub answered: usize,
    /// Failed requests and answers that did not count.
    pub errors: usize,
    /// Of the answers that counted, sorted.
    pub latencies: Vec<Duration>,
    pub elapsed: Duration,
}

impl Round {
    pub fn rate(&self) -> f64 {
        self.answered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Keeps `connections` requests in flight on `target` for `duration`.
pub async fn run(target: &Target, connections: usize, duration: Duration) -> anyhow::Result<Round> {
    let body = Arc::new(target.body.clone());
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = reqwest::Client::builder()
            .http1_only()
            .pool_max_idle_per_host(1)
            .timeout(Duration::from_secs(10))
            .build()
            .context("building a load client")?;
        let (url, body, answer_len) = (target.url.clone(), body.clone(), target.answer_len);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0usize;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let answer = async {
                    let response = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header(
                            "accept",
                            "application/graphql-response+json, application/json",
                        )
                        .body(body.as_str().to_owned())
                        .send()
                        .await?;
                    let status = response.status();
                    let bytes = response.bytes().await?;
                    anyhow::Ok(status.is_success() && bytes.len() == answer_len)
                }
                .await;
                match answer {
                    Ok(true) => latencies.push(sent.elapsed()),
                    Ok(false) => errors += 1,
                    Err(_) => {
                        errors += 1;
                        // A refused connection fails at once: do not spin on it.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut some, failed) = task.await.context("a load task panicked")?;
        latencies.append(&mut some);
        errors += failed;
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(Round {
        answered: latencies.len(),
        errors,
        latencies,
        elapsed,
    })
}
