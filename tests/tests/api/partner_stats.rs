//! What partners see of participation: only the events they sponsor, small groups
//! suppressed so that no total, margin or second query gives one away, and the organizer
//! sees everything.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, error_code, marathon, marathon_date, marathon_year, spawn_app,
};
use crate::on_both_databases;
use crate::partner_keys::{STATS, demo_with_key, issue_key, organization_id};

/// A new race of the director's organization sponsored by Kaspi.kz; returns its id and
/// its distance ids (marathon, half, 10 km).
async fn sponsored_race(app: &TestApp, organizer: &str, slug: &str) -> (String, Vec<String>) {
    let created = app
        .ok(
            Some(organizer),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id } }",
            json!({ "input": { "slug": slug, "name": "Small Race", "venue": "Almaty", "startsAt": format!("{}T03:00:00Z", marathon_date(10, 10)),
                    "timeZone": "Asia/Almaty", "capacity": 500, "registrationState": "OPEN" } }),
        )
        .await;
    let event = created["createEvent"]["id"].as_str().unwrap().to_owned();
    let kaspi: i64 = organization_id(app, "kaspi-kz").await.parse().unwrap();
    race_office::services::events::link_organization(
        &app.db,
        event.parse().unwrap(),
        kaspi,
        entities::event_organization::OrganizationRole::Partner,
    )
    .await
    .unwrap();
    let mut distances = Vec::new();
    for (name, length, fee) in [
        ("Marathon", 42195, "15000"),
        ("Half", 21097, "12000"),
        ("10 km", 10000, "8000"),
    ] {
        let added = app
            .ok(
                Some(organizer),
                "mutation($e: ID!, $input: DistanceFields!) { addDistance(eventId: $e, input: $input) { id } }",
                json!({ "e": event, "input": { "name": name, "lengthMeters": length, "fee": { "amount": fee, "currency": "KZT" } } }),
            )
            .await;
        distances.push(added["addDistance"]["id"].as_str().unwrap().to_owned());
    }
    (event, distances)
}

/// Registers runners: (distance index, gender, city) each.
async fn crowd(app: &TestApp, distances: &[String], runners: &[(usize, &str, &str)]) {
    let tokens = app.runner_tokens(runners.len()).await;
    for (token, (distance, gender, city)) in tokens.iter().zip(runners) {
        app.ok(
            Some(token),
            "mutation($input: RegisterInput!) { register(input: $input) { id } }",
            json!({ "input": { "distanceId": distances[*distance], "gender": gender, "birthDate": "1990-05-01",
                    "country": "KZ", "city": city } }),
        )
        .await;
    }
}

/// (keys, count) per group. Every group listed has its count: a suppressed one is left
/// out of the answer entirely.
fn groups(stats: &Value) -> BTreeMap<Vec<String>, i64> {
    stats["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            let keys = g["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["value"].as_str().unwrap_or("?").to_owned())
                .collect();
            assert_eq!(g["suppressed"], false, "{g}");
            (
                keys,
                g["count"].as_i64().expect("a listed group has its count"),
            )
        })
        .collect()
}

/// What a partner is shown, laid over the organizer's full figures: each of the
/// organizer's groups with the partner's count, or `None` where the partner was not shown
/// the group. The partner is shown nothing the organizer does not see, and the same count.
async fn partner_view(
    app: &TestApp,
    (key, organizer): (&str, &str),
    event: &str,
    by: &[&str],
) -> BTreeMap<Vec<String>, Option<i64>> {
    let full = groups(&stats(app, organizer, event, by).await);
    let shown = groups(&stats(app, key, event, by).await);
    for (keys, count) in &shown {
        assert_eq!(full.get(keys), Some(count), "{keys:?}");
    }
    full.keys()
        .map(|keys| (keys.clone(), shown.get(keys).copied()))
        .collect()
}

async fn stats(app: &TestApp, token: &str, event: &str, by: &[&str]) -> Value {
    app.ok(Some(token), STATS, json!({ "e": event, "by": by }))
        .await["participationStats"]
        .clone()
}

/// Asserts the attacks fail on a published list: never exactly one hidden group (the
/// total minus the visible ones would be it).
fn assert_list_safe(list: &BTreeMap<Vec<String>, Option<i64>>) {
    let hidden = list.values().filter(|c| c.is_none()).count();
    assert!(hidden != 1, "exactly one hidden group: {list:?}");
}

