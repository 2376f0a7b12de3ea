//! Text and dates as an attacker sends them: NUL bytes, control characters, bidi overrides,
//! huge strings and dates at the edge of what chrono can hold. Each is refused with
//! BAD_USER_INPUT (or, where a lookup simply finds nothing, answered as not found), none
//! answers INTERNAL, and nothing refused is written.

use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, error_code, marathon, marathon_date, marathon_starts_at, marathon_year,
    spawn_app,
};
use crate::on_both_databases;

const CREATE_EVENT: &str =
    "mutation($input: CreateEventInput!) { createEvent(input: $input) { id description } }";
const UPDATE_EVENT: &str =
    "mutation($input: UpdateEventInput!) { updateEvent(input: $input) { id } }";
const CHANGE_STATUS: &str =
    "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }";
const ADD_DISTANCE: &str =
    "mutation($e: ID!, $input: DistanceFields!) { addDistance(eventId: $e, input: $input) { id } }";
const CREATE_PROJECT: &str =
    "mutation($input: CharityProjectInput!) { createCharityProject(input: $input) { id } }";
const RECORD_DONATION: &str = "mutation($p: ID!, $d: String) {
    recordDonation(projectId: $p, amount: { amount: \"100.00\", currency: \"KZT\" }, donorName: $d) { id } }";
const DECIDE: &str =
    "mutation($n: String) { decideRefund(id: \"1\", decision: APPROVED, note: $n) { id } }";
const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { id } }";
const SET_POLICY: &str =
    "mutation($input: RefundPolicyInput!) { setRefundPolicy(input: $input) { id } }";

/// A race a year after the demo's upcoming one, so always ahead.
fn event_input(field: &str, value: &str) -> Value {
    let starts_at = format!("{}-04-16T03:00:00Z", marathon_year() + 1);
    let mut input = json!({ "slug": "hostile-race", "name": "Hostile Race", "venue": "Almaty",
        "startsAt": starts_at, "timeZone": "Asia/Almaty", "capacity": 100 });
    input[field] = json!(value);
    json!({ "input": input })
}

fn project_input(field: &str, value: &str) -> Value {
    let mut input = json!({ "beneficiary": "Kenes", "city": "Almaty", "year": marathon_year() + 1,
        "target": { "amount": "1000.00", "currency": "KZT" } });
    input[field] = json!(value);
    json!({ "input": input })
}

/// Sends `query` and checks the first error's code; returns the body.
async fn expect(
    app: &TestApp,
    token: Option<&str>,
    what: &str,
    query: &str,
    vars: Value,
    code: &str,
) -> Value {
    let body = app.graphql(token, query, vars).await;
    assert_eq!(error_code(&body), code, "{what}: {body}");
    body
}

async fn control_characters_and_huge_strings_are_refused_before_the_database(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let runner = app.runner_tokens(1).await.remove(0);
    let event = app.event_id(&marathon()).await;
    let distance = app.distance_ids(&marathon()).await[0].clone();
    let project = app
        .ok(None, "{ charityProjects(year: 2020) { id } }", json!({}))
        .await["charityProjects"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (events, projects, donations, distances, history) = (
        app.count("event").await,
        app.count("charity_project").await,
        app.count("donation").await,
        app.count("distance").await,
        app.count("event_status_change").await,
    );

    // Anonymous lookups: a slug that cannot exist finds nothing; it is not a server error.
    let body = app
        .graphql(
            None,
            "query($s: String!) { eventBySlug(slug: $s) { id } }",
            json!({ "s": "a\u{0}b" }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "eventBySlug": null } }));
    let body = app
        .graphql(
            None,
            "mutation($e: String!) { requestPasswordReset(email: $e) }",
            json!({ "e": "runner\u{0}@example.kz" }),
        )
        .await;
    assert_eq!(body, json!({ "data": { "requestPasswordReset": true } }));
    expect(
        &app,
        None,
        "signIn with NUL",
        "mutation($input: SignInInput!) { signIn(input: $input) { token } }",
        json!({ "input": { "email": "a\u{0}@b.kz", "password": "x\u{0}".repeat(1000) } }),
        "INVALID_CREDENTIALS",
    )
    .await;
    expect(
        &app,
        None,
        "a huge cursor",
        "query($a: String) { events(after: $a) { edges { cursor } } }",
        json!({ "a": "QUJD".repeat(5000) }),
        "BAD_USER_INPUT",
    )
    .await;

    let sign_up = "mutation($input: SignUpInput!) { signUp(input: $input) { __typename } }";
    for (what, input) in [
        (
            "NUL in a password",
            json!({ "email": "r@example.kz", "password": "long enough\u{0}pass", "displayName": "R" }),
        ),
        (
            "a bidi override in a display name",
            json!({ "email": "r@example.kz", "password": "long enough pass", "displayName": "Ai\u{202E}gerim" }),
        ),
        (
            "a bidi isolate in an email",
            json!({ "email": "r\u{2066}@example.kz", "password": "long enough pass", "displayName": "R" }),
        ),
    ] {
        expect(
            &app,
            None,
            what,
            sign_up,
            json!({ "input": input }),
            "BAD_USER_INPUT",
        )
        .await;
    }
    expect(
        &app,
        None,
        "a reset token with NUL",
        "mutation($input: ResetPasswordInput!) { resetPassword(input: $input) }",
        json!({ "input": { "token": "reset_\u{0}", "newPassword": "a brand new password" } }),
        "BAD_USER_INPUT",
    )
    .await;

    // The organizer's text: one-line fields take no control character at all; long text
    // takes newline and tab, nothing else.
    let org = Some(organizer.as_str());
    for (what, field, value) in [
        ("NUL in a name", "name", "Race\u{0}"),
        ("a bidi override in a name", "name", "Evil\u{202E}gnp.exe"),
        ("CR/LF in a venue", "venue", "Almaty\r\nSet-Cookie: x"),
        ("an escape in a venue", "venue", "\u{1b}[31mAlmaty"),
        ("a C1 control in a venue", "venue", "Almaty\u{85}"),
        ("DEL in a venue", "venue", "Almaty\u{7f}"),
        ("a bell in a description", "description", "Run\u{7}"),
        ("CR in a description", "description", "Run\rfast"),
        ("NUL in a time zone", "timeZone", "Asia/Almaty\u{0}"),
        ("NUL in a slug", "slug", "hostile\u{0}race"),
    ] {
        expect(
            &app,
            org,
            what,
            CREATE_EVENT,
            event_input(field, value),
            "BAD_USER_INPUT",
        )
        .await;
    }
    let long_venue = "v".repeat(501);
    let long_description = "d".repeat(10_001);
    for (what, field, value) in [
        ("a venue too long", "venue", long_venue.as_str()),
        (
            "a description too long",
            "description",
            long_description.as_str(),
        ),
    ] {
        expect(
            &app,
            org,
            what,
            CREATE_EVENT,
            event_input(field, value),
            "BAD_USER_INPUT",
        )
        .await;
    }
    expect(
        &app,
        org,
        "C1 in an updated venue",
        UPDATE_EVENT,
        json!({ "input": { "eventId": event, "venue": "Almaty\u{9b}" } }),
        "BAD_USER_INPUT",
    )
    .await;
    expect(
        &app,
        org,
        "NUL in a reason",
        CHANGE_STATUS,
        json!({ "input": { "eventId": event, "status": "SUSPENDED", "reason": "Ban\u{0}" } }),
        "BAD_USER_INPUT",
    )
    .await;
    expect(
        &app,
        org,
        "a newline in a distance name",
        ADD_DISTANCE,
        json!({ "e": event, "input": { "name": "5\nkm", "lengthMeters": 5000, "fee": { "amount": "10", "currency": "KZT" } } }),
        "BAD_USER_INPUT",
    )
    .await;
    for (what, field, value) in [
        (
            "an isolate in a beneficiary",
            "beneficiary",
            "Kenes\u{2066}",
        ),
        ("an escape in a city", "city", "\u{1b}[31mAlmaty"),
        ("NUL in a report", "report", "Done\u{0}"),
    ] {
        expect(
            &app,
            org,
            what,
            CREATE_PROJECT,
            project_input(field, value),
            "BAD_USER_INPUT",
        )
        .await;
    }
    let huge_donor = "D".repeat(20_000);
    for (what, donor) in [
        ("a donor name of 20,000 characters", huge_donor.as_str()),
        ("NUL in a donor name", "Kaspi\u{0}"),
        ("a newline in a donor name", "Kaspi\nBank"),
    ] {
        expect(
            &app,
            org,
            what,
            RECORD_DONATION,
            json!({ "p": project, "d": donor }),
            "BAD_USER_INPUT",
        )
        .await;
    }
    expect(
        &app,
        org,
        "NUL in a decision note",
        DECIDE,
        json!({ "n": "ok\u{0}" }),
        "BAD_USER_INPUT",
    )
    .await;

    // The runner's text.
    let run = Some(runner.as_str());
    expect(
        &app,
        run,
        "a bidi override in a city",
        REGISTER,
        json!({ "input": { "distanceId": distance, "city": "\u{202E}ytamlA" } }),
        "BAD_USER_INPUT",
    )
    .await;
    expect(
        &app,
        run,
        "NUL in an endpoint to unsubscribe",
        "mutation($e: String!) { unsubscribePush(endpoint: $e) }",
        json!({ "e": "https://fcm.googleapis.com/fcm/send/\u{0}" }),
        "BAD_USER_INPUT",
    )
    .await;

    assert_eq!(app.count("event").await, events);
    assert_eq!(app.count("charity_project").await, projects);
    assert_eq!(app.count("donation").await, donations);
    assert_eq!(app.count("distance").await, distances);
    assert_eq!(app.count("event_status_change").await, history);
    assert_eq!(app.count("registration").await, 0);

    // What long text may hold is kept as written.
    let created = app
        .ok(
            org,
            CREATE_EVENT,
            event_input("description", "Line one\n\tLine two"),
        )
        .await;
    assert_eq!(
        created["createEvent"]["description"],
        "Line one\n\tLine two"
    );
}
on_both_databases!(control_characters_and_huge_strings_are_refused_before_the_database);

