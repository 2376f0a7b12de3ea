//! The runner's end in a real browser: the gateway runs for real on PostgreSQL and Redis
//! with the mock push service, and `tests/browser/journey.mjs` drives Debian's Chromium
//! (playwright-core over the DevTools protocol) through the runner's journey: sign up and
//! open the link of the confirmation mail (which this side reads from MAIL_DIR and hands
//! to the script when it asks, see [`answer`]), register, "Alert me"; an organizer
//! cancels in a second browser context; the banner within a second, and the page
//! acknowledging it (the reach report's `liveSeen`); exactly one push, decrypted by the
//! mock and shown once by the page's service worker, which acknowledges it
//! (`pushDisplayed`, its token then spent), a repeat not shown even after the worker was
//! stopped; a reload listing the alert log from the gateway; the connection cut (1001)
//! while another race is rescheduled, and caught up once on reconnecting; the page closed
//! while that race is suspended mailing nobody, the organizer's page listing the runner
//! to phone until the reopened page acknowledges it (read again every 5 s, and no more
//! once the organizer leaves), the log listing every alert once; twenty alerts a page and
//! "Show older" for the rest; screenshots; a second runner
//! confirming by pasting the token, a used token refused, a new password chosen from the
//! reset mail's link, a rate limit's 429 explained;
//! GraphiQL offline. Then, in Kazakh and in Russian (the browser's `locale` kk-KZ, ru-RU:
//! the journey above runs in en-US), the parts where the language shows
//! (`tests/browser/languages.mjs`): the page's texts and `<html lang>`, a date with its
//! month's name from the page's own texts (Debian's Chromium has no Kazakh month names),
//! money, sign-up in the language, a cancellation's banner with the organizer's reason in
//! the runner's language, the push's title, the service worker's own fallback, the
//! language switch (and the account's language read back), GraphiQL's welcome.
//!
//! Chromium and Node are prerequisites (`.ci/run` installs Chromium): without them this
//! test fails and says what is missing; it never skips.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use gateway_tests::push_service::MockPushService;
use race_office::services::sign_up::SIGN_UP_ANSWER;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

use crate::helpers::{
    Backend, CONFIRM_SUBJECT, TestApp, mails, marathon, marathon_year, spawn_app_with, token_in,
};

const CHROMIUM: &str = "/usr/bin/chromium";
const ORGANIZER_EMAIL: &str = "director@almaty-marathon.kz";
/// A second organizer of the same races, who announces on a Kazakh page.
const ORGANIZER_KK_EMAIL: &str = "uiymdastyrushy@almaty-marathon.kz";
/// The password `TestApp::organizer_token` gives the organizers it creates.
const ORGANIZER_PASSWORD: &str = "a director's long password";
/// The whole journey normally takes well under a minute; past this something hangs.
const JOURNEY_TIMEOUT: Duration = Duration::from_secs(180);
/// Where the gateway's mail links point (`PUBLIC_URL`): the runner page's origin, which
/// is the gateway itself, at an address the test only learns once it listens.
const PUBLIC_URL: &str = "https://race-day.test";
/// The subject of the password-reset mail (`race_office::services::accounts`).
/// The subjects of the account mails, in each language (race-office/messages/*/accounts.ftl).
const CONFIRM_SUBJECTS: &[(&str, &str)] = &[
    (CONFIRM_SUBJECT, "EN"),
    ("Подтвердите регистрацию", "RU"),
    ("Тіркелуді растаңыз", "KK"),
];
const RESET_SUBJECTS: &[(&str, &str)] = &[
    ("Reset your password", "EN"),
    ("Смена пароля", "RU"),
    ("Құпиясөзді өзгерту", "KK"),
];

