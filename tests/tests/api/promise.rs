//! The promise, scaled down to a few hundred runners, under each fault: two gateway
//! processes, a Redis of the run's own, phones that reconnect like the runner page, and
//! the strict mock push service. Nobody may be left untold and every push must arrive.
//! (`load promise` runs the same at 18,000; the README has its figures.)

use std::time::Duration;

use gateway_tests::promise::{self, Fault, Phones, Plan};

const RUNNERS: usize = 300;

async fn keeps_the_promise_under(fault: Fault) {
    let plan = Plan {
        runners: RUNNERS,
        fault,
        fault_at: Duration::from_millis(50),
        fault_for: Duration::from_millis(1500),
        window: Duration::from_secs(30),
        postgres: gateway_tests::postgres_admin_url(),
        decrypt_every: 1,
        database: crate::helpers::unique_name("gw_promise"),
        phones: Phones::InProcess,
        gateway_env: Vec::new(),
    };
    let report = promise::run(plan).await.expect("the run completes");
    report.print();
    assert_eq!(report.subscribed, RUNNERS, "every phone subscribed");
    assert_eq!(report.ws_untold, 0, "nobody left untold: {report:?}");
    assert_eq!(report.push_missing, 0, "every push delivered: {report:?}");
    assert_eq!(
        report.push_rejected, 0,
        "the push service accepted every request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_is_told_when_nothing_breaks() {
    keeps_the_promise_under(Fault::None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_runner_is_told_when_redis_restarts_during_the_fan_out() {
    keeps_the_promise_under(Fault::RedisRestart).await;
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
