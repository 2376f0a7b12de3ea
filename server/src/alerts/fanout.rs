//! Shared execution: subscribers whose operation is the same (the same question, however
//! spelled: [`schema::graphql::sharing`]; cursor aside) and whose answer does not
//! depend on who they are share ONE execution per notice. A group executes the operation once for each notice the hub
//! broadcasts, serializes the payload once, and hands every member the same bytes; each
//! member's frame is those bytes with its own operation id around them. Operations whose
//! answer depends on the viewer (`myNotifications`) are grouped per account instead, and
//! those whose answer is the same for everyone a notice concerns share one execution per
//! notice across their accounts: each account group checks that the notice concerns it
//! (the audience is read once per notice) and takes the answer the first one made.
//!
//! Invariants, kept per member:
//! - "from now" means from the moment the subscribe message arrived: the hub's last id at
//!   that moment is the member's start, and anything after it that the group did not
//!   carry yet is replayed from the log;
//! - a member with `after` replays the log from there up to the hub's last id *after* it
//!   took its receiver, then skips group frames up to that id: no gap, no duplicate;
//! - a member too slow for the group's buffer replays from the log what it missed, and
//!   the group never waits for it;
//! - a group skips no notice: an execution that fails inside (the database away) is
//!   tried again until it answers.
//!
//! - a shared execution is held to its budget (processor time in the gateway, and the
//!   answer's size): one over it ends the group's subscriptions with a coded error, so that
//!   an expensive question costs one execution, not one per alert.
//!
//! Parsed documents are cached by their text, so the subscribe path of an operation seen
//! before parses nothing, validates nothing and reads nothing from the database.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::{Data, Variables};
use async_graphql_value::Value;
use axum::extract::ws::Utf8Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use race_office::Viewer;
use race_office::domain::Notice;
use race_office::services::{notifications, registrations};
use schema::{ApiSchema, NoticeSource, ReplayFrom, ReplayTap};
use sea_orm::DatabaseConnection;
use serde_json::value::RawValue;
use tokio::sync::OnceCell;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use super::hub::Hub;
use super::log_end::LogEnd;
use crate::http::ws::protocol::{Protocol, ServerMessage, failed_before_start};
use schema::graphql::sharing::{Document, Shape, canonical, reshape};

/// Documents kept parsed; beyond this the cache starts over (an attacker sending endless
/// new documents costs each one parse, and no memory that stays).
const MAX_DOCUMENTS: usize = 1024;
/// Frames a group keeps for its slow members.
const GROUP_BUFFER: usize = 64;
/// Notices read from the log per query when a group fell behind the hub.
const CATCH_UP_BATCH: u64 = 500;

/// What one shared execution may cost.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Time spent inside the execution's `poll`, waits for the database aside
    /// (SUBSCRIPTION_EXECUTION_BUDGET_MS).
    pub processor_time: Duration,
    /// The serialized answer's size (RESPONSE_MAX_BYTES).
    pub bytes: usize,
}

/// Why a group ended: a coded error its members receive, after which the subscription is
/// over.
#[derive(Debug, Clone)]
pub struct Ending {
    pub code: &'static str,
    pub message: String,
}

/// One notice's answer, shared by every member of a group.
#[derive(Debug)]
pub struct Frame {
    /// Set on a group's last frame: the members get this error instead of a payload.
    pub ending: Option<Ending>,
    pub notice_id: i64,
    /// When the notice was committed, for the alert-delay metric.
    pub committed_at: DateTime<Utc>,
    /// The `payload` of the `next` message, serialized once for every member.
    pub payload: Box<RawValue>,
    /// Whole messages already built around the payload, by protocol and operation id:
    /// members that chose the same id (most clients say "1") send the same bytes, built
    /// once and shared by reference count.
    messages: Mutex<Vec<(Protocol, Arc<str>, Utf8Bytes)>>,
    /// The frame as each spelling of the question reads it, made once per spelling.
    spellings: Mutex<Vec<(Arc<str>, Arc<Frame>)>>,
}

