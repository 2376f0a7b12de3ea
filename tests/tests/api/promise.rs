//! The promise, scaled down to a few hundred runners, under each fault: two gateway
//! processes, a Redis of the run's own, a real SMTP server of the run's own (aiosmtpd),
//! phones that reconnect and acknowledge like the runner page, and the strict mock push
//! service. Nobody may be left untold and every push must arrive; with mail, every runner
//! is mailed exactly once (ALL), or exactly those whose page did not acknowledge
//! (UNREACHED). (`load promise` runs the same at 18,000; docs/BENCHMARKS.md has its
//! figures.)

use std::time::Duration;

use gateway_tests::promise::{self, Email, Fault, Phones, Plan, Report, Via};

const RUNNERS: usize = 300;

/// Every runner with the page open and a push subscription; no mail.
const EVERY_PHONE_AND_PUSH: (usize, usize) = (RUNNERS, RUNNERS);
/// The mix: runners 0..150 with the page open, 200..300 with push only, 150..200 with
/// mail only.
const MIX: (usize, usize) = (150, 100);

async fn run(fault: Fault, mix: (usize, usize), email: Email) -> Report {
    run_via(Via::Direct, fault, mix, email).await
}

async fn run_via(
    via: Via,
    fault: Fault,
    (page_open, push): (usize, usize),
    email: Email,
) -> Report {
    let plan = Plan {
        runners: RUNNERS,
        page_open,
        push,
        email,
        escalate_after: Duration::from_secs(5),
        mail_within: Duration::from_secs(30),
        smtp_maildir: true,
        acknowledge: true,
        ack_jitter: Duration::ZERO,
        fault,
        // A rolling restart: the cancellation while the second instance drains (its
        // readiness fails at once, its sockets close from 1 s to 3 s after SIGTERM).
        fault_at: Duration::from_millis(if fault == Fault::RollingRestart {
            1500
        } else {
            50
        }),
        fault_for: Duration::from_millis(1500),
        window: Duration::from_secs(30),
        postgres: gateway_tests::postgres_admin_url(),
        decrypt_every: 1,
        database: crate::helpers::unique_name("gw_promise"),
        phones: Phones::InProcess,
        gateway_env: Vec::new(),
        via,
    };
    let report = promise::run(plan).await.expect("the run completes");
    report.print();
    assert_eq!(report.subscribed, page_open, "every phone subscribed");
    assert_eq!(report.ws_untold, 0, "nobody left untold: {report:?}");
    assert_eq!(report.push_missing, 0, "every push delivered: {report:?}");
    assert_eq!(
        report.push_rejected, 0,
        "the push service accepted every request"
    );
    report
}

async fn keeps_the_promise_under(fault: Fault) {
    let report = run(fault, EVERY_PHONE_AND_PUSH, Email::None).await;
    assert_eq!(report.mail.accepted, 0, "NONE mails nobody");
}

/// ALL: every runner, whatever channels they have, mailed exactly once.
async fn mails_every_runner_once_under(fault: Fault) {
    let report = run(fault, MIX, Email::All).await;
    let mail = &report.mail;
    assert_eq!(mail.accepted, RUNNERS, "every runner mailed: {mail:?}");
    assert_eq!(mail.twice, 0, "nobody mailed twice: {mail:?}");
    assert_eq!(mail.twice_message_id, 0, "no Message-ID twice: {mail:?}");
    assert_eq!(mail.other, 0, "no other mail: {mail:?}");
    assert_eq!(mail.neither, 0, "{mail:?}");
    assert_eq!(mail.pending_at_end, 0, "{mail:?}");
    assert_eq!(mail.reach["targeted"], RUNNERS, "{mail:?}");
    assert_eq!(mail.reach["emailed"], RUNNERS, "{mail:?}");
    assert_eq!(mail.reach["unreached"], 0, "{mail:?}");
    assert_eq!(mail.gateway_mails.get("sent"), Some(&(RUNNERS as u64)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_is_told_and_mailed_once_when_nothing_breaks() {
    mails_every_runner_once_under(Fault::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_is_told_and_mailed_once_when_redis_restarts_during_the_fan_out() {
    mails_every_runner_once_under(Fault::RedisRestart).await;
}

/// UNREACHED: the runners whose page acknowledged within the window are not mailed; every
/// other one is, once, after it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreached_mails_exactly_the_runners_whose_page_did_not_acknowledge() {
    let report = run(Fault::None, MIX, Email::Unreached).await;
    let mail = &report.mail;
    let (page_open, _) = MIX;
    assert_eq!(
        mail.acknowledged, page_open,
        "every page acknowledged: {mail:?}"
    );
    assert_eq!(mail.expected, RUNNERS - page_open, "{mail:?}");
    assert_eq!(
        mail.accepted,
        RUNNERS - page_open,
        "the others mailed: {mail:?}"
    );
    assert_eq!(mail.mailed_though_acknowledged, 0, "{mail:?}");
    assert_eq!(mail.twice, 0, "{mail:?}");
    assert_eq!(mail.neither, 0, "{mail:?}");
    assert_eq!(mail.reach["acknowledged"], page_open, "{mail:?}");
    assert_eq!(mail.reach["emailed"], RUNNERS - page_open, "{mail:?}");
    assert_eq!(mail.reach["unreached"], 0, "{mail:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_is_told_when_the_relay_holder_is_killed() {
    keeps_the_promise_under(Fault::KillRelay).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_is_told_when_the_other_instance_is_killed() {
    keeps_the_promise_under(Fault::KillOther).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_is_told_when_postgres_drops_every_connection() {
    keeps_the_promise_under(Fault::PgTerminate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_is_told_when_redis_is_slow_for_one_instance() {
    keeps_the_promise_under(Fault::RedisLatency).await;
}

/// Through Debian's HAProxy (deploy/haproxy.cfg): both instances restarted one by one, the
/// cancellation while the second drains. Every runner told, every push delivered, every
/// phone on a drained instance moved through the balancer, and not one 5xx from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_balancer_every_runner_is_told_during_a_rolling_restart() {
    let report = run_via(
        Via::Haproxy,
        Fault::RollingRestart,
        EVERY_PHONE_AND_PUSH,
        Email::None,
    )
    .await;
    assert_eq!(
        report.balancer_5xx,
        Some(0),
        "no 5xx at the balancer: {report:?}"
    );
    // Every phone was on one of the two instances, and each was restarted.
    assert_eq!(
        report.reconnected_once + report.reconnected_more,
        RUNNERS,
        "every phone moved: {report:?}"
    );
    assert_eq!(report.duplicates, 0, "nobody heard it twice: {report:?}");
}

/// Through the balancer, the instance without the relay killed: its phones come back
/// through the balancer to the survivor and hear the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_the_balancer_every_runner_is_told_when_an_instance_is_killed() {
    let report = run_via(
        Via::Haproxy,
        Fault::KillOther,
        EVERY_PHONE_AND_PUSH,
        Email::None,
    )
    .await;
    assert!(
        report.ws_moved > 0,
        "someone was on the killed instance: {report:?}"
    );
    assert_eq!(report.ws_moved_within_5s, report.ws_moved, "{report:?}");
}
