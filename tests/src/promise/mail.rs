//! The mail side of a promise run: the organizer's email policy for the change, and what
//! reached the run's own SMTP server (`tests/smtp/server.py` on aiosmtpd, on 127.0.0.1,
//! writing one journal line per accepted (message, recipient) with the time it answered
//! 250, and no Maildir unless asked), tallied against who acknowledged on the page.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::smtp::Accepted;

/// `ChangeEventStatusInput.email` for the run's cancellation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Email {
    /// Nobody is mailed.
    None,
    /// Every registered runner is mailed at once.
    All,
    /// Runners who have not acknowledged within ALERT_EMAIL_AFTER_SECS are mailed then.
    Unreached,
}

impl Email {
    pub fn policy(self) -> &'static str {
        match self {
            Self::None => "NONE",
            Self::All => "ALL",
            Self::Unreached => "UNREACHED",
        }
    }
}

/// What a run's mail came to. Times are from the cancellation's answer.
#[derive(Debug, Clone, Serialize, Default)]
pub struct MailReport {
    pub policy: String,
    /// ALERT_EMAIL_AFTER_SECS of the gateways.
    pub escalate_after_secs: u64,
    /// By when every runner must have acknowledged or been mailed: the escalation
    /// window (UNREACHED only) plus the mail promise's 60 s.
    pub deadline_secs: u64,
    /// Runners whose page acknowledged the alert (the gateway answered).
    pub acknowledged: usize,
    pub ack_p50_ms: f64,
    pub ack_p99_ms: f64,
    /// Runners the policy leaves to mail: all (ALL), those who did not acknowledge
    /// (UNREACHED), none (NONE).
    pub expected: usize,
    /// Runners whose alert mail the SMTP server accepted (each counted once).
    pub accepted: usize,
    /// Of them, accepted by the deadline.
    pub accepted_by_deadline: usize,
    pub first_ms: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub last_ms: f64,
    /// Mails accepted again for a (notification, runner) already mailed.
    pub twice: usize,
    /// Mails accepted again with a Message-ID already seen.
    pub twice_message_id: usize,
    /// Runners neither acknowledged nor mailed by the deadline (0 under NONE, which
    /// promises no mail).
    pub neither: usize,
    /// Runners mailed although their page had acknowledged before the window closed
    /// (UNREACHED; not a repeat, but a mail the policy meant to spare).
    pub mailed_though_acknowledged: usize,
    /// Accepted mails that are not this alert's to this run's runners.
    pub other: usize,
    /// The gateway's `reachReport` for the alert, read at the end.
    pub reach: Value,
    /// `gateway_mails_total` by outcome, both instances summed (a killed one left out).
    pub gateway_mails: BTreeMap<String, u64>,
    /// `mail_delivery` rows of the alert still pending at the end.
    pub pending_at_end: u64,
}

impl MailReport {
    pub fn kept(&self) -> bool {
        self.twice == 0 && self.twice_message_id == 0 && self.neither == 0
    }

    pub fn print(&self) {
        println!(
            "Mail ({}, ALERT_EMAIL_AFTER_SECS {}): accepted by the SMTP server {} of {} to mail ({} by the deadline, {} s); \
             first {:.0} ms, p50 {:.0} ms, p99 {:.0} ms, last {:.0} ms; twice {} (same Message-ID {}); other {}",
            self.policy,
            self.escalate_after_secs,
            self.accepted,
            self.expected,
            self.accepted_by_deadline,
            self.deadline_secs,
            self.first_ms,
            self.p50_ms,
            self.p99_ms,
            self.last_ms,
            self.twice,
            self.twice_message_id,
            self.other,
        );
        println!(
            "  acknowledged on the page {} (p50 {:.0} ms, p99 {:.0} ms); neither acknowledged nor mailed by the deadline {}; \
             mailed though acknowledged {}; still pending {}",
            self.acknowledged,
            self.ack_p50_ms,
            self.ack_p99_ms,
            self.neither,
            self.mailed_though_acknowledged,
            self.pending_at_end,
        );
        let field = |name: &str| self.reach[name].as_i64().unwrap_or(-1);
        println!(
            "  reachReport: targeted {}, acknowledged {}, liveSeen {}, pushDelivered {}, pushDisplayed {}, pushClicked {}, \
             emailed {}, emailFailed {}, emailPending {}, unreached {}",
            field("targeted"),
            field("acknowledged"),
            field("liveSeen"),
            field("pushDelivered"),
            field("pushDisplayed"),
            field("pushClicked"),
            field("emailed"),
            field("emailFailed"),
            field("emailPending"),
            field("unreached"),
        );
        let outcomes: Vec<String> = self
            .gateway_mails
            .iter()
            .map(|(outcome, n)| format!("{outcome} {n}"))
            .collect();
        println!("  gateway_mails_total: {}", outcomes.join(", "));
    }
}

