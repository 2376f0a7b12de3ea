//! Refunds: only for a cancelled event, once per registration, until the deadline in the
//! event's own zone, split exactly, decided and paid by organizers; the default outcome
//! for those who filed nothing is idempotent.

use chrono::TimeZone;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, Registered, TestApp, error_code, marathon, marathon_date, marathon_year, spawn_app,
};
use crate::on_both_databases;

const REQUEST: &str = "mutation($input: RequestRefundInput!) { requestRefund(input: $input) {
    id option status donationConsent refund { amount } kitShare { amount } donation { amount currency } } }";
const CHANGE_STATUS: &str =
    "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }";

/// A runner registered for the half (KZT 12,000) of the demo's upcoming marathon, which
/// the organizer then cancels. Returns (runner token, registration id, organizer token).
async fn registered_then_cancelled(app: &TestApp, email: &str) -> (String, String, String) {
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let Registered {
        token: runner,
        registration,
    } = app.registered_runner(email, &marathon(), 1).await;
    let event = app.event_id(&marathon()).await;
    app.ok(Some(&organizer), CHANGE_STATUS, json!({ "input": { "eventId": event, "status": "CANCELLED", "reason": "Public events are banned" } }))
        .await;
    (runner, registration, organizer)
}

async fn request(
    app: &TestApp,
    token: &str,
    registration: &str,
    option: &str,
    consent: bool,
) -> Value {
    app.graphql(
        Some(token),
        REQUEST,
        json!({ "input": { "registrationId": registration, "option": option, "donationConsent": consent } }),
    )
    .await
}

async fn a_runner_chooses_kit_and_donate_and_the_organizer_approves_it(backend: Backend) {
    let app = spawn_app(backend).await;
    let (runner, registration, organizer) =
        registered_then_cancelled(&app, "runner@example.kz").await;

    let no_consent = request(&app, &runner, &registration, "KIT_AND_DONATE", false).await;
    assert_eq!(error_code(&no_consent), "BAD_USER_INPUT");
    let body = request(&app, &runner, &registration, "KIT_AND_DONATE", true).await;
    let filed = &body["data"]["requestRefund"];
    assert_eq!(filed["status"], "SUBMITTED", "{body}");
    assert_eq!(filed["kitShare"]["amount"], "6000.00");
    assert_eq!(
        filed["donation"],
        json!({ "amount": "6000.00", "currency": "KZT" })
    );
    assert_eq!(filed["refund"]["amount"], "0.00");
    let again = request(&app, &runner, &registration, "FULL_REFUND", false).await;
    assert_eq!(error_code(&again), "ALREADY_REQUESTED");

    let id = filed["id"].as_str().unwrap();
    let decide = "mutation($id: ID!, $d: RefundDecision!) { decideRefund(id: $id, decision: $d, note: \"Thank you\") { status decisionNote } }";
    let as_runner = app
        .graphql(Some(&runner), decide, json!({ "id": id, "d": "APPROVED" }))
        .await;
    assert_eq!(error_code(&as_runner), "FORBIDDEN");
    let approved = app
        .ok(
            Some(&organizer),
            decide,
            json!({ "id": id, "d": "APPROVED" }),
        )
        .await;
    assert_eq!(
        approved["decideRefund"],
        json!({ "status": "APPROVED", "decisionNote": "Thank you" })
    );
    let twice = app
        .graphql(
            Some(&organizer),
            decide,
            json!({ "id": id, "d": "REJECTED" }),
        )
        .await;
    assert_eq!(error_code(&twice), "CONFLICT");

    let mine = app
        .ok(Some(&runner), "{ me { donations { source amount { amount } } registrations { refundRequest { status } } } }", json!({}))
        .await;
    assert_eq!(
        mine["me"]["donations"],
        json!([{ "source": "FEE_SHARE", "amount": { "amount": "6000.00" } }])
    );
    assert_eq!(
        mine["me"]["registrations"][0]["refundRequest"]["status"],
        "APPROVED"
    );
    let pay = app
        .graphql(
            Some(&organizer),
            "mutation($id: ID!) { markRefundPaid(id: $id) { status } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(
        error_code(&pay),
        "CONFLICT",
        "nothing to pay back for kit and donate"
    );
}
on_both_databases!(a_runner_chooses_kit_and_donate_and_the_organizer_approves_it);

