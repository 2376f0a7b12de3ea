//! The figures are exact: what `participationStats` answers equals a GROUP BY over the
//! registrations, after the bulk seed, kit moves, refund requests, the default outcome,
//! a reschedule and a burst of concurrent registrations; and the counters kept in each
//! transaction equal a rebuild from scratch.

use std::collections::BTreeMap;

use chrono::{Offset as _, TimeZone as _};
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Statement};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, marathon, spawn_app};
use crate::on_both_databases;
use crate::registrations::register;

type Counts = BTreeMap<Vec<String>, i64>;

const ORGANIZER_STATS: &str =
    "query($e: ID!, $by: [Dimension!]) { participationStats(eventId: $e, groupBy: $by) {
    total groups { keys { value } count } } }";

/// The SQL for a dimension's key of registration `r` (refund request `q`).
fn key_sql(dimension: &str, backend: Backend, event: &entities::event::Model) -> String {
    let rules = race_office::domain::participation::KeyRules::for_event(event).unwrap();
    match dimension {
        "DISTANCE" => "CAST(r.distance_id AS TEXT)".into(),
        "GENDER" => "COALESCE(r.gender, '')".into(),
        "AGE_GROUP" => rules.brackets.sql_case("r.birth_date"),
        "COUNTRY" => "COALESCE(r.country, '')".into(),
        "CITY" => "COALESCE(r.city, '')".into(),
        "REGISTRATION_DATE" => match backend {
            Backend::Postgres => format!(
                "to_char(r.registered_at AT TIME ZONE '{}', 'YYYY-MM-DD')",
                event.time_zone
            ),
            // SQLite has no zones: the offset, which the caller checks is the same for
            // every registration.
            Backend::Sqlite => {
                let offset = rules
                    .zone
                    .offset_from_utc_datetime(&event.starts_at.naive_utc())
                    .fix();
                format!(
                    "date(r.registered_at, '{:+} seconds')",
                    offset.local_minus_utc()
                )
            }
        },
        "STARTER_KIT" => "r.starter_kit".into(),
        "REFUND_OPTION" => "COALESCE(q.\"option\", 'NONE')".into(),
        other => panic!("no dimension {other}"),
    }
}

