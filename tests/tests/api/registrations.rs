//! Registering: open events only, once per runner, unique bibs, never oversold, and
//! each runner sees only their own.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Registered, TestApp, error_code, marathon, marathon_date, spawn_app,
};
use crate::on_both_databases;

const REGISTER: &str = "mutation($input: RegisterInput!) {
    register(input: $input) { id bib state fee { amount currency } tshirtSize tshirtPaid starterKit }
}";

const MY_REGISTRATIONS: &str = "{ me { registrations {
    id bib fee { amount currency } tshirtSize starterKit state
    event { slug } distance { name } refundRequest { option status }
} } }";

pub async fn register(app: &TestApp, token: &str, distance_id: &str) -> Value {
    app.graphql(
        Some(token),
        REGISTER,
        json!({ "input": { "distanceId": distance_id, "tshirtSize": "M", "gender": "FEMALE", "birthDate": "1990-05-01", "country": "kz", "city": "Almaty" } }),
    )
    .await
}

async fn a_runner_registers_once_and_sees_their_registration(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let token = app.sign_up_runner("runner@example.kz").await;
    let full_marathon = &app.distance_ids(&marathon()).await[0];
    let body = register(&app, &token, full_marathon).await;
    let registration = &body["data"]["register"];
    assert_eq!(registration["bib"], 1, "{body}");
    assert_eq!(
        registration["fee"],
        json!({ "amount": "15000.00", "currency": "KZT" })
    );
    assert_eq!(registration["tshirtPaid"], true);
    assert_eq!(registration["starterKit"], "PENDING");
    assert_eq!(registration["state"], "CONFIRMED");

    let again = register(&app, &token, &app.distance_ids(&marathon()).await[2]).await;
    assert_eq!(error_code(&again), "ALREADY_REGISTERED");

    let mine = app.ok(Some(&token), MY_REGISTRATIONS, json!({})).await;
    let list = mine["me"]["registrations"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["event"]["slug"], marathon().as_str());
    assert_eq!(list[0]["distance"]["name"], "Marathon");
    assert_eq!(list[0]["tshirtSize"], "M");
    assert_eq!(list[0]["refundRequest"], Value::Null);

    let second = app.sign_up_runner("second@example.kz").await;
    let other = register(&app, &second, full_marathon).await;
    assert_eq!(other["data"]["register"]["bib"], 2);
    let places = app
        .ok(
            None,
            "query($s: String!) { eventBySlug(slug: $s) { registeredCount placesLeft } }",
            json!({ "s": marathon() }),
        )
        .await;
    assert_eq!(
        places["eventBySlug"],
        json!({ "registeredCount": 2, "placesLeft": 19998 })
    );
}
on_both_databases!(a_runner_registers_once_and_sees_their_registration);

async fn closed_and_suspended_registration_is_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let token = app.sign_up_runner("runner@example.kz").await;
    for slug in ["almaty-marathon-2020", "womens-and-childrens-race-2020"] {
        let body = register(&app, &token, &app.distance_ids(slug).await[0]).await;
        assert_eq!(error_code(&body), "REGISTRATION_CLOSED", "{slug}: {body}");
    }
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let anonymous = app
        .graphql(
            None,
            REGISTER,
            json!({ "input": { "distanceId": app.distance_ids(&marathon()).await[0] } }),
        )
        .await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    let as_organizer = register(&app, &organizer, &app.distance_ids(&marathon()).await[0]).await;
    assert_eq!(error_code(&as_organizer), "FORBIDDEN");
    let bad_country = app
        .graphql(Some(&token), REGISTER, json!({ "input": { "distanceId": app.distance_ids(&marathon()).await[0], "country": "Kazakhstan" } }))
        .await;
    assert_eq!(error_code(&bad_country), "BAD_USER_INPUT");
    assert_eq!(app.count("registration").await, 0);
}
on_both_databases!(closed_and_suspended_registration_is_refused);