impl Frame {
    pub fn new(notice_id: i64, committed_at: DateTime<Utc>, payload: Box<RawValue>) -> Self {
        Self {
            ending: None,
            notice_id,
            committed_at,
            payload,
            messages: Mutex::new(Vec::new()),
            spellings: Mutex::new(Vec::new()),
        }
    }

    /// This frame as `spelling` reads it (its aliases and order), made once per spelling
    /// and shared by the members that spell alike.
    pub fn spelled(self: &Arc<Self>, spelling: &Arc<str>, shape: &Shape) -> Arc<Frame> {
        // Beyond this many spellings each member's is made on the spot.
        const KEEP: usize = 64;
        if let Ok(spellings) = self.spellings.lock()
            && let Some((_, frame)) = spellings.iter().find(|(s, _)| s == spelling)
        {
            return frame.clone();
        }
        let payload = reshape(self.payload.get(), shape).unwrap_or_else(|| self.payload.clone());
        let frame = Arc::new(Frame::new(self.notice_id, self.committed_at, payload));
        if let Ok(mut spellings) = self.spellings.lock()
            && spellings.len() < KEEP
        {
            spellings.push((spelling.clone(), frame.clone()));
        }
        frame
    }

    /// The `next` (or legacy `data`) message for operation `id`, in `protocol`.
    pub fn message(
        &self,
        protocol: Protocol,
        id: &Arc<str>,
    ) -> Result<Utf8Bytes, serde_json::Error> {
        // A handful of distinct ids are kept; beyond that each is built on the spot.
        const KEEP: usize = 8;
        if let Ok(messages) = self.messages.lock()
            && let Some((_, _, bytes)) = messages
                .iter()
                .find(|(p, i, _)| *p == protocol && i.as_ref() == id.as_ref())
        {
            return Ok(bytes.clone());
        }
        let message = ServerMessage::Next {
            id,
            payload: &self.payload,
        };
        let bytes = Utf8Bytes::from(message.encode(protocol)?);
        if let Ok(mut messages) = self.messages.lock()
            && messages.len() < KEEP
        {
            messages.push((protocol, id.clone(), bytes.clone()));
        }
        Ok(bytes)
    }
}

/// What a member hands its session.
pub enum Out {
    /// A group's frame (serialized once for all).
    Shared(Arc<Frame>),
    /// This member's own response (a replay from the log), with the notice it answers
    /// (its place in the log: SSE's event id), when known.
    Own(async_graphql::Response, Option<i64>),
    /// The operation failed before it started (bad argument, cursor too old): send an
    /// `error` and end it.
    Failed(async_graphql::Response),
}

/// Who a group's answers are for.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
enum Scope {
    Everyone,
    Anonymous,
    Account(i64),
    PartnerKey(i64),
    /// Whoever a notice concerns: the key of an answer shared across account groups, not
    /// of a group.
    Audience,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct GroupKey {
    text: Arc<str>,
    operation: Option<String>,
    /// The variables, cursor aside, as canonical JSON (keys sorted).
    variables: String,
    scope: Scope,
}

struct Group {
    sender: broadcast::Sender<Arc<Frame>>,
    members: AtomicUsize,
    task: tokio::task::AbortHandle,
}

/// A member's place in a group; dropping it leaves, and the last member out ends the
/// group.
pub struct Membership {
    fanout: Arc<Fanout>,
    key: GroupKey,
    group: Arc<Group>,
}

impl Drop for Membership {
    fn drop(&mut self) {
        if self.group.members.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.fanout.remove_if_empty(&self.key);
        }
    }
}