async fn a_full_refund_is_approved_then_paid(backend: Backend) {
    let app = spawn_app(backend).await;
    let (runner, registration, organizer) =
        registered_then_cancelled(&app, "runner@example.kz").await;
    let body = request(&app, &runner, &registration, "FULL_REFUND", true).await;
    let filed = &body["data"]["requestRefund"];
    assert_eq!(filed["refund"]["amount"], "12000.00", "{body}");
    assert_eq!(
        filed["donationConsent"], false,
        "no donation with a full refund"
    );
    let id = filed["id"].as_str().unwrap();
    let pay = "mutation($id: ID!) { markRefundPaid(id: $id) { status paidAt } }";
    let too_soon = app
        .graphql(Some(&organizer), pay, json!({ "id": id }))
        .await;
    assert_eq!(error_code(&too_soon), "CONFLICT", "approve before paying");
    app.ok(
        Some(&organizer),
        "mutation($id: ID!) { decideRefund(id: $id, decision: APPROVED) { status } }",
        json!({ "id": id }),
    )
    .await;
    let paid = app.ok(Some(&organizer), pay, json!({ "id": id })).await;
    assert_eq!(paid["markRefundPaid"]["status"], "PAID");
    let state = app
        .ok(
            Some(&runner),
            "{ me { registrations { state } donations { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        state["me"],
        json!({ "registrations": [{ "state": "REFUNDED" }], "donations": [] })
    );
    let listed = app
        .ok(
            Some(&organizer),
            "query($e: ID!) { refundRequests(eventId: $e, status: PAID) { edges { node { option refund { amount } registration { bib } } } } }",
            json!({ "e": app.event_id(&marathon()).await }),
        )
        .await;
    assert_eq!(
        listed["refundRequests"]["edges"][0]["node"],
        json!({ "option": "FULL_REFUND", "refund": { "amount": "12000.00" }, "registration": { "bib": 1 } })
    );
}
on_both_databases!(a_full_refund_is_approved_then_paid);

async fn refunds_are_only_for_cancelled_events_and_own_registrations(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let Registered {
        token: runner,
        registration,
    } = app
        .registered_runner("runner@example.kz", &marathon(), 0)
        .await;
    let nosy = app.sign_up_runner("nosy@example.kz").await;
    let scheduled = request(&app, &runner, &registration, "FULL_REFUND", false).await;
    assert_eq!(error_code(&scheduled), "REFUND_NOT_AVAILABLE");
    let foreign = request(&app, &nosy, &registration, "FULL_REFUND", false).await;
    assert_eq!(error_code(&foreign), "NOT_FOUND");
    assert_eq!(app.count("refund_request").await, 0);
}
on_both_databases!(refunds_are_only_for_cancelled_events_and_own_registrations);