async fn five_hundred_runners_racing_for_the_last_ten_places_get_exactly_ten(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let (_, distance) = app.small_race(&organizer, "small-race", 110).await;
    let db = sea_orm::Database::connect(app.database.url.clone())
        .await
        .unwrap();
    race_office::services::synthetic::seed_runners(
        &db,
        chrono::Utc::now(),
        100,
        Some("small-race"),
    )
    .await
    .unwrap();

    let tokens = app.runner_tokens(500).await;
    let answers = join_all(tokens.iter().map(|token| register(&app, token, &distance))).await;
    let registered = answers
        .iter()
        .filter(|a| a["data"]["register"]["bib"].is_number())
        .count();
    let sold_out = answers
        .iter()
        .filter(|a| error_code(a) == "SOLD_OUT")
        .count();
    assert_eq!(
        (registered, sold_out),
        (10, 490),
        "every answer is a place or SOLD_OUT"
    );

    assert_eq!(app.count("registration").await, 110);
    let bibs: Vec<i64> = answers
        .iter()
        .filter_map(|a| a["data"]["register"]["bib"].as_i64())
        .collect();
    let mut unique = bibs.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique,
        (101..=110).collect::<Vec<_>>(),
        "the last ten bibs, each once"
    );
    let event = app
        .ok(
            None,
            "{ eventBySlug(slug: \"small-race\") { registeredCount placesLeft } }",
            json!({}),
        )
        .await;
    assert_eq!(
        event["eventBySlug"],
        json!({ "registeredCount": 110, "placesLeft": 0 })
    );
}
on_both_databases!(five_hundred_runners_racing_for_the_last_ten_places_get_exactly_ten);

async fn another_runners_registration_is_not_found(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let Registered {
        token: owner,
        registration: id,
    } = app
        .registered_runner("owner@example.kz", &marathon(), 0)
        .await;
    let nosy = app.sign_up_runner("nosy@example.kz").await;

    let query = "query($id: ID!) { registration(id: $id) { bib city } }";
    let own = app.ok(Some(&owner), query, json!({ "id": id })).await;
    assert_eq!(own["registration"]["city"], "Almaty");
    let theirs = app.graphql(Some(&nosy), query, json!({ "id": id })).await;
    assert_eq!(error_code(&theirs), "NOT_FOUND");
    assert_eq!(theirs["data"], Value::Null, "no part of it leaks: {theirs}");
    let unknown = app
        .graphql(Some(&nosy), query, json!({ "id": "999999" }))
        .await;
    assert_eq!(
        theirs["errors"][0]["message"], unknown["errors"][0]["message"],
        "unknown and foreign look the same"
    );
    let mine = app.ok(Some(&nosy), MY_REGISTRATIONS, json!({})).await;
    assert_eq!(mine["me"]["registrations"], json!([]));
    let list = app
        .graphql(
            Some(&nosy),
            "query($e: ID!) { registrations(eventId: $e) { edges { node { bib } } } }",
            json!({ "e": app.event_id(&marathon()).await }),
        )
        .await;
    assert_eq!(error_code(&list), "FORBIDDEN");
}
on_both_databases!(another_runners_registration_is_not_found);

async fn organizers_list_registrations_and_move_starter_kits(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let db = sea_orm::Database::connect(app.database.url.clone())
        .await
        .unwrap();
    race_office::services::synthetic::seed_runners(
        &db,
        chrono::Utc::now(),
        30,
        Some(marathon().as_str()),
    )
    .await
    .unwrap();
    let event = app.event_id(&marathon()).await;
    let page = "query($e: ID!, $after: String, $filter: RegistrationFilter) {
        registrations(eventId: $e, first: 20, after: $after, filter: $filter) {
            edges { node { id bib starterKit } } pageInfo { hasNextPage endCursor } } }";
    let first = app.ok(Some(&organizer), page, json!({ "e": event })).await;
    assert_eq!(
        first["registrations"]["edges"].as_array().unwrap().len(),
        20
    );
    assert_eq!(first["registrations"]["pageInfo"]["hasNextPage"], true);
    let second = app
        .ok(
            Some(&organizer),
            page,
            json!({ "e": event, "after": first["registrations"]["pageInfo"]["endCursor"] }),
        )
        .await;
    assert_eq!(
        second["registrations"]["edges"].as_array().unwrap().len(),
        10
    );
    let by_bib = app
        .ok(
            Some(&organizer),
            page,
            json!({ "e": event, "filter": { "bib": 7 } }),
        )
        .await;
    assert_eq!(
        by_bib["registrations"]["edges"].as_array().unwrap().len(),
        1
    );

    let pending = app
        .ok(
            Some(&organizer),
            page,
            json!({ "e": event, "filter": { "starterKit": "PENDING" } }),
        )
        .await;
    let id = pending["registrations"]["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let advance = "mutation($id: ID!, $to: StarterKitState!) { advanceStarterKit(registrationId: $id, to: $to) { starterKit } }";
    let skip = app
        .graphql(
            Some(&organizer),
            advance,
            json!({ "id": id, "to": "ISSUED" }),
        )
        .await;
    assert_eq!(
        error_code(&skip),
        "CONFLICT",
        "PENDING cannot jump to ISSUED"
    );
    let ready = app
        .ok(
            Some(&organizer),
            advance,
            json!({ "id": id, "to": "READY" }),
        )
        .await;
    assert_eq!(ready["advanceStarterKit"]["starterKit"], "READY");
    let early = app
        .graphql(
            Some(&organizer),
            advance,
            json!({ "id": id, "to": "ISSUED" }),
        )
        .await;
    assert_eq!(
        error_code(&early),
        "KIT_ISSUE_NOT_STARTED",
        "the upcoming race's kits are issued from {}",
        marathon_date(4, 12)
    );
    let other = app.organizer_token("coach@worldclass.kz", "kaspi-kz").await;
    let foreign = app
        .graphql(Some(&other), advance, json!({ "id": id, "to": "ISSUED" }))
        .await;
    assert_eq!(
        error_code(&foreign),
        "NOT_FOUND",
        "not their event's registration"
    );
}
on_both_databases!(organizers_list_registrations_and_move_starter_kits);