pub struct Fanout {
    schema: ApiSchema,
    /// The requests' pool: reads made for one member or one group (the log's end, a
    /// group's catch-up) queue here, not on the hub's pool that the next alert needs.
    db: DatabaseConnection,
    hub: Arc<Hub>,
    /// The log's end, read once for the members resuming at the same moment.
    log_end: LogEnd,
    groups: Mutex<HashMap<GroupKey, Arc<Group>>>,
    documents: Mutex<HashMap<Arc<str>, Arc<Document>>>,
    /// Frames a group keeps for slow members (a tokio broadcast channel allocates all its
    /// slots up front, so this stays small: a member further behind replays from the log).
    buffer: usize,
    /// A client cursor further behind than this many notifications is refused.
    max_behind: u64,
    /// What each shared execution may cost.
    budget: Budget,
    /// The newest notice's answers to questions shared by their audience.
    audience: Mutex<AudienceAnswers>,
    /// Executions of a group's operation for a notice (retries aside).
    executions: AtomicU64,
}

/// Answers to one notice, by question, for the account groups it concerns: the first
/// group to need one executes it, the others wait for it and take the same frame.
#[derive(Default)]
struct AudienceAnswers {
    notice: i64,
    answers: HashMap<GroupKey, Arc<OnceCell<Outcome>>>,
}

/// What a group's execution for one notice came to.
#[derive(Clone)]
enum Outcome {
    /// The answer, serialized once.
    Frame(Arc<Frame>),
    /// Nothing to send (the notice is not for these viewers).
    Nothing,
    /// The group ends with this error.
    Ending(Ending),
}

/// A subscription, ready to join.
pub struct Subscribe {
    pub text: Arc<str>,
    pub document: Arc<Document>,
    pub operation_name: Option<String>,
    pub variables: Variables,
    /// The hub's last id when the subscribe message arrived: "from now" starts here.
    pub baseline: i64,
    /// A transport's own cursor (SSE's `Last-Event-ID`, a notice id): the member resumes
    /// after that notice, whatever the operation's `after` says (the client's `after` is
    /// where it began, this is how far it got).
    pub resume: Option<i64>,
}

/// An operation to execute again and again: each execution gets a fresh request built
/// from it (async-graphql's requests are consumed), reusing the parsed document.
#[derive(Clone)]
struct Template {
    text: Arc<str>,
    document: Arc<Document>,
    operation_name: Option<String>,
    variables: Variables,
}

impl Template {
    fn request(&self, source: NoticeSource) -> async_graphql::Request {
        let mut request = async_graphql::Request::new(self.text.as_ref())
            .variables(self.variables.clone())
            .data(source);
        if let Some(name) = &self.operation_name {
            request = request.operation_name(name.as_str());
        }
        request.set_parsed_query(self.document.parsed.clone());
        request
    }
}

impl Fanout {
    pub fn new(
        schema: ApiSchema,
        db: DatabaseConnection,
        hub: Arc<Hub>,
        max_behind: u64,
        budget: Budget,
    ) -> Arc<Self> {
        Arc::new(Self {
            schema,
            log_end: LogEnd::new(db.clone()),
            db,
            hub,
            groups: Mutex::new(HashMap::new()),
            documents: Mutex::new(HashMap::new()),
            buffer: GROUP_BUFFER,
            max_behind,
            budget,
            audience: Mutex::new(AudienceAnswers::default()),
            executions: AtomicU64::new(0),
        })
    }

    /// Executions of groups' operations so far (for tests and metrics).
    pub fn executions(&self) -> u64 {
        self.executions.load(Ordering::Relaxed)
    }

