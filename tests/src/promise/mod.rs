//! The promise, measured whole: from the organizer's cancellation, every registered runner
//! learns of it on every channel they have (WebSocket within 1 s, Web Push within 5 s, and
//! mail: every runner acknowledged or mailed within the escalation window + 60 s, none
//! mailed twice), even when one thing breaks during the fan-out. Used by `load promise` at
//! the marathon's scale (18,000 runners, phones in worker processes) and by the test suite
//! at a few hundred (phones in the test's process).
//!
//! A run: a scratch PostgreSQL database with the demo data; a Redis of its own; an SMTP
//! server of its own ([`crate::smtp::SmtpServer`]: aiosmtpd on 127.0.0.1); two gateway
//! instances mailing through it; N runners registered for the demo's upcoming race, every
//! one with an email address, of whom runners `0..page_open` have the page open (a phone:
//! a `myNotifications` subscriber on one of the instances that reconnects and
//! acknowledges like the runner page) and runners `N - push..N` a Web Push subscription at
//! the mock push service (the two ranges may overlap; a runner in neither has only mail);
//! the cancellation on instance 0 with the run's `EmailPolicy`; the fault, `fault_at`
//! after the mutation's answer; then a window to see who heard, and who was mailed.

pub mod fault;
pub mod mail;
pub mod runner;

use anyhow::{Context, anyhow};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde::Serialize;
use serde_json::{Value, json};

pub use fault::{Fault, Via};
use fault::{LatencyProxy, OwnRedis};
pub use mail::{Email, MailReport};
use runner::{Heard, now_micros};

use crate::haproxy::Haproxy;
use crate::push_service::MockPushService;
use crate::{Gateway, SmtpServer, TestDatabase, post_graphql, runner_tokens};

/// What a run does.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Registered runners, every one with an email address.
    pub runners: usize,
    /// Runners `0..page_open` have the page open (a phone).
    pub page_open: usize,
    /// Runners `runners - push..runners` have a Web Push subscription.
    pub push: usize,
    /// The cancellation's `EmailPolicy`.
    pub email: Email,
    /// ALERT_EMAIL_AFTER_SECS for both gateways (UNREACHED's escalation window).
    pub escalate_after: Duration,
    /// The mail promise: every runner acknowledged or mailed within the escalation window
    /// (UNREACHED) plus this.
    pub mail_within: Duration,
    /// The SMTP server also writes each mail into a Maildir (otherwise only its journal).
    pub smtp_maildir: bool,
    /// Whether the phones acknowledge what they show (the page does).
    pub acknowledge: bool,
    /// A phone acknowledges what it showed after a random wait below this (zero: at once).
    pub ack_jitter: Duration,
    pub fault: Fault,
    /// When the fault strikes, after the mutation's answer.
    pub fault_at: Duration,
    /// How long Redis stays down (redis-restart), or the delay added (redis-latency).
    pub fault_for: Duration,
    /// How long to wait for everyone to have heard ("eventually").
    pub window: Duration,
    /// PostgreSQL server URL, without a database name.
    pub postgres: String,
    /// The mock push service decrypts one message in this many (it verifies every token).
    pub decrypt_every: u64,
    /// Scratch database name.
    pub database: String,
    /// Where the phones run: in this process, or in worker processes of this many
    /// (the load tool's `promise-worker`).
    pub phones: Phones,
    /// Extra environment for both gateways (after the run's own, so it may override it).
    pub gateway_env: Vec<(String, String)>,
    /// Straight to the instances, or through the load balancer.
    pub via: Via,
}

/// Phones per balancer, and the connections each may hold: two descriptors a connection
/// (client and instance side) within a process's 20,000 files, with room for the phones'
/// acknowledgements and the organizer.
const PHONES_PER_BALANCER: usize = 9_000;
const BALANCER_MAXCONN: usize = 9_800;
/// How long an instance may take to stop after SIGTERM (its SHUTDOWN_GRACE_MS and more).
const STOP_WITHIN: Duration = Duration::from_secs(20);

#[derive(Debug, Clone)]
pub enum Phones {
    InProcess,
    Workers {
        per_worker: usize,
        exe: std::path::PathBuf,
    },
}

/// What a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub fault: String,
    pub runners: usize,
    /// Runners with the page open, and with a push subscription.
    pub page_open: usize,
    pub push: usize,
    pub subscribed: usize,
    pub ws_within_1s: usize,
    pub ws_within_5s: usize,
    pub ws_eventually: usize,
    pub ws_untold: usize,
    pub ws_p50_ms: f64,
    pub ws_p99_ms: f64,
    pub ws_max_ms: f64,
    /// Phones whose first socket stayed open, and how many of them heard within 1 s.
    pub ws_stayed: usize,
    pub ws_stayed_within_1s: usize,
    /// Phones that had to reconnect, and how many of them heard within 2 s and 5 s.
    pub ws_moved: usize,
    pub ws_moved_within_2s: usize,
    pub ws_moved_within_5s: usize,
    /// The moved phones' latency, p99.
    pub ws_moved_p99_ms: f64,
    /// Where the moved phones' time went, step by step (p50 and p99 in ms): socket lost
    /// after the answer, lost to the attempt that got through (back-off and failed
    /// attempts), that attempt to the upgrade, upgrade to `connection_ack`, ack to told.
    pub ws_moved_steps: Vec<(&'static str, f64, f64)>,
    /// Moved phones whose first reconnection needed more than one attempt.
    pub ws_moved_retried: usize,
    /// Phones by how many times they reconnected: once, and more than once.
    pub reconnected_once: usize,
    pub reconnected_more: usize,
    /// Through the balancer: responses it answered with a 5xx during the run.
    pub balancer_5xx: Option<u64>,
    pub duplicates: u64,
    pub reconnects: u64,
    pub push_within_5s: usize,
    pub push_eventually: usize,
    pub push_missing: usize,
    pub push_duplicates: usize,
    pub push_rejected: usize,
    pub mail: MailReport,
    /// (ms after the mutation's answer, what happened)
    pub timeline: Vec<(i64, String)>,
}