async fn kits_are_issued_from_the_issue_date(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let db = sea_orm::Database::connect(app.database.url.clone())
        .await
        .unwrap();
    // The 2020 marathon: kits from 20 April 2020, long past.
    let event = app.event_id("almaty-marathon-2020").await;
    app.ok(
        Some(&organizer),
        "mutation($e: ID!) { updateEvent(input: {eventId: $e, capacity: 18100}) { capacity } }",
        json!({ "e": event }),
    )
    .await;
    race_office::services::synthetic::seed_runners(
        &db,
        chrono::Utc::now(),
        40,
        Some("almaty-marathon-2020"),
    )
    .await
    .unwrap();
    let ready = app
        .ok(
            Some(&organizer),
            "query($e: ID!) { registrations(eventId: $e, filter: {starterKit: READY}) { edges { node { id } } } }",
            json!({ "e": event }),
        )
        .await;
    let id = ready["registrations"]["edges"][0]["node"]["id"]
        .as_str()
        .expect("a READY kit among 40 runners")
        .to_owned();
    let issued = app
        .ok(
            Some(&organizer),
            "mutation($id: ID!) { advanceStarterKit(registrationId: $id, to: ISSUED) { starterKit } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(issued["advanceStarterKit"]["starterKit"], "ISSUED");
}
on_both_databases!(kits_are_issued_from_the_issue_date);

/// The synthetic runners of a database, in bib order, as comparable rows.
async fn synthetic_fingerprint(
    app: &TestApp,
) -> Vec<(
    i32,
    String,
    String,
    String,
    String,
    Option<String>,
    i64,
    String,
)> {
    use sea_orm::{EntityTrait, QueryOrder};
    let rows = entities::registration::Entity::find()
        .order_by_asc(entities::registration::Column::Bib)
        .all(&app.db)
        .await
        .unwrap();
    rows.into_iter()
        .map(|r| {
            (
                r.bib,
                format!("{:?}", r.gender),
                r.country.unwrap_or_default(),
                r.city.unwrap_or_default(),
                format!(
                    "{:?}/{:?}/{}",
                    r.starter_kit,
                    r.tshirt_size,
                    r.birth_date.map(|d| d.to_string()).unwrap_or_default()
                ),
                Some(format!("{}", r.distance_id)),
                r.fee_minor,
                r.registered_at.date_naive().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_runners_are_the_same_for_the_same_n_on_both_databases() {
    let mut prints = Vec::new();
    for backend in [Backend::Postgres, Backend::Sqlite] {
        let app = spawn_app(backend).await;
        app.seed_demo().await;
        let db = sea_orm::Database::connect(app.database.url.clone())
            .await
            .unwrap();
        let today = chrono::DateTime::parse_from_rfc3339("2026-11-25T06:00:00Z")
            .unwrap()
            .to_utc();
        let report = race_office::services::synthetic::seed_runners(
            &db,
            today,
            400,
            Some("almaty-marathon-2020"),
        )
        .await
        .unwrap();
        assert_eq!(report.runners, 400);
        assert!(
            report.refund_requests > 100 && report.refund_requests < 300,
            "about half file a request: {report:?}"
        );
        assert_eq!(app.count("registration").await, 400);
        prints.push((synthetic_fingerprint(&app).await, report));
    }
    assert_eq!(prints[0], prints[1]);
    let genders: std::collections::BTreeSet<&String> = prints[0].0.iter().map(|r| &r.1).collect();
    assert_eq!(genders.len(), 3, "female, male and other all occur");
    let countries: std::collections::BTreeSet<&String> = prints[0].0.iter().map(|r| &r.2).collect();
    assert!(countries.len() >= 5 && countries.contains(&"KZ".to_string()));
}
