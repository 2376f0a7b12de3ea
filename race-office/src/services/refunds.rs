//! Refund policy and requests for a cancelled event: one request per registration, until
//! the deadline judged in the event's own zone, split exactly (see `domain::refund`),
//! decided by an organizer, then paid. A runner who files nothing gets the policy's
//! default outcome, kit plus donation, applied by an idempotent organizer operation.

use chrono::{DateTime, NaiveDate, Utc};
use entities::donation::DonationSource;
use entities::event::EventStatus;
use entities::refund_request::{RefundOption, RefundStatus};
use entities::registration::RegistrationStatus;
use entities::{account, event, refund_request, registration};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::charity::{Allocator, NewDonation, insert_donations};
use super::notifications::{self, Outgoing};
use super::organizations::find_organized;
use super::registrations::find_visible;
use super::stats::counters;
use crate::context::OutboxBell;
use crate::domain::{
    BasisPoints, check_deadline_after_cancellation, event_zone, is_after_local_date,
    is_on_or_before_local_date, split_fee,
};
use crate::domain::{NotificationKind, RefundDecisionMessage};
use crate::error::{ApiError, ApiResult, on_unique_violation};

/// An event's refund policy, validated at the edge.
pub struct RefundPolicy {
    pub deadline: Option<NaiveDate>,
    pub kit_share: BasisPoints,
    pub kit_issue_from: Option<NaiveDate>,
}