async fn the_deadline_is_judged_in_almaty_time(backend: Backend) {
    use race_office::services::refunds::{RefundChoice, request_refund};
    let app = spawn_app(backend).await;
    registered_then_cancelled(&app, "late@example.kz").await;
    let runner = <entities::account::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.email == "late@example.kz")
        .unwrap();
    let registration_id = <entities::registration::Entity as sea_orm::EntityTrait>::find()
        .all(&app.db)
        .await
        .unwrap()[0]
        .id;
    let db = sea_orm::Database::connect(app.database.url.clone())
        .await
        .unwrap();
    let choice = || RefundChoice {
        registration_id,
        option: entities::refund_request::RefundOption::FullRefund,
        donation_consent: false,
    };
    // The upcoming race's policy deadline is 31 March of its year in Asia/Almaty (UTC+5
    // since 2024).
    let first_of_april = chrono_tz::Asia::Almaty
        .with_ymd_and_hms(marathon_year(), 4, 1, 0, 0, 0)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let late = request_refund(&db, first_of_april, &runner, choice()).await;
    assert_eq!(
        late.map(|_| ()).map_err(|e| e.code()),
        Err("DEADLINE_PASSED")
    );
    let last_second = chrono_tz::Asia::Almaty
        .with_ymd_and_hms(marathon_year(), 3, 31, 23, 59, 59)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let in_time = request_refund(&db, last_second, &runner, choice()).await;
    assert!(in_time.is_ok(), "23:59:59 Almaty time is in time");

    let expired = app
        .ok(None, "{ eventBySlug(slug: \"almaty-marathon-2020\") { refundPolicy { deadline deadlineEndsAt kitShareBasisPoints donationBasisPoints defaultOption kitIssueFrom } } }", json!({}))
        .await;
    assert_eq!(
        expired["eventBySlug"]["refundPolicy"],
        json!({ "deadline": "2020-03-31", "deadlineEndsAt": "2020-03-31T17:59:59+00:00", "kitShareBasisPoints": 5000,
                "donationBasisPoints": 5000, "defaultOption": "KIT_AND_DONATE", "kitIssueFrom": "2020-04-20" })
    );
}
on_both_databases!(the_deadline_is_judged_in_almaty_time);

async fn the_default_outcome_is_applied_once_after_the_deadline(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let db = sea_orm::Database::connect(app.database.url.clone())
        .await
        .unwrap();
    let event = app.event_id(&marathon()).await;
    race_office::services::synthetic::seed_runners(
        &db,
        chrono::Utc::now(),
        25,
        Some(marathon().as_str()),
    )
    .await
    .unwrap();
    let Registered {
        token: runner,
        registration,
    } = app
        .registered_runner("early@example.kz", &marathon(), 0)
        .await;
    app.ok(
        Some(&organizer),
        CHANGE_STATUS,
        json!({ "input": { "eventId": event, "status": "CANCELLED", "reason": "Ban" } }),
    )
    .await;
    request(&app, &runner, &registration, "FULL_REFUND", false).await;

    let apply = "mutation($e: ID!) { applyDefaultRefundOutcome(eventId: $e) }";
    let before_deadline = app
        .graphql(Some(&organizer), apply, json!({ "e": event }))
        .await;
    assert_eq!(
        error_code(&before_deadline),
        "CONFLICT",
        "not before the deadline has passed"
    );
    // The deadline passes (moved in the database, as if the weeks had gone by: a
    // cancelled event's deadline can no longer be moved sooner through the API).
    as_if_deadline_passed(&app, &event).await;
    let donations_before = app.count("donation").await;
    let first = app.ok(Some(&organizer), apply, json!({ "e": event })).await;
    assert_eq!(
        first["applyDefaultRefundOutcome"], 25,
        "every synthetic runner; not the one who filed"
    );
    let second = app.ok(Some(&organizer), apply, json!({ "e": event })).await;
    assert_eq!(second["applyDefaultRefundOutcome"], 0, "idempotent");
    assert_eq!(app.count("refund_request").await, 26);
    assert_eq!(app.count("donation").await, donations_before + 25);
    let defaults = app
        .ok(
            Some(&organizer),
            "query($e: ID!) { refundRequests(eventId: $e, option: KIT_AND_DONATE, first: 100) { edges { node { isDefault status kitShare { amount } donation { amount } registration { fee { amount } } } } } }",
            json!({ "e": event }),
        )
        .await;
    for edge in defaults["refundRequests"]["edges"].as_array().unwrap() {
        let node = &edge["node"];
        assert_eq!(node["isDefault"], true);
        assert_eq!(node["status"], "APPROVED");
        let cents = |v: &Value| -> i64 { v.as_str().unwrap().replace('.', "").parse().unwrap() };
        assert_eq!(
            cents(&node["kitShare"]["amount"]) + cents(&node["donation"]["amount"]),
            cents(&node["registration"]["fee"]["amount"])
        );
    }
}
on_both_databases!(the_default_outcome_is_applied_once_after_the_deadline);

