//! Events, their distances and their lifecycle. `change_status` is the start of the alert
//! pipeline: it updates the event, appends the status history and appends the
//! notification (the outbox row) in one transaction.

use chrono::{DateTime, Utc};
use entities::event::{EventStatus, RegistrationState};
use entities::event_organization::OrganizationRole;
use entities::{account, distance, event, event_organization, event_status_change};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set, TransactionTrait,
};

use super::notifications;
use super::organizations::{self, acting_organization, find_organized};
use crate::context::OutboxBell;
use crate::domain::event_zone;
use crate::domain::participation::race_day;
use crate::domain::{EmailPolicy, LocalizedText, NotificationKind, StatusChangeMessage};
use crate::domain::{
    EventName, Money, Reason, Slug, TimeZone, check_future_start, check_transition_at,
    earliest_deadline,
};
use crate::error::{ApiError, ApiResult, on_unique_violation};

/// The event with this slug, if there is one.
pub async fn find_by_slug(
    db: &impl ConnectionTrait,
    slug: &Slug,
) -> ApiResult<Option<event::Model>> {
    Ok(event::Entity::find()
        .filter(event::Column::Slug.eq(slug.clone().into_inner()))
        .one(db)
        .await?)
}

/// A new event, validated at the edge.
pub struct NewEvent {
    pub slug: Slug,
    pub name: EventName,
    pub description: String,
    pub venue: String,
    pub starts_at: DateTime<Utc>,
    pub time_zone: TimeZone,
    pub capacity: i32,
    pub registration_state: RegistrationState,
}

fn check_capacity(capacity: i32) -> ApiResult<()> {
    if !(0..=1_000_000).contains(&capacity) {
        return Err(ApiError::bad_input(
            "capacity must be between 0 and 1000000",
        ));
    }
    Ok(())
}

fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.chars().count() > max {
        return Err(ApiError::bad_input(format!(
            "{field} must be at most {max} characters"
        )));
    }
    Ok(())
}

/// Creates an event organized by the actor's organization, SCHEDULED, with the first line
/// of its status history. Its start lies in the future.
#[tracing::instrument(skip(db, actor, new), fields(slug = ?new.slug))]
pub async fn create_event(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    actor: &account::Model,
    new: NewEvent,
) -> ApiResult<event::Model> {
    let organization_id = acting_organization(actor)?;
    check_future_start(new.starts_at, now)?;
    check_capacity(new.capacity)?;
    check_text("description", &new.description, 10_000)?;
    check_text("venue", &new.venue, 500)?;
    let txn = super::begin_write(db).await?;
    let event = insert_event(&txn, now, new, Some(actor.id)).await?;
    link_organization(&txn, event.id, organization_id, OrganizationRole::Organizer).await?;
    txn.commit().await?;
    Ok(event)
}