impl Report {
    /// The promise's hard part: nobody left untold, every push delivered, every runner
    /// acknowledged or mailed in time and nobody mailed twice.
    pub fn kept(&self) -> bool {
        self.ws_untold == 0
            && self.push_missing == 0
            && self.subscribed == self.page_open
            && self.mail.kept()
            // A killed instance may leave a request in flight unanswered; a drain may not.
            && (self.balancer_5xx.unwrap_or(0) == 0 || self.fault.starts_with("kill"))
    }

    pub fn print(&self) {
        println!("fault: {}", self.fault);
        println!(
            "runners: {} (page open {}, push {}, every one an email), phones subscribed: {}, reconnects: {}",
            self.runners, self.page_open, self.push, self.subscribed, self.reconnects
        );
        println!(
            "WebSocket: within 1 s {}, within 5 s {}, eventually {}, never {} (p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms); duplicates seen {}",
            self.ws_within_1s,
            self.ws_within_5s,
            self.ws_eventually,
            self.ws_untold,
            self.ws_p50_ms,
            self.ws_p99_ms,
            self.ws_max_ms,
            self.duplicates
        );
        println!(
            "  phones whose socket stayed open: {} of {} within 1 s; phones that reconnected: {} of {} within 2 s, {} within 5 s (p99 {:.0} ms); reconnected once {}, more than once {}",
            self.ws_stayed_within_1s,
            self.ws_stayed,
            self.ws_moved_within_2s,
            self.ws_moved,
            self.ws_moved_within_5s,
            self.ws_moved_p99_ms,
            self.reconnected_once,
            self.reconnected_more
        );
        if !self.ws_moved_steps.is_empty() {
            let steps: Vec<String> = self
                .ws_moved_steps
                .iter()
                .map(|(step, p50, p99)| format!("{step} {p50:.0}/{p99:.0}"))
                .collect();
            println!(
                "  the moved phones' steps, p50/p99 ms: {}; more than one attempt: {}",
                steps.join(", "),
                self.ws_moved_retried
            );
        }
        if let Some(count) = self.balancer_5xx {
            println!("  the balancer answered {count} requests with a 5xx");
        }
        println!(
            "Web Push: within 5 s {}, eventually {}, never {}; duplicates {}; rejected by the push service {}",
            self.push_within_5s,
            self.push_eventually,
            self.push_missing,
            self.push_duplicates,
            self.push_rejected
        );
        self.mail.print();
        for (at, what) in &self.timeline {
            println!("  {at:>+7} ms  {what}");
        }
        println!(
            "{}",
            if self.kept() {
                "promise kept: every runner told, every push delivered, every runner acknowledged or mailed, none twice"
            } else {
                "PROMISE BROKEN"
            }
        );
    }
}

/// Waits until the gateways hold `subscribed` live subscriptions between them, then until
/// each has used under a tenth of a core over 200 ms; how long each took. Fails after 60 s.
async fn subscriptions_settled(
    gateways: &[Option<Gateway>],
    subscribed: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(60);
    loop {
        let mut live = 0;
        for gateway in gateways.iter().flatten() {
            let page = reqwest::get(format!("{}/metrics", gateway.admin))
                .await?
                .text()
                .await?;
            live += gauge(&page, "gateway_subscriptions") as usize;
        }
        if live >= subscribed {
            break;
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "only {live} of {subscribed} subscriptions live after 60 s"
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let live = started.elapsed();
    loop {
        let before: Vec<u64> = gateways
            .iter()
            .flatten()
            .map(|g| cpu_ticks(g.child.id()))
            .collect();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let busiest = gateways
            .iter()
            .flatten()
            .zip(before)
            .map(|(g, before)| cpu_ticks(g.child.id()).saturating_sub(before))
            .max()
            .unwrap_or(0);
        // 100 ticks a second: 2 ticks in 200 ms is a tenth of a core.
        if busiest <= 2 {
            return Ok((live, started.elapsed()));
        }
        if Instant::now() > deadline {
            return Err(anyhow!(
                "the gateways were still busy 60 s after the phones subscribed"
            ));
        }
    }
}

/// The live subscriptions an instance holds.
async fn subscriptions_of(gateway: &Gateway) -> anyhow::Result<usize> {
    let page = reqwest::get(format!("{}/metrics", gateway.admin))
        .await?
        .text()
        .await?;
    Ok(gauge(&page, "gateway_subscriptions") as usize)
}

/// A gauge's value in a Prometheus page (0 when absent).
fn gauge(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0)
}

/// CPU a process has used (user and system), in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let fields: Vec<u64> = stat
                .rsplit_once(')')?
                .1
                .split_whitespace()
                .skip(11)
                .take(2)
                .filter_map(|f| f.parse().ok())
                .collect();
            Some(fields.iter().sum())
        })
        .unwrap_or(0)
}

