//! Sign-up, sign-in and out, guards, and password recovery.

use serde_json::json;

use crate::helpers::{Backend, error_code, mails, spawn_app, token_in};
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
    assert_eq!(stored[0], race_office::services::hash_token(&token));
}
on_both_databases!(a_runner_signs_up_and_sees_their_own_account);

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
                "mutation($input: SignUpInput!) { signUp(input: $input) { email } }",
                json!({ "input": { "email": email, "password": password, "displayName": name } }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    }
    assert_eq!(app.count("account").await, 0);
    assert_eq!(app.count("pending_sign_up").await, 0);
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

    let mail = mails(&app, "runner@example.kz", "Reset your password", 1).await;
    assert!(
        mails(&app, "nobody@example.kz", "", 0).await.is_empty(),
        "only the known address gets mail"
    );
    assert_eq!(mail.len(), 1);
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
        token_hash: Set(race_office::services::hash_token(token)),
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

const REQUEST_RESET: &str = "mutation($email: String!) { requestPasswordReset(email: $email) }";
const RESET: &str = "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }";

async fn reset(app: &crate::helpers::TestApp, token: &str, password: &str) -> serde_json::Value {
    app.graphql(
        None,
        RESET,
        json!({ "input": { "token": token, "newPassword": password } }),
    )
    .await
}

async fn only_the_newest_reset_token_works_and_a_reset_uses_them_all_up(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_runner("runner@example.kz").await;
    let mut tokens = Vec::new();
    for n in 1..=3 {
        app.ok(None, REQUEST_RESET, json!({ "email": "runner@example.kz" }))
            .await;
        let sent = mails(&app, "runner@example.kz", "Reset your password", n).await;
        tokens.push(token_in(&sent[n - 1]));
    }
    // Issuing a token ended the earlier ones.
    for old in &tokens[..2] {
        let body = reset(&app, old, "an older token's password").await;
        assert_eq!(error_code(&body), "INVALID_RESET_TOKEN", "{body}");
    }
    app.sign_in("runner@example.kz", "a long runner password")
        .await;

    // Two live tokens (as an older version of the gateway could leave them): a reset with
    // one uses up the other too.
    let account_id = <entities::account::Entity as sea_orm::EntityTrait>::find()
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
        .id;
    let stray = "reset_a-stray-live-token-for-the-test";
    let now = chrono::Utc::now();
    sea_orm::ActiveModelTrait::insert(
        entities::password_reset::ActiveModel {
            account_id: sea_orm::Set(account_id),
            token_hash: sea_orm::Set(race_office::services::hash_token(stray)),
            created_at: sea_orm::Set(now),
            expires_at: sea_orm::Set(now + chrono::Duration::hours(1)),
            used_at: sea_orm::Set(None),
            ..Default::default()
        },
        &app.db,
    )
    .await
    .unwrap();
    app.ok(
        None,
        RESET,
        json!({ "input": { "token": tokens[2], "newPassword": "the newest password" } }),
    )
    .await;
    for used in [tokens[0].as_str(), &tokens[1], &tokens[2], stray] {
        let body = reset(&app, used, "a password nobody set").await;
        assert_eq!(error_code(&body), "INVALID_RESET_TOKEN", "{body}");
    }
    app.sign_in("runner@example.kz", "the newest password")
        .await;
}
on_both_databases!(only_the_newest_reset_token_works_and_a_reset_uses_them_all_up);

const SIGN_UP: &str =
    "mutation($input: SignUpInput!) { signUp(input: $input) { __typename email message } }";
const CONFIRM: &str =
    "mutation($t: String!) { confirmSignUp(token: $t) { token account { id email role } } }";