/// Sets an event's refund deadline to two days ago, as if the weeks had passed (the
/// gateway runs on the system clock).
async fn as_if_deadline_passed(app: &TestApp, event: &str) {
    use sea_orm::sea_query::Expr;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let two_days_ago = (chrono::Utc::now() - chrono::Duration::days(2)).date_naive();
    entities::event::Entity::update_many()
        .col_expr(
            entities::event::Column::RefundDeadline,
            Expr::value(Some(two_days_ago)),
        )
        .filter(entities::event::Column::Id.eq(event.parse::<i64>().unwrap()))
        .exec(&app.db)
        .await
        .unwrap();
}

/// The finding: after a cancellation, setRefundPolicy took a deadline 300 days in the
/// past, and applyDefaultRefundOutcome then gave runners who never chose kit-and-donate
/// at once. Now the deadline only moves later, never sooner than 7 days from the change
/// in the event's zone, and a cancellation moves a sooner one to that day.
async fn a_cancelled_events_refund_deadline_only_moves_later_with_a_weeks_notice(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, organizer) = registered_then_cancelled(&app, "notice@example.kz").await;
    let event = app.event_id(&marathon()).await;
    let policy = "mutation($e: ID!, $d: Date) { setRefundPolicy(input: {eventId: $e, deadline: $d, kitShareBasisPoints: 5000}) { refundPolicy { deadline } } }";
    let today = race_office::domain::TimeZone::parse("Asia/Almaty")
        .unwrap()
        .date_of(chrono::Utc::now());
    let day = |days: i64| Value::from((today + chrono::Duration::days(days)).to_string());
    for (what, deadline) in [
        ("300 days ago", day(-300)),
        ("sooner than 31 March", json!(marathon_date(3, 30))),
        ("removed", Value::Null),
    ] {
        let body = app
            .graphql(
                Some(&organizer),
                policy,
                json!({ "e": event, "d": deadline }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{what}: {body}");
    }
    let later = app
        .ok(
            Some(&organizer),
            policy,
            json!({ "e": event, "d": marathon_date(4, 30) }),
        )
        .await;
    assert_eq!(
        later["setRefundPolicy"]["refundPolicy"]["deadline"],
        marathon_date(4, 30).as_str()
    );
    let apply = "mutation($e: ID!) { applyDefaultRefundOutcome(eventId: $e) }";
    let early = app
        .graphql(Some(&organizer), apply, json!({ "e": event }))
        .await;
    assert_eq!(error_code(&early), "CONFLICT", "{early}");
    assert_eq!(app.count("refund_request").await, 0);

    // A race whose policy was set before it was cancelled, with a deadline in two days:
    // the cancellation gives runners the week.
    let created = app
        .ok(
            Some(&organizer),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
            json!({ "input": { "slug": "spring-10k", "name": "Spring 10K", "venue": "Almaty",
                    "startsAt": (chrono::Utc::now() + chrono::Duration::days(60)).to_rfc3339(),
                    "timeZone": "Asia/Almaty", "capacity": 100 } }),
        )
        .await;
    let spring = created["createEvent"]["id"].as_str().unwrap().to_owned();
    app.ok(
        Some(&organizer),
        policy,
        json!({ "e": spring, "d": day(2) }),
    )
    .await;
    app.ok(
        Some(&organizer),
        CHANGE_STATUS,
        json!({ "input": { "eventId": spring, "status": "CANCELLED", "reason": "Flooded course" } }),
    )
    .await;
    let read = app
        .ok(
            None,
            "query($e: ID!) { event(id: $e) { refundPolicy { deadline } } }",
            json!({ "e": spring }),
        )
        .await;
    assert_eq!(read["event"]["refundPolicy"]["deadline"], day(7));
    let body = app
        .graphql(
            Some(&organizer),
            policy,
            json!({ "e": spring, "d": day(6) }),
        )
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    app.ok(
        Some(&organizer),
        policy,
        json!({ "e": spring, "d": day(8) }),
    )
    .await;
}
on_both_databases!(a_cancelled_events_refund_deadline_only_moves_later_with_a_weeks_notice);