/// Inserts an event and its first history line (shared with the demo seed).
pub async fn insert_event(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    new: NewEvent,
    created_by: Option<i64>,
) -> ApiResult<event::Model> {
    let event = event::ActiveModel {
        slug: Set(new.slug.into_inner()),
        name: Set(new.name.into_inner()),
        description: Set(new.description),
        venue: Set(new.venue),
        starts_at: Set(new.starts_at),
        time_zone: Set(new.time_zone.name().to_owned()),
        capacity: Set(new.capacity),
        status: Set(EventStatus::Scheduled),
        registration_state: Set(new.registration_state),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(|e| {
        on_unique_violation(e, &[("event_slug_key", "event.slug")], |_| {
            ApiError::Conflict("an event with this slug already exists".into())
        })
    })?;
    event_status_change::ActiveModel {
        event_id: Set(event.id),
        previous_status: Set(None),
        status: Set(EventStatus::Scheduled),
        reason: Set("Event announced".into()),
        starts_at: Set(event.starts_at),
        changed_by: Set(created_by),
        occurred_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(event)
}

/// Links an organizer or partner to an event (see [`super::organizations::link`]).
pub async fn link_organization(
    db: &impl ConnectionTrait,
    event_id: i64,
    organization_id: i64,
    role: OrganizationRole,
) -> ApiResult<()> {
    super::organizations::link(db, event_id, organization_id, role).await
}

/// Changes to an event's descriptive fields. Status and start time change only through
/// [`change_status`], so that every such change is announced.
#[derive(Default)]
pub struct EventPatch {
    pub name: Option<EventName>,
    pub description: Option<String>,
    pub venue: Option<String>,
    pub capacity: Option<i32>,
    pub registration_state: Option<RegistrationState>,
}

#[tracing::instrument(skip(db, actor, patch))]
pub async fn update_event(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    actor: &account::Model,
    event_id: i64,
    patch: EventPatch,
) -> ApiResult<event::Model> {
    let txn = super::begin_write(db).await?;
    let event = find_organized(&txn, actor, event_id).await?;
    if patch.registration_state == Some(RegistrationState::Open)
        && matches!(
            event.status,
            EventStatus::Cancelled | EventStatus::Completed
        )
    {
        return Err(ApiError::Conflict(
            "registration cannot open for a cancelled or completed event".into(),
        ));
    }
    if patch.registration_state == Some(RegistrationState::Open) && now >= event.starts_at {
        return Err(ApiError::Conflict(
            "registration cannot open once the event has started".into(),
        ));
    }
    let mut active: event::ActiveModel = event.into();
    if let Some(name) = patch.name {
        active.name = Set(name.into_inner());
    }
    if let Some(description) = patch.description {
        check_text("description", &description, 10_000)?;
        active.description = Set(description);
    }
    if let Some(venue) = patch.venue {
        check_text("venue", &venue, 500)?;
        active.venue = Set(venue);
    }
    if let Some(capacity) = patch.capacity {
        check_capacity(capacity)?;
        // Guarded like registration itself: never below the places already taken.
        let resized = event::Entity::update_many()
            .col_expr(event::Column::Capacity, Expr::value(capacity))
            .filter(event::Column::Id.eq(event_id))
            .filter(event::Column::RegisteredCount.lte(capacity))
            .exec(&txn)
            .await?;
        if resized.rows_affected != 1 {
            return Err(ApiError::Conflict(
                "capacity cannot go below the registrations already taken".into(),
            ));
        }
    }
    if let Some(state) = patch.registration_state {
        active.registration_state = Set(state);
    }
    active.updated_at = Set(now);
    let event = active.update(&txn).await?;
    txn.commit().await?;
    Ok(event)
}

/// A distance's details, validated at the edge.
pub struct DistanceInput {
    pub name: String,
    pub length_m: i32,
    pub fee: Money,
}

fn check_distance(input: &DistanceInput) -> ApiResult<()> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_input(
            "distance name must be 1 to 100 characters",
        ));
    }
    if !(1..=1_000_000).contains(&input.length_m) {
        return Err(ApiError::bad_input(
            "lengthMeters must be between 1 and 1000000",
        ));
    }
    Ok(())
}

fn distance_conflict(e: sea_orm::DbErr) -> ApiError {
    on_unique_violation(
        e,
        &[("uq_distance_event_name", "distance.event_id, distance.name")],
        |_| ApiError::Conflict("the event already has a distance with this name".into()),
    )
}

/// Adds a distance for an organizer: refused beyond MAX_DISTANCES_PER_EVENT.
pub async fn add_distance(
    db: &DatabaseConnection,
    now: DateTime<Utc>,
    event_id: i64,
    input: DistanceInput,
) -> ApiResult<distance::Model> {
    check_distance(&input)?;
    let txn = db.begin().await?;
    // A no-op write on the event row: concurrent additions to one event take turns here
    // (a row lock on PostgreSQL, the write lock on SQLite), so the count below holds.
    event::Entity::update_many()
        .col_expr(event::Column::Id, Expr::col(event::Column::Id))
        .filter(event::Column::Id.eq(event_id))
        .exec(&txn)
        .await?;
    let existing = distance::Entity::find()
        .filter(distance::Column::EventId.eq(event_id))
        .count(&txn)
        .await?;
    let max = crate::domain::MAX_DISTANCES_PER_EVENT;
    if existing >= max as u64 {
        return Err(ApiError::bad_input(format!(
            "an event may have at most {max} distances"
        )));
    }
    let added = insert_distance(&txn, now, event_id, input).await?;
    txn.commit().await?;
    Ok(added)
}

