//! Sign-up, sign-in and out, guards, and password recovery.

use serde_json::json;

use crate::helpers::{Backend, error_code, spawn_app};
use crate::on_both_databases;

const ME: &str = "{ me { id email displayName role organization { slug } } }";

async fn a_runner_signs_up_and_sees_their_own_account(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.sign_up_runner("  Aigerim@Example.KZ ").await;
    let me = app.ok(Some(&token), ME, json!({})).await;
    assert_eq!(me["me"]["email"], "aigerim@example.kz");
    assert_eq!(me["me"]["role"], "RUNNER");
    assert_eq!(me["me"]["organization"], json!(null));

    let stored: Vec<String> = <entities::session::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.token_hash)
        .collect();
    assert_eq!(stored.len(), 1);
    assert_ne!(stored[0], token, "the token itself is never stored");
    assert_eq!(stored[0], schema::services::hash_token(&token));
}
on_both_databases!(a_runner_signs_up_and_sees_their_own_account);

async fn an_email_is_taken_once_whatever_its_case(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_runner("runner@example.kz").await;
    let body = app
        .graphql(
            None,
            "mutation { signUp(input: {email: \"RUNNER@example.kz\", password: \"another long password\", displayName: \"Twin\"}) { token } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&body), "CONFLICT", "{body}");
    assert_eq!(app.count("account").await, 1);
    assert_eq!(app.count("session").await, 1);
}
on_both_databases!(an_email_is_taken_once_whatever_its_case);

async fn bad_sign_up_input_is_refused_and_nothing_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    for (email, password, name) in [
        ("not-an-email", "a long enough password", "Runner"),
        ("runner@example.kz", "short", "Runner"),
        ("runner@example.kz", "a long enough password", "   "),
    ] {
        let body = app
            .graphql(
                None,
                "mutation($input: SignUpInput!) { signUp(input: $input) { token } }",
                json!({ "input": { "email": email, "password": password, "displayName": name } }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    }
    assert_eq!(app.count("account").await, 0);
    assert_eq!(app.count("session").await, 0);
}
on_both_databases!(bad_sign_up_input_is_refused_and_nothing_is_written);

async fn a_wrong_password_and_an_unknown_email_are_refused_alike(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_runner("runner@example.kz").await;
    let sign_in = "mutation($input: SignInInput!) { signIn(input: $input) { token } }";
    let wrong_password = app
        .graphql(
            None,
            sign_in,
            json!({ "input": { "email": "runner@example.kz", "password": "not the password" } }),
        )
        .await;
    let unknown = app
        .graphql(
            None,
            sign_in,
            json!({ "input": { "email": "nobody@example.kz", "password": "not the password" } }),
        )
        .await;
    assert_eq!(error_code(&wrong_password), "INVALID_CREDENTIALS");
    assert_eq!(
        wrong_password["errors"][0]["message"],
        unknown["errors"][0]["message"]
    );
    assert_eq!(error_code(&unknown), "INVALID_CREDENTIALS");
    let token = app
        .sign_in("RUNNER@example.kz", "a long runner password")
        .await;
    assert!(token.starts_with("rdg_"));
}
on_both_databases!(a_wrong_password_and_an_unknown_email_are_refused_alike);

async fn signing_out_ends_only_that_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = app.sign_up_runner("runner@example.kz").await;
    let second = app
        .sign_in("runner@example.kz", "a long runner password")
        .await;
    app.ok(Some(&first), "mutation { signOut }", json!({}))
        .await;
    let body = app.graphql(Some(&first), ME, json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
    app.ok(Some(&second), ME, json!({})).await;
    let body = app.graphql(None, "mutation { signOut }", json!({})).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");
}
on_both_databases!(signing_out_ends_only_that_session);

/// The reset mails written to the test's MAIL_DIR, waiting briefly for the background send.
async fn mails(app: &crate::helpers::TestApp, expected: usize) -> Vec<String> {
    for _ in 0..100 {
        let found: Vec<String> = std::fs::read_dir(&app.mail_dir)
            .map(|dir| {
                dir.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        if found.len() >= expected {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("expected {expected} mails in {}", app.mail_dir.display());
}

fn token_in(mail: &str) -> String {
    let start = mail.find("token=").expect("a link with the token") + "token=".len();
    mail[start..]
        .split_whitespace()
        .next()
        .expect("token")
        .to_owned()
}

async fn a_password_reset_works_once_and_signs_out_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let old_session = app.sign_up_runner("runner@example.kz").await;
    let request = "mutation($email: String!) { requestPasswordReset(email: $email) }";
    let known = app
        .ok(None, request, json!({ "email": "runner@example.kz" }))
        .await;
    let unknown = app
        .ok(None, request, json!({ "email": "nobody@example.kz" }))
        .await;
    assert_eq!(known, json!({ "requestPasswordReset": true }));
    assert_eq!(
        unknown,
        json!({ "requestPasswordReset": true }),
        "the answer does not tell who has an account"
    );

    let mail = mails(&app, 1).await;
    assert_eq!(mail.len(), 1, "only the known address gets mail");
    assert!(mail[0].starts_with("To: runner@example.kz"));
    assert!(mail[0].contains("http://spa.test/reset-password?token="));
    let token = token_in(&mail[0]);
    assert_ne!(app.count("password_reset").await, 0, "a reset was recorded");

    let reset = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }";
    app.ok(
        None,
        reset,
        json!({ "input": { "token": token, "newPassword": "a brand new password" } }),
    )
    .await;
    let body = app.graphql(Some(&old_session), ME, json!({})).await;
    assert_eq!(
        error_code(&body),
        "UNAUTHENTICATED",
        "old sessions are revoked"
    );
    app.sign_in("runner@example.kz", "a brand new password")
        .await;

    let reused = app
        .graphql(
            None,
            reset,
            json!({ "input": { "token": token, "newPassword": "a third new password" } }),
        )
        .await;
    assert_eq!(error_code(&reused), "INVALID_RESET_TOKEN");
    app.sign_in("runner@example.kz", "a brand new password")
        .await;
    let refused = app
        .graphql(
            None,
            "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
            json!({ "input": { "email": "runner@example.kz", "password": "a third new password" } }),
        )
        .await;
    assert_eq!(
        error_code(&refused),
        "INVALID_CREDENTIALS",
        "the reused token changed nothing"
    );
}
on_both_databases!(a_password_reset_works_once_and_signs_out_everywhere);

async fn an_expired_reset_token_is_refused(backend: Backend) {
    use sea_orm::{ActiveModelTrait, Set};
    let app = spawn_app(backend).await;
    app.sign_up_runner("runner@example.kz").await;
    let account_id = <entities::account::Entity as sea_orm::EntityTrait>::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let token = "reset_expired-token-for-the-test";
    let issued = chrono::Utc::now() - chrono::Duration::hours(2);
    entities::password_reset::ActiveModel {
        account_id: Set(account_id),
        token_hash: Set(schema::services::hash_token(token)),
        created_at: Set(issued),
        expires_at: Set(issued + chrono::Duration::hours(1)),
        used_at: Set(None),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .unwrap();
    let body = app
        .graphql(
            None,
            "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }",
            json!({ "input": { "token": token, "newPassword": "a brand new password" } }),
        )
        .await;
    assert_eq!(error_code(&body), "INVALID_RESET_TOKEN");
    app.sign_in("runner@example.kz", "a long runner password")
        .await;
}
on_both_databases!(an_expired_reset_token_is_refused);
