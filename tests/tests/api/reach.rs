//! Reach: every registered runner is told by mail through a real SMTP server (aiosmtpd,
//! started by the test), chosen per change (ALL, UNREACHED after the escalation window,
//! NONE); the page acknowledges what it showed; the organizer reads who was reached and
//! who was not; a refused address and a stopped mail server lose nothing and repeat
//! nothing. The mail worker's loop is off: each test drains it and asserts what it did.

use std::collections::HashSet;
use std::time::Duration;

use gateway_tests::smtp::{ReceivedMail, SmtpServer};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, marathon, spawn_app_with};
use crate::on_both_databases;
use crate::registrations::register;
use server::mail::worker::Drained;

const CHANGE: &str =
    "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { id status } }";
const REPORT: &str = "query($n: ID!, $f: ReachFilter) { reachReport(notificationId: $n) {
    notificationId targeted acknowledged liveSeen pushDelivered pushDisplayed pushClicked
    emailed emailFailed emailPending unreached
    runners(filter: $f) { edges { node { name email emailStatus emailReply } } } } }";
const ACK: &str = "mutation($n: ID!) { acknowledgeNotifications(upTo: $n) }";
const LOG: &str = "query($first: Int, $after: String) { notificationLog(first: $first, after: $after) {
    edges { node { id kind eventStatusChange { status reason } } } pageInfo { hasNextPage endCursor } } }";

/// A gateway mailing through `smtp`, its mail worker driven by the test, with the demo.
async fn mail_app(backend: Backend, smtp: &SmtpServer, escalate_after_secs: u64) -> TestApp {
    let url = smtp.url();
    let app = spawn_app_with(backend, move |s| {
        s.mail.smtp_url = Some(url.into());
        s.mail.mail_dir = None;
        s.mail.enabled = false;
        s.mail.retry_base = Duration::from_millis(200);
        s.mail.escalate_after = Duration::from_secs(escalate_after_secs);
    })
    .await;
    app.seed_demo().await;
    app
}

async fn drain(app: &TestApp) -> Drained {
    app.pipeline
        .mail
        .drain_once()
        .await
        .expect("the mail worker drains")
}

/// Runners registered for the upcoming marathon, each `<name>-0@load.test` (made directly:
/// sign-up mail would go through the same SMTP server); returns their tokens.
async fn runners(app: &TestApp, names: &[&str]) -> Vec<String> {
    let distance = app.distance_ids(&marathon()).await[0].clone();
    let mut tokens = Vec::new();
    for name in names {
        let token = stranger(app, name).await;
        let body = register(app, &token, &distance).await;
        assert!(body.get("errors").is_none(), "{body}");
        tokens.push(token);
    }
    tokens
}

/// A runner `<name>-0@load.test`, registered for nothing.
async fn stranger(app: &TestApp, name: &str) -> String {
    gateway_tests::runner_tokens(&app.db, name, 1)
        .await
        .expect("a runner")
        .remove(0)
}

/// The organizer cancels the marathon with `email` (omitted: the default); returns the
/// organizer's token and the alert's notification id.
async fn cancel(app: &TestApp, email: Option<&str>) -> (String, String) {
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let mut input =
        json!({ "eventId": event, "status": "CANCELLED", "reason": "Public events are banned" });
    if let Some(email) = email {
        input["email"] = json!(email);
    }
    app.ok(Some(&organizer), CHANGE, json!({ "input": input }))
        .await;
    let reports = app
        .ok(
            Some(&organizer),
            "query($e: ID!) { pushReports(eventId: $e) { notificationId } }",
            json!({ "e": event }),
        )
        .await;
    let id = reports["pushReports"][0]["notificationId"]
        .as_str()
        .expect("the alert's id")
        .to_owned();
    (organizer, id)
}

async fn report(app: &TestApp, organizer: &str, notification: &str, filter: &str) -> Value {
    app.ok(
        Some(organizer),
        REPORT,
        json!({ "n": notification, "f": filter }),
    )
    .await["reachReport"]
        .clone()
}

/// The alert mails the server holds (sign-up confirmations left out).
fn alert_mails(smtp: &SmtpServer) -> Vec<ReceivedMail> {
    smtp.messages()
        .into_iter()
        .filter(|m| {
            m.subject
                .as_deref()
                .is_some_and(|s| s.contains("cancelled"))
        })
        .collect()
}