/// What [`tally`] needs besides the journal.
pub struct Tally<'a> {
    pub email: Email,
    pub escalate_after: Duration,
    /// The mail promise after the escalation window (60 s).
    pub within: Duration,
    pub prefix: &'a str,
    pub runners: usize,
    /// The alert's notification id.
    pub target: i64,
    /// The cancellation's answer, µs since the epoch.
    pub committed: i64,
    /// When each runner's page acknowledged the alert (µs since the epoch), by index.
    pub acks: &'a HashMap<usize, i64>,
}

/// The runner index of `address` (`<prefix>-<i>@load.test`).
fn runner_of(prefix: &str, address: &str) -> Option<usize> {
    address
        .strip_prefix(prefix)?
        .strip_prefix('-')?
        .strip_suffix("@load.test")?
        .parse()
        .ok()
}

/// The notification of a `Message-ID` the gateway wrote (`<alert-N.runner-M@host>`).
fn notification_of(message_id: &str) -> Option<i64> {
    message_id
        .trim_start_matches('<')
        .strip_prefix("alert-")?
        .split('.')
        .next()?
        .parse()
        .ok()
}

/// Percentile `p` of sorted µs values, in ms.
pub fn percentile_ms(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank] as f64 / 1000.0
}

pub fn tally(t: &Tally<'_>, journal: &[Accepted]) -> MailReport {
    let escalation = match t.email {
        Email::Unreached => t.escalate_after,
        _ => Duration::ZERO,
    };
    let deadline = escalation + t.within;
    let deadline_micros = t.committed + deadline.as_micros() as i64;
    let window_end = t.committed + escalation.as_micros() as i64;

    let mut mailed: HashMap<usize, i64> = HashMap::new();
    let mut ids = HashSet::new();
    let (mut twice, mut twice_message_id, mut other) = (0, 0, 0);
    for accepted in journal {
        let at = accepted
            .at
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as i64)
            .unwrap_or(0);
        let runner = runner_of(t.prefix, &accepted.envelope_to).filter(|&i| i < t.runners);
        let notification = accepted.message_id.as_deref().and_then(notification_of);
        let (Some(runner), Some(notification)) = (runner, notification) else {
            other += 1;
            continue;
        };
        if notification != t.target {
            other += 1;
            continue;
        }
        if let Some(id) = &accepted.message_id
            && !ids.insert(id.clone())
        {
            twice_message_id += 1;
        }
        match mailed.entry(runner) {
            std::collections::hash_map::Entry::Occupied(_) => twice += 1,
            std::collections::hash_map::Entry::Vacant(first) => {
                first.insert(at);
            }
        }
    }
    let mut delays: Vec<i64> = mailed.values().map(|at| at - t.committed).collect();
    delays.sort_unstable();
    let mut ack_delays: Vec<i64> = t.acks.values().map(|at| at - t.committed).collect();
    ack_delays.sort_unstable();
    let acknowledged_in_window = |i: &usize| t.acks.get(i).is_some_and(|at| *at <= window_end);
    let expected = match t.email {
        Email::None => 0,
        Email::All => t.runners,
        Email::Unreached => (0..t.runners)
            .filter(|i| !acknowledged_in_window(i))
            .count(),
    };
    // Under NONE nobody is promised mail: the figure would count who has no page open.
    let neither = (0..t.runners)
        .filter(|_| t.email != Email::None)
        .filter(|i| {
            let acked = t.acks.get(i).is_some_and(|at| *at <= deadline_micros);
            let emailed = mailed.get(i).is_some_and(|at| *at <= deadline_micros);
            !acked && !emailed
        })
        .count();
    let mailed_though_acknowledged = match t.email {
        Email::Unreached => mailed.keys().filter(|i| acknowledged_in_window(i)).count(),
        _ => 0,
    };
    MailReport {
        policy: t.email.policy().into(),
        escalate_after_secs: t.escalate_after.as_secs(),
        deadline_secs: deadline.as_secs(),
        acknowledged: t.acks.len(),
        ack_p50_ms: percentile_ms(&ack_delays, 50.0),
        ack_p99_ms: percentile_ms(&ack_delays, 99.0),
        expected,
        accepted: mailed.len(),
        accepted_by_deadline: mailed.values().filter(|at| **at <= deadline_micros).count(),
        first_ms: percentile_ms(&delays, 0.0),
        p50_ms: percentile_ms(&delays, 50.0),
        p99_ms: percentile_ms(&delays, 99.0),
        last_ms: percentile_ms(&delays, 100.0),
        twice,
        twice_message_id,
        neither,
        mailed_though_acknowledged,
        other,
        reach: Value::Null,
        gateway_mails: BTreeMap::new(),
        pending_at_end: 0,
    }
}