async fn small_groups_are_suppressed_and_cannot_be_recomputed(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, key) = demo_with_key(&app).await;
    let (event, distances) = sponsored_race(&app, &organizer, "small-race").await;
    // Marathon F 8 M 9; half F 7 M 8 OTHER 2; 10 km F 5 M 6 OTHER 1. One runner from
    // Talgar, three from Astana, the rest from Almaty.
    let mut runners = Vec::new();
    for (distance, women, men, other) in [(0, 8, 9, 0), (1, 7, 8, 2), (2, 5, 6, 1)] {
        runners.extend(std::iter::repeat_n((distance, "FEMALE", "Almaty"), women));
        runners.extend(std::iter::repeat_n((distance, "MALE", "Almaty"), men));
        runners.extend(std::iter::repeat_n((distance, "OTHER", "Almaty"), other));
    }
    runners[0].2 = "Talgar";
    for r in &mut runners[1..4] {
        r.2 = "Astana";
    }
    crowd(&app, &distances, &runners).await;

    let by_gender = stats(&app, &key, &event, &["GENDER"]).await;
    assert_eq!(by_gender["total"], 46);
    // Only MALE is listed: the hidden groups' keys are not even named.
    assert_eq!(
        groups(&by_gender),
        BTreeMap::from([(vec!["MALE".to_owned()], 23)])
    );
    let readers = (key.as_str(), organizer.as_str());
    let gender = partner_view(&app, readers, &event, &["GENDER"]).await;
    assert_eq!(gender[&vec!["OTHER".to_owned()]], None, "3 is small");
    assert_eq!(gender[&vec!["FEMALE".to_owned()]], None, "hidden with it");
    assert_eq!(gender[&vec!["MALE".to_owned()]], Some(23));
    assert_list_safe(&gender);
    let distance = partner_view(&app, readers, &event, &["DISTANCE"]).await;
    assert_eq!(
        distance.values().copied().collect::<Vec<_>>(),
        [Some(17), Some(17), Some(12)]
    );

    // The pair, both ways round: the same cells hidden.
    let table = partner_view(&app, readers, &event, &["DISTANCE", "GENDER"]).await;
    let swapped: BTreeMap<Vec<String>, Option<i64>> =
        partner_view(&app, readers, &event, &["GENDER", "DISTANCE"])
            .await
            .into_iter()
            .map(|(mut keys, count)| {
                keys.reverse();
                (keys, count)
            })
            .collect();
    assert_eq!(table, swapped);
    let hidden: Vec<(usize, &str)> = table
        .iter()
        .filter(|(_, c)| c.is_none())
        .map(|(k, _)| {
            (
                distances.iter().position(|d| *d == k[0]).unwrap(),
                k[1].as_str(),
            )
        })
        .collect();
    assert_eq!(
        hidden
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>(),
        [(1, "FEMALE"), (1, "OTHER"), (2, "FEMALE"), (2, "OTHER")]
            .into_iter()
            .collect()
    );
    // A distance's count minus the visible cells of its row is never one hidden cell;
    // nor is a gender's (where shown) minus its column.
    for d in &distances {
        let row: Vec<Option<i64>> = table
            .iter()
            .filter(|(k, _)| k[0] == *d)
            .map(|(_, c)| *c)
            .collect();
        assert!(
            row.iter().filter(|c| c.is_none()).count() != 1,
            "row {d}: {row:?}"
        );
    }
    for g in ["FEMALE", "MALE", "OTHER"] {
        let column: Vec<Option<i64>> = table
            .iter()
            .filter(|(k, _)| k[1] == g)
            .map(|(_, c)| *c)
            .collect();
        let shown_margin = gender[&vec![g.to_owned()]].is_some();
        assert!(
            !shown_margin || column.iter().filter(|c| c.is_none()).count() != 1,
            "{g}: {column:?}"
        );
    }

    // A city typed by fewer than five runners is not even named to a partner.
    let cities = stats(&app, &key, &event, &["CITY", "DISTANCE"]).await;
    assert!(
        !cities.to_string().contains("Talgar") && !cities.to_string().contains("Astana"),
        "{cities}"
    );
    let city_list = stats(&app, &key, &event, &["CITY"]).await;
    // Talgar (1) and Astana (3) together are too few to hide alone, so Almaty is hidden
    // with them: nothing is listed, not even as withheld.
    assert_eq!(groups(&city_list), BTreeMap::new(), "{city_list}");
    assert_eq!(city_list["total"], 46);
    assert_list_safe(&partner_view(&app, readers, &event, &["CITY"]).await);

    // The organizer sees every count, and every name.
    let full = stats(&app, &organizer, &event, &["GENDER", "DISTANCE"]).await;
    assert_eq!(full["suppressionApplied"], false);
    assert_eq!(groups(&full).len(), 8);
    assert_eq!(
        groups(&full)[&vec!["OTHER".to_owned(), distances[2].clone()]],
        1
    );
    assert!(
        stats(&app, &organizer, &event, &["CITY"])
            .await
            .to_string()
            .contains("Talgar")
    );

    // Fewer than five donations: their sum is hidden from the partner.
    let project = app
        .ok(Some(&organizer), "mutation($input: CharityProjectInput!) { createCharityProject(input: $input) { id } }",
            json!({ "input": { "eventId": event, "beneficiary": "Talgar school", "city": "Talgar", "year": marathon_year(), "target": { "amount": "100000", "currency": "KZT" } } }))
        .await["createCharityProject"]["id"]
        .clone();
    let charity = "query($e: ID!) { participationStats(eventId: $e) { charityRaised { suppressed donations amounts { amount currency } } } }";
    for n in 1..=5 {
        app.ok(Some(&organizer), "mutation($p: ID!) { recordDonation(projectId: $p, amount: { amount: \"1000\", currency: \"KZT\" }) { id } }", json!({ "p": project }))
            .await;
        let seen = app.ok(Some(&key), charity, json!({ "e": event })).await;
        let raised = &seen["participationStats"]["charityRaised"];
        if n < 5 {
            assert_eq!(
                *raised,
                json!({ "suppressed": true, "donations": null, "amounts": null }),
                "{n}"
            );
        } else {
            assert_eq!(
                *raised,
                json!({ "suppressed": false, "donations": 5, "amounts": [{ "amount": "5000.00", "currency": "KZT" }] })
            );
        }
    }
    let organizer_view = app
        .ok(Some(&organizer), charity, json!({ "e": event }))
        .await;
    assert_eq!(
        organizer_view["participationStats"]["charityRaised"]["donations"],
        5
    );
}
on_both_databases!(small_groups_are_suppressed_and_cannot_be_recomputed);

