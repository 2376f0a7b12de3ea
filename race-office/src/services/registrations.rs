//! Registering runners without ever overselling, and moving starter kits along.
//!
//! Capacity is enforced by one guarded statement: `UPDATE event SET registered_count =
//! registered_count + 1, last_bib = last_bib + 1 WHERE … AND registered_count < capacity
//! RETURNING …`. The database serializes those updates on the event row, so the last place
//! goes to exactly one runner, and the bib comes from the same statement.

use chrono::{DateTime, Datelike as _, NaiveDate, Utc};
use entities::event::{EventStatus, RegistrationState};
use entities::registration::{Gender, RegistrationStatus, StarterKit, TshirtSize};
use entities::{account, distance, event, refund_request, registration};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::organizations::find_organized;
use super::stats::counters;
use crate::domain::participation::Counted;
use crate::domain::{City, CountryCode, event_zone, is_on_or_after_local_date, registration_at};
use crate::error::{ApiError, ApiResult, on_unique_violation};

/// What a runner gives when registering, validated at the edge.
pub struct RegistrationInput {
    pub distance_id: i64,
    pub tshirt_size: Option<TshirtSize>,
    pub gender: Option<Gender>,
    pub birth_date: Option<NaiveDate>,
    pub country: Option<CountryCode>,
    pub city: Option<City>,
}

fn already_registered(err: sea_orm::DbErr) -> ApiError {
    on_unique_violation(
        err,
        &[(
            "registration_runner_event_key",
            "registration.event_id, registration.account_id",
        )],
        |_| ApiError::AlreadyRegistered,
    )
}

