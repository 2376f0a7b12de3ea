//! The memory side of a sign-in burst: argon2id takes 19 MiB per hash, so hashing runs
//! under a semaphore (PASSWORD_HASH_CONCURRENCY) and a burst waits instead of growing
//! the process by 19 MiB per request. Measured on the real gateway binary.

use futures_util::future::join_all;
use gateway_tests::Gateway;
use serde_json::json;

use crate::helpers::{Backend, TestDatabase, error_code};

/// The process's peak resident set so far (`VmHWM`), in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_sign_ins_waits_for_hashing_instead_of_exhausting_memory() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let gateway = Gateway::start(&[
        ("DATABASE_URL", database.url.clone()),
        ("SEED_DEMO", "false".into()),
        ("PASSWORD_HASH_CONCURRENCY", "2".into()),
        // The burst comes from one address: the rate limit is not what this measures.
        ("RATE_AUTH_PER_ADDRESS", "1000".into()),
    ])
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let sign_in = |i: usize| {
        let client = client.clone();
        let url = format!("{}/graphql", gateway.address);
        async move {
            let body: serde_json::Value = client
                .post(url)
                .json(&json!({
                    "query": "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
                    "variables": { "input": { "email": format!("nobody{i}@example.kz"), "password": "not anybody's password" } }
                }))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body
        }
    };
    // One sign-in first, so that the baseline includes a hash's own allocations.
    assert_eq!(error_code(&sign_in(0).await), "INVALID_CREDENTIALS");
    let pid = gateway.child.id();
    let before = peak_rss_kib(pid);
    // An unknown email is hashed all the same (timing must not tell), so each of these
    // costs one argon2id hash.
    let answers = join_all((1..=100).map(sign_in)).await;
    for body in &answers {
        assert_eq!(error_code(body), "INVALID_CREDENTIALS", "{body}");
    }
    let grown_mib = (peak_rss_kib(pid) - before) / 1024;
    // Two hashes at a time: about 2 x 19 MiB at most. Unbounded, 100 at once would need
    // about 1.9 GiB.
    assert!(
        grown_mib < 120,
        "100 concurrent sign-ins grew the peak RSS by {grown_mib} MiB"
    );
    let health = client
        .get(format!("{}/healthz", gateway.address))
        .send()
        .await
        .unwrap();
    assert!(health.status().is_success());
}
