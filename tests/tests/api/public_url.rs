//! Links in mail follow the port the gateway actually bound when PUBLIC_URL is unset, and a
//! PUBLIC_URL that names another port on a loopback setup is warned about at start.

use std::time::Duration;

use gateway_tests::Gateway;
use serde_json::json;

use crate::helpers::{Backend, CONFIRM_SUBJECT, TestDatabase, mails, spawn_app_with};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_public_url_the_sign_up_link_names_the_port_actually_bound() {
    // BIND is 127.0.0.1:0 in tests: the port is known only once bound.
    let app = spawn_app_with(Backend::Sqlite, |s| s.http.public_url = None).await;
    app.ok(
        None,
        "mutation($input: SignUpInput!) { signUp(input: $input) { email } }",
        json!({ "input": { "email": "runner@example.kz", "password": "a long runner password", "displayName": "Runner" } }),
    )
    .await;
    let mail = mails(&app, "runner@example.kz", CONFIRM_SUBJECT, 1).await;
    let link = format!("{}/confirm-sign-up?token=", app.address);
    assert!(mail[0].contains(&link), "expected {link} in:\n{}", mail[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_public_url_on_another_loopback_port_is_warned_about_at_start() {
    let database = TestDatabase::create(Backend::Sqlite).await.unwrap();
    let gateway = Gateway::start_logged(
        &[
            ("DATABASE_URL", database.url.clone()),
            ("PUBLIC_URL", "http://127.0.0.1:8080".into()),
        ],
        "warn",
    )
    .await
    .unwrap();
    let port = gateway.address.rsplit(':').next().unwrap().to_owned();
    let warning = gateway
        .wait_for_log(
            &["WARN", "PUBLIC_URL http://127.0.0.1:8080 names port 8080"],
            Duration::from_secs(5),
        )
        .await;
    let warning = warning.unwrap_or_else(|| panic!("no warning in {:?}", gateway.logs()));
    assert!(
        warning.contains(&format!("listens on port {port}")),
        "{warning}"
    );

    // Unset, PUBLIC_URL follows the port bound: nothing to warn about (the warning comes
    // before the `listening on` line the harness waits for).
    let quiet = Gateway::start_logged(&[("DATABASE_URL", database.url.clone())], "warn")
        .await
        .unwrap();
    assert!(
        !quiet.logs().iter().any(|line| line.contains("PUBLIC_URL")),
        "{:?}",
        quiet.logs()
    );
}