/// Registers a runner for a distance while the event's registration is open, which it
/// never is once the event has started (whatever state is stored).
#[tracing::instrument(skip(db, runner, input), fields(account_id = runner.id, distance_id = input.distance_id))]
pub async fn register(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    runner: &account::Model,
    input: RegistrationInput,
) -> ApiResult<registration::Model> {
    if let Some(birth_date) = input.birth_date
        && (birth_date > now.date_naive() || birth_date.year_ce().1 < 1900)
    {
        return Err(ApiError::bad_input(
            "birthDate must be a past date after 1900",
        ));
    }
    let distance = distance::Entity::find_by_id(input.distance_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("distance"))?;
    let taken = registration::Entity::find()
        .filter(registration::Column::EventId.eq(distance.event_id))
        .filter(registration::Column::AccountId.eq(runner.id))
        .one(db)
        .await?;
    if taken.is_some() {
        return Err(ApiError::AlreadyRegistered);
    }

    let txn = super::begin_write(db).await?;
    // Writing first also makes SQLite take its write lock at BEGIN time and queue on the
    // busy timeout, instead of failing to upgrade a read lock mid-transaction.
    let claimed = event::Entity::update_many()
        .col_expr(
            event::Column::RegisteredCount,
            Expr::col(event::Column::RegisteredCount).add(1),
        )
        .col_expr(
            event::Column::LastBib,
            Expr::col(event::Column::LastBib).add(1),
        )
        .filter(event::Column::Id.eq(distance.event_id))
        .filter(event::Column::RegistrationState.eq(RegistrationState::Open))
        .filter(event::Column::Status.is_in([EventStatus::Scheduled, EventStatus::Rescheduled]))
        .filter(event::Column::StartsAt.gt(now))
        .filter(Expr::col(event::Column::RegisteredCount).lt(Expr::col(event::Column::Capacity)))
        .exec_with_returning(&txn)
        .await?;
    let Some(event) = claimed.into_iter().next() else {
        txn.rollback().await?;
        let event = event::Entity::find_by_id(distance.event_id)
            .one(db)
            .await?
            .ok_or(ApiError::NotFound("event"))?;
        let open = registration_at(event.registration_state, event.starts_at, now)
            == RegistrationState::Open
            && matches!(
                event.status,
                EventStatus::Scheduled | EventStatus::Rescheduled
            );
        return Err(if open {
            ApiError::SoldOut
        } else {
            ApiError::RegistrationClosed
        });
    };
    let registration = registration::ActiveModel {
        event_id: Set(event.id),
        distance_id: Set(distance.id),
        account_id: Set(runner.id),
        bib: Set(event.last_bib),
        fee_minor: Set(distance.fee_minor),
        currency: Set(distance.currency.clone()),
        tshirt_size: Set(input.tshirt_size),
        tshirt_paid: Set(input.tshirt_size.is_some()),
        starter_kit: Set(StarterKit::Pending),
        state: Set(RegistrationStatus::Confirmed),
        gender: Set(input.gender),
        birth_date: Set(input.birth_date),
        country: Set(input.country.map(CountryCode::into_inner)),
        city: Set(input.city.map(City::into_inner)),
        registered_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(already_registered)?;
    // Counted in the same transaction, under the event row the claim above locked.
    counters::count_new(&txn, &event, &registration).await?;
    txn.commit().await?;
    Ok(registration)
}

/// A registration the viewer may see: their own, or one of an event they organize.
/// Anything else is NOT_FOUND, never someone else's data.
pub async fn find_visible(
    db: &impl ConnectionTrait,
    viewer: &account::Model,
    registration_id: i64,
) -> ApiResult<registration::Model> {
    let found = registration::Entity::find_by_id(registration_id)
        .one(db)
        .await?
        .ok_or(ApiError::NotFound("registration"))?;
    if found.account_id == viewer.id {
        return Ok(found);
    }
    if viewer.role == account::Role::Organizer
        && find_organized(db, viewer, found.event_id).await.is_ok()
    {
        return Ok(found);
    }
    Err(ApiError::NotFound("registration"))
}

/// A runner's own registrations, newest first.
pub async fn of_runner(
    db: &impl ConnectionTrait,
    account_id: i64,
) -> ApiResult<Vec<registration::Model>> {
    Ok(registration::Entity::find()
        .filter(registration::Column::AccountId.eq(account_id))
        .order_by_desc(registration::Column::Id)
        .all(db)
        .await?)
}

/// The events a runner is registered for, each once: whose status changes are theirs.
pub async fn events_of_runner(db: &impl ConnectionTrait, account_id: i64) -> ApiResult<Vec<i64>> {
    let mut events: Vec<i64> = of_runner(db, account_id)
        .await?
        .into_iter()
        .map(|r| r.event_id)
        .collect();
    events.sort_unstable();
    events.dedup();
    Ok(events)
}

/// Who a status change concerns: the accounts registered for its event, read once per
/// notice (whoever asks first, the hub or a subscription) and kept on it for the rest.
/// `None` for a notice that is not an event's status change.
pub async fn audience(
    db: &impl ConnectionTrait,
    notice: &crate::domain::Notice,
) -> Result<Option<std::sync::Arc<std::collections::HashSet<i64>>>, sea_orm::DbErr> {
    let (Some(crate::domain::NotificationKind::EventStatusChanged), Some(event_id)) =
        (notice.kind(), notice.event_id)
    else {
        return Ok(None);
    };
    notice
        .audience
        .get_or_try_init(|| async {
            accounts_registered(db, event_id)
                .await
                .map(std::sync::Arc::new)
        })
        .await
        .map(|audience| Some(audience.clone()))
}

/// Whether a notice concerns `account_id`: a status change of an event it is registered
/// for (the audience read once per notice and shared), or a decision on its own refund.
pub async fn concerns(
    db: &impl ConnectionTrait,
    account_id: i64,
    notice: &crate::domain::Notice,
) -> Result<bool, sea_orm::DbErr> {
    match notice.kind() {
        Some(crate::domain::NotificationKind::RefundDecided) => {
            Ok(notice.account_id == Some(account_id))
        }
        Some(crate::domain::NotificationKind::EventStatusChanged) => Ok(audience(db, notice)
            .await?
            .is_some_and(|accounts| accounts.contains(&account_id))),
        None => Ok(false),
    }
}

/// The accounts registered for an event (who a status change concerns).
pub async fn accounts_registered(
    db: &impl ConnectionTrait,
    event_id: i64,
) -> Result<std::collections::HashSet<i64>, sea_orm::DbErr> {
    registration::Entity::find()
        .select_only()
        .column(registration::Column::AccountId)
        .filter(registration::Column::EventId.eq(event_id))
        .into_tuple::<i64>()
        .all(db)
        .await
        .map(|ids| ids.into_iter().collect())
}

/// Which of an event's registrations an organizer lists.
#[derive(Default)]
pub struct RegistrationFilter {
    pub distance_id: Option<i64>,
    pub starter_kit: Option<StarterKit>,
    pub state: Option<RegistrationStatus>,
    pub bib: Option<i32>,
}

/// One page of an event's registrations by id, one more than asked.
pub async fn list_for_event(
    db: &impl ConnectionTrait,
    event_id: i64,
    filter: &RegistrationFilter,
    after_id: Option<i64>,
    limit: u64,
) -> ApiResult<Vec<registration::Model>> {
    let mut condition = Condition::all().add(registration::Column::EventId.eq(event_id));
    if let Some(distance_id) = filter.distance_id {
        condition = condition.add(registration::Column::DistanceId.eq(distance_id));
    }
    if let Some(kit) = filter.starter_kit {
        condition = condition.add(registration::Column::StarterKit.eq(kit));
    }
    if let Some(state) = filter.state {
        condition = condition.add(registration::Column::State.eq(state));
    }
    if let Some(bib) = filter.bib {
        condition = condition.add(registration::Column::Bib.eq(bib));
    }
    if let Some(after) = after_id {
        condition = condition.add(registration::Column::Id.gt(after));
    }
    Ok(registration::Entity::find()
        .filter(condition)
        .order_by_asc(registration::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?)
}

/// Moves a starter kit one step: PENDING -> READY -> ISSUED. Issuing waits for the
/// event's kit-issue date (judged in its zone); a refunded registration gets no kit.
#[tracing::instrument(skip(db, actor))]
pub async fn advance_starter_kit(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    actor: &account::Model,
    registration_id: i64,
    to: StarterKit,
) -> ApiResult<registration::Model> {
    let txn = super::begin_write(db).await?;
    let visible = find_visible(&txn, actor, registration_id).await?;
    let event = find_organized(&txn, actor, visible.event_id).await?;
    // The event lock first, then a fresh read: what the counters move from is exactly
    // what is stored (see `stats::counters`).
    counters::lock_event(&txn, event.id).await?;
    let found = registration::Entity::find_by_id(visible.id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("registration"))?;
    let from = match to {
        StarterKit::Ready => StarterKit::Pending,
        StarterKit::Issued => StarterKit::Ready,
        StarterKit::Pending => {
            return Err(ApiError::bad_input(
                "a starter kit moves forward: to READY, then ISSUED",
            ));
        }
    };
    if found.starter_kit != from {
        return Err(ApiError::Conflict(format!(
            "the starter kit is {:?}; it must be {from:?} to become {to:?}",
            found.starter_kit
        )));
    }
    let request = refund_request::Entity::find()
        .filter(refund_request::Column::RegistrationId.eq(found.id))
        .one(&txn)
        .await?;
    let refunded = request.as_ref().is_some_and(|r| {
        r.option == refund_request::RefundOption::FullRefund
            && matches!(
                r.status,
                refund_request::RefundStatus::Approved | refund_request::RefundStatus::Paid
            )
    });
    if refunded || found.state == RegistrationStatus::Refunded {
        return Err(ApiError::Conflict(
            "this registration's fee is refunded: no starter kit".into(),
        ));
    }
    if to == StarterKit::Issued {
        let zone = event_zone(&event)?;
        let issuable = event
            .kit_issue_from
            .is_some_and(|from| is_on_or_after_local_date(now, zone.tz(), from));
        if !issuable {
            return Err(ApiError::KitIssueNotStarted);
        }
    }
    let moved = registration::Entity::update_many()
        .col_expr(registration::Column::StarterKit, Expr::value(to))
        .filter(registration::Column::Id.eq(found.id))
        .filter(registration::Column::StarterKit.eq(from))
        .exec(&txn)
        .await?;
    if moved.rows_affected != 1 {
        return Err(ApiError::Conflict(
            "the starter kit changed meanwhile".into(),
        ));
    }
    let updated = registration::Entity::find_by_id(found.id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("registration"))?;
    let option = request.map(|r| r.option);
    counters::count_changes(
        &txn,
        &event,
        &[(Counted::of(&found, option), Counted::of(&updated, option))],
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}