    /// Where the answer to `key`'s question for `notice` is (or will be) kept for every
    /// account group it concerns. A notice older than the newest one gets a cell of its
    /// own (a group catching up executes it alone).
    fn audience_answer(&self, key: &GroupKey, notice: i64) -> Arc<OnceCell<Outcome>> {
        let mut memo = match self.audience.lock() {
            Ok(memo) => memo,
            Err(poisoned) => poisoned.into_inner(),
        };
        if notice > memo.notice {
            memo.notice = notice;
            memo.answers.clear();
        }
        if notice < memo.notice {
            return Arc::new(OnceCell::new());
        }
        let question = GroupKey {
            scope: Scope::Audience,
            ..key.clone()
        };
        memo.answers.entry(question).or_default().clone()
    }

    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The parsed document for `text` (parsed now if it is new); `None` if it does not
    /// parse (the caller lets execution report why).
    pub fn document(&self, text: &str) -> Option<(Arc<str>, Arc<Document>)> {
        if let Ok(documents) = self.documents.lock()
            && let Some((text, document)) = documents.get_key_value(text)
        {
            return Some((text.clone(), document.clone()));
        }
        let parsed = async_graphql::parser::parse_query(text).ok()?;
        let text: Arc<str> = Arc::from(text);
        let document = Arc::new(Document { parsed });
        if let Ok(mut documents) = self.documents.lock() {
            if documents.len() >= MAX_DOCUMENTS {
                documents.clear();
            }
            documents.insert(text.clone(), document.clone());
        }
        Some((text, document))
    }