/// The finding: a partner compared the lists before and after a known person registered,
/// and the keys of the suppressed groups that appeared ("70+", "MALE") told that person's
/// age group and gender. Suppressed groups are now left out, keys and all.
async fn a_suppressed_group_is_left_out_keys_and_all(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, key) = demo_with_key(&app).await;
    let (event, distances) = sponsored_race(&app, &organizer, "known-runner-race").await;
    crowd(&app, &distances, &[(0, "FEMALE", "Almaty"); 12]).await;
    let seen = |by: &'static str| {
        let (app, key, event) = (&app, &key, &event);
        async move { stats(app, key, event, &[by]).await.to_string() }
    };
    let before = (seen("GENDER").await, seen("AGE_GROUP").await);

    // The known person: a man of 76 on race day.
    let known = app.runner_tokens(1).await.remove(0);
    app.ok(
        Some(&known),
        "mutation($input: RegisterInput!) { register(input: $input) { id } }",
        json!({ "input": { "distanceId": distances[0], "gender": "MALE", "birthDate": "1951-03-01",
                "country": "KZ", "city": "Almaty" } }),
    )
    .await;
    let (gender, age) = (seen("GENDER").await, seen("AGE_GROUP").await);
    assert!(!gender.contains("\"MALE\""), "{gender}");
    assert!(!age.contains("70+"), "{age}");
    for (after, before) in [(&gender, &before.0), (&age, &before.1)] {
        assert!(!after.contains("\"suppressed\":true"), "{after}");
        assert!(!after.contains("\"count\":null"), "{after}");
        assert!(before.contains("\"total\":12"), "{before}");
    }
    // Two-dimension tables and the partner summary leave them out too.
    let pair = stats(&app, &key, &event, &["GENDER", "AGE_GROUP"])
        .await
        .to_string();
    assert!(
        !pair.contains("70+") && !pair.contains("\"MALE\""),
        "{pair}"
    );
    let summary = app
        .ok(
            Some(&key),
            "{ partnerSummary(groupBy: [AGE_GROUP]) { events { groups { keys { value } count suppressed } } } }",
            json!({}),
        )
        .await
        .to_string();
    assert!(
        !summary.contains("70+") && !summary.contains("\"suppressed\":true"),
        "{summary}"
    );
    // The organizer still sees him.
    let full = stats(&app, &organizer, &event, &["AGE_GROUP"])
        .await
        .to_string();
    assert!(full.contains("70+"), "{full}");
}
on_both_databases!(a_suppressed_group_is_left_out_keys_and_all);