/// `gateway_mails_total` by outcome from a Prometheus text page.
pub fn mails_total(metrics: &str, into: &mut BTreeMap<String, u64>) {
    for line in metrics.lines() {
        let Some(rest) = line.strip_prefix("gateway_mails_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let outcome = labels
            .split(',')
            .find_map(|label| label.trim().strip_prefix("outcome="))
            .map(|o| o.trim_matches('"').to_owned());
        if let (Some(outcome), Ok(value)) = (outcome, value.trim().parse::<f64>()) {
            *into.entry(outcome).or_default() += value as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn line(at_ms: u64, to: &str, id: &str) -> Accepted {
        Accepted {
            at: SystemTime::UNIX_EPOCH + Duration::from_millis(at_ms),
            envelope_to: to.into(),
            message_id: Some(id.into()),
            bytes: 1000,
        }
    }

    #[test]
    fn counts_repeats_latecomers_and_strangers() {
        let acks = HashMap::from([(2, 1_000_000_i64 + 500_000)]);
        let t = Tally {
            email: Email::Unreached,
            escalate_after: Duration::from_secs(20),
            within: Duration::from_secs(60),
            prefix: "p",
            runners: 4,
            target: 7,
            committed: 1_000_000,
            acks: &acks,
        };
        let journal = [
            line(21_000, "p-0@load.test", "<alert-7.runner-10@x>"),
            line(22_000, "p-0@load.test", "<alert-7.runner-10@x>"),
            line(23_000, "p-1@load.test", "<alert-7.runner-11@x>"),
            line(23_000, "p-2@load.test", "<alert-7.runner-12@x>"),
            line(23_000, "p-1@load.test", "<alert-6.runner-11@x>"),
            line(23_000, "q-1@load.test", "<alert-7.runner-11@x>"),
            line(99_000, "p-3@load.test", "<alert-7.runner-13@x>"),
        ];
        let report = tally(&t, &journal);
        assert_eq!(report.expected, 3, "runner 2 acknowledged in the window");
        assert_eq!(report.accepted, 4);
        assert_eq!(report.accepted_by_deadline, 3, "runner 3's came after 81 s");
        assert_eq!(report.twice, 1);
        assert_eq!(report.twice_message_id, 1);
        assert_eq!(report.other, 2);
        assert_eq!(report.neither, 1, "runner 3");
        assert_eq!(report.mailed_though_acknowledged, 1, "runner 2");
        assert_eq!(report.first_ms, 20_000.0);
        assert_eq!(report.last_ms, 98_000.0);
    }

    #[test]
    fn reads_the_mail_counters() {
        let mut into = BTreeMap::new();
        let page = "# TYPE gateway_mails_total counter\ngateway_mails_total{outcome=\"sent\"} 12\n\
                    gateway_mails_total{instance=\"a\",outcome=\"retried\"} 2\nother 1\n";
        mails_total(page, &mut into);
        mails_total(page, &mut into);
        assert_eq!(into["sent"], 24);
        assert_eq!(into["retried"], 4);
    }
}
