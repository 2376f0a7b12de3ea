//! The charity programme: the story's projects, raised against target, donated fee
//! shares allocated by the README's rule, and direct gifts.

use serde_json::json;

use crate::helpers::{Backend, error_code, marathon_year, spawn_app};
use crate::on_both_databases;

async fn the_programme_shows_five_projects_in_2020_and_seventeen_before(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let summary = app
        .ok(
            None,
            "{ charitySummary(year: 2020) { projects { beneficiary city status target { amount } raised { amount } }
               totalTarget { amount currency } totalRaised { amount currency } projectsToDate yearsToDate }
               earlier: charitySummary(year: 2019) { projectsToDate yearsToDate totalRaised { amount } } }",
            json!({}),
        )
        .await;
    let year = &summary["charitySummary"];
    assert_eq!(year["projects"].as_array().unwrap().len(), 5);
    assert_eq!(
        year["totalTarget"],
        json!([{ "amount": "35000000.00", "currency": "KZT" }])
    );
    assert_eq!(
        year["totalRaised"],
        json!([{ "amount": "0.00", "currency": "KZT" }])
    );
    assert_eq!(year["projectsToDate"], 22);
    assert_eq!(year["yearsToDate"], 9);
    assert_eq!(summary["earlier"]["projectsToDate"], 17);
    assert_eq!(summary["earlier"]["yearsToDate"], 8);
    let yessik = year["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["city"] == "Yessik")
        .unwrap();
    assert_eq!(yessik["status"], "IN_PROGRESS");
}
on_both_databases!(the_programme_shows_five_projects_in_2020_and_seventeen_before);

async fn donated_shares_go_to_the_neediest_project_and_gifts_to_the_named_one(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let db = sea_orm::Database::connect(app.database.url.clone())
        .await
        .unwrap();
    // 300 synthetic runners of the cancelled 2020 marathon, some of whose KIT_AND_DONATE
    // requests are approved: their donated halves are allocated.
    let report = race_office::services::synthetic::seed_runners(
        &db,
        chrono::Utc::now(),
        300,
        Some("almaty-marathon-2020"),
    )
    .await
    .unwrap();
    assert!(report.donations > 0);
    let projects = app.ok(None, "{ charityProjects(year: 2020) { id beneficiary target { amount } raised { amount } } }", json!({})).await;
    let cents =
        |v: &serde_json::Value| -> i64 { v.as_str().unwrap().replace('.', "").parse().unwrap() };
    let raised: i64 = projects["charityProjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| cents(&p["raised"]["amount"]))
        .sum();
    let donated = app.count("donation").await - 17;
    assert_eq!(donated as u64, report.donations);
    assert!(raised > 0);
    // Neediest first: when a project last received a donation its shortfall was the
    // largest, and others' shortfalls only fell since. So every funded project's shortfall
    // is within one donation (at most half the marathon fee, KZT 7,500) of the largest.
    let projects_list = projects["charityProjects"].as_array().unwrap();
    let shortfall =
        |p: &serde_json::Value| cents(&p["target"]["amount"]) - cents(&p["raised"]["amount"]);
    let largest = projects_list.iter().map(shortfall).max().unwrap();
    for project in projects_list
        .iter()
        .filter(|p| cents(&p["raised"]["amount"]) > 0)
    {
        assert!(
            shortfall(project) >= largest - 750_000,
            "{project} was funded out of turn"
        );
    }
    let nur_first = projects_list
        .iter()
        .find(|p| p["beneficiary"] == "NUR Foster Home")
        .unwrap();
    assert!(
        cents(&nur_first["raised"]["amount"]) > 0,
        "the largest target is the neediest at first"
    );

    let nur = projects["charityProjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["beneficiary"] == "NUR Foster Home")
        .unwrap();
    let before = cents(&nur["raised"]["amount"]);
    let gift = "mutation($p: ID!, $a: MoneyInput!) { recordDonation(projectId: $p, amount: $a, donorName: \"Kaspi.kz\") { source amount { amount } } }";
    let given = app
        .ok(
            Some(&organizer),
            gift,
            json!({ "p": nur["id"], "a": { "amount": "1000000", "currency": "KZT" } }),
        )
        .await;
    assert_eq!(given["recordDonation"]["source"], "DIRECT");
    let after = app
        .ok(
            None,
            "{ charityProjects(year: 2020) { beneficiary raised { amount } } }",
            json!({}),
        )
        .await;
    let nur_after = after["charityProjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["beneficiary"] == "NUR Foster Home")
        .unwrap();
    assert_eq!(cents(&nur_after["raised"]["amount"]), before + 100_000_000);

    let wrong_currency = app
        .graphql(
            Some(&organizer),
            gift,
            json!({ "p": nur["id"], "a": { "amount": "10", "currency": "USD" } }),
        )
        .await;
    assert_eq!(error_code(&wrong_currency), "BAD_USER_INPUT");
    let runner = app.sign_up_runner("runner@example.kz").await;
    let as_runner = app
        .graphql(
            Some(&runner),
            gift,
            json!({ "p": nur["id"], "a": { "amount": "10", "currency": "KZT" } }),
        )
        .await;
    assert_eq!(error_code(&as_runner), "FORBIDDEN");
}
on_both_databases!(donated_shares_go_to_the_neediest_project_and_gifts_to_the_named_one);

async fn organizers_create_and_update_projects(backend: Backend) {
    let app = spawn_app(backend).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let create = "mutation($input: CharityProjectInput!) { createCharityProject(input: $input) { id year status target { amount } } }";
    let year = marathon_year();
    let input = json!({ "eventId": event, "beneficiary": "Almaty Children's Rehabilitation Centre", "city": "Almaty", "year": year,
                        "target": { "amount": "5000000", "currency": "KZT" } });
    let created = app
        .ok(Some(&organizer), create, json!({ "input": input }))
        .await;
    assert_eq!(created["createCharityProject"]["status"], "PLANNED");
    let id = created["createCharityProject"]["id"].as_str().unwrap();
    let mut done = input.clone();
    done["status"] = json!("COMPLETED");
    let report = format!("Delivered in May {year}.");
    done["report"] = json!(report);
    let updated = app
        .ok(Some(&organizer), "mutation($id: ID!, $input: CharityProjectInput!) { updateCharityProject(id: $id, input: $input) { status report } }", json!({ "id": id, "input": done }))
        .await;
    assert_eq!(
        updated["updateCharityProject"],
        json!({ "status": "COMPLETED", "report": report })
    );
    let mut bad = input.clone();
    bad["year"] = json!(1800);
    assert_eq!(
        error_code(
            &app.graphql(Some(&organizer), create, json!({ "input": bad }))
                .await
        ),
        "BAD_USER_INPUT"
    );
    let other = app.organizer_token("coach@partner.kz", "kaspi-kz").await;
    assert_eq!(
        error_code(
            &app.graphql(Some(&other), create, json!({ "input": input }))
                .await
        ),
        "FORBIDDEN"
    );
}
on_both_databases!(organizers_create_and_update_projects);