    /// Joins (or starts) the member's group and returns its stream of answers: first what
    /// it must catch up on, then the group's frames.
    pub async fn subscribe(
        self: &Arc<Self>,
        subscribe: Subscribe,
        session: Arc<Data>,
        viewer: &Viewer,
    ) -> BoxStream<'static, Out> {
        let Subscribe {
            text,
            document,
            operation_name: name,
            variables,
            baseline,
            resume,
        } = subscribe;
        let template = Template {
            text: text.clone(),
            document: document.clone(),
            operation_name: name.clone(),
            variables,
        };
        // The question in its canonical words, when it can be put so: the group executes
        // that, and this member reads each frame in its own words.
        let canonical = canonical(&document.parsed, name.as_deref(), &template.variables);
        // Parsed once and cached like any document: a storm of subscribers asking the same
        // question parses its canonical text once.
        let (group_template, spelled) =
            match canonical.and_then(|c| Some((self.document(&c.text)?, c.spelling, c.shape))) {
                Some(((text, document), spelling, shape)) => (
                    Template {
                        text,
                        document,
                        operation_name: None,
                        variables: Variables::default(),
                    },
                    Some((spelling, shape)),
                ),
                None => (template.clone(), None),
            };
        let scope = if document.shared_by_everyone(name.as_deref()) {
            Scope::Everyone
        } else {
            match viewer {
                Viewer::Anonymous => Scope::Anonymous,
                Viewer::Account { account, .. } => Scope::Account(account.id),
                Viewer::PartnerKey(grant) => Scope::PartnerKey(grant.key_id),
            }
        };
        if let Some(resume) = resume {
            let behind = self.hub.last_seen().saturating_sub(resume);
            if u64::try_from(behind).unwrap_or(0) > self.max_behind {
                let refused = schema::error::coded_response(
                    "CURSOR_TOO_OLD",
                    format!(
                        "Last-Event-ID is more than {} notifications old: read the current \
                         state, then subscribe without it",
                        self.max_behind
                    ),
                );
                return futures_util::stream::once(async move { Out::Failed(refused) }).boxed();
            }
        }
        let client_cursor = resume.is_some() || cursor_given(&template);
        let key = GroupKey {
            text: group_template.text.clone(),
            operation: group_template.operation_name.clone(),
            variables: variables_key(
                &group_template.variables,
                &document.cursor_variables(name.as_deref()),
            ),
            scope,
        };
        let (membership, mut receiver) = match self.join(&key).await {
            Some(joined) => joined,
            None => {
                // A new group: check the operation first (as this member), once.
                if let Some(failed) = self.probe(&template, &session).await {
                    return futures_util::stream::once(async move { Out::Failed(failed) }).boxed();
                }
                self.start(&key, &group_template, &session)
            }
        };
        // Where the member joins the live feed. With a client cursor, the log's own end: a
        // notice committed but not yet broadcast here may lie within what the client has
        // already seen (on another instance), and must not come again as a live frame.
        let mut up_to = self.hub.last_seen();
        if client_cursor {
            match self.log_end.read().await {
                Ok(last) => up_to = up_to.max(last),
                Err(error) => tracing::warn!(%error, "could not read the log's end"),
            }
        }
        let catch_up = if let Some(resume) = resume {
            Some(ReplayFrom::Notice(resume))
        } else if client_cursor {
            Some(ReplayFrom::Client)
        } else if baseline < up_to {
            Some(ReplayFrom::Notice(baseline))
        } else {
            None
        };
        let fanout = self.clone();
        async_stream::stream! {
            // Held for as long as the stream lives: dropping the stream leaves the group.
            let _membership = membership;
            let mut cursor = up_to;
            if let Some(from) = catch_up {
                let mut replay = fanout.replay(&template, &session, from, up_to);
                while let Some(out) = replay.next().await {
                    let failed = matches!(out, Out::Failed(_));
                    yield out;
                    if failed { return; }
                }
            }
            loop {
                match receiver.recv().await {
                    Ok(frame) => {
                        if let Some(ending) = &frame.ending {
                            yield Out::Failed(schema::error::coded_response(
                                ending.code,
                                ending.message.clone(),
                            ));
                            return;
                        }
                        if frame.notice_id > cursor {
                            cursor = frame.notice_id;
                            yield Out::Shared(match &spelled {
                                Some((spelling, shape)) => frame.spelled(spelling, shape),
                                None => frame,
                            });
                        }
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "slow subscriber: replaying from the log");
                        let up_to = fanout.hub.last_seen();
                        let mut replay = fanout.replay(&template, &session, ReplayFrom::Notice(cursor), up_to);
                        while let Some(out) = replay.next().await {
                            let failed = matches!(out, Out::Failed(_));
                            yield out;
                            if failed { return; }
                        }
                        cursor = up_to;
                    }
                    Err(RecvError::Closed) => return,
                }
            }
        }
        .boxed()
    }

    /// Joins an existing group.
    async fn join(
        self: &Arc<Self>,
        key: &GroupKey,
    ) -> Option<(Membership, broadcast::Receiver<Arc<Frame>>)> {
        let groups = self.groups.lock().ok()?;
        let group = groups.get(key)?.clone();
        group.members.fetch_add(1, Ordering::AcqRel);
        let receiver = group.sender.subscribe();
        Some((
            Membership {
                fanout: self.clone(),
                key: key.clone(),
                group,
            },
            receiver,
        ))
    }

    /// Starts a group for `key` (or joins one started meanwhile by another member).
    fn start(
        self: &Arc<Self>,
        key: &GroupKey,
        template: &Template,
        session: &Arc<Data>,
    ) -> (Membership, broadcast::Receiver<Arc<Frame>>) {
        let mut groups = match self.groups.lock() {
            Ok(groups) => groups,
            Err(poisoned) => poisoned.into_inner(),
        };
        let group = groups
            .entry(key.clone())
            .or_insert_with(|| {
                let (sender, _) = broadcast::channel(self.buffer);
                // The hub's receiver first, then its position: every notice after that
                // position arrives on the receiver.
                let notices = self.hub.subscribe();
                let start = self.hub.last_seen();
                let data = match key.scope {
                    // Nobody's identity goes into an answer shared by everyone.
                    Scope::Everyone => Arc::new(anonymous()),
                    _ => session.clone(),
                };
                let task = tokio::spawn(run_group(
                    self.clone(),
                    key.clone(),
                    template.clone(),
                    data,
                    sender.clone(),
                    notices,
                    start,
                ));
                Arc::new(Group {
                    sender,
                    members: AtomicUsize::new(0),
                    task: task.abort_handle(),
                })
            })
            .clone();
        group.members.fetch_add(1, Ordering::AcqRel);
        let receiver = group.sender.subscribe();
        (
            Membership {
                fanout: self.clone(),
                key: key.clone(),
                group,
            },
            receiver,
        )
    }

    /// Ends a group: its members get `ending` and leave; a member who asks again starts a
    /// new group (and meets the same budget on its first alert).
    fn end_group(
        &self,
        key: &GroupKey,
        sender: &broadcast::Sender<Arc<Frame>>,
        notice_id: i64,
        committed_at: DateTime<Utc>,
        ending: Ending,
    ) {
        if let Ok(mut groups) = self.groups.lock()
            && groups
                .get(key)
                .is_some_and(|group| group.sender.same_channel(sender))
        {
            groups.remove(key);
        }
        let mut frame = Frame::new(notice_id, committed_at, RawValue::NULL.to_owned());
        frame.ending = Some(ending);
        let _ = sender.send(Arc::new(frame));
    }

    fn remove_if_empty(&self, key: &GroupKey) {
        let Ok(mut groups) = self.groups.lock() else {
            return;
        };
        // Checked again under the lock: a member may have joined since.
        if let Some(group) = groups.get(key)
            && group.members.load(Ordering::Acquire) == 0
        {
            group.task.abort();
            groups.remove(key);
        }
    }

    /// Groups running now (for tests and metrics).
    pub fn groups(&self) -> usize {
        self.groups.lock().map(|g| g.len()).unwrap_or(0)
    }

    /// Runs the operation with nothing to read: `None` if it would start, else its errors.
    async fn probe(
        &self,
        template: &Template,
        session: &Arc<Data>,
    ) -> Option<async_graphql::Response> {
        let request = template.request(NoticeSource::Probe);
        let mut stream = self
            .schema
            .execute_stream_with_session_data(request, session.clone());
        stream.next().await.filter(failed_before_start)
    }

    /// This member's own execution over the log, from `from` up to notice `up_to`.
    fn replay(
        &self,
        template: &Template,
        session: &Arc<Data>,
        from: ReplayFrom,
        up_to: i64,
    ) -> BoxStream<'static, Out> {
        let tap = ReplayTap::default();
        let request = template.request(NoticeSource::Replay {
            from,
            up_to,
            max_behind: self.max_behind,
            held: self.hub.held(up_to),
            tap: tap.clone(),
        });
        let template = template.clone();
        self.schema
            .execute_stream_with_session_data(request, session.clone())
            .map(move |mut response| {
                template.document.order(
                    &mut response,
                    template.operation_name.as_deref(),
                    &template.variables,
                );
                if failed_before_start(&response) {
                    Out::Failed(response)
                } else {
                    Out::Own(response, tap.latest())
                }
            })
            .boxed()
    }
}

