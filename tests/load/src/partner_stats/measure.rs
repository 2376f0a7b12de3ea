//! What the partner_stats tool measures with: a GraphQL call, and concurrent loops of a
//! call timed after a warm-up.

use anyhow::anyhow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway_tests::post_graphql;
use serde_json::{Value, json};

use crate::percentile_ms;

/// POSTs a GraphQL request to the gateway at `address`; its `data`, or its errors as text.
pub async fn graphql(
    client: &reqwest::Client,
    address: &str,
    token: Option<&str>,
    query: &str,
    variables: Value,
) -> anyhow::Result<Value> {
    let body = post_graphql(
        client,
        address,
        token,
        &json!({ "query": query, "variables": variables }),
    )
    .await?;
    match body.get("errors") {
        Some(errors) => Err(anyhow!(errors.to_string())),
        None => Ok(body["data"].clone()),
    }
}

/// Runs `concurrency` loops of `call` for `seconds` (after a one-second warm-up) and
/// returns the sorted latencies.
pub async fn measure<F, Fut>(
    concurrency: usize,
    seconds: u64,
    call: F,
) -> anyhow::Result<Vec<Duration>>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = anyhow::Result<()>> + Send,
{
    let call = Arc::new(call);
    let warm_until = Instant::now() + Duration::from_secs(1);
    let stop_at = warm_until + Duration::from_secs(seconds);
    let mut workers = Vec::new();
    for worker in 0..concurrency {
        let call = call.clone();
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let sent = Instant::now();
                if sent >= stop_at {
                    break;
                }
                call(worker).await?;
                if sent >= warm_until {
                    latencies.push(sent.elapsed());
                }
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await??);
    }
    all.sort_unstable();
    Ok(all)
}

pub fn report(name: &str, latencies: &[Duration], seconds: u64) {
    println!(
        "{name}: {} queries in {seconds} s ({:.0}/s), latency ms p50 {:.2}, p99 {:.2}, max {:.2}",
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        percentile_ms(latencies, 50.0),
        percentile_ms(latencies, 99.0),
        percentile_ms(latencies, 100.0)
    );
}