/// The one mail to `to` with one of `subjects`, waiting for it as [`mails`] does.
async fn mails_any(app: &TestApp, to: &str, subjects: &[(&str, &str)]) -> Vec<String> {
    for _ in 0..100 {
        for (subject, _) in subjects {
            let found = mails(app, to, subject, 0).await;
            if !found.is_empty() {
                return found;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("no mail to {to} about any of {subjects:?}");
}

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("browser")
}

/// `target/browser-screenshots`, beside the test binary's own target directory.
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    exe.ancestors()
        .nth(3)
        .expect("target dir")
        .join("browser-screenshots")
}

/// Node and Chromium are there, and the Node packages installed.
fn prerequisites() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's Chromium (`apt-get install -y chromium \
         chromium-driver`, as .ci/run does) to run the browser test"
    );
    node_packages();
}

/// Node is there and `tests/browser`'s packages are installed (`npm ci`, once per run of
/// the test binary, however many tests ask at once); the folder of the scripts.
pub fn node_packages() -> PathBuf {
    static INSTALLED: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    let dir = browser_dir();
    INSTALLED.get_or_init(|| {
        let node = Command::new("node").arg("--version").output();
        assert!(
            node.is_ok_and(|o| o.status.success()),
            "node is missing: tests/browser's scripts need Node 20 or newer"
        );
        // Every package of package.json, so a checkout that added one installs again.
        let package: Value = serde_json::from_str(include_str!("../../browser/package.json"))
            .expect("tests/browser/package.json is JSON");
        let installed = package["dependencies"]
            .as_object()
            .expect("package.json lists its dependencies")
            .keys()
            .all(|name| dir.join("node_modules").join(name).exists());
        if !installed {
            let status = Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&dir)
                .status()
                .expect("npm runs");
            assert!(status.success(), "`npm ci` in {} failed", dir.display());
        }
    });
    dir
}

/// The answer to a question the journey script asks on its stdout (`@@ask <name> <json>`):
/// `confirmation-mail <email>` or `reset-mail <email>`, the one mail of that kind to that
/// address, its link at `PUBLIC_URL` + the page's path (`/confirm-sign-up`,
/// `/reset-password`) moved to the gateway's address, and its token.
async fn answer(app: &TestApp, question: &str) -> Value {
    let (name, argument) = question
        .split_once(' ')
        .expect("a question and its argument");
    // The subject in each language the mail may be written in (the runner's).
    let (subjects, path) = match name {
        "confirmation-mail" => (CONFIRM_SUBJECTS, "/confirm-sign-up"),
        "reset-mail" => (RESET_SUBJECTS, "/reset-password"),
        other => panic!("a question this side does not answer: {other}"),
    };
    let email: String = serde_json::from_str(argument).expect("an email as JSON");
    let sent = mails_any(app, &email, subjects).await;
    let language = subjects
        .iter()
        .find(|(subject, _)| sent[0].lines().nth(1).is_some_and(|l| l.contains(subject)))
        .map(|(_, language)| *language);
    assert_eq!(sent.len(), 1, "one {name} to {email}: {sent:?}");
    let token = token_in(&sent[0]);
    let link = format!("{PUBLIC_URL}{path}?token={token}");
    assert!(
        sent[0].lines().any(|line| line == link),
        "the mail links to the page with its token ({link}):\n{}",
        sent[0]
    );
    let at_gateway = format!("{}{path}?token={token}", app.address);
    json!({ "link": at_gateway, "token": token, "language": language })
}

/// A second upcoming race of the same organizer, open for registration, in June of the
/// demo race's year.
async fn night_run(app: &TestApp, organizer: &str) -> String {
    let year = marathon_year();
    another_race(
        app,
        organizer,
        &format!("almaty-night-run-{year}"),
        &format!("Almaty Night Run {year}"),
        &format!("{year}-06-12T15:00:00Z"),
    )
    .await
}