/// Writes a distance (the demo and synthetic seeds, which stay within the bound).
pub async fn insert_distance(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    event_id: i64,
    input: DistanceInput,
) -> ApiResult<distance::Model> {
    check_distance(&input)?;
    distance::ActiveModel {
        event_id: Set(event_id),
        name: Set(input.name.trim().to_owned()),
        length_m: Set(input.length_m),
        fee_minor: Set(input.fee.minor),
        currency: Set(input.fee.currency.code().to_owned()),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map_err(distance_conflict)
}

pub async fn update_distance(
    db: &DatabaseConnection,
    actor: &account::Model,
    distance_id: i64,
    input: DistanceInput,
) -> ApiResult<distance::Model> {
    check_distance(&input)?;
    let txn = super::begin_write(db).await?;
    let found = distance::Entity::find_by_id(distance_id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("distance"))?;
    find_organized(&txn, actor, found.event_id).await?;
    let mut active: distance::ActiveModel = found.into();
    active.name = Set(input.name.trim().to_owned());
    active.length_m = Set(input.length_m);
    active.fee_minor = Set(input.fee.minor);
    active.currency = Set(input.fee.currency.code().to_owned());
    let updated = active.update(&txn).await.map_err(distance_conflict)?;
    txn.commit().await?;
    Ok(updated)
}

/// A requested status change, validated at the edge.
pub struct StatusChange {
    pub event_id: i64,
    pub status: EventStatus,
    pub reason: Reason,
    /// The reason's translations (checked: one per language, bounded like the reason).
    pub reasons: Vec<LocalizedText>,
    pub starts_at: Option<DateTime<Utc>>,
    /// Who is mailed about it.
    pub email: EmailPolicy,
}

/// Moves an event to a new status. In one transaction: the event row (guarded by its
/// previous status, so two organizers racing cannot both win), the history line and the
/// outbox row. Cancelling or completing closes registration; suspending suspends it.
#[tracing::instrument(skip(db, bell, actor, change), fields(event_id = change.event_id, status = ?change.status))]
pub async fn change_status(
    db: &DatabaseConnection,
    bell: &OutboxBell,
    now: DateTime<Utc>,
    actor: &account::Model,
    change: StatusChange,
) -> ApiResult<(event::Model, event_status_change::Model)> {
    let txn = super::begin_write(db).await?;
    let event = find_organized(&txn, actor, change.event_id).await?;
    check_transition_at(event.status, change.status, event.starts_at, now)?;
    let starts_at = match (change.status, change.starts_at) {
        (EventStatus::Rescheduled, None) => {
            return Err(ApiError::bad_input(
                "a rescheduled event needs its new startsAt",
            ));
        }
        (EventStatus::Rescheduled, Some(new_start)) if new_start == event.starts_at => {
            return Err(ApiError::bad_input(
                "startsAt must differ from the current start",
            ));
        }
        (EventStatus::Rescheduled, Some(new_start)) => {
            check_future_start(new_start, now)?;
            new_start
        }
        (_, Some(_)) => {
            return Err(ApiError::bad_input(
                "startsAt is only given when rescheduling",
            ));
        }
        (_, None) => event.starts_at,
    };
    if change.status == EventStatus::Completed && now < event.starts_at {
        return Err(ApiError::InvalidStatusTransition(
            "an event cannot be completed before it starts".into(),
        ));
    }
    let zone = event_zone(&event)?.tz();
    // A cancellation gives runners at least a week to apply for a refund: a deadline set
    // before, and now sooner than that, moves to the first day it allows.
    let refund_deadline = match change.status {
        EventStatus::Cancelled => event
            .refund_deadline
            .map(|d| d.max(earliest_deadline(now, zone))),
        _ => event.refund_deadline,
    };
    let registration_state = match (change.status, event.registration_state) {
        (EventStatus::Cancelled | EventStatus::Completed, _) => RegistrationState::Closed,
        (EventStatus::Suspended, RegistrationState::Open) => RegistrationState::Suspended,
        (_, current) => current,
    };

    let updated = event::Entity::update_many()
        .col_expr(event::Column::Status, Expr::value(change.status))
        .col_expr(event::Column::StartsAt, Expr::value(starts_at))
        .col_expr(
            event::Column::RegistrationState,
            Expr::value(registration_state),
        )
        .col_expr(event::Column::RefundDeadline, Expr::value(refund_deadline))
        .col_expr(event::Column::UpdatedAt, Expr::value(now))
        .filter(event::Column::Id.eq(event.id))
        .filter(event::Column::Status.eq(event.status))
        .exec(&txn)
        .await?;
    if updated.rows_affected != 1 {
        return Err(ApiError::Conflict(
            "the event changed meanwhile; reload and try again".into(),
        ));
    }

    let history = append_status_change(
        &txn,
        &event,
        HistoryLine {
            status: change.status,
            reason: change.reason.into_inner(),
            reasons: change.reasons,
            starts_at,
            changed_by: Some(actor.id),
            occurred_at: now,
            announced_at: None,
            email: change.email,
        },
    )
    .await?;

    let updated = event::Entity::find_by_id(event.id)
        .one(&txn)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    // Ages are judged on race day: a new race day regroups runners by age, so the
    // event's counters are rebuilt here, in the same transaction (the event row is
    // locked by the update above, which keeps counting writers out meanwhile).
    if race_day(event.starts_at, zone) != race_day(updated.starts_at, zone) {
        super::stats::rebuild_event(&txn, &updated).await?;
    }
    super::notifications::commit_announced(txn, bell).await?;
    Ok((updated, history))
}

/// A status change to record.
pub struct HistoryLine {
    pub status: EventStatus,
    pub reason: String,
    pub reasons: Vec<LocalizedText>,
    pub starts_at: DateTime<Utc>,
    pub changed_by: Option<i64>,
    pub occurred_at: DateTime<Utc>,
    /// Set only for history that should not be announced again (the demo's 2020 lines).
    pub announced_at: Option<DateTime<Utc>>,
    /// Who is mailed about it.
    pub email: EmailPolicy,
}

/// Appends a history line and its notification (the outbox row) for `event`, which is
/// the event as it was before the change.
pub async fn append_status_change(
    db: &impl ConnectionTrait,
    event: &event::Model,
    line: HistoryLine,
) -> ApiResult<event_status_change::Model> {
    // The counter first: it serializes announcing transactions, so history ids, like
    // notification ids, follow commit order and can serve as a gap-free cursor.
    let notification_id = notifications::next_id(db).await?;
    let history = event_status_change::ActiveModel {
        event_id: Set(event.id),
        previous_status: Set(Some(event.status)),
        status: Set(line.status),
        reason: Set(line.reason),
        reasons: Set(if line.reasons.is_empty() {
            None
        } else {
            Some(notifications::encode(&line.reasons)?)
        }),
        starts_at: Set(line.starts_at),
        changed_by: Set(line.changed_by),
        occurred_at: Set(line.occurred_at),
        ..Default::default()
    }
    .insert(db)
    .await?;
    let message = StatusChangeMessage {
        status_change_id: history.id,
        event_id: event.id,
        event_name: event.name.clone(),
        event_slug: event.slug.clone(),
        time_zone: event.time_zone.clone(),
        previous_status: history.previous_status,
        status: history.status,
        reason: history.reason.clone(),
        reasons: line.reasons,
        starts_at: history.starts_at,
        occurred_at: history.occurred_at,
    };
    notifications::insert(
        db,
        notification_id,
        notifications::Outgoing {
            kind: NotificationKind::EventStatusChanged,
            event_id: Some(event.id),
            status_change_id: Some(history.id),
            account_id: None,
            payload: notifications::encode(&message)?,
            created_at: history.occurred_at,
            email_policy: line.email,
            announced_at: line.announced_at,
        },
    )
    .await?;
    Ok(history)
}

/// Which events to list.
#[derive(Default)]
pub struct EventFilter {
    pub statuses: Option<Vec<EventStatus>>,
    pub starts_from: Option<DateTime<Utc>>,
    pub starts_before: Option<DateTime<Utc>>,
    pub organization_id: Option<i64>,
}

/// One page of events ordered by start, then id, after the keyset `(starts_at, id)`.
/// Returns one row more than asked, so the caller knows whether a next page exists.
pub async fn list_events(
    db: &impl ConnectionTrait,
    filter: &EventFilter,
    after: Option<(DateTime<Utc>, i64)>,
    limit: u64,
) -> ApiResult<Vec<event::Model>> {
    let mut query = event::Entity::find();
    if let Some(statuses) = &filter.statuses {
        query = query.filter(event::Column::Status.is_in(statuses.iter().copied()));
    }
    if let Some(from) = filter.starts_from {
        query = query.filter(event::Column::StartsAt.gte(from));
    }
    if let Some(before) = filter.starts_before {
        query = query.filter(event::Column::StartsAt.lt(before));
    }
    if let Some(organization_id) = filter.organization_id {
        query = query.filter(
            event::Column::Id.in_subquery(
                Query::select()
                    .column(event_organization::Column::EventId)
                    .from(event_organization::Entity)
                    .and_where(event_organization::Column::OrganizationId.eq(organization_id))
                    .to_owned(),
            ),
        );
    }
    if let Some((starts_at, id)) = after {
        query = query.filter(
            Condition::any()
                .add(event::Column::StartsAt.gt(starts_at))
                .add(
                    Condition::all()
                        .add(event::Column::StartsAt.eq(starts_at))
                        .add(event::Column::Id.gt(id)),
                ),
        );
    }
    Ok(query
        .order_by_asc(event::Column::StartsAt)
        .order_by_asc(event::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?)
}

/// The operator's link (`gateway organizations link`): the partner with slug `partner`
/// sponsors the event with slug `event`.
#[tracing::instrument(skip(db))]
pub async fn link_partner_by_slugs(
    db: &DatabaseConnection,
    event: &Slug,
    partner: &Slug,
) -> ApiResult<(event::Model, entities::organization::Model)> {
    let txn = super::begin_write(db).await?;
    let event = find_by_slug(&txn, event)
        .await?
        .ok_or(ApiError::NotFound("event"))?;
    let partner = organizations::find_by_slug(&txn, partner.as_str())
        .await?
        .ok_or(ApiError::NotFound("organization"))?;
    organizations::link(&txn, event.id, partner.id, OrganizationRole::Partner).await?;
    txn.commit().await?;
    Ok((event, partner))
}