async fn sign_up_answers_alike_whether_or_not_the_email_has_an_account(backend: Backend) {
    let app = spawn_app(backend).await;
    app.sign_up_runner("runner@example.kz").await;
    let taken = app
        .graphql(
            None,
            SIGN_UP,
            json!({ "input": { "email": " RUNNER@example.kz", "password": "another long password", "displayName": "Twin" } }),
        )
        .await;
    let fresh = app
        .graphql(
            None,
            SIGN_UP,
            json!({ "input": { "email": "Newcomer@example.kz", "password": "a newcomer's password", "displayName": "New" } }),
        )
        .await;
    assert!(taken.get("errors").is_none(), "{taken}");
    assert!(fresh.get("errors").is_none(), "{fresh}");
    assert_eq!(taken["data"]["signUp"]["email"], "runner@example.kz");
    assert_eq!(fresh["data"]["signUp"]["email"], "newcomer@example.kz");
    assert_eq!(
        taken["data"]["signUp"]["message"], fresh["data"]["signUp"]["message"],
        "the answer does not tell who has an account"
    );
    assert_eq!(app.count("account").await, 1);

    // The owner hears that someone tried, with the way to a new password, and no token.
    let notice = mails(&app, "runner@example.kz", "tried to sign up", 1).await;
    assert!(
        notice[0].contains("http://spa.test/reset-password"),
        "{}",
        notice[0]
    );
    assert!(!notice[0].contains("token="), "{}", notice[0]);
    app.sign_in("runner@example.kz", "a long runner password")
        .await;

    // The newcomer confirms once; the token is single-use.
    let sent = mails(&app, "newcomer@example.kz", "Confirm your sign-up", 1).await;
    assert!(sent[0].contains("http://spa.test/confirm-sign-up?token="));
    let token = token_in(&sent[0]);
    let confirmed = app.ok(None, CONFIRM, json!({ "t": token })).await;
    let payload = &confirmed["confirmSignUp"];
    assert_eq!(payload["account"]["email"], "newcomer@example.kz");
    assert_eq!(payload["account"]["role"], "RUNNER");
    let me = app
        .ok(
            payload["token"].as_str(),
            "{ me { email displayName } }",
            json!({}),
        )
        .await;
    assert_eq!(
        me["me"],
        json!({ "email": "newcomer@example.kz", "displayName": "New" })
    );
    let again = app.graphql(None, CONFIRM, json!({ "t": token })).await;
    assert_eq!(error_code(&again), "INVALID_CONFIRMATION_TOKEN", "{again}");
    assert_eq!(app.count("account").await, 2);
    assert_eq!(app.count("pending_sign_up").await, 0);
}
on_both_databases!(sign_up_answers_alike_whether_or_not_the_email_has_an_account);

async fn a_newer_sign_up_replaces_the_pending_one_and_tokens_expire(backend: Backend) {
    let app = spawn_app(backend).await;
    // Each sign-up's mail is awaited before the next: two sign-ups in quick succession may
    // finish out of order, and then only the newer is recorded and mailed (by design).
    for (n, (password, name)) in [
        ("the first password", "First"),
        ("the second password", "Second"),
    ]
    .into_iter()
    .enumerate()
    {
        app.ok(
            None,
            SIGN_UP,
            json!({ "input": { "email": "twice@example.kz", "password": password, "displayName": name } }),
        )
        .await;
        mails(&app, "twice@example.kz", "Confirm your sign-up", n + 1).await;
    }
    let sent = mails(&app, "twice@example.kz", "Confirm your sign-up", 2).await;
    let (first, second) = (token_in(&sent[0]), token_in(&sent[1]));
    let body = app.graphql(None, CONFIRM, json!({ "t": first })).await;
    assert_eq!(error_code(&body), "INVALID_CONFIRMATION_TOKEN", "{body}");
    app.ok(None, CONFIRM, json!({ "t": second })).await;
    app.sign_in("twice@example.kz", "the second password").await;
    let me = app
        .ok(
            Some(&app.sign_in("twice@example.kz", "the second password").await),
            "{ me { displayName } }",
            json!({}),
        )
        .await;
    assert_eq!(me["me"]["displayName"], "Second");

    // A confirmation link expires.
    app.ok(
        None,
        SIGN_UP,
        json!({ "input": { "email": "late@example.kz", "password": "a late password", "displayName": "Late" } }),
    )
    .await;
    let late = token_in(&mails(&app, "late@example.kz", "Confirm your sign-up", 1).await[0]);
    let backend_kind = sea_orm::ConnectionTrait::get_database_backend(&app.db);
    sea_orm::ConnectionTrait::execute_raw(
        &app.db,
        sea_orm::Statement::from_string(
            backend_kind,
            "UPDATE pending_sign_up SET expires_at = created_at",
        ),
    )
    .await
    .unwrap();
    let body = app.graphql(None, CONFIRM, json!({ "t": late })).await;
    assert_eq!(error_code(&body), "INVALID_CONFIRMATION_TOKEN", "{body}");
    assert_eq!(app.count("account").await, 1);
}
on_both_databases!(a_newer_sign_up_replaces_the_pending_one_and_tokens_expire);