async fn all_mails_every_registered_runner_once_in_text_and_html(backend: Backend) {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(backend, &smtp, 600).await;
    let emails = [
        "aigerim-0@load.test",
        "dmitry-0@load.test",
        "sam-0@load.test",
    ];
    runners(&app, &["aigerim", "dmitry", "sam"]).await;
    let (organizer, notification) = cancel(&app, Some("ALL")).await;

    let drained = drain(&app).await;
    assert_eq!(drained.queued, 3, "one per registered runner");
    assert_eq!(drained.attempted, 3);
    assert_eq!(drain(&app).await, Drained::default(), "nothing twice");
    let mails = alert_mails(&smtp);
    let to: HashSet<&str> = mails.iter().map(|m| m.envelope_to.as_str()).collect();
    assert_eq!(to, emails.iter().copied().collect());
    let ids: HashSet<_> = mails.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), 3, "a Message-ID per runner");
    for mail in &mails {
        let id = mail.message_id.as_deref().expect("a Message-ID");
        assert!(
            id.starts_with(&format!("<alert-{notification}.runner-")) && id.ends_with("@spa.test>"),
            "{id}"
        );
        assert_eq!(
            mail.header("Auto-Submitted").as_deref(),
            Some("auto-generated")
        );
        let text = mail.text.as_deref().expect("a text part");
        let html = mail.html.as_deref().expect("an HTML part");
        let link = format!("http://spa.test/events/{}", marathon());
        for part in [text, html] {
            assert!(part.contains("Public events are banned"), "{part}");
            assert!(part.contains(&link), "{part}");
            assert!(part.contains("Applications close at the end of"), "{part}");
            assert!(part.contains("(Asia/Almaty)"), "{part}");
        }
    }
    let reach = report(&app, &organizer, &notification, "UNREACHED").await;
    assert_eq!(reach["targeted"], 3);
    assert_eq!(reach["emailed"], 3);
    assert_eq!(reach["unreached"], 0);
    assert_eq!(reach["runners"]["edges"], json!([]));
}
on_both_databases!(all_mails_every_registered_runner_once_in_text_and_html);

async fn unreached_mails_only_those_who_did_not_acknowledge_in_the_window(backend: Backend) {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(backend, &smtp, 2).await;
    let tokens = runners(&app, &["seen", "away", "asleep"]).await;
    let (organizer, notification) = cancel(&app, None).await;

    // The page read its log back and showed the alert.
    let log = app.ok(Some(&tokens[0]), LOG, json!({ "first": 5 })).await;
    assert_eq!(
        log["notificationLog"]["edges"][0]["node"]["id"], notification,
        "{log}"
    );
    let acked = app
        .ok(Some(&tokens[0]), ACK, json!({ "n": notification }))
        .await;
    assert_eq!(acked["acknowledgeNotifications"], 1);
    let again = app
        .ok(Some(&tokens[0]), ACK, json!({ "n": notification }))
        .await;
    assert_eq!(again["acknowledgeNotifications"], 0, "once");

    let early = drain(&app).await;
    assert_eq!(early.queued, 3);
    assert_eq!(early.attempted, 0, "the window has not ended");
    let reach = report(&app, &organizer, &notification, "UNREACHED").await;
    assert_eq!(reach["targeted"], 3);
    assert_eq!(reach["acknowledged"], 1);
    assert_eq!(reach["liveSeen"], 1);
    assert_eq!(reach["emailPending"], 3);
    assert_eq!(reach["unreached"], 2);
    let to_phone: Vec<&str> = reach["runners"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["email"].as_str().unwrap())
        .collect();
    assert_eq!(to_phone, ["away-0@load.test", "asleep-0@load.test"]);

    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(drain(&app).await.attempted, 2);
    let mut to: Vec<String> = alert_mails(&smtp)
        .into_iter()
        .map(|m| m.envelope_to)
        .collect();
    to.sort();
    assert_eq!(to, ["asleep-0@load.test", "away-0@load.test"]);
    let reach = report(&app, &organizer, &notification, "UNREACHED").await;
    assert_eq!(reach["emailed"], 2);
    assert_eq!(reach["emailPending"], 0);
    assert_eq!(reach["acknowledged"], 1);
    assert_eq!(reach["unreached"], 0);
}
on_both_databases!(unreached_mails_only_those_who_did_not_acknowledge_in_the_window);