/// Executes the group's operation for each notice the hub broadcasts, once, and hands the
/// answer to every member. A notice is never skipped: a read of the log that fails, or an
/// execution that fails inside (the database away), is tried again until it works, since
/// the members would otherwise never hear of that notice.
async fn run_group(
    fanout: Arc<Fanout>,
    key: GroupKey,
    template: Template,
    data: Arc<Data>,
    sender: broadcast::Sender<Arc<Frame>>,
    mut notices: broadcast::Receiver<Arc<Notice>>,
    mut last: i64,
) {
    // Answered alike for every account a notice concerns: one execution across the
    // account groups that ask it.
    let by_audience = template
        .document
        .shared_by_audience(template.operation_name.as_deref());
    loop {
        let batch: Vec<Arc<Notice>> = match notices.recv().await {
            Ok(notice) => vec![notice],
            Err(RecvError::Lagged(missed)) => {
                // The group fell behind the hub: what it missed is in the log.
                tracing::warn!(missed, "subscription group behind the hub: reading the log");
                let mut retry = Backoff::default();
                loop {
                    match notifications::notices_after(
                        &fanout.db,
                        last,
                        fanout.hub.last_seen(),
                        CATCH_UP_BATCH,
                    )
                    .await
                    {
                        Ok(missed) => break missed.into_iter().map(Arc::new).collect(),
                        Err(error) => {
                            tracing::debug!(%error, "subscription group could not read the log: retrying");
                            retry.wait().await;
                        }
                    }
                }
            }
            Err(RecvError::Closed) => return,
        };
        for notice in batch {
            // However this notice ends here (sent, nothing to send, the group over), the
            // deliveries waiting for the live channel hear of it.
            let _executed = Executed(fanout.hub.live(), notice.id);
            if notice.id <= last {
                continue;
            }
            last = notice.id;
            let outcome = match key.scope {
                Scope::Account(account) if by_audience => {
                    if concerns(&fanout, account, &notice).await {
                        fanout
                            .audience_answer(&key, notice.id)
                            .get_or_init(|| answer(&fanout, &template, &data, &notice))
                            .await
                            .clone()
                    } else {
                        Outcome::Nothing
                    }
                }
                _ => answer(&fanout, &template, &data, &notice).await,
            };
            match outcome {
                Outcome::Frame(frame) => {
                    let _ = sender.send(frame);
                }
                Outcome::Nothing => {}
                Outcome::Ending(ending) => {
                    fanout.end_group(&key, &sender, notice.id, notice.created_at, ending);
                    return;
                }
            }
        }
    }
}