async fn dates_outside_a_sane_range_are_bad_input(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let runner = app.runner_tokens(1).await.remove(0);
    let event = app.event_id(&marathon()).await;
    let distance = app.distance_ids(&marathon()).await[0].clone();
    let org = Some(organizer.as_str());
    for far in ["+262142-12-31", "-262143-01-01", "9999-12-31", "1066-10-14"] {
        expect(
            &app,
            org,
            &format!("deadline {far}"),
            SET_POLICY,
            json!({ "input": { "eventId": event, "deadline": far } }),
            "BAD_USER_INPUT",
        )
        .await;
        expect(
            &app,
            org,
            &format!("kit issue {far}"),
            SET_POLICY,
            json!({ "input": { "eventId": event, "deadline": marathon_date(3, 31), "kitIssueFrom": far } }),
            "BAD_USER_INPUT",
        )
        .await;
        expect(
            &app,
            Some(runner.as_str()),
            &format!("birth date {far}"),
            REGISTER,
            json!({ "input": { "distanceId": distance, "birthDate": far } }),
            "BAD_USER_INPUT",
        )
        .await;
    }
    // The same as literals in the document, not only as variables.
    expect(
        &app,
        org,
        "a literal far date",
        &format!(
            "mutation {{ setRefundPolicy(input: {{ eventId: \"{event}\", deadline: \"+262142-12-31\" }}) {{ id }} }}"
        ),
        json!({}),
        "BAD_USER_INPUT",
    )
    .await;
    for far in [
        "+262142-12-31T00:00:00Z",
        "-262143-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
    ] {
        expect(
            &app,
            org,
            &format!("start {far}"),
            CREATE_EVENT,
            event_input("startsAt", far),
            "BAD_USER_INPUT",
        )
        .await;
        expect(
            &app,
            org,
            &format!("new start {far}"),
            CHANGE_STATUS,
            json!({ "input": { "eventId": event, "status": "RESCHEDULED", "reason": "Moved", "startsAt": far } }),
            "BAD_USER_INPUT",
        )
        .await;
        expect(
            &app,
            None,
            &format!("filter {far}"),
            "query($f: DateTime) { events(filter: { startsFrom: $f }) { edges { cursor } } }",
            json!({ "f": far }),
            "BAD_USER_INPUT",
        )
        .await;
        expect(
            &app,
            None,
            &format!("filter before {far}"),
            "query($f: DateTime) { events(filter: { startsBefore: $f }) { edges { cursor } } }",
            json!({ "f": far }),
            "BAD_USER_INPUT",
        )
        .await;
    }
    assert_eq!(app.count("registration").await, 0);
    let upcoming = app
        .ok(
            None,
            "query($s: String!) { eventBySlug(slug: $s) { status startsAt refundPolicy { deadline } } }",
            json!({ "s": marathon() }),
        )
        .await;
    assert_eq!(
        upcoming["eventBySlug"],
        json!({ "status": "SCHEDULED", "startsAt": marathon_starts_at(), "refundPolicy": { "deadline": marathon_date(3, 31) } })
    );
    // A sane date still works.
    app.ok(
        Some(runner.as_str()),
        REGISTER,
        json!({ "input": { "distanceId": distance, "birthDate": "1950-02-28" } }),
    )
    .await;
}
on_both_databases!(dates_outside_a_sane_range_are_bad_input);

