//! The harness never drives another test's gateway: every child binds port 0 and says which
//! address it got, a child that exits is reported at once with its last lines, and a health
//! answer is taken only from the process that was started.

use std::time::{Duration, Instant};

use gateway_tests::gateway::{Health, health_of};
use gateway_tests::redis::OwnRedis;
use gateway_tests::{Backend, Gateway, TestDatabase};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_started_at_once_on_port_zero_each_report_their_own_address() {
    let first = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let second = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let first_env = [
        ("DATABASE_URL", first.url.clone()),
        ("BIND", "127.0.0.1:0".into()),
    ];
    let second_env = [
        ("DATABASE_URL", second.url.clone()),
        ("BIND", "127.0.0.1:0".into()),
        // Operators reading JSON logs get the same line, as JSON.
        ("LOG_FORMAT", "json".into()),
    ];
    let (a, b) = tokio::join!(
        Gateway::start_logged(&first_env, "warn"),
        Gateway::start_logged(&second_env, "warn"),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.address, b.address);
    assert_ne!(a.admin, b.admin);
    assert!(!a.address.ends_with(":0") && !a.admin.ends_with(":0"));
    // The lines were printed by each child, whatever its log filter (`warn` here).
    assert!(
        a.logs().contains(&format!("listening on {}", a.address)),
        "{:?}",
        a.logs()
    );
    assert!(a.logs().contains(&format!("admin on {}", a.admin)));
    let json_line = b
        .logs()
        .into_iter()
        .find(|line| line.contains(&format!("listening on {}", b.address)))
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&json_line).unwrap();
    assert_eq!(
        parsed["fields"]["message"],
        format!("listening on {}", b.address)
    );
    // Each address is answered by the process started there, on both listeners.
    let client = reqwest::Client::new();
    for gateway in [&a, &b] {
        for address in [&gateway.address, &gateway.admin] {
            let body: serde_json::Value = client
                .get(format!("{address}/healthz"))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            assert_eq!(
                body,
                serde_json::json!({ "status": "ok", "instance": gateway.instance })
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_refuses_a_health_answer_from_a_process_it_did_not_start() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let running = Gateway::start(&[("DATABASE_URL", database.url.clone())])
        .await
        .unwrap();
    let client = reqwest::Client::new();
    assert!(
        health_of(&client, &running.address, &running.instance)
            .await
            .is_ok()
    );
    match health_of(&client, &running.address, "a-gateway-that-died").await {
        Err(Health::Foreign(message)) => assert!(message.contains(&running.instance), "{message}"),
        _ => panic!("another process's answer was taken"),
    }

    // A child told to bind an address another gateway holds exits; the harness says so at
    // once, with the child's own words, instead of taking the other one's health answer.
    let other = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let started = Instant::now();
    let refused = Gateway::start(&[
        ("DATABASE_URL", other.url.clone()),
        (
            "BIND",
            running.address.trim_start_matches("http://").to_owned(),
        ),
    ])
    .await;
    let Err(message) = refused.map_err(|e| e.to_string()) else {
        panic!("the harness took an answer from a gateway it did not start");
    };
    assert!(message.contains("exited"), "{message}");
    assert!(message.contains("Address already in use"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_servers_of_their_own_never_share_a_port_and_restart_on_theirs() {
    let (a, b) = tokio::join!(OwnRedis::start(), OwnRedis::start());
    let (mut a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.port, b.port);
    let port = a.port;
    a.restart().await.unwrap();
    assert_eq!(a.port, port);
    // A restart on a port another server holds is refused, not taken for one's own.
    a.stop();
    a.port = b.port;
    let error = a.restart().await.unwrap_err().to_string();
    assert!(error.contains(&b.port.to_string()), "{error}");
}

/// Instances started together on an empty PostgreSQL database take turns migrating (an
/// advisory lock): every one of them serves, none dies on a duplicate key, and each
/// migration was applied once, by one of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_started_together_on_an_empty_database_all_serve() {
    let database = TestDatabase::create(Backend::Postgres).await.unwrap();
    let env = [("DATABASE_URL", database.url.clone())];
    let logged = "warn,sea_orm_migration=info";
    let (a, b, c) = tokio::join!(
        Gateway::start_logged(&env, logged),
        Gateway::start_logged(&env, logged),
        Gateway::start_logged(&env, logged)
    );
    let started = [a, b, c];
    for gateway in &started {
        assert!(gateway.is_ok(), "{:?}", gateway.as_ref().err());
    }
    // sea-orm-migration says "Applying migration 'name'" as it applies each one.
    let mut applied: Vec<String> = started
        .iter()
        .flatten()
        .flat_map(|g| g.logs())
        .filter_map(|line| {
            let name = line.split("Applying migration '").nth(1)?;
            Some(name.split('\'').next()?.to_owned())
        })
        .collect();
    let total = applied.len();
    applied.sort();
    applied.dedup();
    assert!(!applied.is_empty(), "no migration was applied");
    assert_eq!(
        total,
        applied.len(),
        "a migration applied twice: {applied:?}"
    );
    assert_eq!(
        applied.len(),
        <migration::Migrator as migration::MigratorTrait>::migrations().len()
    );
    let client = reqwest::Client::new();
    for gateway in started.iter().flatten() {
        let ready = client
            .get(format!("{}/readyz", gateway.address))
            .send()
            .await
            .unwrap();
        assert_eq!(ready.status(), 200);
    }
}

/// The public listener queues a reconnect storm (its accept backlog is 4096, as the kernel
/// here allows; the default was 128): `ss` shows a listener's backlog as its Send-Q.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listener_queues_a_reconnect_storm() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let gateway = Gateway::start(&[("DATABASE_URL", database.url.clone())])
        .await
        .unwrap();
    let port = gateway.address.rsplit(':').next().unwrap().to_owned();
    let somaxconn: u32 = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let listing = std::process::Command::new("ss")
        .args(["-ltnH", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) runs");
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    // State, Recv-Q, Send-Q (the backlog), local address, peer.
    let backlog: u32 = listing
        .split_whitespace()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no listener on {port}: {listing:?}"));
    assert_eq!(backlog, somaxconn.min(4096), "{listing}");
}

/// A fleet starts with MIGRATE_ON_START=false: an instance refuses a database with a
/// migration pending, naming the deploy step, and serves once `gateway migrate` has run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_migrate_on_start_off_an_instance_waits_for_the_deploy_step() {
    let database = TestDatabase::create(Backend::Postgres).await.unwrap();
    let env = [
        ("DATABASE_URL", database.url.clone()),
        ("MIGRATE_ON_START", "false".to_owned()),
    ];
    let refused = Gateway::start(&env).await.err().expect("refused to start");
    let message = refused.to_string();
    assert!(message.contains("MIGRATE_ON_START=false"), "{message}");
    assert!(message.contains("gateway migrate"), "{message}");
    let migrated = std::process::Command::new(gateway_tests::gateway_binary())
        .arg("migrate")
        .env("DATABASE_URL", &database.url)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    assert!(migrated.status.success(), "{migrated:?}");
    let gateway = Gateway::start(&env)
        .await
        .expect("serves after the deploy step");
    let ready = reqwest::get(format!("{}/readyz", gateway.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
}