/// Whether `notice` concerns `account`, asked until the database answers (the audience
/// is read once per notice, usually by the hub before it broadcast).
async fn concerns(fanout: &Fanout, account: i64, notice: &Notice) -> bool {
    let mut retry = Backoff::default();
    loop {
        match registrations::concerns(&fanout.db, account, notice).await {
            Ok(concerns) => return concerns,
            Err(error) => {
                tracing::debug!(%error, "could not read whom a notice concerns: retrying");
                retry.wait().await;
            }
        }
    }
}

/// Executes the group's operation for `notice` once (again after a failure inside, until
/// it answers), in its order, serialized once and held to the budget.
async fn answer(
    fanout: &Fanout,
    template: &Template,
    data: &Arc<Data>,
    notice: &Arc<Notice>,
) -> Outcome {
    fanout.executions.fetch_add(1, Ordering::Relaxed);
    crate::metrics::subscription_executed();
    let mut retry = Backoff::default();
    let answer = loop {
        let request = template.request(NoticeSource::One(notice.clone()));
        let mut execution = fanout
            .schema
            .execute_stream_with_session_data(request, data.clone());
        let metered = Metered::new(execution.next(), fanout.budget.processor_time);
        let answer = match metered.await {
            Ok(answer) => answer,
            Err(spent) => {
                let limit = fanout.budget.processor_time.as_millis();
                tracing::warn!(
                    notice = notice.id,
                    spent_ms = spent.as_millis(),
                    limit_ms = limit,
                    "a shared subscription execution went over its budget: ending it"
                );
                return Outcome::Ending(Ending {
                    code: "EXECUTION_TOO_EXPENSIVE",
                    message: format!(
                        "answering this subscription once took more than {limit} ms of \
                         the gateway's time (SUBSCRIPTION_EXECUTION_BUDGET_MS): ask for less"
                    ),
                });
            }
        };
        match answer {
            Some(answer) if failed_inside(&answer) => {
                // Thousands of groups may meet the same outage: one line per notice.
                if RETRY_LOGGED.swap(notice.id, Ordering::Relaxed) != notice.id {
                    tracing::warn!(
                        notice = notice.id,
                        "shared executions failed inside: retrying until they answer"
                    );
                }
                retry.wait().await;
            }
            other => break other,
        }
    };
    let Some(mut answer) = answer else {
        return Outcome::Nothing;
    };
    template.document.order(
        &mut answer,
        template.operation_name.as_deref(),
        &template.variables,
    );
    match serde_json::value::to_raw_value(&answer) {
        Ok(payload) if payload.get().len() > fanout.budget.bytes => {
            let message = schema::error::response_too_large(fanout.budget.bytes).errors[0]
                .message
                .clone();
            Outcome::Ending(Ending {
                code: "RESPONSE_TOO_LARGE",
                message,
            })
        }
        Ok(payload) => Outcome::Frame(Arc::new(Frame::new(notice.id, notice.created_at, payload))),
        Err(error) => {
            tracing::error!(%error, "could not serialize a subscription answer");
            Outcome::Nothing
        }
    }
}