pub async fn run(plan: Plan) -> anyhow::Result<Report> {
    let started = Instant::now();
    let (database, db) = TestDatabase::postgres_with_demo(&plan.postgres, &plan.database).await?;
    let mut redis = OwnRedis::start().await?;
    let proxy = LatencyProxy::start(redis.port).await?;
    let prefix = format!("promise{}", std::process::id());
    let event = setup_runners(&db, &prefix, plan.runners).await?;
    let mock = MockPushService::start(plan.decrypt_every).await?;
    subscribe_browsers(&db, &mock, &prefix, plan.runners, plan.push).await?;
    let smtp = if plan.smtp_maildir {
        SmtpServer::start().await?
    } else {
        SmtpServer::start_journal_only().await?
    };
    let organizer =
        crate::organizer_token(&db, "director@promise.test", "courage-to-be-the-first").await?;

    let mut gateways = Vec::new();
    let mut envs = Vec::new();
    for (index, name) in ["promise-a", "promise-b"].iter().enumerate() {
        let redis_url = if index == 1 { proxy.url() } else { redis.url() };
        let mut env: Vec<(&str, String)> = vec![
            ("DATABASE_URL", database.url.clone()),
            ("REDIS_URL", redis_url),
            ("REDIS_CHANNEL_PREFIX", prefix.clone()),
            ("INSTANCE_ID", (*name).to_owned()),
            // The phones come from a handful of loopback addresses.
            ("RATE_WS_UPGRADES_PER_ADDRESS", "1000000".to_owned()),
            ("WS_MAX_SOCKETS_PER_ADDRESS", "1000000".to_owned()),
            ("WS_MAX_SUBSCRIPTIONS_PER_ADDRESS", "10000000".to_owned()),
            ("SMTP_URL", smtp.url()),
            (
                "ALERT_EMAIL_AFTER_SECS",
                plan.escalate_after.as_secs().to_string(),
            ),
            // Through the balancer every request comes from it: the client is the one
            // it names.
            ("TRUSTED_PROXIES", "127.0.0.1".to_owned()),
        ];
        env.extend(crate::push_service::gateway_env()?);
        env.extend(
            plan.gateway_env
                .iter()
                .map(|(k, v)| (k.as_str(), v.clone())),
        );
        gateways.push(Some(Gateway::start(&env).await?));
        envs.push(
            env.into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect::<Vec<_>>(),
        );
    }
    let mut balancers = Vec::new();
    if plan.via == Via::Haproxy {
        let (a, b) = (running(&gateways, 0)?, running(&gateways, 1)?);
        for _ in 0..plan.page_open.div_ceil(PHONES_PER_BALANCER).max(1) {
            balancers.push(Haproxy::start_with(a, b, BALANCER_MAXCONN).await?);
        }
    }
    // Where the organizer's requests go: the balancer when there is one.
    let through_balancer = balancers.first().map(|b| b.address.clone());
    let key = post_graphql(
        &reqwest::Client::new(),
        &address(&gateways, 0)?,
        None,
        &json!({ "query": "{ webPushPublicKey notificationsCursor }" }),
    )
    .await?;
    mock.expect_vapid_key(key["data"]["webPushPublicKey"].as_str().unwrap_or_default())?;
    let cursor: i64 = key["data"]["notificationsCursor"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .with_context(|| format!("no cursor: {key}"))?;
    // Each phone worker's way in: every instance, or one balancer.
    let routes: Vec<Vec<String>> = if balancers.is_empty() {
        vec![
            gateways
                .iter()
                .flatten()
                .map(|g| format!("{}/graphql/ws", g.address.replace("http://", "ws://")))
                .collect(),
        ]
    } else {
        balancers.iter().map(|b| vec![b.ws_url()]).collect()
    };

    // The phones, all subscribed before anything happens.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let phones = PhoneFleet::start(&plan, routes, &prefix, cursor, stopped).await?;
    let subscribed = phones.subscribed;
    // A phone has only sent its subscription; the gateways may still be working through
    // thousands of them. On race day the page has been open a while when the director
    // cancels: wait until every subscription is live and the gateways are idle again.
    let (live, idle) = subscriptions_settled(&gateways, subscribed).await?;
    let setup = started.elapsed();
    println!(
        "{} runners set up ({} with the page open, {} with push, every one an email), {subscribed} phones subscribed, in {:.1} s; every subscription live on the gateways {:.1} s and the gateways idle {:.1} s after the last was sent",
        plan.runners,
        plan.page_open,
        plan.push,
        setup.as_secs_f64(),
        live.as_secs_f64(),
        idle.as_secs_f64(),
    );

    // A rolling restart: the second instance restarted whole, then the first told to
    // stop, and the cancellation while it drains.
    let mut before: Vec<(Instant, String)> = Vec::new();
    if plan.fault == Fault::RollingRestart {
        // What instance a spends taking b's phones (no alert in flight): the cost of a
        // reconnect.
        let on_b = subscriptions_of(running(&gateways, 1)?).await?;
        let a_pid = running(&gateways, 0)?.pid();
        let a_before = cpu_ticks(a_pid);
        before.push((Instant::now(), "SIGTERM instance b".into()));
        let b = gateways[1].take().context("instance b is not running")?;
        let stopped = stop_gracefully(b).await?;
        before.push((Instant::now(), "instance b exited".into()));
        gateways[1] = Some(start_again(&envs[1], &stopped).await?);
        before.push((Instant::now(), "instance b serving again".into()));
        for balancer in &mut balancers {
            balancer.wait_for_both().await?;
        }
        if !balancers.is_empty() {
            before.push((Instant::now(), "the balancer routes to b again".into()));
        }
        subscriptions_settled(&gateways, subscribed).await?;
        let spent_ms = cpu_ticks(a_pid).saturating_sub(a_before) * 10;
        before.push((
            Instant::now(),
            format!(
                "every phone subscribed again, the gateways idle; instance a took b's {on_b} subscriptions with {spent_ms} ms of CPU ({:.0} µs each)",
                spent_ms as f64 * 1000.0 / on_b.max(1) as f64
            ),
        ));
        signal_stop(running(&gateways, 0)?)?;
        before.push((Instant::now(), "SIGTERM instance a".into()));
        tokio::time::sleep(plan.fault_at).await;
    }

    // The cancellation, then the fault.
    let mutation = json!({ "query": "mutation($input: ChangeEventStatusInput!) { changeEventStatus(input: $input) { status } }",
        "variables": { "input": { "eventId": event.to_string(), "status": "CANCELLED", "reason": "Public events are banned",
            "email": plan.email.policy() } } });
    let client = reqwest::Client::new();
    let front = match &through_balancer {
        Some(balancer) => balancer.clone(),
        None => address(&gateways, 0)?,
    };
    let answer = post_graphql(&client, &front, Some(&organizer), &mutation).await?;
    let committed = now_micros();
    let answered_at = chrono::Utc::now();
    let commit_clock = Instant::now();
    if answer.get("errors").is_some() {
        return Err(anyhow!("the cancellation failed: {answer}"));
    }
    let at = |clock: Instant| {
        if clock >= commit_clock {
            (clock - commit_clock).as_millis() as i64
        } else {
            -((commit_clock - clock).as_millis() as i64)
        }
    };
    let mut timeline: Vec<(i64, String)> = before
        .into_iter()
        .map(|(clock, what)| (at(clock), what))
        .collect();
    timeline.push((
        0,
        format!(
            "cancellation answered {} (at {} UTC)",
            if balancers.is_empty() {
                "by instance a"
            } else {
                "through the balancer"
            },
            answered_at.format("%H:%M:%S%.3f")
        ),
    ));
    if plan.fault != Fault::RollingRestart {
        tokio::time::sleep(plan.fault_at).await;
    }
    match plan.fault {
        Fault::None => {}
        Fault::RollingRestart => {
            // Instance a finishes its drain, and starts again.
            let a = gateways[0].take().context("instance a is not running")?;
            let stopped = wait_for_exit(a).await?;
            timeline.push((at(Instant::now()), "instance a exited".into()));
            gateways[0] = Some(start_again(&envs[0], &stopped).await?);
            timeline.push((at(Instant::now()), "instance a serving again".into()));
            for balancer in &mut balancers {
                balancer.wait_for_both().await?;
            }
        }
        Fault::RedisRestart => {
            redis.stop();
            timeline.push((at(Instant::now()), "Redis stopped".into()));
            tokio::time::sleep(plan.fault_for).await;
            redis.restart().await?;
            timeline.push((at(Instant::now()), "Redis started again".into()));
        }
        Fault::KillRelay | Fault::KillOther => {
            // Read after the cancellation: the relay lease is taken for the work, so
            // before it nobody may hold it.
            let holder = relay_holder(&db).await?;
            let holder_index = if holder.as_deref() == Some("promise-b") {
                1
            } else {
                0
            };
            let victim = if plan.fault == Fault::KillRelay {
                holder_index
            } else {
                1 - holder_index
            };
            if let Some(mut gateway) = gateways[victim].take() {
                let _ = gateway.child.kill();
                let _ = gateway.child.wait();
            }
            timeline.push((
                at(Instant::now()),
                format!(
                    "SIGKILL instance {} ({}; relay lease held by {})",
                    ["a", "b"][victim],
                    if victim == holder_index {
                        "the relay holder"
                    } else {
                        "not the relay holder"
                    },
                    holder.unwrap_or_else(|| "nobody".into())
                ),
            ));
        }
        Fault::PgTerminate => {
            let terminated = terminate_backends(&db, &plan.database).await?;
            timeline.push((
                at(Instant::now()),
                format!("pg_terminate_backend on {terminated} gateway connections"),
            ));
        }
        Fault::RedisLatency => {
            proxy.set_delay(plan.fault_for);
            timeline.push((
                at(Instant::now()),
                format!(
                    "{} ms added to every byte between instance b and Redis",
                    plan.fault_for.as_millis()
                ),
            ));
        }
    }

    let target = notification_of_cancellation(&db, event).await?;
    // Wait until every push arrived or the window closed; the phones a little longer.
    let pushers = plan.push;
    if pushers > 0 {
        let all_pushed = mock
            .wait_until(plan.window, |received| {
                let mut who = std::collections::HashSet::new();
                for r in received.iter().filter(|r| (200..300).contains(&r.status)) {
                    who.insert(r.subscription);
                }
                who.len() >= pushers
            })
            .await;
        let last_push = mock
            .received()
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .map(|r| r.at)
            .max();
        match (all_pushed, last_push) {
            (true, Some(last)) => timeline.push((at(last), "the last push delivered".into())),
            _ => timeline.push((
                at(Instant::now()),
                "the window closed before every push was delivered".into(),
            )),
        }
    }
    // Then for every phone to have heard and acknowledged (a phone whose instance died
    // may still be backing off), within the same window; a second more for any repeat.
    let deadline = commit_clock + plan.window;
    let acknowledging = if plan.acknowledge { subscribed } else { 0 };
    while (phones.told() < subscribed || phones.acked() < acknowledging)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    wait_for_mail(
        &plan,
        &smtp,
        &phones,
        (committed, commit_clock),
        &mut timeline,
    )
    .await;
    let pending_at_end = wait_until_settled(&db, target, &mut timeline, commit_clock).await?;
    let _ = stop.send(true);
    let heard = phones.finish().await?;
    if plan.fault == Fault::RedisLatency {
        proxy.set_delay(Duration::ZERO);
    }
    let mut balancer_5xx = None;
    for balancer in &balancers {
        *balancer_5xx.get_or_insert(0) += balancer.responses_5xx().await?;
    }

    let acks: HashMap<usize, i64> = heard
        .iter()
        .filter_map(|(index, phone)| phone.acked.get(&target).map(|at| (*index, *at)))
        .collect();
    let mut mail = mail::tally(
        &mail::Tally {
            email: plan.email,
            escalate_after: plan.escalate_after,
            within: plan.mail_within,
            prefix: &prefix,
            runners: plan.runners,
            target,
            committed,
            acks: &acks,
        },
        &smtp.accepted(),
    );
    mail.pending_at_end = pending_at_end;
    mail.reach = reach_report(&gateways, &organizer, target).await;
    for gateway in gateways.iter().flatten() {
        if let Ok(page) = reqwest::get(format!("{}/metrics", gateway.admin)).await
            && let Ok(text) = page.text().await
        {
            mail::mails_total(&text, &mut mail.gateway_mails);
        }
    }
    let report = tally(
        &plan,
        subscribed,
        heard,
        target,
        committed,
        &mock,
        commit_clock,
        timeline,
        mail,
        balancer_5xx,
    );
    drop(gateways);
    db.close().await.ok();
    drop(database);
    Ok(report)
}

/// Instance `index`, if it is running.
fn running(gateways: &[Option<Gateway>], index: usize) -> anyhow::Result<&Gateway> {
    gateways
        .get(index)
        .and_then(|g| g.as_ref())
        .with_context(|| format!("instance {index} is not running"))
}

/// Where a stopped instance listened, to start it again there (the balancer knows it
/// by those addresses).
struct Addresses {
    public: String,
    admin: String,
}

/// SIGTERM, as systemd sends on `systemctl stop`.
fn signal_stop(gateway: &Gateway) -> anyhow::Result<()> {
    let status = std::process::Command::new("kill")
        .args(["-TERM", &gateway.pid().to_string()])
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(anyhow!("kill -TERM {} failed: {status}", gateway.pid()))
    }
}