pub async fn set_policy(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    actor: &account::Model,
    event_id: i64,
    policy: RefundPolicy,
) -> ApiResult<event::Model> {
    let txn = super::begin_write(db).await?;
    let found = find_organized(&txn, actor, event_id).await?;
    if found.status == EventStatus::Cancelled {
        let zone = event_zone(&found)?.tz();
        check_deadline_after_cancellation(found.refund_deadline, policy.deadline, now, zone)?;
    }
    let mut active: event::ActiveModel = found.into();
    active.refund_deadline = Set(policy.deadline);
    active.kit_share_bp = Set(policy.kit_share.get());
    active.kit_issue_from = Set(policy.kit_issue_from);
    active.updated_at = Set(now);
    let updated = active.update(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// A runner's choice for one registration.
pub struct RefundChoice {
    pub registration_id: i64,
    pub option: RefundOption,
    pub donation_consent: bool,
}

/// Files a runner's refund request for their own registration of a cancelled event.
#[tracing::instrument(skip(db, runner, choice), fields(account_id = runner.id, registration_id = choice.registration_id))]
pub async fn request_refund(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    runner: &account::Model,
    choice: RefundChoice,
) -> ApiResult<refund_request::Model> {
    let owned = find_visible(db, runner, choice.registration_id).await?;
    if owned.account_id != runner.id {
        return Err(ApiError::NotFound("registration"));
    }
    let event = event::Entity::find_by_id(owned.event_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    if event.status != EventStatus::Cancelled {
        return Err(ApiError::RefundNotAvailable(
            "refunds are offered only for a cancelled event".into(),
        ));
    }
    let Some(deadline) = event.refund_deadline else {
        return Err(ApiError::RefundNotAvailable(
            "this event has no refund policy".into(),
        ));
    };
    let zone = event_zone(&event)?;
    if !is_on_or_before_local_date(now, zone.tz(), deadline) {
        return Err(ApiError::DeadlinePassed);
    }
    if choice.option == RefundOption::KitAndDonate && !choice.donation_consent {
        return Err(ApiError::bad_input(
            "KIT_AND_DONATE needs donationConsent: true",
        ));
    }
    let split = split_fee(
        owned.fee_minor,
        choice.option == RefundOption::FullRefund,
        BasisPoints::parse(event.kit_share_bp)?,
    );
    // The request and its count in one transaction, under the event lock, counting the
    // registration as it is stored now (see `stats::counters`).
    let txn = super::begin_write(db).await?;
    counters::lock_event(&txn, event.id).await?;
    let owned = registration::Entity::find_by_id(owned.id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("registration"))?;
    let filed = refund_request::ActiveModel {
        registration_id: Set(owned.id),
        event_id: Set(owned.event_id),
        account_id: Set(runner.id),
        option: Set(choice.option),
        donation_consent: Set(
            choice.option == RefundOption::KitAndDonate && choice.donation_consent
        ),
        status: Set(RefundStatus::Submitted),
        refund_minor: Set(split.refund),
        kit_share_minor: Set(split.kit_share),
        donation_minor: Set(split.donation),
        currency: Set(owned.currency.clone()),
        is_default: Set(false),
        submitted_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(|e| {
        on_unique_violation(
            e,
            &[(
                "refund_request_registration_id_key",
                "refund_request.registration_id",
            )],
            |_| ApiError::AlreadyRequested,
        )
    })?;
    counters::count_refund_requests(&txn, &event, &[owned], filed.option).await?;
    txn.commit().await?;
    Ok(filed)
}

/// The fee-share donation a kit-and-donate outcome makes, allocated by the charity rule.
fn donation_for(request: &refund_request::Model, allocator: &mut Allocator) -> Option<NewDonation> {
    (request.option == RefundOption::KitAndDonate && request.donation_minor > 0).then(|| {
        NewDonation {
            source: DonationSource::FeeShare,
            event_id: Some(request.event_id),
            project_id: allocator.allocate(request.donation_minor, &request.currency),
            refund_request_id: Some(request.id),
            account_id: Some(request.account_id),
            donor_name: None,
            amount_minor: request.donation_minor,
            currency: request.currency.clone(),
        }
    })
}

async fn find_for_organizer(
    db: &impl ConnectionTrait,
    actor: &account::Model,
    request_id: i64,
) -> ApiResult<(refund_request::Model, event::Model)> {
    let found = refund_request::Entity::find_by_id(request_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("refund request"))?;
    let event = find_organized(db, actor, found.event_id).await?;
    Ok((found, event))
}

/// Tells the runner what became of their request (a personal notification).
async fn notify_runner(
    db: &impl ConnectionTrait,
    request: &refund_request::Model,
    event: &event::Model,
    now: DateTime<Utc>,
) -> ApiResult<()> {
    let message = RefundDecisionMessage {
        refund_request_id: request.id,
        registration_id: request.registration_id,
        event_id: event.id,
        event_name: event.name.clone(),
        option: request.option,
        status: request.status,
        note: request.decision_note.clone(),
        decided_at: now,
    };
    notifications::append(
        db,
        Outgoing {
            kind: NotificationKind::RefundDecided,
            event_id: Some(event.id),
            status_change_id: None,
            account_id: Some(request.account_id),
            payload: notifications::encode(&message)?,
            created_at: now,
            // A decision is mailed if the page has not shown it within the window.
            email_policy: crate::domain::EmailPolicy::Unreached,
            announced_at: None,
        },
    )
    .await?;
    Ok(())
}

/// Moves a request from `from` to `to`, guarded so two organizers cannot both decide it.
async fn move_request(
    db: &impl ConnectionTrait,
    request: &refund_request::Model,
    from: RefundStatus,
    to: RefundStatus,
    extra: impl FnOnce(
        sea_orm::UpdateMany<refund_request::Entity>,
    ) -> sea_orm::UpdateMany<refund_request::Entity>,
) -> ApiResult<refund_request::Model> {
    let update = refund_request::Entity::update_many()
        .col_expr(refund_request::Column::Status, Expr::value(to))
        .filter(refund_request::Column::Id.eq(request.id))
        .filter(refund_request::Column::Status.eq(from));
    let moved = extra(update).exec(db).await?;
    if moved.rows_affected != 1 {
        return Err(ApiError::Conflict(format!(
            "the request is {:?}, not {from:?}",
            request.status
        )));
    }
    refund_request::Entity::find_by_id(request.id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("refund request"))
}

/// An organizer approves or rejects a submitted request. Approving kit-and-donate
/// records the donation in the same transaction.
#[tracing::instrument(skip(db, bell, actor, note))]
pub async fn decide(
    db: &DatabaseConnection,
    bell: &OutboxBell,
    now: DateTime<Utc>,
    actor: &account::Model,
    request_id: i64,
    decision: RefundStatus,
    note: Option<String>,
) -> ApiResult<refund_request::Model> {
    if !matches!(decision, RefundStatus::Approved | RefundStatus::Rejected) {
        return Err(ApiError::bad_input("a decision is APPROVED or REJECTED"));
    }
    if note.as_ref().is_some_and(|n| n.chars().count() > 2000) {
        return Err(ApiError::bad_input("note must be at most 2000 characters"));
    }
    let txn = super::begin_write(db).await?;
    let (found, event) = find_for_organizer(&txn, actor, request_id).await?;
    let decided = move_request(&txn, &found, RefundStatus::Submitted, decision, |update| {
        update
            .col_expr(refund_request::Column::DecidedAt, Expr::value(now))
            .col_expr(refund_request::Column::DecidedBy, Expr::value(actor.id))
            .col_expr(refund_request::Column::DecisionNote, Expr::value(note))
    })
    .await?;
    if decided.status == RefundStatus::Approved {
        let mut allocator = Allocator::for_event(&txn, decided.event_id).await?;
        if let Some(donation) = donation_for(&decided, &mut allocator) {
            insert_donations(&txn, now, vec![donation]).await?;
        }
    }
    notify_runner(&txn, &decided, &event, now).await?;
    super::notifications::commit_announced(txn, bell).await?;
    Ok(decided)
}

/// Marks an approved full refund as paid back; the registration is then REFUNDED.
pub async fn mark_paid(
    db: &DatabaseConnection,
    bell: &OutboxBell,
    now: DateTime<Utc>,
    actor: &account::Model,
    request_id: i64,
) -> ApiResult<refund_request::Model> {
    let txn = super::begin_write(db).await?;
    let (found, event) = find_for_organizer(&txn, actor, request_id).await?;
    if found.option != RefundOption::FullRefund {
        return Err(ApiError::Conflict("only a full refund is paid back".into()));
    }
    let paid = move_request(
        &txn,
        &found,
        RefundStatus::Approved,
        RefundStatus::Paid,
        |update| update.col_expr(refund_request::Column::PaidAt, Expr::value(now)),
    )
    .await?;
    registration::Entity::update_many()
        .col_expr(
            registration::Column::State,
            Expr::value(RegistrationStatus::Refunded),
        )
        .filter(registration::Column::Id.eq(found.registration_id))
        .exec(&txn)
        .await?;
    notify_runner(&txn, &paid, &event, now).await?;
    super::notifications::commit_announced(txn, bell).await?;
    Ok(paid)
}

/// After the deadline, gives every registration of a cancelled event that has no request
/// the policy's default outcome: kit plus donation, approved. Idempotent: a second run
/// finds nothing left to do and returns 0.
#[tracing::instrument(skip(db, actor))]
pub async fn apply_default_outcome(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    actor: &account::Model,
    event_id: i64,
) -> ApiResult<u64> {
    let txn = super::begin_write(db).await?;
    let event = find_organized(&txn, actor, event_id).await?;
    if event.status != EventStatus::Cancelled {
        return Err(ApiError::RefundNotAvailable(
            "the event is not cancelled".into(),
        ));
    }
    let Some(deadline) = event.refund_deadline else {
        return Err(ApiError::RefundNotAvailable(
            "this event has no refund policy".into(),
        ));
    };
    let zone = event_zone(&event)?;
    if !is_after_local_date(now, zone.tz(), deadline) {
        return Err(ApiError::Conflict(
            "the refund deadline has not passed yet".into(),
        ));
    }
    let kit_share = BasisPoints::parse(event.kit_share_bp)?;
    counters::lock_event(&txn, event.id).await?;
    let mut allocator = Allocator::for_event(&txn, event.id).await?;
    let mut applied = 0_u64;
    let mut after_id = 0_i64;
    loop {
        let without_request = registration::Entity::find()
            .filter(
                Condition::all()
                    .add(registration::Column::EventId.eq(event.id))
                    .add(registration::Column::Id.gt(after_id))
                    .add(
                        registration::Column::Id.not_in_subquery(
                            Query::select()
                                .column(refund_request::Column::RegistrationId)
                                .from(refund_request::Entity)
                                .and_where(refund_request::Column::EventId.eq(event.id))
                                .to_owned(),
                        ),
                    ),
            )
            .order_by_asc(registration::Column::Id)
            .limit(1000)
            .all(&txn)
            .await?;
        let Some(last) = without_request.last() else {
            break;
        };
        after_id = last.id;
        let rows = without_request.iter().map(|r| {
            let split = split_fee(r.fee_minor, false, kit_share);
            refund_request::ActiveModel {
                registration_id: Set(r.id),
                event_id: Set(r.event_id),
                account_id: Set(r.account_id),
                option: Set(RefundOption::KitAndDonate),
                donation_consent: Set(false),
                status: Set(RefundStatus::Approved),
                refund_minor: Set(0),
                kit_share_minor: Set(split.kit_share),
                donation_minor: Set(split.donation),
                currency: Set(r.currency.clone()),
                is_default: Set(true),
                submitted_at: Set(now),
                decided_at: Set(Some(now)),
                decided_by: Set(Some(actor.id)),
                decision_note: Set(Some(
                    "default outcome: no application by the deadline".into(),
                )),
                ..Default::default()
            }
        });
        let ids = refund_request::Entity::insert_many(rows)
            .exec_with_returning_keys(&txn)
            .await?;
        applied += ids.len() as u64;
        let created = refund_request::Entity::find()
            .filter(refund_request::Column::Id.is_in(ids))
            .order_by_asc(refund_request::Column::Id)
            .all(&txn)
            .await?;
        let donations = created
            .iter()
            .filter_map(|r| donation_for(r, &mut allocator))
            .collect();
        insert_donations(&txn, now, donations).await?;
        counters::count_refund_requests(&txn, &event, &without_request, RefundOption::KitAndDonate)
            .await?;
    }
    txn.commit().await?;
    Ok(applied)
}

/// Which refund requests of an event an organizer lists.
pub async fn list_for_event(
    db: &impl ConnectionTrait,
    event_id: i64,
    status: Option<RefundStatus>,
    option: Option<RefundOption>,
    after_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<refund_request::Model>> {
    let mut condition = Condition::all().add(refund_request::Column::EventId.eq(event_id));
    if let Some(status) = status {
        condition = condition.add(refund_request::Column::Status.eq(status));
    }
    if let Some(option) = option {
        condition = condition.add(refund_request::Column::Option.eq(option));
    }
    if let Some(after) = after_id {
        condition = condition.add(refund_request::Column::Id.gt(after));
    }
    Ok(refund_request::Entity::find()
        .filter(condition)
        .order_by_asc(refund_request::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?)
}

/// A runner's own refund requests, newest first.
pub async fn of_runner(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> ApiResult<Vec<refund_request::Model>> {
    Ok(refund_request::Entity::find()
        .filter(refund_request::Column::AccountId.eq(account_id))
        .order_by_desc(refund_request::Column::Id)
        .all(db)
        .await?)
}