async fn each_reader_sees_only_the_events_that_are_theirs(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, key) = demo_with_key(&app).await;
    let marathon_id = app.event_id(&marathon()).await;
    let womens = app.event_id("womens-and-childrens-race-2020").await;
    let own = app
        .ok(Some(&organizer), "mutation($s: DateTime!) { createEvent(input: { slug: \"unsponsored\", name: \"Unsponsored\", venue: \"Almaty\",
            startsAt: $s, timeZone: \"Asia/Almaty\", capacity: 10 }) { id } }", json!({ "s": format!("{}T03:00:00Z", marathon_date(6, 1)) }))
        .await["createEvent"]["id"]
        .clone();
    app.ok(Some(&key), STATS, json!({ "e": marathon_id })).await;
    let body = app.graphql(Some(&key), STATS, json!({ "e": own })).await;
    assert_eq!(
        error_code(&body),
        "FORBIDDEN",
        "Kaspi.kz does not sponsor it"
    );
    assert_eq!(
        error_code(
            &app.graphql(Some(&key), STATS, json!({ "e": "999999" }))
                .await
        ),
        "NOT_FOUND"
    );
    let runner = app.sign_up_runner("runner@example.kz").await;
    assert_eq!(
        error_code(
            &app.graphql(Some(&runner), STATS, json!({ "e": marathon_id }))
                .await
        ),
        "FORBIDDEN"
    );
    assert_eq!(
        error_code(&app.graphql(None, STATS, json!({ "e": marathon_id })).await),
        "UNAUTHENTICATED"
    );
    for by in [
        json!(["CITY", "GENDER", "DISTANCE"]),
        json!(["CITY", "CITY"]),
    ] {
        let body = app
            .graphql(Some(&key), STATS, json!({ "e": marathon_id, "by": by }))
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{by}");
    }

    // An organizer reads its own organization's events, in full.
    let different = app
        .organizer_token("team@differentyou.kz", "different-you")
        .await;
    let full = app
        .ok(Some(&different), STATS, json!({ "e": marathon_id }))
        .await;
    assert_eq!(full["participationStats"]["suppressionApplied"], false);
    assert_eq!(
        error_code(
            &app.graphql(Some(&different), STATS, json!({ "e": womens }))
                .await
        ),
        "FORBIDDEN"
    );

    // A key issued by World Class sees only the events World Class organizes.
    let world_class = app
        .organizer_token("coach@worldclass.kz", "world-class-almaty")
        .await;
    let narrow = issue_key(&app, &world_class, &["STATS_READ"]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let summary = "{ partnerSummary { organization { slug } events { event { slug } total suppressionApplied } } }";
    let seen = app.ok(Some(&narrow), summary, json!({})).await;
    let slugs: Vec<&str> = seen["partnerSummary"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"]["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["almaty-marathon-2020", marathon().as_str()]);
    assert_eq!(
        error_code(
            &app.graphql(Some(&narrow), STATS, json!({ "e": womens }))
                .await
        ),
        "FORBIDDEN"
    );

    // A partner account (password sign-in) sees what a key with every scope sees, for
    // every event Kaspi.kz sponsors; still nothing personal.
    let kaspi: i64 = organization_id(&app, "kaspi-kz").await.parse().unwrap();
    race_office::services::accounts::create_account(
        &app.db,
        chrono::Utc::now(),
        race_office::services::accounts::NewAccount {
            email: race_office::domain::Email::parse("stats@kaspi.kz").unwrap(),
            password: race_office::domain::Password::parse("a partner's long password").unwrap(),
            display_name: race_office::domain::DisplayName::parse("Kaspi").unwrap(),
            role: entities::account::Role::Partner,
            organization_id: Some(kaspi),
        },
    )
    .await
    .unwrap();
    let partner = app
        .sign_in("stats@kaspi.kz", "a partner's long password")
        .await;
    let as_account = app.ok(Some(&partner), summary, json!({})).await;
    assert_eq!(
        as_account["partnerSummary"]["events"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        as_account["partnerSummary"]["organization"]["slug"],
        "kaspi-kz"
    );
    assert_eq!(
        app.ok(
            Some(&partner),
            STATS,
            json!({ "e": marathon_id, "by": ["DISTANCE"] })
        )
        .await,
        app.ok(
            Some(&key),
            STATS,
            json!({ "e": marathon_id, "by": ["DISTANCE"] })
        )
        .await
    );
    let body = app
        .graphql(
            Some(&partner),
            "query($e: ID!) { registrations(eventId: $e) { edges { node { bib } } } }",
            json!({ "e": marathon_id }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(
        error_code(&app.graphql(Some(&organizer), summary, json!({})).await),
        "FORBIDDEN"
    );
}
on_both_databases!(each_reader_sees_only_the_events_that_are_theirs);