/// Sends SIGTERM and waits for the instance to drain and exit.
async fn stop_gracefully(gateway: Gateway) -> anyhow::Result<Addresses> {
    signal_stop(&gateway)?;
    wait_for_exit(gateway).await
}

/// Waits for an instance told to stop to exit, within [`STOP_WITHIN`].
async fn wait_for_exit(mut gateway: Gateway) -> anyhow::Result<Addresses> {
    let deadline = Instant::now() + STOP_WITHIN;
    while gateway.child.try_wait()?.is_none() {
        if Instant::now() > deadline {
            return Err(anyhow!(
                "instance {} still running {STOP_WITHIN:?} after SIGTERM",
                gateway.instance
            ));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Addresses {
        public: gateway.address.clone(),
        admin: gateway.admin.clone(),
    })
}

/// The instance started again with its environment, on the addresses it had.
async fn start_again(env: &[(String, String)], at: &Addresses) -> anyhow::Result<Gateway> {
    let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    env.push(("BIND", at.public.trim_start_matches("http://").to_owned()));
    env.push((
        "ADMIN_BIND",
        at.admin.trim_start_matches("http://").to_owned(),
    ));
    Ok(Gateway::start(&env).await?)
}

fn address(gateways: &[Option<Gateway>], index: usize) -> anyhow::Result<String> {
    gateways
        .get(index)
        .and_then(|g| g.as_ref())
        .map(|g| g.address.clone())
        .with_context(|| format!("instance {index} is not running"))
}

/// Waits until the SMTP server has accepted a mail for every runner the policy leaves to
/// mail (UNREACHED: those whose page has not acknowledged, once the window has closed), or
/// until the mail promise's deadline.
async fn wait_for_mail(
    plan: &Plan,
    smtp: &SmtpServer,
    phones: &PhoneFleet,
    (committed, commit_clock): (i64, Instant),
    timeline: &mut Vec<(i64, String)>,
) {
    let at = |clock: Instant| (clock - commit_clock).as_millis() as i64;
    let escalation = match plan.email {
        Email::None => return,
        Email::All => Duration::ZERO,
        Email::Unreached => plan.escalate_after,
    };
    let deadline = commit_clock + escalation + plan.mail_within;
    loop {
        let expected = match plan.email {
            Email::Unreached => plan.runners.saturating_sub(phones.acked()),
            _ => plan.runners,
        };
        let accepted = smtp.accepted();
        let recipients: std::collections::HashSet<&str> =
            accepted.iter().map(|a| a.envelope_to.as_str()).collect();
        let now = Instant::now();
        if recipients.len() >= expected && now >= commit_clock + escalation {
            let last_ms = accepted
                .iter()
                .map(|a| a.at)
                .max()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(at(now), |t| (t.as_micros() as i64 - committed) / 1000);
            timeline.push((
                last_ms,
                format!(
                    "the last of {} mails accepted by the SMTP server",
                    recipients.len()
                ),
            ));
            return;
        }
        if now >= deadline {
            timeline.push((
                at(now),
                format!(
                    "the mail deadline passed: {} of {expected} runners mailed",
                    recipients.len()
                ),
            ));
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until none of the alert's mails is pending (each one recorded as sent, failed,
/// acknowledged or not mailed: nothing more can reach the SMTP server), for at most a
/// lease and a poll; how many are still pending.
async fn wait_until_settled(
    db: &DatabaseConnection,
    target: i64,
    timeline: &mut Vec<(i64, String)>,
    commit_clock: Instant,
) -> anyhow::Result<u64> {
    use entities::mail_delivery::{Column, Entity, MailStatus};
    use sea_orm::ColumnTrait;
    let until = Instant::now() + Duration::from_secs(12);
    loop {
        let pending = Entity::find()
            .filter(Column::NotificationId.eq(target))
            .filter(Column::Status.eq(MailStatus::Pending))
            .count(db)
            .await?;
        if pending == 0 || Instant::now() >= until {
            if pending > 0 {
                timeline.push((
                    (Instant::now() - commit_clock).as_millis() as i64,
                    format!("{pending} mails still pending at the end"),
                ));
            }
            return Ok(pending);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The alert's `reachReport`, from the first instance still running.
async fn reach_report(gateways: &[Option<Gateway>], organizer: &str, target: i64) -> Value {
    let query = json!({ "query": "query($n: ID!) { reachReport(notificationId: $n) { targeted acknowledged liveSeen pushDelivered pushDisplayed pushClicked emailed emailFailed emailPending unreached } }",
        "variables": { "n": target.to_string() } });
    let Some(gateway) = gateways.iter().flatten().next() else {
        return Value::Null;
    };
    match post_graphql(
        &reqwest::Client::new(),
        &gateway.address,
        Some(organizer),
        &query,
    )
    .await
    {
        Ok(answer) if answer["data"]["reachReport"].is_object() => {
            answer["data"]["reachReport"].clone()
        }
        Ok(answer) => answer,
        Err(error) => Value::String(format!("{error:#}")),
    }
}

#[allow(clippy::too_many_arguments)]
fn tally(
    plan: &Plan,
    subscribed: usize,
    heard: Vec<(usize, Heard)>,
    target: i64,
    committed: i64,
    mock: &MockPushService,
    commit_clock: Instant,
    timeline: Vec<(i64, String)>,
    mail: MailReport,
    balancer_5xx: Option<u64>,
) -> Report {
    let mut latencies: Vec<i64> = Vec::new();
    let (mut within_1s, mut within_5s, mut untold) = (0, 0, 0);
    let (mut duplicates, mut reconnects) = (0u64, 0u64);
    let (mut stayed, mut stayed_within_1s, mut moved, mut moved_within_5s) = (0, 0, 0, 0);
    let (mut moved_within_2s, mut once, mut more) = (0, 0, 0);
    let mut moved_latencies: Vec<i64> = Vec::new();
    let mut steps: [Vec<i64>; 5] = Default::default();
    let mut retried = 0;
    for (_, phone) in &heard {
        if let (Some(moved), Some(told)) = (&phone.moved, phone.first.get(&target)) {
            retried += usize::from(moved.failed > 0);
            for (step, took) in steps.iter_mut().zip([
                moved.lost - committed,
                moved.tried - moved.lost,
                moved.upgraded - moved.tried,
                moved.accepted - moved.upgraded,
                told - moved.accepted,
            ]) {
                step.push(took);
            }
        }
        once += usize::from(phone.reconnects == 1);
        more += usize::from(phone.reconnects > 1);
        duplicates += u64::from(phone.repeats);
        reconnects += u64::from(phone.reconnects);
        let latency = phone.first.get(&target).map(|at| (at - committed).max(0));
        if phone.reconnects == 0 {
            stayed += 1;
            stayed_within_1s += usize::from(latency.is_some_and(|l| l <= 1_000_000));
        } else {
            moved += 1;
            moved_within_2s += usize::from(latency.is_some_and(|l| l <= 2_000_000));
            moved_within_5s += usize::from(latency.is_some_and(|l| l <= 5_000_000));
            // An untold phone counts as the slowest.
            moved_latencies.push(latency.unwrap_or(i64::MAX));
        }
        match latency {
            Some(latency) => {
                latencies.push(latency);
                within_1s += usize::from(latency <= 1_000_000);
                within_5s += usize::from(latency <= 5_000_000);
            }
            None => untold += 1,
        }
    }
    latencies.sort_unstable();
    moved_latencies.sort_unstable();
    for step in &mut steps {
        step.sort_unstable();
    }
    let percentile = |sorted: &[i64], p: f64| -> f64 {
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
        sorted[rank] as f64 / 1000.0
    };
    let pick = |p: f64| percentile(&latencies, p);
    let mut first_push: HashMap<u64, Instant> = HashMap::new();
    let mut push_duplicates = 0;
    for received in mock.received() {
        if !(200..300).contains(&received.status) {
            continue;
        }
        match first_push.entry(received.subscription) {
            std::collections::hash_map::Entry::Occupied(_) => push_duplicates += 1,
            std::collections::hash_map::Entry::Vacant(first) => {
                first.insert(received.at);
            }
        }
    }
    let push_within_5s = first_push
        .values()
        .filter(|at| at.saturating_duration_since(commit_clock) <= Duration::from_secs(5))
        .count();
    Report {
        fault: plan.fault.name().into(),
        runners: plan.runners,
        page_open: plan.page_open,
        push: plan.push,
        subscribed,
        ws_within_1s: within_1s,
        ws_within_5s: within_5s,
        ws_eventually: latencies.len(),
        ws_untold: untold + plan.page_open.saturating_sub(heard.len()),
        ws_p50_ms: pick(50.0),
        ws_p99_ms: pick(99.0),
        ws_max_ms: pick(100.0),
        ws_stayed: stayed,
        ws_stayed_within_1s: stayed_within_1s,
        ws_moved: moved,
        ws_moved_within_2s: moved_within_2s,
        ws_moved_within_5s: moved_within_5s,
        ws_moved_p99_ms: percentile(&moved_latencies, 99.0),
        ws_moved_steps: ["lost", "back-off", "upgrade", "ack", "told"]
            .into_iter()
            .zip(&steps)
            .filter(|(_, took)| !took.is_empty())
            .map(|(name, took)| (name, percentile(took, 50.0), percentile(took, 99.0)))
            .collect(),
        ws_moved_retried: retried,
        reconnected_once: once,
        reconnected_more: more,
        balancer_5xx,
        duplicates,
        reconnects,
        push_within_5s,
        push_eventually: first_push.len(),
        push_missing: plan.push.saturating_sub(first_push.len()),
        push_duplicates,
        push_rejected: mock.rejections().len(),
        mail,
        timeline,
    }
}

/// Runners `prefix-0..n` with sessions, each registered for the race; the race's id.
async fn setup_runners(db: &DatabaseConnection, prefix: &str, n: usize) -> anyhow::Result<i64> {
    runner_tokens(db, prefix, n).await?;
    let event = entities::event::Entity::find()
        .filter(<entities::event::Column as sea_orm::ColumnTrait>::eq(
            &entities::event::Column::Slug,
            crate::demo::marathon(),
        ))
        .one(db)
        .await?
        .with_context(|| format!("no race {} in the demo", crate::demo::marathon()))?;
    let distance = entities::distance::Entity::find()
        .filter(<entities::distance::Column as sea_orm::ColumnTrait>::eq(
            &entities::distance::Column::EventId,
            event.id,
        ))
        .one(db)
        .await?
        .context("the race has no distance")?;
    let accounts = runner_accounts(db, prefix).await?;
    let now = chrono::Utc::now();
    for (chunk_index, chunk) in accounts.chunks(2000).enumerate() {
        let rows =
            chunk
                .iter()
                .enumerate()
                .map(|(i, account)| entities::registration::ActiveModel {
                    event_id: Set(event.id),
                    distance_id: Set(distance.id),
                    account_id: Set(*account),
                    bib: Set((10_000 + chunk_index * 2000 + i) as i32),
                    fee_minor: Set(distance.fee_minor),
                    currency: Set(distance.currency.clone()),
                    tshirt_size: Set(None),
                    tshirt_paid: Set(false),
                    starter_kit: Set(entities::registration::StarterKit::Pending),
                    state: Set(entities::registration::RegistrationStatus::Confirmed),
                    gender: Set(None),
                    birth_date: Set(None),
                    country: Set(None),
                    city: Set(None),
                    registered_at: Set(now),
                    ..Default::default()
                });
        entities::registration::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(event.id)
}

/// The ids of runners `prefix-0..`, in index order.
async fn runner_accounts(db: &DatabaseConnection, prefix: &str) -> anyhow::Result<Vec<i64>> {
    let mut accounts: Vec<(usize, i64)> = entities::account::Entity::find()
        .filter(<entities::account::Column as sea_orm::ColumnTrait>::like(
            &entities::account::Column::Email,
            format!("{prefix}-%@load.test"),
        ))
        .order_by_asc(entities::account::Column::Id)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|a| {
            let index = a
                .email
                .strip_prefix(&format!("{prefix}-"))?
                .split('@')
                .next()?
                .parse()
                .ok()?;
            Some((index, a.id))
        })
        .collect();
    accounts.sort_unstable();
    Ok(accounts.into_iter().map(|(_, id)| id).collect())
}

/// A browser at the mock push service, following every race they run, for each of the last
/// `push` of the `n` runners.
async fn subscribe_browsers(
    db: &DatabaseConnection,
    mock: &MockPushService,
    prefix: &str,
    n: usize,
    push: usize,
) -> anyhow::Result<()> {
    let accounts = runner_accounts(db, prefix).await?;
    if accounts.len() != n {
        return Err(anyhow!("{} runner accounts, expected {n}", accounts.len()));
    }
    let now = chrono::Utc::now();
    for chunk in accounts[n.saturating_sub(push)..].chunks(2000) {
        let mut rows = Vec::with_capacity(chunk.len());
        for account in chunk {
            let browser = mock.subscribe()?;
            rows.push(entities::push_subscription::ActiveModel {
                account_id: Set(*account),
                endpoint: Set(browser.endpoint),
                p256dh: Set(browser.p256dh),
                auth: Set(browser.auth),
                all_registered_events: Set(true),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
        }
        entities::push_subscription::Entity::insert_many(rows)
            .exec_without_returning(db)
            .await?;
    }
    Ok(())
}

async fn relay_holder(db: &DatabaseConnection) -> anyhow::Result<Option<String>> {
    Ok(entities::relay_lease::Entity::find()
        .all(db)
        .await?
        .into_iter()
        .next()
        .map(|lease| lease.holder))
}

/// Terminates every connection to the run's database but this one; how many.
async fn terminate_backends(db: &DatabaseConnection, name: &str) -> anyhow::Result<u64> {
    let statement = sea_orm::Statement::from_string(
        sea_orm::DatabaseBackend::Postgres,
        format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
        ),
    );
    Ok(db.query_all_raw(statement).await?.len() as u64)
}

/// The id of the notification that announced the cancellation.
async fn notification_of_cancellation(db: &DatabaseConnection, event: i64) -> anyhow::Result<i64> {
    entities::notification::Entity::find()
        .filter(
            <entities::notification::Column as sea_orm::ColumnTrait>::eq(
                &entities::notification::Column::EventId,
                event,
            ),
        )
        .order_by_desc(entities::notification::Column::Id)
        .one(db)
        .await?
        .map(|n| n.id)
        .context("the cancellation left no notification")
}

/// The phones of a run, wherever they are.
struct PhoneFleet {
    subscribed: usize,
    /// Phones told so far, per worker (one entry in process).
    told: Vec<Arc<AtomicUsize>>,
    /// Phones that have acknowledged, per worker.
    acked: Vec<Arc<AtomicUsize>>,
    running: Running,
}

enum Running {
    Here(tokio::task::JoinHandle<Vec<(usize, Heard)>>),
    Workers(Vec<Worker>),
}

/// A phone worker process; a thread reads its output (`TOLD n` and `ACKED n` lines as
/// phones hear and acknowledge, then its report).
struct Worker {
    child: std::process::Child,
    report: std::thread::JoinHandle<anyhow::Result<String>>,
}

impl PhoneFleet {
    async fn start(
        plan: &Plan,
        routes: Vec<Vec<String>>,
        prefix: &str,
        cursor: i64,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> anyhow::Result<Self> {
        let runners = plan.page_open;
        match &plan.phones {
            Phones::InProcess => {
                let urls = routes.into_iter().next().unwrap_or_default();
                let (subscribed, count) = tokio::sync::oneshot::channel();
                let told = Arc::new(AtomicUsize::new(0));
                let acked = Arc::new(AtomicUsize::new(0));
                let fleet = runner::Fleet {
                    acknowledge: plan
                        .acknowledge
                        .then(|| runner::Acknowledge::new(&urls, acked.clone(), plan.ack_jitter)),
                    urls,
                    prefix: prefix.to_owned(),
                    first: 0,
                    count: runners,
                    cursor,
                };
                let running =
                    tokio::spawn(runner::run_phones(fleet, subscribed, told.clone(), stop));
                let subscribed = count.await?;
                Ok(Self {
                    subscribed,
                    told: vec![told],
                    acked: vec![acked],
                    running: Running::Here(running),
                })
            }
            Phones::Workers { per_worker, exe } => {
                let mut workers = Vec::new();
                for (worker, first) in (0..runners).step_by((*per_worker).max(1)).enumerate() {
                    let count = (*per_worker).min(runners - first);
                    let urls = &routes[worker % routes.len().max(1)];
                    let mut child = std::process::Command::new("sh")
                        .arg("-c")
                        .arg(format!(
                            "ulimit -n 20000; exec '{}' promise-worker --urls '{}' --prefix '{prefix}' --first {first} --count {count} --cursor {cursor} --ack-jitter-ms {}{}",
                            exe.display(),
                            urls.join(","),
                            plan.ack_jitter.as_millis(),
                            if plan.acknowledge { " --acknowledge" } else { "" }
                        ))
                        .stdin(std::process::Stdio::piped())
                        .stdout(std::process::Stdio::piped())
                        .spawn()
                        .context("starting a phone worker")?;
                    let stdout = child.stdout.take().context("worker stdout")?;
                    let told = Arc::new(AtomicUsize::new(0));
                    let acked = Arc::new(AtomicUsize::new(0));
                    let (said, subscribed) = std::sync::mpsc::channel();
                    let (told_counter, acked_counter) = (told.clone(), acked.clone());
                    let report = std::thread::spawn(move || {
                        use std::io::BufRead;
                        let mut last = String::new();
                        for line in std::io::BufReader::new(stdout).lines() {
                            let line = line?;
                            if let Some(n) = line.strip_prefix("SUBSCRIBED ") {
                                let _ = said.send(n.trim().parse::<usize>().unwrap_or(0));
                            } else if let Some(n) = line.strip_prefix("TOLD ") {
                                told_counter
                                    .store(n.trim().parse().unwrap_or(0), Ordering::Relaxed);
                            } else if let Some(n) = line.strip_prefix("ACKED ") {
                                acked_counter
                                    .store(n.trim().parse().unwrap_or(0), Ordering::Relaxed);
                            } else {
                                last = line;
                            }
                        }
                        Ok(last)
                    });
                    workers.push((Worker { child, report }, (told, acked), subscribed));
                }
                let mut subscribed = 0;
                for (_, _, said) in &workers {
                    subscribed += said.recv().unwrap_or(0);
                }
                drop(stop);
                let told = workers
                    .iter()
                    .map(|(_, (told, _), _)| told.clone())
                    .collect();
                let acked = workers
                    .iter()
                    .map(|(_, (_, acked), _)| acked.clone())
                    .collect();
                Ok(Self {
                    subscribed,
                    told,
                    acked,
                    running: Running::Workers(workers.into_iter().map(|(w, _, _)| w).collect()),
                })
            }
        }
    }

    /// Phones told so far.
    fn told(&self) -> usize {
        self.told.iter().map(|t| t.load(Ordering::Relaxed)).sum()
    }

    /// Phones that have acknowledged so far.
    fn acked(&self) -> usize {
        self.acked.iter().map(|t| t.load(Ordering::Relaxed)).sum()
    }

    async fn finish(self) -> anyhow::Result<Vec<(usize, Heard)>> {
        match self.running {
            Running::Here(task) => Ok(task.await?),
            Running::Workers(workers) => {
                let mut heard = Vec::new();
                for mut worker in workers {
                    if let Some(mut stdin) = worker.child.stdin.take() {
                        let _ = std::io::Write::write_all(&mut stdin, b"STOP\n");
                    }
                    let report = worker
                        .report
                        .join()
                        .map_err(|_| anyhow!("a phone worker's reader panicked"))??;
                    let _ = worker.child.wait();
                    let part: Vec<(usize, Heard)> =
                        serde_json::from_str(&report).context("a phone worker's report")?;
                    heard.extend(part);
                }
                Ok(heard)
            }
        }
    }
}