/// Tells [`LiveFirst`] that a group has executed a notice, when dropped.
struct Executed<'a>(&'a super::live_first::LiveFirst, i64);

impl Drop for Executed<'_> {
    fn drop(&mut self) {
        self.0.executed(self.1);
    }
}

/// The last notice whose failed executions were logged.
static RETRY_LOGGED: AtomicI64 = AtomicI64::new(0);

/// An answer that failed for a reason of ours (`INTERNAL`: the database away, say), which
/// the same execution may not meet again; any other error is the answer itself.
fn failed_inside(response: &async_graphql::Response) -> bool {
    response.errors.iter().any(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|extensions| extensions.get("code"))
            .is_some_and(|code| *code == async_graphql::Value::from("INTERNAL"))
    })
}

/// A future whose time inside `poll` is counted against a budget: the processor time it
/// costs, waits (for the database, for a permit) aside. Over the budget it answers `Err`
/// with the time spent, whether or not it finished.
struct Metered<F> {
    inner: F,
    spent: Duration,
    budget: Duration,
}

impl<F> Metered<F> {
    fn new(inner: F, budget: Duration) -> Self {
        Self {
            inner,
            spent: Duration::ZERO,
            budget,
        }
    }
}

impl<F: std::future::Future + Unpin> std::future::Future for Metered<F> {
    type Output = Result<F::Output, Duration>;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let started = std::time::Instant::now();
        let poll = std::pin::Pin::new(&mut self.inner).poll(cx);
        let spent = self.spent + started.elapsed();
        self.spent = spent;
        match poll {
            _ if spent > self.budget => std::task::Poll::Ready(Err(spent)),
            std::task::Poll::Ready(output) => std::task::Poll::Ready(Ok(output)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    }
}

/// Waits between retries: 50 ms, doubling to 2 s.
#[derive(Default)]
struct Backoff(u32);

impl Backoff {
    async fn wait(&mut self) {
        let delay = Duration::from_millis(50 << self.0.min(5)).min(Duration::from_secs(2));
        self.0 += 1;
        tokio::time::sleep(delay).await;
    }
}

fn anonymous() -> Data {
    let mut data = Data::default();
    data.insert(Viewer::Anonymous);
    data
}

/// Whether the client gave an `after` cursor (inline or through a variable that is set).
fn cursor_given(template: &Template) -> bool {
    let name = template.operation_name.as_deref();
    template.document.root_fields(name).iter().any(|field| {
        field.arguments.iter().any(|(argument, value)| {
            argument.node.as_str() == "after"
                && match &value.node {
                    Value::Variable(variable) => !matches!(
                        template.variables.get(variable),
                        None | Some(async_graphql::Value::Null)
                    ),
                    Value::Null => false,
                    _ => true,
                }
        })
    })
}

/// The variables without the cursor ones, as canonical JSON.
fn variables_key(variables: &Variables, cursors: &[String]) -> String {
    let mut variables = variables.clone();
    for cursor in cursors {
        variables.remove(&async_graphql::Name::new(cursor));
    }
    match variables.into_value().into_json() {
        Ok(json) => json.to_string(),
        Err(_) => String::new(),
    }
}
