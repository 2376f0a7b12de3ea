//! Partner API keys: issued by an organizer to a partner of its events, shown once and
//! stored hashed, scoped, expiring, revocable; and a key reaches nothing personal.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, marathon, spawn_app};
use crate::on_both_databases;
use crate::registrations::register;
use crate::ws_client::{Received, TRANSPORT, Ws};

pub const ISSUE: &str = "mutation($input: IssuePartnerKeyInput!) { issuePartnerKey(input: $input) {
    key partnerKey { id hint scopes active revokedAt organization { slug } } } }";
pub const STATS: &str = "query($e: ID!, $by: [Dimension!]) { participationStats(eventId: $e, groupBy: $by) {
    total suppressionApplied withheld groups { keys { dimension value withheld } count suppressed } } }";

/// The id of an organization, by slug.
pub async fn organization_id(app: &TestApp, slug: &str) -> String {
    race_office::services::organizations::find_by_slug(&app.db, slug)
        .await
        .unwrap()
        .expect("organization exists")
        .id
        .to_string()
}

/// Issues a key to Kaspi.kz (the demo's general partner) with these scopes.
pub async fn issue_key(app: &TestApp, organizer: &str, scopes: &[&str]) -> Value {
    let kaspi = organization_id(app, "kaspi-kz").await;
    let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let body = app
        .ok(
            Some(organizer),
            ISSUE,
            json!({ "input": { "organizationId": kaspi, "scopes": scopes, "expiresAt": expires } }),
        )
        .await;
    body["issuePartnerKey"].clone()
}

/// The demo, its director, and a Kaspi.kz key with every scope.
pub async fn demo_with_key(app: &TestApp) -> (String, String) {
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let issued = issue_key(app, &organizer, &["STATS_READ", "EVENTS_READ"]).await;
    (organizer, issued["key"].as_str().unwrap().to_owned())
}

async fn a_key_is_shown_once_stored_hashed_used_and_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let issued = issue_key(
        &app,
        &organizer,
        &["STATS_READ", "EVENTS_READ", "STATS_READ"],
    )
    .await;
    let key = issued["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("pk_") && key.len() == 46, "{key}");
    assert_eq!(
        issued["partnerKey"]["scopes"],
        json!(["EVENTS_READ", "STATS_READ"])
    );
    assert_eq!(issued["partnerKey"]["organization"]["slug"], "kaspi-kz");
    assert_eq!(issued["partnerKey"]["active"], true);
    let hint = issued["partnerKey"]["hint"].as_str().unwrap();
    assert!(key.starts_with(hint.trim_end_matches('…')) && hint.len() < 12);
    let stored = <entities::partner_key::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].key_hash, race_office::services::hash_token(&key));
    assert!(
        !format!("{:?}", stored[0]).contains(&key[3..]),
        "only the hash is stored"
    );

    let event = app.event_id(&marathon()).await;
    let stats = app.ok(Some(&key), STATS, json!({ "e": event })).await;
    assert_eq!(stats["participationStats"]["suppressionApplied"], true);

    let listed = app
        .ok(
            Some(&organizer),
            "{ partnerKeys { id hint lastUsedAt active } }",
            json!({}),
        )
        .await;
    assert!(
        !listed.to_string().contains(&key[3..]),
        "never the secret again"
    );
    // Refreshed at most once a minute, so shown to the minute: no seconds, no fraction.
    let last_used = listed["partnerKeys"][0]["lastUsedAt"]
        .as_str()
        .unwrap_or_else(|| panic!("a key just used has lastUsedAt: {listed}"));
    let at = chrono::DateTime::parse_from_rfc3339(last_used).unwrap();
    assert_eq!(
        (chrono::Timelike::second(&at), at.timestamp_subsec_nanos()),
        (0, 0),
        "to the minute: {last_used}"
    );
    assert!(
        !last_used.contains('.'),
        "no fraction of a second: {last_used}"
    );
    let age = chrono::Utc::now() - at.with_timezone(&chrono::Utc);
    assert!(
        age >= chrono::Duration::zero() && age < chrono::Duration::minutes(2),
        "the minute it was used in: {last_used}"
    );

    let revoke = "mutation($id: ID!) { revokePartnerKey(id: $id) { active revokedAt } }";
    let id = issued["partnerKey"]["id"].clone();
    let revoked = app.ok(Some(&organizer), revoke, json!({ "id": id })).await;
    assert_eq!(revoked["revokePartnerKey"]["active"], false);
    let refused = app.graphql(Some(&key), STATS, json!({ "e": event })).await;
    assert_eq!(
        error_code(&refused),
        "UNAUTHENTICATED",
        "a revoked key is no key"
    );
    let again = app.ok(Some(&organizer), revoke, json!({ "id": id })).await;
    assert_eq!(
        again["revokePartnerKey"]["revokedAt"], revoked["revokePartnerKey"]["revokedAt"],
        "revoking twice changes nothing"
    );
}
on_both_databases!(a_key_is_shown_once_stored_hashed_used_and_revoked);