async fn none_mails_nobody_and_leaves_everyone_unreached(backend: Backend) {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(backend, &smtp, 0).await;
    runners(&app, &["one", "two"]).await;
    let (organizer, notification) = cancel(&app, Some("NONE")).await;
    let drained = drain(&app).await;
    assert_eq!((drained.queued, drained.attempted), (2, 0));
    assert!(alert_mails(&smtp).is_empty());
    let reach = report(&app, &organizer, &notification, "UNREACHED").await;
    assert_eq!(reach["targeted"], 2);
    assert_eq!(reach["emailed"], 0);
    assert_eq!(reach["unreached"], 2);
    assert_eq!(
        reach["runners"]["edges"][0]["node"]["emailStatus"],
        "NOT_MAILED"
    );
}
on_both_databases!(none_mails_nobody_and_leaves_everyone_unreached);

async fn a_refused_address_is_email_failed_with_its_reply_and_the_rest_go_on(backend: Backend) {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(backend, &smtp, 0).await;
    runners(&app, &["here", "gone", "also"]).await;
    smtp.set_refused(&["gone-0@load.test"]).unwrap();
    let (organizer, notification) = cancel(&app, Some("ALL")).await;
    assert_eq!(drain(&app).await.attempted, 3);
    assert_eq!(drain(&app).await.attempted, 0, "a refusal is not retried");
    assert_eq!(alert_mails(&smtp).len(), 2);
    let reach = report(&app, &organizer, &notification, "EMAIL_FAILED").await;
    assert_eq!(reach["emailed"], 2);
    assert_eq!(reach["emailFailed"], 1);
    assert_eq!(reach["unreached"], 1);
    let failed = &reach["runners"]["edges"][0]["node"];
    assert_eq!(failed["email"], "gone-0@load.test");
    assert_eq!(failed["emailStatus"], "FAILED");
    let reply = failed["emailReply"].as_str().unwrap();
    assert!(reply.contains("550"), "{reply}");
}
on_both_databases!(a_refused_address_is_email_failed_with_its_reply_and_the_rest_go_on);

async fn a_stopped_mail_server_loses_nothing_and_repeats_nothing(backend: Backend) {
    let mut smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(backend, &smtp, 0).await;
    runners(&app, &["a", "b", "c"]).await;
    smtp.stop().await.unwrap();
    let (organizer, notification) = cancel(&app, Some("ALL")).await;
    assert_eq!(drain(&app).await.attempted, 3);
    let reach = report(&app, &organizer, &notification, "UNREACHED").await;
    assert_eq!(reach["emailPending"], 3, "kept for a retry: {reach}");
    assert_eq!(reach["emailFailed"], 0);

    smtp.restart().await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        drain(&app).await;
        let reach = report(&app, &organizer, &notification, "UNREACHED").await;
        if reach["emailed"] == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{reach}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mails = alert_mails(&smtp);
    assert_eq!(mails.len(), 3, "each once");
    let ids: HashSet<_> = mails.iter().map(|m| m.message_id.clone()).collect();
    assert_eq!(ids.len(), 3);
}
on_both_databases!(a_stopped_mail_server_loses_nothing_and_repeats_nothing);