/// Inputs that pass a loose check but are not what they claim: addresses with quoted
/// local parts or an IP literal, the most common passwords, a name drawn as nothing, a
/// country code no country has. Each is BAD_USER_INPUT and nothing is written.
async fn values_that_only_look_valid_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    app.seed_demo().await;
    let organizer = app
        .organizer_token("director@almaty-marathon.kz", "courage-to-be-the-first")
        .await;
    let sign_up = "mutation($input: SignUpInput!) { signUp(input: $input) { email } }";
    let fine = json!({ "email": "aigerim@example.kz", "password": "a long runner password", "displayName": "Aigerim" });
    let with = |field: &str, value: &str| {
        let mut input = fine.clone();
        input[field] = json!(value);
        json!({ "input": input })
    };
    for email in [
        "\"a b\"@x.kz",
        "a\"b@x.kz",
        "\"ab\"@x.kz",
        "a@[127.0.0.1]",
        "Aigerim <a@x.kz>",
        "a\u{200b}@x.kz",
    ] {
        let body = expect(
            &app,
            None,
            email,
            sign_up,
            with("email", email),
            "BAD_USER_INPUT",
        )
        .await;
        assert_eq!(
            body["errors"][0]["message"], "email is not a valid address",
            "{email}"
        );
    }
    for password in ["password12", "          ", "qwertyuiop", "Password123"] {
        let body = expect(
            &app,
            None,
            password,
            sign_up,
            with("password", password),
            "BAD_USER_INPUT",
        )
        .await;
        let message = body["errors"][0]["message"].as_str().unwrap();
        assert!(
            message.starts_with("password is among the most common or too easy to guess"),
            "{password:?}: {message}"
        );
    }
    for name in ["\u{200b}", "\u{200b}\u{2060}\u{feff}", "\u{3164}"] {
        let body = expect(
            &app,
            None,
            name,
            sign_up,
            with("displayName", name),
            "BAD_USER_INPUT",
        )
        .await;
        assert_eq!(
            body["errors"][0]["message"], "displayName must contain a visible character",
            "{name:?}"
        );
    }
    // Other human text that is required: an event's name, a status change's reason.
    expect(
        &app,
        Some(&organizer),
        "an invisible event name",
        CREATE_EVENT,
        event_input("name", "\u{200b}"),
        "BAD_USER_INPUT",
    )
    .await;
    let event = app.event_id(&marathon()).await;
    expect(
        &app,
        Some(&organizer),
        "an invisible reason",
        CHANGE_STATUS,
        json!({ "input": { "eventId": event, "status": "SUSPENDED", "reason": "\u{200b}\u{200d}" } }),
        "BAD_USER_INPUT",
    )
    .await;
    let runner = app.runner_tokens(1).await.remove(0);
    let distance = app.distance_ids(&marathon()).await[0].clone();
    for country in ["ZZ", "XK", "UK", "SU"] {
        let body = expect(
            &app,
            Some(&runner),
            country,
            REGISTER,
            json!({ "input": { "distanceId": distance, "country": country } }),
            "BAD_USER_INPUT",
        )
        .await;
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("ISO 3166-1 alpha-2"),
            "{body}"
        );
    }
    assert_eq!(app.count("pending_sign_up").await, 0);
    assert_eq!(app.count("registration").await, 0);
    assert_eq!(
        app.ok(
            None,
            "query($s: String!) { eventBySlug(slug: $s) { status } }",
            json!({ "s": marathon() })
        )
        .await["eventBySlug"]["status"],
        "SCHEDULED"
    );

    // What is fine still is: a plain address, a passphrase, a name, a real country.
    let token = app.sign_up_runner("aigerim@example.kz").await;
    app.ok(
        Some(&token),
        REGISTER,
        json!({ "input": { "distanceId": distance, "country": "kz" } }),
    )
    .await;
}
on_both_databases!(values_that_only_look_valid_are_refused);