/// An upcoming race of the organizer with one distance (10 km, 7,000 KZT), open for
/// registration; its slug.
async fn another_race(
    app: &TestApp,
    organizer: &str,
    slug: &str,
    name: &str,
    starts_at: &str,
) -> String {
    let created = app
        .ok(
            Some(organizer),
            "mutation($input: CreateEventInput!) { createEvent(input: $input) { id slug } }",
            json!({ "input": {
                "slug": slug, "name": name,
                "venue": "Almaty, Medeu", "startsAt": starts_at,
                "timeZone": "Asia/Almaty", "capacity": 3000, "registrationState": "OPEN" } }),
        )
        .await;
    let id = created["createEvent"]["id"].as_str().unwrap().to_owned();
    app.ok(
        Some(organizer),
        "mutation($e: ID!, $input: DistanceFields!) { addDistance(eventId: $e, input: $input) { id } }",
        json!({ "e": id, "input": { "name": "10 km", "lengthMeters": 10000,
            "fee": { "amount": "7000.00", "currency": "KZT" } } }),
    )
    .await;
    created["createEvent"]["slug"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_is_alerted_in_chromium_by_banner_and_push_and_sees_what_happened_while_away() {
    prerequisites();
    let app = spawn_app_with(Backend::Postgres, |s| {
        s.bus.redis_url = Some("redis://127.0.0.1:6379".to_owned().into());
        s.push.trusted_origins = vec![gateway_tests::push_service::TRUSTED_ORIGIN.into()];
        s.push.poll = std::time::Duration::from_millis(100);
        s.http.public_url = Some(PUBLIC_URL.to_owned());
    })
    .await;
    // The links in the confirmation and reset mails get the page, as a browser fetches
    // them, never cached and never sending their token on as a referrer.
    for path in ["/confirm-sign-up", "/reset-password"] {
        let page = app
            .client
            .get(format!("{}{path}?token=anything", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{path}");
        assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
        assert_eq!(page.headers()["referrer-policy"], "no-referrer");
        assert_eq!(page.headers()["cache-control"], "no-store");
        assert!(
            page.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("script-src 'self';")
        );
        assert!(page.text().await.unwrap().contains("/assets/app.js"));
    }
    app.seed_demo().await;
    let organizer = app
        .organizer_token(ORGANIZER_EMAIL, "courage-to-be-the-first")
        .await;
    let race_b = night_run(&app, &organizer).await;
    // The Kazakh and the Russian runner's races (in May and September: other months'
    // names), and a second organizer, who announces on a Kazakh page.
    let year = marathon_year();
    let race_kk = another_race(
        &app,
        &organizer,
        &format!("almaty-trail-{year}"),
        &format!("Almaty Trail {year}"),
        &format!("{year}-05-16T03:00:00Z"),
    )
    .await;
    let race_ru = another_race(
        &app,
        &organizer,
        &format!("kok-tobe-hill-run-{year}"),
        &format!("Kok-Tobe Hill Run {year}"),
        &format!("{year}-09-12T02:30:00Z"),
    )
    .await;
    app.organizer_token(ORGANIZER_KK_EMAIL, "courage-to-be-the-first")
        .await;

    let mock = MockPushService::start(1).await.unwrap();
    let key = app.ok(None, "{ webPushPublicKey }", json!({})).await;
    mock.expect_vapid_key(key["webPushPublicKey"].as_str().unwrap())
        .unwrap();
    let received_url = mock.serve_received().await.unwrap();
    let browser = mock.subscribe().unwrap();
    let subscription = |s: &gateway_tests::push_service::BrowserSubscription| {
        json!({ "id": s.id, "endpoint": s.endpoint, "p256dh": s.p256dh, "auth": s.auth })
            .to_string()
    };
    let browser_kk = mock.subscribe().unwrap();
    let browser_ru = mock.subscribe().unwrap();
    let shots = screenshot_dir();

    let started = Instant::now();
    let mut child = tokio::process::Command::new("node")
        .arg("journey.mjs")
        .current_dir(browser_dir())
        .env("GATEWAY_URL", &app.address)
        .env("MOCK_RECEIVED_URL", &received_url)
        .env("PUSH_SUBSCRIPTION", subscription(&browser))
        .env("PUSH_SUBSCRIPTION_KK", subscription(&browser_kk))
        .env("PUSH_SUBSCRIPTION_RU", subscription(&browser_ru))
        .env("ORGANIZER_KK_EMAIL", ORGANIZER_KK_EMAIL)
        .env("RACE_KK", &race_kk)
        .env("RACE_RU", &race_ru)
        .env("ORGANIZER_EMAIL", ORGANIZER_EMAIL)
        .env("ORGANIZER_PASSWORD", ORGANIZER_PASSWORD)
        .env("RACE_A", marathon())
        .env("RACE_B", &race_b)
        .env("RACE_YEAR", marathon_year().to_string())
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", CHROMIUM)
        .env("SIGN_UP_ANSWER", SIGN_UP_ANSWER)
        .kill_on_drop(true)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node starts");
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    // Lines are printed as they come, so that a journey that hangs shows how far it got.
    let conversation = async {
        let mut out = String::new();
        while let Some(line) = stdout.next_line().await.expect("the journey's stdout") {
            println!("{line}");
            out.push_str(&line);
            out.push('\n');
            if let Some(question) = line.strip_prefix("@@ask ") {
                let reply = answer(&app, question).await;
                stdin
                    .write_all(format!("{reply}\n").as_bytes())
                    .await
                    .expect("the journey reads its stdin");
                stdin.flush().await.expect("the answer is sent");
            }
        }
        out
    };
    let errors = async {
        let mut err = String::new();
        while let Ok(Some(line)) = stderr.next_line().await {
            eprintln!("{line}");
            err.push_str(&line);
            err.push('\n');
        }
        err
    };
    let (out, err, status) = tokio::time::timeout(JOURNEY_TIMEOUT, async {
        tokio::join!(conversation, errors, child.wait())
    })
    .await
    .unwrap_or_else(|_| {
        panic!("the journey did not finish in {JOURNEY_TIMEOUT:?} (its output is above)")
    });
    let status = status.expect("node ran");
    assert!(
        status.success(),
        "the browser journey failed:\n{out}\n{err}"
    );
    println!(
        "browser journey: {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        shots.display()
    );

    // What the push service saw, from this side too: three pushes to the runner's browser
    // (the cancellation, the reschedule and the suspension), each verified and decrypted,
    // nothing refused.
    assert_eq!(mock.rejections(), Vec::<String>::new());
    let mut statuses: Vec<String> = mock
        .received()
        .iter()
        .filter(|r| r.subscription == browser.id)
        .map(|r| {
            r.payload.as_ref().unwrap()["status"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["CANCELLED", "RESCHEDULED", "SUSPENDED"]);
    // The Kazakh and the Russian runner's browsers: their race's cancellation, each once.
    for other in [&browser_kk, &browser_ru] {
        let got: Vec<_> = mock
            .received()
            .into_iter()
            .filter(|r| r.subscription == other.id)
            .filter_map(|r| r.payload)
            .collect();
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[0]["status"], "CANCELLED");
    }
    // Whom the cancellation reached, from this side too: the page and the service worker
    // both acknowledged it. Not clicked: headless Chromium shows no notification to click.
    let cancellation = mock
        .received()
        .into_iter()
        .filter(|r| r.subscription == browser.id)
        .filter_map(|r| r.payload)
        .find(|p| p["status"] == "CANCELLED")
        .expect("the cancellation's push");
    let id = match &cancellation["notificationId"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    let reach = app
        .ok(
            Some(&organizer),
            "query($n: ID!) { reachReport(notificationId: $n) { targeted acknowledged liveSeen pushDelivered pushDisplayed pushClicked unreached } }",
            json!({ "n": id }),
        )
        .await;
    assert_eq!(
        reach["reachReport"],
        json!({ "targeted": 1, "acknowledged": 1, "liveSeen": 1, "pushDelivered": 1,
            "pushDisplayed": 1, "pushClicked": 0, "unreached": 0 })
    );
    for name in [
        "runner-after-cancellation.png",
        "runner-kk-after-cancellation.png",
        "runner-ru-after-cancellation.png",
        "runner-phone.png",
        "organizer-reach.png",
        "graphiql.png",
    ] {
        let size = std::fs::metadata(shots.join(name))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{name} was written ({size} bytes)");
    }
}