async fn acknowledging_what_is_not_yours_is_not_found(backend: Backend) {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(backend, &smtp, 600).await;
    let tokens = runners(&app, &["mine"]).await;
    let (_, notification) = cancel(&app, None).await;
    let stranger = stranger(&app, "stranger").await;
    for (token, id) in [
        (&stranger, notification.as_str()),
        (&tokens[0], "999999"),
        (&tokens[0], "not an id"),
    ] {
        let body = app.graphql(Some(token), ACK, json!({ "n": id })).await;
        assert_eq!(error_code(&body), "NOT_FOUND", "{id}: {body}");
    }
    let anonymous = app.graphql(None, ACK, json!({ "n": notification })).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
    // A runner cannot read a report, nor choose who is mailed.
    let body = app
        .graphql(Some(&tokens[0]), REPORT, json!({ "n": notification }))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    let event = app.event_id(&marathon()).await;
    let body = app
        .graphql(
            Some(&tokens[0]),
            CHANGE,
            json!({ "input": { "eventId": event, "status": "SCHEDULED", "reason": "x", "email": "ALL" } }),
        )
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_what_is_not_yours_is_not_found_on_sqlite() {
    acknowledging_what_is_not_yours_is_not_found(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledging_what_is_not_yours_is_not_found_on_postgres() {
    acknowledging_what_is_not_yours_is_not_found(Backend::Postgres).await;
}

/// On PostgreSQL the acknowledgements that arrive together are written by one statement:
/// sent all at once, each runner's still answers for that runner alone (1 the first time,
/// 0 again), a stranger's is NOT_FOUND, and the report counts each runner once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledgements_sent_together_each_answer_for_their_runner() {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(Backend::Postgres, &smtp, 600).await;
    let names: Vec<String> = (0..40).map(|n| format!("together{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let tokens = runners(&app, &names).await;
    let (organizer, notification) = cancel(&app, Some("NONE")).await;
    let mut strangers = Vec::new();
    for n in 0..10 {
        strangers.push(stranger(&app, &format!("apart{n}")).await);
    }
    let everyone = || {
        futures_util::future::join_all(
            tokens
                .iter()
                .chain(&strangers)
                .map(|token| app.graphql(Some(token), ACK, json!({ "n": notification }))),
        )
    };
    let first = everyone().await;
    for body in &first[..tokens.len()] {
        assert_eq!(body["data"]["acknowledgeNotifications"], 1, "{body}");
    }
    for body in &first[tokens.len()..] {
        assert_eq!(error_code(body), "NOT_FOUND", "{body}");
    }
    let again = everyone().await;
    for body in &again[..tokens.len()] {
        assert_eq!(body["data"]["acknowledgeNotifications"], 0, "{body}");
    }
    drain(&app).await;
    let reach = report(&app, &organizer, &notification, "UNREACHED").await;
    assert_eq!(reach["targeted"], tokens.len(), "{reach}");
    assert_eq!(reach["acknowledged"], tokens.len(), "{reach}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_alert_log_reads_back_newest_first_a_page_at_a_time() {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(Backend::Sqlite, &smtp, 600).await;
    let tokens = runners(&app, &["reader"]).await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    for (status, reason) in [("SUSPENDED", "Awaiting a permit"), ("CANCELLED", "Banned")] {
        app.ok(
            Some(&organizer),
            CHANGE,
            json!({ "input": { "eventId": event, "status": status, "reason": reason } }),
        )
        .await;
    }
    let first =
        app.ok(Some(&tokens[0]), LOG, json!({ "first": 1 })).await["notificationLog"].clone();
    assert_eq!(
        first["edges"][0]["node"]["eventStatusChange"]["reason"],
        "Banned"
    );
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let second = app
        .ok(
            Some(&tokens[0]),
            LOG,
            json!({ "first": 1, "after": first["pageInfo"]["endCursor"] }),
        )
        .await["notificationLog"]
        .clone();
    assert_eq!(
        second["edges"][0]["node"]["eventStatusChange"]["reason"],
        "Awaiting a permit"
    );
    assert_eq!(second["pageInfo"]["hasNextPage"], false);
    let anonymous = app.graphql(None, LOG, json!({})).await;
    assert_eq!(error_code(&anonymous), "UNAUTHENTICATED");
}

/// Mail workers on two gateway processes sharing one PostgreSQL and one SMTP server: each
/// runner gets the alert once, whichever instance claimed it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_mail_each_runner_once() {
    use crate::alerts_cluster::{cancel as cancel_on, demo_database, event_id, instance};
    let smtp = SmtpServer::start().await.unwrap();
    let (database, organizer) = demo_database().await;
    let db = sea_orm::Database::connect(database.url.clone())
        .await
        .unwrap();
    let prefix = crate::helpers::unique_name("gwmail");
    let url = smtp.url();
    // Small batches and few connections each, so that both instances take part.
    let env = [
        ("SMTP_URL", url.as_str()),
        ("ALERT_EMAIL_AFTER_SECS", "0"),
        ("MAIL_BATCH", "8"),
        ("MAIL_CONCURRENCY", "2"),
        ("MAIL_POLL_MS", "100"),
    ];
    let a = instance(&database, "redis://127.0.0.1:6379", &prefix, &env).await;
    let b = instance(&database, "redis://127.0.0.1:6379", &prefix, &env).await;
    let event = event_id(&a, &marathon()).await;
    let distance = {
        let body = gateway_tests::post_graphql(
            &reqwest::Client::new(),
            &a.address,
            None,
            &json!({ "query": "query($s: String!) { eventBySlug(slug: $s) { distances { id } } }",
                     "variables": { "s": marathon() } }),
        )
        .await
        .unwrap();
        body["data"]["eventBySlug"]["distances"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let tokens = gateway_tests::runner_tokens(&db, &prefix, 40)
        .await
        .unwrap();
    for token in &tokens {
        let body = gateway_tests::post_graphql(
            &reqwest::Client::new(),
            &b.address,
            Some(token),
            &json!({ "query": "mutation($input: RegisterInput!) { register(input: $input) { id } }",
                     "variables": { "input": { "distanceId": distance, "tshirtSize": "M", "gender": "FEMALE",
                         "birthDate": "1990-05-01", "country": "kz", "city": "Almaty" } } }),
        )
        .await
        .unwrap();
        assert!(body.get("errors").is_none(), "{body}");
    }
    cancel_on(
        &a,
        &organizer,
        &event,
        "CANCELLED",
        "Public events are banned",
    )
    .await;
    smtp.wait_for(40, Duration::from_secs(20))
        .await
        .expect("every runner mailed");
    // Proof by waiting, on purpose (as for pushes): a second send would come after the
    // first, in no order with anything else the test could wait for.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let mails = alert_mails(&smtp);
    let recipients: HashSet<&str> = mails.iter().map(|m| m.envelope_to.as_str()).collect();
    assert_eq!(recipients.len(), 40);
    assert_eq!(mails.len(), 40, "nobody twice");
}

const ME: &str = "{ me { language } }";

/// A runner of `language` (made directly), registered for the marathon.
async fn runner_in(app: &TestApp, name: &str, language: &str) -> String {
    let token = runners(app, &[name]).await.remove(0);
    let body = app
        .ok(
            Some(&token),
            "mutation($l: Language!) { updateAccount(input: { language: $l }) { language } }",
            json!({ "l": language }),
        )
        .await;
    assert_eq!(body["updateAccount"]["language"], language);
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_runner_is_mailed_in_their_language_with_the_reason_in_it() {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(Backend::Postgres, &smtp, 600).await;
    runner_in(&app, "aigul", "KK").await;
    runner_in(&app, "olga", "RU").await;
    runner_in(&app, "sam", "EN").await;
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    let input = json!({ "eventId": event, "status": "CANCELLED", "reason": "Public events are banned",
        "email": "ALL",
        "reasons": [{ "language": "RU", "text": "Массовые мероприятия запрещены" },
                    { "language": "KK", "text": "Көпшілік іс-шараларға тыйым салынды" }] });
    app.ok(Some(&organizer), CHANGE, json!({ "input": input }))
        .await;
    assert_eq!(drain(&app).await.attempted, 3);
    let mails = alert_mails_of(&smtp);
    let of = |to: &str| {
        mails
            .iter()
            .find(|m| m.envelope_to == to)
            .unwrap_or_else(|| panic!("no mail to {to}"))
    };
    let kk = of("aigul-0@load.test");
    assert!(
        kk.subject.as_deref().unwrap().ends_with("болдырылмады"),
        "{:?}",
        kk.subject
    );
    let text = kk.text.as_deref().unwrap();
    assert!(
        text.contains("Көпшілік іс-шараларға тыйым салынды"),
        "{text}"
    );
    assert!(text.contains(" ж. "), "a Kazakh date: {text}");
    assert!(kk.html.as_deref().unwrap().contains("lang=\"kk\""));
    let ru = of("olga-0@load.test");
    assert!(
        ru.subject.as_deref().unwrap().ends_with("отменён"),
        "{:?}",
        ru.subject
    );
    let text = ru.text.as_deref().unwrap();
    assert!(text.contains("Массовые мероприятия запрещены"), "{text}");
    assert!(text.contains("Заявки принимаются до конца дня"), "{text}");
    let en = of("sam-0@load.test");
    assert!(en.subject.as_deref().unwrap().ends_with("is cancelled"));
    assert!(
        en.text
            .as_deref()
            .unwrap()
            .contains("Public events are banned")
    );
    // The live side carries every translation; each page picks its own.
    let history = app
        .ok(
            None,
            "query($e: ID!) { event(id: $e) { statusHistory { reason reasons { language text } } } }",
            json!({ "e": event }),
        )
        .await;
    let newest = history["event"]["statusHistory"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["reason"] == "Public events are banned")
        .cloned()
        .unwrap();
    assert_eq!(
        newest["reasons"],
        json!([{ "language": "KK", "text": "Көпшілік іс-шараларға тыйым салынды" },
               { "language": "RU", "text": "Массовые мероприятия запрещены" }])
    );
}

/// Every mail the server holds for alerts, whatever its language (sign-up mail aside).
fn alert_mails_of(smtp: &SmtpServer) -> Vec<ReceivedMail> {
    smtp.messages()
        .into_iter()
        .filter(|m| {
            m.header("Auto-Submitted").is_some()
                && m.message_id
                    .as_deref()
                    .is_some_and(|id| id.starts_with("<alert-"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_language_comes_from_the_browser_and_bad_translations_are_refused() {
    let smtp = SmtpServer::start().await.unwrap();
    let app = mail_app(Backend::Sqlite, &smtp, 600).await;
    // Sign-up takes the browser's language when the form gives none; English otherwise.
    for (header, expected) in [
        (Some("ru-RU,ru;q=0.9,en;q=0.8"), "RU"),
        (Some("kk-KZ"), "KK"),
        (Some("de-DE, fr;q=0.5"), "EN"),
        (Some(";;q=banana,,"), "EN"),
        (None, "EN"),
    ] {
        let email = format!(
            "{}@runners.kz",
            expected.to_lowercase() + &header.map_or(0, str::len).to_string()
        );
        let mut request = app.client.post(app.graphql_url()).json(&json!({
            "query": "mutation($i: SignUpInput!) { signUp(input: $i) { email } }",
            "variables": { "i": { "email": email, "password": "a long runner password", "displayName": "R" } } }));
        if let Some(header) = header {
            request = request.header("Accept-Language", header);
        }
        let body: Value = request.send().await.unwrap().json().await.unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        let confirm = smtp
            .wait_for(1, Duration::from_secs(10))
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.envelope_to == email)
            .map(|m| m.text.unwrap_or_default());
        let token = {
            let mut found = None;
            for _ in 0..100 {
                found = smtp
                    .messages()
                    .into_iter()
                    .find(|m| m.envelope_to == email)
                    .and_then(|m| m.text)
                    // From the link, whatever language the mail is written in.
                    .and_then(|t| {
                        t.split("token=")
                            .nth(1)
                            .map(|t| t.split_whitespace().next().unwrap_or("").to_owned())
                    });
                if found.is_some() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            found.unwrap_or_else(|| panic!("no confirmation mail: {confirm:?}"))
        };
        if expected == "RU" {
            // The mail is there (its token was read): its text as a reader decodes it.
            let text = smtp
                .messages()
                .into_iter()
                .find(|m| m.envelope_to == email)
                .and_then(|m| m.text)
                .unwrap_or_default();
            assert!(
                text.starts_with("Здравствуйте!"),
                "readable Russian: {text:?}"
            );
        }
        let confirmed = app
            .ok(
                None,
                "mutation($t: String!) { confirmSignUp(token: $t) { token } }",
                json!({ "t": token }),
            )
            .await;
        let session = confirmed["confirmSignUp"]["token"].as_str().unwrap();
        let me = app.ok(Some(session), ME, json!({})).await;
        assert_eq!(me["me"]["language"], expected, "{header:?}");
    }
    let runner = stranger(&app, "chooser").await;
    let unknown = app
        .graphql(
            Some(&runner),
            "mutation($l: Language!) { updateAccount(input: { language: $l }) { language } }",
            json!({ "l": "DE" }),
        )
        .await;
    assert_eq!(error_code(&unknown), "BAD_USER_INPUT", "{unknown}");
    let (organizer, event) = app.demo_organizer_and_marathon().await;
    for reasons in [
        json!([{ "language": "RU", "text": "а" }, { "language": "RU", "text": "б" }]),
        json!([{ "language": "KK", "text": "ұ".repeat(1001) }]),
        json!([{ "language": "KK", "text": "   " }]),
    ] {
        let body = app
            .graphql(
                Some(&organizer),
                CHANGE,
                json!({ "input": { "eventId": event, "status": "SUSPENDED", "reason": "x", "reasons": reasons } }),
            )
            .await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
    }
    let status = app
        .ok(
            None,
            "query($e: ID!) { event(id: $e) { status } }",
            json!({ "e": event }),
        )
        .await;
    assert_eq!(
        status["event"]["status"], "SCHEDULED",
        "nothing half-written"
    );
}