/// Counts straight from the registrations: the naive GROUP BY.
async fn direct(
    app: &TestApp,
    backend: Backend,
    event: &entities::event::Model,
    by: &[&str],
) -> Counts {
    let keys: Vec<String> = by.iter().map(|d| key_sql(d, backend, event)).collect();
    let select: Vec<String> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| format!("{k} AS k{i}"))
        .collect();
    let group: Vec<String> = (1..=by.len()).map(|i| i.to_string()).collect();
    let sql = format!(
        "SELECT {}{}COUNT(*) AS n FROM registration r LEFT JOIN refund_request q ON q.registration_id = r.id
         WHERE r.event_id = {} {}",
        select.join(", "),
        if by.is_empty() { "" } else { ", " },
        event.id,
        if by.is_empty() { String::new() } else { format!("GROUP BY {}", group.join(", ")) },
    );
    let rows = app
        .db
        .query_all_raw(Statement::from_string(app.db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let keys = (0..by.len())
                .map(|i| row.try_get::<String>("", &format!("k{i}")).unwrap())
                .collect();
            (keys, row.try_get::<i64>("", "n").unwrap())
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The organizer's figures, as the same map.
async fn answered(app: &TestApp, organizer: &str, event: i64, by: &[&str]) -> Counts {
    let body = app
        .ok(
            Some(organizer),
            ORGANIZER_STATS,
            json!({ "e": event.to_string(), "by": by }),
        )
        .await;
    body["participationStats"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let keys = g["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["value"].as_str().unwrap_or("").to_owned())
                .collect();
            (keys, g["count"].as_i64().unwrap())
        })
        .collect()
}

async fn event(app: &TestApp, slug: &str) -> entities::event::Model {
    entities::event::Entity::find()
        .filter(entities::event::Column::Slug.eq(slug))
        .one(&app.db)
        .await
        .unwrap()
        .unwrap()
}

/// Every dimension alone and some pairs: the API equals the GROUP BY.
async fn assert_figures_exact(app: &TestApp, backend: Backend, organizer: &str, slug: &str) {
    let event = event(app, slug).await;
    let mut queries: Vec<Vec<&str>> = vec![vec![]];
    for d in [
        "DISTANCE",
        "GENDER",
        "AGE_GROUP",
        "COUNTRY",
        "CITY",
        "REGISTRATION_DATE",
        "STARTER_KIT",
        "REFUND_OPTION",
    ] {
        queries.push(vec![d]);
    }
    queries.extend([
        vec!["DISTANCE", "AGE_GROUP"],
        vec!["AGE_GROUP", "DISTANCE"],
        vec!["REFUND_OPTION", "GENDER"],
        vec!["REGISTRATION_DATE", "STARTER_KIT"],
        vec!["CITY", "COUNTRY"],
    ]);
    for by in queries {
        let expected = direct(app, backend, &event, &by).await;
        assert!(!expected.is_empty());
        assert_eq!(
            answered(app, organizer, event.id, &by).await,
            expected,
            "{slug} by {by:?}"
        );
    }
}

/// The maintained counters of an event, then the same after a rebuild: equal.
async fn assert_counters_equal_a_rebuild(app: &TestApp, slug: &str) {
    let event = event(app, slug).await;
    let snapshot = async || {
        entities::participation_count::Entity::find()
            .filter(entities::participation_count::Column::EventId.eq(event.id))
            .filter(entities::participation_count::Column::Count.ne(0))
            .order_by_asc(entities::participation_count::Column::DimensionA)
            .order_by_asc(entities::participation_count::Column::DimensionB)
            .order_by_asc(entities::participation_count::Column::KeyA)
            .order_by_asc(entities::participation_count::Column::KeyB)
            .all(&app.db)
            .await
            .unwrap()
    };
    let maintained = snapshot().await;
    assert!(!maintained.is_empty());
    let rebuilt = race_office::services::stats::rebuild(&app.db, Some(slug))
        .await
        .unwrap();
    assert_eq!(rebuilt.len(), 1);
    assert_eq!(
        maintained,
        snapshot().await,
        "maintained counters of {slug} differ from a rebuild"
    );
}

async fn the_figures_equal_a_direct_count_after_seed_kits_and_refunds(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let slug = "almaty-marathon-2020";
    race_office::services::synthetic::seed_runners(&app.db, chrono::Utc::now(), 300, Some(slug))
        .await
        .unwrap();
    // One zone offset over the registration window, or the SQLite day would be wrong.
    let seeded = entities::registration::Entity::find()
        .all(&app.db)
        .await
        .unwrap();
    let offsets: std::collections::BTreeSet<i32> = seeded
        .iter()
        .map(|r| {
            r.registered_at
                .with_timezone(&chrono_tz::Asia::Almaty)
                .offset()
                .fix()
                .local_minus_utc()
        })
        .collect();
    assert_eq!(offsets.len(), 1);
    assert_counters_equal_a_rebuild(&app, slug).await;
    assert_figures_exact(&app, backend, &organizer, slug).await;

    // Kits move (those of runners who asked for nothing), then everyone who asked for
    // nothing gets the default outcome.
    let requested: std::collections::BTreeSet<i64> = entities::refund_request::Entity::find()
        .all(&app.db)
        .await
        .unwrap()
        .into_iter()
        .map(|q| q.registration_id)
        .collect();
    let advance = "mutation($r: ID!, $to: StarterKitState!) { advanceStarterKit(registrationId: $r, to: $to) { starterKit } }";
    let pending = seeded.iter().filter(|r| {
        !requested.contains(&r.id) && r.starter_kit == entities::registration::StarterKit::Pending
    });
    for r in pending.take(8) {
        app.ok(
            Some(&organizer),
            advance,
            json!({ "r": r.id.to_string(), "to": "READY" }),
        )
        .await;
        app.ok(
            Some(&organizer),
            advance,
            json!({ "r": r.id.to_string(), "to": "ISSUED" }),
        )
        .await;
    }
    let applied = app
        .ok(
            Some(&organizer),
            "mutation($e: ID!) { applyDefaultRefundOutcome(eventId: $e) }",
            json!({ "e": seeded[0].event_id.to_string() }),
        )
        .await;
    assert!(applied["applyDefaultRefundOutcome"].as_i64().unwrap() > 100);
    assert_counters_equal_a_rebuild(&app, slug).await;
    assert_figures_exact(&app, backend, &organizer, slug).await;
}
on_both_databases!(the_figures_equal_a_direct_count_after_seed_kits_and_refunds);

async fn figures_stay_exact_while_registrations_arrive_and_the_race_moves(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let slug = marathon();
    let event_id = app.event_id(&slug).await;
    let distances = app.distance_ids(&slug).await;
    let tokens = app.runner_tokens(30).await;
    let total = async || {
        let body = app
            .ok(
                Some(&organizer),
                ORGANIZER_STATS,
                json!({ "e": event_id, "by": ["DISTANCE"] }),
            )
            .await;
        let stats = &body["participationStats"];
        let sum: i64 = stats["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["count"].as_i64().unwrap())
            .sum();
        assert_eq!(
            stats["total"].as_i64().unwrap(),
            sum,
            "a snapshot: groups add up to the total"
        );
        sum
    };
    // Thirty registrations at once, and readers among them.
    let registering = join_all(tokens.iter().enumerate().map(|(i, t)| {
        let distance = distances[i % distances.len()].clone();
        let app = &app;
        async move { register(app, t, &distance).await }
    }));
    let reading = join_all((0..10).map(|_| total()));
    let (registered, _) = tokio::join!(registering, reading);
    assert!(
        registered
            .iter()
            .all(|b| b["data"]["register"]["id"].is_string()),
        "{registered:?}"
    );
    assert_eq!(total().await, 30);
    assert_figures_exact(&app, backend, &organizer, &slug).await;

    // Rescheduled four years on: every runner (born 1 May 1990) moves up an age group.
    let change =
        "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }";
    app.ok(Some(&organizer), change, json!({ "input": { "eventId": event_id, "status": "RESCHEDULED", "reason": "Moved", "startsAt": "2031-06-01T03:00:00Z" } }))
        .await;
    let ages = answered(&app, &organizer, event_id.parse().unwrap(), &["AGE_GROUP"]).await;
    assert_eq!(ages, Counts::from([(vec!["40-49".to_owned()], 30)]));
    assert_counters_equal_a_rebuild(&app, &slug).await;

    // Cancelled: refunds filed and kits moved at the same time.
    app.ok(
        Some(&organizer),
        change,
        json!({ "input": { "eventId": event_id, "status": "CANCELLED", "reason": "Banned" } }),
    )
    .await;
    let mine = "{ me { registrations { id } } }";
    let mut work: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = Value> + '_>>> =
        Vec::new();
    for (i, token) in tokens.iter().enumerate().take(20) {
        let registration =
            app.ok(Some(token), mine, json!({})).await["me"]["registrations"][0]["id"].clone();
        let app = &app;
        if i % 2 == 0 {
            let option = if i % 4 == 0 {
                "FULL_REFUND"
            } else {
                "KIT_AND_DONATE"
            };
            work.push(Box::pin(async move {
                app.graphql(Some(token), "mutation($r: ID!, $o: RefundOption!) { requestRefund(input: { registrationId: $r, option: $o, donationConsent: true }) { id } }",
                    json!({ "r": registration, "o": option })).await
            }));
        } else {
            let organizer = organizer.clone();
            work.push(Box::pin(async move {
                app.graphql(
                    Some(&organizer),
                    "mutation($r: ID!) { advanceStarterKit(registrationId: $r, to: READY) { id } }",
                    json!({ "r": registration }),
                )
                .await
            }));
        }
    }
    for body in join_all(work).await {
        assert!(body.get("errors").is_none(), "{body}");
    }
    assert_counters_equal_a_rebuild(&app, &slug).await;
    assert_figures_exact(&app, backend, &organizer, &slug).await;
}
on_both_databases!(figures_stay_exact_while_registrations_arrive_and_the_race_moves);