async fn a_key_does_only_what_its_scopes_say_until_it_expires(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let events = "{ events(first: 5) { edges { node { slug } } } }";

    let events_only = issue_key(&app, &organizer, &["EVENTS_READ"]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app
        .graphql(Some(&events_only), STATS, json!({ "e": event }))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN", "no STATS_READ: {body}");
    let summary = app
        .graphql(
            Some(&events_only),
            "{ partnerSummary { events { total } } }",
            json!({}),
        )
        .await;
    assert_eq!(error_code(&summary), "FORBIDDEN");
    app.ok(Some(&events_only), events, json!({})).await;

    let stats_only = issue_key(&app, &organizer, &["STATS_READ"]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    app.ok(Some(&stats_only), STATS, json!({ "e": event }))
        .await;
    let body = app.graphql(Some(&stats_only), events, json!({})).await;
    assert_eq!(error_code(&body), "FORBIDDEN", "no EVENTS_READ: {body}");

    // A key that was valid yesterday for a day.
    let kaspi: i64 = organization_id(&app, "kaspi-kz").await.parse().unwrap();
    let director = <entities::account::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.email == "director@almaty-marathon.kz")
        .unwrap();
    let yesterday = chrono::Utc::now() - chrono::Duration::days(2);
    let (_, expired) = race_office::services::partner_keys::issue(
        &app.db,
        yesterday,
        &director,
        race_office::services::partner_keys::NewPartnerKey {
            organization_id: kaspi,
            scopes: race_office::domain::ScopeSet::all(),
            expires_at: yesterday + chrono::Duration::days(1),
        },
    )
    .await
    .unwrap();
    let body = app
        .graphql(Some(&expired), STATS, json!({ "e": event }))
        .await;
    assert_eq!(
        error_code(&body),
        "UNAUTHENTICATED",
        "an expired key is no key"
    );
    let made_up = app
        .graphql(Some("pk_not-a-key-at-all"), STATS, json!({ "e": event }))
        .await;
    assert_eq!(error_code(&made_up), "UNAUTHENTICATED");
}
on_both_databases!(a_key_does_only_what_its_scopes_say_until_it_expires);

async fn only_an_organizer_issues_keys_and_only_to_partners_of_its_events(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let kaspi = organization_id(&app, "kaspi-kz").await;
    let expires = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let input = |organization: &str, scopes: Value, expires: &str| json!({ "input": { "organizationId": organization, "scopes": scopes, "expiresAt": expires } });
    let runner = app.sign_up_runner("runner@example.kz").await;
    let body = app
        .graphql(
            Some(&runner),
            ISSUE,
            input(&kaspi, json!(["STATS_READ"]), &expires),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let body = app
        .graphql(None, ISSUE, input(&kaspi, json!(["STATS_READ"]), &expires))
        .await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED");

    let fellow = organization_id(&app, "world-class-almaty").await;
    let body = app
        .graphql(
            Some(&organizer),
            ISSUE,
            input(&fellow, json!(["STATS_READ"]), &expires),
        )
        .await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "a co-organizer is no partner: {body}"
    );
    let body = app
        .graphql(
            Some(&organizer),
            ISSUE,
            input("999999", json!(["STATS_READ"]), &expires),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    let body = app
        .graphql(Some(&organizer), ISSUE, input(&kaspi, json!([]), &expires))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "no scope");
    let far = (chrono::Utc::now() + chrono::Duration::days(400)).to_rfc3339();
    let body = app
        .graphql(
            Some(&organizer),
            ISSUE,
            input(&kaspi, json!(["STATS_READ"]), &far),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "too long a life");
    let past = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let body = app
        .graphql(
            Some(&organizer),
            ISSUE,
            input(&kaspi, json!(["STATS_READ"]), &past),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "already expired");

    // Another organizer's keys are not listed, nor revocable.
    let issued = issue_key(&app, &organizer, &["STATS_READ"]).await;
    let other = app
        .organizer_token("coach@worldclass.kz", "world-class-almaty")
        .await;
    let listed = app
        .ok(Some(&other), "{ partnerKeys { id } }", json!({}))
        .await;
    assert_eq!(listed["partnerKeys"], json!([]));
    let body = app
        .graphql(
            Some(&other),
            "mutation($id: ID!) { revokePartnerKey(id: $id) { id } }",
            json!({ "id": issued["partnerKey"]["id"] }),
        )
        .await;
    assert_eq!(error_code(&body), "NOT_FOUND");
    assert_eq!(app.count("partner_key").await, 1);
}
on_both_databases!(only_an_organizer_issues_keys_and_only_to_partners_of_its_events);

/// Every way to personal data, tried with a key that has every scope.
async fn a_partner_key_reaches_no_personal_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, key) = demo_with_key(&app).await;
    let runner = app.sign_up_runner("runner@example.kz").await;
    let event = app.event_id(&marathon()).await;
    let distance = app.distance_ids(&marathon()).await[1].clone();
    let registered = register(&app, &runner, &distance).await;
    let registration = registered["data"]["register"]["id"].clone();
    assert!(registration.is_string(), "{registered}");

    let vars = json!({ "e": event, "r": registration, "d": distance });
    let attempts = [
        "{ me { id email displayName } }",
        "{ me { registrations { bib } donations { amount { amount } } refundRequests { id } } }",
        "query($r: ID!) { registration(id: $r) { bib birthDate city gender } }",
        "query($e: ID!) { registrations(eventId: $e) { edges { node { bib city } } } }",
        "query($e: ID!) { refundRequests(eventId: $e) { edges { node { registration { bib } } } } }",
        "{ partnerKeys { id } }",
        "query($e: ID!) { ok: event(id: $e) { name } me { email } }",
        "query($e: ID!) { x: registrations(eventId: $e) { edges { node { bib } } } }",
        "query($e: ID!) { ...F } fragment F on Query { registrations(eventId: $e) { edges { node { bib } } } }",
        "mutation($d: ID!) { register(input: { distanceId: $d }) { bib } }",
        "mutation($r: ID!) { requestRefund(input: { registrationId: $r, option: FULL_REFUND }) { id } }",
        "mutation($r: ID!) { advanceStarterKit(registrationId: $r, to: READY) { bib } }",
        "mutation { decideRefund(id: \"1\", decision: APPROVED) { id } }",
        "mutation($e: ID!) { changeEventStatus(input: { eventId: $e, status: SUSPENDED, reason: \"x\" }) { id } }",
        "mutation { signOut }",
        "mutation { signUp(input: { email: \"p@k.kz\", password: \"a long partner password\", displayName: \"P\" }) { email } }",
        "mutation($e: ID!) { applyDefaultRefundOutcome(eventId: $e) }",
        "mutation { issuePartnerKey(input: { organizationId: \"1\", scopes: [STATS_READ], expiresAt: \"2099-01-01T00:00:00Z\" }) { key } }",
    ];
    for query in attempts {
        let body = app.graphql(Some(&key), query, vars.clone()).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "{query}: {body}");
        let text = body["data"].to_string();
        assert!(
            !text.contains("bib") && !text.contains('@'),
            "{query} leaked: {body}"
        );
    }
    // Nothing personal anywhere in what it may read.
    let allowed = app
        .ok(
            Some(&key),
            "query($e: ID!) { __typename event(id: $e) { name organizers { slug } partners { slug }
                distances { name } statusHistory { reason } }
              participationStats(eventId: $e, groupBy: [CITY]) { total groups { keys { value } count } }
              partnerSummary { organization { slug } events { total event { slug } } } }",
            vars.clone(),
        )
        .await;
    let text = allowed.to_string();
    assert!(
        !text.contains("runner@example.kz") && !text.contains("\"value\":\"Almaty\""),
        "{text}"
    );
    let schema = app
        .ok(Some(&key), "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(schema["__schema"]["queryType"]["name"], "Query");

    // Over WebSocket a key may follow public alerts, not personal notifications.
    let mut public = Ws::init(&app.ws_url(), TRANSPORT, Some(&key)).await;
    public
        .subscribe(
            TRANSPORT,
            "public",
            "subscription { eventStatusChanged(after: \"0\") { id status event { name } } }",
            json!({}),
        )
        .await;
    let replayed = public.payload("public").await;
    assert!(
        replayed["data"]["eventStatusChanged"]["status"].is_string(),
        "{replayed}"
    );
    drop(public);
    let mut ws = Ws::init(&app.ws_url(), TRANSPORT, Some(&key)).await;
    ws.subscribe(
        TRANSPORT,
        "n",
        "subscription { myNotifications { id } }",
        json!({}),
    )
    .await;
    match ws.next(std::time::Duration::from_secs(5)).await {
        Received::Json(message) => {
            assert_eq!(message["type"], "error", "{message}");
            assert_eq!(message["payload"][0]["extensions"]["code"], "FORBIDDEN");
        }
        other => panic!("expected an error, got {other:?}"),
    }
    // And the organizer still reads everything.
    app.ok(
        Some(&organizer),
        "query($e: ID!) { registrations(eventId: $e) { edges { node { bib } } } }",
        vars,
    )
    .await;
}
on_both_databases!(a_partner_key_reaches_no_personal_data);
